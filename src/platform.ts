/**
 * Every operating-system difference lives here: executable names,
 * where programs are usually installed, the password-hash schemes the platform's nginx can
 * verify, path forms nginx.conf accepts, how a process tree is found and killed.
 * Everything else asks a `Platform`, and tests build one with `getPlatform('win32')`.
 */
import os from 'node:os';
import nodePath from 'node:path';

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
