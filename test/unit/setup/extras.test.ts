/**
 * `setup --with postgres,s3` with its programs faked: the names it takes, that an extra already
 * importable runs no pip, the exact pip command (the shipped requirements file), --check, and
 * pip's failure as one line. The real pip run is in test/e2e/setup.test.ts.
 */
import { readFile } from 'node:fs/promises';
import nodePath from 'node:path';
import { describe, expect, it } from 'vitest';
import { setup } from '../../../src/commands/setup.js';
import { UserError } from '../../../src/errors.js';
import { createOutput } from '../../../src/log.js';
import { getPlatform } from '../../../src/system/platform.js';
import { EXTRAS, installExtras, parseExtras } from '../../../src/setup/extras.js';
import { venvIn } from '../../../src/setup/mlflow.js';
import type { RunResult, Runner } from '../../../src/setup/runner.js';
import { sink } from '../sink.js';
import { pythonScriptText } from '../../../src/mlflow/python-scripts.js';

const IMPORT_CHECK = pythonScriptText('import_check');

const linux = getPlatform('linux');
const repoRoot = nodePath.resolve(import.meta.dirname, '..', '..', '..');
const venv = venvIn('/home/ana/.local/share/mlflow-secure', linux);

function fake(answer: (args: readonly string[]) => Partial<RunResult>): {
  run: Runner;
  lines: string[];
  shown: boolean[];
} {
  const lines: string[] = [];
  const shown: boolean[] = [];
  const run: Runner = async (file, args, o) => {
    lines.push([file, ...args].join(' '));
    shown.push(o.show ?? false);
    return { exitCode: 0, stdout: '', stderr: '', ...answer(args) };
  };
  return { run, lines, shown };
}

function output() {
  const stdout = sink();
  const stderr = sink();
  return { out: createOutput(stdout.stream, stderr.stream), stdout: stdout.text, stderr: stderr.text };
}

describe('parseExtras', () => {
  it('takes repeated flags and commas, any case, each once', () => {
    expect(parseExtras(['postgres', 'S3,postgres'])).toEqual(['postgres', 's3']);
    expect(parseExtras(undefined)).toEqual([]);
  });

  it('refuses an unknown name, naming it and the known ones', () => {
    const error = (() => {
      try {
        return parseExtras(['mysql']);
      } catch (e) {
        return e as UserError;
      }
    })() as UserError;
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toBe("--with takes postgres or s3, got 'mysql'");
  });

  it('setup refuses it before running anything', async () => {
    const o = output();
    const ctx = {
      cwd: '/tmp',
      env: { HOME: '/home/ana' },
      platform: linux,
      out: o.out,
      stdin: process.stdin,
      stderr: sink().stream,
    };
    const run: Runner = async () => {
      throw new Error('nothing may run');
    };
    await expect(setup({ with: ['postgress'] }, ctx, { run, root: repoRoot })).rejects.toThrow(
      "--with takes postgres or s3, got 'postgress'",
    );
  });
});

describe('installExtras', () => {
  it('the shipped requirement files pin psycopg[binary] and boto3', async () => {
    expect(await readFile(nodePath.join(repoRoot, EXTRAS.postgres.file), 'utf8')).toMatch(
      /^psycopg\[binary\]==\d+\.\d+\.\d+$/m,
    );
    expect(await readFile(nodePath.join(repoRoot, EXTRAS.s3.file), 'utf8')).toMatch(/^boto3==\d+\.\d+\.\d+$/m);
  });

  it('imports first; pip (shown) only for what is missing, then imports again', async () => {
    let psycopg = false;
    const f = fake((args) => {
      if (args[0] === '-c' && args[1] === IMPORT_CHECK && args[2] === 'psycopg')
        return psycopg ? {} : { exitCode: 1, stderr: "ModuleNotFoundError: No module named 'psycopg'" };
      if (args[0] === '-m') psycopg = true;
      return {};
    });
    const o = output();
    await installExtras({ extras: ['postgres', 's3'], venv, root: repoRoot, run: f.run, out: o.out, check: false });
    expect(f.lines).toEqual([
      `${venv.python} -c ${IMPORT_CHECK} psycopg`,
      `${venv.python} -m pip install --disable-pip-version-check --no-input -r ${repoRoot}/requirements-postgres.txt`,
      `${venv.python} -c ${IMPORT_CHECK} psycopg`,
      `${venv.python} -c ${IMPORT_CHECK} boto3`,
    ]);
    expect(f.shown).toEqual([false, true, false, false]);
    expect(o.stdout()).toBe(
      `psycopg 3 (PostgreSQL backend store): installed (${venv.dir})\nboto3 (S3 artifacts destination): already installed (${venv.dir})\n`,
    );
  });

  it('--check runs no pip', async () => {
    const f = fake(() => ({ exitCode: 1 }));
    const o = output();
    await installExtras({ extras: ['s3'], venv, root: repoRoot, run: f.run, out: o.out, check: true });
    expect(f.lines).toEqual([`${venv.python} -c ${IMPORT_CHECK} boto3`]);
    expect(o.stdout()).toBe(
      `boto3 (S3 artifacts destination): would install into ${venv.dir} (pip install -r requirements-s3.txt)\n`,
    );
  });

  it("pip's failure is one line naming what to run again", async () => {
    const f = fake((args) =>
      args[0] === '-m'
        ? { exitCode: 1, stderr: 'ERROR: No matching distribution found for boto3==1.44.5' }
        : { exitCode: 1 },
    );
    const error = (await installExtras({
      extras: ['s3'],
      venv,
      root: repoRoot,
      run: f.run,
      out: output().out,
      check: false,
    }).catch((e: unknown) => e)) as UserError;
    expect(error.message).toBe(
      'pip could not install boto3 (S3 artifacts destination) (exit 1: ERROR: No matching distribution found for boto3==1.44.5)',
    );
    expect(error.hint).toBe("Read pip's output above, then run mlflow-secure setup --with s3 again");
  });
});
