/**
 * MLflow's version without starting Python: `mlflow --version` takes 2.5-6 s on a busy machine
 * (it imports MLflow), and `up` needs the version before it can plan. A virtual environment's
 * `bin/mlflow` (`Scripts\mlflow.exe`) belongs to the `mlflow-<version>.dist-info` folder pip wrote
 * into that environment's site-packages; anything else asks `mlflow --version` (tools.ts).
 */
import { promises as fs } from 'node:fs';
import type { Platform } from '../system/platform.js';

export type ListDir = (dir: string) => Promise<string[]>;
const listDir: ListDir = (dir) => fs.readdir(dir).catch(() => []);

const DIST_INFO = /^mlflow-(\d+\.\d+(?:\.\d+)?(?:[a-z0-9.+]*)?)\.dist-info$/i;

/** The version of the `mlflow` package a venv's executable belongs to; undefined unless exactly one is there. */
export async function venvMlflowVersion(
  file: string,
  platform: Platform,
  list: ListDir = listDir,
): Promise<string | undefined> {
  const p = platform.path;
  const binDir = p.dirname(file);
  if (p.basename(binDir) !== (platform.isWindows ? 'Scripts' : 'bin')) return undefined;
  if (p.basename(file).toLowerCase() !== platform.exeName('mlflow').toLowerCase()) return undefined;
  const venv = p.dirname(binDir);
  if (!(await list(venv)).includes('pyvenv.cfg')) return undefined;
  const siteDirs = platform.isWindows
    ? [p.join(venv, 'Lib', 'site-packages')]
    : (await list(p.join(venv, 'lib')))
        .filter((n) => /^python3\.\d+$/.test(n))
        .map((n) => p.join(venv, 'lib', n, 'site-packages'));
  const versions: string[] = [];
  for (const dir of siteDirs)
    for (const name of await list(dir)) {
      const m = DIST_INFO.exec(name);
      if (m) versions.push(m[1]!);
    }
  return versions.length === 1 ? versions[0] : undefined;
}
