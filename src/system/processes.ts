/**
 * Child processes, owned in one place: start into log files, watch
 * for exit, stop a whole tree. Stopping is idempotent and never throws on "already gone".
 *
 * Children write straight into log files (their own descriptor, not a pipe to us), so they keep running unharmed
 * when `up -d` returns or when a foreground `up` is killed with SIGKILL; the foreground view
 * follows those files. On POSIX every child leads its own process group: a stop signals the
 * group, which reaches MLflow's uvicorn workers even after the `mlflow` CLI itself died.
 */
import { spawn } from 'node:child_process';
import { UserError } from '../errors.js';
import { openLogForChild } from '../stack/log-files.js';
import { PASSWORD_ENV } from '../users/password.js';
import { getPlatform, type Platform } from './platform.js';
import { runOnce } from './run-once.js';
import { windowsProgram } from './windows-programs.js';
import {
  groupMemberDetails,
  liveGroupMembers,
  readEnviron,
  readProcStat,
  readProcessIdentity,
  type GroupMember,
} from './process-table.js';

export interface ExitInfo {
  name: string;
  code: number | undefined;
  signal: string | undefined;
}

export interface StartedProcess {
  name: string;
  pid: number;
  group: boolean;
  /** Settles (never rejects) when the process exits. */
  exited: Promise<ExitInfo>;
  /** Lets this Node process exit while the child keeps running (up --detach). */
  detach(): void;
}

export interface StartOptions {
  name: string;
  file: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  logFile: string;
  platform: Platform;
}

export async function startProcess(o: StartOptions): Promise<StartedProcess> {
  const { execa } = await import('execa');
  const env = { ...o.platform.childEnv(process.env), ...o.env };
  // The stack never needs the password: keep it out of the children's environment.
  delete env[PASSWORD_ENV];
  // The child gets the log file's own descriptor as stdout and stderr (execa's `{ file }` would
  // pipe through us, and the log would stop when `up -d` exits). Ours is closed once it runs.
  const log = await openLogForChild(o.logFile, o.platform.isWindows);
  // execa's types name only descriptors 1-9, but it hands any integer to child_process.spawn
  // unchanged (execa lib/stdio/type.js: 'native'); Node passes it to the child on every OS.
  const fd = log.fd as 3;
  const spawn = () =>
    execa(o.file, o.args, {
      cwd: o.cwd,
      env,
      extendEnv: false,
      stdin: 'ignore',
      stdout: fd,
      stderr: fd,
      // Own process group on POSIX; on Windows a console of its own, so Ctrl+C reaches only us
      // and we stop the children in order.
      detached: true,
      windowsHide: true,
      cleanup: false,
      reject: false,
    });
  let subprocess: ReturnType<typeof spawn>;
  try {
    subprocess = spawn();
  } finally {
    await log.close();
  }
  // The 'exit' event, not execa's promise: the promise also waits for the child's output to
  // close, which orphaned grandchildren (uvicorn workers after `kill -9 mlflow`) keep open.
  const exited = new Promise<ExitInfo>((resolve) => {
    subprocess.once('exit', (code, signal) =>
      resolve({ name: o.name, code: code ?? undefined, signal: signal ?? undefined }),
    );
    subprocess.once('error', () => resolve({ name: o.name, code: undefined, signal: undefined }));
  });
  subprocess.catch(() => undefined);
  if (subprocess.pid === undefined) {
    const result = await subprocess;
    const code = (result as { code?: string }).code ?? 'error';
    throw new UserError(`cannot start ${o.name} (${o.file}): ${code}`, {
      hint: `Check the path, or pass --${o.name} <path>`,
    });
  }
  const child = subprocess;
  return {
    name: o.name,
    pid: subprocess.pid,
    group: o.platform.usesProcessGroups,
    exited,
    detach() {
      child.unref();
    },
  };
}

/**
 * Starts a helper that outlives us (the log keeper of a detached stack): no stdio, no console
 * window, a process group of its own, no password in its environment. Returns its pid, or
 * undefined when it could not be started; never throws.
 */
export function startBackground(
  file: string,
  args: readonly string[],
  o: { cwd: string; platform: Platform },
): number | undefined {
  const env = o.platform.childEnv(process.env);
  delete env[PASSWORD_ENV];
  try {
    const child = spawn(file, args, { cwd: o.cwd, env, stdio: 'ignore', detached: true, windowsHide: true });
    child.on('error', () => undefined);
    child.unref();
    return child.pid;
  } catch {
    return undefined;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Anything left of a process, or of its group when it leads one (zombies don't count). */
export async function isRunning(
  target: { pid: number; group: boolean },
  platform: Platform = getPlatform(),
): Promise<boolean> {
  if (target.group) {
    const members = await liveGroupMembers(target.pid, platform);
    if (members !== undefined) return members.length > 0;
  }
  return isAlive(target.pid) || (target.group && isAlive(-target.pid));
}

/** Sends a signal to a process (and its group); 'denied' when it belongs to another user (EPERM). */
function signal(target: { pid: number; group: boolean }, sig: NodeJS.Signals): 'sent' | 'denied' {
  let denied = false;
  let sent = false;
  for (const pid of target.group ? [-target.pid, target.pid] : [target.pid]) {
    try {
      process.kill(pid, sig);
      sent = true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EPERM') denied = true;
      // ESRCH: already gone
    }
  }
  return denied && !sent ? 'denied' : 'sent';
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function waitUntilGone(
  target: { pid: number; group: boolean },
  timeoutMs: number,
  platform?: Platform,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (await isRunning(target, platform)) {
    if (Date.now() >= deadline) return false;
    await sleep(25);
  }
  return true;
}

export interface StopTarget {
  name: string;
  pid: number;
  group: boolean;
  /**
   * Words the live process's command line must hold to count as ours, each as a whole word
   * (`--port 5001` does not match `--port 50011`; Windows may quote a path). Derived from the state folder and the
   * program, never read from the record.
   */
  identity: string[];
  /** Linux: an environment entry (`NAME=value`) the process must carry when its environment is readable. */
  marker?: string;
  /** Executable file names that count as ours when only that can be read (Windows fallback). */
  images?: string[];
  /** Whether a member of the group counts as ours, for a group whose leader is gone (orphans). */
  isMember?: (member: GroupMember) => boolean;
  /**
   * Started by this very process (up cleaning up after itself): ours even where nothing of it can
   * be read (Windows without PowerShell or tasklist output, as under Wine).
   */
  known?: boolean;
}

async function isZombie(pid: number, platform: Platform): Promise<boolean> {
  if (platform.name !== 'linux') return false;
  return !(await readProcStat(pid))?.alive;
}

/** Alive and not a zombie (a zombie has exited: it takes no signal and holds no port). */
export async function isLive(pid: number, platform: Platform): Promise<boolean> {
  return isAlive(pid) && !(await isZombie(pid, platform));
}

export type Ownership = 'ours' | 'not-ours' | 'gone' | 'unverified';
/** 'denied': ours by every sign, but the system refused the signal (another user's process). */
export type StopResult = 'stopped' | 'denied' | Exclude<Ownership, 'ours'>;

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export function commandLineMatches(commandLine: string, identity: readonly string[]): boolean {
  if (identity.length === 0) return false;
  return identity.every((part) => new RegExp(`(?:^|[\\s/\\\\"])${escapeRegExp(part)}(?:$|[\\s"])`).test(commandLine));
}

/**
 * Does the recorded pid still belong to us? Leader alive: its command line must hold the
 * identity and, where readable, its environment the marker (on Windows, when only the image
 * name can be read, that must match). Leader gone but its group alive (orphaned workers):
 * every member must look like ours. 'unverified': alive, but nothing could be read.
 */
export async function ownership(target: StopTarget, platform: Platform): Promise<Ownership> {
  if (target.group && platform.name === 'linux') {
    // Our children lead their own process groups: a live pid that does not is someone else's.
    const stat = await readProcStat(target.pid);
    if (stat?.alive && stat.pgrp !== target.pid) return 'not-ours';
  }
  if (!(await isRunning(target, platform))) return 'gone';
  if (!(await isLive(target.pid, platform))) {
    const members = await groupMemberDetails(target.pid, platform);
    if (members === undefined) return 'unverified';
    if (members.length === 0) return 'gone';
    return target.isMember && members.every(target.isMember) ? 'ours' : 'not-ours';
  }
  const seen = await readProcessIdentity(target.pid, platform);
  if (seen.commandLine !== undefined) {
    if (!commandLineMatches(seen.commandLine, target.identity)) return 'not-ours';
    if (target.marker !== undefined) {
      const environ = await readEnviron(target.pid, platform);
      if (environ !== undefined && !environ.includes(target.marker)) return 'not-ours';
    }
    return 'ours';
  }
  if (seen.image !== undefined && target.images !== undefined) {
    return target.images.some((i) => i.toLowerCase() === seen.image!.toLowerCase()) ? 'ours' : 'not-ours';
  }
  return target.known ? 'ours' : 'unverified';
}

export type TreeKill = (pid: number, signal: string, callback: (error?: Error) => void) => void;

/**
 * Windows: `taskkill /pid N /T /F` (the process and every one it started), by taskkill's full
 * path. Not the tree-kill package: it runs `taskkill` by name through cmd.exe, which looks in
 * the current folder first (windows-programs.ts), so a project shipping a taskkill.exe or
 * taskkill.bat would get it run by `down`.
 */
export const windowsTreeKill: TreeKill = (pid, _signal, callback) => {
  runOnce(windowsProgram('taskkill', process.env), ['/pid', String(pid), '/T', '/F'], { timeoutMs: 30_000 }).then(
    (r) =>
      callback(
        r.exitCode === 0 ? undefined : new Error(r.error ?? (r.stderr.trim() || `taskkill exited ${r.exitCode}`)),
      ),
    (error: Error) => callback(error),
  );
};

/**
 * Stops a process and everything it started: TERM, a grace period, then KILL.
 * POSIX: signals the process group. Windows: `taskkill /pid N /T /F` (windowsTreeKill).
 */
export async function stopTree(
  target: StopTarget,
  o: { platform: Platform; graceMs: number; verify?: boolean; treeKill?: TreeKill },
): Promise<StopResult> {
  if (o.verify !== false) {
    const owner = await ownership(target, o.platform);
    if (owner !== 'ours') return owner;
  } else if (!(await isRunning(target, o.platform))) return 'gone';

  if (o.platform.isWindows) {
    // Windows has no TERM for console programs: `taskkill /pid N /T /F`.
    const kill = o.treeKill ?? windowsTreeKill;
    await new Promise<void>((resolve) => kill(target.pid, 'SIGTERM', () => resolve()));
    await waitUntilGone(target, o.graceMs, o.platform);
    return 'stopped';
  }
  // Who is in the group before TERM: workers may be gone by the first look after it.
  const before = target.group ? await liveGroupMembers(target.pid, o.platform) : undefined;
  if (signal(target, 'SIGTERM') === 'denied') return 'denied';
  const hadWorkers = (before ?? []).some((pid) => pid !== target.pid);
  if (await waitForGroupExit(target, o.graceMs, o.platform, hadWorkers)) return 'stopped';
  signal(target, 'SIGKILL');
  await waitUntilGone(target, 5_000, o.platform);
  return 'stopped';
}

/**
 * After TERM the group's workers finish their requests and exit; once only the leader is
 * left of a group that had others, everything that held data or a port is gone. The `mlflow`
 * CLI then spends about a second in interpreter teardown (measured with MLflow 3.17) that does
 * nothing we need (it only waited for its server), so the leader alone gets LEADER_TEARDOWN_MS
 * before it is killed: 300 ms made `down` of a stack that had served load take 1.5-1.6 s (npm
 * run bench, "down, aged"). A leader that never had children gets the whole grace period.
 * Returns false when the grace period ran out.
 */
export const LEADER_TEARDOWN_MS = 50;

async function waitForGroupExit(
  target: { pid: number; group: boolean },
  graceMs: number,
  platform: Platform,
  hadWorkers: boolean,
): Promise<boolean> {
  const deadline = Date.now() + graceMs;
  let leaderAloneSince: number | undefined;
  let hadOthers = hadWorkers;
  for (;;) {
    const members = target.group ? await liveGroupMembers(target.pid, platform) : undefined;
    if (members === undefined) return waitUntilGone(target, Math.max(0, deadline - Date.now()), platform);
    if (members.length === 0) return true;
    if (members.some((pid) => pid !== target.pid)) hadOthers = true;
    if (hadOthers && members.length === 1 && members[0] === target.pid) {
      leaderAloneSince ??= Date.now();
      if (Date.now() - leaderAloneSince >= LEADER_TEARDOWN_MS) {
        signal({ pid: target.pid, group: false }, 'SIGKILL');
        return waitUntilGone(target, 2_000, platform);
      }
    } else leaderAloneSince = undefined;
    if (Date.now() >= deadline) return false;
    await sleep(25);
  }
}
