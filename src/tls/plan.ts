/**
 * HTTPS settings, certificate names and file layout. Pure: strings and plain objects in and out;
 * the certificates themselves are made and read in certificates.ts.
 */
import { isIP } from 'node:net';
import { UserError } from '../errors.js';
import type { Platform } from '../system/platform.js';

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
    throw new UserError(`${o.tlsCert === undefined ? '--tls-key' : '--tls-cert'} needs ${missing} too`, {
      hint: 'Give both: --tls-cert <certificate.pem> --tls-key <key.pem> (mkcert writes the two)',
    });
  }
  if (o.tls === false) {
    if (given === 2)
      throw new UserError('--no-tls cannot be used with --tls-cert and --tls-key', {
        hint: 'Drop --no-tls to serve HTTPS with that certificate',
      });
    return undefined;
  }
  if (given === 2) {
    for (const [flag, value] of [
      ['--tls-cert', o.tlsCert!],
      ['--tls-key', o.tlsKey!],
    ] as const) {
      if (value.trim() === '')
        throw new UserError(`${flag} needs a file, got ''`, { hint: `For example: ${flag} ./localhost.pem` });
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

/**
 * What a generated CA may vouch for (its critical Name Constraints, RFC 5280 4.2.1.10): the DNS
 * names of the server certificate (a wildcard by its parent: a constraint covers every name under
 * it), every loopback address (127.0.0.0/8, ::1) and each address among the names. Anyone holding
 * the CA's key can sign only for these: a certificate for another site fails verification in
 * every client that checks constraints (OpenSSL, so Python and Node; browsers).
 */
export interface NameConstraints {
  dns: string[];
  /** An address and its mask, as octets (4 + 4 or 16 + 16). */
  ip: { address: number[]; mask: number[] }[];
}

const LOOPBACK = [
  { address: [127, 0, 0, 0], mask: [255, 0, 0, 0] },
  { address: [...Array<number>(15).fill(0), 1], mask: Array<number>(16).fill(255) },
];

/** The octets of an IPv4 or IPv6 address. */
export function addressOctets(address: string): number[] {
  const bare = canonicalName(address);
  if (isIP(bare) === 4) return bare.split('.').map(Number);
  // Expand `::` and an embedded IPv4 tail, then 8 groups of 16 bits.
  const [head, tail] = bare.includes('::') ? bare.split('::') : [bare, undefined];
  const groups = (part: string | undefined): string[] =>
    !part
      ? []
      : part.split(':').flatMap((g) => {
          if (!g.includes('.')) return [g];
          const [a, b, c, d] = g.split('.').map(Number) as [number, number, number, number];
          return [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
        });
  const h = groups(head);
  const t = groups(tail);
  const all = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return all.flatMap((g) => {
    const n = parseInt(g, 16);
    return [n >> 8, n & 255];
  });
}

export function nameConstraintsFor(names: readonly string[]): NameConstraints {
  const dns: string[] = [];
  const ip = [...LOOPBACK];
  for (const n of names.map(canonicalName)) {
    if (isIP(n) !== 0) {
      const address = addressOctets(n);
      if (!ip.some((r) => covers(r, address))) ip.push({ address, mask: address.map(() => 255) });
    } else {
      const base = n.replace(/^\*\./, '');
      if (!dns.some((d) => dnsCovered(base, d))) dns.push(base);
    }
  }
  return { dns, ip };
}

const covers = (range: { address: number[]; mask: number[] }, address: number[]) =>
  range.address.length === address.length &&
  address.every((o, i) => (o & range.mask[i]!) === (range.address[i]! & range.mask[i]!));

/** RFC 5280: a dNSName constraint covers the name itself and every name made by adding labels on the left. */
function dnsCovered(name: string, base: string): boolean {
  const n = name.toLowerCase();
  const b = base.toLowerCase();
  return n === b || n.endsWith(`.${b}`);
}

/** The names (of `names`) that these constraints do not allow: a server certificate for them would not verify. */
export function uncoveredNames(constraints: NameConstraints, names: readonly string[]): string[] {
  return names.filter((name) => {
    const n = canonicalName(name);
    if (isIP(n) !== 0) return !constraints.ip.some((r) => covers(r, addressOctets(n)));
    return !constraints.dns.some((d) => dnsCovered(n, d));
  });
}

// DER, just what Name Constraints need (ITU-T X.690): tag, definite length, content.
function der(tag: number, content: number[]): number[] {
  const n = content.length;
  const length = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 255];
  return [tag, ...length, ...content];
}

/** The extension's value: NameConstraints { permittedSubtrees [0] } of dNSName [2] and iPAddress [7] bases. */
export function encodeNameConstraints(c: NameConstraints): Uint8Array {
  const subtree = (name: number[]) => der(0x30, name);
  const permitted = [
    ...c.dns.flatMap((d) => subtree(der(0x82, [...Buffer.from(d, 'ascii')]))),
    ...c.ip.flatMap((r) => subtree(der(0x87, [...r.address, ...r.mask]))),
  ];
  return Uint8Array.from(der(0x30, der(0xa0, permitted)));
}

interface Tlv {
  tag: number;
  /** Where the content starts and ends in the buffer. */
  start: number;
  end: number;
}

function readTlv(buf: Uint8Array, pos: number, limit: number): Tlv {
  if (pos + 2 > limit) throw new Error('DER: truncated');
  const tag = buf[pos]!;
  let length = buf[pos + 1]!;
  let start = pos + 2;
  if (length & 0x80) {
    const bytes = length & 0x7f;
    if (bytes === 0 || bytes > 3 || start + bytes > limit) throw new Error('DER: bad length');
    length = 0;
    for (let i = 0; i < bytes; i++) length = length * 256 + buf[start + i]!;
    start += bytes;
  }
  if (start + length > limit) throw new Error('DER: truncated');
  return { tag, start, end: start + length };
}

function children(buf: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let pos = parent.start; pos < parent.end;) {
    const t = readTlv(buf, pos, parent.end);
    out.push(t);
    pos = t.end;
  }
  return out;
}

const NAME_CONSTRAINTS_OID = [0x55, 0x1d, 0x1e]; // 2.5.29.30

/**
 * A certificate's Name Constraints (permitted dNSName and iPAddress subtrees; `critical` as
 * marked), read from its DER; undefined when it has none. Throws on DER it cannot walk.
 */
export function readNameConstraints(
  certDer: Uint8Array,
): (NameConstraints & { critical: boolean; excluded: boolean; otherTypes: boolean }) | undefined {
  const cert = readTlv(certDer, 0, certDer.length);
  const tbs = children(certDer, cert)[0]!;
  const extensions = children(certDer, tbs).find((t) => t.tag === 0xa3);
  if (!extensions) return undefined;
  for (const ext of children(certDer, children(certDer, extensions)[0]!)) {
    const [oid, ...rest] = children(certDer, ext);
    const id = [...certDer.subarray(oid!.start, oid!.end)];
    if (oid!.tag !== 0x06 || id.length !== 3 || id.some((b, i) => b !== NAME_CONSTRAINTS_OID[i])) continue;
    const critical = rest[0]!.tag === 0x01 && certDer[rest[0]!.start] !== 0;
    const value = rest[rest.length - 1]!;
    const result = {
      dns: [] as string[],
      ip: [] as NameConstraints['ip'],
      critical,
      excluded: false,
      otherTypes: false,
    };
    for (const part of children(certDer, readTlv(certDer, value.start, value.end))) {
      if (part.tag !== 0xa0) {
        result.excluded = true;
        continue;
      }
      for (const subtree of children(certDer, part)) {
        const base = children(certDer, subtree)[0]!;
        const bytes = [...certDer.subarray(base.start, base.end)];
        if (base.tag === 0x82) result.dns.push(Buffer.from(bytes).toString('ascii'));
        else if (base.tag === 0x87 && (bytes.length === 8 || bytes.length === 32))
          result.ip.push({ address: bytes.slice(0, bytes.length / 2), mask: bytes.slice(bytes.length / 2) });
        else result.otherTypes = true;
      }
    }
    return result;
  }
  return undefined;
}

/** The constraints for a person: `localhost, host.example, 127.0.0.0/8, ::1/128`. */
export function describeConstraints(c: NameConstraints): string {
  const ranges = c.ip.map((r) => {
    const bits = r.mask.reduce((n, o) => n + o.toString(2).replace(/0/g, '').length, 0);
    const text =
      r.address.length === 4
        ? r.address.join('.')
        : canonicalName(
            Array.from({ length: 8 }, (_, i) => ((r.address[2 * i]! << 8) | r.address[2 * i + 1]!).toString(16)).join(
              ':',
            ),
          );
    return `${text}/${bits}`;
  });
  return [...c.dns, ...ranges].join(', ');
}
