/**
 * PostgreSQL as the backend (and registry) store, on a real cluster made with initdb for this
 * file: the real MLflow client logs runs and metrics and registers a model through the proxy,
 * the rows are in PostgreSQL, and all of it is read back after down and up. Each way a
 * database store goes wrong ends in one line, the password masked, nothing left running:
 * driver missing, server unreachable, wrong password, database missing, and a user MLflow's
 * migrations cannot create tables as (MLflow's own failure, read from its log).
 */
import { execa } from 'execa';
import getPort from 'get-port';
import { readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cli,
  readStackRecord,
  removeDir,
  root,
  stackProcesses,
  tempDir,
  venvPython,
  waitForNoStackProcesses,
} from './helpers.js';
import { findInitdb, startPgCluster, type PgCluster } from './store-servers.js';

const initdb = await findInitdb();
const DB_PASSWORD = `Pg-${Math.random().toString(36).slice(2)}-s3cret`;
const READER_PASSWORD = `Rd-${Math.random().toString(36).slice(2)}-s3cret`;
const ADMIN_PASSWORD = `pg-e2e-${Math.random().toString(36).slice(2)}-Pw`;

describe.skipIf(!initdb)('PostgreSQL as the backend store (a real cluster made with initdb)', () => {
  let cluster: PgCluster;
  let cwd: string;
  let stateDir: string;
  const uri = (o: { user?: string; password?: string; port?: number; database?: string; scheme?: string } = {}) =>
    `${o.scheme ?? 'postgresql'}://${o.user ?? 'mlflow'}:${o.password ?? DB_PASSWORD}@127.0.0.1:${o.port ?? cluster.port}/${o.database ?? 'mlflow'}`;

  beforeAll(async () => {
    cluster = await startPgCluster(initdb!);
    // `reader` may connect to `shared` but, as PostgreSQL 15 allows no one but the owner to
    // create in schema public, not create MLflow's tables there.
    await cluster.psql(
      [
        `CREATE ROLE mlflow LOGIN PASSWORD '${DB_PASSWORD}';`,
        'CREATE DATABASE mlflow OWNER mlflow;',
        `CREATE ROLE reader LOGIN PASSWORD '${READER_PASSWORD}';`,
        'CREATE DATABASE shared;',
      ].join('\n'),
    );
    cwd = await tempDir('mlflow-secure-pg-e2e-');
    stateDir = path.join(cwd, '.mlflow-secure');
  }, 180_000);

  afterAll(async () => {
    if (cwd) {
      await cli(['down'], { cwd });
      expect(await waitForNoStackProcesses(stateDir)).toEqual([]);
      await removeDir(cwd);
    }
    await cluster?.stop();
  });

  /** The real client, reaching the running stack only through MLFLOW_TRACKING_*. */
  async function client(args: string[]): Promise<Record<string, unknown>> {
    const { url } = await readStackRecord(stateDir);
    const env = {
      MLFLOW_TRACKING_URI: url,
      MLFLOW_TRACKING_USERNAME: 'admin',
      MLFLOW_TRACKING_PASSWORD: ADMIN_PASSWORD,
      MLFLOW_HTTP_REQUEST_MAX_RETRIES: '0',
    };
    const r = await execa(venvPython, [path.join(root, 'test', 'fixtures', 'registry_client.py'), ...args], {
      env,
      reject: false,
      timeout: 180_000,
    });
    expect(r.exitCode, r.stderr).toBe(0);
    return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
  }

  /** `up -d -q` that must fail before anything runs: exactly one line, the password masked. */
  async function failingUp(storeUri: string, extra: string[] = []): Promise<string> {
    const r = await cli(['up', '-d', '-q', '--port', 'auto', '--backend-store-uri', storeUri, ...extra], {
      cwd,
      env: { MLFLOW_SECURE_PASSWORD: ADMIN_PASSWORD },
    });
    expect(r.exitCode, r.stderr).toBe(1);
    expect(r.stdout).toBe('');
    const lines = r.stderr.split('\n').filter(Boolean);
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^error: /);
    for (const secret of [DB_PASSWORD, READER_PASSWORD, ADMIN_PASSWORD, 'wrong-Pw-1234'])
      expect(r.stderr).not.toContain(secret);
    expect(await stackProcesses(stateDir)).toEqual([]);
    await expect(stat(path.join(stateDir, 'stack.json'))).rejects.toThrow();
    return lines[0]!;
  }

  it('runs, metrics and a registered model go through the proxy into PostgreSQL, and are there after down and up', async () => {
    const up = await cli(['up', '-d', '--port', 'auto', '--backend-store-uri', uri()], {
      cwd,
      env: { MLFLOW_SECURE_PASSWORD: ADMIN_PASSWORD },
    });
    expect(up.exitCode, up.stderr).toBe(0);
    expect(`${up.stdout}${up.stderr}`).not.toContain(DB_PASSWORD);
    expect(up.stderr).toContain('Checking the database...');
    const record = await readStackRecord(stateDir);
    const recordText = await readFile(path.join(stateDir, 'stack.json'), 'utf8');
    expect(recordText).not.toContain(DB_PASSWORD);
    expect(recordText).toContain(`postgresql://mlflow:********@127.0.0.1:${cluster.port}/mlflow`);
    // The URI reaches MLflow through its environment, never its argv (readable by every local user).
    const cmdline = await readFile(`/proc/${record.mlflow.pid}/cmdline`, 'utf8');
    expect(cmdline).not.toContain(DB_PASSWORD);

    const written = await client(['write']);
    expect(written).toMatchObject({
      params: { alpha: '0.5' },
      history: [0.5, 0.25, 0.125],
      text: 'hello from the e2e test',
    });
    expect(written.versions).toEqual([{ version: '1', run_id: written.run_id }]);
    // In PostgreSQL itself, not in a SQLite file beside it.
    expect(await cluster.psql('SELECT name FROM registered_models;', 'mlflow')).toBe('e2e-postgres-model');
    expect(
      await cluster.psql(`SELECT count(*) FROM metrics WHERE run_uuid = '${String(written.run_id)}';`, 'mlflow'),
    ).toBe('3');
    await expect(stat(path.join(cwd, 'mlflow.db'))).rejects.toThrow();

    const down = await cli(['down'], { cwd });
    expect(down.exitCode, down.stderr).toBe(0);
    expect(await waitForNoStackProcesses(stateDir, [record.mlflow.pid, record.nginx.pid])).toEqual([]);
    const again = await cli(['up', '-d', '--port', 'auto', '--backend-store-uri', uri()], {
      cwd,
      env: { MLFLOW_SECURE_PASSWORD: ADMIN_PASSWORD },
    });
    expect(again.exitCode, again.stderr).toBe(0);
    const read = await client(['read', String(written.run_id)]);
    expect(read).toEqual(written);
    const second = await readStackRecord(stateDir);
    expect((await cli(['down'], { cwd })).exitCode).toBe(0);
    expect(await waitForNoStackProcesses(stateDir, [second.mlflow.pid, second.nginx.pid])).toEqual([]);
  });

  it('driver missing: names the package and the exact pip command for the Python MLflow runs in', async () => {
    // SQLAlchemy's pg8000 dialect: its driver is not in ./.venv (psycopg is).
    const line = await failingUp(uri({ scheme: 'postgresql+pg8000' }));
    // MLflow's Python is the one beside the mlflow executable, its links resolved.
    const python = path.join(path.dirname(await realpath(path.join(root, '.venv', 'bin', 'mlflow'))), 'python');
    expect(line).toBe(
      `error: the backend and registry store postgresql+pg8000://mlflow:********@127.0.0.1:${cluster.port}/mlflow needs the Python module pg8000 (package pg8000), ` +
        `which MLflow's Python (${python}) does not have. Install it into MLflow's environment: ${python} -m pip install pg8000`,
    );
  });

  it('server unreachable: a closed port', async () => {
    const closed = await getPort({ host: '127.0.0.1' });
    const line = await failingUp(uri({ port: closed }));
    expect(line).toBe(
      `error: cannot reach the database server of the backend and registry store postgresql://mlflow:********@127.0.0.1:${closed}/mlflow (Connection refused). ` +
        `Start the database server, or fix the host and port (127.0.0.1:${closed}) in --backend-store-uri`,
    );
  });

  it('authentication failed: a wrong password, neither it nor the right one shown', async () => {
    const line = await failingUp(uri({ password: 'wrong-Pw-1234' }));
    expect(line).toMatch(
      /^error: the database server refused the login for the backend and registry store postgresql:\/\/mlflow:\*{8}@127\.0\.0\.1:\d+\/mlflow \(password authentication failed for user "mlflow"\)\. Fix the user name or password in --backend-store-uri/,
    );
  });

  it('database missing: says which, and how to create it', async () => {
    const line = await failingUp(uri({ database: 'nosuchdb' }));
    expect(line).toContain(
      `the database 'nosuchdb' of the backend and registry store postgresql://mlflow:********@127.0.0.1:${cluster.port}/nosuchdb does not exist (database "nosuchdb" does not exist)`,
    );
    expect(line).toContain('CREATE DATABASE nosuchdb OWNER mlflow;');
  });

  it('a separate registry store is checked too', async () => {
    const line = await failingUp(uri(), ['--registry-store-uri', uri({ database: 'noregistry' })]);
    expect(line).toContain(
      `the database 'noregistry' of the registry store postgresql://mlflow:********@127.0.0.1:${cluster.port}/noregistry does not exist`,
    );
    expect(line).toContain('--registry-store-uri');
  });

  it("a user who may not create MLflow's tables: MLflow's own failure, read from its log, said in one line (exit 3)", async () => {
    const r = await cli(
      [
        'up',
        '-d',
        '-q',
        '--port',
        'auto',
        '--backend-store-uri',
        uri({ user: 'reader', password: READER_PASSWORD, database: 'shared' }),
      ],
      { cwd, env: { MLFLOW_SECURE_PASSWORD: ADMIN_PASSWORD } },
    );
    expect(r.exitCode, r.stderr).toBe(3);
    const first = r.stderr.split('\n')[0]!;
    expect(first).toMatch(
      /^error: MLflow could not use its database: the database user 'reader' of .* may not create MLflow's tables \(permission denied for schema public\)\. Make reader the database's owner/,
    );
    expect(first).not.toContain('Traceback');
    expect(r.stderr).not.toContain(READER_PASSWORD);
    expect(r.stderr).toContain('last lines of');
    expect(await waitForNoStackProcesses(stateDir)).toEqual([]);
    await expect(stat(path.join(stateDir, 'stack.json'))).rejects.toThrow();
  });

  it('doctor connects with the right password and names the fix for a wrong one', async () => {
    const good = await cli(['doctor', '--port', 'auto', '--backend-store-uri', uri()], { cwd });
    expect(good.stdout).toContain(
      `ok  backend and registry store postgresql://mlflow:********@127.0.0.1:${cluster.port}/mlflow: connected (psycopg)`,
    );
    const bad = await cli(['doctor', '--port', 'auto', '--backend-store-uri', uri({ password: 'wrong-Pw-1234' })], {
      cwd,
    });
    expect(bad.exitCode).toBe(1);
    expect(bad.stdout).toMatch(
      /^FAIL {2}the database server refused the login .*password authentication failed for user "mlflow"/m,
    );
    expect(bad.stdout).toMatch(/^ {6}fix: Fix the user name or password in --backend-store-uri/m);
    expect(`${bad.stdout}${bad.stderr}`).not.toContain('wrong-Pw-1234');
  });
});
