/**
 * The stack's two processes as targets to check and stop: shared by `down`, `status` and by
 * `up` when it cleans up after itself.
 *
 * What identifies them is derived here from the state folder and fixed knowledge of the two
 * programs, never read from the record: nginx is the process started with `-c <this state
 * folder's nginx.conf>`; MLflow is `... ui ... --port <n>` carrying MLFLOW_SECURE_STATE_DIR=<this
 * state folder> in its environment (readable on Linux). The record only says which pids to
 * look at.
 */
import { promises as fs, type Stats } from 'node:fs';
import path from 'node:path';
import type { Platform } from '../system/platform.js';
import { readCommandLine, type GroupMember } from '../system/process-table.js';
import { MARKER_ENV, nginxLocation } from './plan.js';
import { parseNginxPidFile } from '../nginx/conf.js';
import { readTextIfExists } from '../system/files.js';
import {
  isAlive,
  isLive,
  ownership,
  stopTree,
  waitUntilGone,
  type StopResult,
  type StopTarget,
} from '../system/processes.js';
import { runOnce } from '../system/run-once.js';
import { GUNICORN_SOCKET_NAME, removeRecord, type StackRecord, type StatePaths } from './state.js';

/** How long a process gets to stop by itself before it is killed. */
export const GRACE_MS = 5_000;

export interface Stopped {
  name: 'mlflow' | 'nginx';
  pid: number;
  result: StopResult;
}

export function mlflowTarget(pid: number, mlflowPort: number, stateDir: string, platform: Platform): StopTarget {
  const marker = `${MARKER_ENV}=${stateDir}`;
  return {
    name: 'mlflow',
    pid,
    group: platform.usesProcessGroups,
    identity: ['ui', `--port ${mlflowPort}`],
    marker,
    images: ['mlflow.exe', 'python.exe', 'py.exe'],
    // Orphaned MLflow workers inherit the marker; where environments cannot be read, their
    // command lines name MLflow's server or Python's multiprocessing.
    isMember: (m: GroupMember) =>
      m.environ ? m.environ.includes(marker) : /mlflow|uvicorn|multiprocessing|huey/.test(m.command),
  };
}

export function nginxTarget(
  pid: number,
  paths: Pick<StatePaths, 'stateDir' | 'nginxPrefix' | 'nginxConf' | 'nginxErrorLog'>,
  platform: Platform,
  executable?: string,
): StopTarget & { executable?: string } {
  return {
    name: 'nginx',
    // Windows: the nginx.exe for `-s quit` when the live process's command line cannot be read
    // (the one `up` started, or the one it would find; never a path from the record).
    ...(executable !== undefined ? { executable } : {}),
    pid,
    group: platform.usesProcessGroups,
    identity: nginxLocation(paths, platform).identity,
    images: ['nginx.exe'],
    // nginx renames its children `nginx: worker process` (and cache manager/loader).
    isMember: (m: GroupMember) => /^nginx: /.test(m.command),
  };
}

export function stackTargets(
  record: Pick<StackRecord, 'mlflow' | 'nginx' | 'mlflowPort'>,
  paths: StatePaths,
  platform: Platform,
  nginxExecutable?: string,
): StopTarget[] {
  const targets: StopTarget[] = [];
  if (record.mlflow) targets.push(mlflowTarget(record.mlflow.pid, record.mlflowPort, paths.stateDir, platform));
  if (record.nginx) targets.push(nginxTarget(record.nginx.pid, paths, platform, nginxExecutable));
  return targets;
}

/** The executable of a Windows command line: its first token, quoted or not. */
export function executableOf(commandLine: string): string | undefined {
  const m = /^\s*(?:"([^"]+)"|(\S+))/.exec(commandLine);
  return m?.[1] ?? m?.[2];
}

/**
 * A graceful stop of a verified nginx master: it finishes in-flight requests and closes idle
 * keep-alive connections. POSIX: SIGQUIT, which is what `nginx -s quit` sends. Windows has no
 * signals: `nginx.exe -s quit` with this state's -p/-c, run with the executable the live
 * process was started from (read from its command line, never from the record).
 */
async function quitNginx(
  t: StopTarget,
  paths: StatePaths,
  platform: Platform,
  timeoutMs: number,
): Promise<'sent' | 'denied'> {
  if (!platform.isWindows) {
    try {
      process.kill(t.pid, 'SIGQUIT');
      return 'sent';
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === 'EPERM' ? 'denied' : 'sent';
    }
  }
  // `-s quit` signals the master named in the pid file (the event ngx_quit_<pid>, which only an
  // nginx master creates): only when that is the verified pid.
  const pidFile = await readTextIfExists(paths.nginxPid).catch(() => undefined);
  if (parseNginxPidFile(pidFile ?? '') !== t.pid) return 'sent';
  const exe = executableOf((await readCommandLine(t.pid, platform)) ?? '') ?? (t as { executable?: string }).executable;
  if (exe && /(^|[\\/])nginx\.exe$/i.test(exe)) {
    const where = nginxLocation(paths, platform, false).args;
    await runOnce(exe, [...where, '-s', 'quit'], { timeoutMs, cwd: paths.nginxPrefix });
  }
  return 'sent';
}

/**
 * nginx gets a graceful quit, MLflow TERM to its whole tree; both in parallel, each followed by
 * KILL after the grace period. Only processes that are verified to be this stack's are touched.
 */
export async function stopStack(
  targets: readonly StopTarget[],
  paths: StatePaths,
  platform: Platform,
  graceMs = GRACE_MS,
): Promise<Stopped[]> {
  return Promise.all(
    targets.map(async (t): Promise<Stopped> => {
      const name = t.name as Stopped['name'];
      const owner = await ownership(t, platform);
      // Windows where nothing of the process can be read (no PowerShell, an empty tasklist: Wine):
      // the graceful `nginx.exe -s quit` with this folder's -p/-c is still safe, since it reaches
      // only the nginx master named in this folder's pid file; nothing is killed on such a guess.
      if (owner === 'unverified' && name === 'nginx' && platform.isWindows) {
        await quitNginx(t, paths, platform, graceMs);
        const gone = await waitUntilGone(t, Math.min(graceMs, 2_000), platform);
        return { name, pid: t.pid, result: gone ? 'stopped' : 'unverified' };
      }
      if (owner !== 'ours') return { name, pid: t.pid, result: owner };
      // A master killed by hand leaves workers that no quit reaches: straight to the group stop.
      if (name === 'nginx' && (await isLive(t.pid, platform))) {
        if ((await quitNginx(t, paths, platform, graceMs)) === 'denied') return { name, pid: t.pid, result: 'denied' };
        if (await waitUntilGone(t, Math.min(graceMs, 2_000), platform)) return { name, pid: t.pid, result: 'stopped' };
        return { name, pid: t.pid, result: await stopTree(t, { platform, graceMs: 1_000, verify: false }) };
      }
      return { name, pid: t.pid, result: await stopTree(t, { platform, graceMs, verify: false }) };
    }),
  );
}

/**
 * What a stopped stack leaves that must not outlive it: the record, nginx's pid file (left by a
 * KILL), MLflow's socket (uvicorn does not remove it; a stale one makes the next bind fail), with
 * gunicorn's socket and `up`'s link to it (MLflow < 3.3; the port in its name may be any), and
 * `down`'s stop request, last (a foreground `up` reads "record gone" as that request too).
 * rm removes a symlink itself, never its target.
 */
export async function removeStackFiles(paths: StatePaths): Promise<void> {
  await removeRecord(paths.record);
  // Only what we would have made: a planted folder or device of the same name stays (and the
  // next `up` refuses it with one line).
  await removeIf(paths.nginxPid, (s) => s.isFile());
  await removeIf(paths.mlflowSocket, (s) => s.isSocket() || s.isSymbolicLink());
  for (const name of await fs.readdir(paths.stateDir).catch(() => []))
    if (GUNICORN_SOCKET_NAME.test(name)) await removeIf(path.join(paths.stateDir, name), (s) => s.isSocket());
  await removeIf(paths.stopRequest, (s) => s.isFile());
}

async function removeIf(file: string, wanted: (s: Stats) => boolean): Promise<void> {
  const stat = await fs.lstat(file).catch(() => undefined);
  if (stat && wanted(stat)) await fs.rm(file, { force: true });
}

/**
 * Whether a recorded supervisor pid is a live `mlflow-secure up` (another process than this
 * one). Only ever looked at, never signalled: the answer decides what is shown or waited for.
 */
export async function isLiveUp(pid: number | null, platform: Platform): Promise<boolean> {
  return (
    pid !== null &&
    pid !== process.pid &&
    isAlive(pid) &&
    /(^|\s)up(\s|$)/.test((await readCommandLine(pid, platform)) ?? '')
  );
}
