/** The lifecycle's phases for MLflow and nginx (run.ts runs them in order). */
import os from 'node:os';
import type { Context } from '../../context.js';
import { watchUpstream } from '../../mlflow/upstream.js';
import type { Progress } from '../../progress.js';
import { startBackground } from '../../system/processes.js';
import { keepLogsBounded, rotateLog } from '../log-files.js';
import { keeperArgs, keeperScript } from '../log-keeper.js';
import { mlflowTarget, nginxTarget, removeStackFiles, stopStack } from '../targets.js';
import { claimStateFolder } from './claim.js';
import type { Preflight } from './preflight.js';
import { acceptProof, proveStackWorks, waitStackReady } from './ready.js';
import type { Phases } from './run.js';
import { saveRecord, stopFollowing, type StackRun } from './stack.js';
import { startStack } from './start.js';
import { finishForgettingProbe, startForgettingProbe } from './probe.js';
import { printSummary } from './summary.js';
import { removeTemporaryUser } from './users.js';

export interface StackInputs {
  pre: Preflight;
  /** The password given for `up`'s user, if any. */
  given: { password: string } | undefined;
  detach: boolean;
  /** Open the UI in the default browser once the stack is up. */
  open: boolean;
  ctx: Context;
  progress: Progress;
  debug: (name: string) => void;
}

export function stackPhases(i: StackInputs): Phases<StackRun> {
  const { plan } = i.pre;
  return {
    claim: () => claim(i),
    start: (s) => startStack(s, i.detach),
    waitReady: waitStackReady,
    prove: proveStackWorks,
    accept: acceptProof,
    proven: async () => {
      for (const w of await i.pre.inGit) i.ctx.out.warn(w);
    },
    detach: detachStack,
    superviseBegin: async (s) => {
      await saveRecord(s, 'running', process.pid);
      // While this `up` supervises, the logs stay bounded (a detached stack's wait for the next start).
      s.stopBounding = keepLogsBounded(s.logFiles);
    },
    announce: async (s, detached) => {
      // --upstream: the version the user's MLflow answered; else the one read before it started.
      const found = i.pre.found;
      const versions = {
        mlflow: i.pre.upstreamVersion ?? found.mlflowVersion ?? '?',
        nginx: found.nginxVersion.join('.'),
      };
      printSummary(plan, s.users, versions, detached, i.ctx);
      // After the summary: supervised it runs on in the background (clean-up awaits it).
      startForgettingProbe(s);
      if (detached) await finishForgettingProbe(s);
      if (i.open) await (await import('../../system/browser.js')).openAfterUp(plan.url, i.ctx);
    },
    watch: () => watchUpstreamAnswers(i),
    children: (s) => [...(s.mlflow ? [s.mlflow] : []), ...(s.nginx ? [s.nginx] : [])],
    cleanUp,
    stoppedNote: () =>
      plan.upstream
        ? `Stopped nginx (your MLflow at ${plan.upstream.url} keeps running).`
        : 'Stopped MLflow and nginx.',
  };
}

/** The claim, then the logs that outgrew their bound set aside (nothing writes them yet). */
async function claim(i: StackInputs): Promise<StackRun> {
  const { plan } = i.pre;
  const { paths } = plan;
  const { out } = i.ctx;
  i.progress.phase('Writing the nginx config and the password file');
  const users = await claimStateFolder(plan, i.given, i.ctx);
  i.debug('wrote nginx.conf; nginx -t passed');
  const logFiles = [paths.mlflowLog, paths.nginxErrorLog, paths.nginxAccessLog];
  for (const file of logFiles)
    await rotateLog(file).catch((error: unknown) => out.warn(`could not rotate ${file}: ${String(error)}`));
  const { ctx, progress, debug, pre } = i;
  return { plan, pre, ctx, progress, debug, users, logFiles, followers: [], starting: true };
}

async function detachStack(s: StackRun): Promise<void> {
  const { mlflow, nginx } = s;
  if (!nginx) throw new Error('detach before nginx started');
  await saveRecord(s, 'running', null);
  await stopFollowing(s);
  mlflow?.detach();
  nginx.detach();
  // Nothing of ours stays to bound the logs: a small keeper does, until the stack is gone.
  const keeper = keeperScript();
  if (keeper.endsWith('.js')) {
    const pids = mlflow ? [mlflow.pid, nginx.pid] : [nginx.pid]; // --upstream: nginx alone
    const job = { pids, record: s.plan.paths.record, logs: [...s.logFiles] };
    startBackground(process.execPath, [keeper, ...keeperArgs(job)], { cwd: os.tmpdir(), platform: s.ctx.platform });
  }
}

/** Stops whatever was started and removes what the stack leaves (run.ts runs it once). */
async function cleanUp(s: StackRun): Promise<void> {
  const { plan, ctx, users } = s;
  const { paths } = plan;
  const { platform } = ctx;
  const targets = [
    // Our own children: ours even where the process table tells nothing (Windows under Wine).
    ...(s.mlflow ? [{ ...mlflowTarget(s.mlflow.pid, plan.mlflow.port, paths.stateDir, platform), known: true }] : []),
    ...(s.nginx ? [{ ...nginxTarget(s.nginx.pid, paths, platform, plan.nginx.file), known: true }] : []),
  ];
  await s.stopBounding?.();
  await stopStack(targets, paths, platform);
  await stopFollowing(s);
  await removeStackFiles(paths);
  if (users.probeIsTemporary) await removeTemporaryUser(paths, users.probe).catch(() => undefined);
  await finishForgettingProbe(s);
}

/** The user's MLflow going away is said, not a reason to stop: they may be restarting it. */
function watchUpstreamAnswers(i: StackInputs): () => void {
  const { upstream } = i.pre.plan;
  const { out } = i.ctx;
  if (!upstream) return () => undefined;
  return watchUpstream(upstream, (answers, detail) =>
    answers
      ? out.note(`Your MLflow at ${upstream.url} answers again.`)
      : out.warn(
          `your MLflow at ${upstream.url} stopped answering (${detail}): requests through nginx get 502 until it is back`,
        ),
  );
}
