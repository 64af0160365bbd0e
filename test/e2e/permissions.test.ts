/**
 * `up --permissions` on real MLflow (its basic-auth app with our authorization function), real
 * nginx and the real Python client: nginx checks the password, MLflow's permissions decide what
 * the signed-in user may do, and nothing but our nginx can tell MLflow who that is.
 */
import { execa } from 'execa';
import { access, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request, type HttpResponse } from '../../src/system/http.js';
import { SECRET_HEADER, USER_HEADER } from '../../src/stack/permissions.js';
import {
  cleanEnv,
  cli,
  readStackRecord,
  removeDir,
  root,
  tempDir,
  venvPython,
  waitForNoStackProcesses,
} from './helpers.js';

const BOB = { user: 'bob', password: `bob-${Math.random().toString(36).slice(2)}-pw` };
const ALICE = { user: 'alice', password: `alice-${Math.random().toString(36).slice(2)}-pw` };
const CLIENT = path.join(root, 'test', 'fixtures', 'permissions_client.py');

/** Every header a client might send to claim a name, aimed at bob's. */
const FORGED = {
  'X-Forwarded-User': 'bob',
  'Remote-User': 'bob',
  'X-Remote-User': 'bob',
  [USER_HEADER]: 'bob',
  [SECRET_HEADER]: 'f'.repeat(64),
};

interface Stack {
  url: string;
  host: string;
  port: number;
  mlflowPort: number;
  socket?: string;
  groups: number[];
}

describe('up --permissions on real MLflow and nginx', () => {
  let cwd: string;
  let stateDir: string;
  let stack: Stack;
  let groups: number[] = [];
  let created: Record<string, unknown>;

  const up = async (extra: string[]): Promise<Stack> => {
    const r = await cli(['up', '-d', '--port', 'auto', '--user', 'bob', '--workers', '2', ...extra], {
      cwd,
      env: { MLFLOW_SECURE_PASSWORD: BOB.password },
    });
    expect(r.exitCode, r.stderr).toBe(0);
    return stackOf();
  };
  const stackOf = async (): Promise<Stack> => {
    const record = await readStackRecord(stateDir);
    const url = new URL(record.url);
    const s = {
      url: record.url,
      host: url.hostname,
      port: Number(url.port),
      mlflowPort: (record as unknown as { mlflowPort: number }).mlflowPort,
      socket: (record as unknown as { mlflowOnSocket: boolean }).mlflowOnSocket
        ? path.join(stateDir, 'mlflow.sock')
        : undefined,
      groups: [record.mlflow.pid, record.nginx.pid],
    };
    groups = [...groups, ...s.groups];
    return s;
  };
  const down = async () => {
    const r = await cli(['down'], { cwd });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(await waitForNoStackProcesses(stateDir, groups)).toEqual([]);
  };
  const call = (
    p: string,
    o: { auth?: typeof BOB; method?: string; body?: unknown; headers?: Record<string, string> } = {},
  ): Promise<HttpResponse> =>
    request({
      host: stack.host,
      port: stack.port,
      path: p,
      method: o.method ?? (o.body === undefined ? 'GET' : 'POST'),
      auth: o.auth,
      headers: { ...(o.body === undefined ? {} : { 'Content-Type': 'application/json' }), ...o.headers },
      body: o.body === undefined ? undefined : JSON.stringify(o.body),
    });
  /** The real Python client as `who`. */
  const client = async (who: typeof BOB, action: string, experiment: string): Promise<Record<string, unknown>> => {
    const r = await execa(venvPython, [CLIENT, action, experiment], {
      cwd,
      env: cleanEnv({
        MLFLOW_TRACKING_URI: stack.url,
        MLFLOW_TRACKING_USERNAME: who.user,
        MLFLOW_TRACKING_PASSWORD: who.password,
      }),
      extendEnv: false,
      reject: false,
      timeout: 120_000,
    });
    expect(r.exitCode, r.stderr).toBe(0);
    return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
  };
  const addAlice = async () => {
    const r = await cli(['user', 'add', 'alice'], { cwd, env: { MLFLOW_SECURE_PASSWORD: ALICE.password } });
    expect(r.exitCode, r.stderr).toBe(0);
  };

  beforeAll(async () => {
    cwd = await tempDir();
    stateDir = path.join(cwd, '.mlflow-secure');
    stack = await up(['--permissions']);
    await addAlice();
    created = await client(BOB, 'create', 'bobs-experiment');
    expect(created.experiment_id).toBe('1');
  });

  afterAll(async () => {
    if (cwd) {
      await cli(['down'], { cwd });
      expect(await waitForNoStackProcesses(stateDir, groups)).toEqual([]);
      await removeDir(cwd);
    }
  });

  it("our Python modules compile in MLflow's Python", async () => {
    const files = ['mlflow_secure_auth.py', 'mlflow_secure_users.py'].map((f) => path.join(root, 'python', f));
    // compile(), not py_compile: nothing is written beside them.
    const check = 'import sys\nfor f in sys.argv[1:]: compile(open(f).read(), f, "exec")';
    const r = await execa(venvPython, ['-c', check, ...files], { reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
  });

  it("keeps MLflow's auth database, its ini and the secret-bearing nginx.conf owner-only", async () => {
    for (const f of ['mlflow-auth.db', 'mlflow-auth.ini', 'mlflow-admin', 'nginx.conf'])
      expect((await stat(path.join(stateDir, f))).mode & 0o077, f).toBe(0);
    expect((await readFile(path.join(stateDir, 'mlflow-admin'), 'utf8')).trim()).toBe('bob');
  });

  it("READ (the default): alice reads bob's experiment and cannot write to it", async () => {
    expect(await client(ALICE, 'read', 'bobs-experiment')).toEqual({ found: true });
    expect(await client(ALICE, 'write', 'bobs-experiment')).toEqual({ ok: false, error_code: 'PERMISSION_DENIED' });
    // bob created it: MLflow gave him MANAGE, and he writes.
    expect(await client(BOB, 'write', 'bobs-experiment')).toEqual({ ok: true });
  });

  it("records the signed-in user as the run's user, whatever the client said", () => {
    expect(created).toMatchObject({ user_tag: 'bob', user_id: 'bob' });
  });

  it("makes the signed-in creator of a registered model its owner (MANAGE), which alice's READ cannot change", async () => {
    const made = await call('/api/2.0/mlflow/registered-models/create', { auth: BOB, body: { name: 'bobs-model' } });
    expect(made.status, made.body).toBe(200);
    const listed = await cli(['grants', 'bob', '--json'], { cwd });
    expect(JSON.parse(listed.stdout)).toContainEqual({
      user: 'bob',
      kind: 'registered-model',
      resource: 'bobs-model',
      permission: 'MANAGE',
    });
    const update = { name: 'bobs-model', description: 'by alice' };
    expect(
      (await call('/api/2.0/mlflow/registered-models/update', { auth: ALICE, method: 'PATCH', body: update })).status,
    ).toBe(403);
  });

  it('names the user on every access-log line of a signed-in request', async () => {
    const log = await readFile(path.join(stateDir, 'logs', 'nginx-access.log'), 'utf8');
    const lines = log.split('\n').filter((l) => l.includes('/api/2.0/mlflow/runs/create'));
    expect(lines.length).toBeGreaterThan(0);
    // bob's run, and alice's refused try: each line names who it was.
    for (const l of lines) expect(l).toMatch(/^\S+ - (bob|alice) \[/);
    expect(lines.some((l) => / - bob .* 200 /.test(l))).toBe(true);
    expect(lines.some((l) => / - alice .* 403 /.test(l))).toBe(true);
  });

  it('users/current comes from MLflow, with the truth about is_admin (bob is the first admin)', async () => {
    const asBob = await call('/ajax-api/2.0/mlflow/users/current', { auth: BOB });
    expect(asBob.status).toBe(200);
    expect(JSON.parse(asBob.body)).toMatchObject({ user: { username: 'bob', is_admin: true } });
    const asAlice = await call('/ajax-api/2.0/mlflow/users/current', { auth: ALICE });
    expect(JSON.parse(asAlice.body)).toMatchObject({ user: { username: 'alice', is_admin: false } });
    const list = await cli(['user', 'list', '--json'], { cwd });
    expect(JSON.parse(list.stdout)).toEqual([
      expect.objectContaining({ user: 'bob', admin: true }),
      expect.objectContaining({ user: 'alice', admin: false }),
    ]);
  });

  it('refuses alice an admin-only call (making herself an admin)', async () => {
    const body = { username: 'alice', is_admin: true };
    const r = await call('/api/2.0/mlflow/users/update-admin', { auth: ALICE, method: 'PATCH', body });
    expect(r.status).toBe(403);
    expect(JSON.parse((await call('/api/2.0/mlflow/users/current', { auth: ALICE })).body)).toMatchObject({
      user: { is_admin: false },
    });
  });

  it('changes nothing for any identity header a client sends', async () => {
    const update = { experiment_id: '1', new_name: 'renamed-by-alice' };
    const r = await call('/api/2.0/mlflow/experiments/update', { auth: ALICE, body: update, headers: FORGED });
    expect(r.status).toBe(403);
    const me = await call('/ajax-api/2.0/mlflow/users/current', { auth: ALICE, headers: FORGED });
    expect(JSON.parse(me.body)).toMatchObject({ user: { username: 'alice', is_admin: false } });
    // Without a password the headers do not even reach MLflow.
    expect((await call('/api/2.0/mlflow/experiments/search?max_results=1', { headers: FORGED })).status).toBe(401);
    const got = await call('/api/2.0/mlflow/experiments/get?experiment_id=1', { auth: BOB });
    expect(JSON.parse(got.body)).toMatchObject({ experiment: { name: 'bobs-experiment' } });
  });

  it("refuses everything on MLflow's own socket without the secret, whatever name is claimed", async () => {
    expect(stack.socket).toBeDefined();
    for (const headers of [{}, FORGED, { [USER_HEADER]: 'bob' }] as Record<string, string>[]) {
      for (const [method, p] of [
        ['GET', '/api/2.0/mlflow/experiments/search?max_results=1'],
        ['GET', '/ajax-api/2.0/mlflow/users/current'],
        ['POST', '/api/2.0/mlflow/experiments/create'],
        ['PUT', '/api/2.0/mlflow-artifacts/artifacts/1/x.txt'],
        ['GET', '/'],
      ] as const) {
        const r = await request({
          host: '127.0.0.1',
          port: stack.mlflowPort,
          socketPath: stack.socket,
          path: p,
          method,
          headers: { 'Content-Type': 'application/json', ...headers },
          body: method === 'GET' ? undefined : '{"name":"direct"}',
        });
        expect(r.status, `${method} ${p} with ${Object.keys(headers).join(',') || 'no headers'}`).toBe(401);
      }
    }
  });

  it("answers a CORS preflight of the stack's own page with MLflow's CORS answer on every route, nothing more", async () => {
    const origin = new URL(stack.url).origin;
    const preflight = (p: string, headers: Record<string, string>) =>
      request({
        host: stack.host,
        port: stack.port,
        path: p,
        method: 'OPTIONS',
        headers: { Origin: origin, ...headers },
      });
    // MLflow's native FastAPI routes (its permission middleware asks who it is before its CORS
    // answer) and Flask-served ones (answered by its CORSMiddleware alone).
    for (const p of [
      '/ajax-api/3.0/jobs/search',
      '/ajax-api/3.0/mlflow/assistant/sessions',
      '/ajax-api/3.0/mlflow/mcp-servers',
      '/v1/traces',
      '/gateway/some-endpoint/mlflow/invocations',
      '/api/2.0/mlflow-artifacts/artifacts/1/x.txt',
      '/api/2.0/mlflow/experiments/search',
    ]) {
      const r = await preflight(p, { 'Access-Control-Request-Method': 'PUT' });
      expect(r.status, `${p}: ${r.body}`).toBe(200);
      expect(r.body, p).toBe('OK');
      expect(r.headers['access-control-allow-origin'], p).toBe(origin);
      expect(r.headers['access-control-allow-credentials'], p).toBe('true');
      expect(r.headers['access-control-allow-methods'], p).toContain('PUT');
      // A preflight from any other page needs the password at nginx, as without --permissions.
      const other = await preflight(p, { Origin: 'http://localhost:3000', 'Access-Control-Request-Method': 'PUT' });
      expect(other.status, p).toBe(401);
    }
    // Anything nameless that is not a bare preflight still needs the password.
    expect((await preflight('/ajax-api/3.0/mlflow/mcp-servers', {})).status).toBe(401);
    expect((await call('/ajax-api/3.0/mlflow/mcp-servers', { headers: { Origin: origin } })).status).toBe(401);
  });

  it('grant EDIT and alice writes; revoke and she cannot; grants lists it', async () => {
    const g = await cli(['grant', 'alice', 'experiment', 'bobs-experiment', 'EDIT'], { cwd });
    expect(g.exitCode, g.stderr).toBe(0);
    expect(await client(ALICE, 'write', 'bobs-experiment')).toEqual({ ok: true });
    const listed = await cli(['grants', 'alice', '--json'], { cwd });
    expect(JSON.parse(listed.stdout)).toEqual([
      { user: 'alice', kind: 'experiment', resource: '1', permission: 'EDIT' },
    ]);
    expect((await cli(['revoke', 'alice', 'experiment', '1'], { cwd })).exitCode).toBe(0);
    expect(await client(ALICE, 'write', 'bobs-experiment')).toEqual({ ok: false, error_code: 'PERMISSION_DENIED' });
    const refused = await cli(['grant', 'mallory', 'experiment', '1', 'EDIT'], { cwd });
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('refuses a user removed mid-session at once, and a re-added one starts without grants', async () => {
    await cli(['grant', 'alice', 'experiment', '1', 'EDIT'], { cwd });
    expect((await call('/ajax-api/2.0/mlflow/users/current', { auth: ALICE })).status).toBe(200);
    expect((await cli(['user', 'remove', 'alice'], { cwd })).exitCode).toBe(0);
    expect((await call('/ajax-api/2.0/mlflow/users/current', { auth: ALICE })).status).toBe(401);
    expect((await call('/api/2.0/mlflow/experiments/search?max_results=1', { auth: ALICE })).status).toBe(401);
    await addAlice();
    expect(await client(ALICE, 'write', 'bobs-experiment')).toEqual({ ok: false, error_code: 'PERMISSION_DENIED' });
  });

  it("NO_PERMISSIONS on TCP (--jobs on): bob's experiment is hidden from alice; MLflow's port refuses", async () => {
    // restart keeps --permissions; without bob's password it proves auth with a temporary user,
    // whom MLflow's user table must not keep either.
    const r = await cli(['restart', '--default-permission', 'NO_PERMISSIONS', '--jobs', 'on'], { cwd });
    expect(r.exitCode, r.stderr).toBe(0);
    stack = await stackOf();
    expect(stack.socket).toBeUndefined();
    const users = await call('/api/2.0/mlflow/users/list', { auth: BOB });
    expect((JSON.parse(users.body) as { users: { username: string }[] }).users.map((u) => u.username)).toEqual([
      'bob',
      'alice',
    ]);
    expect(await client(ALICE, 'read', 'bobs-experiment')).toEqual({ found: false });
    expect(await client(BOB, 'read', 'bobs-experiment')).toEqual({ found: true });
    const search = await call('/api/2.0/mlflow/experiments/search?max_results=100', { auth: ALICE });
    expect(JSON.parse(search.body)).not.toHaveProperty('experiments');
    for (const headers of [{}, FORGED])
      expect(
        (
          await request({
            host: '127.0.0.1',
            port: stack.mlflowPort,
            path: '/api/2.0/mlflow/experiments/search?max_results=1',
            headers,
          })
        ).status,
      ).toBe(401);
  });

  it('without --permissions nothing changes: alice is an administrator again, nginx answers users/current', async () => {
    await down();
    stack = await up([]);
    const r = await call('/api/2.0/mlflow/experiments/update', {
      auth: ALICE,
      body: { experiment_id: '1', new_name: 'renamed-by-alice' },
    });
    expect(r.status).toBe(200);
    const me = await call('/ajax-api/2.0/mlflow/users/current', { auth: ALICE });
    expect(JSON.parse(me.body)).toEqual({ is_basic_auth: false, user: { id: 0, is_admin: false, username: 'alice' } });
  });
});

describe('up --permissions refused in one line, nothing started', () => {
  let cwd: string;
  beforeAll(async () => {
    cwd = await tempDir();
  });
  afterAll(async () => {
    if (cwd) await removeDir(cwd);
  });

  /** A stand-in MLflow: `--version` says `version`; its Python has no Flask-WTF when `noAuthExtra`. */
  const fakeMlflow = async (name: string, version: string, noAuthExtra: boolean): Promise<string> => {
    const bin = path.join(cwd, name, 'bin');
    await mkdir(bin, { recursive: true });
    await writeFile(path.join(bin, 'mlflow'), `#!/bin/sh\necho "mlflow, version ${version}"\n`, { mode: 0o755 });
    const python = noAuthExtra
      ? `#!/bin/sh\necho "ModuleNotFoundError: No module named 'flask_wtf'" >&2\nexit 1\n`
      : '#!/bin/sh\nexit 0\n';
    await writeFile(path.join(bin, 'python'), python, { mode: 0o755 });
    return path.join(bin, 'mlflow');
  };
  const refused = async (args: string[], message: RegExp) => {
    const r = await cli(['up', '-d', '-q', '--port', 'auto', ...args], {
      cwd,
      env: { MLFLOW_SECURE_PASSWORD: BOB.password },
    });
    expect(r.exitCode, r.stderr).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(message);
    await expect(access(path.join(cwd, '.mlflow-secure', 'stack.json'))).rejects.toThrow();
  };

  it("without MLflow's auth extra (Flask-WTF)", async () => {
    const mlflow = await fakeMlflow('no-extra', '3.17.2', true);
    await refused(['--permissions', '--mlflow', mlflow], /--permissions needs MLflow's auth extra \(Flask-WTF\)/);
  });

  it('with an MLflow older than 3.17', async () => {
    const mlflow = await fakeMlflow('old', '3.16.1', false);
    await refused(
      ['--permissions', '--mlflow', mlflow],
      /--permissions needs MLflow 3\.17\.0 or newer \(this one is 3\.16\.1\)/,
    );
  });

  it('with --upstream, and --default-permission without --permissions', async () => {
    await refused(
      ['--permissions', '--upstream', 'http://127.0.0.1:9'],
      /--permissions needs the MLflow that mlflow-secure starts/,
    );
    await refused(['--default-permission', 'EDIT'], /--default-permission has no effect without --permissions/);
  });
});
