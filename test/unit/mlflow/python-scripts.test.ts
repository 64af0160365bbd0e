/**
 * The Python in python/*.py: every file compiles with MLflow's Python (./.venv) and with the
 * machine's python3, as the file and as the text `python -c` runs; and the JSON the probes print
 * is what the zod schemas TypeScript reads it with accept, field for field.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { CREATE_BUCKET_PY, HEALTH_PY } from '../../../src/export/container-scripts.js';
import { BUCKET, MLFLOW_LISTEN, PORTS } from '../../../src/export/stack.js';
import { PYTHON_SCRIPTS, pythonScriptPath, pythonScriptText } from '../../../src/mlflow/python-scripts.js';
import { CheckAnswer, CHECK_URI_ENV, parseCheckAnswer } from '../../../src/stores/checks.js';
import { parseAnswer, ProbeAnswer } from '../../../src/stores/migration.js';

const root = path.resolve(import.meta.dirname, '..', '..', '..');
const venvPython = path.join(root, '.venv', 'bin', 'python');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'mlflow-secure-py-unit-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** `python -c <the script's text>` from an empty folder, as the product runs it. */
function runText(
  python: string,
  name: (typeof PYTHON_SCRIPTS)[number],
  env: Record<string, string> = {},
  args: string[] = [],
) {
  const cwd = mkdtempSync(path.join(tmp, 'cwd-'));
  const r = spawnSync(python, ['-c', pythonScriptText(name), ...args], {
    cwd,
    env: { PATH: process.env.PATH, HOME: tmp, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect(readdirSync(cwd)).toEqual([]);
  return r;
}

/** The answer's keys are the schema's: a field Python renamed or added would not be read. */
function keysKnown(stdout: string, schema: z.ZodObject) {
  const line = stdout.trim().split('\n').at(-1)!;
  for (const key of Object.keys(JSON.parse(line) as object)) expect(Object.keys(schema.shape)).toContain(key);
}

describe('python/*.py', () => {
  it('lists every file of the folder, and only those', () => {
    const files = readdirSync(path.join(root, 'python')).filter((f) => f.endsWith('.py'));
    expect(files.sort()).toEqual(PYTHON_SCRIPTS.map((n) => `${n}.py`).sort());
  });

  it.each([
    ['.venv', venvPython],
    ['python3', 'python3'],
  ])('every file compiles with %s (python -m py_compile), as a file and as the text python -c runs', (_, python) => {
    const dir = mkdtempSync(path.join(tmp, 'compile-'));
    const texts = PYTHON_SCRIPTS.map((name) => {
      const file = path.join(dir, `${name}_c.py`);
      writeFileSync(file, pythonScriptText(name));
      return file;
    });
    // The bytecode goes to a temporary folder, never into the package's python/.
    const r = spawnSync(
      python,
      ['-I', '-X', `pycache_prefix=${dir}`, '-m', 'py_compile', ...PYTHON_SCRIPTS.map(pythonScriptPath), ...texts],
      { encoding: 'utf8' },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(readdirSync(path.join(root, 'python')).filter((f) => !f.endsWith('.py'))).toEqual([]);
  });

  it('the text for python -c is the file without its leading comment lines', () => {
    for (const name of PYTHON_SCRIPTS) {
      const file = readFileSync(pythonScriptPath(name), 'utf8');
      const text = pythonScriptText(name);
      expect(file.trimEnd().endsWith(text), name).toBe(true);
      const head = file.slice(0, file.trimEnd().length - text.length);
      for (const line of head.split('\n')) expect(line === '' || line.startsWith('#'), `${name}: ${line}`).toBe(true);
      expect(text.startsWith('#'), name).toBe(false);
    }
  });
});

describe('the store checks in MLflow’s Python, their answers read with zod', () => {
  const sql = (uri: string) => runText(venvPython, 'store_check_sql', { [CHECK_URI_ENV]: uri });

  it('a SQLite database connects; an unknown driver is a missing module named; nonsense is a bad URI', () => {
    const ok = sql(`sqlite:///${path.join(tmp, 'x.db')}`);
    expect(parseCheckAnswer(ok.stdout), ok.stderr).toEqual({ ok: true, driver: 'pysqlite' });
    keysKnown(ok.stdout, CheckAnswer);
    const missing = sql('postgresql+pg8000://u@127.0.0.1:1/db');
    expect(parseCheckAnswer(missing.stdout)).toMatchObject({ ok: false, kind: 'missing-module', module: 'pg8000' });
    keysKnown(missing.stdout, CheckAnswer);
    const bad = sql('nonsense://x');
    expect(parseCheckAnswer(bad.stdout)).toMatchObject({ ok: false, kind: 'bad-uri', type: 'NoSuchModuleError' });
    keysKnown(bad.stdout, CheckAnswer);
  });

  it('a database server that refuses the connection is a connect answer', () => {
    const refused = sql('postgresql://u:p@127.0.0.1:1/db');
    const answer = parseCheckAnswer(refused.stdout);
    expect(answer, refused.stderr).toMatchObject({ ok: false, kind: 'connect', type: 'OperationalError' });
    expect(answer!.message).toMatch(/Connection refused/);
    keysKnown(refused.stdout, CheckAnswer);
  });

  it('an S3 endpoint that is not there is unreachable, named', () => {
    const r = runText(venvPython, 'store_check_s3', {
      [CHECK_URI_ENV]: 's3://bucket/prefix',
      MLFLOW_S3_ENDPOINT_URL: 'http://127.0.0.1:1',
      AWS_ACCESS_KEY_ID: 'id',
      AWS_SECRET_ACCESS_KEY: 'secret',
      AWS_DEFAULT_REGION: 'us-east-1',
    });
    expect(parseCheckAnswer(r.stdout), r.stderr).toMatchObject({
      ok: false,
      kind: 'unreachable',
      endpoint: 'http://127.0.0.1:1',
    });
    keysKnown(r.stdout, CheckAnswer);
  });

  it('the migration probe: a database not there yet has no revision', () => {
    const r = spawnSync(venvPython, ['-I', pythonScriptPath('db_migration')], {
      env: { MLFLOW_SECURE_DB_ACTION: 'probe', MLFLOW_SECURE_DB_PATH: path.join(tmp, 'none.db') },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(parseAnswer(r.stdout, ProbeAnswer), r.stderr).toMatchObject({ ok: true, revision: null });
  });
});

describe('the probes setup runs', () => {
  it('python_version prints the version and the interpreter, on python3 and MLflow’s Python', () => {
    for (const python of ['python3', venvPython]) {
      const r = runText(python, 'python_version');
      expect(r.stdout, r.stderr).toMatch(/^\d+\.\d+\.\d+\n\/\S+\n$/);
    }
  });

  it('import_check exits 0 for a module that imports, 1 with the error for one that does not', () => {
    expect(runText(venvPython, 'import_check', {}, ['sqlalchemy']).status).toBe(0);
    const missing = runText(venvPython, 'import_check', {}, ['no_such_module_mlflow_secure']);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain("No module named 'no_such_module_mlflow_secure'");
  });

  it('venv_inspect prints the Python, pip and mlflow versions of the venv', () => {
    const r = runText(venvPython, 'venv_inspect');
    const pin = /^mlflow==(\S+)/m.exec(readFileSync(path.join(root, 'requirements.txt'), 'utf8'))![1];
    expect(r.stdout, r.stderr).toMatch(
      new RegExp(`^\\d+\\.\\d+\\.\\d+\\n\\d+[.\\d]*\\n${pin!.replace(/\./g, '\\.')}\\n$`),
    );
    expect(runText('python3', 'venv_inspect').stdout.split('\n')[2]).toBe('-');
  });
});

describe('the container scripts the export embeds', () => {
  it('probe the address MLflow listens on, and make the bucket MLflow uses', () => {
    expect(HEALTH_PY).toContain(`'http://${MLFLOW_LISTEN}:${PORTS.mlflow}/health'`);
    expect(CREATE_BUCKET_PY).toContain(`'${BUCKET}' in names or s3.create_bucket(Bucket='${BUCKET}')`);
    expect(CREATE_BUCKET_PY).toContain(`print('bucket ${BUCKET} is ready')`);
  });

  it('the health probe fails (non-zero) when nothing answers', () => {
    // Same text with a port where nothing listens: urlopen raises, Python exits 1.
    const text = HEALTH_PY.replace(`:${PORTS.mlflow}/`, ':1/');
    const r = spawnSync('python3', ['-I', '-c', text], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/Connection refused/);
  });
});
