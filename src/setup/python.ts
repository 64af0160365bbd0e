/** Finding a Python that can make MLflow's virtual environment: 3.10 or newer (MLflow 3's Requires-Python). */
import { UserError } from '../errors.js';
import type { CommandSpec, Platform } from '../system/platform.js';
import { failure, type Runner } from './runner.js';
import { pythonScriptText } from '../mlflow/python-scripts.js';

export const MIN_PYTHON = [3, 10] as const;

export interface PythonFound {
  /** The interpreter itself (sys.executable): what `py -3` or a pyenv shim resolved to. */
  file: string;
  version: string;
  /** How it was found, e.g. `py -3`. */
  via: string;
}

export function versionAtLeast(version: string, min: readonly number[]): boolean {
  const parts = version.split('.').map(Number);
  for (let i = 0; i < min.length; i++) {
    const have = parts[i] ?? 0;
    if (have !== min[i]) return have > min[i]!;
  }
  return true;
}

export async function probePython(c: CommandSpec, run: Runner): Promise<{ found?: PythonFound; refusal?: string }> {
  const via = [c.file, ...c.args].join(' ');
  // python/python_version.py: the version, then the interpreter's own path; runs on any Python 3.
  const r = await run(c.file, [...c.args, '-c', pythonScriptText('python_version')], { timeoutMs: 30_000 });
  if (r.exitCode === undefined && r.error === 'not found') return { refusal: `${via}: not found` };
  // 9009 is cmd.exe's "not recognized as a command", and what the Microsoft Store's python.exe
  // alias returns when no Python is installed behind it.
  if (r.exitCode === 9009) return { refusal: `${via}: not found (exit 9009)` };
  if (r.exitCode !== 0) return { refusal: `${via}: did not run (${failure(r)})` };
  const [version = '', file = ''] = r.stdout.split(/\r?\n/).map((l) => l.trim());
  if (!/^\d+\.\d+\.\d+$/.test(version) || !file) return { refusal: `${via}: printed no Python version` };
  if (!versionAtLeast(version, MIN_PYTHON))
    return { refusal: `${via}: Python ${version} (${file}) is older than ${MIN_PYTHON.join('.')}` };
  return { found: { file, version, via } };
}

const INSTALL_PYTHON: Partial<Record<NodeJS.Platform, string>> = {
  linux:
    'Install Python 3.10 or newer (Debian/Ubuntu: sudo apt-get install python3 python3-venv; Fedora: sudo dnf install python3), or pass --python <path>',
  darwin: 'Install Python 3.10 or newer (brew install python, or python.org), or pass --python <path>',
  win32: 'Install Python 3.10 or newer from python.org (it brings the py launcher), or pass --python <path>',
};

/**
 * The first candidate that runs and is new enough. Every refusal is named in the error, so a
 * user with an old python3 learns which one was found and why it was not taken.
 */
export async function choosePython(
  candidates: readonly CommandSpec[],
  platform: Platform,
  run: Runner,
): Promise<PythonFound> {
  const refusals: string[] = [];
  for (const c of candidates) {
    const { found, refusal } = await probePython(c, run);
    if (found) return found;
    refusals.push(refusal!);
  }
  throw new UserError(`no Python ${MIN_PYTHON.join('.')} or newer found (${refusals.join('; ')})`, {
    hint: INSTALL_PYTHON[platform.name] ?? INSTALL_PYTHON.linux,
  });
}
