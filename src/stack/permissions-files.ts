/**
 * `up --permissions` on disk and at start: this run's secrets, the auth app's ini and the first
 * admin's name in the state folder, and the proof that MLflow refuses whoever skips nginx.
 */
import { withEmptyDir } from '../mlflow/python-cwd.js';
import { pythonScriptText } from '../mlflow/python-scripts.js';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { UserError } from '../errors.js';
import { readTextIfExists, writeFileAtomic } from '../system/files.js';
import { request } from '../system/http.js';
import type { Context } from '../context.js';
import type { CommandSpec, Platform } from '../system/platform.js';
import { USER_NAME } from '../users/user-name.js';
import { mlflowDirect, type Check } from './health.js';
import { findMlflowPython } from '../stores/run-checks.js';
import { runOnce } from '../system/run-once.js';
import { authPaths, renderAuthIni, sqliteUri, SECRET_HEADER, USER_HEADER } from './permissions.js';
import type { Found, Plan } from './plan.js';
import type { Settings } from './settings.js';

const secret = () => randomBytes(32).toString('hex');

/**
 * This run's secrets. The admin MLflow bootstraps is the first `up --permissions`'s --user,
 * kept in the state folder: MLflow creates its admin only when its table lacks that name, so
 * naming a later --user would make that user an admin the first time MLflow meets them.
 */
export async function choosePermissionSecrets(
  settings: Settings,
  platform: Platform,
  out: { addSecret(secret: string): void },
): Promise<NonNullable<Found['permissions']>> {
  const file = authPaths(settings.stateDir, platform).admin;
  const kept = (await readTextIfExists(file, { ownerOnly: true }))?.trim();
  if (kept !== undefined && !USER_NAME.test(kept))
    throw new UserError(`${file} does not hold a user name mlflow-secure wrote`, {
      hint: `Put the name of MLflow's first admin in it (one line), or remove it to make --user that admin`,
    });
  const chosen = { secret: secret(), adminUser: kept ?? settings.user, adminPassword: secret(), flaskSecret: secret() };
  for (const s of [chosen.secret, chosen.adminPassword, chosen.flaskSecret]) out.addSecret(s);
  return chosen;
}

/**
 * The temporary probe user signed in through nginx, so the authorization function gave it a row
 * in MLflow's user table: removed with it (lifecycle/probe.ts says when). Throws
 * NotInMlflowTable when it has none (the proof never reached MLflow).
 */
export async function removeProbeRow(
  plan: Plan,
  mlflow: CommandSpec,
  name: string,
  ctx: Pick<Context, 'env' | 'platform' | 'cwd'>,
): Promise<void> {
  const { MlflowUsers } = await import('../users/mlflow-users.js');
  const auth = authPaths(plan.settings.stateDir, ctx.platform);
  await (await MlflowUsers.open(auth, ctx, mlflow)).remove(name);
}

/**
 * MLflow's auth app imports Flask-WTF (the `mlflow[auth]` extra); without it MLflow exits at
 * start with an ImportError in its log. Asked of MLflow's Python first (a fraction of a second),
 * so that `up` refuses in one line with nothing started.
 */
export async function checkAuthExtra(mlflow: CommandSpec, ctx: Pick<Context, 'env' | 'platform'>): Promise<void> {
  const python = await findMlflowPython(mlflow, ctx.platform);
  if (!python) return; // MLflow's own error at start says it then
  // As MLflow will import it (user site-packages included), from an empty folder (python-cwd.ts).
  const r = await withEmptyDir((cwd) =>
    runOnce(python.file, [...python.args, '-c', pythonScriptText('import_check'), 'flask_wtf'], {
      timeoutMs: 60_000,
      env: ctx.env,
      cwd,
    }),
  );
  if (r.exitCode !== 0 && /No module named 'flask_wtf'/.test(r.stderr))
    throw new UserError(`--permissions needs MLflow's auth extra (Flask-WTF), which ${python.file} does not have`, {
      hint: `Install it there: ${python.file} -m pip install 'mlflow[auth]' (or run mlflow-secure setup and use its MLflow)`,
    });
}

/** The auth app's ini (rewritten every start: --default-permission may change) and the admin's name. */
export async function writePermissionFiles(plan: Plan, platform: Platform): Promise<void> {
  const setting = plan.settings.permissions;
  const admin = plan.mlflow.env.MLFLOW_AUTH_ADMIN_USERNAME;
  if (!setting || admin === undefined) return;
  const paths = authPaths(plan.settings.stateDir, platform);
  const ini = renderAuthIni({
    defaultPermission: setting.defaultPermission,
    databaseUri: sqliteUri(paths.db, platform.isWindows),
  });
  await writeFileAtomic(paths.ini, ini, 0o600);
  // Made here, empty and owner-only, so that MLflow's SQLite (which takes an empty file as a new
  // database) does not create it with the umask's 0644.
  await fs.writeFile(paths.db, '', { flag: 'wx', mode: 0o600 }).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EEXIST') throw error;
  });
  if ((await readTextIfExists(paths.admin, { ownerOnly: true })) === undefined)
    await writeFileAtomic(paths.admin, `${admin}\n`, 0o600);
}

/**
 * MLflow reached past nginx (its socket or port), with a name and a guessed secret: refused.
 * Proves at every start that the authorization function is the one MLflow runs.
 */
export async function provePermissions(plan: Plan): Promise<Check[]> {
  if (!plan.settings.permissions) return [];
  const name = 'MLflow reached directly, with a user name and a wrong secret -> 401';
  const r = await request({
    ...mlflowDirect(plan.mlflow),
    path: '/api/2.0/mlflow/experiments/search?max_results=1',
    headers: { [USER_HEADER]: plan.settings.user, [SECRET_HEADER]: secret() },
  }).catch((e: Error) => e);
  if (r instanceof Error) return [{ name, ok: false, detail: r.message }];
  return [{ name, ok: r.status === 401, detail: `${r.status}` }];
}
