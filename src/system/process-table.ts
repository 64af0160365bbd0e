/**
 * Reading the process table: a process's command line, environment, state and group, by
 * /proc on Linux, `ps` on other POSIX systems, PowerShell and `tasklist` on Windows. Used to
 * check that a recorded pid still is our process before anything is sent to it.
 */
import { promises as fs } from 'node:fs';
import { getPlatform, type Platform } from './platform.js';
import { runOnce } from './run-once.js';
import { windowsProgram } from './windows-programs.js';

/** What can be read of a running process to tell whether a recorded pid is still ours. */
export interface ProcessIdentity {
  commandLine?: string;
  /** The executable's file name (Windows fallback when the command line cannot be read). */
  image?: string;
}

/** `tasklist /FO CSV /NH` output -> the image name of that pid, e.g. "nginx.exe". */
export function parseTasklistImage(csv: string, pid: number): string | undefined {
  for (const line of csv.split(/\r?\n/)) {
    const cells = [...line.matchAll(/"([^"]*)"/g)].map((m) => m[1]);
    if (cells.length >= 2 && Number(cells[1]) === pid) return cells[0];
  }
  return undefined;
}

/**
 * The command line of a running process and, on Windows, its image name when the command
 * line cannot be read (PowerShell blocked by policy, or too slow). Used to check that a
 * recorded pid still is our process before signalling it (pids get reused).
 */
export async function readProcessIdentity(pid: number, platform: Platform = getPlatform()): Promise<ProcessIdentity> {
  const commandLine = await readCommandLine(pid, platform);
  if (commandLine !== undefined || !platform.isWindows) return { commandLine };
  const r = await runOnce(windowsProgram('tasklist', process.env), ['/FI', `PID eq ${pid}`, '/FO', 'CSV', '/NH'], {
    timeoutMs: 15_000,
  });
  return { image: r.exitCode === 0 ? parseTasklistImage(r.stdout, pid) : undefined };
}

/** The command line of a running process, or undefined when it cannot be read. */
export async function readCommandLine(pid: number, platform: Platform = getPlatform()): Promise<string | undefined> {
  try {
    if (platform.name === 'linux') {
      const raw = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8');
      return raw.split('\0').join(' ').trim();
    }
    if (platform.isWindows) {
      const query = `(Get-CimInstance Win32_Process -Filter "ProcessId=${pid}").CommandLine`;
      const r = await runOnce(
        windowsProgram('powershell', process.env),
        ['-NoProfile', '-NonInteractive', '-Command', query],
        {
          timeoutMs: 15_000,
        },
      );
      return r.exitCode === 0 && r.stdout.trim() !== '' ? r.stdout.trim() : undefined;
    }
    const r = await runOnce('ps', ['-o', 'command=', '-p', String(pid)], { timeoutMs: 10_000 });
    return r.exitCode === 0 && r.stdout.trim() !== '' ? r.stdout.trim() : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Linux: a process's state and group from /proc/<pid>/stat, or undefined once it is gone.
 * `alive` is false for a zombie (exited, not yet reaped) or a dead entry.
 */
export async function readProcStat(pid: number): Promise<{ alive: boolean; pgrp: number } | undefined> {
  try {
    const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
    // pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses, so split after the last ')'.
    const [state = '', , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { alive: state !== 'Z' && state !== 'X', pgrp: Number(pgrp) };
  } catch {
    return undefined;
  }
}

/**
 * Linux: the environment a process was started with (`NAME=value` entries), or undefined when
 * it cannot be read (gone, another user's process, or not Linux).
 */
export async function readEnviron(pid: number, platform: Platform = getPlatform()): Promise<string[] | undefined> {
  if (platform.name !== 'linux') return undefined;
  try {
    return (await fs.readFile(`/proc/${pid}/environ`, 'utf8')).split('\0');
  } catch {
    return undefined;
  }
}

export interface GroupMember {
  pid: number;
  /** Its command line, '' when it cannot be read. */
  command: string;
  /** Linux: its environment, when readable. */
  environ?: string[];
}

/**
 * Live members of a POSIX process group with what can be read of each: enough to tell whether
 * a group whose leader is gone still is ours (orphaned MLflow workers, nginx workers).
 */
export async function groupMemberDetails(
  pgid: number,
  platform: Platform = getPlatform(),
): Promise<GroupMember[] | undefined> {
  if (!platform.usesProcessGroups) return undefined;
  if (platform.name === 'linux') {
    const members = (await liveGroupMembers(pgid, platform)) ?? [];
    return Promise.all(
      members.map(async (pid) => ({
        pid,
        command: (await readCommandLine(pid, platform)) ?? '',
        environ: await readEnviron(pid, platform),
      })),
    );
  }
  const r = await runOnce('ps', ['-A', '-o', 'pid=,pgid=,stat=,command='], { timeoutMs: 10_000 });
  if (r.exitCode !== 0) return undefined;
  return r.stdout
    .split('\n')
    .map((l) => /^\s*(\d+)\s+(\d+)\s+(\S+)\s*(.*)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null && Number(m[2]) === pgid && !m[3]!.startsWith('Z'))
    .map((m) => ({ pid: Number(m[1]), command: m[4] ?? '' }));
}

/**
 * Live (non-zombie) members of a POSIX process group, or undefined where groups don't apply.
 * A zombie has exited and holds no port, but `kill(pid, 0)` still finds it until its parent
 * (often PID 1 after `up -d` returned) reaps it, so signal-0 alone would wait on the dead.
 */
export async function liveGroupMembers(
  pgid: number,
  platform: Platform = getPlatform(),
): Promise<number[] | undefined> {
  if (!platform.usesProcessGroups) return undefined;
  if (platform.name === 'linux') {
    const members: number[] = [];
    for (const entry of await fs.readdir('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const stat = await readProcStat(Number(entry));
      if (stat?.pgrp === pgid && stat.alive) members.push(Number(entry));
    }
    return members;
  }
  const r = await runOnce('ps', ['-A', '-o', 'pid=,pgid=,stat='], { timeoutMs: 10_000 });
  if (r.exitCode !== 0) return undefined;
  return r.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => Number(f[1]) === pgid && !(f[2] ?? '').startsWith('Z'))
    .map((f) => Number(f[0]));
}

/** What a running process was started as: its argument vector and the executable the system ran. */
export interface ProcessImage {
  /** Linux: the argument vector, exactly (/proc/<pid>/cmdline split at its NULs). */
  argv?: string[];
  /** Windows: the command line, one string (the program splits it). */
  commandLine?: string;
  /** The executable's full path as the system knows it (Linux /proc/<pid>/exe, Windows ExecutablePath). */
  executable?: string;
  /** Linux: the process's working folder, for a relative path in its argv. */
  cwd?: string;
}

/**
 * What `restart` runs again is taken from here, never from the record: on Linux the kernel's
 * view of the process, on Windows Win32_Process (one PowerShell call), elsewhere `ps`'s line
 * split at blanks (a path with a blank in it then fails the caller's checks: refused, not guessed).
 */
export async function readProcessImage(pid: number, platform: Platform = getPlatform()): Promise<ProcessImage> {
  if (platform.name === 'linux') {
    const [argv, executable, cwd] = await Promise.all([
      fs.readFile(`/proc/${pid}/cmdline`, 'utf8').then(
        (raw) => raw.replace(/\0$/, '').split('\0'),
        () => undefined,
      ),
      // A replaced binary reads "<path> (deleted)": the path still names where it was.
      fs.readlink(`/proc/${pid}/exe`).then(
        (p) => p.replace(/ \(deleted\)$/, ''),
        () => undefined,
      ),
      fs.readlink(`/proc/${pid}/cwd`).catch(() => undefined),
    ]);
    return { argv, executable, cwd };
  }
  if (!platform.isWindows) {
    const line = await readCommandLine(pid, platform);
    return line === undefined ? {} : { argv: line.split(/\s+/) };
  }
  const query =
    `$p = Get-CimInstance Win32_Process -Filter "ProcessId=${pid}"; ` +
    `[Console]::Out.WriteLine($p.ExecutablePath); [Console]::Out.WriteLine($p.CommandLine)`;
  const r = await runOnce(
    windowsProgram('powershell', process.env),
    ['-NoProfile', '-NonInteractive', '-Command', query],
    {
      timeoutMs: 15_000,
    },
  ).catch(() => undefined);
  if (r?.exitCode !== 0) return {};
  const [executable = '', ...rest] = r.stdout.split(/\r?\n/);
  const commandLine = rest.join(' ').trim();
  return {
    ...(executable.trim() ? { executable: executable.trim() } : {}),
    ...(commandLine ? { commandLine } : {}),
  };
}
