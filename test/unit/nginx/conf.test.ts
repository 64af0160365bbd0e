import { describe, expect, it } from 'vitest';
import {
  LARGE_CLIENT_HEADER_BUFFERS,
  listenAddress,
  PROXY_TIMEOUT_SECONDS,
  quote,
  renderNginxConf,
  type NginxConfInput,
} from '../../../src/nginx/conf.js';

function input(overrides: Partial<NginxConfInput> = {}): NginxConfInput {
  const state = '/home/ana/proj/.mlflow-secure';
  return {
    listenHost: '127.0.0.1',
    listenPort: 5000,
    serverNames: [],
    upstream: '127.0.0.1:5101',
    workerProcesses: 2,
    realm: 'MLflow',
    paths: {
      pid: `${state}/nginx/logs/nginx.pid`,
      errorLog: `${state}/logs/nginx-error.log`,
      accessLog: `${state}/logs/nginx-access.log`,
      htpasswd: `${state}/htpasswd`,
      clientBodyTemp: `${state}/nginx/temp/client_body`,
      proxyTemp: `${state}/nginx/temp/proxy`,
      fastcgiTemp: `${state}/nginx/temp/fastcgi`,
      uwsgiTemp: `${state}/nginx/temp/uwsgi`,
      scgiTemp: `${state}/nginx/temp/scgi`,
    },
    ...overrides,
  };
}

/** Directive lines (comments and blank lines dropped), trimmed. */
function directives(conf: string): string[] {
  return conf
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

/** Each `location` block: its name (`/`, `= /x`, `@x`) and its directive lines. */
function locations(conf: string): { name: string; body: string[] }[] {
  const lines = directives(conf);
  const found: { name: string; body: string[] }[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^location (.+) \{$/.exec(lines[i] ?? '');
    if (!m) continue;
    const body: string[] = [];
    for (let depth = 1, j = i + 1; depth > 0 && j < lines.length; j++) {
      const l = lines[j] ?? '';
      depth += (l.endsWith('{') ? 1 : 0) - (l === '}' ? 1 : 0);
      if (depth > 0) body.push(l);
    }
    found.push({ name: m[1] ?? '', body });
  }
  return found;
}

/** The value of a one-line directive, e.g. `proxy_read_timeout 3600s;` -> `3600s`. */
function valueOf(conf: string, name: string): string[] {
  return directives(conf)
    .filter((l) => l.startsWith(`${name} `))
    .map((l) => l.slice(name.length + 1).replace(/;$/, ''));
}

function seconds(value: string): number {
  const m = /^(\d+)(s|m|h)?$/.exec(value);
  if (!m) throw new Error(`not an nginx time: ${value}`);
  return Number(m[1]) * { s: 1, m: 60, h: 3600 }[(m[2] ?? 's') as 's' | 'm' | 'h'];
}

describe('renderNginxConf', () => {
  const conf = renderNginxConf(input());

  it.each([
    'daemon off;',
    'client_max_body_size 0;',
    'proxy_request_buffering off;',
    'proxy_http_version 1.1;',
    'auth_basic "MLflow";',
    'auth_basic_user_file "/home/ana/proj/.mlflow-secure/htpasswd";',
    'proxy_pass http://mlflow;',
    'server 127.0.0.1:5101;',
    'proxy_set_header Host $http_host;',
    'proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;',
    'proxy_set_header X-Forwarded-Proto $scheme;',
    'proxy_set_header Authorization "";',
    'worker_processes 2;',
  ])('has the directive %s', (line) => {
    expect(directives(conf)).toContain(line);
  });

  // nginx for Windows' default map bucket is 32 bytes (its cache line): it refuses a conf whose
  // map keys do not fit, as the preflight origins' `"http://127.0.0.1:5000"` do not.
  it.each([
    ['plain', input()],
    ['CORS preflights', input({ preflightOrigins: ['http://127.0.0.1:5000', 'http://localhost:5000'] })],
    ['permissions', input({ permissions: { secret: 'x'.repeat(43) }, preflightOrigins: ['http://127.0.0.1:5000'] })],
  ])('%s: map_hash_bucket_size 128 before the first map', (_name, i) => {
    const lines = directives(renderNginxConf(i));
    const bucket = lines.indexOf('map_hash_bucket_size 128;');
    expect(bucket).toBeGreaterThan(-1);
    expect(bucket).toBeLessThan(lines.findIndex((l) => l.startsWith('map ')));
  });

  it('keeps proxied transfers alive far longer than the 60 s default', () => {
    for (const name of ['proxy_read_timeout', 'proxy_send_timeout', 'send_timeout']) {
      const values = valueOf(conf, name);
      expect(values, name).toHaveLength(1);
      expect(seconds(values[0] ?? ''), name).toBeGreaterThanOrEqual(600);
    }
    expect(valueOf(conf, 'proxy_read_timeout').map(seconds)).toEqual([PROXY_TIMEOUT_SECONDS]);
  });

  // `return` runs in the rewrite phase, before auth_basic, so in a location a request can ask for
  // it would answer everyone. The one allowed is in a named location (no client can ask for one),
  // reached only through try_files, which runs after auth.
  it('has `return` only in named locations, each reached only by try_files (after auth)', () => {
    const blocks = locations(conf);
    const returning = blocks.filter((b) => b.body.some((l) => /^return\b/.test(l)));
    expect(returning.map((b) => b.name)).toEqual(['@mlflow_secure_current_user']);
    for (const b of returning) {
      const uses = directives(conf).filter((l) => l.includes(b.name));
      expect(uses).toEqual([`try_files $uri ${b.name};`, `try_files $uri ${b.name};`, `location ${b.name} {`]);
    }
    // Nothing else sends a request to a named location (error_page, rewrite, X-Accel-Redirect).
    expect(conf).not.toMatch(/\b(error_page|rewrite|internal)\b/);
  });

  it('includes no other file (the config stands alone)', () => {
    expect(conf).not.toMatch(/\binclude\b/);
  });

  it('sets pid, both logs and every temp path', () => {
    const p = input().paths;
    expect(valueOf(conf, 'pid')).toEqual([quote(p.pid)]);
    expect(valueOf(conf, 'error_log')).toEqual([`${quote(p.errorLog)} warn`]);
    expect(valueOf(conf, 'access_log')).toEqual([quote(p.accessLog)]);
    expect(valueOf(conf, 'client_body_temp_path')).toEqual([quote(p.clientBodyTemp)]);
    expect(valueOf(conf, 'proxy_temp_path')).toEqual([quote(p.proxyTemp)]);
    expect(valueOf(conf, 'fastcgi_temp_path')).toEqual([quote(p.fastcgiTemp)]);
    expect(valueOf(conf, 'uwsgi_temp_path')).toEqual([quote(p.uwsgiTemp)]);
    expect(valueOf(conf, 'scgi_temp_path')).toEqual([quote(p.scgiTemp)]);
  });

  it('puts auth_basic in the server block, outside any location, so it covers every path', () => {
    const server = conf.slice(conf.indexOf('    server {'), conf.indexOf('        location /'));
    expect(server).toContain('auth_basic "MLflow";');
    expect(server).toContain('auth_basic_user_file ');
    expect(directives(conf).filter((l) => l.startsWith('auth_basic off'))).toEqual([]);
    expect(directives(conf).filter((l) => l.startsWith('location'))).toEqual([
      'location / {',
      'location = /ajax-api/2.0/mlflow/users/current {',
      'location = /api/2.0/mlflow/users/current {',
      'location @mlflow_secure_current_user {',
    ]);
    // add_header in a location would drop the server's (X-MLflow-Secure-Instance) there.
    const withHeader = renderNginxConf(input({ instanceId: 'abc123' }));
    expect(directives(withHeader).filter((l) => l.startsWith('add_header'))).toHaveLength(1);
    expect(withHeader.indexOf('add_header')).toBeLessThan(withHeader.indexOf('location'));
  });

  it('streams artifacts with large buffers at server level (every location inherits them), within what nginx accepts', () => {
    const server = conf.slice(conf.indexOf('    server {'), conf.indexOf('        location /'));
    // An unbuffered upload reaches MLflow in pieces of this size; MLflow's CPU per GiB grows as they shrink.
    expect(server).toContain('client_body_buffer_size 1m;');
    expect(server).toContain('proxy_buffers 16 256k;');
    expect(server).toContain('proxy_busy_buffers_size 512k;');
    // nginx -t refuses busy buffers that are not smaller than all proxy_buffers minus one.
    const [count, size] = valueOf(conf, 'proxy_buffers')[0]!.split(' ');
    const kib = (v: string) => Number(v.replace(/k$/, ''));
    expect(kib(valueOf(conf, 'proxy_busy_buffers_size')[0]!)).toBeLessThan((Number(count) - 1) * kib(size!));
    expect(kib(valueOf(conf, 'proxy_busy_buffers_size')[0]!)).toBeGreaterThanOrEqual(kib(size!));
  });

  it('has balanced braces', () => {
    expect(conf.split('{').length).toBe(conf.split('}').length);
  });

  it('quotes paths with spaces (Windows "Program Files")', () => {
    const base = 'C:/Program Files/my state';
    const c = renderNginxConf(
      input({
        paths: {
          pid: `${base}/nginx.pid`,
          errorLog: `${base}/error.log`,
          accessLog: `${base}/access.log`,
          htpasswd: `${base}/htpasswd`,
          clientBodyTemp: `${base}/cb`,
          proxyTemp: `${base}/proxy`,
          fastcgiTemp: `${base}/fastcgi`,
          uwsgiTemp: `${base}/uwsgi`,
          scgiTemp: `${base}/scgi`,
        },
      }),
    );
    expect(directives(c)).toContain('pid "C:/Program Files/my state/nginx.pid";');
    expect(directives(c)).toContain('auth_basic_user_file "C:/Program Files/my state/htpasswd";');
    expect(directives(c)).toContain('client_body_temp_path "C:/Program Files/my state/cb";');
    // Every occurrence of the folder sits inside double quotes.
    for (const line of directives(c).filter((l) => l.includes(base)))
      expect(line).toMatch(/ "C:\/Program Files\/my state\/[^"]*"( warn)?;$/);
  });

  it('escapes quotes and backslashes inside quoted strings', () => {
    expect(quote('a"b')).toBe('"a\\"b"');
    expect(quote('a\\b')).toBe('"a\\\\b"');
    expect(quote('plain')).toBe('"plain"');
  });

  it.each([
    ['127.0.0.1', 5000, '127.0.0.1:5000'],
    ['0.0.0.0', 80, '0.0.0.0:80'],
    ['::1', 5000, '[::1]:5000'],
    ['::', 8443, '[::]:8443'],
    ['mlflow.example.com', 5000, 'mlflow.example.com:5000'],
  ] as const)('listens on %s port %i as %s', (host, port, expected) => {
    expect(listenAddress(host, port)).toBe(expected);
    expect(directives(renderNginxConf(input({ listenHost: host, listenPort: port })))).toContain(`listen ${expected};`);
  });

  it('uses server_name _ when no name is given, else the names', () => {
    expect(valueOf(conf, 'server_name')).toEqual(['_']);
    const c = renderNginxConf(input({ serverNames: ['mlflow.example.com', 'mlflow'] }));
    expect(valueOf(c, 'server_name')).toEqual(['mlflow.example.com mlflow']);
  });

  it('has a user directive only when given, before everything else', () => {
    expect(directives(conf).filter((l) => /^user\b/.test(l))).toEqual([]);
    const c = renderNginxConf(input({ userDirective: 'user ana staff;' }));
    expect(directives(c)[0]).toBe('user ana staff;');
    expect(directives(c).filter((l) => /^user\b/.test(l))).toHaveLength(1);
  });

  it('takes worker_processes auto', () => {
    expect(valueOf(renderNginxConf(input({ workerProcesses: 'auto' })), 'worker_processes')).toEqual(['auto']);
  });

  it('renders the whole file', () => {
    expect(
      renderNginxConf(
        input({
          listenHost: '::1',
          serverNames: ['mlflow.example.com'],
          userDirective: 'user ana;',
          preflightOrigins: ['http://mlflow.example.com:5000'],
        }),
      ),
    ).toMatchInlineSnapshot(`
      "# Generated by mlflow-secure; rewritten on every \`mlflow-secure up\`. Do not edit.
      user ana;
      daemon off;
      master_process on;
      worker_processes 2;
      pid "/home/ana/proj/.mlflow-secure/nginx/logs/nginx.pid";
      error_log "/home/ana/proj/.mlflow-secure/logs/nginx-error.log" warn;

      events {
          worker_connections 1024;
      }

      http {
          # Room for the origin maps' long keys (nginx for Windows' default bucket is 32 bytes).
          map_hash_bucket_size 128;
          access_log "/home/ana/proj/.mlflow-secure/logs/nginx-access.log";
          client_body_temp_path "/home/ana/proj/.mlflow-secure/nginx/temp/client_body";
          proxy_temp_path "/home/ana/proj/.mlflow-secure/nginx/temp/proxy";
          fastcgi_temp_path "/home/ana/proj/.mlflow-secure/nginx/temp/fastcgi";
          uwsgi_temp_path "/home/ana/proj/.mlflow-secure/nginx/temp/uwsgi";
          scgi_temp_path "/home/ana/proj/.mlflow-secure/nginx/temp/scgi";
          default_type application/octet-stream;
          server_tokens off;
          sendfile on;
          tcp_nodelay on;
          keepalive_timeout 65s;
          # Request lines and headers up to 32 KiB go on to MLflow, which answers them itself (nginx's default: 8 KiB).
          large_client_header_buffers 4 32k;

          map $remote_user $mlflow_secure_user {
              "~^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$" $remote_user;
              default "(unnamed)";
          }

          # The password, except on a CORS preflight of the stack's own pages (browsers never send it there).
          map $http_origin $mlflow_secure_stack_origin {
              default 0;
              "http://mlflow.example.com:5000" 1;
          }
          map "$request_method:$http_access_control_request_method:$http_authorization:$content_length:$http_transfer_encoding:$mlflow_secure_stack_origin" $mlflow_secure_auth {
              default "MLflow";
              "~^OPTIONS:[^:]+::0*::1$" off;
          }

          upstream mlflow {
              server 127.0.0.1:5101;
              keepalive 32;
          }

          server {
              listen [::1]:5000;
              server_name mlflow.example.com;

              auth_basic $mlflow_secure_auth;
              auth_basic_user_file "/home/ana/proj/.mlflow-secure/htpasswd";

              # Artifacts are uploaded as one streamed PUT of the whole file.
              client_max_body_size 0;
              proxy_request_buffering off;
              # Large buffers for multi-GB artifacts: MLflow spends CPU on every piece it receives.
              client_body_buffer_size 1m;
              proxy_buffers 16 256k;
              proxy_busy_buffers_size 512k;

              location / {
                  proxy_pass http://mlflow;
                  proxy_http_version 1.1;
                  proxy_set_header Connection "";
                  # MLflow checks Host against --allowed-hosts: pass what the client sent.
                  proxy_set_header Host $http_host;
                  proxy_set_header X-Real-IP $remote_addr;
                  proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
                  proxy_set_header X-Forwarded-Proto $scheme;
                  proxy_set_header X-Forwarded-Host $http_host;
                  proxy_set_header X-Forwarded-User $remote_user;
                  # The password stops here: MLflow never sees it.
                  proxy_set_header Authorization "";
                  proxy_connect_timeout 30s;
                  proxy_send_timeout 3600s;
                  proxy_read_timeout 3600s;
                  send_timeout 3600s;
              }

              # Who is signed in, for the MLflow UI. try_files runs after auth_basic; a \`return\`
              # here would run before it and answer everyone.
              location = /ajax-api/2.0/mlflow/users/current {
                  limit_except GET {
                      deny all;
                  }
                  try_files $uri @mlflow_secure_current_user;
              }
              location = /api/2.0/mlflow/users/current {
                  limit_except GET {
                      deny all;
                  }
                  try_files $uri @mlflow_secure_current_user;
              }
              location @mlflow_secure_current_user {
                  default_type application/json;
                  return 200 '{"is_basic_auth":false,"user":{"id":0,"is_admin":false,"username":"\${mlflow_secure_user}"}}';
              }
          }
      }
      "
    `);
  });
});

describe('request head buffers', () => {
  const kib = (size: string) => Number(/^(\d+)k$/.exec(size)?.[1] ?? NaN);

  it("take a request line and a header as long as MLflow's uvicorn (h11: 16 KiB) does, and more", () => {
    const values = valueOf(renderNginxConf(input()), 'large_client_header_buffers');
    expect(values).toEqual([LARGE_CLIENT_HEADER_BUFFERS]);
    const [count, size] = (values[0] ?? '').split(' ');
    // The line of a 16 KiB query (MLflow's suite sends 13.9 KB) fits in one buffer, and a 16 KiB
    // header beside it in another.
    expect(kib(size ?? '')).toBeGreaterThan(16);
    expect(Number(count)).toBeGreaterThanOrEqual(2);
  });

  it('are set in the http block, so every server (the probe port too) has them', () => {
    const c = renderNginxConf(input({ healthPort: 8081 }));
    const line = `    large_client_header_buffers ${LARGE_CLIENT_HEADER_BUFFERS};`;
    expect(c.indexOf(line)).toBeGreaterThan(c.indexOf('http {'));
    expect(c.indexOf(line)).toBeLessThan(c.indexOf('    server {'));
  });
});

describe('CORS preflights', () => {
  const origins = ['http://mlflow.example.com:5000', 'https://mlflow.example.com', 'http://127.0.0.1:5000'];
  const conf = renderNginxConf(input({ preflightOrigins: origins }));

  /** The map's lines from `map <source> <variable> {` to its `}`. */
  function mapBody(c: string, variable: string): string[] {
    const lines = directives(c);
    const start = lines.findIndex((l) => l.startsWith('map ') && l.endsWith(` ${variable} {`));
    expect(start, variable).toBeGreaterThanOrEqual(0);
    return lines.slice(start + 1, lines.indexOf('}', start));
  }

  it('without origins keeps the password on every request', () => {
    const plain = renderNginxConf(input());
    expect(directives(plain)).toContain('auth_basic "MLflow";');
    expect(plain).not.toContain('$mlflow_secure_auth');
    expect(renderNginxConf(input({ preflightOrigins: [] }))).toBe(plain);
  });

  it('takes the realm from a map whose one other value is off', () => {
    expect(valueOf(conf, 'auth_basic')).toEqual(['$mlflow_secure_auth']);
    const body = mapBody(conf, '$mlflow_secure_auth');
    expect(body).toEqual(['default "MLflow";', '"~^OPTIONS:[^:]+::0*::1$" off;']);
    expect(directives(conf).find((l) => l.endsWith(' $mlflow_secure_auth {'))).toBe(
      'map "$request_method:$http_access_control_request_method:$http_authorization:$content_length:$http_transfer_encoding:$mlflow_secure_stack_origin" $mlflow_secure_auth {',
    );
  });

  it('lists exactly the given origins, compared as whole strings', () => {
    expect(mapBody(conf, '$mlflow_secure_stack_origin')).toEqual(['default 0;', ...origins.map((o) => `"${o}" 1;`)]);
  });

  // The map's key, as nginx builds it: method, Access-Control-Request-Method, Authorization,
  // Content-Length, Transfer-Encoding, and 1 for an origin of the stack.
  const off = new RegExp(/^"~(.*)" off;$/.exec(mapBody(conf, '$mlflow_secure_auth')[1] ?? '')?.[1] ?? '');
  const key = (m: string, acrm: string, auth: string, length: string, te: string, origin: '0' | '1') =>
    [m, acrm, auth, length, te, origin].join(':');

  it.each([
    ['a browser preflight', key('OPTIONS', 'POST', '', '', '', '1')],
    ['one with Content-Length: 0', key('OPTIONS', 'PUT', '', '0', '', '1')],
  ])('switches auth off for %s', (_, k) => {
    expect(off.test(k)).toBe(true);
  });

  it.each([
    ['an origin not of the stack', key('OPTIONS', 'POST', '', '', '', '0')],
    ['no Access-Control-Request-Method', key('OPTIONS', '', '', '', '', '1')],
    ['credentials', key('OPTIONS', 'POST', 'Basic YTpi', '', '', '1')],
    ['a body', key('OPTIONS', 'POST', '', '17', '', '1')],
    ['a chunked body', key('OPTIONS', 'POST', '', '', 'chunked', '1')],
    ['GET', key('GET', 'POST', '', '', '', '1')],
    ['POST', key('POST', 'POST', '', '', '', '1')],
    ['a method in lower case', key('options', 'POST', '', '', '', '1')],
    ['a separator inside Access-Control-Request-Method', key('OPTIONS', 'POST:', '', '', '', '1')],
    ['a separator inside Authorization', key('OPTIONS', 'POST', ':', '', '', '1')],
  ])('keeps auth on for %s', (_, k) => {
    expect(off.test(k)).toBe(false);
  });
});

describe('instance id', () => {
  it('is sent on every answer, 401s included (always), only when given', () => {
    const base = {
      listenHost: '127.0.0.1',
      listenPort: 5000,
      serverNames: [],
      upstream: '127.0.0.1:5101',
      workerProcesses: 2 as const,
      realm: 'MLflow',
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
    expect(renderNginxConf({ ...base, instanceId: 'abc123' })).toContain(
      'add_header X-MLflow-Secure-Instance "abc123" always;',
    );
    expect(renderNginxConf(base)).not.toContain('X-MLflow-Secure-Instance');
  });
});
