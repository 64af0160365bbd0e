/**
 * The stack lifecycle, phase by phase: claim, start, wait ready, prove, then detach or supervise;
 * clean up (once, however often asked) unless detached. Every reason to stop is one AbortSignal:
 * the injected signal source and the stop request while starting, a child exiting as well while
 * supervised. Listeners go when the lifecycle ends. The phases themselves are passed in
 * (phases.ts for MLflow and nginx), so tests run the lifecycle with fakes.
 */
import type { SignalSource } from '../../context.js';
import { ExitCode } from '../../errors.js';
import { exists } from '../../system/files.js';
import type { ExitInfo, StartedProcess } from '../../system/processes.js';
import type { Check } from '../health.js';
import { describeExit } from '../health.js';
import type { StatePaths } from '../state.js';
import { failureWithLog } from './log-tail.js';
import { anyStop, describeStop, Interrupted, raceStop, reasonOf, whenStopped, type StopSource } from './stop.js';
import { stopOnExit } from './stop-on-exit.js';
import { stopOnRequest } from './stop-request.js';
import { stopOnSignals } from './stop-signals.js';

/** What a lifecycle does at each phase, for a claimed stack `S`. */
export interface Phases<S> {
  /** Under the state lock: claims the folder. Nothing is left to undo when it throws. */
  claim(): Promise<S>;
  /** Starts the processes; what started is kept in `s` (cleanUp stops it), even when this throws. */
  start(s: S): Promise<void>;
  /** Raced against a stop. */
  waitReady(s: S): Promise<void>;
  /** Raced against a stop: the checks that auth holds and the API answers through the proxy. */
  prove(s: S): Promise<Check[]>;
  /** Throws when a check failed; removes what only the proof needed. Not raced. */
  accept(s: S, checks: Check[]): Promise<void>;
  /** Once proven, before the stack detaches or is supervised (warnings said before the summary). */
  proven(s: S): Promise<void>;
  /** Lets the processes run on without us. */
  detach(s: S): Promise<void>;
  /** Before supervising: the record names us; whatever runs while we supervise starts. */
  superviseBegin(s: S): Promise<void>;
  /** The summary (and the browser with --open). */
  announce(s: S, detached: boolean): Promise<void>;
  /** Watches that only say things while supervised; returns how to stop watching. */
  watch(s: S): () => void;
  /** The processes whose exit ends supervision. */
  children(s: S): readonly StartedProcess[];
  /** Stops what started and removes what the stack leaves. */
  cleanUp(s: S): Promise<void>;
  /** "Stopped MLflow and nginx." */
  stoppedNote(s: S): string;
}

export interface LifecycleOptions {
  detach: boolean;
  signals: SignalSource;
  windows: boolean;
  paths: Pick<StatePaths, 'stopRequest' | 'record' | 'mlflowLog' | 'nginxErrorLog'>;
  out: { note(line: string): void };
  /** The progress line, ended before anything is said. */
  progress: { done(): void };
}

/** Runs the lifecycle to its end: the exit code, or the StackError that ended it. */
export async function runLifecycle<S>(p: Phases<S>, o: LifecycleOptions): Promise<number> {
  // From the claim on, a signal (a closed terminal, Ctrl+C) must clean up, not kill us midway.
  const signals = stopOnSignals(o.signals, o.windows);
  try {
    const s = await p.claim();
    return await runClaimed(s, p, signals, o);
  } finally {
    signals.dispose();
  }
}

async function runClaimed<S>(s: S, p: Phases<S>, signals: StopSource, o: LifecycleOptions): Promise<number> {
  const request = stopOnRequest(o.paths.stopRequest);
  const starting = anyStop([signals, request]);
  let cleaned: Promise<void> | undefined;
  const cleanUp = () => (cleaned ??= p.cleanUp(s));
  let detached = false;
  try {
    try {
      await startAndProve(s, p, starting.signal);
    } catch (error) {
      if (!(error instanceof Interrupted)) throw error;
      o.progress.done();
      await cleanUp();
      o.out.note(`Interrupted (${describeStop(error.reason)}) while starting: stopped everything.`);
      return ExitCode.interrupted;
    }
    o.progress.done();
    await p.proven(s);
    if (o.detach) {
      await p.detach(s);
      detached = true;
      await p.announce(s, true);
      return ExitCode.ok;
    }
    await p.superviseBegin(s);
    // From here on `down` stops the processes and this `up` sees them exit.
    request.dispose();
    await p.announce(s, false);
    return await supervise(s, p, starting, cleanUp, o);
  } finally {
    if (!detached) await cleanUp();
    starting.dispose();
  }
}

/** Start, wait ready, prove: a stop on the way is an Interrupted error. */
async function startAndProve<S>(s: S, p: Phases<S>, stop: AbortSignal): Promise<void> {
  // A signal that came during the claim: stop before starting anything.
  if (stop.aborted) throw new Interrupted(reasonOf(stop));
  await p.start(s);
  await raceStop(p.waitReady(s), stop);
  await p.accept(s, await raceStop(p.prove(s), stop));
}

/**
 * Until a signal or a child's exit; then everything is stopped. The signal listeners stay until
 * the lifecycle ends: a second Ctrl+C while stopping must not kill us midway.
 */
async function supervise<S>(
  s: S,
  p: Phases<S>,
  starting: StopSource,
  cleanUp: () => Promise<void>,
  o: LifecycleOptions,
): Promise<number> {
  const exits = stopOnExit(p.children(s));
  const stopWatching = p.watch(s);
  const until = whenStopped(AbortSignal.any([starting.signal, exits.signal]));
  const reason = await until.stopped.finally(() => {
    stopWatching();
    until.dispose();
    exits.dispose();
  });
  if (reason.kind !== 'exit') {
    o.out.note(`Stopping (${describeStop(reason)})...`);
    await cleanUp();
    o.out.note(p.stoppedNote(s));
    return ExitCode.ok;
  }
  // `down` leaves a stop request before it stops the processes, and removes the record last:
  // either one says the exit was asked for.
  if ((await exists(o.paths.stopRequest)) || !(await exists(o.paths.record))) {
    await cleanUp();
    o.out.note('Stopped by `mlflow-secure down`.');
    return ExitCode.ok;
  }
  await cleanUp();
  throw await diedWhileRunning(reason.exit, o.paths);
}

function diedWhileRunning(died: ExitInfo, paths: LifecycleOptions['paths']) {
  return failureWithLog(
    `${describeExit(died)} while the stack was running; stopped the rest`,
    `Read its log: mlflow-secure logs ${died.name}`,
    died.name === 'mlflow' ? paths.mlflowLog : paths.nginxErrorLog,
    died.name,
  );
}
