/** `mlflow-secure status` (alias `ps`): running or not, pids, URL, health. */
import type { Context } from '../context.js';
import { ExitCode } from '../errors.js';
import { request } from '../http.js';
import { statePaths } from '../plan/plan.js';
import { resolveStateDir } from '../plan/settings.js';
import { ownership } from '../processes.js';
import { target } from '../stack.js';
import { readRecord } from '../state.js';

export interface Status {
  running: boolean;
  healthy: boolean;
  stateDir: string;
  url?: string;
  publicUrls?: string[];
  user?: string;
  phase?: string;
  supervisorPid?: number | null;
  processes: { name: string; pid: number; running: boolean; verified: boolean }[];
  health: { mlflow?: string; nginxAuth?: string };
}

export async function getStatus(stateDir: string, ctx: Context): Promise<Status> {
  const paths = statePaths(stateDir, ctx.platform);
  const record = await readRecord(paths.record);
  if (!record) return { running: false, healthy: false, stateDir, processes: [], health: {} };
  const processes = [];
  for (const [name, p] of [['mlflow', record.mlflow], ['nginx', record.nginx]] as const) {
    if (!p) continue;
    const owner = await ownership(target(name, p), ctx.platform);
    processes.push({ name, pid: p.pid, running: owner === 'ours' || owner === 'unverified', verified: owner !== 'unverified' });
  }
  const url = new URL(record.url);
  const probe = (port: number, host: string, want: number) =>
    request({ host, port, path: want === 401 ? '/' : '/health', timeoutMs: 5_000 }).then(
      (r) => (r.status === want ? 'ok' : `unexpected ${r.status}`),
      (e: Error) => `unreachable (${e.message})`,
    );
  const [mlflow, nginxAuth] = await Promise.all([
    probe(record.mlflowPort, '127.0.0.1', 200),
    // Without credentials nginx must answer 401: it is up and auth holds.
    probe(Number(url.port), url.hostname.replace(/^\[(.*)\]$/, '$1'), 401),
  ]);
  const running = processes.length > 0 && processes.every((p) => p.running);
  return {
    running,
    healthy: running && mlflow === 'ok' && nginxAuth === 'ok',
    stateDir,
    url: record.url,
    publicUrls: record.publicUrls,
    user: record.user,
    phase: record.phase,
    supervisorPid: record.supervisorPid,
    processes,
    health: { mlflow, nginxAuth },
  };
}

export async function status(o: { stateDir?: string; json?: boolean }, ctx: Context): Promise<number> {
  const s = await getStatus(resolveStateDir(o.stateDir, ctx.cwd, ctx.platform), ctx);
  if (o.json) ctx.out.info(JSON.stringify(s, null, 2));
  else if (s.processes.length === 0) ctx.out.info(`Not running (no stack recorded in ${s.stateDir}).`);
  else {
    ctx.out.info(`${s.healthy ? 'Running' : s.running ? 'Running, NOT healthy' : 'NOT running (stale record)'}: ${s.url}${s.publicUrls?.length ? ` (also ${s.publicUrls.join(', ')})` : ''}`);
    ctx.out.info(`  user:    ${s.user}`);
    for (const p of s.processes) ctx.out.info(`  ${p.name.padEnd(7)}  pid ${p.pid}  ${p.running ? 'running' : 'gone'}${p.verified ? '' : ' (could not read its command line to confirm it is ours)'}`);
    ctx.out.info(`  health:  MLflow /health ${s.health.mlflow}; nginx without credentials -> 401 ${s.health.nginxAuth}`);
    ctx.out.info(`  mode:    ${s.supervisorPid ? `foreground (supervised by pid ${s.supervisorPid})` : 'detached'}`);
    if (!s.running) ctx.out.info('  Clean up with: mlflow-secure down');
  }
  return s.healthy ? ExitCode.ok : ExitCode.stackFailed;
}
