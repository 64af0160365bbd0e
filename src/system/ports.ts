/** Port checks: is a given port free (and why not), and finding free ones (get-port). */
import net from 'node:net';
import getPort, { portNumbers } from 'get-port';
import { UserError } from '../errors.js';

export type PortState = 'free' | 'in-use' | 'denied' | 'not-local';

/** Tries to listen where nginx will, so the answer says why it cannot (busy vs. privileged). */
export function probePort(host: string, port: number): Promise<PortState> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') resolve('in-use');
      else if (error.code === 'EACCES' || error.code === 'EPERM') resolve('denied');
      else resolve('not-local');
    });
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve('free')));
  });
}

/** The port nginx listens on: the one asked for when free (else a clear error), or any free one for 'auto'. */
export async function chooseListenPort(host: string, port: number | 'auto'): Promise<number> {
  const notLocal = () =>
    new UserError(`cannot listen on ${host}: it is not an address of this machine`, {
      hint: "Use --host 127.0.0.1, 0.0.0.0 or one of this machine's addresses",
    });
  // get-port resolves a name first: an unknown one (ENOTFOUND) is the user's to fix.
  if (port === 'auto') return getPort({ host }).catch(() => Promise.reject(notLocal()));
  const state = await probePort(host, port);
  if (state === 'free') return port;
  if (state === 'in-use') {
    const suggestion = await getPort({
      host,
      port: portNumbers(port + 1 > 65535 ? 1024 : port + 1, Math.min(port + 100, 65535)),
    }).catch(() => 'auto');
    throw new UserError(`port ${port} on ${host} is already in use`, {
      hint: `Stop what uses it, or choose another: --port ${suggestion} (or --port auto)`,
    });
  }
  if (state === 'denied')
    throw new UserError(`port ${port} on ${host} needs administrator rights`, {
      hint: 'Use a port above 1023, e.g. --port 5000',
    });
  throw new UserError(`cannot listen on ${host}:${port}: ${host} is not an address of this machine`, {
    hint: "Use --host 127.0.0.1, 0.0.0.0 or one of this machine's addresses",
  });
}

/** MLflow's private port on loopback. */
export function chooseMlflowPort(exclude: number[]): Promise<number> {
  return getPort({ host: '127.0.0.1', exclude });
}
