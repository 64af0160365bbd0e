/**
 * `up --tls` on real MLflow and nginx: the real MLflow Python client logs a run over HTTPS with
 * verification on (MLFLOW_TRACKING_SERVER_CERT_PATH from `env`), and fails against another CA;
 * `openssl s_client` gets TLS 1.2 and 1.3 and a protocol alert for 1.1 and 1.0; plain HTTP on the
 * port is redirected; headless Chromium renders the UI once its NSS database trusts the local CA
 * and stops at the certificate error without it; restart keeps HTTPS and the CA. Then the user's
 * own certificate from mkcert (`--tls-cert`, `--tls-key`). Chromium needs certutil (libnss3-tools)
 * and the mkcert part needs mkcert: those parts are skipped, saying why, where they are absent;
 * .ci/run installs both.
 */
import { execa } from 'execa';
import { constants } from 'node:fs';
import { access, mkdir, readFile, stat } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cli,
  readStackRecord,
  removeDir,
  root,
  stackProcesses,
  tempDir,
  venvPython,
  waitForNoStackProcesses,
} from './helpers.js';

const PASSWORD = `e2e-${Math.random().toString(36).slice(2)}-Tls'"$x`;
const CLIENT = path.join(root, 'test', 'fixtures', 'client.py');
const LOGIN = path.join(root, 'test', 'fixtures', 'saved_login.py');

async function onPath(name: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    const file = path.join(dir, name);
    if (
      await access(file, constants.X_OK).then(
        () => true,
        () => false,
      )
    )
      return file;
  }
  return undefined;
}

const chromiumPath = (await onPath('chromium')) ?? (await onPath('chromium-browser'));
const certutil = await onPath('certutil');
const mkcert = await onPath('mkcert');
const browserSkip = !chromiumPath
  ? 'no chromium on PATH'
  : !certutil
    ? 'no certutil on PATH (Debian: apt-get install libnss3-tools)'
    : undefined;
const mkcertSkip = mkcert ? undefined : 'no mkcert on PATH (Debian: apt-get install mkcert)';
for (const reason of [browserSkip, mkcertSkip]) if (reason) console.warn(`SKIPPED part of the TLS tests: ${reason}`);

/** `export NAME='value'` lines (as `env` prints them for bash) -> an object. */
function parseExports(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/^export ([A-Z_]+)='((?:[^']|'\\'')*)'$/gm)) out[m[1]!] = m[2]!.replace(/'\\''/g, "'");
  return out;
}

/** The real MLflow Python client with only PATH, HOME and `env`; one attempt per request (no retry back-off). */
function python(script: string, args: string[], env: Record<string, string>) {
  return execa(venvPython, [script, ...args], {
    env: { PATH: process.env.PATH ?? '', MLFLOW_HTTP_REQUEST_MAX_RETRIES: '0', ...env },
    extendEnv: false,
    reject: false,
    timeout: 180_000,
  });
}

function plainGet(port: number, pathName: string): Promise<{ status: number; location?: string; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: pathName, agent: false }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, location: res.headers.location, body }));
      })
      .on('error', reject);
  });
}

async function sClient(port: number, version: string, caFile: string) {
  // SECLEVEL=0 lets this client offer TLS 1.0/1.1 (OpenSSL 3 refuses them by itself at level 1),
  // so a refusal comes from the server: a "protocol version" alert.
  return execa(
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
    {
      input: '',
      reject: false,
      timeout: 30_000,
    },
  );
}

describe('up --tls: HTTPS with a generated local CA', () => {
  let cwd: string;
  let stateDir: string;
  let home: string;
  let url: string;
  let port: number;
  let groups: number[] = [];
  let exported: Record<string, string>;
  const tlsDir = () => path.join(stateDir, 'tls');

  beforeAll(async () => {
    cwd = await tempDir();
    stateDir = path.join(cwd, '.mlflow-secure');
    home = path.join(cwd, 'home');
    await mkdir(home);
    const r = await cli(['up', '-d', '--tls', '--port', 'auto', '--server-name', 'mlflow.test'], {
      cwd,
      env: { MLFLOW_SECURE_PASSWORD: PASSWORD, HOME: home },
    });
    expect(r.exitCode, r.stderr).toBe(0);
    const record = await readStackRecord(stateDir);
    groups = [record.mlflow.pid, record.nginx.pid];
    url = record.url;
    port = record.port;
    expect(r.stderr).toContain(`Made a local CA: ${path.join(tlsDir(), 'ca.pem')}.`);
    expect(r.stdout).toContain(`URL:       https://127.0.0.1:${port}`);
    expect(r.stdout).toContain(`CA:        ${path.join(tlsDir(), 'ca.pem')}`);
    const env = await cli(['env'], { cwd, env: { MLFLOW_SECURE_PASSWORD: PASSWORD } });
    expect(env.exitCode, env.stderr).toBe(0);
    exported = parseExports(env.stdout);
  });

  afterAll(async () => {
    if (!cwd) return;
    await cli(['down'], { cwd });
    expect(await waitForNoStackProcesses(stateDir, groups)).toEqual([]);
    await removeDir(cwd);
  });

  it('records and hands out https URLs and the CA path; keys are owner-only; never the insecure switch', async () => {
    expect(url).toBe(`https://127.0.0.1:${port}`);
    expect(exported).toEqual({
      MLFLOW_TRACKING_URI: url,
      MLFLOW_TRACKING_USERNAME: 'admin',
      MLFLOW_TRACKING_PASSWORD: PASSWORD,
      MLFLOW_TRACKING_SERVER_CERT_PATH: path.join(tlsDir(), 'ca.pem'),
    });
    for (const key of ['ca-key.pem', 'server-key.pem'])
      expect((await stat(path.join(tlsDir(), key))).mode & 0o777).toBe(0o600);
    expect((await stat(tlsDir())).mode & 0o777).toBe(0o700);
    const record = JSON.parse(await readFile(path.join(stateDir, 'stack.json'), 'utf8')) as {
      publicUrls: string[];
      options: { tls: unknown };
    };
    expect(record.publicUrls).toEqual([`https://mlflow.test:${port}`]);
    expect(record.options.tls).toBe('generated');
    const all =
      (await cli(['env', '--shell', 'powershell'], { cwd, env: { MLFLOW_SECURE_PASSWORD: PASSWORD } })).stdout +
      JSON.stringify(exported);
    expect(all).toContain(`$env:MLFLOW_TRACKING_SERVER_CERT_PATH = '${path.join(tlsDir(), 'ca.pem')}'`);
    expect(all).not.toMatch(/INSECURE/i);
  });

  it('status and doctor check nginx over HTTPS against the CA', async () => {
    const s = await cli(['status'], { cwd });
    expect(s.exitCode, s.stdout).toBe(0);
    expect(s.stdout).toContain(`Running: ${url} (also https://mlflow.test:${port})`);
    expect(s.stdout).toContain('nginx without credentials -> 401 ok');
    const d = await cli(['doctor', '--json'], { cwd });
    const findings = JSON.parse(d.stdout) as { ok: boolean; what: string }[];
    expect(findings).toContainEqual(
      expect.objectContaining({
        ok: true,
        what: expect.stringMatching(
          /^HTTPS certificate .*server\.pem for localhost, 127\.0\.0\.1, ::1, .*mlflow\.test valid until \d{4}-\d\d-\d\d \(39\d days left\)$/,
        ),
      }),
    );
    expect(findings).toContainEqual(
      expect.objectContaining({
        what: expect.stringContaining(`a stack is running from ${stateDir} at ${url} (healthy)`),
      }),
    );
  });

  it('the real MLflow client logs a run, params, metrics and a 5 MB artifact over HTTPS with verification on', async () => {
    const r = await python(CLIENT, [], { ...exported, HOME: home });
    expect(r.exitCode, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as {
      tracking_uri: string;
      params: Record<string, string>;
      history: number[];
      sha_sent: string;
      sha_got: string;
    };
    expect(out.tracking_uri).toBe(url);
    expect(out.params).toEqual({ alpha: '0.5' });
    expect(out.history).toEqual([0.25, 0.125]);
    expect(out.sha_got).toBe(out.sha_sent);
  });

  it('the client refuses the server when it trusts another CA, or only the system roots', async () => {
    const other = path.join(cwd, 'other-ca');
    await execa('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      `${other}-key.pem`,
      '-out',
      `${other}.pem`,
      '-subj',
      '/CN=another CA',
      '-days',
      '2',
    ]);
    // Unset, not empty: MLflow hands an empty value to requests as verify='', which turns verification off.
    const { MLFLOW_TRACKING_SERVER_CERT_PATH: _, ...systemRootsOnly } = exported;
    for (const env of [{ ...exported, MLFLOW_TRACKING_SERVER_CERT_PATH: `${other}.pem` }, systemRootsOnly]) {
      const r = await python(CLIENT, [], { ...env, HOME: home });
      expect(r.exitCode).not.toBe(0);
      expect(r.stderr).toContain('certificate verify failed');
    }
  });

  it('openssl s_client: TLS 1.2 and 1.3 verify against the CA; TLS 1.1 and 1.0 get a protocol alert', async () => {
    const ca = path.join(tlsDir(), 'ca.pem');
    for (const [version, protocol] of [
      ['tls1_2', 'TLSv1.2'],
      ['tls1_3', 'TLSv1.3'],
    ] as const) {
      const r = await sClient(port, version, ca);
      expect(r.exitCode, `${version}: ${r.stdout}\n${r.stderr}`).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`(Protocol  : |New, )${protocol.replace('.', '\\.')}`));
      expect(r.stdout).toContain('Verify return code: 0 (ok)');
    }
    for (const version of ['tls1_1', 'tls1']) {
      const r = await sClient(port, version, ca);
      expect(r.exitCode, version).not.toBe(0);
      expect(r.stderr, version).toMatch(/alert protocol version/);
    }
  });

  it('plain HTTP on the same port redirects to the same place over https, and serves nothing else', async () => {
    const r = await plainGet(port, '/static-files/x?y=1');
    expect(r.status).toBe(301);
    expect(r.location).toBe(`https://127.0.0.1:${port}/static-files/x?y=1`);
    const api = await plainGet(port, '/api/2.0/mlflow/experiments/search?max_results=1');
    expect([api.status, api.location]).toEqual([
      301,
      `https://127.0.0.1:${port}/api/2.0/mlflow/experiments/search?max_results=1`,
    ]);
    expect(api.body).not.toContain('experiments');
  });

  it('env --save --dotenv writes the CA path with the rest; the client logs in from that file alone', async () => {
    const dotenv = path.join(cwd, 'tls.env');
    const r = await cli(['env', '--save', '--dotenv', dotenv], {
      cwd,
      env: { MLFLOW_SECURE_PASSWORD: PASSWORD, HOME: home },
    });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(await readFile(dotenv, 'utf8')).toContain(
      `MLFLOW_TRACKING_SERVER_CERT_PATH='${path.join(tlsDir(), 'ca.pem')}'\n`,
    );
    const login = await python(LOGIN, [dotenv], { HOME: home });
    expect(login.exitCode, login.stderr).toBe(0);
    expect(JSON.parse(login.stdout.trim().split('\n').at(-1)!)).toMatchObject({ tracking_uri: url });
  });

  it('env --save prints the CA path with the URL and says the credentials file cannot hold it', async () => {
    const r = await cli(['env', '--save'], { cwd, env: { MLFLOW_SECURE_PASSWORD: PASSWORD, HOME: home } });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe(
      `export MLFLOW_TRACKING_URI='${url}'\nexport MLFLOW_TRACKING_SERVER_CERT_PATH='${path.join(tlsDir(), 'ca.pem')}'`,
    );
    expect(r.stderr).toContain('clients still need MLFLOW_TRACKING_URI and MLFLOW_TRACKING_SERVER_CERT_PATH');
    const login = await python(LOGIN, [], { ...parseExports(r.stdout), HOME: home });
    expect(login.exitCode, login.stderr).toBe(0);
  });

  describe.skipIf(browserSkip !== undefined)(
    `headless Chromium${browserSkip ? ` (skipped: ${browserSkip})` : ''}`,
    () => {
      it('renders the UI once its NSS database trusts the CA, and stops at the certificate error without it', async () => {
        const browserHome = path.join(cwd, 'browser-home');
        const nss = `sql:${path.join(browserHome, '.pki', 'nssdb')}`;
        await mkdir(path.join(browserHome, '.pki', 'nssdb'), { recursive: true });
        await execa(certutil!, ['-N', '-d', nss, '--empty-password']);
        // Chromium on Linux takes its trust anchors from the user's NSS database (~/.pki/nssdb).
        await execa(certutil!, [
          '-A',
          '-d',
          nss,
          '-n',
          'mlflow-secure local CA',
          '-t',
          'C,,',
          '-i',
          path.join(tlsDir(), 'ca.pem'),
        ]);
        const open = async (trusting: boolean) => {
          const browser = await chromium.launch({
            executablePath: chromiumPath,
            headless: true,
            chromiumSandbox: false,
            timeout: 60_000,
            env: { ...process.env, HOME: trusting ? browserHome : home },
          });
          try {
            const context = await browser.newContext({ httpCredentials: { username: 'admin', password: PASSWORD } });
            const page = await context.newPage();
            const res = await page.goto(url, { waitUntil: 'load', timeout: 120_000 }).catch((e: Error) => e);
            if (res instanceof Error) return { error: res.message };
            await page
              .getByRole('button', { name: 'Account menu for admin' })
              .waitFor({ state: 'visible', timeout: 90_000 });
            return {
              status: res?.status(),
              protocol: new URL(page.url()).protocol,
              security: await res?.securityDetails(),
            };
          } finally {
            await browser.close();
          }
        };
        const trusted = await open(true);
        expect(trusted).toMatchObject({ status: 200, protocol: 'https:' });
        expect((trusted as { security?: { protocol?: string } }).security?.protocol).toMatch(/^TLS 1\.[23]$/);
        const untrusted = await open(false);
        expect(untrusted).toEqual({ error: expect.stringContaining('net::ERR_CERT_AUTHORITY_INVALID') });
      });
    },
  );

  it('restart keeps HTTPS and the CA (clients keep trusting it); the server certificate stays', async () => {
    const fingerprint = async (file: string) =>
      (await execa('openssl', ['x509', '-in', file, '-noout', '-fingerprint', '-sha256'])).stdout;
    const before = [
      await fingerprint(path.join(tlsDir(), 'ca.pem')),
      await fingerprint(path.join(tlsDir(), 'server.pem')),
    ];
    const r = await cli(['restart', '--quiet'], { cwd, env: { MLFLOW_SECURE_PASSWORD: PASSWORD, HOME: home } });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).not.toContain('Made a');
    const record = await readStackRecord(stateDir);
    groups.push(record.mlflow.pid, record.nginx.pid);
    expect(record.url).toMatch(/^https:\/\/127\.0\.0\.1:/);
    expect([
      await fingerprint(path.join(tlsDir(), 'ca.pem')),
      await fingerprint(path.join(tlsDir(), 'server.pem')),
    ]).toEqual(before);
    const s = await cli(['status'], { cwd });
    expect(s.exitCode, s.stdout).toBe(0);
  });

  it("a later --server-name outside the CA's name constraints gets a new CA, said in one line; nginx and the real client verify under it", async () => {
    const ca = path.join(tlsDir(), 'ca.pem');
    const fingerprint = async () => (await execa('openssl', ['x509', '-in', ca, '-noout', '-fingerprint'])).stdout;
    const before = await fingerprint();
    expect((await cli(['down'], { cwd })).exitCode).toBe(0);
    const r = await cli(['up', '-d', '--tls', '--port', String(port), '--server-name', 'mlflow.test,later.test'], {
      cwd,
      env: { MLFLOW_SECURE_PASSWORD: PASSWORD, HOME: home },
    });
    expect(r.exitCode, r.stderr).toBe(0);
    const record = await readStackRecord(stateDir);
    groups.push(record.mlflow.pid, record.nginx.pid);
    expect(r.stderr).toContain(
      `Made a new local CA (${ca}): the one on file may vouch only for the names it was made for, not later.test; browsers and clients that trusted the old one must trust the new one (and can drop the old).`,
    );
    expect(r.stderr).toContain(`Keep ${path.join(tlsDir(), 'ca-key.pem')} private`);
    expect(await fingerprint()).not.toBe(before);
    const constraints = await execa('openssl', ['x509', '-in', ca, '-noout', '-ext', 'nameConstraints']);
    expect(constraints.stdout).toMatch(/critical[\s\S]*DNS:mlflow\.test[\s\S]*DNS:later\.test/);
    // The client's MLFLOW_TRACKING_SERVER_CERT_PATH is the same path: it verifies the new chain as it is.
    const login = await python(CLIENT, [], { ...exported, HOME: home });
    expect(login.exitCode, login.stderr).toBe(0);
    const s = await execa(
      'openssl',
      [
        's_client',
        '-connect',
        `127.0.0.1:${port}`,
        '-servername',
        'later.test',
        '-verify_hostname',
        'later.test',
      ].concat(['-CAfile', ca, '-verify_return_error', '-brief']),
      { input: '', reject: false, timeout: 30_000 },
    );
    expect(s.exitCode, s.stderr).toBe(0);
    expect(s.stderr).toMatch(/Verification: OK/);
  });
});

describe.skipIf(mkcertSkip !== undefined)(
  `up --tls-cert/--tls-key with mkcert's output${mkcertSkip ? ` (skipped: ${mkcertSkip})` : ''}`,
  () => {
    let cwd: string;
    let stateDir: string;
    let caroot: string;
    const groups: number[] = [];

    beforeAll(async () => {
      cwd = await tempDir();
      stateDir = path.join(cwd, '.mlflow-secure');
      caroot = path.join(cwd, 'mkcert-ca');
      await mkdir(caroot);
      // A CAROOT of its own: mkcert makes its root there; nothing is installed into any trust store.
      await execa(mkcert!, ['-cert-file', 'local.pem', '-key-file', 'local-key.pem', 'localhost', '127.0.0.1', '::1'], {
        cwd,
        env: { CAROOT: caroot },
      });
      await execa(mkcert!, ['-cert-file', 'other.pem', '-key-file', 'other-key.pem', 'other.test'], {
        cwd,
        env: { CAROOT: caroot },
      });
    });

    afterAll(async () => {
      if (!cwd) return;
      await cli(['down'], { cwd });
      expect(await waitForNoStackProcesses(stateDir, groups)).toEqual([]);
      await removeDir(cwd);
    });

    it('refuses a key that is not the certificate’s in one line, before starting anything', async () => {
      const r = await cli(
        ['up', '-d', '-q', '--port', 'auto', '--tls-cert', 'local.pem', '--tls-key', 'other-key.pem'],
        { cwd, env: { MLFLOW_SECURE_PASSWORD: PASSWORD, CAROOT: caroot } },
      );
      expect(r.exitCode).toBe(1);
      expect(r.stderr.trim().split('\n')).toEqual([
        expect.stringMatching(
          /^error: --tls-key .*other-key\.pem does not belong to the certificate in --tls-cert .*local\.pem\. Give the key that was made/,
        ),
      ]);
      expect(await stackProcesses(stateDir)).toEqual([]);
    });

    it("serves it as is; env hands out mkcert's root; the real client logs a run with it", async () => {
      const r = await cli(['up', '-d', '--port', 'auto', '--tls-cert', 'local.pem', '--tls-key', 'local-key.pem'], {
        cwd,
        env: { MLFLOW_SECURE_PASSWORD: PASSWORD, CAROOT: caroot },
      });
      expect(r.exitCode, r.stderr).toBe(0);
      const record = await readStackRecord(stateDir);
      groups.push(record.mlflow.pid, record.nginx.pid);
      expect(r.stderr).toContain(
        `Clients trust the certificate's root, copied from ${path.join(caroot, 'rootCA.pem')}`,
      );
      const served = await execa(
        'openssl',
        [
          's_client',
          '-connect',
          `127.0.0.1:${record.port}`,
          '-CAfile',
          path.join(caroot, 'rootCA.pem'),
          '-verify_return_error',
          '-showcerts',
        ],
        { input: '', reject: false },
      );
      expect(served.stdout).toContain('Verify return code: 0 (ok)');
      expect(served.stdout).toContain('O = mkcert development certificate');
      const env = parseExports((await cli(['env'], { cwd, env: { MLFLOW_SECURE_PASSWORD: PASSWORD } })).stdout);
      expect(env.MLFLOW_TRACKING_SERVER_CERT_PATH).toBe(path.join(stateDir, 'tls', 'user-ca.pem'));
      expect(await readFile(env.MLFLOW_TRACKING_SERVER_CERT_PATH!, 'utf8')).toBe(
        await readFile(path.join(caroot, 'rootCA.pem'), 'utf8'),
      );
      const c = await python(CLIENT, [], { ...env, HOME: cwd });
      expect(c.exitCode, c.stderr).toBe(0);
      const s = await cli(['status'], { cwd });
      expect(s.exitCode, s.stdout).toBe(0);
      // The record keeps the paths (for restart), not the key.
      const text = await readFile(path.join(stateDir, 'stack.json'), 'utf8');
      expect(JSON.parse(text).options.tls).toEqual({
        cert: path.join(cwd, 'local.pem'),
        key: path.join(cwd, 'local-key.pem'),
      });
      expect(text).not.toContain('PRIVATE KEY');
    });
  },
);
