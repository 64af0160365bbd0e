/** Fakes for the lifecycle's unit tests: a signal source to emit on, phases that record their calls. */
import { EventEmitter } from 'node:events';
import type { Check } from '../../../../src/stack/health.js';
import type { Phases } from '../../../../src/stack/lifecycle/run.js';
import type { ExitInfo, StartedProcess } from '../../../../src/system/processes.js';

/** Stands in for `process`: tests emit signals on it and count its listeners. */
export class FakeSignals extends EventEmitter {
  listening(): number {
    return ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK'].reduce((n, s) => n + this.listenerCount(s), 0);
  }
  /** Resolves once something listens for SIGINT (the lifecycle has started). */
  async installed(): Promise<void> {
    for (let i = 0; i < 500 && this.listenerCount('SIGINT') === 0; i++) await new Promise((r) => setTimeout(r, 2));
  }
}

/** A child that exits when told to. */
export function fakeChild(name: string, pid = 4242): StartedProcess & { exit(info?: Partial<ExitInfo>): void } {
  let exit: (info: ExitInfo) => void = () => undefined;
  const exited = new Promise<ExitInfo>((resolve) => {
    exit = resolve;
  });
  return {
    name,
    pid,
    group: false,
    exited,
    detach: () => undefined,
    exit: (info = {}) => exit({ name, code: 1, signal: undefined, ...info }),
  };
}

export type Calls = string[];

/** Phases that succeed at once unless a test overrides one; each call is written to `calls`. */
export function fakePhases(
  calls: Calls,
  override: Partial<Phases<object>> = {},
  children: readonly StartedProcess[] = [fakeChild('mlflow'), fakeChild('nginx')],
): Phases<object> {
  const note =
    <A extends unknown[], R>(name: string, result: (...a: A) => R) =>
    (...a: A): R => {
      calls.push(name);
      return result(...a);
    };
  const ok: Check[] = [{ name: 'auth', ok: true, detail: '' }];
  const base: Phases<object> = {
    claim: note('claim', async () => ({})),
    start: note('start', async () => undefined),
    waitReady: note('waitReady', async () => undefined),
    prove: note('prove', async () => ok),
    accept: note('accept', async () => undefined),
    proven: note('proven', async () => undefined),
    detach: note('detach', async () => undefined),
    superviseBegin: note('superviseBegin', async () => undefined),
    announce: note('announce', async (_s: object, detached: boolean) => {
      calls.push(detached ? 'detached' : 'supervised');
    }),
    watch: note('watch', () => () => void calls.push('unwatch')),
    children: () => children,
    cleanUp: note('cleanUp', async () => undefined),
    stoppedNote: () => 'Stopped MLflow and nginx.',
  };
  const wrapped: Record<string, unknown> = { ...base };
  for (const [k, f] of Object.entries(override))
    wrapped[k] = typeof f === 'function' ? note(k, f as (...a: unknown[]) => unknown) : f;
  return wrapped as unknown as Phases<object>;
}

/** A promise that never settles: a phase still working. */
export const forever = <T>(): Promise<T> => new Promise<T>(() => undefined);
