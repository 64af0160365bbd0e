import { chmod, mkdir, mkdtemp, readdir, realpath, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkMlflowWorkingDir, withEmptyDir } from '../../../src/mlflow/python-cwd.js';
import { processRunner } from '../../../src/setup/runner.js';
import { mlflowVersion } from '../../../src/system/tools.js';

describe("checkMlflowWorkingDir: nothing in MLflow's working folder that Python would import", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'mlflow-secure-unit-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('accepts an empty folder and the folders relative artifact locations make', async () => {
    await checkMlflowWorkingDir(dir);
    await mkdir(path.join(dir, 'rel', 'x', '0123abcd', 'artifacts'), { recursive: true });
    await writeFile(path.join(dir, 'rel', 'x', '0123abcd', 'artifacts', 'hello.txt'), 'hi');
    // A folder named like a module but without __init__ is a namespace portion: it shadows nothing.
    await mkdir(path.join(dir, 'json'));
    await checkMlflowWorkingDir(dir);
  });

  it('refuses a file, a link, or a package, naming it in one line', async () => {
    await writeFile(path.join(dir, 'json.py'), 'raise SystemExit');
    await expect(checkMlflowWorkingDir(dir)).rejects.toThrow(`${path.join(dir, 'json.py')} is a file`);
    await rm(path.join(dir, 'json.py'));
    await symlink('/etc', path.join(dir, 'csv'));
    await expect(checkMlflowWorkingDir(dir)).rejects.toThrow(`${path.join(dir, 'csv')} is a link`);
    await rm(path.join(dir, 'csv'));
    await mkdir(path.join(dir, 'psycopg'));
    await writeFile(path.join(dir, 'psycopg', '__init__.py'), '');
    await expect(checkMlflowWorkingDir(dir)).rejects.toThrow(
      `${path.join(dir, 'psycopg', '__init__.py')} is a package`,
    );
  });
});

describe('withEmptyDir and the setup runner', () => {
  it('gives a new empty owner-only folder and removes it afterwards, also when the work fails', async () => {
    let seen = '';
    await expect(
      withEmptyDir(async (d) => {
        seen = d;
        expect(await readdir(d)).toEqual([]);
        if (process.platform !== 'win32') expect((await stat(d)).mode & 0o777).toBe(0o700);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    await expect(stat(seen)).rejects.toThrow(/ENOENT/);
  });

  it("runs setup's programs in such a folder, not in ours, unless a run names its own", async () => {
    const run = processRunner(process.env);
    const pwd = process.platform === 'win32' ? ['cmd', ['/c', 'cd']] : ['pwd', []];
    const r = await run(pwd[0] as string, pwd[1] as string[], { timeoutMs: 10_000 });
    const where = r.stdout.trim();
    expect(path.dirname(where)).toBe(await realpath(os.tmpdir()));
    expect(where).not.toBe(process.cwd());
    const own = await run(pwd[0] as string, pwd[1] as string[], { timeoutMs: 10_000, cwd: os.homedir() });
    expect(own.stdout.trim()).toBe(os.homedir());
  });
});

describe.skipIf(process.platform === 'win32')('mlflowVersion', () => {
  it('asks `mlflow --version` in an empty folder of its own (py -m mlflow would import from it)', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'mlflow-secure-unit-'));
    try {
      const fake = path.join(dir, 'mlflow');
      await writeFile(fake, '#!/bin/sh\necho "mlflow, version $(pwd)"\n');
      await chmod(fake, 0o755);
      const where = await mlflowVersion({ file: fake, args: [] });
      expect(path.dirname(where)).toBe(await realpath(os.tmpdir()));
      expect(where).not.toBe(process.cwd());
      expect(where).not.toBe(dir);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
