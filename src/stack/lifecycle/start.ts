/** The start phase: the logs followed onto our output, then MLflow (unless --upstream) and nginx. */
import { promises as fs } from 'node:fs';
import { labelNginxLogLine } from '../health.js';
import { followFile } from '../../system/follow-file.js';
import { startProcess } from '../../system/processes.js';
import { MARKER_ENV, type Plan } from '../plan.js';
import { saveRecord, type StackRun } from './stack.js';
import { mlflowStartPhase } from './ready.js';

export async function startStack(s: StackRun, detach: boolean): Promise<void> {
  const { plan, ctx, pre } = s;
  const { paths } = plan;
  followLogs(s, detach);
  await pre.migration.beforeMlflowStarts();
  s.progress.phase(plan.upstream ? 'Starting nginx' : 'Starting MLflow and nginx');
  if (!plan.upstream) {
    await linkMlflowSocket(plan);
    s.mlflow = await startProcess({
      name: 'mlflow',
      file: plan.mlflow.file,
      args: plan.mlflow.args,
      env: plan.mlflow.env,
      cwd: plan.mlflow.cwd,
      logFile: paths.mlflowLog,
      platform: ctx.platform,
    });
  }
  await saveRecord(s, 'starting', process.pid);
  s.nginx = await startProcess({
    name: 'nginx',
    file: plan.nginx.file,
    args: plan.nginx.args,
    env: { [MARKER_ENV]: plan.marker },
    cwd: paths.nginxPrefix,
    logFile: paths.nginxErrorLog,
    platform: ctx.platform,
  });
  await saveRecord(s, 'starting', process.pid);
  s.debug('started MLflow and nginx');
}

function followLogs(s: StackRun, detach: boolean): void {
  const { out } = s.ctx;
  const { paths } = s.plan;
  // With --upstream nothing writes MLflow's log here: following it costs a stat per poll.
  s.followers.push(
    followFile(paths.mlflowLog, (line) => {
      if (s.starting) {
        s.pre.stores.onMlflowLine(line);
        const phase = mlflowStartPhase(line);
        if (phase) s.progress.phase(phase);
      }
      if (!detach) out.info(`mlflow | ${line}`);
    }),
  );
  if (!detach) {
    s.followers.push(followFile(paths.nginxErrorLog, (line) => out.info(`nginx  | ${labelNginxLogLine(line)}`)));
    // Nowhere to print once the terminal or the pipe is gone: stop reading the logs.
    void out.stdoutClosed.then(() => Promise.all(s.followers.map((f) => f())));
  }
}

/**
 * MLflow < 3.3 (gunicorn) binds `mlflow-gunicorn.sock:<port>`; nginx, readiness and status reach
 * it at `mlflow.sock`, made here a link relative to the state folder (connect follows it). What
 * was there (checked by checkStateEntries: a stale socket or link) is removed, never followed.
 */
export async function linkMlflowSocket(plan: Plan): Promise<void> {
  const { socket, socketLink } = plan.mlflow;
  if (socket === undefined) return;
  await fs.rm(socket, { force: true });
  if (socketLink !== undefined) await fs.symlink(socketLink, socket);
}
