/**
 * Readiness: wait-on probes raced against the child exiting, then the proof that the stack
 * is right: MLflow healthy, auth holds through nginx, and an MLflow API call through the
 * proxy succeeds (which proves the Host and CORS settings).
 */
import { StackError } from '../errors.js';
import { request, type HttpRequest, type HttpResponse } from '../system/http.js';
import type { Plan } from './plan.js';
import type { ExitInfo } from '../system/processes.js';
import type { TlsTrust } from '../tls/certificates.js';

export function describeExit(e: ExitInfo): string {
  if (e.signal) return `${e.name} was killed by ${e.signal}`;
  return `${e.name} exited with code ${e.code ?? 'unknown'}`;
}

/**
 * Resolves when `resource` answers; throws StackError when the process exits first or the
 * time runs out. `exited` settles when the process ends.
 */
export async function waitReady(o: {
  resource: string;
  exited: Promise<ExitInfo>;
  timeoutMs: number;
  what: string;
}): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  // Loaded on demand: wait-on brings axios, joi and rxjs (hundreds of ms to load, seconds on
  // a slow Windows disk), which status, down and env never need.
  const { default: waitOn } = await import('wait-on');
  const ready = waitOn({
    resources: [o.resource],
    interval: 100,
    window: 0,
    timeout: o.timeoutMs + 1000,
    httpTimeout: 5_000,
    tcpTimeout: 1_000,
    proxy: false,
  }).then(
    () => 'ready' as const,
    () => 'timeout' as const,
  );
  const died = o.exited.then((e) => e);
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), o.timeoutMs);
  });
  try {
    const outcome = await Promise.race([ready, died, timedOut]);
    if (outcome === 'ready') return;
    if (outcome === 'timeout')
      throw new StackError(`${o.what} did not become ready within ${Math.round(o.timeoutMs / 1000)} s`, {
        hint: 'Raise --timeout, or read its log below',
      });
    throw new StackError(`${describeExit(outcome)} before it became ready`, { hint: 'Read its log below' });
  } finally {
    clearTimeout(timer);
  }
}

/** Where this machine reaches MLflow directly, without auth: its Unix socket (POSIX) or 127.0.0.1:<port> (Windows). */
export function mlflowDirect(m: { port: number; socket?: string }): Pick<HttpRequest, 'host' | 'port' | 'socketPath'> {
  return { host: '127.0.0.1', port: m.port, ...(m.socket !== undefined ? { socketPath: m.socket } : {}) };
}

/** MLflow's /health as a wait-on resource (wait-on's form for HTTP over a Unix socket). */
export function mlflowHealthResource(m: { port: number; socket?: string }): string {
  return m.socket !== undefined
    ? `http-get://unix:${m.socket}:http://127.0.0.1/health`
    : `http-get://127.0.0.1:${m.port}/health`;
}

export interface Credential {
  user: string;
  password: string;
}

/** Where this machine connects to reach nginx (a wildcard listen address means loopback). */
export function connectHost(plan: Plan): string {
  return new URL(plan.url).hostname.replace(/^\[(.*)\]$/, '$1');
}

/**
 * The path of `up`'s deliberate wrong-password request. nginx logs every refused password
 * (`user "admin": password mismatch`) in its error log; this path in that line tells the reader
 * the refusal was mlflow-secure's own check, not someone guessing.
 */
export const WRONG_PASSWORD_CHECK_PATH = '/mlflow-secure/wrong-password-check';

/** An nginx error-log line, with the deliberate wrong-password check labelled as such. */
export function labelNginxLogLine(line: string): string {
  return line.includes(` ${WRONG_PASSWORD_CHECK_PATH} `)
    ? `${line}   <- expected: mlflow-secure checking that a wrong password is refused`
    : line;
}

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

function expectStatus(name: string, res: HttpResponse | Error, want: number): Check {
  if (res instanceof Error) return { name, ok: false, detail: res.message };
  const snippet = res.body.slice(0, 120).replace(/\s+/g, ' ');
  return {
    name,
    ok: res.status === want,
    detail: res.status === want ? `${res.status}` : `got ${res.status}, want ${want}${snippet ? `: ${snippet}` : ''}`,
  };
}

function expectRedirect(res: HttpResponse | Error, location: string): Check {
  const name = 'plain HTTP -> 301 to https';
  if (res instanceof Error) return { name, ok: false, detail: res.message };
  const ok = res.status === 301 && res.headers.location === location;
  return {
    name,
    ok,
    detail: ok ? '301' : `got ${res.status} (Location ${res.headers.location ?? 'none'}), want 301 to ${location}`,
  };
}

/**
 * Runs every check; the caller decides what a failed one means. The 401 checks are answered
 * by nginx alone. Only the API call reaches MLflow: each uvicorn worker loads its tracking
 * store on its first request, so every extra request at start-up costs a cold worker's load
 * (about a second on 2 cores) and proves nothing the API call does not.
 */
export async function proveStack(plan: Plan, credential: Credential, trust?: TlsTrust): Promise<Check[]> {
  const host = connectHost(plan);
  const port = plan.listenPort;
  // With TLS every request to nginx verifies its certificate (tls.ts decides how) before sending anything.
  const tls = trust ? { tls: trust } : {};
  const hostHeader = new URL(plan.url).host;
  const attempt = (p: Promise<HttpResponse>) => p.catch((e: Error) => e);
  const api = '/api/2.0/mlflow/experiments/search?max_results=1';
  const wrong = { user: credential.user, password: `${credential.password}-wrong` };
  // First, without credentials: is the program on that port our nginx? Another local account
  // could have taken the port before nginx bound it (nginx then exits); credentials are sent
  // only to an answer that carries this run's instance id.
  const first = await attempt(request({ host, port, path: '/', headers: { Host: hostHeader }, ...tls }));
  const anonymous = expectStatus('no credentials -> 401', first, 401);
  if (plan.instanceId && !(first instanceof Error) && first.headers['x-mlflow-secure-instance'] !== plan.instanceId) {
    return [
      {
        name: `the program answering on port ${port} is not this stack's nginx (another program took the port?); no credentials were sent`,
        ok: false,
        detail: 'no X-MLflow-Secure-Instance of this run',
      },
    ];
  }
  if (!anonymous.ok) return [anonymous];
  const checks: Promise<Check>[] = [
    // --upstream: the user's MLflow is proven through nginx (its own address was checked before nginx started).
    plan.upstream
      ? attempt(request({ host, port, path: '/health', headers: { Host: hostHeader }, auth: credential, ...tls })).then(
          (r) => expectStatus(`MLflow /health through nginx (${plan.upstream!.url})`, r, 200),
        )
      : attempt(request({ ...mlflowDirect(plan.mlflow), path: '/health' })).then((r) =>
          expectStatus('MLflow /health (direct)', r, 200),
        ),
    Promise.resolve(anonymous),
    attempt(
      request({ host, port, path: WRONG_PASSWORD_CHECK_PATH, headers: { Host: hostHeader }, auth: wrong, ...tls }),
    ).then((r) => expectStatus('wrong password -> 401', r, 401)),
    attempt(request({ host, port, path: api, headers: { Host: hostHeader }, auth: credential, ...tls })).then((r) =>
      expectStatus('API call through the proxy -> 200', r, 200),
    ),
  ];
  // Plain HTTP to the HTTPS port: a redirect to the same place over https, and no credentials sent.
  if (trust)
    checks.push(
      attempt(request({ host, port, path: '/', headers: { Host: hostHeader } })).then((r) =>
        expectRedirect(r, `https://${hostHeader}/`),
      ),
    );
  for (const url of plan.publicUrls) {
    const publicHost = new URL(url).host;
    checks.push(
      attempt(request({ host, port, path: api, headers: { Host: publicHost }, auth: credential, ...tls })).then((r) =>
        expectStatus(`API with Host ${publicHost} -> 200`, r, 200),
      ),
      attempt(
        request({
          host,
          port,
          method: 'POST',
          path: '/ajax-api/2.0/mlflow/experiments/search',
          headers: { Host: publicHost, Origin: url, 'Content-Type': 'application/json' },
          body: '{"max_results":1}',
          auth: credential,
          ...tls,
        }),
      ).then((r) => expectStatus(`UI POST with Origin ${url} -> 200`, r, 200)),
    );
  }
  return Promise.all(checks);
}
