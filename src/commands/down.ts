/** `mlflow-secure down`: stop the stack recorded in the state folder. Idempotent. */
import type { Context } from '../context.js';
import { ExitCode } from '../errors.js';
import { resolveStateDir } from '../plan/settings.js';
import { statePaths } from '../plan/plan.js';
import { isAlive, waitUntilGone } from '../processes.js';
import { readCommandLine } from '../platform.js';
import { stopStack } from '../stack.js';
import { readRecord, removeRecord } from '../state.js';

export async function down(o: { stateDir?: string }, ctx: Context): Promise<number> {
  const { platform, out } = ctx;
  const paths = statePaths(resolveStateDir(o.stateDir, ctx.cwd, platform), platform);
  const record = await readRecord(paths.record);
  if (!record) {
    out.info(`Nothing to stop: no stack is recorded in ${paths.stateDir}.`);
    return ExitCode.ok;
  }
  // A foreground `up` still supervising: let it stop the stack its own way (it exits 0).
  const sup = record.supervisorPid;
  let viaSupervisor = false;
  if (sup !== null && sup !== process.pid && isAlive(sup) && (await readCommandLine(sup, platform))?.includes(' up')) {
    try {
      process.kill(sup, 'SIGTERM');
      viaSupervisor = await waitUntilGone({ pid: sup, group: false }, 10_000);
    } catch {
      // it went away by itself
    }
  }
  const stopped = await stopStack(record, platform);
  let unresolved = false;
  for (const s of stopped) {
    if (s.result === 'stopped' || (viaSupervisor && s.result === 'gone')) out.info(`Stopped ${s.name} (pid ${s.pid}).`);
    else if (s.result === 'gone') out.info(`${s.name} (pid ${s.pid}) was not running.`);
    else if (s.result === 'not-ours') out.warn(`pid ${s.pid} is no longer ${s.name} from this stack (the pid was reused); left it alone.`);
    else {
      const how = ctx.platform.treeKillCommand(s.pid);
      out.warn(`could not confirm that pid ${s.pid} is still ${s.name} from this stack (its command line is unreadable); left it alone. If it is, stop it with: ${how ? [how.file, ...how.args].join(' ') : `kill ${s.pid}`}`);
      unresolved = true;
    }
  }
  if (stopped.length === 0) out.info('Nothing was running; removed the stack record.');
  // Keep the record while a process might still be ours, so `down` can be tried again.
  if (unresolved) return ExitCode.userError;
  await removeRecord(paths.record);
  return ExitCode.ok;
}
