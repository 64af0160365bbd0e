/**
 * MLflow in mlflow-secure's own virtual environment (`<data folder>/venv`), pinned by the
 * package's requirements.txt. A venv cannot be built elsewhere and renamed (pip writes its
 * absolute path into every script it installs), so completion is marked instead: the stamp
 * (SETUP_STAMP) is removed first and written last, once MLflow runs, and the lookup skips a
 * venv without it. A run that fails or is interrupted leaves nothing that looks finished.
 */
import { promises as fs } from 'node:fs';
import nodePath from 'node:path';
import { UserError } from '../errors.js';
import { writeFileAtomic } from '../system/files.js';
import { writeGitignore } from '../stack/git-ignore.js';
import type { Output } from '../log.js';
import { SETUP_STAMP, type Platform } from '../system/platform.js';
import type { IsExecutable } from '../system/tools.js';
import { MIN_PYTHON, versionAtLeast, type PythonFound } from './python.js';
import { failure, type Runner } from './runner.js';
import { pythonScriptText } from '../mlflow/python-scripts.js';

export interface Pin {
  /** requirements.txt, as shipped in the package. */
  file: string;
  text: string;
  /** The MLflow version it pins. */
  version: string;
}

/** `mlflow==3.17.2` in a requirements file -> `3.17.2`. */
export function parsePinnedMlflow(text: string): string | undefined {
  return /^\s*mlflow\s*==\s*([0-9][^\s;#]*)/im.exec(text)?.[1];
}

export async function readPin(packageRoot: string): Promise<Pin> {
  const file = nodePath.join(packageRoot, 'requirements.txt');
  const text = await fs.readFile(file, 'utf8');
  const version = parsePinnedMlflow(text);
  // Shipped with the package, so a bad one is our bug, not the user's.
  if (!version) throw new Error(`${file} pins no mlflow version (expected a line mlflow==X.Y.Z)`);
  return { file, text, version };
}

export interface Venv {
  dir: string;
  python: string;
  mlflow: string;
  stamp: string;
}

export function venvIn(dataDir: string, platform: Platform): Venv {
  const dir = platform.path.join(dataDir, 'venv');
  return {
    dir,
    python: platform.venvExecutable(dir, 'python'),
    mlflow: platform.venvExecutable(dir, 'mlflow'),
    stamp: platform.path.join(dir, SETUP_STAMP),
  };
}

export interface VenvState {
  /** The stamp holds exactly this package's requirements. */
  stampMatches: boolean;
  /** Undefined when the venv's Python does not run (no venv, or its base Python is gone). */
  python?: { version: string; pip: string; mlflow: string };
  mlflowRuns: boolean;
}

/** Quick and read-only: one Python start-up (about 0.1 s), no pip, no network. */
export async function inspectVenv(venv: Venv, pin: Pin, run: Runner, isExecutable: IsExecutable): Promise<VenvState> {
  const stamp = await fs.readFile(venv.stamp, 'utf8').catch(() => undefined);
  // python/venv_inspect.py: the venv's Python version and its pip and mlflow ('-' when absent).
  const r = await run(venv.python, ['-c', pythonScriptText('venv_inspect')], { timeoutMs: 30_000 });
  const [version = '', pip = '-', mlflow = '-'] = r.exitCode === 0 ? r.stdout.split(/\r?\n/).map((l) => l.trim()) : [];
  return {
    stampMatches: stamp === pin.text,
    python: /^\d+\.\d+\.\d+$/.test(version) ? { version, pip, mlflow } : undefined,
    mlflowRuns: await isExecutable(venv.mlflow),
  };
}

export function isInstalled(state: VenvState, pin: Pin): boolean {
  return state.stampMatches && state.mlflowRuns && state.python?.mlflow === pin.version;
}

/** The venv can take `pip install` as it is (an older pin, or a run that stopped half-way). */
function reusable(state: VenvState): boolean {
  return state.python !== undefined && versionAtLeast(state.python.version, MIN_PYTHON) && state.python.pip !== '-';
}

export type MlflowPlan = { kind: 'installed' } | { kind: 'install'; reuse: boolean };

export function planMlflow(state: VenvState, pin: Pin, force: boolean): MlflowPlan {
  if (!force && isInstalled(state, pin)) return { kind: 'installed' };
  return { kind: 'install', reuse: !force && reusable(state) };
}

function venvFailure(
  python: PythonFound,
  r: { stdout: string; stderr: string },
  why: string,
  platform: Platform,
): UserError {
  // Debian and Ubuntu split ensurepip out of the standard library: `python3 -m venv` then
  // fails with "ensurepip is not available ... apt install python3.X-venv".
  if (/ensurepip/i.test(`${r.stdout}\n${r.stderr}`)) {
    const [major, minor] = python.version.split('.');
    return new UserError(
      `Python ${python.version} (${python.file}) cannot create a virtual environment: its ensurepip module is missing`,
      {
        hint:
          platform.name === 'linux'
            ? `Install it (Debian/Ubuntu: sudo apt-get install python${major}.${minor}-venv), then run mlflow-secure setup again`
            : 'Install a Python with the venv module (python.org), or pass --python <path>',
      },
    );
  }
  return new UserError(`${python.file} -m venv failed (${why})`, {
    hint: 'Read the message, fix the cause, then run mlflow-secure setup again',
  });
}

/**
 * A `.gitignore` holding `*` in the venv, as Python 3.13's venv writes itself: a data folder
 * inside a git work tree (a home folder kept in git) would otherwise list thousands of files.
 */
export async function ignoreVenv(venv: Venv): Promise<void> {
  await writeGitignore(venv.dir, '# Written by mlflow-secure, as Python 3.13+ writes it into a new venv.\n*\n');
}

export interface InstallMlflow {
  venv: Venv;
  pin: Pin;
  /** The Python to build a new venv with; undefined to pip-install into the existing one. */
  python: PythonFound | undefined;
  platform: Platform;
  run: Runner;
  out: Output;
}

export async function installMlflow(o: InstallMlflow): Promise<void> {
  const { venv, pin, platform, run, out, python } = o;
  await fs.rm(venv.stamp, { force: true });
  if (python) {
    out.note(
      `Creating a virtual environment in ${venv.dir} with Python ${python.version} (${python.file}, found as ${python.via})`,
    );
    const exists = await fs.stat(venv.dir).then(
      () => true,
      () => false,
    );
    const r = await run(python.file, ['-m', 'venv', ...(exists ? ['--clear'] : []), venv.dir], { timeoutMs: 300_000 });
    if (r.exitCode !== 0) {
      // A venv without pip is of no use to the next run: it starts from nothing again.
      await fs.rm(venv.dir, { recursive: true, force: true });
      throw venvFailure(python, r, failure(r), platform);
    }
  }
  await ignoreVenv(venv);
  out.note(
    `Installing MLflow ${pin.version} into ${venv.dir} with pip (a few minutes the first time; pip's output follows)`,
  );
  const pip = await run(
    venv.python,
    ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '-r', pin.file],
    { show: true, timeoutMs: 30 * 60_000 },
  );
  if (pip.exitCode !== 0) {
    throw new UserError(`pip could not install MLflow ${pin.version} (${failure(pip)})`, {
      hint: "Read pip's output above (network, disk space, a proxy: PIP_INDEX_URL), then run mlflow-secure setup again",
    });
  }
  out.note('Checking that mlflow runs...');
  const check = await run(venv.mlflow, ['--version'], { timeoutMs: 120_000 });
  const version = /version\s+(\S+)/.exec(check.stdout)?.[1];
  if (check.exitCode !== 0 || version !== pin.version) {
    const why = check.exitCode !== 0 ? failure(check) : `it reports ${version ?? 'no version'}`;
    throw new UserError(`the MLflow just installed in ${venv.dir} does not run as MLflow ${pin.version} (${why})`, {
      hint: 'Run mlflow-secure setup --force to rebuild it',
    });
  }
  await writeFileAtomic(venv.stamp, pin.text);
}
