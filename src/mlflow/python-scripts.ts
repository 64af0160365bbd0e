/**
 * The Python mlflow-secure runs lives in python/*.py, shipped in the package (package.json
 * `files`) beside dist/ and src/ alike, where a linter and `py_compile` read it (the unit test
 * compiles every one). Read when it is needed.
 *
 * The probes run as `python -c <the file's text>`, from an empty working folder (python-cwd.ts),
 * not as `python <file>`: a file run by path puts its own folder at sys.path[0], so every name in
 * python/ would become importable inside our probes, and `-I` (which would drop it) also drops the
 * user site-packages where a `pip install --user` MLflow keeps its drivers. `-c` keeps sys.path[0]
 * the empty folder, on every Python 3. db_migration.py alone runs by path with `-I` (it imports
 * only MLflow's own packages and SQLite; see run-migration.ts).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Every file in python/ (the unit test holds the list and the folder together). */
export const PYTHON_SCRIPTS = [
  'db_migration',
  'store_check_sql',
  'store_check_s3',
  'container_health',
  'create_bucket',
  'python_version',
  'venv_inspect',
  'import_check',
  'mlflow_secure_auth',
  'mlflow_secure_users',
  'mlflow_secure_cache',
  'mlflow_secure_cors',
] as const;

export type PythonScript = (typeof PYTHON_SCRIPTS)[number];

/** This file is src/mlflow/ or dist/mlflow/: python/ is two folders up. */
export function pythonScriptPath(name: PythonScript): string {
  return fileURLToPath(new URL(`../../python/${name}.py`, import.meta.url));
}

const texts = new Map<PythonScript, string>();

/**
 * The code of python/<name>.py for `python -c`: without its leading `#` comment lines (they are
 * for its readers; the export embeds this text in the files it writes) and trailing blanks.
 */
export function pythonScriptText(name: PythonScript): string {
  let text = texts.get(name);
  if (text === undefined) {
    const lines = readFileSync(pythonScriptPath(name), 'utf8').split(/\r?\n/);
    const start = lines.findIndex((l) => !l.startsWith('#') && l.trim() !== '');
    text = lines.slice(Math.max(start, 0)).join('\n').trimEnd();
    texts.set(name, text);
  }
  return text;
}
