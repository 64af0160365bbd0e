/** A real MLflow started the way a user runs one (for `up --upstream`), and small port helpers. */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { request } from '../../src/system/http.js';
import { root } from './helpers.js';

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** A real MLflow, started the way a user would (its own process group, so the test can stop it). */
export async function startUserMlflow(dir: string): Promise<{ port: number; pid: number; stop(): Promise<void> }> {
  const port = await freePort();
  const child: ChildProcess = spawn(
    path.join(root, '.venv', 'bin', 'mlflow'),
    [
      'server',
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--backend-store-uri',
      `sqlite:///${path.join(dir, 'mlflow.db')}`,
      '--artifacts-destination',
      path.join(dir, 'mlartifacts'),
      '--workers',
      '1',
    ],
    {
      cwd: dir,
      env: { ...process.env, MLFLOW_SERVER_ENABLE_JOB_EXECUTION: 'false' },
      stdio: 'ignore',
      detached: true,
    },
  );
  const deadline = Date.now() + 120_000;
  for (;;) {
    const ok = await request({ host: '127.0.0.1', port, path: '/health', timeoutMs: 2_000 }).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`MLflow did not start on ${port}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    port,
    pid: child.pid!,
    async stop() {
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        return;
      }
      const until = Date.now() + 15_000;
      while (Date.now() < until && isAlive(child.pid!)) await new Promise((r) => setTimeout(r, 100));
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // gone
      }
    },
  };
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
