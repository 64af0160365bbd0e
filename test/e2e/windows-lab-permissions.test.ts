/**
 * `up --permissions`'s Windows nginx.conf on a real nginx.exe (the team's Windows lab, under Wine)
 * in front of real MLflow with its auth app and our authorization function: the identity nginx.exe
 * hands over is the one MLflow's permissions use, nothing a client sends can change it, and a
 * script's token gets past nginx.exe's password check on MLflow's API only.
 *
 * The conf is the Windows build of Node's own plan (`config --json --permissions` under Wine, so
 * win32 paths, TCP to MLflow, one worker), with two things filled in that `up` would fill: the run's
 * secret and MLflow's port. Wine's gap forces the split (windows-lab.test.ts): node.exe cannot
 * start or watch a Linux MLflow, and `--permissions` needs the MLflow mlflow-secure starts. So the
 * Linux CLI starts that MLflow (`up -d --permissions --jobs on`: MLflow on loopback TCP, which
 * nginx.exe can reach; it has no unix: upstreams), and nginx.exe stands where Windows' nginx would.
 * The password file is the Windows CLI's (`user add` under Wine: `$apr1$`, nginx.exe has no crypt()).
 */
import { spawn } from 'node:child_process';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain-JavaScript helper script without type declarations
import { findWineNode, runUnderWine, toWinePath } from '../../scripts/wine-node.mjs';
import { SECRET_HEADER, USER_HEADER } from '../../src/stack/permissions.js';
import { SECRET_PLACEHOLDER } from '../../src/stack/plan.js';
import { request, type HttpResponse } from '../../src/system/http.js';
import {
  cleanEnv,
  cli,
  cliPath,
  readStackRecord,
  removeDir,
  root,
  tempDir,
  venvPython,
  waitForNoStackProcesses,
} from './helpers.js';
import { freePort, portOpen } from './user-mlflow.js';
import { findLab, nginxExeProcesses, nginxExeTest, NO_LAB, type WineRun } from './windows-lab-harness.js';

const wine = (await findWineNode({ prepare: true })) as { missing?: string; wine: string; env: NodeJS.ProcessEnv };
const labNginx = findLab();
const reason = wine.missing ?? (labNginx ? undefined : NO_LAB);
if (reason) console.warn(`SKIPPED windows-lab permissions tests: ${reason}`);

const BOB = { user: 'bob', password: `bob-${Math.random().toString(36).slice(2)}-pw` };
const ALICE = { user: 'alice', password: `alice-${Math.random().toString(36).slice(2)}-pw` };
const CLIENT = path.join(root, 'test', 'fixtures', 'permissions_client.py');
const TOKEN_CLIENT = path.join(root, 'test', 'fixtures', 'token_client.py');
/** Every header a client might send to claim bob's name. */
const FORGED = {
  'X-Forwarded-User': 'bob',
  'Remote-User': 'bob',
  'X-Remote-User': 'bob',
  [USER_HEADER]: 'bob',
  'X-MLflow-Secure_User': 'bob',
  [SECRET_HEADER]: 'f'.repeat(64),
};

/** The folders `up` makes before it starts nginx. */
const TEMP_FOLDERS = [
  'logs',
  'nginx/logs',
  ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `nginx/temp/${t}`),
];

describe.skipIf(reason !== undefined)(
  `--permissions' Windows nginx.conf on a real nginx.exe${reason ? ` (skipped: ${reason})` : ''}`,
  () => {
    let work: string;
    let exe: string;
    let linuxCwd: string;
    let linuxState: string;
    let winState: string;
    let winStateDir: string;
    let mlflowPort: number;
    let port: number;
    let secret: string;
    let conf: string;
    let nginxArgs: string[];
    let groups: number[] = [];

    const wineCli = (args: string[], env: Record<string, string> = {}): Promise<WineRun> =>
      runUnderWine([toWinePath(cliPath), ...args], {
        cwd: work,
        env: { MLFLOW_SECURE_PASSWORD: '', ...env },
        timeoutMs: 180_000,
      }) as Promise<WineRun>;

    const call = (
      p: string,
      o: { auth?: typeof BOB; method?: string; body?: unknown; headers?: Record<string, string> } = {},
    ): Promise<HttpResponse> =>
      request({
        host: '127.0.0.1',
        port,
        path: p,
        method: o.method ?? (o.body === undefined ? 'GET' : 'POST'),
        auth: o.auth,
        headers: { ...(o.body === undefined ? {} : { 'Content-Type': 'application/json' }), ...o.headers },
        body: o.body === undefined ? undefined : JSON.stringify(o.body),
      });

    /** The real Python client as `who`, through nginx.exe. */
    const client = async (who: typeof BOB, action: string, experiment: string): Promise<Record<string, unknown>> => {
      const r = await execa(venvPython, [CLIENT, action, experiment], {
        env: cleanEnv({
          MLFLOW_TRACKING_URI: `http://127.0.0.1:${port}`,
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

    beforeAll(async () => {
      work = await tempDir('mlflow-secure-lab-perm-');
      exe = path.join(work, 'bin', 'nginx.exe');
      await mkdir(path.dirname(exe));
      await copyFile(labNginx!, exe);

      // The MLflow `up --permissions` starts (Linux), on loopback TCP.
      linuxCwd = path.join(work, 'linux');
      await mkdir(linuxCwd);
      linuxState = path.join(linuxCwd, '.mlflow-secure');
      const up = await cli(['up', '-d', '--port', 'auto', '--user', 'bob', '--permissions', '--jobs', 'on'], {
        cwd: linuxCwd,
        env: { MLFLOW_SECURE_PASSWORD: BOB.password },
      });
      expect(up.exitCode, up.stderr).toBe(0);
      // alice in the Linux password file too: `grant` names users of the stack it edits.
      const add = await cli(['user', 'add', 'alice'], {
        cwd: linuxCwd,
        env: { MLFLOW_SECURE_PASSWORD: ALICE.password },
      });
      expect(add.exitCode, add.stderr).toBe(0);
      const record = await readStackRecord(linuxState);
      groups = [record.mlflow.pid, record.nginx.pid];
      mlflowPort = (record as unknown as { mlflowPort: number }).mlflowPort;
      const linuxConf = await readFile(path.join(linuxState, 'nginx.conf'), 'utf8');
      secret = new RegExp(`proxy_set_header ${SECRET_HEADER} "([^"]+)";`).exec(linuxConf)![1]!;
      expect(secret.length).toBeGreaterThanOrEqual(32);

      // The Windows side: its password file and its plan, from node.exe.
      winStateDir = path.join(work, 'win', '.mlflow-secure');
      winState = toWinePath(winStateDir) as string;
      for (const who of [BOB, ALICE]) {
        const r = await wineCli(['user', 'add', who.user, '--state-dir', winState], {
          MLFLOW_SECURE_PASSWORD: who.password,
        });
        expect(r.code, r.stderr).toBe(0);
      }
      port = await freePort();
      const planned = await wineCli([
        'config',
        '--json',
        '--permissions',
        '--port',
        String(port),
        '--state-dir',
        winState,
        '--nginx',
        toWinePath(exe) as string,
      ]);
      expect(planned.code, planned.stderr).toBe(0);
      const plan = JSON.parse(planned.stdout) as {
        platform: string;
        nginxConf: string;
        nginxConfPath: string;
        mlflow: { port: number };
        nginx: { args: string[] };
      };
      expect(plan.platform).toBe('win32');
      const upstreamLine = `server 127.0.0.1:${plan.mlflow.port};`;
      expect(plan.nginxConf).toContain(upstreamLine);
      expect(plan.nginxConf.split(SECRET_PLACEHOLDER)).toHaveLength(2);
      // What `up` fills in: this run's secret, and the port its MLflow got.
      conf = plan.nginxConf
        .replace(SECRET_PLACEHOLDER, secret)
        .replace(upstreamLine, `server 127.0.0.1:${mlflowPort};`);
      nginxArgs = plan.nginx.args;
      const htpasswd = await readFile(path.join(winStateDir, 'htpasswd'), 'utf8');
      expect(htpasswd).toMatch(/^bob:\$apr1\$/m);
      for (const d of TEMP_FOLDERS) await mkdir(path.join(winStateDir, d), { recursive: true });
      await writeFile(path.join(winStateDir, 'nginx.conf'), conf, { mode: 0o600 });
      expect(toWinePath(path.join(winStateDir, 'nginx.conf'))).toBe(plan.nginxConfPath);

      const test = await nginxExeTest(wine, exe, nginxArgs);
      if (test.code !== 0) throw new Error(`nginx.exe -t refused the plan's conf (${test.code}): ${test.stderr}`);
      spawn(wine.wine, [exe, ...nginxArgs], { env: wine.env, detached: true, stdio: 'ignore' }).unref();
      const deadline = Date.now() + 60_000;
      while (!(await portOpen(port))) {
        if (Date.now() > deadline) throw new Error(`nginx.exe did not listen on ${port} within 60 s`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }, 420_000);

    afterAll(async () => {
      // Master and worker together (a master left alone respawns its worker); none may outlive the file.
      let left: number[] = [];
      if (exe)
        for (let i = 0; i < 20 && (left = await nginxExeProcesses(exe)).length > 0; i++) {
          for (const pid of left) process.kill(pid, 'SIGKILL');
          await new Promise((r) => setTimeout(r, 250));
        }
      if (linuxCwd) {
        await cli(['down'], { cwd: linuxCwd });
        expect(await waitForNoStackProcesses(linuxState, groups)).toEqual([]);
      }
      if (work) await removeDir(work);
      expect(left).toEqual([]);
    });

    // Until this ran, every Windows plan but --upstream's was refused by nginx.exe ("could not
    // build map_hash": its 32-byte bucket cannot hold the preflight origins' keys).
    it.each([
      ['plain', []],
      [
        '--permissions --default-permission NO_PERMISSIONS',
        ['--permissions', '--default-permission', 'NO_PERMISSIONS'],
      ],
      [
        '--host 0.0.0.0 --server-name',
        ['--host', '0.0.0.0', '--server-name', 'mlflow.team.example,mlflow-backup.team.example'],
      ],
      ['--upstream', ['--upstream', 'http://127.0.0.1:5999']],
    ])('nginx.exe -t accepts the Windows plan: %s', async (_name, extra) => {
      const dir = path.join(work, `plan-${Math.random().toString(36).slice(2)}`, '.mlflow-secure');
      const planned = await wineCli([
        'config',
        '--json',
        '--port',
        String(await freePort()),
        '--state-dir',
        toWinePath(dir) as string,
        '--nginx',
        toWinePath(exe) as string,
        ...(extra as string[]),
      ]);
      expect(planned.code, planned.stderr).toBe(0);
      const plan = JSON.parse(planned.stdout) as { nginxConf: string; nginx: { testArgs: string[] } };
      for (const d of TEMP_FOLDERS) await mkdir(path.join(dir, d), { recursive: true });
      await writeFile(path.join(dir, 'htpasswd'), '');
      await writeFile(path.join(dir, 'nginx.conf'), plan.nginxConf.replace(SECRET_PLACEHOLDER, 's'.repeat(43)));
      const t = await nginxExeTest(wine, exe, plan.nginx.testArgs);
      expect(t, plan.nginxConf).toEqual({ code: 0, stderr: expect.stringContaining('test is successful') });
    });

    it('nginx.exe checks the password first: 401 without, with a wrong one, and with only forged identity headers', async () => {
      const search = '/api/2.0/mlflow/experiments/search?max_results=1';
      expect((await call(search)).status).toBe(401);
      expect((await call(search, { auth: { user: 'bob', password: 'wrong' } })).status).toBe(401);
      expect((await call(search, { headers: FORGED })).status).toBe(401);
      expect((await call(search, { auth: BOB })).status).toBe(200);
    });

    it('MLflow hears who signed in at nginx.exe: bob is its admin, alice is not, forged headers change nothing', async () => {
      const me = async (who: typeof BOB, headers?: Record<string, string>) =>
        JSON.parse((await call('/ajax-api/2.0/mlflow/users/current', { auth: who, headers })).body) as {
          user: { username: string; is_admin: boolean };
        };
      expect((await me(BOB)).user).toMatchObject({ username: 'bob', is_admin: true });
      expect((await me(ALICE)).user).toMatchObject({ username: 'alice', is_admin: false });
      expect((await me(ALICE, FORGED)).user).toMatchObject({ username: 'alice', is_admin: false });
    });

    it("the real client through nginx.exe: bob's experiment is readable by alice under READ, not writable, until granted EDIT", async () => {
      const created = await client(BOB, 'create', 'bobs-experiment');
      expect(created).toMatchObject({ user_id: 'bob', user_tag: 'bob' });
      expect(await client(ALICE, 'read', 'bobs-experiment')).toEqual({ found: true });
      expect(await client(ALICE, 'write', 'bobs-experiment')).toEqual({ ok: false, error_code: 'PERMISSION_DENIED' });
      const update = { experiment_id: String(created.experiment_id), new_name: 'renamed-by-alice' };
      const forged = await call('/api/2.0/mlflow/experiments/update', { auth: ALICE, body: update, headers: FORGED });
      expect(forged.status).toBe(403);

      const g = await cli(['grant', 'alice', 'experiment', 'bobs-experiment', 'EDIT'], { cwd: linuxCwd });
      expect(g.exitCode, g.stderr).toBe(0);
      expect(await client(ALICE, 'write', 'bobs-experiment')).toEqual({ ok: true });
    });

    it("MLflow's port without nginx.exe's secret refuses everything, whatever name is claimed", async () => {
      for (const headers of [{}, FORGED, { [USER_HEADER]: 'bob' }] as Record<string, string>[])
        expect(
          (
            await request({
              host: '127.0.0.1',
              port: mlflowPort,
              path: '/api/2.0/mlflow/experiments/search?max_results=1',
              headers,
            })
          ).status,
        ).toBe(401);
    });

    it("a token through nginx.exe: the real client logs a run as the token's user; a made-up one, or Bearer off the API, gets 401", async () => {
      const made = await cli(['token', 'create', 'lab-ci', '--user', 'alice'], { cwd: linuxCwd });
      expect(made.exitCode, made.stderr).toBe(0);
      const token = made.stdout.trim();
      const r = await execa(venvPython, [TOKEN_CLIENT, 'create', 'alices-lab-experiment'], {
        env: cleanEnv({
          MLFLOW_TRACKING_URI: `http://127.0.0.1:${port}`,
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
      expect(JSON.parse(r.stdout.trim().split('\n').at(-1)!)).toEqual({
        ok: true,
        user_id: 'alice',
        user_tag: 'alice',
      });
      const bearer = (t: string) => ({ Authorization: `Bearer ${t}` });
      expect(
        (await call('/api/2.0/mlflow/experiments/search?max_results=1', { headers: bearer(`mlfs_${'A'.repeat(43)}`) }))
          .status,
      ).toBe(401);
      const ui = await call('/', { headers: bearer(token) });
      expect([ui.status, ui.headers['www-authenticate']]).toEqual([401, 'Basic realm="MLflow"']);
      const log = await readFile(path.join(winStateDir, 'logs', 'nginx-access.log'), 'utf8');
      expect(log).toMatch(/^127\.0\.0\.1 - alice \[.*"POST \/api\/2\.0\/mlflow\/runs\/create /m);
      expect(log).not.toContain(token);
    });

    it("nginx.exe's access log names the signed-in user", async () => {
      await call('/api/2.0/mlflow/experiments/search?max_results=1', { auth: ALICE });
      const log = await readFile(path.join(winStateDir, 'logs', 'nginx-access.log'), 'utf8');
      expect(log).toMatch(/^127\.0\.0\.1 - alice \[/m);
      expect(log).not.toContain(ALICE.password);
    });
  },
);
