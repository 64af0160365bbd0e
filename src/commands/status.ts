/** `mlflow-secure status` (alias `ps`): running or not, pids, URL, health. */
import type { Context } from '../context.js';
import { ExitCode } from '../errors.js';
import { checkStateDir } from '../system/folders.js';
import { mlflowDirect } from '../stack/health.js';
import { request } from '../system/http.js';
import { ownership } from '../system/processes.js';
import { isLiveUp, stackTargets } from '../stack/targets.js';
import { readRecord, resolveStateDir, statePaths } from '../stack/state.js';
import { tlsKindOf, trustFromState, type TlsTrust } from '../tls/certificates.js';
import { parseUpstream } from '../mlflow/upstream-url.js';
import { getFromUpstream } from '../mlflow/upstream.js';

export interface Status {
  running: boolean;
  healthy: boolean;
  stateDir: string;
  url?: string;
  publicUrls?: string[];
  user?: string;
  phase?: string;
  supervisorPid?: number | null;
  /** A foreground `up` recorded as supervising the stack: is it still there? */
  supervisor?: 'running' | 'gone';
  processes: { name: string; pid: number; running: boolean; verified: boolean }[];
  /** `up --upstream`: the user's MLflow, which nginx fronts (not started or stopped by mlflow-secure). */
  upstream?: string;
  health: { mlflow?: string; nginxAuth?: string };
}

export async function getStatus(stateDir: string, ctx: Context): Promise<Status> {
  const paths = statePaths(stateDir, ctx.platform);
  const record = (await checkStateDir(stateDir, ctx.platform))
    ? await readRecord(paths.record, ctx.platform.name)
    : undefined;
  if (!record) return { running: false, healthy: false, stateDir, processes: [], health: {} };
  const processes = [];
  for (const t of stackTargets(record, paths, ctx.platform)) {
    const owner = await ownership(t, ctx.platform);
    processes.push({
      name: t.name,
      pid: t.pid,
      running: owner === 'ours' || owner === 'unverified',
      verified: owner !== 'unverified',
    });
  }
  const url = new URL(record.url);
  // HTTPS: nginx is checked as clients check it, against the certificate in the state folder.
  const tlsKind = tlsKindOf(record);
  const trust = tlsKind ? await trustFromState(stateDir, tlsKind, ctx.platform) : undefined;
  const probe = (where: { host: string; port: number; socketPath?: string; tls?: TlsTrust }, want: number) =>
    request({ ...where, path: want === 401 ? '/' : '/health', timeoutMs: 5_000 }).then(
      (r) => (r.status === want ? 'ok' : `unexpected ${r.status}`),
      (e: Error) => `unreachable (${e.message})`,
    );
  const running = processes.length > 0 && processes.every((p) => p.running);
  // Probed only when this folder's processes run: a planted record's URL is never contacted.
  const skipped = Promise.resolve('not probed (not running)');
  const upstream = record.upstream !== undefined ? parseUpstream(record.upstream) : undefined;
  const [mlflow, nginxAuth] = await Promise.all([
    running && upstream
      ? getFromUpstream(upstream, '/health').then(
          (r) => (r.status === 200 ? 'ok' : `unexpected ${r.status}`),
          (e: Error) => `unreachable (${(e as NodeJS.ErrnoException).code ?? e.message})`,
        )
      : running
        ? probe(
            mlflowDirect({
              port: record.mlflowPort,
              socket: (record.mlflowOnSocket ?? !ctx.platform.isWindows) ? paths.mlflowSocket : undefined,
            }),
            200,
          )
        : skipped,
    // Without credentials nginx must answer 401: it is up and auth holds.
    !running
      ? skipped
      : tlsKind && !trust
        ? Promise.resolve(`not probed (no certificate in ${stateDir})`)
        : probe(
            {
              host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
              port: Number(url.port),
              ...(trust ? { tls: trust } : {}),
            },
            401,
          ),
  ]);
  // Shown, never signalled: a foreground `up` that is gone (its terminal closed, or killed)
  // leaves the stack unsupervised.
  const sup = record.supervisorPid;
  const supervisor = sup === null ? undefined : (await isLiveUp(sup, ctx.platform)) ? 'running' : 'gone';
  return {
    running,
    // Healthy only once `up` has proven it (phase running): answering alone is not yet proof.
    healthy: running && record.phase === 'running' && mlflow === 'ok' && nginxAuth === 'ok',
    stateDir,
    url: record.url,
    publicUrls: record.publicUrls,
    user: record.user,
    phase: record.phase,
    supervisorPid: record.supervisorPid,
    supervisor,
    processes,
    ...(record.upstream ? { upstream: record.upstream } : {}),
    health: { mlflow, nginxAuth },
  };
}

export async function status(o: { stateDir?: string; json?: boolean }, ctx: Context): Promise<number> {
  const s = await getStatus(resolveStateDir(o.stateDir, ctx.cwd, ctx.platform), ctx);
  if (o.json) ctx.out.json(s);
  else if (s.processes.length === 0) ctx.out.info(`Not running (no stack recorded in ${s.stateDir}).`);
  else {
    const state = s.healthy
      ? 'Running'
      : s.running && s.phase === 'starting'
        ? 'Starting (up has not proven it yet)'
        : s.running
          ? 'Running, NOT healthy'
          : 'NOT running (stale record)';
    ctx.out.info(`${state}: ${s.url}${s.publicUrls?.length ? ` (also ${s.publicUrls.join(', ')})` : ''}`);
    ctx.out.info(`  user:    ${s.user}`);
    if (s.upstream) ctx.out.info(`  mlflow   ${s.upstream} (yours: --upstream; not started or stopped here)`);
    for (const p of s.processes)
      ctx.out.info(
        `  ${p.name.padEnd(7)}  pid ${p.pid}  ${p.running ? 'running' : 'gone'}${p.verified ? '' : ' (could not read its command line to confirm it is ours)'}`,
      );
    ctx.out.info(
      `  health:  MLflow${s.upstream ? ` at ${s.upstream}` : ''} /health ${s.health.mlflow}; nginx without credentials -> 401 ${s.health.nginxAuth}`,
    );
    if (s.supervisor === 'gone') {
      ctx.out.info(
        `  mode:    foreground, but its supervisor (pid ${s.supervisorPid}) is gone: nothing restarts or stops the stack with it`,
      );
      ctx.out.info('  Stop it with: mlflow-secure down   (then start it again with up, or up -d)');
    } else
      ctx.out.info(`  mode:    ${s.supervisorPid ? `foreground (supervised by pid ${s.supervisorPid})` : 'detached'}`);
    if (!s.running && s.supervisor !== 'gone') ctx.out.info('  Clean up with: mlflow-secure down');
  }
  return s.healthy ? ExitCode.ok : ExitCode.stackFailed;
}
