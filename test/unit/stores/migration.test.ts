/**
 * Before MLflow migrates its database: which databases count, what a probe answer means, how
 * copies are named and which go, the dump command for a server database (never its password),
 * and `up`'s refusal without --migrate (the probe faked). The real runs are
 * test/e2e/db-migration.test.ts.
 */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import nodePath from 'node:path';
import { describe, expect, it } from 'vitest';
import { startMigrationCheck } from '../../../src/stores/run-migration.js';
import { UserError } from '../../../src/errors.js';
import { createOutput } from '../../../src/log.js';
import { getPlatform } from '../../../src/system/platform.js';
import {
  BackupAnswer,
  backupFileName,
  backupsToRemove,
  dumpCommand,
  migrationTargets,
  parseAnswer,
  ProbeAnswer,
  verdictOf,
} from '../../../src/stores/migration.js';
import { resolveSettings } from '../../../src/stack/settings.js';
import type { RunResult } from '../../../src/system/run-once.js';
import { sink } from '../sink.js';

const linux = getPlatform('linux');
const win32 = getPlatform('win32');
const PG = 'postgresql+psycopg://mlflow:S3cret-pw@db.example:5432/mlflow?sslmode=require';

function settings(o: { backendStoreUri?: string; registryStoreUri?: string }, platform = linux) {
  return resolveSettings(o, { cwd: platform.isWindows ? 'C:\\work' : '/work', platform });
}

describe('migrationTargets', () => {
  it('the default SQLite file, a server database, and the registry only when it is another database', () => {
    expect(migrationTargets(settings({}))).toEqual([
      {
        kind: 'sqlite',
        role: 'backend and registry store',
        flag: '--backend-store-uri',
        path: '/work/mlflow.db',
        uri: 'sqlite:////work/mlflow.db',
      },
    ]);
    expect(migrationTargets(settings({ backendStoreUri: PG })).map((t) => [t.kind, t.role])).toEqual([
      ['server', 'backend and registry store'],
    ]);
    expect(
      migrationTargets(settings({ backendStoreUri: '/work/runs', registryStoreUri: 'reg.db' })).map((t) => [
        t.kind,
        t.role,
      ]),
    ).toEqual([['sqlite', 'registry store']]);
    expect(migrationTargets(settings({ backendStoreUri: 'C:\\data\\m.db' }, win32))).toMatchObject([
      { kind: 'sqlite', path: 'C:\\data\\m.db' },
    ]);
  });
});

describe('the probe answer', () => {
  it('is validated: a revision that is not an alembic id (terminal escapes from a database) is no answer', () => {
    expect(
      parseAnswer(
        'noise\n{"ok": true, "revision": "17e22815139b", "head": "dc11669786a5", "known": true}\n',
        ProbeAnswer,
      ),
    ).toEqual({
      ok: true,
      revision: '17e22815139b',
      head: 'dc11669786a5',
      known: true,
    });
    expect(
      parseAnswer('{"ok": true, "revision": "\\u001b[2J", "head": "dc11669786a5", "known": true}', ProbeAnswer),
    ).toBeUndefined();
    expect(parseAnswer('Traceback (most recent call last):', ProbeAnswer)).toBeUndefined();
    expect(parseAnswer('{"ok": true, "path": "/x", "bytes": -1, "revision": null}', BackupAnswer)).toBeUndefined();
  });

  it('new or at the head: nothing; behind: migrate; a revision MLflow does not know: unknown', () => {
    expect(verdictOf({ ok: true, revision: null, head: null, known: false })).toEqual({ action: 'none' });
    expect(verdictOf({ ok: true, revision: 'aaa', head: 'aaa', known: true })).toEqual({ action: 'none' });
    expect(verdictOf({ ok: true, revision: 'aaa', head: 'bbb', known: true })).toEqual({
      action: 'migrate',
      revision: 'aaa',
      head: 'bbb',
    });
    expect(verdictOf({ ok: true, revision: 'zzz', head: 'bbb', known: false })).toEqual({
      action: 'unknown',
      revision: 'zzz',
      head: 'bbb',
    });
  });
});

describe('backup names and retention', () => {
  const at = new Date('2026-12-01T23:59:54.233Z');
  it('names sort by age and keep the extension', () => {
    expect(backupFileName('/work/mlflow.db', '17e22815139b', at, linux)).toBe(
      'mlflow-20261201T235954-233Z-17e22815139b.db',
    );
    expect(backupFileName('C:\\data\\track.sqlite', 'abc', at, win32)).toBe('track-20261201T235954-233Z-abc.sqlite');
    expect(backupFileName('/work/store', 'abc', at, linux)).toBe('store-20261201T235954-233Z-abc.db');
  });

  it('keeps the newest N of its own copies; never touches anything else', () => {
    const names = [
      '.gitignore',
      'mlflow-20261201T235954-233Z-aaa.db',
      'mlflow-20250101T000000-000Z-bbb.db',
      'mlflow-20261130T120000-000Z-ccc.db',
      'mlflow-20261201T000000-000Z-ddd.db',
      'mlflow-20240101T000000-000Z-eee.db.partial',
      'other-20200101T000000-000Z-aaa.db',
      'my-notes.db',
    ];
    expect(backupsToRemove(names, '/work/mlflow.db', 3, linux)).toEqual(['mlflow-20250101T000000-000Z-bbb.db']);
    expect(backupsToRemove(names, '/work/mlflow.db', 1, linux).sort()).toEqual([
      'mlflow-20250101T000000-000Z-bbb.db',
      'mlflow-20261130T120000-000Z-ccc.db',
      'mlflow-20261201T000000-000Z-ddd.db',
    ]);
  });
});

describe('dumpCommand', () => {
  it('pg_dump with the URI minus its password and driver; mysqldump asks for the password', () => {
    expect(dumpCommand(PG, 'abc')).toBe(
      "pg_dump --format=custom --file=mlflow-abc.dump 'postgresql://mlflow@db.example:5432/mlflow?sslmode=require'",
    );
    expect(dumpCommand('postgresql://u:p@h/db?password=p&sslmode=require', 'abc')).toBe(
      "pg_dump --format=custom --file=mlflow-abc.dump 'postgresql://u@h/db?sslmode=require'",
    );
    expect(dumpCommand('mysql+pymysql://ana:pw@db.example:3306/mlflow', 'abc')).toBe(
      'mysqldump --single-transaction --routines --host=db.example --port=3306 --user=ana --password --result-file=mlflow-abc.sql mlflow',
    );
    expect(dumpCommand('mssql+pyodbc://u:p@h/db', 'abc')).toBeUndefined();
  });
});

describe('startMigrationCheck (the probe faked)', () => {
  const env = { HOME: '/home/ana', MLFLOW_SECURE_PASSWORD: 'stack-pw-1' };
  const isExecutable = async (f: string) => f === '/srv/venv/bin/mlflow' || f === '/srv/venv/bin/python';
  function context() {
    const err = sink();
    const out = createOutput(sink().stream, err.stream);
    return { ctx: { env, platform: linux, cwd: '/work', out, stdin: process.stdin, stderr: err.stream }, err };
  }
  const seen: { args: readonly string[]; env: NodeJS.ProcessEnv; cwd?: string }[] = [];
  const answer =
    (stdout: string) =>
    async (_f: string, args: readonly string[], o: { env?: NodeJS.ProcessEnv; cwd?: string }): Promise<RunResult> => {
      seen.push({ args, env: o.env!, cwd: o.cwd });
      return { exitCode: 0, stdout, stderr: '' };
    };
  const behind = '{"ok": true, "revision": "17e22815139b", "head": "dc11669786a5", "known": true, "version": "3.17.2"}';

  it('a server database behind MLflow: refused without --migrate, with the dump command and no password', async () => {
    const { ctx } = context();
    const check = startMigrationCheck(settings({ backendStoreUri: PG }), { mlflow: '/srv/venv/bin/mlflow' }, ctx, {
      isExecutable,
      run: answer(behind),
    });
    const error = await check.verified().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(UserError);
    const { message, hint } = error as UserError;
    expect(message).toBe(
      'MLflow 3.17.2 would migrate the backend and registry store postgresql+psycopg://mlflow:********@db.example:5432/mlflow?sslmode=require from schema revision 17e22815139b to dc11669786a5, and an older MLflow cannot use it after that',
    );
    expect(hint).toBe(
      "Back it up first (pg_dump --format=custom --file=mlflow-17e22815139b.dump 'postgresql://mlflow@db.example:5432/mlflow?sslmode=require'), then run again with --migrate",
    );
    expect(`${message}${hint}`).not.toContain('S3cret-pw');
    // The URI reached the probe through its environment, never argv; isolated, from a neutral folder.
    const last = seen.at(-1)!;
    expect(last.args.slice(0, 1)).toEqual(['-I']);
    expect(last.args[1]).toMatch(/[\\/]python[\\/]db_migration\.py$/);
    expect(last.args.join(' ')).not.toContain('S3cret-pw');
    expect(last.env.MLFLOW_SECURE_DB_URI).toBe(PG);
    expect(last.env.MLFLOW_SECURE_PASSWORD).toBeUndefined();
    expect(last.cwd).toMatch(/[\\/]python$/);
  });

  it('with --migrate: one line saying MLflow migrates it; at the head or new: nothing at all', async () => {
    const { ctx, err } = context();
    const allowed = startMigrationCheck(
      settings({ backendStoreUri: PG }),
      { mlflow: '/srv/venv/bin/mlflow', migrate: true },
      ctx,
      { isExecutable, run: answer(behind) },
    );
    await allowed.verified();
    await allowed.beforeMlflowStarts();
    expect(err.text()).toBe(
      'MLflow 3.17.2 migrates the backend and registry store postgresql+psycopg://mlflow:********@db.example:5432/mlflow?sslmode=require from schema revision 17e22815139b to dc11669786a5 (--migrate).\n',
    );
    for (const stdout of [
      '{"ok": true, "revision": "dc11669786a5", "head": "dc11669786a5", "known": true}',
      '{"ok": true, "revision": null, "head": null, "known": false}',
    ]) {
      const quiet = context();
      const check = startMigrationCheck(
        settings({ backendStoreUri: PG }),
        { mlflow: '/srv/venv/bin/mlflow' },
        quiet.ctx,
        {
          isExecutable,
          run: answer(stdout),
        },
      );
      await check.verified();
      await check.beforeMlflowStarts();
      expect(quiet.err.text()).toBe('');
    }
  });

  it('a probe that cannot run is a warning, never a refusal; a file store or a new SQLite file runs no probe', async () => {
    const { ctx, err } = context();
    const check = startMigrationCheck(settings({ backendStoreUri: PG }), { mlflow: '/srv/venv/bin/mlflow' }, ctx, {
      isExecutable,
      run: async () => ({ exitCode: 1, stdout: '', stderr: 'Segmentation fault\n' }),
    });
    await check.verified();
    expect(err.text()).toBe(
      'warning: could not read the schema revision of the backend and registry store postgresql+psycopg://mlflow:********@db.example:5432/mlflow?sslmode=require (exit 1: Segmentation fault)\n',
    );
    let runs = 0;
    const none = startMigrationCheck(settings({ backendStoreUri: '/work/runs' }), {}, context().ctx, {
      isExecutable,
      run: async () => (runs++, { exitCode: 0, stdout: '', stderr: '' }),
    });
    await none.verified();
    // A SQLite file that is not there yet is a new database: no Python is started for it.
    const fresh = startMigrationCheck(settings({ backendStoreUri: '/nonexistent/new.db' }), {}, context().ctx, {
      isExecutable,
      run: async () => (runs++, { exitCode: 0, stdout: '', stderr: '' }),
    });
    await fresh.verified();
    expect(runs).toBe(0);
  });

  it('a SQLite database behind MLflow: copied before MLflow starts, one line, the oldest copies go; a failed copy stops up', async () => {
    const dir = await mkdtemp(nodePath.join(os.tmpdir(), 'db-migration-unit-'));
    try {
      const db = nodePath.join(dir, 'mlflow.db');
      await writeFile(db, '');
      const folder = `${db}.backups`;
      const now = () => new Date('2026-12-01T23:59:54.233Z');
      const copy = nodePath.join(folder, 'mlflow-20261201T235954-233Z-17e22815139b.db');
      const runs: (NodeJS.ProcessEnv | undefined)[] = [];
      const run = async (_f: string, _a: readonly string[], o: { env?: NodeJS.ProcessEnv }): Promise<RunResult> => {
        runs.push(o.env);
        if (o.env?.MLFLOW_SECURE_DB_ACTION === 'probe') return { exitCode: 0, stdout: behind, stderr: '' };
        await writeFile(o.env!.MLFLOW_SECURE_DB_BACKUP!, 'copy');
        const answer = { ok: true, path: o.env!.MLFLOW_SECURE_DB_BACKUP, bytes: 4, revision: '17e22815139b' };
        return { exitCode: 0, stdout: JSON.stringify(answer), stderr: '' };
      };
      const { ctx, err } = context();
      const check = startMigrationCheck(settings({ backendStoreUri: db }), { mlflow: '/srv/venv/bin/mlflow' }, ctx, {
        isExecutable,
        run,
        now,
      });
      await check.verified();
      expect(runs).toHaveLength(1);
      const { mkdir } = await import('node:fs/promises');
      await mkdir(folder);
      for (const t of ['20240101T000000-000Z', '20250101T000000-000Z', '20260101T000000-000Z'])
        await writeFile(nodePath.join(folder, `mlflow-${t}-aaa.db`), 'old');
      await check.beforeMlflowStarts();
      expect(runs.at(-1)).toMatchObject({ MLFLOW_SECURE_DB_PATH: db, MLFLOW_SECURE_DB_BACKUP: copy });
      expect(err.text()).toBe(
        `Before MLflow 3.17.2 migrates ${db} (schema 17e22815139b -> dc11669786a5), a copy was kept: ${copy} (the last 3 are kept).\n`,
      );
      expect((await readdir(folder)).sort()).toEqual(
        [
          '.gitignore',
          'mlflow-20250101T000000-000Z-aaa.db',
          'mlflow-20260101T000000-000Z-aaa.db',
          'mlflow-20261201T235954-233Z-17e22815139b.db',
        ].sort(),
      );

      const full = context();
      const failing = startMigrationCheck(
        settings({ backendStoreUri: db }),
        { mlflow: '/srv/venv/bin/mlflow' },
        full.ctx,
        {
          isExecutable,
          now,
          run: async (_f, _a, o) =>
            o.env?.MLFLOW_SECURE_DB_ACTION === 'probe'
              ? { exitCode: 0, stdout: behind, stderr: '' }
              : {
                  exitCode: 0,
                  stdout:
                    '{"ok": false, "kind": "backup", "type": "OSError", "message": "[Errno 28] No space left on device"}',
                  stderr: '',
                },
        },
      );
      await failing.verified();
      await expect(failing.beforeMlflowStarts()).rejects.toThrow(
        `could not keep a copy of ${db} before MLflow migrates it (OSError: [Errno 28] No space left on device); nothing was started`,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
