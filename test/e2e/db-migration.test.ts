/**
 * Nothing lost when MLflow upgrades its database (real MLflow 3.17.2): a database a few alembic
 * revisions old is copied before `up` lets MLflow migrate it, the copy has the old revision and
 * the rows, the live database ends at the head, the oldest copies go, an up-to-date database
 * gets no copy, and `doctor` names the pending migration. The probe script itself is compiled
 * by Python and its fast path agrees with alembic on every revision MLflow has.
 */
import { execa } from 'execa';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, removeDir, root, stackProcesses, tempDir, venvPython } from './helpers.js';
import { findInitdb, startPgCluster, type PgCluster } from './store-servers.js';

const initdb = await findInitdb();

const SCRIPT = path.join(root, 'python', 'db_migration.py');
const FIXTURE = path.join(root, 'test', 'fixtures', 'db_schema.py');
const PASSWORD = `dbmig-${Math.random().toString(36).slice(2)}-Pw`;

async function fixture(...args: string[]): Promise<string> {
  return fixtureWith({}, ...args);
}

async function fixtureWith(env: Record<string, string>, ...args: string[]): Promise<string> {
  const r = await execa(venvPython, ['-I', FIXTURE, ...args], { env, reject: false, timeout: 120_000 });
  if (r.exitCode !== 0) throw new Error(`db_schema.py ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

async function probe(db: string): Promise<unknown> {
  const r = await execa(venvPython, ['-I', SCRIPT], {
    env: { MLFLOW_SECURE_DB_ACTION: 'probe', MLFLOW_SECURE_DB_PATH: db },
    reject: false,
    timeout: 60_000,
  });
  return JSON.parse(r.stdout.trim());
}

describe('the probe script in MLflow’s Python', () => {
  it('compiles (python -m py_compile)', async () => {
    // The bytecode goes to a temporary folder, never into the package's python/.
    const cache = await tempDir();
    const r = await execa(venvPython, ['-I', '-X', `pycache_prefix=${cache}`, '-m', 'py_compile', SCRIPT], {
      reject: false,
    });
    await removeDir(cache);
    expect(r.exitCode, r.stderr).toBe(0);
  });

  it('its fast path takes only alembic’s head for a head, over every revision MLflow has', async () => {
    const r = JSON.parse(await fixture('leaves', SCRIPT)) as { count: number; leaves: string[]; heads: string[] };
    expect(r.count).toBeGreaterThan(30);
    expect(r.heads).toHaveLength(1);
    expect(r.leaves).toEqual(r.heads);
  });

  it('a new database (no file, or no alembic_version table) has no revision', async () => {
    const dir = await tempDir();
    try {
      expect(await probe(path.join(dir, 'none.db'))).toEqual({ ok: true, revision: null, head: null, known: false });
      await fixture('create', path.join(dir, 'x.db'));
      // A SQLite file of something else: MLflow would only add its tables.
      const other = path.join(dir, 'other.db');
      await execa(venvPython, [
        '-I',
        '-c',
        'import sqlite3,sys; sqlite3.connect(sys.argv[1]).execute("create table t(x)")',
        other,
      ]);
      expect(await probe(other)).toEqual({ ok: true, revision: null, head: null, known: false });
    } finally {
      await removeDir(dir);
    }
  });

  it('a copy includes what is still only in the -wal file, taken while a writer holds the database open', async () => {
    const dir = await tempDir();
    try {
      const db = path.join(dir, 'wal.db');
      const copy = path.join(dir, 'copy.db');
      const r = JSON.parse(await fixture('walcopy', SCRIPT, db, copy)) as {
        answer: unknown;
        rows: string[];
        wal_bytes: number;
        plain_tables: string[];
      };
      expect(r.plain_tables).toEqual([]);
      expect(r.wal_bytes).toBeGreaterThan(0);
      expect(r.answer).toMatchObject({ ok: true, path: copy, revision: 'abc123' });
      expect(r.rows).toEqual(['in-the-wal']);
      expect(await fs.readdir(dir)).not.toContain('copy.db.partial');
    } finally {
      await removeDir(dir);
    }
  });
});

describe('up on a database MLflow would migrate', () => {
  let cwd: string;
  let db: string;
  let backups: string;
  let head: string;
  let old: string;
  beforeAll(async () => {
    cwd = await tempDir();
    db = path.join(cwd, 'data', 'mlflow.db');
    backups = `${db}.backups`;
    await fs.mkdir(path.dirname(db));
    await fixture('create', db);
    head = await fixture('revision', db);
    await fixture('downgrade', db, '3');
    old = await fixture('revision', db);
  });
  afterAll(async () => {
    await cli(['down'], { cwd });
    await removeDir(cwd);
  });

  it('doctor reports the pending migration', async () => {
    expect(old).not.toBe(head);
    const r = await cli(['doctor', '--backend-store-uri', db], { cwd });
    expect(r.stdout).toContain(
      `i  a migration is pending: MLflow 3.17.2 will migrate the backend and registry store ${db} from schema revision ${old} to ${head}; up keeps a copy first in ${backups}`,
    );
  });

  it('keeps a copy with the old revision and the rows, says where in one line, keeps the newest 3; MLflow migrates the live one', async () => {
    // Copies of earlier starts (and a file of the user's) in the folder already.
    await fs.mkdir(backups);
    const earlier = ['20240101T000000-000Z', '20250101T000000-000Z', '20260101T000000-000Z'].map(
      (t) => `mlflow-${t}-${old}.db`,
    );
    for (const name of [...earlier, 'keep-me.db']) await fs.writeFile(path.join(backups, name), 'x');

    const up = await cli(['up', '-d', '--port', 'auto', '--workers', '1', '--jobs', 'off', '--backend-store-uri', db], {
      cwd,
      env: { MLFLOW_SECURE_PASSWORD: PASSWORD },
    });
    await cli(['down'], { cwd });
    expect(up.exitCode, up.stderr).toBe(0);
    const lines = up.stderr.split('\n').filter((l) => l.includes('a copy was kept'));
    expect(lines).toHaveLength(1);
    const m = new RegExp(
      `^Before MLflow 3\\.17\\.2 migrates ${db.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(schema ${old} -> ${head}\\), a copy was kept: (\\S+) \\(the last 3 are kept\\)\\.$`,
    ).exec(lines[0]!);
    expect(m, lines[0]).not.toBeNull();
    const copy = m![1]!;
    expect(path.dirname(copy)).toBe(backups);
    expect(await fixture('revision', copy)).toBe(old);
    expect(JSON.parse(await fixture('experiments', copy))).toContain('made-before');
    expect((await fs.stat(copy)).mode & 0o077).toBe(0);
    expect(await fixture('revision', db)).toBe(head);
    expect((await fs.readdir(backups)).sort()).toEqual(
      ['.gitignore', 'keep-me.db', earlier[1]!, earlier[2]!, path.basename(copy)].sort(),
    );
    expect(await fs.readFile(path.join(backups, '.gitignore'), 'utf8')).toBe('*\n');
  });

  it('a second up on the migrated (head) database keeps no copy', async () => {
    const before = (await fs.readdir(backups)).sort();
    const up = await cli(['up', '-d', '--port', 'auto', '--workers', '1', '--jobs', 'off', '--backend-store-uri', db], {
      cwd,
      env: { MLFLOW_SECURE_PASSWORD: PASSWORD },
    });
    await cli(['down'], { cwd });
    expect(up.exitCode, up.stderr).toBe(0);
    expect(up.stderr).not.toContain('a copy was kept');
    expect((await fs.readdir(backups)).sort()).toEqual(before);
    expect(await stackProcesses(path.join(cwd, '.mlflow-secure'))).toEqual([]);
  });
});

describe.skipIf(!initdb)('up on a PostgreSQL database MLflow would migrate (a real cluster)', () => {
  const DB_PASSWORD = `Pg-${Math.random().toString(36).slice(2)}-s3cret`;
  let cluster: PgCluster;
  let cwd: string;
  let uri: string;
  let head: string;
  let old: string;
  beforeAll(async () => {
    cluster = await startPgCluster(initdb!);
    await cluster.psql(
      [`CREATE ROLE mlflow LOGIN PASSWORD '${DB_PASSWORD}';`, 'CREATE DATABASE mlflow OWNER mlflow;'].join('\n'),
    );
    uri = `postgresql://mlflow:${DB_PASSWORD}@127.0.0.1:${cluster.port}/mlflow`;
    cwd = await tempDir();
    const env = { FIXTURE_DB_URI: uri };
    await fixtureWith(env, 'create', 'env', path.join(cwd, 'x'));
    head = await fixtureWith(env, 'revision', 'env');
    await fixtureWith(env, 'downgrade', 'env', '3');
    old = await fixtureWith(env, 'revision', 'env');
  }, 180_000);
  afterAll(async () => {
    if (cwd) {
      await cli(['down'], { cwd });
      await removeDir(cwd);
    }
    await cluster?.stop();
  });

  it('doctor and up name the pg_dump to run (no password) and refuse; up --migrate lets MLflow migrate it', async () => {
    expect(old).not.toBe(head);
    const masked = `postgresql://mlflow:********@127.0.0.1:${cluster.port}/mlflow`;
    const dump = `pg_dump --format=custom --file=mlflow-${old}.dump postgresql://mlflow@127.0.0.1:${cluster.port}/mlflow`;
    const doctor = await cli(['doctor', '--backend-store-uri', uri], { cwd });
    expect(doctor.stdout).toContain(
      `FAIL  a migration is pending: MLflow 3.17.2 would migrate the backend and registry store ${masked} from schema revision ${old} to ${head}`,
    );
    expect(doctor.stdout).toContain(`fix: Back it up first (${dump}), then run again with --migrate`);

    const args = ['up', '-d', '--port', 'auto', '--workers', '1', '--jobs', 'off', '--backend-store-uri', uri];
    const refused = await cli(args, { cwd, env: { MLFLOW_SECURE_PASSWORD: 'pg-admin-Pw-12345' } });
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr.trim().split('\n').at(-1)).toBe(
      `error: MLflow 3.17.2 would migrate the backend and registry store ${masked} from schema revision ${old} to ${head}, and an older MLflow cannot use it after that. Back it up first (${dump}), then run again with --migrate`,
    );
    expect(`${doctor.stdout}${doctor.stderr}${refused.stdout}${refused.stderr}`).not.toContain(DB_PASSWORD);
    expect(await stackProcesses(path.join(cwd, '.mlflow-secure'))).toEqual([]);
    expect(await fixtureWith({ FIXTURE_DB_URI: uri }, 'revision', 'env')).toBe(old);

    const migrated = await cli([...args, '--migrate'], { cwd, env: { MLFLOW_SECURE_PASSWORD: 'pg-admin-Pw-12345' } });
    expect(migrated.exitCode, migrated.stderr).toBe(0);
    expect(migrated.stderr).toContain(
      `MLflow 3.17.2 migrates the backend and registry store ${masked} from schema revision ${old} to ${head} (--migrate).`,
    );
    expect(await fixtureWith({ FIXTURE_DB_URI: uri }, 'revision', 'env')).toBe(head);
  });

  it('restart refuses before it stops the running stack; restart --migrate goes ahead', async () => {
    // As if the MLflow in the venv had been upgraded under the running stack: its database is behind again.
    await fixtureWith({ FIXTURE_DB_URI: uri }, 'downgrade', 'env', '1');
    const behind = await fixtureWith({ FIXTURE_DB_URI: uri }, 'revision', 'env');
    expect(behind).not.toBe(head);
    const stateDir = path.join(cwd, '.mlflow-secure');
    const running = (await stackProcesses(stateDir)).map((p) => p.pid).sort();
    expect(running.length).toBeGreaterThan(0);
    const refused = await cli(['restart', '--backend-store-uri', uri, '--registry-store-uri', uri], { cwd });
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr.trim().split('\n').at(-1)).toMatch(
      new RegExp(
        `^error: MLflow 3\\.17\\.2 would migrate .* from schema revision ${behind} to ${head}, and an older MLflow cannot use it after that; the running stack was left as it is\\. Back it up first \\(pg_dump .*\\), then run again with --migrate$`,
      ),
    );
    expect(refused.stderr).not.toContain(DB_PASSWORD);
    expect((await stackProcesses(stateDir)).map((p) => p.pid).sort()).toEqual(running);
    const restarted = await cli(['restart', '--backend-store-uri', uri, '--registry-store-uri', uri, '--migrate'], {
      cwd,
    });
    await cli(['down'], { cwd });
    expect(restarted.exitCode, restarted.stderr).toBe(0);
    expect(await fixtureWith({ FIXTURE_DB_URI: uri }, 'revision', 'env')).toBe(head);
  });
});
