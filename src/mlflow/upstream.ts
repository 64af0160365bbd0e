/**
 * `up --upstream`: what touches the user's MLflow. It is only ever sent GET /health and
 * GET /version (never a credential, never a signal); nginx proxies to it once it proved to be
 * MLflow, and a foreground `up` says when it stops answering.
 */
import https from 'node:https';
import { isIP } from 'node:net';
import { UserError } from '../errors.js';
import { collectResponse, request, type HttpResponse } from '../system/http.js';
import { looksLikeMlflow, type Upstream } from './upstream-url.js';

/**
 * One GET with the Host header nginx sends. HTTPS: the upstream's certificate is not verified
 * (as nginx does not), which is harmless here: nothing secret is sent.
 */
export function getFromUpstream(u: Upstream, path: string, timeoutMs = 5_000): Promise<HttpResponse> {
  if (u.scheme === 'http')
    return request({ host: u.host, port: u.port, path, headers: { Host: u.hostHeader }, timeoutMs });
  return new Promise((resolve, reject) => {
    const req = https.get(
      {
        host: u.host,
        port: u.port,
        path,
        headers: { Host: u.hostHeader },
        agent: false,
        rejectUnauthorized: false,
        ...(isIP(u.host) === 0 ? { servername: u.host } : {}),
        timeout: timeoutMs,
      },
      (res) => collectResponse(res, resolve, reject),
    );
    req.on('timeout', () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

const reason = (e: unknown) => (e as NodeJS.ErrnoException).code ?? (e as Error).message;
const snippet = (body: string) => body.slice(0, 80).replace(/\s+/g, ' ').trim();

/**
 * Before nginx starts: the upstream answers and is MLflow (its /health and /version). Returns
 * MLflow's version. Every failure is one line saying what to do; nothing has been started yet.
 */
export async function checkUpstream(u: Upstream): Promise<string> {
  let health: HttpResponse;
  let version: HttpResponse;
  try {
    health = await getFromUpstream(u, '/health');
    version = await getFromUpstream(u, '/version');
  } catch (error) {
    throw new UserError(`the MLflow at --upstream ${u.url} does not answer (${reason(error)}); nothing was started`, {
      hint: `Start it first (e.g. mlflow server --host ${u.host} --port ${u.port}), or correct --upstream`,
    });
  }
  if (health.status === 403 && /Invalid Host header/i.test(health.body))
    throw new UserError(
      `the MLflow at --upstream ${u.url} refuses the Host header ${u.hostHeader} that nginx would send (403 Invalid Host header); nothing was started`,
      {
        hint: `Start that MLflow with --allowed-hosts including ${u.hostHeader}, or give --upstream the address it accepts`,
      },
    );
  if (!looksLikeMlflow(health, version))
    throw new UserError(
      `the server at --upstream ${u.url} is not MLflow (GET /health answered ${health.status}${snippet(health.body) ? ` '${snippet(health.body)}'` : ''}, GET /version ${version.status}); nothing was started`,
      { hint: 'Give --upstream the address of `mlflow server` (or `mlflow ui`), e.g. http://127.0.0.1:5001' },
    );
  return version.body.trim();
}

/**
 * While a foreground `up` supervises nginx: polls the upstream's /health and calls `onChange`
 * once when it stops answering and once when it is back (nginx meanwhile answers 502). The
 * user's MLflow may be restarted on purpose, so this is reported, never a reason to stop.
 */
export function watchUpstream(
  u: Upstream,
  onChange: (up: boolean, detail: string) => void,
  intervalMs = 2_000,
): () => void {
  let healthy = true;
  let busy = false;
  let stopped = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    getFromUpstream(u, '/health', Math.min(5_000, intervalMs * 2))
      .then(
        (r) => (r.status === 200 ? '' : `GET /health answered ${r.status}`),
        (e: unknown) => reason(e),
      )
      .then((problem) => {
        if (stopped || healthy === (problem === '')) return;
        healthy = problem === '';
        onChange(healthy, problem);
      })
      .finally(() => {
        busy = false;
      });
  }, intervalMs);
  timer.unref();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
