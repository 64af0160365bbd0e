/** HTTPS options, certificate names, renewal and the TLS part of the plan and nginx.conf (pure). */
import { describe, expect, it } from 'vitest';
import { restartOptions } from '../../../src/commands/restart.js';
import { renderNginxConf, type NginxConfInput } from '../../../src/nginx/conf.js';
import { buildPlan, type Found } from '../../../src/stack/plan.js';
import { resolveSettings, type StackOptions } from '../../../src/stack/settings.js';
import {
  addressOctets,
  canonicalName,
  certificateNames,
  describeConstraints,
  encodeNameConstraints,
  nameConstraintsFor,
  namesInSubjectAltName,
  readNameConstraints,
  renewalReason,
  resolveTls,
  subjectAltNames,
  tlsPaths,
  uncoveredNames,
} from '../../../src/tls/plan.js';
import { getPlatform, type Platform } from '../../../src/system/platform.js';
import type { StackRecord } from '../../../src/stack/state.js';
import { userErrorFrom } from '../user-error.js';

const linux = getPlatform('linux');
const win32 = getPlatform('win32');
const posixCtx = { cwd: '/home/ana/proj', platform: linux };
const winCtx = { cwd: 'C:\\Users\\Ana\\proj', platform: win32 };

describe('resolveTls', () => {
  it('is plain HTTP unless asked', () => {
    expect(resolveTls({}, posixCtx)).toBeUndefined();
    expect(resolveTls({ tls: false }, posixCtx)).toBeUndefined();
  });

  it('--tls generates; --tls-cert/--tls-key take the files, made absolute (with or without --tls)', () => {
    expect(resolveTls({ tls: true }, posixCtx)).toEqual({ kind: 'generated' });
    expect(resolveTls({ tlsCert: 'certs/a.pem', tlsKey: '/etc/k.pem' }, posixCtx)).toEqual({
      kind: 'files',
      cert: '/home/ana/proj/certs/a.pem',
      key: '/etc/k.pem',
    });
    expect(resolveTls({ tls: true, tlsCert: 'a.pem', tlsKey: 'a-key.pem' }, winCtx)).toEqual({
      kind: 'files',
      cert: 'C:\\Users\\Ana\\proj\\a.pem',
      key: 'C:\\Users\\Ana\\proj\\a-key.pem',
    });
  });

  it('refuses one file without the other, empty paths and --no-tls with files, naming the flags', () => {
    expect(userErrorFrom(() => resolveTls({ tlsCert: 'a.pem' }, posixCtx)).message).toBe(
      '--tls-cert needs --tls-key too',
    );
    expect(userErrorFrom(() => resolveTls({ tlsKey: 'a-key.pem' }, posixCtx)).message).toBe(
      '--tls-key needs --tls-cert too',
    );
    expect(userErrorFrom(() => resolveTls({ tlsCert: ' ', tlsKey: 'k' }, posixCtx)).message).toBe(
      "--tls-cert needs a file, got ''",
    );
    const e = userErrorFrom(() => resolveTls({ tls: false, tlsCert: 'a.pem', tlsKey: 'k.pem' }, posixCtx));
    expect(e.message).toContain('--no-tls');
    expect(e.hint).toBeTruthy();
  });
});

describe('certificate names', () => {
  it('covers this machine by every local name, the host name and each public name, once each', () => {
    expect(
      certificateNames(['mlflow.example.com', '*.ml.example.com', '192.168.1.5', '::1', 'LOCALHOST'], 'build-box'),
    ).toEqual(['localhost', '127.0.0.1', '::1', 'build-box', 'mlflow.example.com', '*.ml.example.com', '192.168.1.5']);
  });

  it('leaves out a host name unfit for a certificate and wildcard listen addresses', () => {
    expect(certificateNames(['0.0.0.0', '::'], 'my_box')).toEqual(['localhost', '127.0.0.1', '::1']);
    expect(certificateNames([], undefined)).toEqual(['localhost', '127.0.0.1', '::1']);
  });

  it('compares IPv6 in its shortest form and DNS names in lower case', () => {
    expect(canonicalName('0:0:0:0:0:0:0:1')).toBe('::1');
    expect(canonicalName('[FD00:0::5]')).toBe('fd00::5');
    expect(canonicalName('MLflow.Example.com')).toBe('mlflow.example.com');
  });

  it('makes addresses iPAddress entries and names (wildcards too) dNSName entries', () => {
    expect(subjectAltNames(['localhost', '127.0.0.1', '::1', '*.ml.example.com'])).toEqual([
      { type: 'dns', value: 'localhost' },
      { type: 'ip', value: '127.0.0.1' },
      { type: 'ip', value: '::1' },
      { type: 'dns', value: '*.ml.example.com' },
    ]);
  });

  it("reads node:crypto's subjectAltName text", () => {
    expect(
      namesInSubjectAltName(
        'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, DNS:*.ml.example.com, email:a@b.c',
      ),
    ).toEqual(['localhost', '127.0.0.1', '::1', '*.ml.example.com']);
    expect(namesInSubjectAltName(undefined)).toEqual([]);
  });
});

describe('name constraints of a generated CA', () => {
  const names = [
    'localhost',
    '127.0.0.1',
    '::1',
    'box',
    'mlflow.example.com',
    '*.ml.example.com',
    '192.0.2.7',
    '2001:db8::1',
    '127.0.0.2',
  ];

  it('permits the DNS names (a wildcard by its parent, nothing twice), loopback and each other address', () => {
    const c = nameConstraintsFor(names);
    expect(c.dns).toEqual(['localhost', 'box', 'mlflow.example.com', 'ml.example.com']);
    expect(describeConstraints(c)).toBe(
      'localhost, box, mlflow.example.com, ml.example.com, 127.0.0.0/8, ::1/128, 192.0.2.7/32, 2001:db8::1/128',
    );
    expect(nameConstraintsFor(['sub.example.com', 'example.com', 'a.sub.example.com']).dns).toEqual([
      'sub.example.com',
      'example.com',
    ]);
  });

  it('says which names they do not cover (a later --server-name, another address)', () => {
    const c = nameConstraintsFor(names);
    expect(uncoveredNames(c, names)).toEqual([]);
    expect(uncoveredNames(c, ['x.mlflow.example.com', 'MLFLOW.example.com', '127.8.9.10', '[::1]'])).toEqual([]);
    expect(
      uncoveredNames(c, ['accounts.google.com', 'example.com', 'xmlflow.example.com', '192.0.2.8', '::2', '10.0.0.1']),
    ).toEqual(['accounts.google.com', 'example.com', 'xmlflow.example.com', '192.0.2.8', '::2', '10.0.0.1']);
  });

  it('reads back what it encodes, inside a certificate-shaped DER, and IPv6 in every written form', () => {
    const c = nameConstraintsFor(names);
    const value = [...encodeNameConstraints(c)];
    const tlv = (tag: number, content: number[]) => {
      const n = content.length;
      return [tag, ...(n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 255]), ...content];
    };
    const ext = tlv(0x30, [...tlv(0x06, [0x55, 0x1d, 0x1e]), ...tlv(0x01, [0xff]), ...tlv(0x04, value)]);
    const other = tlv(0x30, [...tlv(0x06, [0x55, 0x1d, 0x13]), ...tlv(0x04, [0x30, 0x00])]);
    const tbs = tlv(0x30, [...tlv(0x02, [1]), ...tlv(0x30, []), ...tlv(0xa3, tlv(0x30, [...other, ...ext]))]);
    const cert = Uint8Array.from(tlv(0x30, [...tbs, ...tlv(0x30, []), ...tlv(0x03, [0])]));
    expect(readNameConstraints(cert)).toEqual({ ...c, critical: true, excluded: false, otherTypes: false });
    const without = Uint8Array.from(tlv(0x30, [...tlv(0x30, [...tlv(0x02, [1]), ...tlv(0xa3, tlv(0x30, other))])]));
    expect(readNameConstraints(without)).toBeUndefined();
    expect(() => readNameConstraints(cert.subarray(0, 40))).toThrow(/DER/);
    for (const form of ['::ffff:192.0.2.1', '0:0:0:0:0:ffff:c000:201', '::FFFF:C000:0201'])
      expect(addressOctets(form)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 192, 0, 2, 1]);
    expect(addressOctets('2001:db8::1')).toEqual([0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
  });
});

describe('renewalReason', () => {
  const now = new Date('2026-11-23T00:00:00Z');
  const names = ['localhost', '127.0.0.1', '::1'];
  const good = { names, notAfter: new Date('2027-11-01T00:00:00Z'), issuedByCa: true, keyMatches: true };

  it('keeps a certificate with the same names, from the CA on file, far from its end', () => {
    expect(renewalReason(good, ['127.0.0.1', 'localhost', '0:0:0:0:0:0:0:1'], now)).toBeUndefined();
  });

  it.each([
    [undefined, 'none yet'],
    [{ ...good, issuedByCa: false }, 'not issued by the local CA on file'],
    [{ ...good, keyMatches: false }, 'its key does not match it'],
    [{ ...good, names: ['localhost', '127.0.0.1'] }, 'the names changed (now localhost, 127.0.0.1, ::1)'],
    [{ ...good, names: [...names, 'old.example.com'] }, 'the names changed (now localhost, 127.0.0.1, ::1)'],
    [{ ...good, notAfter: new Date('2026-12-20T00:00:00Z') }, 'it expires 2026-12-20'],
  ])('renews %#: %s', (existing, reason) => {
    expect(renewalReason(existing, names, now)).toBe(reason);
  });
});

function found(overrides: Partial<Found> = {}): Found {
  return {
    mlflow: { file: '/x/mlflow', args: [] },
    nginx: '/usr/sbin/nginx',
    nginxVersion: [1, 22, 1],
    mlflowPort: 5101,
    listenPort: 5000,
    who: { uid: 1000, username: 'ana' },
    ...overrides,
  };
}

function planFor(options: StackOptions, platform: Platform = linux, f: Partial<Found> = {}) {
  return buildPlan(resolveSettings(options, platform.isWindows ? winCtx : posixCtx), found(f), platform);
}

describe('buildPlan with TLS', () => {
  it('hands out https URLs, local and public', () => {
    const plan = planFor({ tls: true, serverName: 'mlflow.example.com' });
    expect(plan.url).toBe('https://127.0.0.1:5000');
    expect(plan.publicUrls).toEqual(['https://mlflow.example.com:5000']);
  });

  it('lists the https origin a browser sends for a public name (port left out only at 443); without TLS it is unchanged', () => {
    const host = '0.0.0.0';
    expect(planFor({ host, tls: true, serverName: 'mlflow.example.com' }).corsOrigins).toEqual([
      'https://mlflow.example.com:5000',
    ]);
    expect(
      planFor({ host, tls: true, serverName: 'mlflow.example.com' }, linux, { listenPort: 443 }).corsOrigins,
    ).toEqual(['https://mlflow.example.com']);
    expect(planFor({ host, serverName: 'mlflow.example.com' }).corsOrigins).toEqual([
      'http://mlflow.example.com:5000',
      'https://mlflow.example.com',
    ]);
  });

  it('points nginx at the certificate in the state folder, whatever file the user gave', () => {
    for (const options of [{ tls: true }, { tlsCert: '/srv/c.pem', tlsKey: '/srv/k.pem' }]) {
      const conf = planFor(options).nginx.conf;
      expect(conf).toContain('        listen 127.0.0.1:5000 ssl;\n');
      expect(conf).toContain('ssl_certificate "/home/ana/proj/.mlflow-secure/tls/server.pem";');
      expect(conf).toContain('ssl_certificate_key "/home/ana/proj/.mlflow-secure/tls/server-key.pem";');
      expect(conf).not.toContain('/srv/');
    }
  });

  it('writes Windows paths with forward slashes for nginx.exe', () => {
    const conf = planFor({ tls: true }, win32).nginx.conf;
    expect(conf).toContain('ssl_certificate "C:/Users/Ana/proj/.mlflow-secure/tls/server.pem";');
    expect(conf).toContain('ssl_certificate_key "C:/Users/Ana/proj/.mlflow-secure/tls/server-key.pem";');
    expect(conf).not.toMatch(/ssl_certificate[^\n]*\\/);
    expect(tlsPaths('C:\\Users\\Ana\\proj\\.mlflow-secure', win32).caCert).toBe(
      'C:\\Users\\Ana\\proj\\.mlflow-secure\\tls\\ca.pem',
    );
  });
});

describe('renderNginxConf with TLS', () => {
  const base: NginxConfInput = {
    listenHost: '0.0.0.0',
    listenPort: 8443,
    serverNames: ['mlflow.example.com'],
    upstream: 'unix:/s/mlflow.sock',
    workerProcesses: 2,
    realm: 'MLflow',
    instanceId: 'abc',
    paths: {
      pid: '/s/p',
      errorLog: '/s/e',
      accessLog: '/s/a',
      htpasswd: '/s/h',
      clientBodyTemp: '/s/1',
      proxyTemp: '/s/2',
      fastcgiTemp: '/s/3',
      uwsgiTemp: '/s/4',
      scgiTemp: '/s/5',
    },
  };
  const plain = renderNginxConf(base);
  const tls = renderNginxConf({ ...base, tls: { cert: '/s/tls/server.pem', key: '/s/tls/server-key.pem' } });

  it('adds only the ssl listen flag and the TLS block to the plain config', () => {
    const added = tls.split('\n').filter((l) => !plain.split('\n').includes(l));
    expect(added).toEqual([
      '        listen 0.0.0.0:8443 ssl;',
      '        ssl_certificate "/s/tls/server.pem";',
      '        ssl_certificate_key "/s/tls/server-key.pem";',
      '        ssl_protocols TLSv1.2 TLSv1.3;',
      '        ssl_session_cache shared:SSL:10m;',
      '        ssl_session_timeout 1h;',
      '        error_page 497 =301 https://$host:$server_port$request_uri;',
    ]);
    expect(plain.split('\n').filter((l) => !tls.split('\n').includes(l))).toEqual(['        listen 0.0.0.0:8443;']);
  });

  it('offers TLS 1.2 and 1.3 only, keeps connections alive, and never answers with HSTS or `return`', () => {
    expect(tls).not.toMatch(/TLSv1(\.1)?[ ;]/);
    expect(tls).toContain('keepalive_timeout 65s;');
    expect(tls).not.toContain('Strict-Transport-Security');
    expect(tls.split('\n').filter((l) => /^\s*return /.test(l))).toEqual(
      plain.split('\n').filter((l) => /^\s*return /.test(l)),
    );
  });
});

describe('restartOptions with TLS', () => {
  const record: StackRecord = {
    version: 2,
    phase: 'running',
    supervisorPid: null,
    startedAt: '2026-11-23T10:00:00.000Z',
    url: 'https://127.0.0.1:5123',
    publicUrls: [],
    user: 'alice',
    host: '127.0.0.1',
    port: 5123,
    mlflowPort: 40000,
    hash: 'bcrypt',
    backendStoreUri: 'sqlite:////srv/ml/mlflow.db',
    registryStoreUri: 'sqlite:////srv/ml/mlflow.db',
    artifactsDestination: '/srv/ml/artifacts',
    options: { serverNames: [], nginxWorkers: 2, timeoutSeconds: 120, tls: 'generated' },
  };
  const files = { ...record, options: { ...record.options!, tls: { cert: '/srv/c.pem', key: '/srv/k.pem' } } };

  it('keeps --tls, or the certificate paths (which up checks again)', () => {
    expect(restartOptions(record, {}).tls).toBe(true);
    expect(restartOptions(files, {})).toMatchObject({ tlsCert: '/srv/c.pem', tlsKey: '/srv/k.pem' });
  });

  it('lets --no-tls turn it off and new files replace the old', () => {
    const off = restartOptions(files, { tls: false });
    expect(off.tls).toBe(false);
    expect(off.tlsCert).toBeUndefined();
    expect(resolveTls(off, posixCtx)).toBeUndefined();
    expect(restartOptions(files, { tlsCert: 'n.pem', tlsKey: 'nk.pem' })).toMatchObject({
      tlsCert: 'n.pem',
      tlsKey: 'nk.pem',
    });
    expect(restartOptions({ ...record, options: { ...record.options!, tls: undefined } }, {}).tls).toBeUndefined();
  });
});

describe('mkcertCaRoot', () => {
  it("finds mkcert's CAROOT the way mkcert does on each platform", () => {
    expect(linux.mkcertCaRoot({ CAROOT: '/x/ca', HOME: '/home/ana' })).toBe('/x/ca');
    expect(linux.mkcertCaRoot({ HOME: '/home/ana' })).toBe('/home/ana/.local/share/mkcert');
    expect(linux.mkcertCaRoot({ HOME: '/home/ana', XDG_DATA_HOME: '/d' })).toBe('/d/mkcert');
    expect(getPlatform('darwin').mkcertCaRoot({ HOME: '/Users/ana' })).toBe(
      '/Users/ana/Library/Application Support/mkcert',
    );
    expect(win32.mkcertCaRoot({ LOCALAPPDATA: 'C:\\Users\\Ana\\AppData\\Local' })).toBe(
      'C:\\Users\\Ana\\AppData\\Local\\mkcert',
    );
    expect(win32.mkcertCaRoot({})).toBeUndefined();
  });
});
