/**
 * python/mlflow_secure_cache.py with MLflow's real auth store (MLflow's Python from ./.venv, a
 * SQLite file): --permissions keeps the auth store's answers while its database is unchanged,
 * and a change made anywhere counts from the next lookup on.
 */
import { execa } from 'execa';
import path from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { removeDir, root, tempDir, venvPython } from './helpers.js';

const CHECK = path.join(root, 'test', 'fixtures', 'auth_cache_check.py');
const PYTHON_DIR = path.join(root, 'python');

describe("MLflow's auth-store reads under --permissions", () => {
  const dirs: string[] = [];
  let dir: string;
  beforeEach(async () => {
    dir = await tempDir();
    dirs.push(dir);
  });
  afterAll(async () => {
    for (const d of dirs) await removeDir(d);
  });
  const check = async (c: string): Promise<Record<string, unknown>> => {
    const r = await execa(venvPython, [CHECK, PYTHON_DIR, dir, c], { reject: false, timeout: 120_000 });
    expect(r.exitCode, r.stderr).toBe(0);
    return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
  };

  it('asks the database once for a repeated question, and gives each caller its own copy', async () => {
    expect(await check('hits')).toEqual({
      wrapped: ['get_user', 'list_grants'],
      sessions: 2,
      grants_after_a_caller_changed_its_copy: [],
    });
  });

  it('sees a change made by another connection (another worker, `user remove`) at the next lookup', async () => {
    expect(await check('fresh')).toEqual({
      before: false,
      after_update_elsewhere: true,
      after_plain_sqlite_write: false,
      after_delete: 'MlflowException',
    });
  });

  it("leaves MLflow's methods as they are where it cannot tell a change (WAL, no SQLite file, no such method)", async () => {
    expect(await check('fallback')).toEqual({
      wal_wrapped: [],
      wal_sessions: 2,
      older_wrapped: ['get_user'],
      older_list_grants: true,
      no_engine_wrapped: [],
      no_engine_answer: 'x',
    });
  });
});
