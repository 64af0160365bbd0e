/**
 * Every operating-system difference lives here (STYLE.md, practice 3): executable names,
 * where programs are usually installed, the password-hash schemes the platform's nginx can
 * verify, path forms nginx.conf accepts, how a process tree is found and killed.
 * Everything else asks a `Platform`, and tests build one with `getPlatform('win32')`.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import nodePath from 'node:path';

/** execa, loaded on first use: main.ts imports this module, and `--version` should not pay for it. */
const loadExeca = async () => (await import('execa')).execa;

export type HashScheme = 'bcrypt' | 'apr1';

export interface CommandSpec {
  file: string;
  args: string[];
}

export interface Platform {
  readonly name: NodeJS.Platform;
  readonly isWindows: boolean;
  readonly path: nodePath.PlatformPath;
  /** `nginx` -> `nginx.exe` on Windows. */
  exeName(base: string): string;
  /** Extensions tried when looking a bare name up on PATH (PATHEXT on Windows). */
  executableExtensions(env: NodeJS.ProcessEnv): string[];
  /** Hash schemes this platform's nginx verifies, the default first. */
  readonly hashSchemes: readonly HashScheme[];
  /** Why a scheme is refused here, or undefined when nginx on this platform verifies it. */
  hashRefusal(scheme: HashScheme): string | undefined;
  /**
   * Folders where nginx is usually installed, searched after PATH. A last segment ending in
   * `*` (e.g. `C:\\tools\\nginx-*`) stands for every versioned folder there, newest first.
   */
  nginxSearchDirs(env: NodeJS.ProcessEnv): string[];
  /** Places MLflow is looked for, in order, after --mlflow and MLFLOW_SECURE_MLFLOW. */
  mlflowCandidates(where: { cwd: string; packageRoot: string; env: NodeJS.ProcessEnv }): MlflowCandidate[];
  /** A path as nginx.conf wants it (forward slashes on Windows too). */
  toNginxPath(p: string): string;
  /**
   * POSIX: children start in their own process group, so the whole tree can be signalled
   * at once, even after its leader died (orphaned uvicorn workers keep the group id).
   * Windows has no process groups: trees are killed with `taskkill /T /F`.
   */
  readonly usesProcessGroups: boolean;
  /** The command tree-kill runs on this platform to force-kill a tree (Windows), for plans and tests. */
  treeKillCommand(pid: number): CommandSpec | undefined;
  /** The environment children get. */
  childEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
  /**
   * nginx's `user` directive: when the master runs as root its workers would switch to
   * `nobody`, who cannot read an owner-only password file nor write the private temp folders,
   * so they keep the current user. Windows and non-root POSIX: none.
   */
  nginxUserDirective(who: { uid: number; username: string; groupName?: string }): string | undefined;
  /**
   * The home folder as Python's `os.path.expanduser('~')` finds it (MLflow's client reads
   * `~/.mlflow/credentials` through it): POSIX `$HOME`, else the account's entry; Windows
   * `%USERPROFILE%`, else `%HOMEDRIVE%%HOMEPATH%`. https://docs.python.org/3/library/os.path.html#os.path.expanduser
   */
  homeDir(env: NodeJS.ProcessEnv): string | undefined;
}

export type MlflowCandidate =
  | { kind: 'file'; file: string; args: string[]; label: string }
  | { kind: 'path'; name: string; args: string[]; label: string };

const posixNginxDirs: Partial<Record<NodeJS.Platform, string[]>> = {
  linux: ['/usr/sbin', '/usr/local/sbin', '/usr/local/nginx/sbin', '/usr/local/bin', '/opt/nginx/sbin', '/snap/bin'],
  darwin: ['/opt/homebrew/bin', '/usr/local/bin', '/opt/local/sbin', '/opt/local/bin', '/usr/local/nginx/sbin'],
};

function windowsNginxDirs(env: NodeJS.ProcessEnv): string[] {
  const w = nodePath.win32;
  const programFiles = env.ProgramFiles ?? 'C:\\Program Files';
  const userProfile = env.USERPROFILE;
  const tools = env.ChocolateyToolsLocation ?? 'C:\\tools';
  const scoop = env.SCOOP ?? (userProfile ? w.join(userProfile, 'scoop') : undefined);
  const dirs = [
    // The zip from nginx.org, unpacked where its docs suggest or where a person unzips it.
    'C:\\nginx',
    'C:\\nginx-*',
    userProfile ? w.join(userProfile, 'nginx') : undefined,
    userProfile ? w.join(userProfile, 'nginx-*') : undefined,
    userProfile ? w.join(userProfile, 'Downloads', 'nginx-*') : undefined,
    w.join(programFiles, 'nginx'),
    env['ProgramFiles(x86)'] ? w.join(env['ProgramFiles(x86)'], 'nginx') : undefined,
    // Chocolatey's nginx package: <tools location>\nginx-<version> (C:\tools by default;
    // /installLocation can move it), plus its shims folder.
    w.join(tools, 'nginx'),
    w.join(tools, 'nginx-*'),
    env.ChocolateyInstall ? w.join(env.ChocolateyInstall, 'bin') : 'C:\\ProgramData\\chocolatey\\bin',
    // Scoop: the app's "current" folder and the shims folder, per user and global.
    scoop ? w.join(scoop, 'apps', 'nginx', 'current') : undefined,
    scoop ? w.join(scoop, 'shims') : undefined,
    w.join(env.SCOOP_GLOBAL ?? 'C:\\ProgramData\\scoop', 'apps', 'nginx', 'current'),
  ];
  return dirs.filter((d): d is string => d !== undefined);
}

const windowsRefusal =
  "nginx.exe cannot verify bcrypt: on Windows its crypt() fallback compares the typed password with the stored string, so a bcrypt line never matches the real password (and the hash itself would log in). Use --hash apr1 (the default here)";
const darwinRefusal =
  "macOS's crypt() has no bcrypt, so nginx there cannot verify bcrypt lines. Use --hash apr1 (the default here)";

/** The home folder in the account database (passwd), or undefined when there is no entry. */
function accountHome(): string | undefined {
  try {
    return os.userInfo().homedir || undefined;
  } catch {
    return undefined;
  }
}

export function getPlatform(name: NodeJS.Platform = process.platform): Platform {
  const isWindows = name === 'win32';
  const path = isWindows ? nodePath.win32 : nodePath.posix;
  const bcryptOk = !isWindows && name !== 'darwin';
  return {
    name,
    isWindows,
    path,
    exeName: (base) => (isWindows && !/\.(exe|cmd|bat|com)$/i.test(base) ? `${base}.exe` : base),
    executableExtensions: (env) =>
      isWindows ? (env.PATHEXT ?? '.COM;.EXE;.BAT;.CMD').split(';').filter(Boolean).map((e) => e.toLowerCase()) : [''],
    hashSchemes: bcryptOk ? ['bcrypt', 'apr1'] : ['apr1'],
    hashRefusal: (scheme) => (scheme === 'bcrypt' && !bcryptOk ? (isWindows ? windowsRefusal : darwinRefusal) : undefined),
    nginxSearchDirs: (env) => (isWindows ? windowsNginxDirs(env) : (posixNginxDirs[name] ?? posixNginxDirs.linux ?? [])),
    mlflowCandidates({ cwd, packageRoot, env }) {
      const bin = isWindows ? 'Scripts' : 'bin';
      const exe = isWindows ? 'mlflow.exe' : 'mlflow';
      const venvs: [string, string][] = [
        [path.join(cwd, '.venv'), './.venv'],
        [path.join(packageRoot, '.venv'), "mlflow-secure's own .venv"],
      ];
      if (env.VIRTUAL_ENV) venvs.push([env.VIRTUAL_ENV, 'the active virtual environment ($VIRTUAL_ENV)']);
      if (env.CONDA_PREFIX) venvs.push([env.CONDA_PREFIX, 'the active conda environment ($CONDA_PREFIX)']);
      const seen = new Set<string>();
      const list: MlflowCandidate[] = [];
      for (const [dir, label] of venvs) {
        const file = path.join(dir, bin, exe);
        if (seen.has(file)) continue;
        seen.add(file);
        list.push({ kind: 'file', file, args: [], label });
      }
      list.push({ kind: 'path', name: 'mlflow', args: [], label: 'PATH' });
      if (isWindows) {
        list.push({ kind: 'path', name: 'py', args: ['-m', 'mlflow'], label: 'py -m mlflow' });
        list.push({ kind: 'path', name: 'python', args: ['-m', 'mlflow'], label: 'python -m mlflow' });
      }
      return list;
    },
    toNginxPath: (p) => (isWindows ? p.replace(/\\/g, '/') : p),
    usesProcessGroups: !isWindows,
    treeKillCommand: (pid) => (isWindows ? { file: 'taskkill', args: ['/pid', String(pid), '/T', '/F'] } : undefined),
    childEnv(env) {
      const out = { ...env };
      // An inherited ngx_unique makes nginx.exe start as a worker process, not a master.
      if (isWindows) for (const key of Object.keys(out)) if (key.toLowerCase() === 'ngx_unique') delete out[key];
      return out;
    },
    nginxUserDirective: ({ uid, username, groupName }) =>
      !isWindows && uid === 0 ? `user ${username}${groupName ? ` ${groupName}` : ''};` : undefined,
    homeDir(env) {
      if (isWindows) return env.USERPROFILE || (env.HOMEPATH ? path.join(env.HOMEDRIVE ?? '', env.HOMEPATH) : undefined);
      return env.HOME || accountHome();
    },
  };
}

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
  try {
    const execa = await loadExeca();
    const r = await execa('tasklist', ['/FI', `PID eq ${pid}`, '/FO', 'CSV', '/NH'], { reject: false, timeout: 15_000, windowsHide: true });
    return { image: r.exitCode === 0 ? parseTasklistImage(r.stdout, pid) : undefined };
  } catch {
    return {};
  }
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
      const r = await (await loadExeca())('powershell.exe', ['-NoProfile', '-NonInteractive', '-Command', query], { reject: false, timeout: 15_000, windowsHide: true });
      return r.exitCode === 0 && r.stdout.trim() !== '' ? r.stdout.trim() : undefined;
    }
    const r = await (await loadExeca())('ps', ['-o', 'command=', '-p', String(pid)], { reject: false, timeout: 10_000 });
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
export async function groupMemberDetails(pgid: number, platform: Platform = getPlatform()): Promise<GroupMember[] | undefined> {
  if (!platform.usesProcessGroups) return undefined;
  if (platform.name === 'linux') {
    const members = (await liveGroupMembers(pgid, platform)) ?? [];
    return Promise.all(members.map(async (pid) => ({ pid, command: (await readCommandLine(pid, platform)) ?? '', environ: await readEnviron(pid, platform) })));
  }
  const r = await (await loadExeca())('ps', ['-A', '-o', 'pid=,pgid=,stat=,command='], { reject: false, timeout: 10_000 });
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
export async function liveGroupMembers(pgid: number, platform: Platform = getPlatform()): Promise<number[] | undefined> {
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
  const r = await (await loadExeca())('ps', ['-A', '-o', 'pid=,pgid=,stat='], { reject: false, timeout: 10_000 });
  if (r.exitCode !== 0) return undefined;
  return r.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => Number(f[1]) === pgid && !(f[2] ?? '').startsWith('Z'))
    .map((f) => Number(f[0]));
}
