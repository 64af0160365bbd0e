/**
 * What nginx and MLflow let through at their edges, on a real stack with `--jobs on` (MLflow on a
 * loopback TCP port, which is where a DNS-rebinding page could reach it past the password):
 * - MLflow's Host check admits the stack's own names only, through nginx and directly;
 * - a request line or header as long as MLflow takes reaches MLflow, which gives its own answer;
 * - a CORS preflight of the stack's own pages reaches MLflow's CORS handling without a password,
 *   gets CORS headers and no data, and nothing else gets past the password.
 * Requests go out over raw sockets where the exact bytes matter (a lowercase method, a body on
 * OPTIONS, chunked framing).
 */
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request, type HttpResponse } from '../../src/system/http.js';
import { cli, readStackRecord, removeDir, tempDir, waitForNoStackProcesses } from './helpers.js';

const PASSWORD = `e2e-${Math.random().toString(36).slice(2)}-edges`;
const AUTH = { user: 'admin', password: PASSWORD };
const NAME = 'mlflow.example.test';
const API = '/api/2.0/mlflow/experiments/search?max_results=1';
const INVALID_HOST = 'Invalid Host header - possible DNS rebinding attack detected';

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** One request, written as given, on its own connection; the answer read until the server closes. */
function raw(port: number, text: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    socket.setTimeout(30_000, () => socket.destroy(new Error('raw request timed out')));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    // Only the server closes: nginx takes a half-closed client for one that left, and drops the request.
    socket.on('end', () => {
      socket.end();
      const all = Buffer.concat(chunks).toString('latin1');
      const split = all.indexOf('\r\n\r\n');
      const [statusLine = '', ...fields] = all.slice(0, split).split('\r\n');
      const headers: Record<string, string> = {};
      for (const f of fields) headers[f.slice(0, f.indexOf(':')).toLowerCase()] = f.slice(f.indexOf(':') + 1).trim();
      let body = all.slice(split + 4);
      if (headers['transfer-encoding'] === 'chunked') body = dechunk(body);
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body });
    });
    socket.write(text);
  });
}

function dechunk(text: string): string {
  let out = '';
  for (let rest = text; ;) {
    const eol = rest.indexOf('\r\n');
    const size = parseInt(rest.slice(0, eol), 16);
    if (!(size > 0)) return out;
    out += rest.slice(eol + 2, eol + 2 + size);
    rest = rest.slice(eol + 2 + size + 2);
  }
}

/** A request's text: request line, the given header lines, Connection: close, then the body. */
function requestText(method: string, target: string, host: string, lines: string[], body = ''): string {
  return [`${method} ${target} HTTP/1.1`, `Host: ${host}`, ...lines, 'Connection: close', '', body].join('\r\n');
}

describe('nginx edges on real MLflow and nginx, --jobs on', () => {
  let cwd: string;
  let stateDir: string;
  let port: number;
  let mlflowPort: number;
  let instance: string;
  let groups: number[] = [];
  const local = () => `127.0.0.1:${port}`;
  const viaNginx = (o: { path?: string; host?: string; headers?: Record<string, string>; auth?: boolean }) =>
    request({
      host: '127.0.0.1',
      port,
      path: o.path ?? API,
      headers: { Host: o.host ?? local(), ...o.headers },
      ...(o.auth === false ? {} : { auth: AUTH }),
    });

  beforeAll(async () => {
    cwd = await tempDir();
    stateDir = path.join(cwd, '.mlflow-secure');
    const r = await cli(['up', '-d', '--port', 'auto', '--jobs', 'on', '--workers', '1', '--server-name', NAME], {
      cwd,
      env: { MLFLOW_SECURE_PASSWORD: PASSWORD },
    });
    expect(r.exitCode, r.stderr).toBe(0);
    const record = await readStackRecord(stateDir);
    groups = [record.mlflow.pid, record.nginx.pid];
    port = record.port;
    mlflowPort = record.mlflowPort;
    instance = String((await viaNginx({ auth: false })).headers['x-mlflow-secure-instance'] ?? '');
    expect(instance).toMatch(/^\S{8,}$/);
  });

  afterAll(async () => {
    if (cwd) {
      await cli(['down'], { cwd });
      expect(await waitForNoStackProcesses(stateDir, groups)).toEqual([]);
      await removeDir(cwd);
    }
  });

  describe("MLflow's Host check: the stack's names only", () => {
    it("refuses, with valid credentials, a Host outside the stack that MLflow's private-range patterns used to admit", async () => {
      for (const host of [
        '10.attacker.example',
        `10.attacker.example:${port}`,
        `10.0.0.5:${port}`,
        `192.168.1.20:${port}`,
        `172.16.0.1:${port}`,
        `fd00::1`,
        'evil.example',
        `0.0.0.0:${port}`,
      ]) {
        const r = await viaNginx({ host });
        expect(r.status, host).toBe(403);
        expect(r.body, host).toBe(INVALID_HOST);
      }
    });

    it('answers the loopback names and the server name, with and without the port', async () => {
      for (const host of [
        `localhost:${port}`,
        `127.0.0.1:${port}`,
        `[::1]:${port}`,
        'localhost',
        `${NAME}:${port}`,
        NAME,
      ]) {
        const r = await viaNginx({ host });
        expect(r.status, host).toBe(200);
        expect(JSON.parse(r.body), host).toHaveProperty('experiments');
      }
    });

    it('serves the UI from each public URL: the page, and its API POST with the Origin a browser sends', async () => {
      for (const url of [`http://127.0.0.1:${port}`, `http://localhost:${port}`, `http://${NAME}:${port}`]) {
        const host = new URL(url).host;
        const page = await viaNginx({ path: '/', host });
        expect(page.status, url).toBe(200);
        expect(page.headers['content-type'], url).toMatch(/^text\/html/);
        const post = await request({
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/ajax-api/2.0/mlflow/experiments/search',
          headers: { Host: host, Origin: url, 'Content-Type': 'application/json' },
          body: '{"max_results":1}',
          auth: AUTH,
        });
        expect(post.status, `${url}: ${post.body}`).toBe(200);
      }
    });

    it("refuses a rebinding name on MLflow's own TCP port (no password there), and takes its job runner's URL", async () => {
      const direct = (host: string): Promise<HttpResponse> =>
        request({ host: '127.0.0.1', port: mlflowPort, path: API, headers: { Host: host } });
      for (const host of [`10.1.2.3:${mlflowPort}`, '10.1.2.3', `10.attacker.example:${mlflowPort}`, 'evil.example']) {
        const r = await direct(host);
        expect(r.status, host).toBe(403);
        expect(r.body, host).toBe(INVALID_HOST);
      }
      // MLflow hands its job runner http://127.0.0.1:<port> (mlflow/server/__init__.py).
      for (const host of [`127.0.0.1:${mlflowPort}`, `localhost:${mlflowPort}`])
        expect((await direct(host)).status).toBe(200);
    });
  });

  describe('long request lines and headers reach MLflow', () => {
    const bulk = (ids: number, pad = 0) =>
      '/ajax-api/2.0/mlflow/metrics/get-history-bulk?metric_key=m' +
      Array.from({ length: ids }, (_, i) => `&run_id=r${String(i).padStart(5, '0')}`).join('') +
      (pad > 0 ? `&pad=${'x'.repeat(pad)}` : '');

    it("answers get-history-bulk with 1,000 run ids (a 14 KB query) and a 16 KB one with MLflow's JSON, not nginx's 414", async () => {
      const long = bulk(1000);
      const longer = bulk(1000, 16 * 1024 - long.length + 64);
      expect(long.length).toBeGreaterThan(13_900);
      expect(longer.length).toBeGreaterThan(16 * 1024);
      for (const p of [long, longer]) {
        const r = await viaNginx({ path: p });
        expect(r.status, r.body.slice(0, 200)).toBe(400);
        expect(r.headers['content-type']).toBe('application/json');
        expect(JSON.parse(r.body)).toMatchObject({ error_code: 'INVALID_PARAMETER_VALUE' });
        expect(r.body).toContain('Received 1000 run_ids');
      }
    });

    it('answers a request with a 10 KB Cookie header (and a 16 KB one) as without it', async () => {
      for (const size of [10 * 1024, 16 * 1024]) {
        const r = await viaNginx({ headers: { Cookie: `other-app=${'c'.repeat(size)}` } });
        expect(r.status, `${size}: ${r.body.slice(0, 200)}`).toBe(200);
        expect(JSON.parse(r.body)).toHaveProperty('experiments');
      }
    });
  });

  describe('CORS preflights', () => {
    const preflightLines = (origin: string) => [
      `Origin: ${origin}`,
      'Access-Control-Request-Method: POST',
      'Access-Control-Request-Headers: content-type',
    ];
    const preflight = (target: string, origin: string, host = local(), extra: string[] = [], method = 'OPTIONS') =>
      raw(port, requestText(method, target, host, [...preflightLines(origin), ...extra]));
    /** Every class of route MLflow serves: UI, Flask REST and ajax, FastAPI routers, artifacts, health. */
    const ROUTES = [
      '/',
      '/static-files/index.html',
      API,
      '/ajax-api/2.0/mlflow/experiments/search',
      '/api/2.0/mlflow/runs/get?run_id=0123',
      '/api/2.0/mlflow-artifacts/artifacts/some/file.txt',
      '/ajax-api/2.0/mlflow-artifacts/artifacts/some/file.txt',
      '/get-artifact?path=x&run_uuid=0123',
      '/ajax-api/3.0/jobs/search',
      '/ajax-api/3.0/mlflow/assistant/sessions',
      '/ajax-api/3.0/mlflow/mcp-servers',
      '/ajax-api/3.0/mlflow/server-info',
      '/v1/traces',
      '/gateway/some-endpoint/mlflow/invocations',
      '/graphql',
      '/health',
      '/version',
      '/metrics',
    ];
    /** What a preflight's answer may carry: framing, CORS, and this stack's instance header. */
    const PREFLIGHT_HEADERS = new Set([
      'server',
      'date',
      'content-type',
      'content-length',
      'connection',
      'vary',
      'access-control-allow-origin',
      'access-control-allow-credentials',
      'access-control-allow-methods',
      'access-control-allow-headers',
      'access-control-max-age',
      'x-mlflow-secure-instance',
      // MLflow's gateway timing middleware sits outside its CORS handling and times /gateway/ answers.
      'x-mlflow-gateway-duration-ms',
    ]);

    it("answers a preflight of the stack's own pages, on every route, with CORS headers and no data", async () => {
      for (const origin of [`http://${NAME}:${port}`, `http://127.0.0.1:${port}`, `http://localhost:${port}`]) {
        for (const route of ROUTES) {
          const r = await preflight(route, origin);
          const what = `${origin} ${route}`;
          expect(r.status, `${what}: ${r.body}`).toBe(200);
          expect(r.body, what).toBe('OK');
          expect(r.headers['access-control-allow-origin'], what).toBe(origin);
          expect(r.headers['access-control-allow-credentials'], what).toBe('true');
          expect(r.headers['x-mlflow-secure-instance'], what).toBe(instance);
          expect(
            Object.keys(r.headers).filter((h) => !PREFLIGHT_HEADERS.has(h)),
            what,
          ).toEqual([]);
        }
      }
    });

    it("keeps MLflow's Host check on a preflight", async () => {
      const r = await preflight('/ajax-api/2.0/mlflow/experiments/search', `http://${NAME}:${port}`, 'evil.example');
      expect(r.status).toBe(403);
      expect(r.body).toBe(INVALID_HOST);
    });

    it("answers a preflight for users/current with nginx's 403 and no user", async () => {
      const r = await preflight('/ajax-api/2.0/mlflow/users/current', `http://${NAME}:${port}`);
      expect(r.status).toBe(403);
      expect(r.body).not.toMatch(/admin|is_basic_auth/);
    });

    it('asks for the password on everything else that looks like a preflight', async () => {
      const origin = `http://${NAME}:${port}`;
      const target = '/ajax-api/2.0/mlflow/experiments/search';
      const postBody = '{"max_results":1}';
      const cases: [string, string][] = [
        [
          'OPTIONS without Access-Control-Request-Method',
          requestText('OPTIONS', target, local(), [`Origin: ${origin}`]),
        ],
        [
          'OPTIONS with an empty Access-Control-Request-Method',
          requestText('OPTIONS', target, local(), [`Origin: ${origin}`, 'Access-Control-Request-Method: ']),
        ],
        ['OPTIONS without Origin', requestText('OPTIONS', target, local(), ['Access-Control-Request-Method: POST'])],
        ...[
          'http://evil.example',
          'http://localhost:3000',
          `http://${NAME}:${port}.evil.example`,
          `https://${NAME}:${port}`,
          'null',
          `${origin}, http://evil.example`,
        ].map((o): [string, string] => [
          `a preflight from ${o}`,
          requestText('OPTIONS', target, local(), preflightLines(o)),
        ]),
        [
          'a preflight carrying credentials',
          requestText('OPTIONS', target, local(), [...preflightLines(origin), 'Authorization: Basic YTpi']),
        ],
        [
          'a preflight with a body',
          requestText(
            'OPTIONS',
            target,
            local(),
            [...preflightLines(origin), 'Content-Type: application/json', `Content-Length: ${postBody.length}`],
            postBody,
          ),
        ],
        [
          'a preflight with a chunked body',
          requestText(
            'OPTIONS',
            target,
            local(),
            [...preflightLines(origin), 'Transfer-Encoding: chunked'],
            `${postBody.length.toString(16)}\r\n${postBody}\r\n0\r\n\r\n`,
          ),
        ],
        [
          'Access-Control-Request-Method holding the separator',
          requestText('OPTIONS', target, local(), [`Origin: ${origin}`, 'Access-Control-Request-Method: POST:']),
        ],
        ...['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH'].map((method): [string, string] => [
          `${method} with preflight headers`,
          requestText(method, target, local(), [
            ...preflightLines(origin),
            ...(method === 'GET' || method === 'HEAD' ? [] : ['Content-Length: 0']),
          ]),
        ]),
      ];
      for (const [what, text] of cases) {
        const r = await raw(port, text);
        expect(r.status, `${what}: ${r.body.slice(0, 200)}`).toBe(401);
        expect(r.headers['www-authenticate'], what).toBe('Basic realm="MLflow"');
        expect(r.headers['x-mlflow-secure-instance'], what).toBe(instance);
        expect(r.body, what).not.toMatch(/experiments|access-control/i);
      }
      // A method in lower case is no OPTIONS to nginx: refused before anything else.
      const lower = await raw(port, requestText('options', target, local(), preflightLines(origin)));
      expect(lower.status).toBe(400);
      expect(Object.keys(lower.headers).filter((h) => h.startsWith('access-control'))).toEqual([]);
    });
  });
});
