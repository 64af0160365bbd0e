/**
 * `up --permissions` without the user's password proves auth with a temporary probe user, who
 * then has a row in MLflow's user table (the authorization function made it). Removing that row
 * starts one MLflow Python (~3 s), so it runs after the summary, not before ready: in the
 * background while `up` supervises, awaited before `up -d` returns, and on every other way out
 * (a failed check, Ctrl+C, a stop request) by the clean-up. nginx forgot the name at once (ready.ts),
 * so until then nobody can sign in as it.
 */
import type { StackRun } from './stack.js';

function probeRowMayExist(s: StackRun): boolean {
  // The row is made when a request as the probe reaches MLflow: never without MLflow started.
  return s.users.probeIsTemporary && s.plan.settings.permissions !== undefined && s.mlflow !== undefined;
}

async function removeRow(s: StackRun): Promise<'removed' | 'none' | Error> {
  const { removeProbeRow } = await import('../permissions-files.js');
  const { NotInMlflowTable } = await import('../../users/mlflow-users.js');
  try {
    await removeProbeRow(s.plan, s.pre.found.mlflow, s.users.probe.user, s.ctx);
    return 'removed';
  } catch (e) {
    return e instanceof NotInMlflowTable ? 'none' : e instanceof Error ? e : new Error(String(e));
  }
}

/** Starts removing the probe's row (once); not awaited. */
export function startForgettingProbe(s: StackRun): void {
  if (!probeRowMayExist(s) || s.probeForgotten) return;
  s.probeForgotten = removeRow(s).then((r) => !(r instanceof Error));
}

/**
 * Awaits the removal, starting it if it never started. A Ctrl+C reaches the Python that removes
 * the row too (it runs in our process group): a failed try is made once more, and only then said.
 */
export async function finishForgettingProbe(s: StackRun): Promise<void> {
  if (!probeRowMayExist(s)) return;
  startForgettingProbe(s);
  if (await s.probeForgotten) return;
  const again = await removeRow(s);
  s.probeForgotten = Promise.resolve(!(again instanceof Error));
  if (again instanceof Error)
    s.ctx.out.warn(`could not remove the probe user ${s.users.probe.user} from MLflow's user table: ${again.message}`);
}
