/**
 * `mlflow-secure setup --with postgres,s3`: the drivers MLflow needs for a PostgreSQL backend
 * store (psycopg 3) or an S3 artifacts destination (boto3), pinned by the package's
 * requirements-<extra>.txt, pip-installed into setup's venv. An extra already importable there
 * is left alone (no pip run).
 */
import nodePath from 'node:path';
import { UserError } from '../errors.js';
import type { Output } from '../log.js';
import type { Venv } from './mlflow.js';
import { failure, type Runner } from './runner.js';
import { pythonScriptText } from '../mlflow/python-scripts.js';

export const EXTRAS = {
  postgres: { file: 'requirements-postgres.txt', module: 'psycopg', what: 'psycopg 3 (PostgreSQL backend store)' },
  s3: { file: 'requirements-s3.txt', module: 'boto3', what: 'boto3 (S3 artifacts destination)' },
} as const;

export type Extra = keyof typeof EXTRAS;

/** `--with postgres --with s3` or `--with postgres,s3` -> the extras, each once; a wrong name is refused by name. */
export function parseExtras(values: readonly string[] | undefined): Extra[] {
  const names = (values ?? [])
    .flatMap((v) => v.split(','))
    .map((v) => v.trim().toLowerCase())
    .filter(Boolean);
  const known = Object.keys(EXTRAS);
  for (const name of names) {
    if (!known.includes(name))
      throw new UserError(`--with takes ${known.join(' or ')}, got '${name}'`, {
        hint: 'Try --with postgres, --with s3, or --with postgres,s3',
      });
  }
  return [...new Set(names)] as Extra[];
}

/** Installs each extra that is not importable yet; with `check`, only says what it would do. */
export async function installExtras(o: {
  extras: Extra[];
  venv: Venv;
  root: string;
  run: Runner;
  out: Output;
  check: boolean;
}): Promise<void> {
  for (const extra of o.extras) {
    const { file, module, what } = EXTRAS[extra];
    const probe = await o.run(o.venv.python, ['-c', pythonScriptText('import_check'), module], { timeoutMs: 60_000 });
    if (probe.exitCode === 0) {
      o.out.info(`${what}: already installed (${o.venv.dir})`);
      continue;
    }
    if (o.check) {
      o.out.info(`${what}: would install into ${o.venv.dir} (pip install -r ${file})`);
      continue;
    }
    o.out.note(`Installing ${what} into ${o.venv.dir} with pip (pip's output follows)`);
    const requirements = nodePath.join(o.root, file);
    const pip = await o.run(
      o.venv.python,
      ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '-r', requirements],
      { show: true, timeoutMs: 15 * 60_000 },
    );
    if (pip.exitCode !== 0) {
      throw new UserError(`pip could not install ${what} (${failure(pip)})`, {
        hint: `Read pip's output above, then run mlflow-secure setup --with ${extra} again`,
      });
    }
    const after = await o.run(o.venv.python, ['-c', pythonScriptText('import_check'), module], { timeoutMs: 60_000 });
    if (after.exitCode !== 0)
      throw new UserError(`${module} still cannot be imported after pip installed it (${failure(after)})`, {
        hint: `Run mlflow-secure setup --force --with ${extra}`,
      });
    o.out.info(`${what}: installed (${o.venv.dir})`);
  }
}
