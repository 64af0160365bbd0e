/**
 * The conf lines that let a token past auth_basic: only with --permissions, only on MLflow's REST
 * prefixes, never on server-info (which MLflow's auth app leaves open), and only for our form.
 */
import { describe, expect, it } from 'vitest';
import { renderNginxConf, type NginxConfInput } from '../../../src/nginx/conf.js';
import { TOKEN_HEADER, TOKEN_USER_HEADER } from '../../../src/stack/permissions.js';

function input(overrides: Partial<NginxConfInput> = {}): NginxConfInput {
  const s = '/st';
  return {
    listenHost: '127.0.0.1',
    listenPort: 5000,
    serverNames: [],
    upstream: '127.0.0.1:5101',
    workerProcesses: 2,
    realm: 'MLflow',
    paths: {
      pid: `${s}/pid`,
      errorLog: `${s}/e`,
      accessLog: `${s}/a`,
      htpasswd: `${s}/htpasswd`,
      clientBodyTemp: `${s}/1`,
      proxyTemp: `${s}/2`,
      fastcgiTemp: `${s}/3`,
      uwsgiTemp: `${s}/4`,
      scgiTemp: `${s}/5`,
    },
    ...overrides,
  };
}
const permissions = { secret: 's'.repeat(64) };
const lines = (c: string) =>
  c
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
function mapBody(c: string, variable: string): string[] {
  const all = lines(c);
  const start = all.findIndex((l) => l.startsWith('map ') && l.endsWith(` ${variable} {`));
  expect(start, variable).toBeGreaterThanOrEqual(0);
  return all.slice(start, all.indexOf('}', start));
}

/** The map's regex, as nginx (PCRE) would apply it; this one reads the same in JavaScript. */
function tokenOf(c: string, authorization: string, requestUri: string): string {
  const body = mapBody(c, '$mlflow_secure_token_on_api');
  expect(body[0]).toBe('map "$http_authorization:$request_uri" $mlflow_secure_token_on_api {');
  expect(body[1]).toBe('default "";');
  const m = /^"~(.*)" \$1;$/.exec(body[2] ?? '');
  expect(body).toHaveLength(3);
  const hit = new RegExp(m?.[1] ?? '(?!)').exec(`${authorization}:${requestUri}`);
  return hit?.[1] ?? '';
}
const TOKEN = `mlfs_${'aZ09-_'.repeat(7)}x`;

describe('tokens in nginx.conf', () => {
  const conf = renderNginxConf(input({ permissions }));

  it('are not there at all without --permissions (no Bearer pass-through, the realm as before)', () => {
    for (const c of [renderNginxConf(input()), renderNginxConf(input({ preflightOrigins: ['http://a:1'] }))]) {
      expect(c).not.toContain('mlflow_secure_token');
      expect(c).not.toContain(TOKEN_HEADER);
      expect(c).not.toContain('Bearer');
    }
    expect(lines(renderNginxConf(input()))).toContain('auth_basic "MLflow";');
  });

  it.each([
    '/api/2.0/mlflow/experiments/search',
    '/ajax-api/2.0/mlflow/runs/search?x=1',
    '/api/2.0/mlflow-artifacts/artifacts/a/b.txt',
    '/ajax-api/2.0/mlflow-artifacts/mpu/create',
    '/api/3.0/mlflow/traces/search',
    '/ajax-api/3.0/mlflow/server-info-x',
  ])('lets a token of our form through on %s', (uri) => {
    expect(tokenOf(conf, `Bearer ${TOKEN}`, uri)).toBe(TOKEN);
  });

  it.each([
    ['the UI', `Bearer ${TOKEN}`, '/'],
    ['static files', `Bearer ${TOKEN}`, '/static-files/index.html'],
    ['health', `Bearer ${TOKEN}`, '/health'],
    ['version', `Bearer ${TOKEN}`, '/version'],
    ['graphql', `Bearer ${TOKEN}`, '/graphql'],
    ['gateway', `Bearer ${TOKEN}`, '/gateway/x/invocations'],
    ['a path that only starts like the API', `Bearer ${TOKEN}`, '/api/2.0/mlflowx/a'],
    ['a doubled slash', `Bearer ${TOKEN}`, '//api/2.0/mlflow/a'],
    ['the API inside another path', `Bearer ${TOKEN}`, '/static-files/../api/2.0/mlflow/a'],
    ['another version', `Bearer ${TOKEN}`, '/api/2.1/mlflow/a'],
    ['basic credentials', 'Basic YTpi', '/api/2.0/mlflow/a'],
    ['a short token', `Bearer ${TOKEN.slice(0, -1)}`, '/api/2.0/mlflow/a'],
    ['a long token', `Bearer ${TOKEN}x`, '/api/2.0/mlflow/a'],
    ['another prefix', `Bearer ${TOKEN.replace('mlfs_', 'ghp_x')}`, '/api/2.0/mlflow/a'],
    ['lower-case bearer', `bearer ${TOKEN}`, '/api/2.0/mlflow/a'],
    ['a separator in the token', `Bearer ${TOKEN.slice(0, -1)}:`, '/api/2.0/mlflow/a'],
    ['no header', '', '/api/2.0/mlflow/a'],
  ])('keeps the password for %s', (_, authorization, uri) => {
    expect(tokenOf(conf, authorization, uri)).toBe('');
  });

  it("drops the token on server-info (MLflow's auth app never asks the function there)", () => {
    const body = mapBody(conf, '$mlflow_secure_token');
    expect(body).toEqual([
      'map $uri $mlflow_secure_token {',
      'default $mlflow_secure_token_on_api;',
      '"~/server-info$" "";',
    ]);
    const drop = new RegExp(/^"~(.*)" "";$/.exec(body[2] ?? '')?.[1] ?? '(?!)');
    for (const uri of ['/api/2.0/mlflow/server-info', '/ajax-api/3.0/mlflow/server-info'])
      expect(drop.test(uri), uri).toBe(true);
    expect(drop.test('/api/2.0/mlflow/server-info/x')).toBe(false);
  });

  it('switches auth_basic off only for a token; else the realm, or the preflight map', () => {
    expect(lines(conf)).toContain('auth_basic $mlflow_secure_auth;');
    expect(mapBody(conf, '$mlflow_secure_auth')).toEqual([
      'map $mlflow_secure_token $mlflow_secure_auth {',
      '"" "MLflow";',
      'default off;',
    ]);
    const withPreflights = renderNginxConf(input({ permissions, preflightOrigins: ['http://a:1'] }));
    expect(mapBody(withPreflights, '$mlflow_secure_auth')).toEqual([
      'map $mlflow_secure_token $mlflow_secure_auth {',
      '"" $mlflow_secure_password_auth;',
      'default off;',
    ]);
    expect(mapBody(withPreflights, '$mlflow_secure_password_auth')[1]).toBe('default "MLflow";');
  });

  it('logs a token request under the user the function names, the header kept from the client', () => {
    const all = lines(conf);
    expect(all).toContain(`proxy_hide_header ${TOKEN_USER_HEADER};`);
    expect(mapBody(conf, '$mlflow_secure_log_user')).toEqual([
      'map $upstream_http_x_mlflow_secure_token_user $mlflow_secure_log_user {',
      '"" $mlflow_secure_log_remote_user;',
      'default $upstream_http_x_mlflow_secure_token_user;',
    ]);
    expect(mapBody(conf, '$mlflow_secure_log_remote_user')).toEqual([
      'map $remote_user $mlflow_secure_log_remote_user {',
      '"" "-";',
      'default $remote_user;',
    ]);
    // Defined before the access_log that names it (nginx resolves the format while parsing).
    const format = all.findIndex((l) => l.startsWith('log_format mlflow_secure '));
    expect(format).toBeGreaterThanOrEqual(0);
    expect(all.findIndex((l) => l === 'access_log "/st/a" mlflow_secure;')).toBeGreaterThan(format);
    expect(all[format]).toContain('\'$remote_addr - $mlflow_secure_log_user [$time_local] "$request" $status ');
    expect(lines(renderNginxConf(input()))).toContain('access_log "/st/a";');
  });

  it("hands MLflow the token in its own header (overwriting a client's), and Authorization never", () => {
    expect(lines(conf)).toContain(`proxy_set_header ${TOKEN_HEADER} $mlflow_secure_token;`);
    expect(lines(conf)).toContain('proxy_set_header Authorization "";');
    expect(lines(conf).filter((l) => l.startsWith('proxy_set_header Authorization'))).toHaveLength(1);
  });
});
