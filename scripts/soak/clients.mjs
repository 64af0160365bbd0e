// Part 3, clients: N real MLflow Python clients at once through the proxy, each writing W metric
// values with one log_metric request each, credentials only in MLFLOW_TRACKING_URI/_USERNAME/
// _PASSWORD. 0 errors, and every value must read back (get_metric_history equals what was written).
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import {
  check,
  cleanEnv,
  cli,
  describeProcs,
  inspectStopped,
  listeningPortsOf,
  observe,
  root,
  run,
  say,
  stackProcs,
  tail,
  trackStateDir,
  upDetached,
  venvPython,
} from './lib.mjs';

const CLIENT = path.join(root, 'test', 'fixtures', 'metrics_client.py');

export async function clients({ count, writes, work, password }) {
  const part = 'clients';
  const cwd = path.join(work, 'clients');
  mkdirSync(cwd, { recursive: true });
  const stateDir = path.join(cwd, 'state');
  const groups = trackStateDir(stateDir, cwd);
  const env = cleanEnv({ MLFLOW_SECURE_PASSWORD: password });
  say(`clients: ${count} MLflow Python clients at once, ${writes} log_metric requests each`);
  const up = await upDetached(stateDir, cwd, env);
  if (!check(part, 'up -d', up.ok, up.detail)) return { figures: ['stack did not start'] };
  const procs = stackProcs(stateDir, groups);
  observe(groups, procs);
  const ports = listeningPortsOf(procs.map((p) => p.pid));

  const clientEnv = cleanEnv({
    MLFLOW_TRACKING_URI: up.url,
    MLFLOW_TRACKING_USERNAME: 'admin',
    MLFLOW_TRACKING_PASSWORD: password,
    MLFLOW_TRACKING_TOKEN: undefined,
    MLFLOW_TRACKING_INSECURE_TLS: undefined,
    // Errors must show, not be retried away by the client library.
    MLFLOW_HTTP_REQUEST_MAX_RETRIES: '0',
    MLFLOW_HTTP_REQUEST_TIMEOUT: '120',
    HOME: cwd, // no ~/.mlflow/credentials of the person running the soak
  });
  const started = performance.now();
  const results = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      run(venvPython, [CLIENT, String(i), String(writes)], {
        cwd,
        env: clientEnv,
        timeoutMs: 300_000 + writes * count * 50,
      }),
    ),
  );
  const wallMs = performance.now() - started;
  const reports = [];
  results.forEach((r, i) => {
    let report;
    try {
      report = JSON.parse(r.stdout.trim().split('\n').pop());
    } catch {
      report = undefined;
    }
    if (
      !check(
        part,
        `client ${i}: ran to its end`,
        r.code === 0 && report,
        `exit ${r.code ?? r.signal}${r.timedOut ? ' (timed out)' : ''}: ${tail(r.stderr || r.stdout)}`,
      )
    )
      return;
    reports.push(report);
    check(
      part,
      `client ${i}: 0 errors in ${writes} writes`,
      report.errors === 0,
      `${report.errors} errors, first: ${report.first_errors.join(' / ')}`,
    );
    check(
      part,
      `client ${i}: every value read back`,
      report.read_back === writes && report.mismatches === 0,
      `read ${report.read_back} of ${writes}, ${report.mismatches} mismatched steps (first: ${report.first_mismatches.join(',')})`,
    );
    const leaked = (r.stdout + r.stderr).includes(password);
    check(part, `client ${i}: password not in its output`, !leaked, 'the password appeared in the client output');
  });

  const figures = [];
  let writesPerSecond;
  if (reports.length > 0) {
    const first = Math.min(...reports.map((r) => r.write_start));
    const last = Math.max(...reports.map((r) => r.write_end));
    const total = reports.reduce((n, r) => n + r.writes - r.errors, 0);
    const errors = reports.reduce((n, r) => n + r.errors, 0);
    const p50 = Math.max(...reports.map((r) => r.p50 ?? 0));
    const p95 = Math.max(...reports.map((r) => r.p95 ?? 0));
    writesPerSecond = total / (last - first);
    figures.push(
      `${total} writes by ${reports.length} clients in ${(last - first).toFixed(1)} s: ${writesPerSecond.toFixed(0)} writes/s through the proxy (${errors} errors)`,
    );
    figures.push(
      `log_metric latency, worst client: p50 ${(p50 * 1000).toFixed(0)} ms, p95 ${(p95 * 1000).toFixed(0)} ms; wall time with start-up and read-back ${(wallMs / 1000).toFixed(1)} s`,
    );
  }
  for (const f of figures) say(`clients: ${f}`);

  const down = await cli(['down', '--state-dir', stateDir], { cwd, env, timeoutMs: 60_000 });
  check(part, 'down exits 0', down.code === 0, `exit ${down.code}: ${tail(down.stderr || down.stdout)}`);
  const left = await inspectStopped(stateDir, groups, { url: up.url, ports });
  const issues = [
    ...(left.procsNow.length ? [`processes: ${describeProcs(left.procsNow)}`] : []),
    ...left.portIssues,
    ...left.fileIssues,
  ];
  check(part, 'nothing left after down', issues.length === 0, issues.join('; '));
  return { figures, writesPerSecond };
}
