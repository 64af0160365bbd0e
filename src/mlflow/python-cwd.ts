/**
 * Where Python runs. `python -c` puts its working folder first on sys.path ('' at sys.path[0]),
 * `python -m` the same folder by name, and uvicorn inserts its --app-dir ('' by default) itself:
 * a json.py, csv.py or psycopg.py in the folder mlflow-secure was started from (a cloned
 * repository can ship them) would run inside our probes and inside MLflow's workers. So no
 * Python we start ever runs in the user's folder: the probes run in a fresh, empty, owner-only
 * folder, MLflow in a folder of its own in the state folder that holds nothing Python imports.
 *
 * Not `python -I`: it also drops user site-packages and PYTHONPATH, where a `pip install --user`
 * MLflow (and `py -m mlflow` on Windows, often) keeps its drivers, so a store check would report
 * a driver missing that MLflow itself imports. Not `-P`: Python 3.10 refuses it (exit 2), and it
 * would not reach MLflow's children (uvicorn adds '' again). The working folder holds on every
 * Python and every form (`py -3`, `python -m mlflow`); on Windows it is also the first place a
 * bare `py` or `python` is looked up.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import nodePath from 'node:path';
import { UserError } from '../errors.js';

/** Runs `work` with a new empty folder (mode 0700) that is removed afterwards. */
export async function withEmptyDir<T>(work: (dir: string) => Promise<T>): Promise<T> {
  const base = os.tmpdir();
  let dir: string;
  try {
    dir = await fs.mkdtemp(nodePath.join(base, 'mlflow-secure-'));
  } catch (error) {
    throw new UserError(
      `cannot make a temporary folder in ${base} (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
      { hint: 'Set TMPDIR (TEMP on Windows) to a folder you can write to' },
    );
  }
  try {
    return await work(dir);
  } finally {
    await fs.rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
}

/**
 * MLflow's working folder (`<state>/mlflow-cwd`, made by `up`) must hold nothing Python would
 * import as a top-level module: no file or link at all, and no folder that is a package (an
 * `__init__` inside). What MLflow's clients put there are folders: a relative experiment
 * artifact_location `rel/x` becomes `<this folder>/rel/x/<run id>/artifacts/...`. A folder
 * without `__init__` is at most a namespace portion, which never shadows an installed module.
 */
export async function checkMlflowWorkingDir(dir: string): Promise<void> {
  const refuse = (name: string, what: string) =>
    new UserError(`${nodePath.join(dir, name)} is ${what} in MLflow's working folder, which Python would import from`, {
      hint: `Move it out of ${dir} (mlflow-secure never puts files there), then run up again`,
    });
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    if (!entry.isDirectory()) throw refuse(entry.name, entry.isSymbolicLink() ? 'a link' : 'a file');
    const inside = await fs.readdir(nodePath.join(dir, entry.name)).catch(() => [] as string[]);
    const init = inside.find((n) => n.startsWith('__init__'));
    if (init) throw refuse(nodePath.join(entry.name, init), 'a package');
  }
}
