/**
 * `up --tls` on the Windows lab: the built CLI on the real Windows build of Node under Wine (as
 * windows-lab.test.ts) driving a real nginx.exe WITH SSL (nginx 1.22.1 + OpenSSL 3.0 from
 * Debian's sources, cross-built by scripts/build-nginx-win64.sh), in front of a real Linux MLflow
 * reached through `--upstream` (a Windows process under Wine cannot start or watch a Linux one).
 * From Linux: the real MLflow Python client over HTTPS with verification on against the CA
 * `env` names, curl --cacert, plain HTTP -> 301 to https, and TLS 1.2/1.3 only (s_client).
 * Wine's gaps are as described in windows-lab.test.ts; the kill in afterAll takes every process
 * of our nginx.exe copy from Linux for the same reason (taskkill /F /PID leaves the worker).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain-JavaScript helper script without type declarations
import { findWineNode, runUnderWine, toWinePath } from '../../scripts/wine-node.mjs';
import { SECRET_PLACEHOLDER } from '../../src/stack/plan.js';
import { cliPath, removeDir, root, tempDir, venvPython } from './helpers.js';
import { freePort, isAlive, portOpen, startUserMlflow } from './user-mlflow.js';
import { nginxExeProcesses, nginxExeTest, type WineRun } from './windows-lab-harness.js';

/** The SSL nginx.exe: MLFLOW_SECURE_WINDOWS_NGINX_SSL, else where scripts/build-nginx-win64.sh puts it. */
function findSslNginx(): string | undefined {
  const file =
    process.env.MLFLOW_SECURE_WINDOWS_NGINX_SSL ??
    path.join(os.homedir(), '.cache', 'mlflow-secure-nginx-win64', 'nginx-ssl.exe');
  return existsSync(file) ? file : undefined;
}

const wine = (await findWineNode({ prepare: true })) as { missing?: string; wine: string; env: NodeJS.ProcessEnv };
const sslNginx = findSslNginx();
const reason =
  wine.missing ??
  (sslNginx
    ? undefined
    : 'no nginx.exe with SSL: build it with `sh scripts/build-nginx-win64.sh` (or set MLFLOW_SECURE_WINDOWS_NGINX_SSL)');
if (reason) console.warn(`SKIPPED windows-lab TLS tests: ${reason}`);

const execFileAsync = promisify(execFile);
const PASSWORD = 'lab-tls-secret-1';
const cli = toWinePath(cliPath) as string;

/** curl from Linux: status code and Location; `--cacert` verifies against the stack's CA. */
async function curl(
  url: string,
  o: { ca?: string; auth?: string } = {},
): Promise<{ status: string; location: string }> {
  const { stdout } = await execFileAsync('curl', [
    '-s',
    '-o',
    '/dev/null',
    '-w',
    '%{http_code} %{redirect_url}',
    ...(o.ca ? ['--cacert', o.ca] : []),
    ...(o.auth ? ['-u', o.auth] : []),
    url,
  ]);
  const [status = '', location = ''] = stdout.split(' ');
  return { status, location };
}

function sClient(
  port: number,
  version: string,
  caFile: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  // SECLEVEL=0 lets this client offer TLS 1.0/1.1 (OpenSSL 3 refuses them by itself at level 1),
  // so a refusal comes from the server: a "protocol version" alert. Its stdin is closed at once,
  // so that it hangs up after the handshake.
  return new Promise((resolve) => {
    const child = execFile(
      'openssl',
      [
        's_client',
        '-connect',
        `127.0.0.1:${port}`,
        `-${version}`,
        '-cipher',
        'DEFAULT@SECLEVEL=0',
        '-CAfile',
        caFile,
        '-verify_return_error',
        '-servername',
        'localhost',
      ],
      { timeout: 30_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    child.stdin?.end();
  });
}

describe.skipIf(reason !== undefined)(
  `the Windows lab with SSL: win32 CLI, nginx.exe with OpenSSL, up --tls${reason ? ` (skipped: ${reason})` : ''}`,
  () => {
    let work: string;
    let exe: string;
    let cwd: string;
    let stateDir: string;
    let winState: string;
    let mlflow: Awaited<ReturnType<typeof startUserMlflow>>;
    let port: number;
    let ca: string;
    const figures: string[] = [];

    const run = (args: string[]): Promise<WineRun> =>
      runUnderWine([cli, ...args], {
        cwd,
        env: { MLFLOW_SECURE_PASSWORD: PASSWORD, MLFLOW_SECURE_NGINX: toWinePath(exe) },
        timeoutMs: 240_000,
      }) as Promise<WineRun>;

    beforeAll(async () => {
      work = await tempDir('mlflow-secure-lab-tls-');
      cwd = path.join(work, 'project');
      await mkdir(cwd, { recursive: true });
      stateDir = path.join(cwd, '.mlflow-secure');
      winState = toWinePath(stateDir) as string;
      ca = path.join(stateDir, 'tls', 'ca.pem');
      await mkdir(path.join(work, 'bin'));
      exe = path.join(work, 'bin', 'nginx.exe');
      await copyFile(sslNginx!, exe);
      await mkdir(path.join(work, 'mlflow'));
      mlflow = await startUserMlflow(path.join(work, 'mlflow'));
      port = await freePort();
    }, 240_000);

    afterAll(async () => {
      if (exe) for (const pid of await nginxExeProcesses(exe)) process.kill(pid, 'SIGKILL');
      await mlflow?.stop();
      if (work) await removeDir(work);
      if (figures.length) console.log(`windows-lab TLS figures: ${figures.join('; ')}`);
    });

    it('up -d --tls: a local CA made, nginx.exe serves https on the port', async () => {
      const up = await run([
        'up',
        '-d',
        '--tls',
        '--port',
        String(port),
        '--upstream',
        `http://127.0.0.1:${mlflow.port}`,
        '--state-dir',
        winState,
      ]);
      expect(up.code, up.stdout + up.stderr).toBe(0);
      figures.push(`up -d --tls ${(up.ms / 1000).toFixed(1)} s`);
      expect(up.stdout).toMatch(/^Your MLflow 3\.\d+\.\d+ at http:\/\/127\.0\.0\.1:\d+ is behind nginx 1\.22\.1/);
      expect(up.stdout).toContain(`URL:       https://127.0.0.1:${port}`);
      expect(up.stdout).toContain(`CA:        ${toWinePath(ca) as string}`);
      expect(up.stderr).toContain(`Made a local CA: ${toWinePath(ca) as string}.`);
      const conf = await readFile(path.join(stateDir, 'nginx.conf'), 'utf8');
      expect(conf).toMatch(new RegExp(`listen 127\\.0\\.0\\.1:${port} ssl;`));
      expect(conf).toContain('ssl_protocols TLSv1.2 TLSv1.3;');
      expect((await nginxExeProcesses(exe)).length).toBe(2); // master and its one worker
    });

    // The plan up would run without --upstream (which node.exe under Wine cannot): nginx.exe -t
    // takes it, with the certificate up just made. Written beside the running conf, not over it.
    it('nginx.exe -t accepts the Windows plan of up --tls --permissions (no --upstream)', async () => {
      const planned = await run([
        'config',
        '--json',
        '--tls',
        '--permissions',
        '--port',
        String(await freePort()),
        '--state-dir',
        winState,
      ]);
      expect(planned.code, planned.stderr).toBe(0);
      const plan = JSON.parse(planned.stdout) as {
        nginxConf: string;
        nginxConfPath: string;
        nginx: { testArgs: string[] };
      };
      expect(plan.nginxConf).toContain('ssl_certificate ');
      const confFile = path.join(stateDir, 'nginx-plan-test.conf');
      await writeFile(confFile, plan.nginxConf.replace(SECRET_PLACEHOLDER, 's'.repeat(43)));
      // -c <conf>, in the forward-slash form nginx.exe is handed.
      const args = [...plan.nginx.testArgs];
      args[args.indexOf('-c') + 1] = (toWinePath(confFile) as string).replace(/\\/g, '/');
      const t = await nginxExeTest(wine, exe, args);
      expect(t, plan.nginxConf).toEqual({ code: 0, stderr: expect.stringContaining('test is successful') });
    });

    it('env names the CA by its Windows path; curl --cacert from Linux: 401 without, 200 with the password', async () => {
      const ps = await run(['env', '--shell', 'powershell', '--state-dir', winState]);
      expect(ps.code, ps.stderr).toBe(0);
      expect(ps.stdout.trim().split(/\r?\n/)).toEqual([
        `$env:MLFLOW_TRACKING_URI = 'https://127.0.0.1:${port}'`,
        "$env:MLFLOW_TRACKING_USERNAME = 'admin'",
        `$env:MLFLOW_TRACKING_SERVER_CERT_PATH = '${toWinePath(ca) as string}'`,
        `$env:MLFLOW_TRACKING_PASSWORD = '${PASSWORD}'`,
      ]);
      const api = `https://127.0.0.1:${port}/api/2.0/mlflow/experiments/search?max_results=1`;
      expect((await curl(api, { ca })).status).toBe('401');
      expect((await curl(api, { ca, auth: 'admin:wrong' })).status).toBe('401');
      expect((await curl(api, { ca, auth: `admin:${PASSWORD}` })).status).toBe('200');
    });

    it("MLflow's Python client logs a run and a 1 MB artifact over HTTPS, verifying against the CA", async () => {
      const { stdout } = await execFileAsync(
        venvPython,
        [path.join(root, 'test', 'fixtures', 'artifact_client.py'), '1048576'],
        {
          env: {
            PATH: process.env.PATH ?? '',
            HOME: work,
            MLFLOW_HTTP_REQUEST_MAX_RETRIES: '0',
            MLFLOW_TRACKING_URI: `https://127.0.0.1:${port}`,
            MLFLOW_TRACKING_USERNAME: 'admin',
            MLFLOW_TRACKING_PASSWORD: PASSWORD,
            MLFLOW_TRACKING_SERVER_CERT_PATH: ca,
          },
          timeout: 180_000,
        },
      );
      const r = JSON.parse(stdout.trim().split('\n').pop()!) as { size: number; sha_sent: string; sha_got: string };
      expect(r.size).toBe(1048576);
      expect(r.sha_got).toBe(r.sha_sent);
    });

    it('plain HTTP on the port: 301 to the same path over https', async () => {
      const r = await curl(`http://127.0.0.1:${port}/api/2.0/mlflow/experiments/search?max_results=1`);
      expect(r).toEqual({
        status: '301',
        location: `https://127.0.0.1:${port}/api/2.0/mlflow/experiments/search?max_results=1`,
      });
    });

    it('openssl s_client: TLS 1.2 and 1.3 verify against the CA; TLS 1.1 and 1.0 get a protocol alert', async () => {
      for (const [version, protocol] of [
        ['tls1_2', 'TLSv1\\.2'],
        ['tls1_3', 'TLSv1\\.3'],
      ] as const) {
        const r = await sClient(port, version, ca);
        expect(r.code, `${version}: ${r.stdout}\n${r.stderr}`).toBe(0);
        expect(r.stdout).toMatch(new RegExp(`(Protocol  : |New, )${protocol}`));
        expect(r.stdout).toContain('Verify return code: 0 (ok)');
      }
      for (const version of ['tls1_1', 'tls1']) {
        const r = await sClient(port, version, ca);
        expect(r.code, version).not.toBe(0);
        expect(r.stderr, version).toMatch(/alert protocol version/);
      }
    });

    it('status checks nginx.exe over HTTPS; down: nothing left, port closed, MLflow untouched', async () => {
      const status = await run(['status', '--state-dir', winState]);
      expect(status.code, status.stdout + status.stderr).toBe(0);
      expect(status.stdout).toMatch(new RegExp(`^Running: https://127\\.0\\.0\\.1:${port}`, 'm'));
      expect(status.stdout).toContain('nginx without credentials -> 401 ok');
      const down = await run(['down', '--state-dir', winState]);
      expect(down.code, down.stderr).toBe(0);
      expect(down.stdout).toMatch(/^Stopped nginx \(pid \d+\)\.$/m);
      expect(await nginxExeProcesses(exe)).toEqual([]);
      expect(await portOpen(port)).toBe(false);
      expect(isAlive(mlflow.pid)).toBe(true);
    });
  },
);
