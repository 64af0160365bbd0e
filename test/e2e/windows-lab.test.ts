/**
 * The Windows lab: the built CLI on the real Windows build of Node under Wine (as
 * windows-wine.test.ts), driving a real nginx.exe (nginx 1.22.1 for Windows, from the team's
 * `../shared/windows-lab/`, copied into a temp folder) in front of a real Linux MLflow that this
 * test starts and reaches through `--upstream`: a Windows process under Wine cannot start or
 * watch a Linux program (a spawned ELF has no pid and no exit event).
 *
 * Wine's own gaps, named where they force a choice (they are not Windows'):
 * - `tasklist` prints nothing and PowerShell's Get-CimInstance answers nothing, so the CLI cannot
 *   read nginx.exe's command line: `status` says "could not read its command line", and `down`
 *   stops nginx only through `nginx.exe -s quit` with this folder's -p/-c (src/stack.ts).
 * - `taskkill` has no `/T`, and `/F /PID <master>` leaves the worker serving: a master killed on
 *   its own leaves a worker holding the port, so the kill below takes every process of our
 *   nginx.exe copy from Linux (what `taskkill /F /IM` would do, limited to this copy).
 * - `-s reload` cannot re-bind the port: nothing here reloads (users take effect without one).
 * - node.exe cannot write to a Linux pipe: its output goes to files (scripts/wine-node.mjs), so
 *   a foreground `up` is watched through its port and its record, and read when it exits.
 * - Ctrl+C / Ctrl+Break cannot be delivered to a console program under Wine from here: a
 *   foreground `up` is stopped by `down` from a second process instead.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain-JavaScript helper script without type declarations
import { findWineNode, runUnderWine, toWinePath } from '../../scripts/wine-node.mjs';
import { request } from '../../src/system/http.js';
import { cliPath, removeDir, root, tempDir, venvPython } from './helpers.js';
import { freePort, isAlive, portOpen, startUserMlflow } from './user-mlflow.js';
import { findLab, nginxExeProcesses, NO_LAB, type WineRun } from './windows-lab-harness.js';

const wine = (await findWineNode({ prepare: true })) as { missing?: string };
const labNginx = findLab();
// About 65 s on an idle machine; 4.4 min once with 8 other test runs on the same 2 cores.
const reason = wine.missing ?? (labNginx ? undefined : NO_LAB);
if (reason) console.warn(`SKIPPED windows-lab tests: ${reason}`);

const execFileAsync = promisify(execFile);
const PASSWORD = 'lab-secret-1';
const cli = toWinePath(cliPath) as string;

async function curlStatus(port: number, auth?: string): Promise<string> {
  const { stdout } = await execFileAsync('curl', [
    '-s',
    '-o',
    '/dev/null',
    '-w',
    '%{http_code}',
    ...(auth ? ['-u', auth] : []),
    `http://127.0.0.1:${port}/api/2.0/mlflow/experiments/search?max_results=1`,
  ]);
  return stdout;
}

describe.skipIf(reason !== undefined)(
  `the Windows lab: win32 CLI, real nginx.exe, real MLflow${reason ? ` (skipped: ${reason})` : ''}`,
  () => {
    let work: string;
    let exe: string;
    let cwd: string;
    let stateDir: string;
    let winState: string;
    let mlflow: Awaited<ReturnType<typeof startUserMlflow>>;
    let port: number;
    const figures: string[] = [];

    const run = (args: string[], o: { input?: string; timeoutMs?: number } = {}): Promise<WineRun> =>
      runUnderWine([cli, ...args], {
        cwd,
        env: {
          MLFLOW_SECURE_PASSWORD: PASSWORD,
          MLFLOW_SECURE_NGINX: toWinePath(exe),
          MLFLOW_SECURE_DEBUG: '1',
        },
        input: o.input,
        timeoutMs: o.timeoutMs ?? 180_000,
      }) as Promise<WineRun>;

    beforeAll(async () => {
      work = await tempDir('mlflow-secure-lab-');
      // A folder whose Windows path has a space and a non-ASCII letter.
      cwd = path.join(work, 'Ana López', 'my project');
      await mkdir(cwd, { recursive: true });
      stateDir = path.join(cwd, '.mlflow-secure');
      winState = toWinePath(stateDir) as string;
      await mkdir(path.join(work, 'bin'));
      exe = path.join(work, 'bin', 'nginx.exe');
      await copyFile(labNginx!, exe);
      await mkdir(path.join(work, 'mlflow'));
      mlflow = await startUserMlflow(path.join(work, 'mlflow'));
      port = await freePort();
    }, 240_000);

    afterAll(async () => {
      if (exe) for (const pid of await nginxExeProcesses(exe)) process.kill(pid, 'SIGKILL');
      await mlflow?.stop();
      if (work) await removeDir(work);
      if (figures.length) console.log(`windows-lab figures: ${figures.join('; ')}`);
    });

    const upArgs = () => [
      '--port',
      String(port),
      '--upstream',
      `http://127.0.0.1:${mlflow.port}`,
      '--state-dir',
      winState,
    ];

    it('up -d with a state folder under "Ana López\\my project": nginx.exe serves, one worker, pid file <pid>\\r\\n', async () => {
      const up = await run(['up', '-d', ...upArgs()]);
      expect(up.code, up.stderr).toBe(0);
      figures.push(`up -d ${(up.ms / 1000).toFixed(1)} s`);
      expect(up.stdout).toMatch(/Your MLflow 3\.\d+\.\d+ at http:\/\/127\.0\.0\.1:\d+ is behind nginx 1\.22\.1/);
      expect(up.stderr).toMatch(/warning: --upstream: MLflow at .* listens on TCP/);
      const conf = await readFile(path.join(stateDir, 'nginx.conf'), 'utf8');
      expect(conf).toMatch(/^worker_processes 1;$/m);
      // The password file by its UTF-8 path; what nginx.exe hands to ANSI calls relative to its prefix.
      expect(conf).toContain(`auth_basic_user_file "${winState.replace(/\\/g, '/')}/htpasswd";`);
      expect(conf).toContain('client_body_temp_path "temp/client_body";');
      const pidFile = await readFile(path.join(stateDir, 'nginx', 'logs', 'nginx.pid'), 'utf8');
      expect(pidFile).toMatch(/^\d+\r\n$/);
      const record = JSON.parse(await readFile(path.join(stateDir, 'stack.json'), 'utf8')) as {
        nginx: { pid: number };
        upstream: string;
      };
      expect(record.nginx.pid).toBe(Number(pidFile.trim()));
      expect(record.upstream).toBe(`http://127.0.0.1:${mlflow.port}`);
      expect((await nginxExeProcesses(exe)).length).toBe(2); // master and its one worker
    });

    it('Linux curl: 401 without, 401 wrong, 200 right', async () => {
      expect(await curlStatus(port)).toBe('401');
      expect(await curlStatus(port, 'admin:wrong')).toBe('401');
      expect(await curlStatus(port, `admin:${PASSWORD}`)).toBe('200');
    });

    // The conf's maps and named location on nginx.exe's own pcre2 and hash: the UI's users/current
    // answered by nginx after auth, and a CORS preflight of the stack's page past auth_basic (a
    // foreign origin's is not).
    it('nginx.exe answers users/current after auth, and lets only a preflight of its own page through without a password', async () => {
      const me = (auth?: { user: string; password: string }) =>
        request({ host: '127.0.0.1', port, path: '/ajax-api/2.0/mlflow/users/current', auth });
      expect((await me()).status).toBe(401);
      const ok = await me({ user: 'admin', password: PASSWORD });
      expect(ok.status).toBe(200);
      expect(JSON.parse(ok.body)).toEqual({
        is_basic_auth: false,
        user: { id: 0, is_admin: false, username: 'admin' },
      });
      const preflight = (origin: string) =>
        request({
          host: '127.0.0.1',
          port,
          method: 'OPTIONS',
          path: '/api/2.0/mlflow/experiments/search',
          headers: { Origin: origin, 'Access-Control-Request-Method': 'POST' },
        });
      const own = await preflight(`http://127.0.0.1:${port}`);
      // MLflow's CORS answer: the Origin mapped to where the user's MLflow runs, and back.
      expect([own.status, own.body]).toEqual([200, 'OK']);
      expect(own.headers['access-control-allow-origin']).toBe(`http://127.0.0.1:${port}`);
      expect((await preflight('http://evil.example')).status).toBe(401);
    });

    it("MLflow's Python client logs a run and an artifact through nginx.exe", async () => {
      const { stdout } = await execFileAsync(
        venvPython,
        [path.join(root, 'test', 'fixtures', 'artifact_client.py'), '1048576'],
        {
          env: {
            ...process.env,
            MLFLOW_TRACKING_URI: `http://127.0.0.1:${port}`,
            MLFLOW_TRACKING_USERNAME: 'admin',
            MLFLOW_TRACKING_PASSWORD: PASSWORD,
          },
          timeout: 120_000,
        },
      );
      const r = JSON.parse(stdout.trim().split('\n').pop()!) as { size: number; sha_sent: string; sha_got: string };
      expect(r.size).toBe(1048576);
      expect(r.sha_got).toBe(r.sha_sent);
    });

    it('user add 8 times while 200+ requests flow: every add succeeds, no request fails, every new user logs in', async () => {
      let adding = true;
      const results: number[] = [];
      const load = async () => {
        while (adding || results.length < 200) {
          const r = await request({
            host: '127.0.0.1',
            port,
            path: '/health',
            auth: { user: 'admin', password: PASSWORD },
            timeoutMs: 10_000,
          }).then(
            (x) => x.status,
            () => 0,
          );
          results.push(r);
        }
      };
      const loaders = Promise.all([load(), load(), load(), load()]);
      const started = Date.now();
      let retries = 0;
      try {
        for (let i = 1; i <= 8; i++) {
          const add = await run(['user', 'add', `lab${i}`, '--password-stdin', '--state-dir', winState], {
            input: `lab-user-pw-${i}\r\n`,
          });
          expect(add.code, add.stderr).toBe(0);
          retries += (add.stderr.match(/^\[debug\] rename over .* failed with E[A-Z]+/gm) ?? []).length;
        }
      } finally {
        adding = false;
      }
      await loaders;
      figures.push(
        `8 user adds under load ${((Date.now() - started) / 1000).toFixed(1)} s, ${results.length} requests, rename retries ${retries}`,
      );
      expect(results.filter((s) => s !== 200)).toEqual([]);
      expect(results.length).toBeGreaterThanOrEqual(200);
      for (let i = 1; i <= 8; i++) expect(await curlStatus(port, `lab${i}:lab-user-pw-${i}`), `lab${i}`).toBe('200');
    });

    it('the password file replaced 200 times by node.exe while nginx.exe reads it: the retry absorbs every EPERM', async () => {
      // writeFileAtomic itself, in the Windows build of Node: the rename user add, up and restart use.
      const script = path.join(work, 'replace-htpasswd.mjs');
      await writeFile(
        script,
        [
          "import { readFileSync } from 'node:fs';",
          "import { pathToFileURL } from 'node:url';",
          'const [files, htpasswd] = process.argv.slice(2);',
          'const { writeFileAtomic } = await import(pathToFileURL(files).href);',
          "const text = readFileSync(htpasswd, 'utf8');",
          'const codes = {};',
          'let failed = 0;',
          'for (let i = 0; i < 200; i++) {',
          '  await writeFileAtomic(htpasswd, text, 0o600, { onRetry: (code) => { codes[code] = (codes[code] ?? 0) + 1; } })',
          '    .catch((e) => { failed++; console.error(e.message); });',
          '}',
          'console.log(JSON.stringify({ codes, failed }));',
        ].join('\n'),
      );
      let replacing = true;
      const results: number[] = [];
      const load = async () => {
        while (replacing) {
          results.push(
            await request({
              host: '127.0.0.1',
              port,
              path: '/health',
              auth: { user: 'lab1', password: 'lab-user-pw-1' },
            }).then(
              (x) => x.status,
              () => 0,
            ),
          );
        }
      };
      const loaders = Promise.all([load(), load(), load(), load()]);
      let r: WineRun;
      try {
        r = (await runUnderWine(
          [
            toWinePath(script),
            toWinePath(path.join(root, 'dist', 'system', 'files.js')),
            toWinePath(path.join(stateDir, 'htpasswd')),
          ],
          { cwd, timeoutMs: 180_000 },
        )) as WineRun;
      } finally {
        replacing = false;
      }
      await loaders;
      expect(r.code, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout.trim()) as { codes: Record<string, number>; failed: number };
      const retries = Object.values(out.codes).reduce((a, b) => a + b, 0);
      figures.push(
        `200 htpasswd replacements by node.exe under ${results.length} requests: ${retries} rename retries ${JSON.stringify(out.codes)}`,
      );
      expect(out.failed).toBe(0);
      expect(results.filter((x) => x !== 200)).toEqual([]);
    });

    it('status, logs nginx, env --shell powershell and cmd', async () => {
      const status = await run(['status', '--state-dir', winState]);
      expect(status.code, status.stdout + status.stderr).toBe(0);
      expect(status.stdout).toMatch(new RegExp(`^Running: http://127\\.0\\.0\\.1:${port}`, 'm'));
      // Wine: tasklist prints nothing, so the command line cannot be confirmed (real Windows reads it).
      expect(status.stdout).toMatch(
        /nginx {4}pid \d+ {2}running \(could not read its command line to confirm it is ours\)/,
      );
      expect(status.stdout).toMatch(
        /health: {2}MLflow at http:\/\/127\.0\.0\.1:\d+ \/health ok; nginx without credentials -> 401 ok/,
      );
      const logs = await run(['logs', 'nginx', '--state-dir', winState]);
      expect(logs.code, logs.stderr).toBe(0);
      expect(logs.stdout).toMatch(/wrong-password-check/);
      const ps = await run(['env', '--shell', 'powershell', '--state-dir', winState]);
      expect(ps.code, ps.stderr).toBe(0);
      expect(ps.stdout.trim().split(/\r?\n/)).toEqual([
        `$env:MLFLOW_TRACKING_URI = 'http://127.0.0.1:${port}'`,
        "$env:MLFLOW_TRACKING_USERNAME = 'admin'",
        `$env:MLFLOW_TRACKING_PASSWORD = '${PASSWORD}'`,
      ]);
      const cmd = await run(['env', '--shell', 'cmd', '--state-dir', winState]);
      expect(cmd.stdout.trim().split(/\r?\n/)).toEqual([
        `set "MLFLOW_TRACKING_URI=http://127.0.0.1:${port}"`,
        'set "MLFLOW_TRACKING_USERNAME=admin"',
        `set "MLFLOW_TRACKING_PASSWORD=${PASSWORD}"`,
      ]);
    });

    // Given a bare name, Windows (here node.exe's libuv) looks in the current folder first. The
    // planted tasklist.exe is node.exe itself, and the hook NODE_OPTIONS loads into every node.exe
    // leaves a marker when it runs under that name; status from that folder asks tasklist (Wine's
    // PowerShell answers nothing), by its full path.
    it('status from a folder that ships a tasklist.exe: ours runs, by its full path, never that one', async () => {
      const marker = path.join(work, 'planted-ran');
      const hook = path.join(work, 'planted-hook.cjs');
      await writeFile(
        hook,
        `if (/^tasklist\\.exe$/i.test(require('path').basename(process.execPath))) require('fs').writeFileSync(${JSON.stringify(toWinePath(marker))}, 'ran');\n`,
      );
      await copyFile((wine as { nodeExe: string }).nodeExe, path.join(cwd, 'tasklist.exe'));
      const env = { MLFLOW_SECURE_NGINX: toWinePath(exe), NODE_OPTIONS: `--require ${toWinePath(hook) as string}` };
      const status = (await runUnderWine([cli, 'status', '--state-dir', winState], { cwd, env })) as WineRun;
      expect(status.code, status.stdout + status.stderr).toBe(0);
      expect(status.stdout).toMatch(/nginx {4}pid \d+ {2}running/);
      expect(existsSync(marker)).toBe(false);
      // The control: asked by its bare name from that folder, the planted one is what runs.
      const control = (await runUnderWine(
        ['-e', "require('child_process').spawnSync('tasklist', ['/FI', 'PID eq 1'])"],
        { cwd, env },
      )) as WineRun;
      expect(control.code, control.stderr).toBe(0);
      expect(existsSync(marker)).toBe(true);
      await rm(path.join(cwd, 'tasklist.exe'));
    });

    it('down: nginx.exe quits through -s quit (Wine has no taskkill /T: no other way out), nothing left, port closed, record gone; down again is a no-op', async () => {
      const down = await run(['down', '--state-dir', winState]);
      expect(down.code, down.stderr).toBe(0);
      figures.push(`down ${(down.ms / 1000).toFixed(1)} s`);
      expect(down.stdout).toMatch(/^Stopped nginx \(pid \d+\)\.$/m);
      expect(await nginxExeProcesses(exe)).toEqual([]);
      expect(await portOpen(port)).toBe(false);
      expect(existsSync(path.join(stateDir, 'stack.json'))).toBe(false);
      expect(existsSync(path.join(stateDir, 'nginx', 'logs', 'nginx.pid'))).toBe(false);
      // The user's MLflow was never signalled.
      expect(isAlive(mlflow.pid)).toBe(true);
      const again = await run(['down', '--state-dir', winState]);
      expect(again.code).toBe(0);
      expect(again.stdout).toMatch(/Nothing to stop/);
    });

    /** A foreground `up` under Wine, watched from Linux (its output is read when it exits). */
    function foreground(): { done: Promise<WineRun>; ready(): Promise<void> } {
      const done = run(['up', ...upArgs()], { timeoutMs: 240_000 });
      const ready = async () => {
        const deadline = Date.now() + 180_000;
        for (;;) {
          const text = await readFile(path.join(stateDir, 'stack.json'), 'utf8').catch(() => '');
          if (/"phase": "running"/.test(text) && (await portOpen(port))) return;
          if (Date.now() > deadline) throw new Error('the foreground up did not come up');
          await new Promise((r) => setTimeout(r, 250));
        }
      };
      return { done, ready };
    }

    it('foreground up is stopped by down from a second process: exit 0, nothing left', async () => {
      const fg = foreground();
      await fg.ready();
      expect(await curlStatus(port, `admin:${PASSWORD}`)).toBe('200');
      const down = await run(['down', '--state-dir', winState]);
      expect(down.code, down.stderr).toBe(0);
      const up = await fg.done;
      expect(up.code, up.stdout + up.stderr).toBe(0);
      // The hint names the state folder that up was given (so that it works as printed).
      expect(up.stdout + up.stderr).toMatch(/Stopped by `(npx )?mlflow-secure down --state-dir "[^`]+"`/);
      expect(await nginxExeProcesses(exe)).toEqual([]);
      expect(existsSync(path.join(stateDir, 'stack.json'))).toBe(false);
    });

    it('nginx.exe killed under a foreground up: the supervisor notices and exits 3', async () => {
      const fg = foreground();
      await fg.ready();
      // Every process of our nginx.exe copy, from Linux (see the header: taskkill /F /PID leaves the worker).
      for (const pid of await nginxExeProcesses(exe)) process.kill(pid, 'SIGKILL');
      const up = await fg.done;
      expect(up.code, up.stdout + up.stderr).toBe(3);
      expect(up.stderr).toMatch(
        /error: nginx (exited with code \d+|was killed by \w+) while the stack was running; stopped the rest/,
      );
      expect(existsSync(path.join(stateDir, 'stack.json'))).toBe(false);
      expect(await portOpen(port)).toBe(false);
      expect(isAlive(mlflow.pid)).toBe(true);
    });
  },
);
