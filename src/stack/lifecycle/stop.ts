/**
 * Every reason to stop (a signal, a stop request, a child exiting) is one AbortSignal whose
 * reason says which; work is raced against it. Each source lives in its own file (stop-*.ts).
 */
import type { ExitInfo } from '../../system/processes.js';

export type StopReason =
  | { kind: 'signal'; signal: string }
  /** `mlflow-secure down` from another terminal left a stop request. */
  | { kind: 'request' }
  | { kind: 'exit'; exit: ExitInfo };

/** One source of stops: its signal aborts once, with a StopReason; dispose() stops listening. */
export interface StopSource {
  readonly signal: AbortSignal;
  dispose(): void;
}

/** Thrown by raceStop when the stop came first. */
export class Interrupted extends Error {
  constructor(readonly reason: StopReason) {
    super(`interrupted by ${describeStop(reason)}`);
  }
}

/** How a stop is named in what `up` says ("Stopping (SIGINT)..."). */
export function describeStop(reason: StopReason): string {
  if (reason.kind === 'signal') return reason.signal;
  if (reason.kind === 'request') return 'mlflow-secure down';
  return `${reason.exit.name} exited`;
}

export function reasonOf(stop: AbortSignal): StopReason {
  const r: unknown = stop.reason;
  return typeof r === 'object' && r !== null && 'kind' in r ? (r as StopReason) : { kind: 'signal', signal: String(r) };
}

/** Several sources as one: aborts with the reason of the first that does. */
export function anyStop(sources: readonly StopSource[]): StopSource {
  return {
    signal: AbortSignal.any(sources.map((s) => s.signal)),
    dispose: () => sources.forEach((s) => s.dispose()),
  };
}

/** Resolves with the reason once `stop` aborts (at once when it has); dispose() drops the listener. */
export function whenStopped(stop: AbortSignal): { stopped: Promise<StopReason>; dispose(): void } {
  let onAbort: () => void = () => undefined;
  const stopped = new Promise<StopReason>((resolve) => {
    onAbort = () => resolve(reasonOf(stop));
    if (stop.aborted) onAbort();
    else stop.addEventListener('abort', onAbort, { once: true });
  });
  return { stopped, dispose: () => stop.removeEventListener('abort', onAbort) };
}

/** `work`, unless `stop` aborts first: then an Interrupted error (work is left to settle alone). */
export async function raceStop<T>(work: Promise<T>, stop: AbortSignal): Promise<T> {
  const { stopped, dispose } = whenStopped(stop);
  try {
    return await Promise.race([work, stopped.then((reason) => Promise.reject(new Interrupted(reason)))]);
  } finally {
    dispose();
  }
}
