/**
 * The certificates `up --tls` serves, kept in `<state>/tls/`:
 * - generated: a local CA (its key owner-only, 0600) that signs a server certificate for this
 *   machine's names and every public name. The CA stays across runs (clients keep trusting it);
 *   the server certificate is made again when the names change or it nears its end.
 * - the user's own (`--tls-cert`, `--tls-key`, e.g. mkcert's output): checked (PEM, the key
 *   matches, in its validity period) and copied in, so nginx serves what was checked.
 *
 * Certificates are read with node:crypto's X509Certificate (about 10 ms for a start that changes
 * nothing); new ones are made in make-certificates.ts.
 */
import { createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import { UserError } from '../errors.js';
import { publicNames } from '../stack/plan.js';
import type { Settings } from '../stack/settings.js';
import { checkStateFiles, readTextIfExists, writeFileAtomic } from '../system/files.js';
import { ensureStateDir } from '../system/folders.js';
import type { Platform } from '../system/platform.js';
import {
  addDays,
  certificateNames,
  describeConstraints,
  nameConstraintsFor,
  namesInSubjectAltName,
  readNameConstraints,
  RENEW_DAYS_BEFORE,
  renewalReason,
  SERVER_CERT_DAYS,
  uncoveredNames,
  tlsPaths,
  type TlsPaths,
  type TlsSetting,
} from './plan.js';
import { makeCa, makeServerCert } from './make-certificates.js';

/** How the CLI itself checks the server it talks to (http.ts). */
export type TlsTrust =
  /** The only trust root; the host name is verified against the certificate. */
  | { ca: string }
  /** Exactly this certificate (SHA-256 fingerprint as node:crypto prints it): the user's own, whose root may be unknown here. */
  | { pin: string };

export interface PreparedTls {
  trust: TlsTrust;
  /** The certificate clients trust (MLFLOW_TRACKING_SERVER_CERT_PATH), when known. */
  clientCa?: string;
  /** What was made or found, for the user. */
  notes: string[];
  warnings: string[];
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
/** A certificate or key file larger than this is not one. */
const MAX_PEM_BYTES = 1024 * 1024;
const DAY_MS = 86_400_000;

/** Every certificate in a PEM text, in order (a server certificate, then its chain). */
export function pemCertificates(text: string): X509Certificate[] {
  return (text.match(PEM_CERT) ?? []).map((pem) => new X509Certificate(pem));
}

const sameKey = (a: KeyObject, b: KeyObject) =>
  a.export({ type: 'spki', format: 'der' }).equals(b.export({ type: 'spki', format: 'der' }));

/** Signed by `issuer` and naming it as issuer. */
function issuedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

function parseKey(pem: string): KeyObject | undefined {
  try {
    return createPrivateKey(pem);
  } catch {
    return undefined;
  }
}

function parseCert(pem: string): X509Certificate | undefined {
  try {
    return pemCertificates(pem)[0];
  } catch {
    return undefined;
  }
}

const date = (d: Date) => d.toISOString().slice(0, 10);

/** The names a generated certificate covers for these settings, this machine's host name included. */
export function certificateNamesFor(settings: Settings): string[] {
  return certificateNames(publicNames(settings), os.hostname());
}

/**
 * The certificates for this run, made or checked and in place under `<state>/tls/`, before nginx
 * reads them. Runs under the state lock (two `up`s never make two CAs).
 */
export async function prepareTls(
  setting: TlsSetting,
  names: readonly string[],
  stateDir: string,
  ctx: { platform: Platform; env: NodeJS.ProcessEnv },
  now = new Date(),
): Promise<PreparedTls> {
  const { platform } = ctx;
  const paths = tlsPaths(stateDir, platform);
  await ensureStateDir(stateDir, [paths.dir], platform);
  // nginx opens the served files itself: a planted link would make it serve (and log about) another file.
  await checkStateFiles([paths.caCert, paths.caKey, paths.serverCert, paths.serverKey, paths.userCa]);
  return setting.kind === 'generated'
    ? prepareGenerated(paths, names, now)
    : prepareUserFiles(setting, paths, ctx, now);
}

/** The CA's Name Constraints, or undefined when it has none (or none this reader understands). */
function constraintsOf(ca: X509Certificate): ReturnType<typeof readNameConstraints> {
  try {
    return readNameConstraints(new Uint8Array(ca.raw));
  } catch {
    return undefined;
  }
}

async function prepareGenerated(paths: TlsPaths, names: readonly string[], now: Date): Promise<PreparedTls> {
  const notes: string[] = [];
  const warnings: string[] = [];
  let caPem = await readTextIfExists(paths.caCert);
  const caKeyPem = await readTextIfExists(paths.caKey, { ownerOnly: true });
  let ca = caPem !== undefined ? parseCert(caPem) : undefined;
  let caKey = caKeyPem !== undefined ? parseKey(caKeyPem) : undefined;
  const caUsable =
    ca !== undefined &&
    caKey !== undefined &&
    ca.ca &&
    sameKey(ca.publicKey, createPublicKey(caKey)) &&
    new Date(ca.validTo).getTime() - now.getTime() > RENEW_DAYS_BEFORE * DAY_MS;
  const constraints = caUsable ? constraintsOf(ca!) : undefined;
  // A CA limited to other names cannot vouch for a new one (a --server-name added later, a renamed
  // host): it is made again, and clients must trust the new one.
  const uncovered = constraints ? uncoveredNames(constraints, names) : [];
  if (!caUsable || uncovered.length > 0) {
    const hadCa = caPem !== undefined || caKeyPem !== undefined;
    const made = await makeCa(names, now);
    await writeFileAtomic(paths.caKey, made.keyPem, 0o600);
    await writeFileAtomic(paths.caCert, made.certPem, 0o644);
    caPem = made.certPem;
    ca = new X509Certificate(made.certPem);
    caKey = createPrivateKey(made.keyPem);
    notes.push(
      uncovered.length > 0
        ? `Made a new local CA (${paths.caCert}): the one on file may vouch only for the names it was made for, not ${uncovered.join(', ')}; browsers and clients that trusted the old one must trust the new one (and can drop the old)`
        : hadCa
          ? `Made a new local CA (${paths.caCert}): the one on file was unusable; clients must trust the new one`
          : `Made a local CA: ${paths.caCert}`,
    );
    notes.push(
      `Keep ${paths.caKey} private (out of git, backups and images): whoever has it can make certificates for ${describeConstraints(nameConstraintsFor(names))} that every browser or client trusting this CA accepts; its name constraints keep it from vouching for any other site`,
    );
  } else if (constraints === undefined) {
    warnings.push(
      `the local CA ${paths.caCert} has no name constraints (made by an earlier mlflow-secure): whoever has ${paths.caKey} can sign a certificate for any site, accepted wherever this CA is trusted. Renew it: stop the stack, delete ${paths.caCert} and ${paths.caKey}, run up --tls again, then trust the new CA and remove the old one from every browser or system store you imported it into`,
    );
  }

  const serverPem = await readTextIfExists(paths.serverCert);
  const serverKeyPem = await readTextIfExists(paths.serverKey, { ownerOnly: true });
  const server = serverPem !== undefined ? parseCert(serverPem) : undefined;
  const serverKey = serverKeyPem !== undefined ? parseKey(serverKeyPem) : undefined;
  const existing = server && {
    names: namesInSubjectAltName(server.subjectAltName),
    notAfter: new Date(server.validTo),
    issuedByCa: issuedBy(server, ca!),
    keyMatches: serverKey !== undefined && server.checkPrivateKey(serverKey),
  };
  const reason = renewalReason(existing, names, now);
  if (reason !== undefined) {
    const made = await makeServerCert(ca!, caKey!, names, now);
    await writeFileAtomic(paths.serverKey, made.keyPem, 0o600);
    await writeFileAtomic(paths.serverCert, made.certPem, 0o644);
    notes.push(
      `Made a server certificate for ${names.join(', ')} (valid until ${date(addDays(now, SERVER_CERT_DAYS))}${existing ? `; ${reason}` : ''})`,
    );
  }
  return { trust: { ca: caPem! }, clientCa: paths.caCert, notes, warnings };
}

async function readUserFile(file: string, flag: string): Promise<string> {
  let stat;
  try {
    stat = await fs.stat(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new UserError(`${flag} ${file} cannot be read (${code === 'ENOENT' ? 'no such file' : code})`, {
      hint: `Give the path of the PEM file, e.g. ${flag} ./localhost.pem`,
    });
  }
  if (!stat.isFile())
    throw new UserError(`${flag} ${file} is not a file`, {
      hint: `Give the path of the PEM file, e.g. ${flag} ./localhost.pem`,
    });
  if (stat.size > MAX_PEM_BYTES)
    throw new UserError(`${flag} ${file} is ${stat.size} bytes, too big for a PEM certificate or key`, {
      hint: 'Give the PEM file itself',
    });
  try {
    return await fs.readFile(file, 'utf8');
  } catch (error) {
    throw new UserError(`${flag} ${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`, {
      hint: 'Make it readable by you, or copy it somewhere you can read',
    });
  }
}

interface UserTls {
  certText: string;
  keyText: string;
  chain: X509Certificate[];
  leaf: X509Certificate;
  warnings: string[];
}

/**
 * The user's certificate and key, read and checked (changes nothing): both PEM, the key
 * unencrypted and matching the certificate, the certificate in its validity period. `up` runs it
 * before asking for a password, so a wrong file costs nobody their typing.
 */
export async function checkUserTls(
  setting: Extract<TlsSetting, { kind: 'files' }>,
  now = new Date(),
): Promise<UserTls> {
  const warnings: string[] = [];
  const certText = await readUserFile(setting.cert, '--tls-cert');
  const keyText = await readUserFile(setting.key, '--tls-key');
  let chain: X509Certificate[];
  try {
    chain = pemCertificates(certText);
  } catch {
    throw new UserError(`--tls-cert ${setting.cert} holds a PEM block that is not a valid certificate`, {
      hint: 'Give the PEM certificate (mkcert writes <names>.pem)',
    });
  }
  const leaf = chain[0];
  if (!leaf) {
    const hint = /PRIVATE KEY-----/.test(certText)
      ? 'That is a key: give it with --tls-key and the certificate with --tls-cert'
      : 'Give the PEM certificate (mkcert writes <names>.pem; a .der or .p12 file must be converted to PEM first)';
    throw new UserError(`--tls-cert ${setting.cert} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`, { hint });
  }
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(keyText)) {
    throw new UserError(
      `--tls-key ${setting.key} is encrypted with a passphrase, which nginx would ask for at every start`,
      { hint: 'Give an unencrypted key (e.g. openssl pkey -in key.pem -out plain-key.pem), kept owner-only' },
    );
  }
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(keyText)) {
    const hint = /BEGIN CERTIFICATE/.test(keyText)
      ? 'That is a certificate: give it with --tls-cert and the key with --tls-key'
      : 'Give the PEM private key (mkcert writes <names>-key.pem)';
    throw new UserError(`--tls-key ${setting.key} holds no PEM private key (-----BEGIN PRIVATE KEY-----)`, { hint });
  }
  const key = parseKey(keyText);
  if (!key)
    throw new UserError(`--tls-key ${setting.key} holds a PEM block that is not a valid private key`, {
      hint: 'Give the PEM private key that belongs to --tls-cert',
    });
  if (!leaf.checkPrivateKey(key)) {
    throw new UserError(`--tls-key ${setting.key} does not belong to the certificate in --tls-cert ${setting.cert}`, {
      hint: 'Give the key that was made with that certificate (mkcert: <names>-key.pem next to <names>.pem)',
    });
  }
  const notBefore = new Date(leaf.validFrom);
  const notAfter = new Date(leaf.validTo);
  if (notAfter.getTime() <= now.getTime())
    throw new UserError(`the certificate in --tls-cert ${setting.cert} expired on ${date(notAfter)}`, {
      hint: 'Renew it (mkcert: run it again with the same names), or use --tls alone for a generated one',
    });
  if (notBefore.getTime() > now.getTime())
    throw new UserError(`the certificate in --tls-cert ${setting.cert} is not valid before ${date(notBefore)}`, {
      hint: "Check this machine's clock, or give another certificate",
    });
  if (notAfter.getTime() - now.getTime() < RENEW_DAYS_BEFORE * DAY_MS)
    warnings.push(`the certificate in ${setting.cert} expires on ${date(notAfter)}: renew it soon`);
  if (leaf.checkIP('127.0.0.1') === undefined && leaf.checkHost('localhost') === undefined) {
    warnings.push(
      `the certificate in ${setting.cert} names neither 127.0.0.1 nor localhost (it names ${leaf.subjectAltName ?? leaf.subject}): clients must use a name it covers`,
    );
  }
  return { certText, keyText, chain, leaf, warnings };
}

/** The user's certificate and key, checked again and copied in (the key owner-only), so nginx serves what was checked. */
async function prepareUserFiles(
  setting: Extract<TlsSetting, { kind: 'files' }>,
  paths: TlsPaths,
  ctx: { platform: Platform; env: NodeJS.ProcessEnv },
  now: Date,
): Promise<PreparedTls> {
  const { certText, keyText, chain, leaf, warnings } = await checkUserTls(setting, now);
  const notes: string[] = [];
  await writeFileAtomic(paths.serverKey, keyText, 0o600);
  await writeFileAtomic(paths.serverCert, certText, 0o644);
  const root = await findIssuingRoot(chain, ctx);
  if (root) {
    const pem = root.cert.toString();
    await writeFileAtomic(paths.userCa, pem.endsWith('\n') ? pem : `${pem}\n`, 0o644);
    notes.push(`Clients trust the certificate's root, copied from ${root.from} to ${paths.userCa}`);
  } else {
    await fs.rm(paths.userCa, { force: true });
  }
  return { trust: { pin: leaf.fingerprint256 }, ...(root ? { clientCa: paths.userCa } : {}), notes, warnings };
}

/**
 * The root certificate that issued the user's certificate, for clients that do not use the
 * system's trust store (MLflow's Python client uses certifi's): the last certificate in the
 * file when it signed itself, else mkcert's root (`rootCA.pem` in its CAROOT) when it issued the chain.
 */
async function findIssuingRoot(
  chain: X509Certificate[],
  { platform, env }: { platform: Platform; env: NodeJS.ProcessEnv },
): Promise<{ cert: X509Certificate; from: string } | undefined> {
  const top = chain.at(-1)!;
  if (chain.length > 1 && top.ca && issuedBy(top, top)) return { cert: top, from: 'the end of --tls-cert' };
  const caRoot = platform.mkcertCaRoot(env);
  if (!caRoot) return undefined;
  const file = platform.path.join(caRoot, 'rootCA.pem');
  const text = await fs.readFile(file, 'utf8').catch(() => undefined);
  const root = text !== undefined ? parseCert(text) : undefined;
  return root && root.ca && issuedBy(top, root) ? { cert: root, from: file } : undefined;
}

/**
 * How `status` and `doctor` check a running stack's nginx, from its state folder alone: the
 * generated CA as the only root, or the copied user certificate as a pin. Undefined when the
 * files are missing or unreadable (the probe then says so).
 */
export async function trustFromState(
  stateDir: string,
  kind: TlsSetting['kind'],
  platform: Platform,
): Promise<TlsTrust | undefined> {
  const paths = tlsPaths(stateDir, platform);
  try {
    if (kind === 'generated') {
      const ca = await readTextIfExists(paths.caCert);
      return ca !== undefined && parseCert(ca) ? { ca } : undefined;
    }
    const served = await readTextIfExists(paths.serverCert);
    const leaf = served !== undefined ? parseCert(served) : undefined;
    return leaf ? { pin: leaf.fingerprint256 } : undefined;
  } catch {
    return undefined;
  }
}

/** What `doctor` says about the served certificate: its names and end date. */
export async function describeServedCertificate(
  stateDir: string,
  platform: Platform,
  now = new Date(),
): Promise<{ ok: boolean; what: string } | undefined> {
  const paths = tlsPaths(stateDir, platform);
  const text = await readTextIfExists(paths.serverCert).catch(() => undefined);
  const cert = text !== undefined ? parseCert(text) : undefined;
  if (!cert) return undefined;
  const end = new Date(cert.validTo);
  const days = Math.floor((end.getTime() - now.getTime()) / DAY_MS);
  return {
    ok: days > 0,
    what: `HTTPS certificate ${paths.serverCert} for ${namesInSubjectAltName(cert.subjectAltName).join(', ') || cert.subject} valid until ${date(end)} (${days} days left)`,
  };
}

/**
 * The certificate clients should trust (MLFLOW_TRACKING_SERVER_CERT_PATH) for a stack whose URL is
 * https, derived from its state folder: the generated CA, or the root found for the user's
 * certificate. Undefined when there is none (a user certificate whose root was not found).
 */
export async function clientCaFor(
  stateDir: string,
  kind: TlsSetting['kind'],
  platform: Platform,
): Promise<string | undefined> {
  const paths = tlsPaths(stateDir, platform);
  const file = kind === 'generated' ? paths.caCert : paths.userCa;
  const text = await readTextIfExists(file).catch(() => undefined);
  return text !== undefined && parseCert(text) ? file : undefined;
}

/** What a stack record says about TLS: undefined for plain HTTP (older records have no `tls`: their URL says). */
export function tlsKindOf(record: {
  url: string;
  options?: { tls?: 'generated' | { cert: string; key: string } };
}): TlsSetting['kind'] | undefined {
  if (!record.url.startsWith('https:')) return undefined;
  return record.options?.tls === undefined || record.options.tls === 'generated' ? 'generated' : 'files';
}
