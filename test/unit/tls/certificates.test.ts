/**
 * Certificates made and checked for real (node:crypto and @peculiar/x509 read them back), in a
 * temporary state folder; and the HTTPS client against a real node:https server.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { execFileSync, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserError } from '../../../src/errors.js';
import { request } from '../../../src/system/http.js';
import { tlsPaths } from '../../../src/tls/plan.js';
import { getPlatform } from '../../../src/system/platform.js';
import { checkUserTls, clientCaFor, prepareTls, trustFromState } from '../../../src/tls/certificates.js';

const platform = getPlatform('linux');
const ctx = { platform, env: { HOME: '/nonexistent-home' } };
const NAMES = ['localhost', '127.0.0.1', '::1', 'mlflow.example.com', '*.ml.example.com'];
const now = new Date();
const DAY = 86_400_000;

let root: string;
beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'mlflow-secure-tls-'));
});
afterAll(async () => rm(root, { recursive: true, force: true }));

async function newState(name: string): Promise<string> {
  const dir = path.join(root, name);
  await mkdir(dir, { mode: 0o700 });
  return dir;
}

const mode = async (file: string) => ((await stat(file)).mode & 0o777).toString(8);
const readCert = async (file: string) => new X509Certificate(await readFile(file));

function openssl(args: string[]): string {
  return execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** `openssl verify` of `cert` against `ca` alone, for a TLS server. */
function verify(ca: string, cert: string): { ok: boolean; output: string } {
  const r = spawnSync('openssl', ['verify', '-CAfile', ca, '-purpose', 'sslserver', cert], { encoding: 'utf8' });
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}`.trim() };
}

let rogues = 0;
/** A server certificate for `san` signed with the CA's key, as anyone holding that key could make one. */
async function signWithCa(p: { caCert: string; caKey: string; dir: string }, san: string): Promise<string> {
  const base = path.join(p.dir, `rogue-${++rogues}`);
  openssl([
    'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=rogue',
    '-keyout', `${base}-key.pem`, '-out', `${base}.csr`,
  ]); // prettier-ignore
  await writeFile(`${base}.ext`, `subjectAltName=${san}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n`);
  openssl([
    'x509', '-req', '-in', `${base}.csr`, '-CA', p.caCert, '-CAkey', p.caKey, '-set_serial', String(1000 + rogues),
    '-days', '30', '-extfile', `${base}.ext`, '-out', `${base}.pem`,
  ]); // prettier-ignore
  return `${base}.pem`;
}

async function rejection(p: Promise<unknown>): Promise<UserError> {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(UserError);
  return error as UserError;
}

describe('prepareTls: the generated local CA and server certificate', () => {
  let state: string;
  let first: Awaited<ReturnType<typeof prepareTls>>;

  beforeAll(async () => {
    state = await newState('generated');
    first = await prepareTls({ kind: 'generated' }, NAMES, state, ctx);
  });

  it('keeps the keys owner-only (0600) in an owner-only folder; certificates are readable', async () => {
    const p = tlsPaths(state, platform);
    expect(await mode(p.dir)).toBe('700');
    expect(await mode(p.caKey)).toBe('600');
    expect(await mode(p.serverKey)).toBe('600');
    expect(await mode(p.caCert)).toBe('644');
    expect(await mode(p.serverCert)).toBe('644');
    expect(first.notes.join('\n')).toMatch(
      /Made a local CA.*\n.*Keep .*ca-key\.pem private .*localhost, mlflow\.example\.com, ml\.example\.com, 127\.0\.0\.0\/8, ::1\/128 .*\n.*Made a server certificate for localhost, 127\.0\.0\.1/,
    );
    expect(first.clientCa).toBe(p.caCert);
    expect(first.trust).toEqual({ ca: await readFile(p.caCert, 'utf8') });
  });

  it('makes a CA: critical basicConstraints CA:TRUE with path length 0, keyCertSign, ten years', async () => {
    const ca = new x509.X509Certificate(await readFile(tlsPaths(state, platform).caCert, 'utf8'));
    const bc = ca.getExtension(x509.BasicConstraintsExtension)!;
    expect([bc.ca, bc.pathLength, bc.critical]).toEqual([true, 0, true]);
    const ku = ca.getExtension(x509.KeyUsagesExtension)!;
    expect(ku.critical).toBe(true);
    expect(ku.usages & x509.KeyUsageFlags.keyCertSign).toBeTruthy();
    expect(ca.subject).toMatch(/^CN=mlflow-secure local CA /);
    expect((ca.notAfter.getTime() - now.getTime()) / DAY).toBeGreaterThan(3600);
    expect(await ca.isSelfSigned()).toBe(true);
  });

  it('makes a server certificate for every name, issued by that CA, for TLS servers only', async () => {
    const p = tlsPaths(state, platform);
    const server = new x509.X509Certificate(await readFile(p.serverCert, 'utf8'));
    const san = server.getExtension(x509.SubjectAlternativeNameExtension)!;
    expect(san.names.toJSON()).toEqual([
      { type: 'dns', value: 'localhost' },
      { type: 'ip', value: '127.0.0.1' },
      { type: 'ip', value: '::1' },
      { type: 'dns', value: 'mlflow.example.com' },
      { type: 'dns', value: '*.ml.example.com' },
    ]);
    expect(server.getExtension(x509.BasicConstraintsExtension)?.ca).toBe(false);
    expect(server.getExtension(x509.ExtendedKeyUsageExtension)?.usages).toEqual([x509.ExtendedKeyUsage.serverAuth]);
    const days = (server.notAfter.getTime() - now.getTime()) / DAY;
    expect(days).toBeGreaterThan(390);
    expect(days).toBeLessThan(398);
    // node:crypto agrees: issued by the CA, the key on file is its key, and the names match.
    const [leaf, ca] = [await readCert(p.serverCert), await readCert(p.caCert)];
    expect(leaf.checkIssued(ca) && leaf.verify(ca.publicKey)).toBe(true);
    expect(leaf.checkPrivateKey((await import('node:crypto')).createPrivateKey(await readFile(p.serverKey)))).toBe(
      true,
    );
    expect(leaf.checkHost('x.ml.example.com')).toBe('*.ml.example.com');
    expect(leaf.checkIP('::1')).toBe('::1');
    expect(leaf.checkHost('other.example.com')).toBeUndefined();
  });

  it('keeps both on the next start with the same names', async () => {
    const p = tlsPaths(state, platform);
    const before = [(await readCert(p.caCert)).fingerprint256, (await readCert(p.serverCert)).fingerprint256];
    const again = await prepareTls({ kind: 'generated' }, NAMES, state, ctx);
    expect(again.notes).toEqual([]);
    expect([(await readCert(p.caCert)).fingerprint256, (await readCert(p.serverCert)).fingerprint256]).toEqual(before);
  });

  it('gives the CA critical Name Constraints: the DNS names (a wildcard by its parent), loopback, nothing else', () => {
    const text = openssl(['x509', '-noout', '-ext', 'nameConstraints', '-in', tlsPaths(state, platform).caCert]);
    expect(text.replace(/\s+/g, ' ').trim()).toBe(
      'X509v3 Name Constraints: critical Permitted: DNS:localhost DNS:mlflow.example.com DNS:ml.example.com IP:127.0.0.0/255.0.0.0 IP:0:0:0:0:0:0:0:1/FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF',
    );
  });

  it("refuses (openssl verify) a certificate for another site signed with the CA's key; the server certificate verifies", async () => {
    const p = tlsPaths(state, platform);
    expect(verify(p.caCert, p.serverCert)).toEqual({ ok: true, output: `${p.serverCert}: OK` });
    for (const san of ['DNS:accounts.google.com', 'DNS:evil.localhost.example', 'IP:10.0.0.1', 'IP:::2']) {
      const rogue = await signWithCa(p, san);
      const r = verify(p.caCert, rogue);
      expect(r.ok, `${san}: ${r.output}`).toBe(false);
      expect(r.output).toMatch(/permitted subtree violation/);
    }
    // Names under a constrained one are the CA's to vouch for, as RFC 5280 says.
    expect(verify(p.caCert, await signWithCa(p, 'DNS:x.ml.example.com')).ok).toBe(true);
  });

  it('makes a new server certificate under the same CA when the names change within its constraints, or the end nears', async () => {
    const p = tlsPaths(state, platform);
    const ca = (await readCert(p.caCert)).fingerprint256;
    const server = (await readCert(p.serverCert)).fingerprint256;
    const renamed = await prepareTls(
      { kind: 'generated' },
      ['localhost', '127.0.0.1', '::1', 'new.mlflow.example.com'],
      state,
      ctx,
    );
    expect(renamed.notes).toEqual([
      expect.stringMatching(
        /^Made a server certificate for localhost, 127\.0\.0\.1, ::1, new\.mlflow\.example\.com .*the names changed/,
      ),
    ]);
    const renamedFp = (await readCert(p.serverCert)).fingerprint256;
    expect(renamedFp).not.toBe(server);
    expect((await readCert(p.serverCert)).checkHost('new.mlflow.example.com')).toBe('new.mlflow.example.com');
    const later = await prepareTls(
      { kind: 'generated' },
      ['localhost', '127.0.0.1', '::1', 'new.mlflow.example.com'],
      state,
      ctx,
      new Date(now.getTime() + 380 * DAY),
    );
    expect(later.notes).toEqual([expect.stringMatching(/; it expires \d{4}-/)]);
    expect((await readCert(p.serverCert)).fingerprint256).not.toBe(renamedFp);
    expect((await readCert(p.caCert)).fingerprint256).toBe(ca);
  });

  it('makes a new CA, saying so, for a name its constraints do not cover (a --server-name added later)', async () => {
    const p = tlsPaths(state, platform);
    const ca = (await readCert(p.caCert)).fingerprint256;
    const names = ['localhost', '127.0.0.1', '::1', 'mlflow.example.com', 'added.example.org', '192.0.2.7'];
    const r = await prepareTls({ kind: 'generated' }, names, state, ctx);
    expect(r.notes[0]).toBe(
      `Made a new local CA (${p.caCert}): the one on file may vouch only for the names it was made for, not added.example.org, 192.0.2.7; browsers and clients that trusted the old one must trust the new one (and can drop the old)`,
    );
    expect(r.notes[2]).toMatch(/^Made a server certificate for .*added\.example\.org/);
    expect((await readCert(p.caCert)).fingerprint256).not.toBe(ca);
    expect(verify(p.caCert, p.serverCert).ok).toBe(true);
    expect(openssl(['x509', '-noout', '-ext', 'nameConstraints', '-in', p.caCert])).toMatch(
      /DNS:added\.example\.org[\s\S]*IP:192\.0\.2\.7\/255\.255\.255\.255/,
    );
  });

  it('keeps a CA without Name Constraints (made before they were), warning in one line how to renew it', async () => {
    const old = await newState('unconstrained');
    const p = tlsPaths(old, platform);
    await mkdir(p.dir, { mode: 0o700 });
    openssl([
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '3650',
      '-subj', '/CN=mlflow-secure local CA old', '-keyout', p.caKey, '-out', p.caCert,
      '-addext', 'basicConstraints=critical,CA:TRUE,pathlen:0', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    ]); // prettier-ignore
    await chmod(p.caKey, 0o600);
    const before = (await readCert(p.caCert)).fingerprint256;
    const r = await prepareTls({ kind: 'generated' }, NAMES, old, ctx);
    expect((await readCert(p.caCert)).fingerprint256).toBe(before);
    expect(r.warnings).toEqual([
      `the local CA ${p.caCert} has no name constraints (made by an earlier mlflow-secure): whoever has ${p.caKey} can sign a certificate for any site, accepted wherever this CA is trusted. Renew it: stop the stack, delete ${p.caCert} and ${p.caKey}, run up --tls again, then trust the new CA and remove the old one from every browser or system store you imported it into`,
    ]);
    expect(verify(p.caCert, p.serverCert).ok).toBe(true);
    // Renewed as it says: a constrained CA, and no warning.
    await rm(p.caCert);
    await rm(p.caKey);
    const renewed = await prepareTls({ kind: 'generated' }, NAMES, old, ctx);
    expect(renewed.warnings).toEqual([]);
    expect(verify(p.caCert, await signWithCa(p, 'DNS:accounts.google.com')).ok).toBe(false);
  });

  it('refuses a CA key that others can read (not written by mlflow-secure, or changed since)', async () => {
    const p = tlsPaths(state, platform);
    await chmod(p.caKey, 0o644);
    const e = await rejection(prepareTls({ kind: 'generated' }, NAMES, state, ctx));
    expect(e.message).toContain(`${p.caKey} is open to other users (mode 0644)`);
    await chmod(p.caKey, 0o600);
  });

  it('status trusts the generated CA alone; env hands out its path', async () => {
    const p = tlsPaths(state, platform);
    expect(await trustFromState(state, 'generated', platform)).toEqual({ ca: await readFile(p.caCert, 'utf8') });
    expect(await clientCaFor(state, 'generated', platform)).toBe(p.caCert);
    expect(await clientCaFor(state, 'files', platform)).toBeUndefined();
  });
});

describe('--tls-cert and --tls-key: the user’s own certificate', () => {
  let issuer: string;
  let cert: string;
  let key: string;

  beforeAll(async () => {
    // A CA and a server certificate made the generated way stand in for mkcert's output.
    issuer = await newState('issuer');
    await prepareTls({ kind: 'generated' }, ['localhost', '127.0.0.1', '::1'], issuer, ctx);
    const p = tlsPaths(issuer, platform);
    cert = path.join(root, 'localhost+2.pem');
    key = path.join(root, 'localhost+2-key.pem');
    await copyFile(p.serverCert, cert);
    await copyFile(p.serverKey, key);
  });

  it('copies a good pair into the state folder (key 0600) and pins it; no root found means no client CA', async () => {
    const state = await newState('files-ok');
    const r = await prepareTls({ kind: 'files', cert, key }, [], state, ctx);
    const p = tlsPaths(state, platform);
    expect(await readFile(p.serverCert, 'utf8')).toBe(await readFile(cert, 'utf8'));
    expect(await readFile(p.serverKey, 'utf8')).toBe(await readFile(key, 'utf8'));
    expect(await mode(p.serverKey)).toBe('600');
    expect(r.trust).toEqual({ pin: (await readCert(cert)).fingerprint256 });
    expect(r.clientCa).toBeUndefined();
    expect(r.warnings).toEqual([]);
    expect(await trustFromState(state, 'files', platform)).toEqual(r.trust);
  });

  it("finds mkcert's root in its CAROOT and copies it for clients", async () => {
    const caroot = path.join(root, 'caroot');
    await mkdir(caroot);
    await copyFile(tlsPaths(issuer, platform).caCert, path.join(caroot, 'rootCA.pem'));
    const state = await newState('files-mkcert');
    const r = await prepareTls({ kind: 'files', cert, key }, [], state, { platform, env: { CAROOT: caroot } });
    expect(r.clientCa).toBe(tlsPaths(state, platform).userCa);
    expect((await readCert(r.clientCa!)).fingerprint256).toBe(
      (await readCert(tlsPaths(issuer, platform).caCert)).fingerprint256,
    );
    expect(await clientCaFor(state, 'files', platform)).toBe(r.clientCa);
  });

  it('takes the root from the end of the certificate file when it is there', async () => {
    const chain = path.join(root, 'chain.pem');
    await writeFile(
      chain,
      (await readFile(cert, 'utf8')) + (await readFile(tlsPaths(issuer, platform).caCert, 'utf8')),
    );
    const state = await newState('files-chain');
    const r = await prepareTls({ kind: 'files', cert: chain, key }, [], state, ctx);
    expect(r.notes).toEqual([expect.stringContaining('copied from the end of --tls-cert')]);
  });

  it.each([
    [
      'a missing certificate',
      () => ({ cert: path.join(root, 'nope.pem'), key }),
      /^--tls-cert .*nope\.pem cannot be read \(no such file\)$/,
    ],
    ['a key given as the certificate', () => ({ cert: key, key }), /^--tls-cert .* holds no PEM certificate/],
    ['a certificate given as the key', () => ({ cert, key: cert }), /^--tls-key .* holds no PEM private key/],
    ['a folder', () => ({ cert: root, key }), /^--tls-cert .* is not a file$/],
  ])('refuses %s in one line', async (_, files, message) => {
    const e = await rejection(checkUserTls({ kind: 'files', ...files() }));
    expect(e.message).toMatch(message);
    expect(e.message).not.toContain('\n');
    expect(e.hint).toBeTruthy();
  });

  it('refuses a key that belongs to another certificate, and an encrypted key', async () => {
    const otherKey = tlsPaths(issuer, platform).caKey;
    expect((await rejection(checkUserTls({ kind: 'files', cert, key: otherKey }))).message).toMatch(
      /^--tls-key .* does not belong to the certificate in --tls-cert /,
    );
    const encrypted = path.join(root, 'encrypted-key.pem');
    await writeFile(encrypted, '-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n');
    expect((await rejection(checkUserTls({ kind: 'files', cert, key: encrypted }))).message).toContain(
      'is encrypted with a passphrase',
    );
    const garbage = path.join(root, 'garbage-key.pem');
    await writeFile(garbage, '-----BEGIN PRIVATE KEY-----\nnot base64 at all\n-----END PRIVATE KEY-----\n');
    expect((await rejection(checkUserTls({ kind: 'files', cert, key: garbage }))).message).toContain(
      'is not a valid private key',
    );
  });

  it('refuses an expired certificate and warns about one that ends soon or lacks the local names', async () => {
    const old = await newState('old');
    await prepareTls({ kind: 'generated' }, ['old.example.com'], old, ctx, new Date(now.getTime() - 500 * DAY));
    const p = tlsPaths(old, platform);
    expect((await rejection(checkUserTls({ kind: 'files', cert: p.serverCert, key: p.serverKey }))).message).toMatch(
      /expired on \d{4}-\d\d-\d\d$/,
    );
    // It ended 103 days ago: ten days before that, it was about to.
    const soon = await checkUserTls(
      { kind: 'files', cert: p.serverCert, key: p.serverKey },
      new Date(now.getTime() - 113 * DAY),
    );
    expect(soon.warnings).toEqual([
      expect.stringMatching(/expires on .*renew it soon/),
      expect.stringMatching(/names neither 127\.0\.0\.1 nor localhost \(it names DNS:old\.example\.com\)/),
    ]);
  });
});

describe('request over HTTPS', () => {
  let server: https.Server;
  let port: number;
  let seen = 0;
  let ca: string;
  let fingerprint: string;
  let otherCa: string;

  beforeAll(async () => {
    const state = await newState('https-server');
    await prepareTls({ kind: 'generated' }, ['localhost', '127.0.0.1', '::1'], state, ctx);
    const p = tlsPaths(state, platform);
    ca = await readFile(p.caCert, 'utf8');
    fingerprint = (await readCert(p.serverCert)).fingerprint256;
    const other = await newState('other-ca');
    await prepareTls({ kind: 'generated' }, ['localhost'], other, ctx);
    otherCa = await readFile(tlsPaths(other, platform).caCert, 'utf8');
    server = https.createServer(
      { cert: await readFile(p.serverCert), key: await readFile(p.serverKey) },
      (req, res) => {
        seen++;
        res.end(`hello ${req.headers.authorization ?? ''}`);
      },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('answers when the CA is the trust root and the name matches (address or name)', async () => {
    expect((await request({ host: '127.0.0.1', port, path: '/', tls: { ca } })).body).toBe('hello ');
    expect((await request({ host: 'localhost', port, path: '/', tls: { ca } })).status).toBe(200);
    expect((await request({ host: '127.0.0.1', port, path: '/', tls: { pin: fingerprint } })).status).toBe(200);
  });

  it('sends nothing (not the password) to a server that fails verification', async () => {
    const before = seen;
    const auth = { user: 'admin', password: 'secret' };
    await expect(request({ host: '127.0.0.1', port, path: '/', auth, tls: { ca: otherCa } })).rejects.toThrow(
      /unable to verify the first certificate/,
    );
    await expect(request({ host: '127.0.0.1', port, path: '/', auth, tls: { pin: 'AA:BB' } })).rejects.toThrow(
      /is not the configured one \(AA:BB\)/,
    );
    expect(seen).toBe(before);
  });

  it('verifies the host name: a certificate from the trusted CA for another name is refused', async () => {
    const state = await newState('localhost-only');
    await prepareTls({ kind: 'generated' }, ['localhost'], state, ctx);
    const p = tlsPaths(state, platform);
    let hits = 0;
    const other = https.createServer(
      { cert: await readFile(p.serverCert), key: await readFile(p.serverKey) },
      (_, res) => {
        hits++;
        res.end();
      },
    );
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    try {
      const ca = await readFile(p.caCert, 'utf8');
      const otherPort = (other.address() as AddressInfo).port;
      await expect(request({ host: '127.0.0.1', port: otherPort, path: '/', tls: { ca } })).rejects.toThrow(
        /IP: 127\.0\.0\.1 is not in the cert's list/,
      );
      expect(hits).toBe(0);
      expect((await request({ host: 'localhost', port: otherPort, path: '/', tls: { ca } })).status).toBe(200);
    } finally {
      await new Promise<void>((resolve) => other.close(() => resolve()));
    }
  });
});
