/**
 * MLflow's user table and grants (the auth database of `up --permissions`), changed through
 * MLflow's own store in MLflow's Python (python/mlflow_secure_users.py): it works whether the
 * stack runs or not, and the auth app reads the tables on every request, so a change counts at once.
 */
import { promises as fs } from 'node:fs';
import nodePath from 'node:path';
import { z } from 'zod';
import type { Context } from '../context.js';
import { UserError } from '../errors.js';
import type { CommandSpec } from '../system/platform.js';
import { runOnce } from '../system/run-once.js';
import { lookupMlflow, requireFound } from '../system/tools.js';
import { findMlflowPython } from '../stores/run-checks.js';
import { pythonScriptPath } from '../mlflow/python-scripts.js';
import { authPaths, sqliteUri, type AuthPaths } from '../stack/permissions.js';
import { PASSWORD_ENV } from './password.js';

const USERS_SCRIPT = pythonScriptPath('mlflow_secure_users');

const REQUEST_ENV = 'MLFLOW_SECURE_REQUEST';
/** Importing MLflow's auth app takes 3 s on a quiet machine; a busy one, several times that. */
const TIMEOUT_MS = 120_000;

export interface MlflowUser {
  username: string;
  is_admin: boolean;
}

export interface Grant {
  user: string;
  kind: 'experiment' | 'registered-model';
  resource: string;
  permission: string;
}

const Answer = z.looseObject({ ok: z.boolean(), error: z.string().optional(), kind: z.string().optional() });
const UsersAnswer = z.object({ users: z.array(z.object({ username: z.string(), is_admin: z.boolean() })) });
const GrantsAnswer = z.object({
  grants: z.array(
    z.object({
      user: z.string(),
      kind: z.enum(['experiment', 'registered-model']),
      resource: z.string(),
      permission: z.string(),
    }),
  ),
});

/** Whether the state folder has had `up --permissions` (its auth database exists). */
export async function permissionsOn(stateDir: string, ctx: Pick<Context, 'platform'>): Promise<AuthPaths | undefined> {
  const paths = authPaths(stateDir, ctx.platform);
  const st = await fs.lstat(paths.db).catch(() => undefined);
  return st?.isFile() ? paths : undefined;
}

/** MLflow's user table has no such user (or grant). */
export class NotInMlflowTable extends UserError {}

export class MlflowUsers {
  private constructor(
    private readonly python: CommandSpec,
    private readonly databaseUri: string,
    private readonly ctx: Pick<Context, 'env' | 'platform'>,
  ) {}

  /** MLflow's Python (the `mlflow` up would run: --mlflow, MLFLOW_SECURE_MLFLOW, the usual places). */
  static async open(
    auth: AuthPaths,
    ctx: Pick<Context, 'env' | 'platform' | 'cwd'>,
    given?: string | CommandSpec,
  ): Promise<MlflowUsers> {
    const mlflow =
      typeof given === 'object'
        ? given
        : requireFound(
            await lookupMlflow({ flag: given, env: ctx.env, cwd: ctx.cwd, platform: ctx.platform }),
            'MLflow',
            ctx.platform,
          );
    const python = await findMlflowPython(mlflow, ctx.platform);
    if (!python)
      throw new UserError(`no Python beside ${mlflow.file} to change MLflow's user table with`, {
        hint: 'Pass the MLflow that `up --permissions` runs with --mlflow <path>',
      });
    return new MlflowUsers(python, sqliteUri(auth.db, ctx.platform.isWindows), ctx);
  }

  async request(op: string, fields: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    const env: NodeJS.ProcessEnv = {
      ...this.ctx.env,
      [REQUEST_ENV]: JSON.stringify({ database_uri: this.databaseUri, op, ...fields }),
    };
    delete env[PASSWORD_ENV];
    // -I: nothing from the working folder or PYTHON* variables on the path (python-cwd.ts).
    // -B: no __pycache__ in the package's folder.
    const r = await runOnce(this.python.file, [...this.python.args, '-I', '-B', USERS_SCRIPT], {
      env,
      cwd: nodePath.dirname(USERS_SCRIPT),
      timeoutMs: TIMEOUT_MS,
    });
    const last = r.stdout.trim().split(/\r?\n/).at(-1) ?? '';
    let parsed: unknown;
    try {
      parsed = JSON.parse(last);
    } catch {
      parsed = undefined;
    }
    const answer = Answer.safeParse(parsed);
    if (!answer.success) {
      const why = r.exitCode === undefined ? (r.error ?? 'did not run') : r.stderr.trim().split(/\r?\n/).at(-1);
      throw new UserError(`could not change MLflow's user table with ${this.python.file}: ${why}`, {
        hint: "Check that this is the MLflow `up --permissions` runs, with its auth extra (pip install 'mlflow[auth]')",
      });
    }
    if (!answer.data.ok) {
      if (answer.data.kind === 'not_found') throw new NotInMlflowTable(answer.data.error ?? 'not found');
      throw new UserError(`MLflow's user table refused: ${answer.data.error ?? 'unknown error'}`);
    }
    return answer.data;
  }

  async list(): Promise<MlflowUser[]> {
    return UsersAnswer.parse(await this.request('list')).users;
  }

  /** Creates the row (or sets its admin flag); returns how to undo it. */
  async add(username: string, isAdmin: boolean): Promise<() => Promise<void>> {
    const r = z
      .object({ created: z.boolean(), was_admin: z.boolean().optional() })
      .parse(await this.request('add', { username, is_admin: isAdmin }));
    return async () => {
      await this.request('undo-add', { username, created: r.created, was_admin: r.was_admin ?? false });
    };
  }

  async remove(username: string): Promise<void> {
    await this.request('remove', { username });
  }

  async grant(
    op: 'grant' | 'revoke',
    g: Omit<Grant, 'permission'> & { permission?: string },
    tracking: { uri: string; shown: string },
  ): Promise<{ resource: string; existed: boolean }> {
    const answer = await this.request(op, {
      username: g.user,
      kind: g.kind,
      resource: g.resource,
      permission: g.permission,
      tracking_uri: tracking.uri,
      tracking_uri_shown: tracking.shown,
    });
    return z.object({ resource: z.string(), existed: z.boolean() }).parse(answer);
  }

  async grants(user?: string): Promise<Grant[]> {
    return GrantsAnswer.parse(await this.request('grants', user ? { username: user } : {})).grants;
  }
}
