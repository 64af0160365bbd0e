/**
 * `up --upstream`: the real nginx in front of a real MLflow this test starts itself (as a user
 * runs one in WSL2, Docker or an IDE). mlflow-secure starts, supervises and stops nginx only; the
 * user's MLflow is never signalled.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from '../../src/system/http.js';
import { cli, readStackRecord, removeDir, spawnCli, tempDir } from './helpers.js';
import { freePort, isAlive, portOpen, startUserMlflow } from './user-mlflow.js';

const PASSWORD = 'upstream-secret-1';

const get = (port: number, p: string, o: { auth?: { user: string; password: string }; host?: string } = {}) =>
  request({
    host: '127.0.0.1',
    port,
    path: p,
    ...(o.auth ? { auth: o.auth } : {}),
    ...(o.host ? { headers: { Host: o.host } } : {}),
  });

describe('up --upstream: nginx only, in front of an MLflow that already runs', () => {
  let work: string;
  let mlflow: Awaited<ReturnType<typeof startUserMlflow>>;
  beforeAll(async () => {
    work = await tempDir('mlflow-secure-upstream-');
    mlflow = await startUserMlflow(work);
  }, 150_000);
  afterAll(async () => {
    await mlflow?.stop();
    if (work) await removeDir(work);
  });

  it('refuses a URL that is not http(s)://host:port, one that does not answer, and one that is not MLflow, starting nothing', async () => {
    const cwd = await tempDir();
    try {
      const shape = await cli(['up', '-d', '--port', 'auto', '--upstream', '127.0.0.1:5001'], { cwd });
      expect(shape.exitCode).toBe(1);
      expect(shape.stderr.trim().split('\n')[0]).toMatch(
        /^error: --upstream must be http:\/\/host:port or https:\/\/host:port .*got "127\.0\.0\.1:5001"/,
      );
      const closed = await freePort();
      const silent = await cli(['up', '-d', '--port', 'auto', '--upstream', `http://127.0.0.1:${closed}`], {
        cwd,
        env: { MLFLOW_SECURE_PASSWORD: PASSWORD },
      });
      expect(silent.exitCode).toBe(1);
      expect(silent.stderr).toMatch(
        new RegExp(
          `error: the MLflow at --upstream http://127\\.0\\.0\\.1:${closed} does not answer \\(ECONNREFUSED\\); nothing was started`,
        ),
      );
      // Something else answers there: a plain web server.
      const other = http.createServer((_, res) => res.writeHead(200, { 'Content-Type': 'text/html' }).end('<html>hi'));
      await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
      const otherPort = (other.address() as net.AddressInfo).port;
      try {
        const notMlflow = await cli(['up', '-d', '--port', 'auto', '--upstream', `http://127.0.0.1:${otherPort}`], {
          cwd,
          env: { MLFLOW_SECURE_PASSWORD: PASSWORD },
        });
        expect(notMlflow.exitCode).toBe(1);
        expect(notMlflow.stderr).toMatch(
          /error: the server at --upstream http:\/\/127\.0\.0\.1:\d+ is not MLflow \(GET \/health answered 200 '<html>hi', GET \/version 200\); nothing was started/,
        );
      } finally {
        other.close();
      }
      // The plan says so too: no stores and no MLflow command, only where nginx proxies.
      const config = await cli(['config', '--upstream', 'http://127.0.0.1:5001'], { cwd });
      expect(config.exitCode, config.stderr).toBe(0);
      expect(config.stdout).toMatch(/^MLflow: {9}yours, at http:\/\/127\.0\.0\.1:5001 \(--upstream: not started/m);
      expect(config.stdout).not.toMatch(/backend store:|mlflow ui/);
      expect(config.stdout).toContain('proxy_set_header Host "127.0.0.1:5001";');
      const json = await cli(['config', '--json', '--upstream', 'http://127.0.0.1:5001'], { cwd });
      expect((JSON.parse(json.stdout) as { upstream: string }).upstream).toBe('http://127.0.0.1:5001');
      // Nothing was started or recorded.
      expect(existsSync(path.join(cwd, '.mlflow-secure', 'stack.json'))).toBe(false);
      expect(existsSync(path.join(cwd, '.mlflow-secure', 'htpasswd'))).toBe(false);
    } finally {
      await removeDir(cwd);
    }
  });

  it('up -d: proof, Host for MLflow 3.5+, status, logs, user, env, restart keeps --upstream, down leaves MLflow running', async () => {
    const cwd = await tempDir();
    const upstream = `http://127.0.0.1:${mlflow.port}`;
    try {
      const up = await cli(
        ['up', '-d', '--port', 'auto', '--upstream', upstream, '--server-name', 'mlflow.example.com'],
        { cwd, env: { MLFLOW_SECURE_PASSWORD: PASSWORD } },
      );
      expect(up.exitCode, up.stderr).toBe(0);
      expect(up.stderr).toMatch(
        new RegExp(
          `warning: --upstream: MLflow at ${upstream.replace(/\./g, '\\.')} listens on TCP, so other accounts on this machine can use it past the password`,
        ),
      );
      expect(up.stdout).toMatch(
        new RegExp(`Your MLflow 3\\.\\d+\\.\\d+ at ${upstream.replace(/\./g, '\\.')} is behind nginx`),
      );
      const stateDir = path.join(cwd, '.mlflow-secure');
      const record = await readStackRecord(stateDir);
      expect((record as unknown as { upstream: string }).upstream).toBe(upstream);
      expect(record.mlflow).toBeUndefined();
      const port = record.port;
      const admin = { user: 'admin', password: PASSWORD };

      expect((await get(port, '/')).status).toBe(401);
      expect((await get(port, '/', { auth: { user: 'admin', password: 'wrong' } })).status).toBe(401);
      expect((await get(port, '/api/2.0/mlflow/experiments/search?max_results=1', { auth: admin })).status).toBe(200);
      const health = await get(port, '/health', { auth: admin });
      expect([health.status, health.body]).toEqual([200, 'OK']);
      // The user's MLflow knows only its own address in Host (3.5+ answers 403 to others): a
      // request by our public name reaches it all the same, and so does the UI's POST with its Origin.
      const byName = await get(port, '/api/2.0/mlflow/experiments/search?max_results=1', {
        auth: admin,
        host: `mlflow.example.com:${port}`,
      });
      expect(byName.status, byName.body).toBe(200);
      const direct = await get(mlflow.port, '/api/2.0/mlflow/experiments/search?max_results=1', {
        host: `mlflow.example.com:${port}`,
      });
      expect(direct.status).toBe(403); // what nginx would have met passing the client's Host on
      const post = await request({
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/ajax-api/2.0/mlflow/experiments/search',
        headers: {
          Host: `mlflow.example.com:${port}`,
          Origin: `http://mlflow.example.com:${port}`,
          'Content-Type': 'application/json',
        },
        body: '{"max_results":1}',
        auth: admin,
      });
      expect(post.status, post.body).toBe(200);
      // Its CORS answer names the page's origin, not the upstream's (a browser compares them).
      expect(post.headers['access-control-allow-origin']).toBe(`http://mlflow.example.com:${port}`);
      const preflight = await request({
        host: '127.0.0.1',
        port,
        method: 'OPTIONS',
        path: '/ajax-api/2.0/mlflow/experiments/search',
        headers: {
          Host: `mlflow.example.com:${port}`,
          Origin: `http://mlflow.example.com:${port}`,
          'Access-Control-Request-Method': 'POST',
        },
      });
      expect([preflight.status, preflight.body]).toEqual([200, 'OK']);
      expect(preflight.headers['access-control-allow-origin']).toBe(`http://mlflow.example.com:${port}`);
      // A foreign page's Origin is not rewritten: MLflow's own CORS check still refuses it.
      const foreign = await request({
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/ajax-api/2.0/mlflow/experiments/create',
        headers: { Origin: 'https://evil.example', 'Content-Type': 'application/json' },
        body: '{"name":"x"}',
        auth: admin,
      });
      expect(foreign.status).toBe(403);
      expect(foreign.headers['access-control-allow-origin']).toBeUndefined();

      const status = await cli(['status'], { cwd });
      expect(status.exitCode, status.stdout).toBe(0);
      expect(status.stdout).toMatch(/^Running: /);
      expect(status.stdout).toContain(`mlflow   ${upstream} (yours: --upstream; not started or stopped here)`);
      expect(status.stdout).toMatch(new RegExp(`health:  MLflow at ${upstream.replace(/\./g, '\\.')} /health ok`));
      expect(status.stdout).not.toMatch(/^\s+mlflow\s+pid/m);
      const logs = await cli(['logs', 'nginx', '-n', '20'], { cwd });
      expect(logs.exitCode, logs.stderr).toBe(0);

      const add = await cli(['user', 'add', 'bea', '--password-stdin'], { cwd, input: 'bea-secret-pw-1\n' });
      expect(add.exitCode, add.stderr).toBe(0);
      expect((await get(port, '/health', { auth: { user: 'bea', password: 'bea-secret-pw-1' } })).status).toBe(200);
      const env = await cli(['env'], { cwd, env: { MLFLOW_SECURE_PASSWORD: PASSWORD } });
      expect(env.stdout).toContain(`export MLFLOW_TRACKING_URI='http://127.0.0.1:${port}'`);

      const restart = await cli(['restart'], { cwd, env: { MLFLOW_SECURE_PASSWORD: PASSWORD } });
      expect(restart.exitCode, restart.stderr).toBe(0);
      const again = await readStackRecord(stateDir);
      expect((again as unknown as { upstream: string }).upstream).toBe(upstream);
      expect(again.nginx.pid).not.toBe(record.nginx.pid);
      expect(isAlive(mlflow.pid)).toBe(true);

      const down = await cli(['down'], { cwd });
      expect(down.exitCode, down.stderr).toBe(0);
      expect(down.stdout).toMatch(/Stopped nginx/);
      expect(down.stdout).not.toMatch(/mlflow/i);
      // The user's MLflow was never signalled: still there, still answering.
      expect(isAlive(mlflow.pid)).toBe(true);
      expect((await get(mlflow.port, '/health')).status).toBe(200);
      expect(await portOpen(port)).toBe(false);
      expect(existsSync(path.join(stateDir, 'stack.json'))).toBe(false);
      const twice = await cli(['down'], { cwd });
      expect(twice.stdout).toMatch(/Nothing to stop/);
    } finally {
      await cli(['down'], { cwd });
      await removeDir(cwd);
    }
  });

  it('a planted record pointing --upstream elsewhere: restart refuses (nothing verified running), status probes nothing', async () => {
    const cwd = await tempDir();
    const stateDir = path.join(cwd, '.mlflow-secure');
    try {
      // A server playing the attacker's host: it must never be contacted.
      let contacted = 0;
      const trap = http.createServer((_, res) => {
        contacted++;
        res.end('OK');
      });
      await new Promise<void>((resolve) => trap.listen(0, '127.0.0.1', resolve));
      const trapPort = (trap.address() as net.AddressInfo).port;
      try {
        await cli(['user', 'add', 'ana', '--password-stdin'], { cwd, input: 'ana-secret-pw-1\n' });
        await writeFile(
          path.join(stateDir, 'stack.json'),
          JSON.stringify({
            version: 2,
            phase: 'running',
            supervisorPid: null,
            startedAt: '2026-01-01T00:00:00.000Z',
            url: 'http://127.0.0.1:5999',
            publicUrls: [],
            user: 'ana',
            host: '127.0.0.1',
            port: 5999,
            mlflowPort: trapPort,
            hash: 'bcrypt',
            backendStoreUri: '',
            registryStoreUri: '',
            artifactsDestination: '',
            upstream: `http://127.0.0.1:${trapPort}`,
            nginx: { pid: process.pid },
          }),
          { mode: 0o600 },
        );
        const restart = await cli(['restart'], { cwd, env: { MLFLOW_SECURE_PASSWORD: PASSWORD } });
        expect(restart.exitCode).toBe(1);
        expect(restart.stderr).toMatch(/no stack is running from .*, so there is nothing to restart/);
        const status = await cli(['status'], { cwd });
        expect(status.stdout).toMatch(/not probed/);
        const env = await cli(['env'], { cwd, env: { MLFLOW_SECURE_PASSWORD: PASSWORD } });
        expect(env.exitCode).toBe(1);
        expect(contacted).toBe(0);
        // A record whose upstream is not a plain URL is refused as a whole.
        const planted = JSON.parse(await readFile(path.join(stateDir, 'stack.json'), 'utf8')) as Record<
          string,
          unknown
        >;
        planted.upstream = 'http://127.0.0.1:1; include /etc/passwd';
        await writeFile(path.join(stateDir, 'stack.json'), JSON.stringify(planted), { mode: 0o600 });
        const bad = await cli(['status'], { cwd });
        expect(bad.stderr).toMatch(
          /is not one mlflow-secure wrote \(upstream: not a plain http\(s\):\/\/host:port URL\)/,
        );
      } finally {
        trap.close();
      }
    } finally {
      await removeDir(cwd);
    }
  });

  it('foreground: the upstream going away is said in a line (and its return); nginx dying exits 3', async () => {
    // A stand-in for the user's MLflow that the test can take away and bring back on the same port.
    const fakePort = await freePort();
    const serve = () => {
      const s = http.createServer((req, res) => {
        if (req.url === '/version') res.end('3.17.2');
        else res.end('OK');
      });
      return new Promise<http.Server>((resolve) => s.listen(fakePort, '127.0.0.1', () => resolve(s)));
    };
    let fake = await serve();
    const cwd = await tempDir();
    const run = spawnCli(['up', '--port', 'auto', '--upstream', `http://127.0.0.1:${fakePort}`], {
      cwd,
      env: { MLFLOW_SECURE_PASSWORD: PASSWORD },
    });
    try {
      await run.waitFor(/is behind nginx/, 60_000);
      const record = await readStackRecord(path.join(cwd, '.mlflow-secure'));
      await new Promise<void>((resolve) => {
        fake.closeAllConnections();
        fake.close(() => resolve());
      });
      await run.waitFor(
        /warning: your MLflow at http:\/\/127\.0\.0\.1:\d+ stopped answering \(ECONNREFUSED\): requests through nginx get 502 until it is back/,
        15_000,
      );
      expect(run.child.exitCode).toBeNull();
      fake = await serve();
      await run.waitFor(/Your MLflow at http:\/\/127\.0\.0\.1:\d+ answers again\./, 15_000);
      process.kill(record.nginx.pid, 'SIGKILL');
      const result = await run.child;
      expect(result.exitCode, run.output()).toBe(3);
      expect(run.output()).toMatch(/nginx was killed by SIGKILL while the stack was running/);
    } finally {
      run.child.kill('SIGKILL');
      await cli(['down'], { cwd });
      fake.close();
      await removeDir(cwd);
    }
  });
});
