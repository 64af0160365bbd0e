/**
 * One real stack (real MLflow from .venv, real nginx) started with `up -d`, then everything a
 * user does with it: auth on every route, the Python client through the proxy, public names,
 * users, logs, restart, down. Processes are checked in the process table.
 */
import { execa } from 'execa';
import { readFile, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from '../../src/system/http.js';
import {
  cli,
  cliPath,
  readStackRecord,
  removeDir,
  root,
  stackProcesses,
  tempDir,
  venvPython,
  waitForNoStackProcesses,
  type StackRecordJson,
} from './helpers.js';

const PASSWORD = `e2e-${Math.random().toString(36).slice(2)}-P@ss'"$x`;
const SERVER_NAME = 'mlflow.example.test';

describe('up -d / down on real MLflow and nginx', () => {
  let cwd: string;
  let stateDir: string;
  let record: StackRecordJson;
  let groups: number[];
  let host: string;
  let port: number;
  const auth = (password = PASSWORD, user = 'admin') => ({ user, password });

  beforeAll(async () => {
    cwd = await tempDir();
    stateDir = path.join(cwd, '.mlflow-secure');
    const r = await cli(['up', '-d', '--port', 'auto', '--server-name', SERVER_NAME], {
      cwd,
      env: { MLFLOW_SECURE_PASSWORD: PASSWORD },
    });
    expect(r.stderr).not.toContain(PASSWORD);
    expect(r.stdout, r.stderr).toMatch(/is up behind nginx/);
    expect(r.exitCode, r.stderr).toBe(0);
    record = await readStackRecord(stateDir);
    groups = [record.mlflow.pid, record.nginx.pid];
    host = new URL(record.url).hostname;
    port = Number(new URL(record.url).port);
  });

  afterAll(async () => {
    if (cwd) {
      await cli(['down'], { cwd });
      expect(await waitForNoStackProcesses(stateDir, groups ?? [])).toEqual([]);
      await removeDir(cwd);
    }
  });

  it('reports a healthy, running stack', async () => {
    const r = await cli(['status', '--json'], { cwd });
    expect(r.exitCode).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s).toMatchObject({ running: true, healthy: true, url: record.url, user: 'admin' });
    expect(s.processes.map((p: { name: string }) => p.name).sort()).toEqual(['mlflow', 'nginx']);
  });

  it('asks for a password on every route: 401 without or with wrong credentials, 200 with right ones', async () => {
    const index = await request({ host, port, path: '/', auth: auth() });
    expect(index.status).toBe(200);
    const asset = /(static-files\/static\/js\/[^"']+\.js)\b/.exec(index.body)?.[1];
    // The artifact routes: an upload (PUT) needs auth like everything else.
    const put = (a?: { user: string; password: string }) =>
      request({
        host,
        port,
        method: 'PUT',
        path: '/api/2.0/mlflow-artifacts/artifacts/auth-check/hello.txt',
        body: 'hello',
        auth: a,
      });
    expect((await put()).status).toBe(401);
    expect((await put(auth('wrong-password'))).status).toBe(401);
    expect((await put(auth())).status).toBe(200);
    expect(asset, 'the UI page references a static file').toBeDefined();
    const routes = [
      '/',
      `/${asset}`,
      '/api/2.0/mlflow/experiments/search?max_results=5',
      '/ajax-api/2.0/mlflow/experiments/search?max_results=5',
      '/api/2.0/mlflow-artifacts/artifacts?path=auth-check',
      '/api/2.0/mlflow-artifacts/artifacts/auth-check/hello.txt',
    ];
    for (const route of routes) {
      expect((await request({ host, port, path: route })).status, `${route} without credentials`).toBe(401);
      expect(
        (await request({ host, port, path: route, auth: auth('wrong-password') })).status,
        `${route} with a wrong password`,
      ).toBe(401);
      expect(
        (await request({ host, port, path: route, auth: { user: 'nobody', password: PASSWORD } })).status,
        `${route} with an unknown user`,
      ).toBe(401);
      expect((await request({ host, port, path: route, auth: auth() })).status, `${route} with credentials`).toBe(200);
    }
  });

  it('keeps MLflow off the network: no TCP port at all, only a Unix socket in the owner-only state folder', async () => {
    const tcp = await readFile('/proc/net/tcp', 'utf8');
    const tcp6 = await readFile('/proc/net/tcp6', 'utf8').catch(() => '');
    const portHex = record.mlflowPort.toString(16).toUpperCase().padStart(4, '0');
    const listening = [...tcp.split('\n'), ...tcp6.split('\n')]
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f[1]?.endsWith(`:${portHex}`) && f[3] === '0A');
    expect(listening).toEqual([]);
    const socket = await stat(path.join(stateDir, 'mlflow.sock'));
    expect(socket.isSocket()).toBe(true);
    expect((await stat(stateDir)).mode & 0o777).toBe(0o700);
    // From any address of this machine, the recorded port reaches nothing.
    const addresses = [
      '127.0.0.1',
      ...Object.values(os.networkInterfaces())
        .flat()
        .filter((a) => a && !a.internal && a.family === 'IPv4')
        .map((a) => a!.address),
    ];
    for (const address of addresses) {
      const reached = await new Promise<boolean>((resolve) => {
        const s = net.connect({ host: address, port: record.mlflowPort }, () => (s.destroy(), resolve(true)));
        s.on('error', () => resolve(false));
      });
      expect(reached, `MLflow reachable on ${address}`).toBe(false);
    }
  });

  it('lets the real MLflow Python client log and read back a run with a 5 MB artifact, using exactly what `env` prints', async () => {
    const script = `eval "$("${process.execPath}" "${cliPath}" env)" && exec "${venvPython}" "${path.join(root, 'test', 'fixtures', 'client.py')}"`;
    const r = await execa('bash', ['-c', script], {
      cwd,
      reject: false,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? cwd, MLFLOW_SECURE_PASSWORD: PASSWORD },
      extendEnv: false,
      timeout: 180_000,
    });
    expect(r.exitCode, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(out.tracking_uri).toBe(record.url);
    expect(out.params).toEqual({ alpha: '0.5' });
    expect(out.metrics).toEqual({ loss: 0.125 });
    expect(out.history).toEqual([0.25, 0.125]);
    expect(out.artifact_uri).toMatch(/^mlflow-artifacts:/);
    expect(out.size).toBeGreaterThanOrEqual(5 * 1024 * 1024);
    expect(out.sha_got).toBe(out.sha_sent);
    // The upload went through nginx as one streamed PUT, not around it.
    const access = await readFile(path.join(stateDir, 'logs', 'nginx-access.log'), 'utf8');
    expect(access).toMatch(/"PUT \/api\/2\.0\/mlflow-artifacts\/artifacts\/\S*blob\.bin HTTP\/1\.1" 200/);
    // The artifact landed in the default artifacts destination.
    const runDir = path.join(cwd, 'mlartifacts');
    expect((await stat(runDir)).isDirectory()).toBe(true);
  });

  it('accepts the public --server-name in Host and a UI-style POST with its Origin, and still blocks a foreign Origin', async () => {
    const publicHost = `${SERVER_NAME}:${port}`;
    const get = await request({
      host,
      port,
      path: '/api/2.0/mlflow/experiments/search?max_results=1',
      headers: { Host: publicHost },
      auth: auth(),
    });
    expect(get.status, get.body).toBe(200);
    const post = (origin: string) =>
      request({
        host,
        port,
        method: 'POST',
        path: '/ajax-api/2.0/mlflow/experiments/create',
        headers: { Host: publicHost, Origin: origin, 'Content-Type': 'application/json' },
        body: JSON.stringify({ name: `from-ui-${origin.length}-${Date.now()}` }),
        auth: auth(),
      });
    const ok = await post(`http://${publicHost}`);
    expect(ok.status, ok.body).toBe(200);
    expect(JSON.parse(ok.body).experiment_id).toBeTruthy();
    const foreign = await post('http://evil.example');
    expect(foreign.status).toBe(403);
    expect(foreign.body).toContain('Cross-origin request blocked');
    const badHost = await request({
      host,
      port,
      path: '/api/2.0/mlflow/experiments/search?max_results=1',
      headers: { Host: 'evil.example' },
      auth: auth(),
    });
    expect(badHost.status).toBe(403);
  });

  it('adds, changes and removes users without a restart', async () => {
    const alice = 'alice-Secret-123';
    const add = await cli(['user', 'add', 'alice', '--password-stdin'], { cwd, input: `${alice}\n` });
    expect(add.exitCode, add.stderr).toBe(0);
    expect(add.stdout + add.stderr).not.toContain(alice);
    expect(
      (
        await request({
          host,
          port,
          path: '/api/2.0/mlflow/experiments/search?max_results=1',
          auth: auth(alice, 'alice'),
        })
      ).status,
    ).toBe(200);

    const passwd = await cli(['user', 'passwd', 'alice', '--hash', 'apr1'], {
      cwd,
      env: { MLFLOW_SECURE_PASSWORD: 'alice-Second-456' },
    });
    expect(passwd.exitCode, passwd.stderr).toBe(0);
    expect((await request({ host, port, path: '/', auth: auth(alice, 'alice') })).status).toBe(401);
    expect((await request({ host, port, path: '/', auth: auth('alice-Second-456', 'alice') })).status).toBe(200);

    const list = await cli(['user', 'list', '--json'], { cwd });
    expect(JSON.parse(list.stdout)).toEqual([
      { user: 'admin', scheme: 'bcrypt', cost: 5 },
      { user: 'alice', scheme: 'apr1' },
    ]);

    const dup = await cli(['user', 'add', 'alice'], { cwd, env: { MLFLOW_SECURE_PASSWORD: 'whatever-123' } });
    expect(dup.exitCode).toBe(1);
    expect(dup.stderr).toMatch(/user 'alice' already exists.*user passwd alice/);

    const remove = await cli(['user', 'remove', 'alice'], { cwd });
    expect(remove.exitCode, remove.stderr).toBe(0);
    expect((await request({ host, port, path: '/', auth: auth('alice-Second-456', 'alice') })).status).toBe(401);
    expect((await request({ host, port, path: '/', auth: auth() })).status).toBe(200);

    const bad = await cli(['user', 'add', 'bad:name'], { cwd, env: { MLFLOW_SECURE_PASSWORD: 'whatever-123' } });
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/bad user name "bad:name"/);
  });

  it('never puts the password in argv, the state record, the logs, or a world-readable file', async () => {
    const processes = await stackProcesses(stateDir, groups);
    expect(processes.length).toBeGreaterThanOrEqual(4);
    for (const p of processes) {
      expect(p.cmdline).not.toContain(PASSWORD);
      // up was started with MLFLOW_SECURE_PASSWORD set; its children must not inherit it.
      const environ = await readFile(`/proc/${p.pid}/environ`, 'utf8').catch(() => '');
      expect(environ).not.toContain(PASSWORD);
    }
    const files = ['stack.json', 'nginx.conf', 'logs/mlflow.log', 'logs/nginx-error.log', 'logs/nginx-access.log'];
    for (const f of files) expect(await readFile(path.join(stateDir, f), 'utf8'), f).not.toContain(PASSWORD);
    const htpasswd = await stat(path.join(stateDir, 'htpasswd'));
    expect(htpasswd.mode & 0o777).toBe(0o600);
    expect((await stat(path.join(stateDir, 'stack.json'))).mode & 0o077).toBe(0);
  });

  it('shows logs by process', async () => {
    const r = await cli(['logs', 'mlflow', '-n', '200'], { cwd });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/Uvicorn running|Application startup complete/);
    const both = await cli(['logs'], { cwd });
    expect(both.stdout).toMatch(/^mlflow +\| /m);
  });

  it('restarts keeping users and data, and down is idempotent', async () => {
    const before = (await readFile(path.join(stateDir, 'htpasswd'), 'utf8')).trim();
    const down = await cli(['down'], { cwd });
    expect(down.exitCode, down.stderr).toBe(0);
    expect(down.stdout).toMatch(/Stopped mlflow/);
    expect(down.stdout).toMatch(/Stopped nginx/);
    expect(await waitForNoStackProcesses(stateDir, groups)).toEqual([]);
    const again = await cli(['down'], { cwd });
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toMatch(/Nothing to stop/);

    // Restart without giving the password: the file is kept as it is, nobody is reset, and
    // the readiness check uses a temporary user that is gone afterwards.
    const up = await cli(['up', '-d', '--port', String(port), '--server-name', SERVER_NAME], { cwd });
    expect(up.exitCode, up.stderr).toBe(0);
    expect(up.stdout).not.toMatch(/password:/);
    // The password was given, not generated: env cannot know it and says so.
    const env = await cli(['env'], { cwd });
    expect(env.stdout.trim().split('\n')).toEqual([
      `export MLFLOW_TRACKING_URI='${record.url}'`,
      "export MLFLOW_TRACKING_USERNAME='admin'",
      "# set MLFLOW_TRACKING_PASSWORD to admin's password yourself (it was not generated by mlflow-secure)",
    ]);
    record = await readStackRecord(stateDir);
    groups.push(record.mlflow.pid, record.nginx.pid);
    expect((await readFile(path.join(stateDir, 'htpasswd'), 'utf8')).trim()).toBe(before);
    const runs = await request({
      host,
      port,
      method: 'POST',
      path: '/api/2.0/mlflow/runs/search',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ experiment_ids: ['1'], max_results: 10 }),
      auth: auth(),
    });
    expect(runs.status, runs.body).toBe(200);
    expect(JSON.parse(runs.body).runs[0].data.params).toEqual([{ key: 'alpha', value: '0.5' }]);

    // A different password for the existing user is refused, with nothing touched.
    await writeFile(path.join(cwd, 'marker'), 'x');
    const wrong = await cli(['up', '-d', '--port', 'auto', '--state-dir', stateDir], {
      cwd,
      env: { MLFLOW_SECURE_PASSWORD: 'a-different-one' },
    });
    expect(wrong.exitCode).toBe(1);
    expect(wrong.stderr).toMatch(/already running/);
  });
});
