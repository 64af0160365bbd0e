import { describe, expect, it } from 'vitest';
import {
  mlflowVersionFindings,
  checkMlflowVersion,
  MLFLOW_DIFFERENCES,
  mlflowFeatures,
  NEWEST_TESTED,
  OLDEST_SUPPORTED,
  parseMlflowVersion,
} from '../../../src/mlflow/versions.js';
import { buildPlan, type Found } from '../../../src/stack/plan.js';
import { GUNICORN_SOCKET_NAME } from '../../../src/stack/state.js';
import { resolveSettings, type StackOptions } from '../../../src/stack/settings.js';
import { getPlatform, type Platform } from '../../../src/system/platform.js';
import { UserError } from '../../../src/errors.js';

const linux = getPlatform('linux');
const win32 = getPlatform('win32');

function planFor(mlflowVersion: string | undefined, options: StackOptions = {}, platform: Platform = linux) {
  const cwd = platform.isWindows ? 'C:\\Users\\Ana\\proj' : '/home/ana/proj';
  const found: Found = {
    mlflow: { file: '/home/ana/proj/.venv/bin/mlflow', args: [] },
    nginx: '/usr/sbin/nginx',
    nginxVersion: [1, 22, 1],
    mlflowPort: 5101,
    listenPort: 5000,
    who: { uid: 1000, username: 'ana' },
    ...(mlflowVersion !== undefined ? { mlflowVersion } : {}),
  };
  return buildPlan(resolveSettings(options, { cwd, platform }), found, platform);
}

describe('parseMlflowVersion', () => {
  it('reads releases, pre-releases and dev builds', () => {
    expect(parseMlflowVersion('3.17.2')).toEqual([3, 17, 2]);
    expect(parseMlflowVersion('2.22.1.dev0')).toEqual([2, 22, 1]);
    expect(parseMlflowVersion('3.5.0rc1')).toEqual([3, 5, 0]);
    expect(parseMlflowVersion('3.10')).toEqual([3, 10, 0]);
    expect(parseMlflowVersion('banana')).toBeUndefined();
  });
});

describe('the version table', () => {
  it('names a first version and a check for every difference', () => {
    for (const d of Object.values(MLFLOW_DIFFERENCES)) {
      expect(parseMlflowVersion(d.since)).toBeDefined();
      expect(d.checked).toMatch(/^(run|source): /);
    }
  });

  it('3.17.2 has everything, 3.4.0 uvicorn only, 2.22.1 none of it', () => {
    expect(mlflowFeatures('3.17.2')).toMatchObject({ securityMiddleware: true, uvicorn: true, jobs: true });
    expect(mlflowFeatures('3.4.0')).toMatchObject({ securityMiddleware: false, uvicorn: true, jobs: false });
    expect(mlflowFeatures('3.5.0')).toMatchObject({ securityMiddleware: true, jobs: true });
    expect(mlflowFeatures('2.22.1')).toMatchObject({
      securityMiddleware: false,
      uvicorn: false,
      jobs: false,
      workersOnWindows: false,
    });
    expect(mlflowFeatures('3.3.0')).toMatchObject({ uvicorn: true, workersOnWindows: true, jobs: false });
    expect(mlflowFeatures('3.2.1')).toMatchObject({ uvicorn: false, workersOnWindows: false });
    // 3.10 is newer than 3.9: numbers, not strings.
    expect(mlflowFeatures('3.10.0').securityMiddleware).toBe(true);
  });
});

describe('checkMlflowVersion', () => {
  it('refuses a version older than the range in one line naming both versions and setup', () => {
    let error: unknown;
    try {
      checkMlflowVersion('1.30.1', '/p/.venv/bin/mlflow');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UserError);
    const text = `${(error as UserError).message} ${(error as UserError).hint}`;
    expect(text).toContain('1.30.1');
    expect(text).toContain(OLDEST_SUPPORTED);
    expect(text).toContain('mlflow-secure setup');
    expect(text).not.toContain('\n');
    expect(() => checkMlflowVersion('2.22.0', 'm')).toThrow(UserError);
  });

  it('runs the range, warns once above the newest tested, and where MLflow is on TCP without a Host check', () => {
    // On POSIX every supported version is on a Unix socket (gunicorn's before 3.3): no warning.
    expect(checkMlflowVersion(OLDEST_SUPPORTED, 'm')).toEqual({});
    expect(checkMlflowVersion('3.2.0', 'm')).toEqual({});
    // On Windows (TCP) MLflow before 3.5 has no Host check: DNS rebinding reaches it.
    expect(checkMlflowVersion(OLDEST_SUPPORTED, 'm', { isWindows: true }).warning).toMatch(
      /2\.22\.1 listens on a loopback TCP port .*DNS rebinding/,
    );
    expect(checkMlflowVersion('3.2.0', 'm', { isWindows: true }).warning).toMatch(/Upgrade MLflow to 3\.5/);
    expect(checkMlflowVersion('3.4.0', 'm')).toEqual({});
    expect(checkMlflowVersion('3.4.0', 'm', { isWindows: true }).warning).toMatch(/DNS rebinding/);
    expect(checkMlflowVersion('3.5.0', 'm', { isWindows: true })).toEqual({});
    expect(checkMlflowVersion(NEWEST_TESTED, 'm')).toEqual({});
    expect(checkMlflowVersion('3.18.0', 'm').warning).toMatch(/3\.18\.0 is newer .*3\.17\.2/);
    expect(() => checkMlflowVersion('weird', 'm')).toThrow(UserError);
  });
});

describe('buildPlan per MLflow version', () => {
  it('3.17.2 (and an unread version): middleware flags, the Unix socket, jobs explicit', () => {
    for (const v of ['3.17.2', undefined]) {
      const plan = planFor(v);
      expect(plan.mlflow.args).toContain('--allowed-hosts');
      expect(plan.mlflow.socket).toBeDefined();
      expect(plan.mlflow.env.MLFLOW_UVICORN_OPTS).toContain('--uds');
      expect(plan.mlflow.env.MLFLOW_SERVER_ENABLE_JOB_EXECUTION).toBe('false');
    }
  });

  it('3.4.0: no middleware flags (it refuses them), the Unix socket, no jobs variable', () => {
    const plan = planFor('3.4.0');
    expect(plan.mlflow.args).not.toContain('--allowed-hosts');
    expect(plan.mlflow.args).not.toContain('--cors-allowed-origins');
    expect(plan.mlflow.socket).toBeDefined();
    expect(plan.mlflow.env.MLFLOW_UVICORN_OPTS).toContain('--uds');
    expect(plan.mlflow.env).not.toHaveProperty('MLFLOW_SERVER_ENABLE_JOB_EXECUTION');
    expect(plan.nginx.conf).toContain('unix:');
  });

  it("2.22.1 (gunicorn): no middleware flags, gunicorn's unix: bind named with the port, nginx on the link to it", () => {
    const plan = planFor('2.22.1');
    expect(plan.mlflow.args).not.toContain('--allowed-hosts');
    const host = plan.mlflow.args[plan.mlflow.args.indexOf('--host') + 1];
    expect(host).toBe('unix:/home/ana/proj/.mlflow-secure/mlflow-gunicorn.sock');
    // The port stays in argv: MLflow's command-line identity (stack.ts).
    expect(plan.mlflow.args.join(' ')).toContain('--port 5101');
    expect(plan.mlflow.socket).toBe('/home/ana/proj/.mlflow-secure/mlflow.sock');
    // gunicorn binds `<host>:<port>`; up links mlflow.sock to it, relative to the state folder.
    expect(plan.mlflow.socketLink).toBe('mlflow-gunicorn.sock:5101');
    expect(plan.mlflow.socketLink).toMatch(GUNICORN_SOCKET_NAME);
    expect(plan.mlflow.env).not.toHaveProperty('MLFLOW_UVICORN_OPTS');
    expect(plan.mlflow.args).toContain('--workers');
    expect(plan.nginx.conf).toContain('server "unix:/home/ana/proj/.mlflow-secure/mlflow.sock";');
    expect(plan.nginx.conf).not.toContain('127.0.0.1:5101');
    expect(planFor('3.2.0').mlflow.socketLink).toBe('mlflow-gunicorn.sock:5101');
    expect(planFor('3.3.0').mlflow).not.toHaveProperty('socketLink');
  });

  it("2.22.1: the socket-path limit counts gunicorn's real name, port included", () => {
    // 103 bytes fit: a state folder whose mlflow.sock fits but whose gunicorn name does not.
    const dir = `/${'d'.repeat(103 - 1 - '/mlflow-gunicorn.sock:5101'.length)}`;
    expect(Buffer.byteLength(`${dir}/mlflow-gunicorn.sock:5101`)).toBe(103);
    expect(() => planFor('2.22.1', { stateDir: dir })).not.toThrow();
    expect(() => planFor('3.17.2', { stateDir: `${dir}x` })).not.toThrow();
    expect(() => planFor('2.22.1', { stateDir: `${dir}x` })).toThrow(
      /mlflow-gunicorn\.sock:5101: 104 bytes, at most 103/,
    );
  });

  it('2.22.1 on Windows (waitress): no --workers, which it refuses there', () => {
    expect(planFor('2.22.1', {}, win32).mlflow.args).not.toContain('--workers');
    expect(planFor('3.17.2', {}, win32).mlflow.args).toContain('--workers');
  });

  it('--jobs on an MLflow without jobs is one clear error', () => {
    expect(() => planFor('3.4.0', { jobs: 'on' })).toThrow(/--jobs needs MLflow 3\.5\.0/);
  });
});

describe("mlflowVersionFindings (doctor's MLflow line)", () => {
  const posix = { isWindows: false };
  it('the newest tested: ok, and nothing about --permissions', () => {
    expect(mlflowVersionFindings(NEWEST_TESTED, '/p/.venv/bin/mlflow', posix)).toEqual([
      { ok: true, what: `MLflow ${NEWEST_TESTED} (/p/.venv/bin/mlflow)` },
    ]);
  });

  it('older than the oldest supported: one failing line with the fix', () => {
    const [f, ...rest] = mlflowVersionFindings('2.9.2', '/p/.venv/bin/mlflow', posix);
    expect(rest).toEqual([]);
    expect(f).toMatchObject({ ok: false, what: expect.stringContaining('older than the oldest supported, 2.22.1') });
    expect(f?.fix).toMatch(/^Upgrade it/);
  });

  it('supported but before 3.17: ok, plus an info line that --permissions needs 3.17.0', () => {
    const findings = mlflowVersionFindings('3.4.0', 'mlflow', posix);
    expect(findings.map((f) => f.ok)).toEqual([true, true]);
    expect(findings[1]).toMatchObject({
      info: true,
      what: expect.stringMatching(/^up --permissions needs MLflow 3\.17\.0 or newer/),
    });
  });

  it("newer than tested, or without a Host check on Windows: ok, with checkMlflowVersion's warning", () => {
    expect(mlflowVersionFindings('9.0.0', 'mlflow', posix)[0]?.what).toMatch(
      /^MLflow 9\.0\.0 \(mlflow\): .*newer than the newest version/,
    );
    expect(mlflowVersionFindings('3.4.0', 'mlflow.exe', { isWindows: true })[0]?.what).toMatch(/without a Host check/);
  });
});
