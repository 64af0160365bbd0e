/**
 * `up --permissions`: nginx checks the password, MLflow's own auth app (`--app-name basic-auth`)
 * decides what the signed-in user may do. Pure: options in; the auth app's ini, MLflow's
 * environment and the state folder's file names out.
 *
 * The name reaches MLflow in a header that only our nginx can make believable: nginx sets it
 * (overwriting the client's) after auth_basic passed, next to a random per-run secret that MLflow
 * gets through its environment; python/mlflow_secure_auth.py checks the secret in constant time
 * and refuses everything else (nginx/conf.ts, permissionHeaderLines).
 */
import { fileURLToPath } from 'node:url';
import { UserError } from '../errors.js';
import type { Platform } from '../system/platform.js';

export const PERMISSIONS = ['READ', 'EDIT', 'MANAGE', 'NO_PERMISSIONS'] as const;
export type Permission = (typeof PERMISSIONS)[number];
/** A team sees everything and writes only where it was granted (MLflow's own default too). */
export const DEFAULT_PERMISSION: Permission = 'READ';

/** The headers nginx sets on every proxied request, read by python/mlflow_secure_auth.py. */
export const USER_HEADER = 'X-MLflow-Secure-User';
export const SECRET_HEADER = 'X-MLflow-Secure-Secret';
/** A script's token (`token create`), set by nginx only on the API paths that skipped auth_basic. */
export const TOKEN_HEADER = 'X-MLflow-Secure-Token';
/** The token's user, answered by the function for nginx's access log (hidden from the client). */
export const TOKEN_USER_HEADER = 'X-MLflow-Secure-Token-User';
/** MLflow's environment variable for the secret (never argv: /proc/<pid>/cmdline is public). */
export const SECRET_ENV = 'MLFLOW_SECURE_AUTH_SECRET';
/** The `module:function` MLflow imports as its authorization_function. */
export const AUTHORIZATION_FUNCTION = 'mlflow_secure_auth:authenticate';

/** The folder of our Python modules, put on MLflow's path (package.json ships python/*.py). */
export const PYTHON_DIR = fileURLToPath(new URL('../../python/', import.meta.url));

export interface PermissionsSetting {
  defaultPermission: Permission;
}

export function parsePermission(value: string, flag: string): Permission {
  const upper = value.toUpperCase();
  if (!(PERMISSIONS as readonly string[]).includes(upper))
    throw new UserError(`${flag} must be one of ${PERMISSIONS.join(', ')}, got '${value}'`, {
      hint: `e.g. ${flag} READ (everyone reads, writes only where granted)`,
    });
  return upper as Permission;
}

/** --permissions and --default-permission, validated; undefined when permissions are off. */
export function resolvePermissions(o: {
  permissions?: boolean;
  defaultPermission?: string;
  upstream?: string;
}): PermissionsSetting | undefined {
  if (!o.permissions) {
    if (o.defaultPermission !== undefined)
      throw new UserError('--default-permission has no effect without --permissions', {
        hint: 'Add --permissions, or leave out --default-permission',
      });
    return undefined;
  }
  // The user's MLflow runs its own app: it cannot get our authorization function, so nothing
  // would tell it who signed in, and every user would stay an administrator there.
  if (o.upstream !== undefined)
    throw new UserError(
      `--permissions needs the MLflow that mlflow-secure starts: your MLflow at ${o.upstream} cannot check who signed in at nginx`,
      { hint: 'Leave out --upstream (mlflow-secure starts MLflow), or leave out --permissions' },
    );
  return { defaultPermission: parsePermission(o.defaultPermission ?? DEFAULT_PERMISSION, '--default-permission') };
}

export interface AuthPaths {
  /** MLflow's auth database (SQLite): users, admins, grants. Its presence means permissions were on. */
  db: string;
  /** The auth app's ini (MLFLOW_AUTH_CONFIG_PATH), rewritten on every `up --permissions`. */
  ini: string;
  /** The name MLflow bootstrapped as its first admin (one line), kept across starts. */
  admin: string;
}

/**
 * In the state folder, beside the password file, whatever the backend store is. The users are
 * the password file's: the two stay in step under one lock in one folder. A server database
 * (PostgreSQL) may be shared with other MLflow servers, which have their own users and would
 * read these grants as theirs; and the auth app's tables would share its schema.
 */
export function authPaths(stateDir: string, platform: Platform): AuthPaths {
  const j = platform.path.join;
  return { db: j(stateDir, 'mlflow-auth.db'), ini: j(stateDir, 'mlflow-auth.ini'), admin: j(stateDir, 'mlflow-admin') };
}

/** An absolute path as a SQLite URI SQLAlchemy reads (three slashes, forward slashes). */
export function sqliteUri(file: string, windows: boolean): string {
  return windows ? `sqlite:///${file.replace(/\\/g, '/')}` : `sqlite:///${file}`;
}

/**
 * The auth app's ini (mlflow/server/auth/config.py, read_auth_config). configparser interpolates
 * `%`, so it is doubled; a line break cannot be written at all. No admin password here: MLflow
 * reads it from MLFLOW_AUTH_ADMIN_PASSWORD. auth_cache_ttl_seconds 0: MLflow's cache is for its
 * own password check, which never runs (nginx checks the password).
 */
export function renderAuthIni(o: { defaultPermission: Permission; databaseUri: string }): string {
  if (/[\r\n]/.test(o.databaseUri))
    throw new UserError(`the state folder's path has a line break, which MLflow's auth configuration cannot hold`, {
      hint: 'Use another --state-dir',
    });
  return [
    '# Generated by mlflow-secure up --permissions; rewritten on every start. Do not edit.',
    '[mlflow]',
    `default_permission = ${o.defaultPermission}`,
    `database_uri = ${o.databaseUri.replace(/%/g, '%%')}`,
    `authorization_function = ${AUTHORIZATION_FUNCTION}`,
    'grant_default_workspace_access = false',
    'auth_cache_ttl_seconds = 0',
    '',
  ].join('\n');
}

/**
 * MLflow's environment for the auth app. The admin named here is created by MLflow (with
 * `adminPassword`, random, never shown: nobody signs in to MLflow itself) only when its table
 * has no such user, i.e. on the first start; `up` keeps that first name (AuthPaths.admin), so a
 * later `up --user carol` never makes carol an admin. MLFLOW_FLASK_SERVER_SECRET_KEY: the auth
 * app refuses to start with several workers without one (CSRF of its sign-up form).
 */
export function permissionsEnv(o: {
  iniPath: string;
  secret: string;
  adminUser: string;
  adminPassword: string;
  flaskSecret: string;
  pythonDir: string;
}): Record<string, string> {
  return {
    MLFLOW_AUTH_CONFIG_PATH: o.iniPath,
    MLFLOW_AUTH_ADMIN_USERNAME: o.adminUser,
    MLFLOW_AUTH_ADMIN_PASSWORD: o.adminPassword,
    MLFLOW_FLASK_SERVER_SECRET_KEY: o.flaskSecret,
    [SECRET_ENV]: o.secret,
    // So that MLflow can import AUTHORIZATION_FUNCTION (in every uvicorn worker), without
    // writing a __pycache__ into the package's folder.
    PYTHONPATH: o.pythonDir,
    PYTHONDONTWRITEBYTECODE: '1',
    // MLflow's own default since 3.16, explicit so an inherited value cannot turn it off.
    MLFLOW_BASIC_AUTH_FAIL_CLOSED: 'true',
  };
}
