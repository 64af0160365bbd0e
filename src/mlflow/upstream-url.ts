/**
 * `up --upstream <url>`: an MLflow the user already runs, fronted by nginx alone. Pure: the URL
 * is parsed and validated here; what it may decide is only where nginx proxies to (never a
 * program, a pid or a path).
 */
import { isIP } from 'node:net';
import { UserError } from '../errors.js';

export interface Upstream {
  scheme: 'http' | 'https';
  /** A host name or an IP address (IPv6 bare, without brackets). */
  host: string;
  port: number;
  /** `scheme://host:port` (IPv6 bracketed): how it is shown and recorded. */
  url: string;
  /**
   * The Host header nginx and the checks send: the address the user reaches MLflow at directly,
   * which its --allowed-hosts accepts (MLflow 3.5+ answers 403 to a Host it does not know). The
   * client's own Host (a --server-name) would be unknown to an MLflow we did not start.
   */
  hostHeader: string;
}

const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const HOST_NAME = new RegExp(`^${LABEL}(?:\\.${LABEL})*$`);
/** scheme://host:port with an optional trailing slash, nothing else (no user, path, query or fragment). */
const SHAPE = /^(https?):\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})\/?$/;

/** The value of --upstream, validated; one line naming the flag and the value otherwise. */
export function parseUpstream(value: string): Upstream {
  const bad = () =>
    new UserError(
      `--upstream must be http://host:port or https://host:port (where your MLflow answers), got ${JSON.stringify(value)}`,
      { hint: 'Try --upstream http://127.0.0.1:5001 (the address you open MLflow at, without a path)' },
    );
  const m = SHAPE.exec(value.trim());
  if (!m) throw bad();
  const scheme = m[1] as Upstream['scheme'];
  const rawHost = m[2]!;
  const port = Number(m[3]);
  const bracketed = rawHost.startsWith('[');
  const host = bracketed ? rawHost.slice(1, -1) : rawHost;
  const validHost = bracketed ? isIP(host) === 6 : isIP(host) === 4 || (HOST_NAME.test(host) && !/^[\d.]+$/.test(host));
  if (!validHost || port < 1 || port > 65535) throw bad();
  const hostPort = `${bracketed ? `[${host}]` : host}:${port}`;
  return { scheme, host, port, url: `${scheme}://${hostPort}`, hostHeader: hostPort };
}

/** A loopback address or name: the user's MLflow is on this machine. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** What `up --upstream` says once, every start: the password guards nginx's port, not MLflow's. */
export function upstreamWarning(u: Upstream): string {
  const who = isLoopback(u.host)
    ? 'other accounts on this machine'
    : `anyone who can reach ${u.host} (and other accounts on this machine)`;
  return (
    `--upstream: MLflow at ${u.url} listens on TCP, so ${who} can use it past the password (as with --jobs on). ` +
    'Only nginx asks for one: keep that MLflow on 127.0.0.1 and on a machine you do not share, or let mlflow-secure start MLflow (no --upstream)'
  );
}

/** Recognises MLflow's answers: `GET /health` -> 200 `OK`, `GET /version` -> 200 and a version. */
export function looksLikeMlflow(health: { status: number; body: string }, version: { status: number; body: string }) {
  return (
    health.status === 200 &&
    health.body.trim() === 'OK' &&
    version.status === 200 &&
    /^\d+\.\d+(\.\d+)?\S*$/.test(version.body.trim())
  );
}
