/**
 * A new user's path, for real: the package as npm publishes it (`npm pack` of the built
 * package), installed with `npm install -g --prefix` into an empty folder, run from a folder
 * with no package.json and no ./.venv. `doctor` finds no MLflow and names `mlflow-secure
 * setup`; `setup` installs the pinned MLflow with real pip from the package index into the
 * data folder ($XDG_DATA_HOME); a second `setup` runs no pip; then `doctor`, `up -d` and
 * `down` work with that MLflow.
 */
import { execa } from 'execa';
import { chmod, mkdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import getPort from 'get-port';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from '../../src/system/http.js';
import {
  cleanEnv,
  readStackRecord,
  removeDir,
  root,
  stackProcesses,
  tempDir,
  waitForNoStackProcesses,
  type CliResult,
} from './helpers.js';

const PASSWORD = `setup-${Math.random().toString(36).slice(2)}-Pw`;

describe('installed from a packed tarball: setup, then up', () => {
  let tmp: string;
  let tgz: string;
  let bin: string;
  let work: string;
  let data: string;
  let venv: string;
  let pinned: string;
  let groups: number[] = [];

  /** The installed `mlflow-secure`, run the way a user's shell would (its bin on PATH). */
  async function installed(
    args: string[],
    o: { env?: Record<string, string | undefined>; cwd?: string; timeoutMs?: number } = {},
  ): Promise<CliResult & { ms: number }> {
    const started = Date.now();
    const r = await execa(path.join(bin, 'mlflow-secure'), args, {
      cwd: o.cwd ?? work,
      env: cleanEnv({ PATH: `${bin}${path.delimiter}${process.env.PATH ?? ''}`, XDG_DATA_HOME: data, ...o.env }),
      extendEnv: false,
      stdin: 'ignore',
      reject: false,
      timeout: o.timeoutMs ?? 120_000,
    });
    return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - started };
  }

  beforeAll(async () => {
    // What npm would publish is what the build left in dist/: check it is there.
    await stat(path.join(root, 'dist', 'commands', 'setup.js')).catch(() => {
      throw new Error('dist/ has no setup command: build first (npx tsc -p tsconfig.build.json)');
    });
    tmp = await tempDir('mlflow-secure-setup-e2e-');
    work = path.join(tmp, 'work');
    data = path.join(tmp, 'data');
    await mkdir(work);
    const npmEnv = {
      ...process.env,
      npm_config_audit: 'false',
      npm_config_fund: 'false',
      npm_config_update_notifier: 'false',
    };
    const pack = await execa('npm', ['pack', '--pack-destination', tmp, '--json'], {
      cwd: root,
      env: npmEnv,
      stdin: 'ignore',
    });
    tgz = path.join(tmp, (JSON.parse(pack.stdout) as { filename: string }[])[0]!.filename);
    await execa('npm', ['install', '-g', '--prefix', path.join(tmp, 'prefix'), tgz], {
      cwd: tmp,
      env: npmEnv,
      stdin: 'ignore',
      timeout: 170_000,
    });
    bin = path.join(tmp, 'prefix', 'bin');
    venv = path.join(data, 'mlflow-secure', 'venv');
    pinned = /^mlflow==(\S+)$/m.exec(await readFile(path.join(root, 'requirements.txt'), 'utf8'))![1]!;
  }, 180_000);

  afterAll(async () => {
    if (!tmp) return;
    await installed(['down']);
    expect(await waitForNoStackProcesses(path.join(work, '.mlflow-secure'), groups)).toEqual([]);
    await removeDir(tmp);
  });

  it('the tarball ships the build and requirements.txt, and its bin runs from PATH', async () => {
    const listing = (await execa('tar', ['-tzf', tgz])).stdout.split('\n');
    expect(listing).toContain('package/requirements.txt');
    expect(listing).toContain('package/requirements-postgres.txt');
    expect(listing).toContain('package/requirements-s3.txt');
    expect(listing).toContain('package/dist/commands/setup.js');
    expect(listing.some((f) => f.startsWith('package/src/') || f.startsWith('package/test/'))).toBe(false);
    const r = await installed(['--version']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('before setup: doctor finds no MLflow and names mlflow-secure setup; up says the same in one line', async () => {
    const doctor = await installed(['doctor']);
    expect(doctor.exitCode).toBe(1);
    expect(doctor.stdout).toMatch(
      /^FAIL {2}MLflow not found; looked at: .*\/work\/\.venv\/bin\/mlflow \(\.\/\.venv\)/m,
    );
    expect(doctor.stdout).toContain(`${venv}/bin/mlflow (installed by mlflow-secure setup)`);
    expect(doctor.stdout).toMatch(/^ {6}fix: Run mlflow-secure setup /m);
    expect(doctor.stdout).not.toContain('npm run setup');
    expect(doctor.stdout).toMatch(/^ok {2}nginx /m);

    const up = await installed(['up', '-d', '--port', 'auto'], { env: { MLFLOW_SECURE_PASSWORD: PASSWORD } });
    expect(up.exitCode).toBe(1);
    const errors = up.stderr.split('\n').filter((l) => l.startsWith('error: '));
    expect(errors, up.stderr).toHaveLength(1);
    expect(errors[0]).toMatch(/^error: MLflow not found \(looked at: .*\)\. Run mlflow-secure setup /);
  });

  it('refuses a Python older than 3.10, naming it, in one line, and makes nothing', async () => {
    // A stand-in python3 that reports 3.9 (as an old distribution's would), and no python.
    const fakeBin = path.join(tmp, 'old-python-bin');
    await mkdir(fakeBin);
    await writeFile(path.join(fakeBin, 'python3'), '#!/bin/sh\necho 3.9.18\necho /opt/old/bin/python3.9\n');
    await chmod(path.join(fakeBin, 'python3'), 0o755);
    await symlink(process.execPath, path.join(fakeBin, 'node'));
    const oldData = path.join(tmp, 'old-data');
    const r = await installed(['setup'], {
      env: { PATH: `${bin}${path.delimiter}${fakeBin}`, XDG_DATA_HOME: oldData },
    });
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toEqual([
      'error: no Python 3.10 or newer found (python3: Python 3.9.18 (/opt/old/bin/python3.9) is older than 3.10; python: not found). ' +
        'Install Python 3.10 or newer (Debian/Ubuntu: sudo apt-get install python3 python3-venv; Fedora: sudo dnf install python3), or pass --python <path>',
    ]);
    await expect(stat(oldData)).rejects.toThrow();
  });

  it('setup installs the pinned MLflow with real pip into the data folder', async () => {
    const r = await installed(['setup'], { timeoutMs: 420_000 });
    console.info(`setup (first run, pip from the package index): ${(r.ms / 1000).toFixed(1)} s`);
    expect(r.exitCode, r.stderr.slice(-3000)).toBe(0);
    expect(r.stdout.split('\n')).toEqual([
      `MLflow ${pinned}: installed (${venv}/bin/mlflow)`,
      expect.stringMatching(/^nginx \d+\.\d+\.\d+: ready \(.+\)$/),
      'Ready: run mlflow-secure up',
    ]);
    // pip's own progress reached the user, on stderr.
    expect(r.stderr).toContain(`Installing MLflow ${pinned} into ${venv} with pip`);
    expect(r.stderr).toMatch(new RegExp(`Successfully installed .*\\bmlflow-${pinned.replace(/\./g, '\\.')}\\b`));
    expect(await readFile(path.join(venv, '.mlflow-secure-requirements'), 'utf8')).toBe(
      await readFile(path.join(root, 'requirements.txt'), 'utf8'),
    );
  }, 450_000);

  it('setup again: already installed, within seconds, and no pip at all', async () => {
    // PIP_NO_INDEX would make any pip install fail here: a pass proves pip did not run.
    const r = await installed(['setup'], { env: { PIP_NO_INDEX: '1' } });
    console.info(`setup (second run): ${(r.ms / 1000).toFixed(2)} s`);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe(`MLflow ${pinned}: already installed (${venv}/bin/mlflow)`);
    expect(r.stderr).toBe('');
    expect(r.ms).toBeLessThan(10_000);
  });

  it('doctor now finds MLflow in the data folder', async () => {
    const r = await installed(['doctor', '--port', String(await getPort({ host: '127.0.0.1' }))], {
      timeoutMs: 180_000,
    });
    expect(r.stdout).toContain(`ok  MLflow ${pinned} (${venv}/bin/mlflow)`);
    expect(r.exitCode, r.stdout).toBe(0);
  });

  it("setup --with postgres,s3: the store checks name it for setup's venv; real pip adds psycopg and boto3; a second run runs no pip", async () => {
    const port = String(await getPort({ host: '127.0.0.1' }));
    const closed = await getPort({ host: '127.0.0.1' });
    const stores = [
      '--backend-store-uri',
      `postgresql://mlflow:Db-pw-1234@127.0.0.1:${closed}/mlflow`,
      '--artifacts-destination',
      's3://bucket/x',
    ];
    const before = await installed(['doctor', '--port', port, ...stores], { timeoutMs: 180_000 });
    expect(before.exitCode).toBe(1);
    expect(before.stdout).toContain(
      `fix: Install it: ${venv}/bin/python -m pip install "psycopg[binary]" (or: mlflow-secure setup --with postgres)`,
    );
    expect(before.stdout).toContain(
      `fix: Install it: ${venv}/bin/python -m pip install boto3 (or: mlflow-secure setup --with s3)`,
    );
    expect(before.stdout).not.toContain('Db-pw-1234');

    const r = await installed(['setup', '--with', 'postgres,s3'], { timeoutMs: 420_000 });
    expect(r.exitCode, r.stderr.slice(-3000)).toBe(0);
    expect(r.stdout.split('\n').slice(0, 3)).toEqual([
      `MLflow ${pinned}: already installed (${venv}/bin/mlflow)`,
      `psycopg 3 (PostgreSQL backend store): installed (${venv})`,
      `boto3 (S3 artifacts destination): installed (${venv})`,
    ]);
    // With the driver there, the check gets as far as the (closed) server.
    const after = await installed(['doctor', '--port', port, ...stores.slice(0, 2)], { timeoutMs: 180_000 });
    expect(after.stdout).toMatch(
      /^FAIL {2}cannot reach the database server of the backend and registry store postgresql:\/\/mlflow:\*{8}@127\.0\.0\.1:\d+\/mlflow \(Connection refused\)$/m,
    );

    const again = await installed(['setup', '--with', 'postgres', '--with', 's3'], { env: { PIP_NO_INDEX: '1' } });
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stdout).toContain(`psycopg 3 (PostgreSQL backend store): already installed (${venv})`);
    expect(again.stdout).toContain(`boto3 (S3 artifacts destination): already installed (${venv})`);
  }, 450_000);

  it('up -d runs that MLflow behind nginx, auth holds, and down stops it all', async () => {
    const stateDir = path.join(work, '.mlflow-secure');
    const up = await installed(['up', '-d', '--port', 'auto'], {
      env: { MLFLOW_SECURE_PASSWORD: PASSWORD },
      timeoutMs: 180_000,
    });
    expect(up.exitCode, up.stderr).toBe(0);
    const record = await readStackRecord(stateDir);
    groups = [record.mlflow.pid, record.nginx.pid];
    const mlflowProcesses = (await stackProcesses(stateDir, groups)).filter((p) => p.cmdline.includes(venv));
    expect(mlflowProcesses.length, 'processes run from the data folder venv').toBeGreaterThan(0);
    const url = new URL(record.url);
    const at = { host: url.hostname, port: Number(url.port), path: '/api/2.0/mlflow/experiments/search?max_results=1' };
    expect((await request(at)).status).toBe(401);
    expect((await request({ ...at, auth: { user: 'admin', password: PASSWORD } })).status).toBe(200);

    const down = await installed(['down']);
    expect(down.exitCode, down.stderr).toBe(0);
    expect(await waitForNoStackProcesses(stateDir, groups)).toEqual([]);
  });
});
