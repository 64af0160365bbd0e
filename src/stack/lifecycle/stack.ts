/** One claimed stack of MLflow and nginx: what each phase reads and what it leaves for the next. */
import type { Context } from '../../context.js';
import type { Progress } from '../../progress.js';
import type { StartedProcess } from '../../system/processes.js';
import type { PreparedTls } from '../../tls/certificates.js';
import type { Plan } from '../plan.js';
import { writeRecord, type StackRecord } from '../state.js';
import type { Preflight } from './preflight.js';
import { recordOf } from './record.js';
import type { Users } from './users.js';

export interface StackRun {
  readonly plan: Plan;
  readonly pre: Preflight;
  readonly ctx: Context;
  readonly progress: Progress;
  readonly debug: (name: string) => void;
  /** The users the claim prepared (and the TLS files it wrote). */
  readonly users: Users & { tls?: PreparedTls };
  /** MLflow's and nginx's logs, bounded while the stack runs. */
  readonly logFiles: readonly string[];
  /** What follows the logs onto our output; each entry stops one. */
  readonly followers: (() => Promise<void>)[];
  /** Until both answer: MLflow's log lines feed the progress line and the store checks. */
  starting: boolean;
  /** Set as each starts: clean-up stops what is here. */
  mlflow?: StartedProcess;
  nginx?: StartedProcess;
  /** --permissions with a temporary probe user: its row in MLflow's user table going (probe.ts). */
  probeForgotten?: Promise<boolean>;
  /** While supervised: stops keeping the logs bounded. */
  stopBounding?: () => Promise<void>;
}

/** Writes the record with what has started so far. */
export function saveRecord(s: StackRun, phase: StackRecord['phase'], supervisorPid: number | null): Promise<void> {
  return writeRecord(s.plan.paths.record, recordOf(s.plan, s.mlflow, s.nginx, phase, supervisorPid));
}

export function stopFollowing(s: StackRun): Promise<unknown> {
  return Promise.all(s.followers.map((stop) => stop()));
}
