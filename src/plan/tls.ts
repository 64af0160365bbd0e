/**
 * HTTPS settings, certificate names and file layout. Pure: strings and plain objects in and out;
 * the certificates themselves are made and read in src/tls.ts.
 */
import { isIP } from 'node:net';
import { UserError } from '../errors.js';
import type { Platform } from '../platform.js';

/** `generated`: a local CA and a server certificate kept in the state folder. `files`: the user's own. */
export type TlsSetting = { kind: 'generated' } | { kind: 'files'; cert: string; key: string };

export interface TlsOptions {
  /** --tls / --no-tls (undefined: not given). */
  tls?: boolean;
  tlsCert?: string;
  tlsKey?: string;
}

/** --tls, --tls-cert and --tls-key -> the setting, or undefined for plain HTTP. Paths made absolute. */
export function resolveTls(o: TlsOptions, ctx: { cwd: string; platform: Platform }): TlsSetting | undefined {
  const given = (o.tlsCert !== undefined ? 1 : 0) + (o.tlsKey !== undefined ? 1 : 0);
  if (given === 1) {
    const missing = o.tlsCert === undefined ? '--tls-cert' : '--tls-key';
    throw new UserError(
      `${o.tlsCert === undefined ? '--tls-key' : '--tls-cert'} needs ${missing} too`,
      'Give both: --tls-cert <certificate.pem> --tls-key <key.pem> (mkcert writes the two)',
    );
  }
  if (o.tls === false) {
    if (given === 2)
      throw new UserError(
        '--no-tls cannot be used with --tls-cert and --tls-key',
        'Drop --no-tls to serve HTTPS with that certificate',
      );
    return undefined;
  }
  if (given === 2) {
    for (const [flag, value] of [
      ['--tls-cert', o.tlsCert!],
      ['--tls-key', o.tlsKey!],
    ] as const) {
      if (value.trim() === '')
        throw new UserError(`${flag} needs a file, got ''`, `For example: ${flag} ./localhost.pem`);
    }
    return {
      kind: 'files',
      cert: ctx.platform.path.resolve(ctx.cwd, o.tlsCert!),
      key: ctx.platform.path.resolve(ctx.cwd, o.tlsKey!),
    };
  }
  return o.tls === true ? { kind: 'generated' } : undefined;
}

export interface TlsPaths {
  dir: string;
  /** The generated local CA: what clients trust (MLFLOW_TRACKING_SERVER_CERT_PATH). */
  caCert: string;
  /** Its key: owner-only; signs the server certificate. */
  caKey: string;
  /** What nginx serves: the generated server certificate, or a copy of the user's (chain included). */
  serverCert: string;
  serverKey: string;
  /** With --tls-cert: the root that issued the user's certificate, when mlflow-secure found it (for clients). */
  userCa: string;
}

export function tlsPaths(stateDir: string, platform: Platform): TlsPaths {
  const j = platform.path.join;
  const dir = j(stateDir, 'tls');
  return {
    dir,
    caCert: j(dir, 'ca.pem'),
    caKey: j(dir, 'ca-key.pem'),
    serverCert: j(dir, 'server.pem'),
    serverKey: j(dir, 'server-key.pem'),
    userCa: j(dir, 'user-ca.pem'),
  };
}

/** A name as it is compared: IPv6 in its shortest form, DNS names in lower case. */
export function canonicalName(name: string): string {
  const bare = name.replace(/^\[(.*)\]$/, '$1');
  if (isIP(bare) === 6) return new URL(`http://[${bare}]/`).hostname.slice(1, -1);
  return bare.toLowerCase();
}

/** A machine host name fit for a certificate (letters, digits, dots, hyphens), or undefined. */
function usableHostName(name: string | undefined): string | undefined {
  if (!name) return undefined;
  return /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(
    name,
  )
    ? name
    : undefined;
}

/**
 * The names the generated server certificate covers: this machine by every local name (127.0.0.1,
 * ::1, localhost, its host name) and each public name (--server-name, a specific --host).
 * Deduplicated, in a stable order, so two runs with the same options want the same certificate.
 */
export function certificateNames(publicNames: readonly string[], hostName: string | undefined): string[] {
  const names = ['localhost', '127.0.0.1', '::1', usableHostName(hostName), ...publicNames].filter(
    (n): n is string => n !== undefined,
  );
  const seen = new Set<string>();
  const out: string[] = [];
  for (const n of names) {
    const c = canonicalName(n);
    if (c === '0.0.0.0' || c === '::' || seen.has(c)) continue;
    seen.add(c);
    out.push(c);
  }
  return out;
}

/** Subject alternative names: addresses as iPAddress, everything else (wildcards too) as dNSName. */
export function subjectAltNames(names: readonly string[]): { type: 'ip' | 'dns'; value: string }[] {
  return names.map((n) => (isIP(n) !== 0 ? { type: 'ip', value: n } : { type: 'dns', value: n }));
}

/**
 * The names in node:crypto's `X509Certificate.subjectAltName` text (`DNS:a, IP Address:1.2.3.4`),
 * canonical. Node quotes an entry that holds a comma or quote (CVE-2021-44532); such a name is
 * none of ours, so it is kept as written and never matches.
 */
export function namesInSubjectAltName(text: string | undefined): string[] {
  if (!text) return [];
  const out: string[] = [];
  for (const entry of text.split(', ')) {
    const m = /^(DNS|IP Address):(.*)$/.exec(entry);
    if (m) out.push(canonicalName(m[2]!));
  }
  return out;
}

/** How long a generated server certificate is valid: under the 398 days browsers accept for a server certificate. */
export const SERVER_CERT_DAYS = 397;
/** The local CA lives long: clients keep trusting it while server certificates are renewed under it. */
export const CA_CERT_DAYS = 3650;
/** A server certificate with less than this left is renewed at the next `up`. */
export const RENEW_DAYS_BEFORE = 30;
const DAY_MS = 86_400_000;

export interface ExistingServerCert {
  names: readonly string[];
  notAfter: Date;
  /** Signed by the current CA, and its key is the one on file. */
  issuedByCa: boolean;
  keyMatches: boolean;
}

/** Why the server certificate must be made again, or undefined when it can stay. */
export function renewalReason(
  existing: ExistingServerCert | undefined,
  wanted: readonly string[],
  now: Date,
): string | undefined {
  if (!existing) return 'none yet';
  if (!existing.issuedByCa) return 'not issued by the local CA on file';
  if (!existing.keyMatches) return 'its key does not match it';
  const have = new Set(existing.names);
  const want = new Set(wanted.map(canonicalName));
  if (have.size !== want.size || [...want].some((n) => !have.has(n)))
    return `the names changed (now ${[...want].join(', ')})`;
  if (existing.notAfter.getTime() - now.getTime() < RENEW_DAYS_BEFORE * DAY_MS)
    return `it expires ${existing.notAfter.toISOString().slice(0, 10)}`;
  return undefined;
}

export function addDays(date: Date, days: number): Date {
  return new Date(date.getTime() + days * DAY_MS);
}
