/** Finding the two programs the stack runs, nginx and MLflow, and asking their versions. */
import { promises as fs, constants } from 'node:fs';
import { fileURLToPath } from 'node:url';
import nodePath from 'node:path';
import { UserError } from '../errors.js';
import { runOnce } from './run-once.js';
import { withEmptyDir } from '../mlflow/python-cwd.js';
import type { CommandSpec, Platform } from './platform.js';

/** The folder holding package.json (this file is src/system/tools.ts or dist/system/tools.js). */
export const packageRoot = nodePath.resolve(nodePath.dirname(fileURLToPath(import.meta.url)), '..', '..');

export type IsExecutable = (file: string) => Promise<boolean>;

/** A file this platform can run: on POSIX its execute bit must be set; Windows has none (PATHEXT decides). */
export function executableTest(platform: Platform): IsExecutable {
  return async (file) => {
    try {
      const stat = await fs.stat(file);
      if (!stat.isFile()) return false;
      if (!platform.isWindows) await fs.access(file, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
}

const isFile: IsExecutable = (file) =>
  fs.stat(file).then(
    (s) => s.isFile(),
    () => false,
  );

/**
 * Looks a bare name up on PATH the way the platform's shell would (PATHEXT on Windows).
 * Hand-written rather than the `which` package because it takes the platform as a value, so
 * the Windows branch runs in tests on Linux.
 */
export async function findOnPath(
  name: string,
  env: NodeJS.ProcessEnv,
  platform: Platform,
  isExecutable = executableTest(platform),
): Promise<string | undefined> {
  const dirs = platform.pathDirs(env);
  const hasExt = platform.isWindows && /\.[^\\/.]+$/.test(name);
  const exts = hasExt ? [''] : platform.executableExtensions(env);
  for (const dir of dirs) {
    for (const ext of exts) {
      const candidate = platform.path.join(dir, name + ext);
      if (await isExecutable(candidate)) return candidate;
    }
  }
  return undefined;
}

/**
 * git by its full path from PATH, never by a bare name: Windows would run a `git.exe` in the
 * folder git is run in first (windows-programs.ts), and that folder is the user's project.
 */
export function findGit(env: NodeJS.ProcessEnv, platform: Platform): Promise<string | undefined> {
  return findOnPath(platform.isWindows ? 'git.exe' : 'git', env, platform);
}

export interface Lookup<T> {
  found?: T;
  /** Where it looked, in order, for `doctor` and error messages. */
  searched: string[];
}

export type ListDir = (dir: string) => Promise<string[]>;

const listDirOrNothing: ListDir = (dir) => fs.readdir(dir).catch(() => []);

/** `1.27.10` sorts after `1.27.9`: compare the numbers in folder names as numbers. */
function byVersionDescending(a: string, b: string): number {
  return b.localeCompare(a, 'en', { numeric: true });
}

/** A search folder, or every versioned folder when its last segment ends in `*`. */
async function expandSearchDir(dir: string, platform: Platform, listDir: ListDir): Promise<string[]> {
  const base = platform.path.basename(dir);
  if (!base.endsWith('*')) return [dir];
  const parent = platform.path.dirname(dir);
  const prefix = base.slice(0, -1).toLowerCase();
  const names = (await listDir(parent)).filter((n) => n.toLowerCase().startsWith(prefix)).sort(byVersionDescending);
  return names.map((n) => platform.path.join(parent, n));
}

export async function lookupNginx(o: {
  flag?: string;
  env: NodeJS.ProcessEnv;
  platform: Platform;
  isExecutable?: IsExecutable;
  listDir?: ListDir;
}): Promise<Lookup<string>> {
  const { env, platform } = o;
  const isExecutable = o.isExecutable ?? executableTest(platform);
  const explicit = o.flag ?? env.MLFLOW_SECURE_NGINX;
  if (explicit) {
    const where = o.flag ? '--nginx' : 'MLFLOW_SECURE_NGINX';
    return { found: (await isExecutable(explicit)) ? explicit : undefined, searched: [`${explicit} (${where})`] };
  }
  const exe = platform.exeName('nginx');
  const searched = [`${exe} on PATH`];
  const onPath = await findOnPath(exe, env, platform, isExecutable);
  if (onPath) return { found: onPath, searched };
  for (const pattern of platform.nginxSearchDirs(env)) {
    const dirs = await expandSearchDir(pattern, platform, o.listDir ?? listDirOrNothing);
    if (dirs.length === 0) searched.push(platform.path.join(pattern, exe));
    for (const dir of dirs) {
      const candidate = platform.path.join(dir, exe);
      searched.push(candidate);
      if (await isExecutable(candidate)) return { found: candidate, searched };
    }
  }
  return { searched };
}

export async function lookupMlflow(o: {
  flag?: string;
  env: NodeJS.ProcessEnv;
  cwd: string;
  platform: Platform;
  isExecutable?: IsExecutable;
  /** Whether a plain file exists (a candidate's stamp). */
  isFile?: IsExecutable;
  root?: string;
}): Promise<Lookup<CommandSpec>> {
  const { env, platform, cwd } = o;
  const isExecutable = o.isExecutable ?? executableTest(platform);
  const explicit = o.flag ?? env.MLFLOW_SECURE_MLFLOW;
  if (explicit) {
    const where = o.flag ? '--mlflow' : 'MLFLOW_SECURE_MLFLOW';
    // A virtual environment's folder is accepted as well as the executable itself.
    const inVenv = platform.venvExecutable(explicit, 'mlflow');
    for (const file of [explicit, inVenv])
      if (await isExecutable(file)) return { found: { file, args: [] }, searched: [`${explicit} (${where})`] };
    return { searched: [`${explicit} (${where})`] };
  }
  const searched: string[] = [];
  for (const c of platform.mlflowCandidates({ cwd, packageRoot: o.root ?? packageRoot, env })) {
    if (c.kind === 'file') {
      if (!(await isExecutable(c.file))) {
        searched.push(`${c.file} (${c.label})`);
      } else if (c.stamp && !(await (o.isFile ?? isFile)(c.stamp))) {
        // Interrupted or failed half-way: mlflow may be there without what it needs.
        searched.push(`${c.file} (${c.label}; unfinished, run mlflow-secure setup again)`);
      } else {
        searched.push(`${c.file} (${c.label})`);
        return { found: { file: c.file, args: c.args }, searched };
      }
    } else {
      searched.push(c.label === 'PATH' ? `${platform.exeName(c.name)} on PATH` : c.label);
      // A bare name: on Windows PATHEXT decides (.exe, and also .cmd/.bat shims).
      const file = await findOnPath(c.name, env, platform, isExecutable);
      if (file) return { found: { file, args: c.args }, searched };
    }
  }
  return { searched };
}

export const NGINX_INSTALL_HINT: Record<string, string> = {
  linux:
    'Install it (Debian/Ubuntu: sudo apt-get install nginx-light; Fedora: sudo dnf install nginx), or pass --nginx <path>',
  darwin: 'Install it (brew install nginx), or pass --nginx <path>',
  win32: 'Unzip nginx for Windows (nginx.org/en/download.html) to C:\\nginx, or pass --nginx C:\\path\\to\\nginx.exe',
};

/** What to do when MLflow is missing: `setup` installs the tested pin into mlflow-secure's data folder. */
export const MLFLOW_INSTALL_HINT =
  "Run mlflow-secure setup (installs the tested MLflow into mlflow-secure's data folder), or pass --mlflow <path>";

export function requireFound<T>(lookup: Lookup<T>, what: 'nginx' | 'MLflow', platform: Platform): T {
  if (lookup.found !== undefined) return lookup.found;
  const hint =
    what === 'nginx' ? (NGINX_INSTALL_HINT[platform.name] ?? NGINX_INSTALL_HINT.linux!) : MLFLOW_INSTALL_HINT;
  throw new UserError(`${what} not found (looked at: ${lookup.searched.join(', ')})`, { hint });
}

export function parseNginxVersion(stderr: string): [number, number, number] | undefined {
  const m = /(?:nginx|openresty)\/(\d+)\.(\d+)\.(\d+)/.exec(stderr);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

export async function nginxVersion(nginx: string): Promise<[number, number, number]> {
  const result = await runOnce(nginx, ['-v'], { timeoutMs: 15_000 });
  const version = parseNginxVersion(`${result.stderr}\n${result.stdout}`);
  if (!version)
    throw new UserError(`${nginx} does not look like nginx ('-v' printed no version)`, {
      hint: 'Pass the real nginx with --nginx <path>',
    });
  return version;
}

export async function mlflowVersion(mlflow: CommandSpec): Promise<string> {
  // `py -m mlflow` would import from the working folder: never the user's (python-cwd.ts).
  const result = await withEmptyDir((cwd) =>
    runOnce(mlflow.file, [...mlflow.args, '--version'], { timeoutMs: 60_000, cwd }),
  );
  const m = /version\s+(\S+)/.exec(result.stdout);
  if (result.exitCode !== 0 || !m) {
    const why = result.stderr.split('\n').filter(Boolean).slice(-1)[0] ?? 'no version printed';
    throw new UserError(`${mlflow.file} does not run as MLflow (${why})`, {
      hint: 'Reinstall it (mlflow-secure setup --force), or pass --mlflow <path>',
    });
  }
  return m[1]!;
}
