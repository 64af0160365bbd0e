/** `up --upstream`: the URL's validation, the plan and nginx.conf with an MLflow we did not start, the record. */
import { describe, expect, it } from 'vitest';
import { buildPlan, type Found } from '../../../src/stack/plan.js';
import { resolveSettings, type StackOptions } from '../../../src/stack/settings.js';
import { looksLikeMlflow, parseUpstream, upstreamWarning } from '../../../src/mlflow/upstream-url.js';
import { getPlatform, type Platform } from '../../../src/system/platform.js';
import { restartOptions } from '../../../src/commands/restart.js';
import { recordOf } from '../../../src/stack/lifecycle/record.js';
import { userErrorFrom } from '../user-error.js';

const linux = getPlatform('linux');
const win32 = getPlatform('win32');

const found: Found = {
  mlflow: { file: 'mlflow', args: [] },
  nginx: '/usr/sbin/nginx',
  nginxVersion: [1, 22, 1],
  mlflowPort: 5101,
  listenPort: 5000,
  who: { uid: 1000, username: 'ana' },
};

function planFor(options: StackOptions, platform: Platform = linux) {
  const cwd = platform.isWindows ? 'C:\\Users\\Ana\\proj' : '/home/ana/proj';
  return buildPlan(resolveSettings(options, { cwd, platform }), found, platform);
}

describe('parseUpstream', () => {
  it.each([
    ['http://127.0.0.1:5001', 'http://127.0.0.1:5001', '127.0.0.1:5001'],
    ['http://127.0.0.1:5001/', 'http://127.0.0.1:5001', '127.0.0.1:5001'],
    ['https://mlflow.lan:8443', 'https://mlflow.lan:8443', 'mlflow.lan:8443'],
    ['http://[::1]:5001', 'http://[::1]:5001', '[::1]:5001'],
    ['http://localhost:5001', 'http://localhost:5001', 'localhost:5001'],
  ])('%s', (value, url, hostHeader) => {
    const u = parseUpstream(value);
    expect(u.url).toBe(url);
    expect(u.hostHeader).toBe(hostHeader);
  });

  it.each([
    '127.0.0.1:5001',
    'http://127.0.0.1',
    'http://127.0.0.1:5001/mlflow',
    'http://127.0.0.1:5001?x=1',
    'http://user:pw@127.0.0.1:5001',
    'ftp://127.0.0.1:5001',
    'http://127.0.0.1:0',
    'http://127.0.0.1:70000',
    'http://999.1.1.1:5001',
    'http://bad_name:5001',
    'http://[zz]:5001',
    'http://127.0.0.1:5001\nserver evil:80',
    'http://127.0.0.1:5001; include /etc/passwd',
  ])('refuses %j in one line naming the flag', (value) => {
    const e = userErrorFrom(() => parseUpstream(value));
    expect(e.message).toMatch(/^--upstream must be http:\/\/host:port or https:\/\/host:port/);
    expect(`${e.message} ${e.hint}`).not.toMatch(/\n/);
  });

  it('warns that a TCP MLflow is open to other accounts, and to the network when not on loopback', () => {
    expect(upstreamWarning(parseUpstream('http://127.0.0.1:5001'))).toMatch(
      /listens on TCP, so other accounts on this machine can use it past the password/,
    );
    expect(upstreamWarning(parseUpstream('http://10.0.0.5:5001'))).toMatch(/anyone who can reach 10\.0\.0\.5/);
  });

  it('recognises MLflow by /health OK and /version', () => {
    expect(looksLikeMlflow({ status: 200, body: 'OK' }, { status: 200, body: '3.17.2' })).toBe(true);
    expect(looksLikeMlflow({ status: 200, body: '<html>' }, { status: 200, body: '3.17.2' })).toBe(false);
    expect(looksLikeMlflow({ status: 200, body: 'OK' }, { status: 404, body: 'Not Found' })).toBe(false);
  });
});

describe('settings and plan with --upstream', () => {
  it('refuses the options of an MLflow mlflow-secure would start', () => {
    for (const [key, flag] of [
      ['backendStoreUri', '--backend-store-uri'],
      ['artifactsDestination', '--artifacts-destination'],
      ['mlflow', '--mlflow'],
    ] as const) {
      const e = userErrorFrom(() =>
        resolveSettings({ upstream: 'http://127.0.0.1:5001', [key]: 'x' }, { cwd: '/p', platform: linux }),
      );
      expect(e.message).toBe(
        `${flag} has no effect with --upstream: the MLflow at http://127.0.0.1:5001 already chose it`,
      );
    }
  });

  it('says the TCP warning once, and not the --jobs one', () => {
    const s = resolveSettings({ upstream: 'http://127.0.0.1:5001', jobs: 'on' }, { cwd: '/p', platform: linux });
    expect(s.warnings).toHaveLength(1);
    expect(s.warnings[0]).toMatch(/^--upstream: MLflow at http:\/\/127\.0\.0\.1:5001 listens on TCP/);
  });

  it('proxies to the upstream with the Host it knows; no Unix socket; plan.mlflow.port is the upstream port', () => {
    const plan = planFor({ upstream: 'http://127.0.0.1:5001', serverName: 'mlflow.example.com' });
    expect(plan.upstream?.url).toBe('http://127.0.0.1:5001');
    expect(plan.mlflow.socket).toBeUndefined();
    expect(plan.mlflow.port).toBe(5001);
    const conf = plan.nginx.conf;
    expect(conf).toContain('        server 127.0.0.1:5001;');
    expect(conf).toContain('            proxy_pass http://mlflow;');
    expect(conf).toContain('            proxy_set_header Host "127.0.0.1:5001";');
    expect(conf).not.toContain('proxy_set_header Host $http_host;');
    // Everything else is the usual server: auth on, Authorization stripped, the public name kept.
    expect(conf).toContain('server_name mlflow.example.com;');
    expect(conf).toContain('auth_basic $mlflow_secure_auth;');
    expect(conf).toContain('default "MLflow";');
    expect(conf).toContain('proxy_set_header Authorization "";');
    expect(conf).toContain('proxy_set_header X-Forwarded-Host $http_host;');
    expect(conf).not.toContain('proxy_ssl');
    // The UI's POSTs from the public name carry its Origin: sent on as the upstream's own origin
    // (that MLflow does not know our names); any other Origin reaches it unchanged.
    expect(conf).toContain(
      [
        '    map $http_origin $mlflow_secure_origin {',
        '        default $http_origin;',
        '        "http://mlflow.example.com:5000" "http://127.0.0.1:5001";',
        '        "https://mlflow.example.com" "http://127.0.0.1:5001";',
      ].join('\n'),
    );
    expect(conf).toContain('            proxy_set_header Origin $mlflow_secure_origin;');
    // And back: that MLflow's Access-Control-Allow-Origin names its own origin; the browser gets
    // the one it is on. Any other value passes unchanged.
    expect(conf).toContain(
      [
        '    map $upstream_http_access_control_allow_origin $mlflow_secure_allow_origin {',
        '        default $upstream_http_access_control_allow_origin;',
        '        "http://127.0.0.1:5001" $http_origin;',
        '    }',
      ].join('\n'),
    );
    const server = conf.slice(conf.indexOf('    server {'), conf.indexOf('        location / {'));
    expect(server).toContain('        proxy_hide_header Access-Control-Allow-Origin;');
    expect(server).toContain('        add_header Access-Control-Allow-Origin $mlflow_secure_allow_origin always;');
    // No add_header in a location: it would drop the server's (the instance header, this one).
    expect(conf.slice(conf.indexOf('        location / {'))).not.toContain('add_header');
    // Before the first map (nginx refuses it after one), and big enough for nginx.exe (its default is 32).
    expect(conf.indexOf('    map_hash_bucket_size 128;')).toBeLessThan(conf.indexOf('    map '));
    expect(planFor({ upstream: 'http://127.0.0.1:5001' }).nginx.conf).toContain(
      '        "http://127.0.0.1:5000" "http://127.0.0.1:5001";',
    );
  });

  it('HTTPS and IPv6 upstreams', () => {
    const tls = planFor({ upstream: 'https://mlflow.lan:8443' }).nginx.conf;
    expect(tls).toContain('        server mlflow.lan:8443;');
    expect(tls).toContain('            proxy_pass https://mlflow;');
    expect(tls).toContain('            proxy_ssl_server_name on;');
    expect(tls).toContain('            proxy_ssl_name "mlflow.lan";');
    const v6 = planFor({ upstream: 'http://[::1]:5001' }).nginx.conf;
    expect(v6).toContain('        server [::1]:5001;');
    expect(v6).toContain('proxy_set_header Host "[::1]:5001";');
  });

  it('Windows: the same upstream; nginx.conf in forward slashes', () => {
    const plan = planFor({ upstream: 'http://127.0.0.1:5001' }, win32);
    expect(plan.nginx.conf).toContain('        server 127.0.0.1:5001;');
    expect(plan.nginx.conf).not.toContain('\\');
  });
});

describe('the record and restart with --upstream', () => {
  it('records the upstream URL, and restart hands it back without store options', () => {
    const plan = planFor({ upstream: 'http://127.0.0.1:5001' });
    const record = recordOf(plan, undefined, { pid: 4321 } as never, 'running', null);
    expect(record.upstream).toBe('http://127.0.0.1:5001');
    expect(record.mlflow).toBeUndefined();
    const options = restartOptions(record, {});
    expect(options.upstream).toBe('http://127.0.0.1:5001');
    expect(options.backendStoreUri).toBeUndefined();
    expect(options.registryStoreUri).toBeUndefined();
    expect(options.artifactsDestination).toBeUndefined();
    // What restart hands over is validated again as if typed.
    expect(() => resolveSettings(options, { cwd: '/p', platform: linux })).not.toThrow();
  });

  it('a given --upstream wins over the recorded one', () => {
    const plan = planFor({ upstream: 'http://127.0.0.1:5001' });
    const record = recordOf(plan, undefined, { pid: 4321 } as never, 'running', null);
    expect(restartOptions(record, { upstream: 'http://127.0.0.1:5002' }).upstream).toBe('http://127.0.0.1:5002');
  });
});
