/**
 * `mlflow-secure down`: stop the stack recorded in the state folder. Idempotent.
 *
 * Only pids are taken from the record, and each is checked against what the state folder says
 * its process must look like (stack.ts) before any signal. A foreground `up` is never signalled:
 * `down` leaves a stop request in the state folder, stops the two processes, and the supervising
 * `up` sees them exit after that request and exits 0.
 */
import type { Context } from '../context.js';
import { ExitCode, UserError } from '../errors.js';
import { writeFileAtomic } from '../system/files.js';
import { checkStateDir } from '../system/folders.js';
import { isAlive } from '../system/processes.js';
import { isLiveUp, removeStackFiles, stackTargets, stopStack } from '../stack/targets.js';
import { readRecord, resolveStatePaths } from '../stack/state.js';
import { promises as fs } from 'node:fs';

export async function down(o: { stateDir?: string }, ctx: Context): Promise<number> {
  const { platform, out } = ctx;
  const paths = resolveStatePaths(o.stateDir, ctx);
  let record = (await checkStateDir(paths.stateDir, platform))
    ? await readRecord(paths.record, platform.name)
    : undefined;
  if (!record) {
    out.info(`Nothing to stop: no stack is recorded in ${paths.stateDir}.`);
    return ExitCode.ok;
  }
  try {
    await writeFileAtomic(paths.stopRequest, `${process.pid}\n`, 0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new UserError(`cannot write to the state folder ${paths.stateDir} (${code}); nothing was stopped`, {
      hint: `Make it writable (chmod 700 ${paths.stateDir}) and run down again`,
    });
  }
  try {
    // An `up` still starting the stack stops it itself on seeing the request (its pids may not
    // be recorded yet); wait for it, bounded, then stop whatever the record names by then.
    if (record.phase === 'starting' && (await isLiveUp(record.supervisorPid, platform))) {
      out.note(`An \`up\` (pid ${record.supervisorPid}) is starting this stack: asked it to stop...`);
      const deadline = Date.now() + STARTING_UP_WAIT_MS;
      while (Date.now() < deadline && isAlive(record.supervisorPid!)) await new Promise((r) => setTimeout(r, 100));
      record = (await readRecord(paths.record, platform.name)) ?? { ...record, mlflow: undefined, nginx: undefined };
    }
    // Windows: the nginx.exe `up` would find, for `-s quit` where the process's command line is unreadable.
    const nginxExe = platform.isWindows
      ? (await (await import('../system/tools.js')).lookupNginx({ env: ctx.env, platform })).found
      : undefined;
    const stopped = await stopStack(stackTargets(record, paths, platform, nginxExe), paths, platform);
    let unresolved = false;
    for (const s of stopped) {
      if (s.result === 'stopped') out.info(`Stopped ${s.name} (pid ${s.pid}).`);
      else if (s.result === 'gone') out.info(`${s.name} (pid ${s.pid}) was not running.`);
      else if (s.result === 'not-ours')
        out.warn(
          `pid ${s.pid} is not ${s.name} from this stack (the pid was reused, or the record is wrong); left it alone.`,
        );
      else if (s.result === 'denied') {
        out.error(
          `cannot stop ${s.name} (pid ${s.pid}): it belongs to another user (permission denied). Run \`down\` as the user who started the stack; the record is kept`,
        );
        unresolved = true;
      } else {
        const how = platform.treeKillCommand(s.pid);
        out.warn(
          `could not confirm that pid ${s.pid} is still ${s.name} from this stack (its command line is unreadable); left it alone. If it is, stop it with: ${how ? [how.file, ...how.args].join(' ') : `kill ${s.pid}`}`,
        );
        unresolved = true;
      }
    }
    if (stopped.length === 0) out.info('Nothing was running; removed the stack record.');
    // Keep the record while a process might still be ours, so `down` can be tried again.
    if (unresolved) return ExitCode.userError;
    await removeStackFiles(paths);
    return ExitCode.ok;
  } finally {
    await fs.rm(paths.stopRequest, { force: true });
  }
}

/** How long `down` waits for a starting `up` to stop what it started (its grace periods included). */
const STARTING_UP_WAIT_MS = 30_000;
