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
  /** The absolute folders of PATH (`Path` on Windows too), in order, without the quotes Windows allows. */
  pathDirs(env: NodeJS.ProcessEnv): string[];
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
  /**
   * mlflow-secure's own data folder, where `mlflow-secure setup` puts its virtual environment
   * (`<data>/venv`): `%LOCALAPPDATA%\\mlflow-secure` on Windows, else `$XDG_DATA_HOME/mlflow-secure`
   * or `~/.local/share/mlflow-secure`. Undefined when the environment names no home folder.
   */
  dataDir(env: NodeJS.ProcessEnv): string | undefined;
  /** A program inside a virtual environment: `<venv>/bin/<name>`, or `<venv>\\Scripts\\<name>.exe`. */
  venvExecutable(venv: string, name: string): string;
  /** The Python interpreters `setup` tries, in order (the `py` launcher first on Windows). */
  readonly pythonCandidates: readonly CommandSpec[];
  /** A path as nginx.conf wants it (forward slashes on Windows too). */
  toNginxPath(p: string): string;
  /**
   * POSIX: children start in their own process group, so the whole tree can be signalled
   * at once, even after its leader died (orphaned uvicorn workers keep the group id).
   * Windows has no process groups: trees are killed with `taskkill /T /F`.
   */
  readonly usesProcessGroups: boolean;
  /** The command that force-kills a tree on this platform (Windows: processes.ts, windowsTreeKill), for plans and tests. */
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
  /**
   * Where mkcert keeps its root CA (`rootCA.pem`), as mkcert's getCAROOT finds it: $CAROOT, else
   * %LocalAppData%\\mkcert, $XDG_DATA_HOME/mkcert, ~/Library/Application Support/mkcert (macOS),
   * ~/.local/share/mkcert. https://github.com/FiloSottile/mkcert/blob/master/main.go
   */
  mkcertCaRoot(env: NodeJS.ProcessEnv): string | undefined;
}

export type MlflowCandidate =
  /** `stamp`: a file that must exist too (written last by `setup`, so a half-made venv is skipped). */
  | { kind: 'file'; file: string; args: string[]; label: string; stamp?: string }
  | { kind: 'path'; name: string; args: string[]; label: string };

/** Written into the venv last, once MLflow is installed and runs: its content is the requirements it was made from. */
export const SETUP_STAMP = '.mlflow-secure-requirements';

/**
 * The data folder by each platform's convention. XDG Base Directory: a relative
 * XDG_DATA_HOME is invalid and ignored (https://specifications.freedesktop.org/basedir-spec/latest/).
 * Windows: per-user, machine-local data goes in %LOCALAPPDATA% (user-profile\\AppData\\Local).
 */
function dataDirFor(isWindows: boolean, env: NodeJS.ProcessEnv): string | undefined {
  if (isWindows) {
    const w = nodePath.win32;
    const local = env.LOCALAPPDATA && w.isAbsolute(env.LOCALAPPDATA) ? env.LOCALAPPDATA : undefined;
    const profile =
      env.USERPROFILE && w.isAbsolute(env.USERPROFILE) ? w.join(env.USERPROFILE, 'AppData', 'Local') : undefined;
    const base = local ?? profile;
    return base ? w.join(base, 'mlflow-secure') : undefined;
  }
  const p = nodePath.posix;
  if (env.XDG_DATA_HOME && p.isAbsolute(env.XDG_DATA_HOME)) return p.join(env.XDG_DATA_HOME, 'mlflow-secure');
  return env.HOME && p.isAbsolute(env.HOME) ? p.join(env.HOME, '.local', 'share', 'mlflow-secure') : undefined;
}

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
  'nginx.exe cannot verify bcrypt: on Windows its crypt() fallback compares the typed password with the stored string, so a bcrypt line never matches the real password (and the hash itself would log in). Use --hash apr1 (the default here)';
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
  const exeName = (base: string) => (isWindows && !/\.(exe|cmd|bat|com)$/i.test(base) ? `${base}.exe` : base);
  const venvExecutable = (venv: string, base: string) => path.join(venv, isWindows ? 'Scripts' : 'bin', exeName(base));
  return {
    name,
    isWindows,
    path,
    exeName,
    // Only absolute folders: a relative entry (`.`, `bin`) means wherever the command runs,
    // which may be a stranger's cloned repository.
    pathDirs: (env) =>
      (env.PATH ?? env.Path ?? '')
        .split(isWindows ? ';' : ':')
        .map((dir) => dir.replace(/^"(.*)"$/, '$1'))
        .filter((dir) => dir !== '' && path.isAbsolute(dir)),
    executableExtensions: (env) =>
      isWindows
        ? (env.PATHEXT ?? '.COM;.EXE;.BAT;.CMD')
            .split(';')
            .filter(Boolean)
            .map((e) => e.toLowerCase())
        : [''],
    hashSchemes: bcryptOk ? ['bcrypt', 'apr1'] : ['apr1'],
    hashRefusal: (scheme) =>
      scheme === 'bcrypt' && !bcryptOk ? (isWindows ? windowsRefusal : darwinRefusal) : undefined,
    nginxSearchDirs: (env) =>
      isWindows ? windowsNginxDirs(env) : (posixNginxDirs[name] ?? posixNginxDirs.linux ?? []),
    mlflowCandidates({ cwd, packageRoot, env }) {
      // The project's own ./.venv wins (a folder that pins its MLflow means it), then the
      // developer checkout's .venv, then what `mlflow-secure setup` installed: the tested pin,
      // put there for this program alone. An activated venv or conda env comes after it: it is
      // often active for other work, with another MLflow; --mlflow "$VIRTUAL_ENV" picks it.
      const data = dataDirFor(isWindows, env);
      const venvs: [string, string, string?][] = [
        [path.join(cwd, '.venv'), './.venv'],
        [path.join(packageRoot, '.venv'), "mlflow-secure's own .venv"],
      ];
      if (data)
        venvs.push([path.join(data, 'venv'), 'installed by mlflow-secure setup', path.join(data, 'venv', SETUP_STAMP)]);
      if (env.VIRTUAL_ENV) venvs.push([env.VIRTUAL_ENV, 'the active virtual environment ($VIRTUAL_ENV)']);
      if (env.CONDA_PREFIX) venvs.push([env.CONDA_PREFIX, 'the active conda environment ($CONDA_PREFIX)']);
      const seen = new Set<string>();
      const list: MlflowCandidate[] = [];
      for (const [dir, label, stamp] of venvs) {
        const file = venvExecutable(dir, 'mlflow');
        if (seen.has(file)) continue;
        seen.add(file);
        list.push(stamp ? { kind: 'file', file, args: [], label, stamp } : { kind: 'file', file, args: [], label });
      }
      list.push({ kind: 'path', name: 'mlflow', args: [], label: 'PATH' });
      if (isWindows) {
        list.push({ kind: 'path', name: 'py', args: ['-m', 'mlflow'], label: 'py -m mlflow' });
        list.push({ kind: 'path', name: 'python', args: ['-m', 'mlflow'], label: 'python -m mlflow' });
      }
      return list;
    },
    dataDir: (env) => dataDirFor(isWindows, env),
    venvExecutable,
    // Windows: the py launcher picks the newest installed Python 3; `python` there may be the
    // Microsoft Store alias, which runs nothing (https://docs.python.org/3/using/windows.html).
    pythonCandidates: isWindows
      ? [
          { file: 'py', args: ['-3'] },
          { file: 'python', args: [] },
        ]
      : [
          { file: 'python3', args: [] },
          { file: 'python', args: [] },
        ],
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
      if (isWindows)
        return env.USERPROFILE || (env.HOMEPATH ? path.join(env.HOMEDRIVE ?? '', env.HOMEPATH) : undefined);
      return env.HOME || accountHome();
    },
    mkcertCaRoot(env) {
      if (env.CAROOT) return env.CAROOT;
      if (isWindows) return env.LOCALAPPDATA ? path.join(env.LOCALAPPDATA, 'mkcert') : undefined;
      if (env.XDG_DATA_HOME) return path.join(env.XDG_DATA_HOME, 'mkcert');
      if (!env.HOME) return undefined;
      return name === 'darwin'
        ? path.join(env.HOME, 'Library', 'Application Support', 'mkcert')
        : path.join(env.HOME, '.local', 'share', 'mkcert');
    },
  };
}
