import { describe, expect, it } from 'vitest';
import { buildPlan, SECRET_PLACEHOLDER, type Found } from '../../../src/stack/plan.js';
import { resolveSettings, type StackOptions } from '../../../src/stack/settings.js';
import {
  parsePermission,
  renderAuthIni,
  resolvePermissions,
  SECRET_ENV,
  SECRET_HEADER,
  sqliteUri,
  USER_HEADER,
} from '../../../src/stack/permissions.js';
import { getPlatform, type Platform } from '../../../src/system/platform.js';
import { restartOptions } from '../../../src/commands/restart.js';
import type { StackRecord } from '../../../src/stack/state.js';

const linux = getPlatform('linux');
const win32 = getPlatform('win32');
const SECRET = 'a'.repeat(64);

function found(overrides: Partial<Found> = {}): Found {
  return {
    mlflow: { file: '/home/ana/proj/.venv/bin/mlflow', args: [] },
    nginx: '/usr/sbin/nginx',
    nginxVersion: [1, 22, 1],
    mlflowPort: 5101,
    listenPort: 5000,
    who: { uid: 1000, username: 'ana' },
    permissions: { secret: SECRET, adminUser: 'ana', adminPassword: 'b'.repeat(64), flaskSecret: 'c'.repeat(64) },
    ...overrides,
  };
}

function planFor(options: StackOptions = {}, f: Partial<Found> = {}, platform: Platform = linux) {
  const cwd = platform.isWindows ? 'C:\\Users\\Ana\\proj' : '/home/ana/proj';
  return buildPlan(resolveSettings(options, { cwd, platform }), found(f), platform);
}

describe('--permissions and --default-permission', () => {
  it('are off by default, and --default-permission alone is refused', () => {
    expect(resolvePermissions({})).toBeUndefined();
    expect(() => resolvePermissions({ defaultPermission: 'EDIT' })).toThrow(/no effect without --permissions/);
  });

  it('default to READ and take any of the four, in any case', () => {
    expect(resolvePermissions({ permissions: true })).toEqual({ defaultPermission: 'READ' });
    expect(resolvePermissions({ permissions: true, defaultPermission: 'no_permissions' })).toEqual({
      defaultPermission: 'NO_PERMISSIONS',
    });
    expect(() => parsePermission('WRITE', '--default-permission')).toThrow(
      "--default-permission must be one of READ, EDIT, MANAGE, NO_PERMISSIONS, got 'WRITE'",
    );
  });

  it('refuse --upstream: that MLflow cannot run our authorization function', () => {
    expect(() => resolvePermissions({ permissions: true, upstream: 'http://127.0.0.1:5000' })).toThrow(
      /--permissions needs the MLflow that mlflow-secure starts/,
    );
  });

  it('refuse an MLflow older than 3.17', () => {
    expect(() => planFor({ permissions: true }, { mlflowVersion: '3.16.1' })).toThrow(
      '--permissions needs MLflow 3.17.0 or newer (this one is 3.16.1)',
    );
    expect(() => planFor({ permissions: true }, { mlflowVersion: '3.17.2' })).not.toThrow();
  });
});

describe('the plan with --permissions', () => {
  it("runs MLflow's auth app with our function; secrets in its environment, never in argv", () => {
    const plan = planFor({ permissions: true });
    expect(plan.mlflow.args.slice(0, 2)).toEqual(['ui', '--serve-artifacts']);
    expect(plan.mlflow.args.slice(-2)).toEqual(['--app-name', 'basic-auth']);
    const env = plan.mlflow.env;
    expect(env[SECRET_ENV]).toBe(SECRET);
    expect(env.MLFLOW_AUTH_CONFIG_PATH).toBe('/home/ana/proj/.mlflow-secure/mlflow-auth.ini');
    expect(env.MLFLOW_AUTH_ADMIN_USERNAME).toBe('ana');
    expect(env.MLFLOW_AUTH_ADMIN_PASSWORD!.length).toBeGreaterThanOrEqual(12);
    expect(env.MLFLOW_FLASK_SERVER_SECRET_KEY).toBe('c'.repeat(64));
    expect(env.PYTHONPATH).toMatch(/python\/$/);
    expect(plan.mlflow.args.join(' ')).not.toContain(SECRET);
    // Still on its Unix socket.
    expect(plan.mlflow.socket).toBe('/home/ana/proj/.mlflow-secure/mlflow.sock');
  });

  it('has nginx overwrite the user and secret headers, and leaves users/current to MLflow', () => {
    const conf = planFor({ permissions: true }).nginx.conf;
    expect(conf).toContain(`proxy_set_header ${USER_HEADER} $mlflow_secure_verified_user;`);
    expect(conf).toContain(`proxy_set_header ${SECRET_HEADER} "${SECRET}";`);
    expect(conf).not.toContain('location = /ajax-api/2.0/mlflow/users/current');
    expect(conf).toContain('proxy_set_header Authorization "";');
    // Every location that proxies sets both headers.
    const proxies = conf.split('proxy_pass').length - 1;
    expect(conf.split(`proxy_set_header ${SECRET_HEADER}`).length - 1).toBe(proxies);
  });

  it('holds on TCP too: --jobs on and Windows keep the headers and the secret', () => {
    for (const plan of [planFor({ permissions: true, jobs: 'on' }), planFor({ permissions: true }, {}, win32)]) {
      expect(plan.mlflow.socket).toBeUndefined();
      expect(plan.nginx.conf).toContain(`proxy_set_header ${SECRET_HEADER} "${SECRET}";`);
      expect(plan.mlflow.env[SECRET_ENV]).toBe(SECRET);
    }
    expect(planFor({ permissions: true }, {}, win32).mlflow.env.MLFLOW_AUTH_CONFIG_PATH).toBe(
      'C:\\Users\\Ana\\proj\\.mlflow-secure\\mlflow-auth.ini',
    );
  });

  it('shows placeholders, not secrets, when up did not choose them (config)', () => {
    const plan = planFor({ permissions: true }, { permissions: undefined });
    expect(plan.mlflow.env[SECRET_ENV]).toBe(SECRET_PLACEHOLDER);
    expect(plan.nginx.conf).toContain(`"${SECRET_PLACEHOLDER}"`);
  });

  it('changes nothing without --permissions', () => {
    const plan = planFor({});
    expect(plan.mlflow.args).not.toContain('--app-name');
    expect(Object.keys(plan.mlflow.env).filter((k) => k.startsWith('MLFLOW_AUTH') || k === SECRET_ENV)).toEqual([]);
    expect(plan.nginx.conf).not.toContain(SECRET_HEADER);
    expect(plan.nginx.conf).toContain('location = /ajax-api/2.0/mlflow/users/current');
  });
});

describe('renderAuthIni', () => {
  it("writes MLflow's keys, doubling % for configparser", () => {
    const ini = renderAuthIni({ defaultPermission: 'EDIT', databaseUri: sqliteUri('/home/a%b/mlflow-auth.db', false) });
    expect(ini).toContain('[mlflow]\n');
    expect(ini).toContain('default_permission = EDIT\n');
    expect(ini).toContain('database_uri = sqlite:////home/a%%b/mlflow-auth.db\n');
    expect(ini).toContain('authorization_function = mlflow_secure_auth:authenticate\n');
    expect(ini).toContain('auth_cache_ttl_seconds = 0\n');
    expect(ini).not.toMatch(/admin_password/);
  });

  it('refuses a line break, and writes Windows paths as SQLite wants', () => {
    expect(() => renderAuthIni({ defaultPermission: 'READ', databaseUri: 'sqlite:////a\nb' })).toThrow(/line break/);
    expect(sqliteUri('C:\\Users\\Ana\\.mlflow-secure\\mlflow-auth.db', true)).toBe(
      'sqlite:///C:/Users/Ana/.mlflow-secure/mlflow-auth.db',
    );
  });
});

describe('restart keeps --permissions', () => {
  const record: StackRecord = {
    version: 2,
    phase: 'running',
    supervisorPid: null,
    startedAt: '2026-11-23T10:00:00.000Z',
    url: 'http://127.0.0.1:5123',
    publicUrls: [],
    user: 'alice',
    host: '127.0.0.1',
    port: 5123,
    mlflowPort: 40000,
    hash: 'bcrypt',
    backendStoreUri: 'sqlite:////srv/ml/mlflow.db',
    registryStoreUri: 'sqlite:////srv/ml/mlflow.db',
    artifactsDestination: '/srv/ml/artifacts',
    options: { serverNames: [], nginxWorkers: 2, timeoutSeconds: 90, permissions: 'NO_PERMISSIONS' },
  };

  it('with its default permission (a restart must not make everyone an admin), unless --no-permissions', () => {
    expect(restartOptions(record, {})).toMatchObject({ permissions: true, defaultPermission: 'NO_PERMISSIONS' });
    expect(restartOptions(record, { defaultPermission: 'EDIT' })).toMatchObject({ defaultPermission: 'EDIT' });
    const off = restartOptions(record, { permissions: false });
    expect(off.permissions).toBe(false);
    expect(off.defaultPermission).toBeUndefined();
    expect(
      restartOptions({ ...record, options: { ...record.options!, permissions: undefined } }, {}),
    ).not.toHaveProperty('permissions');
  });
});
