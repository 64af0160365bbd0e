/**
 * `mlflow-secure token` on real MLflow (its auth app with our authorization function), real nginx
 * and the real Python client with MLFLOW_TRACKING_TOKEN only: a token stands for its user on
 * MLflow's REST API, is refused at once when revoked, after its expiry, or when its user is gone,
 * and a Bearer header gets nothing past nginx's password check anywhere else.
 */
import { execa } from 'execa';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request, type HttpResponse } from '../../src/system/http.js';
import { TOKEN_HEADER } from '../../src/stack/permissions.js';
import { TOKEN_PATTERN } from '../../src/users/tokens.js';
import {
  cleanEnv,
  cli,
  readStackRecord,
  removeDir,
  root,
  spawnCli,
  tempDir,
  venvPython,
  waitForNoStackProcesses,
} from './helpers.js';

const BOB = { user: 'bob', password: `bob-${Math.random().toString(36).slice(2)}-pw` };
const ALICE = { user: 'alice', password: `alice-${Math.random().toString(36).slice(2)}-pw` };
const CAROL = { user: 'carol', password: `carol-${Math.random().toString(36).slice(2)}-pw` };
const CLIENT = path.join(root, 'test', 'fixtures', 'token_client.py');
const SEARCH = '/api/2.0/mlflow/experiments/search?max_results=1';
/** Right form, never created. */
const MADE_UP = `mlfs_${'A'.repeat(43)}`;

describe('tokens on a --permissions stack (real MLflow, nginx, Python client)', () => {
  let cwd: string;
  let stateDir: string;
  let url: URL;
  let groups: number[] = [];

  const stackOf = async () => {
    const record = await readStackRecord(stateDir);
    url = new URL(record.url);
    groups = [...groups, record.mlflow.pid, record.nginx.pid];
  };
  const call = (
    p: string,
    o: { token?: string; auth?: typeof BOB; method?: string; body?: unknown; headers?: Record<string, string> } = {},
  ): Promise<HttpResponse> =>
    request({
      host: url.hostname,
      port: Number(url.port),
      path: p,
      method: o.method ?? (o.body === undefined ? 'GET' : 'POST'),
      auth: o.auth,
      headers: {
        ...(o.token === undefined ? {} : { Authorization: `Bearer ${o.token}` }),
        ...(o.body === undefined ? {} : { 'Content-Type': 'application/json' }),
        ...o.headers,
      },
      body: o.body === undefined ? undefined : JSON.stringify(o.body),
    });
  const create = async (args: string[]) => {
    const r = await cli(['token', 'create', ...args], { cwd });
    expect(r.exitCode, r.stderr).toBe(0);
    return r.stdout;
  };
  /** The real client, with the token as its only credential. */
  const client = async (token: string, action: string, experiment: string): Promise<Record<string, unknown>> => {
    const r = await execa(venvPython, [CLIENT, action, experiment], {
      cwd,
      env: cleanEnv({
        MLFLOW_TRACKING_URI: url.href,
        MLFLOW_TRACKING_TOKEN: token,
        MLFLOW_TRACKING_USERNAME: undefined,
        MLFLOW_TRACKING_PASSWORD: undefined,
        MLFLOW_HTTP_REQUEST_MAX_RETRIES: '0',
      }),
      extendEnv: false,
      reject: false,
      timeout: 120_000,
    });
    expect(r.exitCode, r.stderr).toBe(0);
    return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
  };
  /** nginx's own 401 (auth_basic), not MLflow's: it asks for the password. */
  const nginxRefused = (r: HttpResponse) => {
    expect(r.status).toBe(401);
    expect(r.headers['www-authenticate']).toBe('Basic realm="MLflow"');
  };

  beforeAll(async () => {
    cwd = await tempDir();
    stateDir = path.join(cwd, '.mlflow-secure');
    const r = await cli(['up', '-d', '--permissions', '--port', 'auto', '--user', 'bob', '--workers', '2'], {
      cwd,
      env: { MLFLOW_SECURE_PASSWORD: BOB.password },
    });
    expect(r.exitCode, r.stderr).toBe(0);
    await stackOf();
    for (const who of [ALICE, CAROL]) {
      const added = await cli(['user', 'add', who.user], { cwd, env: { MLFLOW_SECURE_PASSWORD: who.password } });
      expect(added.exitCode, added.stderr).toBe(0);
    }
  });

  afterAll(async () => {
    if (cwd) {
      await cli(['down'], { cwd });
      expect(await waitForNoStackProcesses(stateDir, groups)).toEqual([]);
      await removeDir(cwd);
    }
  });

  it('prints the token alone on stdout, once, and keeps only its SHA-256 (owner-only)', async () => {
    const out = await create(['ci', '--user', 'alice']);
    expect(out).toMatch(TOKEN_PATTERN);
    const token = out.trim();
    const file = path.join(stateDir, 'tokens.json');
    expect((await stat(file)).mode & 0o077).toBe(0);
    const text = await readFile(file, 'utf8');
    expect(text).not.toContain(token);
    expect(text).not.toContain(token.slice(5));
    const listed = await cli(['token', 'list', '--json'], { cwd });
    expect(JSON.parse(listed.stdout)).toEqual([
      expect.objectContaining({ name: 'ci', user: 'alice', readOnly: false, expired: false }),
    ]);
    expect(listed.stdout).not.toContain(token);
    expect(listed.stdout).not.toContain('sha256');
    for (const log of ['mlflow.log', 'nginx-access.log', 'nginx-error.log'])
      expect(await readFile(path.join(stateDir, 'logs', log), 'utf8').catch(() => ''), log).not.toContain(token);
  });

  it("logs a run with MLFLOW_TRACKING_TOKEN alone, as the token's user", async () => {
    const token = await create(['runner', '--user', 'alice']);
    expect(await client(token.trim(), 'create', 'alices-experiment')).toEqual({
      ok: true,
      user_id: 'alice',
      user_tag: 'alice',
    });
    // nginx's access log names the token's user, as it names a signed-in one.
    const log = await readFile(path.join(stateDir, 'logs', 'nginx-access.log'), 'utf8');
    const lines = log.split('\n').filter((l) => l.includes('/api/2.0/mlflow/runs/create'));
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) expect(l).toMatch(/^\S+ - alice \[.* 200 /);
    // Nobody (no password, no token) is "-", as in nginx's own format.
    await call(SEARCH);
    const last = (await readFile(path.join(stateDir, 'logs', 'nginx-access.log'), 'utf8')).trim().split('\n').at(-1);
    expect(last).toMatch(/^\S+ - - \[.* 401 /);
  });

  it('refuses a made-up token, one of the wrong form, and a forged token header', async () => {
    expect((await call(SEARCH, { token: MADE_UP })).status).toBe(401);
    nginxRefused(await call(SEARCH, { token: 'not-a-token' }));
    // The header nginx hands the token over in, sent by the client: nginx overwrites it.
    nginxRefused(await call(SEARCH, { headers: { [TOKEN_HEADER]: MADE_UP } }));
    const real = (await create(['forged', '--user', 'alice'])).trim();
    nginxRefused(await call(SEARCH, { headers: { [TOKEN_HEADER]: real } }));
    expect(await client(MADE_UP, 'read', 'alices-experiment')).toMatchObject({ ok: false });
  });

  it("gets nginx's 401 for a Bearer header anywhere but MLflow's REST API, even with a good token", async () => {
    const token = (await create(['paths', '--user', 'alice'])).trim();
    const ok = await call(SEARCH, { token });
    expect(ok.status).toBe(200);
    // The header that names the user for the access log stays between MLflow and nginx.
    expect(Object.keys(ok.headers).filter((h) => h.startsWith('x-mlflow-secure-token'))).toEqual([]);
    for (const p of [
      '/',
      '/static-files/index.html',
      '/health',
      '/version',
      '/api/2.0/mlflow/server-info',
      '/api/3.0/mlflow/server-inf%6f',
      '/graphql',
    ])
      nginxRefused(await call(p, { token }));
    // Past nginx on an API path, a path MLflow's auth app leaves open is still refused by the function.
    expect((await call('/api/2.0/mlflow/../../static-files/index.html', { token: MADE_UP })).status).toBe(401);
  });

  it('a read-only token reads (GET and search by POST) and cannot create an experiment', async () => {
    const token = (await create(['reader', '--user', 'alice', '--read-only'])).trim();
    expect(await client(token, 'read', 'alices-experiment')).toEqual({ ok: true, found: true });
    expect((await call('/api/2.0/mlflow/experiments/search', { token, body: { max_results: 5 } })).status).toBe(200);
    const made = await call('/api/2.0/mlflow/experiments/create', { token, body: { name: 'by-a-reader' } });
    expect(made.status, made.body).toBe(403);
    expect(await client(token, 'create', 'by-a-reader-too')).toMatchObject({ ok: false });
    // Even for an admin's token (MLflow's own checks skip admins).
    const admin = (await create(['admin-reader', '--user', 'bob', '--read-only'])).trim();
    expect((await call('/api/2.0/mlflow/experiments/create', { token: admin, body: { name: 'x' } })).status).toBe(403);
  });

  it('refuses a revoked token at once', async () => {
    const token = (await create(['gone', '--user', 'alice'])).trim();
    expect((await call(SEARCH, { token })).status).toBe(200);
    const r = await cli(['token', 'revoke', 'gone'], { cwd });
    expect(r.exitCode, r.stderr).toBe(0);
    expect((await call(SEARCH, { token })).status).toBe(401);
  });

  it('refuses a token after its expiry', async () => {
    const token = (await create(['short', '--user', 'alice', '--expires', '4s'])).trim();
    expect((await call(SEARCH, { token })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 4500));
    expect((await call(SEARCH, { token })).status).toBe(401);
    const listed = await cli(['token', 'list', '--json'], { cwd });
    expect(JSON.parse(listed.stdout)).toContainEqual(expect.objectContaining({ name: 'short', expired: true }));
  });

  it("refuses a removed user's token at once, and drops it", async () => {
    const token = (await create(['carols', '--user', 'carol'])).trim();
    expect((await call(SEARCH, { token })).status).toBe(200);
    const r = await cli(['user', 'remove', 'carol'], { cwd });
    expect(r.exitCode, r.stderr).toBe(0);
    expect((await call(SEARCH, { token })).status).toBe(401);
    const listed = await cli(['token', 'list', '--json'], { cwd });
    expect(JSON.parse(listed.stdout).map((t: { name: string }) => t.name)).not.toContain('carols');
  });

  it('refuses the token of a user taken out of the password file by hand (the function checks it)', async () => {
    const added = await cli(['user', 'add', 'dave'], { cwd, env: { MLFLOW_SECURE_PASSWORD: CAROL.password } });
    expect(added.exitCode, added.stderr).toBe(0);
    const token = (await create(['daves', '--user', 'dave'])).trim();
    expect((await call(SEARCH, { token })).status).toBe(200);
    const file = path.join(stateDir, 'htpasswd');
    const lines = (await readFile(file, 'utf8')).split('\n');
    await writeFile(file, lines.filter((l) => !l.startsWith('dave:')).join('\n'), { mode: 0o600 });
    expect((await call(SEARCH, { token })).status).toBe(401);
  });

  it('refuses every token while the token file is not one it understands, and keeps serving passwords', async () => {
    const token = (await create(['hostile', '--user', 'alice'])).trim();
    const file = path.join(stateDir, 'tokens.json');
    const good = await readFile(file, 'utf8');
    for (const bad of ['{"version":1,"tokens":[{"name":"x"}]}', '['.repeat(100_000), '\u0000\xff', '{"version":2}']) {
      await writeFile(file, bad, { mode: 0o600 });
      expect((await call(SEARCH, { token })).status).toBe(401);
      expect((await call(SEARCH, { auth: ALICE })).status).toBe(200);
    }
    const listed = await cli(['token', 'list'], { cwd });
    expect(listed.exitCode).toBe(1);
    expect(listed.stderr.trim().split('\n')).toHaveLength(1);
    await writeFile(file, good, { mode: 0o600 });
    expect((await call(SEARCH, { token })).status).toBe(200);
  });

  it('refuses in one line: two users and no --user, an unknown user, a taken name, a bad --expires, an unknown revoke', async () => {
    for (const [args, message] of [
      [['create', 'x'], /--user is needed: there are 2 users/],
      [['create', 'x', '--user', 'mallory'], /no user 'mallory'/],
      [['create', 'ci', '--user', 'alice'], /a token 'ci' already exists/],
      [['create', 'x', '--user', 'alice', '--expires', '30y'], /--expires must be/],
      [['create', 'bad name', '--user', 'alice'], /bad token name/],
      [['revoke', 'nope'], /no token 'nope'/],
    ] as const) {
      const r = await cli(['token', ...args], { cwd });
      expect(r.exitCode, args.join(' ')).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
      expect(r.stderr).toMatch(message);
    }
  });

  it('refuses tokens without `up --permissions`', async () => {
    const other = await tempDir();
    try {
      const added = await cli(['user', 'add', 'ana'], { cwd: other, env: { MLFLOW_SECURE_PASSWORD: ALICE.password } });
      expect(added.exitCode, added.stderr).toBe(0);
      const r = await cli(['token', 'create', 'ci'], { cwd: other });
      expect(r.exitCode).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/tokens need `up --permissions`/);
    } finally {
      await removeDir(other);
    }
  });

  it('works the same in the foreground (after a restart: the tokens are kept)', async () => {
    const token = (await create(['fg', '--user', 'alice'])).trim();
    const r = await cli(['down'], { cwd });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(await waitForNoStackProcesses(stateDir, groups)).toEqual([]);
    const run = spawnCli(['up', '--permissions', '--port', String(url.port), '--user', 'bob', '--workers', '2'], {
      cwd,
      env: { MLFLOW_SECURE_PASSWORD: BOB.password },
    });
    try {
      await run.waitFor(/is up behind nginx/);
      await stackOf();
      expect((await call(SEARCH, { token })).status).toBe(200);
      expect((await call(SEARCH, { token: MADE_UP })).status).toBe(401);
      expect(await client(token, 'read', 'alices-experiment')).toEqual({ ok: true, found: true });
      const revoked = await cli(['token', 'revoke', 'fg'], { cwd });
      expect(revoked.exitCode, revoked.stderr).toBe(0);
      expect((await call(SEARCH, { token })).status).toBe(401);
      expect(run.output()).not.toContain(token);
    } finally {
      run.child.kill('SIGINT');
      await run.child;
    }
    expect(await waitForNoStackProcesses(stateDir, groups)).toEqual([]);
  });
});
