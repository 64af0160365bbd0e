/**
 * nginx.conf for one MLflow behind Basic auth. Pure: a plain object in, the file's text out.
 * Every path arrives already in nginx form (forward slashes, see Platform.toNginxPath).
 *
 * What must hold:
 * - stands alone: no include of system files; `daemon off` under our supervisor;
 *   its own pid, logs and every temp path inside the state folder.
 * - client_max_body_size 0 and proxy_request_buffering off: artifact uploads are one
 *   streamed PUT of the whole file (default 1m gives 413, mlflow#10332).
 * - long proxy timeouts (default 60 s gives 502/504 on big transfers, mlflow#7564),
 *   HTTP/1.1 upstream with keep-alive.
 * - no `return` where a request can arrive: it runs before auth and would answer everyone. The
 *   one `return` sits in a named location reached only after auth (current-user.ts).
 * - with TLS: TLS 1.2 and 1.3 only, a shared session cache (a returning client skips the full
 *   handshake), and plain HTTP on the same port answered with a redirect to https (tlsLines).
 */
import { currentUserLocations, currentUserMap } from './current-user.js';
import { permissionHeaderLines, verifiedUserMap } from './permission-headers.js';
import { tokenAccessLog, tokenAuthMap, tokenHeaderLines, tokenMaps } from './token-maps.js';

export interface NginxConfInput {
  listenHost: string;
  listenPort: number;
  /** Public names; empty means any name (`_`). */
  serverNames: readonly string[];
  /** `127.0.0.1:<port>`, `unix:<socket path>`, or an --upstream's `host:port`. */
  upstream: string;
  /**
   * An MLflow mlflow-secure did not start (--upstream): the Host header it is sent (the address
   * its --allowed-hosts knows, not the client's), and whether it speaks HTTPS (its name then goes
   * in SNI). Absent: MLflow is ours and accepts the client's Host.
   */
  external?: {
    hostHeader: string;
    tls: boolean;
    serverName: string;
    /**
     * The page origins of our public names, each sent on as the upstream's own origin: the UI's
     * POSTs from a --server-name pass that MLflow's CORS check, any other Origin reaches it as sent.
     */
    origins: readonly string[];
    origin: string;
  };
  workerProcesses: number | 'auto';
  /** `user ...;` when the master runs as root (Platform.nginxUserDirective). */
  userDirective?: string;
  realm: string;
  /** Sent back on every answer (401s included) so `up` can tell its own nginx from a squatter. */
  instanceId?: string;
  /** The command that rewrites the file, named in its first line (default `mlflow-secure up`). */
  writtenBy?: string;
  /**
   * A second server on this port, for an engine's health probes only (`mlflow-secure export`):
   * `GET /healthz` answers with MLflow's own `/health`, without a password, and nothing else.
   * The public server keeps auth on every path; this port is left out of every published port
   * and Service, so only the engine's probes (and, in a cluster, other pods) reach it.
   */
  healthPort?: number;
  /**
   * --permissions: MLflow's auth app decides, told the verified user and this run's secret in
   * headers (permission-headers.ts); it answers `users/current` itself.
   */
  permissions?: { secret: string };
  /** HTTPS on the listen port: the certificate (chain first-to-last) and its key. */
  tls?: { cert: string; key: string };
  /**
   * Origins whose CORS preflights reach MLflow without a password (preflightMaps), each compared
   * exactly; none: every request needs the password.
   */
  preflightOrigins?: readonly string[];
  paths: {
    pid: string;
    errorLog: string;
    accessLog: string;
    htpasswd: string;
    clientBodyTemp: string;
    proxyTemp: string;
    fastcgiTemp: string;
    uwsgiTemp: string;
    scgiTemp: string;
  };
}

/** Proxy timeouts: long enough for multi-GB artifact transfers and slow searches. */
export const PROXY_TIMEOUT_SECONDS = 3600;

/**
 * Buffers for streaming artifacts through nginx, in both directions. An unbuffered upload reaches
 * MLflow in pieces of client_body_buffer_size (default 16k), and MLflow's Python pays per piece:
 * for 1 GiB it spent 4.6-13 s of CPU behind nginx's default against 2.3-2.9 s when a client sent
 * it 1 MiB writes directly, and the upload took 2-4x as long; with 1m, 3.0-3.3 s. nginx's own CPU
 * per GiB halves too (uploads 0.8-1.0 s -> 0.5 s, downloads 0.9 s -> 0.55 s with these
 * proxy_buffers). Measured with MLflow 3.17.2 and nginx 1.22.1 on 2 cores, CPU time from /proc.
 * Allocated only while a request or response that large is in flight.
 * https://nginx.org/en/docs/http/ngx_http_core_module.html#client_body_buffer_size
 * https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_buffers
 */
export const ARTIFACT_BUFFERS: readonly (readonly [string, string])[] = [
  ['client_body_buffer_size', '1m'],
  ['proxy_buffers', '16 256k'],
  ['proxy_busy_buffers_size', '512k'],
];

/**
 * Request head buffers, no smaller than what MLflow takes. uvicorn parses with h11 (MLflow does
 * not install httptools), which refuses a head only while it is incomplete and over 16 KiB
 * (h11's DEFAULT_MAX_INCOMPLETE_EVENT_SIZE; uvicorn's --h11-max-incomplete-event-size keeps it):
 * a head that arrives whole passes at 100 KB, and nginx hands it over in one write. Measured on
 * MLflow 3.17.2 directly: a 20 KB request line sent in 1 KiB pieces is refused, in one piece
 * answered. nginx's default, 4 8k, answered a request line over 8 KiB with its own HTML 414 and a
 * header over 8 KiB with its own 400, where MLflow answers (MLflow's REST suite sends a 13.9 KB
 * get-history-bulk query; cookies of other apps on the same host add up in one Cookie header).
 * With 32k a line or header of up to 32 KiB reaches MLflow; four bound the head at 128 KiB, and
 * they are allocated only for a head that outgrows client_header_buffer_size (1k).
 * https://nginx.org/en/docs/http/ngx_http_core_module.html#large_client_header_buffers
 */
export const LARGE_CLIENT_HEADER_BUFFERS = '4 32k';

/** A quoted nginx string: paths with spaces (Windows "Program Files") must be quoted. */
export function quote(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

export function listenAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * The server block's TLS directives. A plain-HTTP request to an ssl port gets nginx's own status
 * 497, which error_page turns into a redirect to the same host and port over https: one port, and
 * an old http:// bookmark still lands on the UI. https://nginx.org/en/docs/http/ngx_http_ssl_module.html#errors
 * No HSTS: it binds a host name on every port (https://www.rfc-editor.org/rfc/rfc6797#section-8.1),
 * so for localhost it would force https on every other local server the browser visits there.
 */
export function tlsLines(tls: { cert: string; key: string }): string[] {
  return [
    `        ssl_certificate ${quote(tls.cert)};`,
    `        ssl_certificate_key ${quote(tls.key)};`,
    '        ssl_protocols TLSv1.2 TLSv1.3;',
    '        ssl_session_cache shared:SSL:10m;',
    '        ssl_session_timeout 1h;',
    '        error_page 497 =301 https://$host:$server_port$request_uri;',
    '',
  ];
}

const AUTH_VARIABLE = '$mlflow_secure_auth';
const ORIGIN_VARIABLE = '$mlflow_secure_stack_origin';
/** With --permissions: the password's part of auth_basic, before a token may switch it off (token-maps.ts). */
const PASSWORD_AUTH_VARIABLE = '$mlflow_secure_password_auth';

/**
 * CORS preflights of the stack's own pages go to MLflow without a password; every other request
 * needs it, as before. A browser never sends credentials on a preflight (Fetch standard, "CORS-
 * preflight fetch"), so behind auth_basic it always got 401 and the browser gave up. What switches
 * auth off is exactly what a browser sends: OPTIONS, a non-empty Access-Control-Request-Method, an
 * Origin that is one of `origins`, no Authorization and no body (no Content-Length but 0, no
 * Transfer-Encoding). In MLflow (mlflow/server/fastapi_app.py, fastapi_security.py) such a request
 * passes its workspace and timing middleware and its Host check, then Starlette's CORSMiddleware
 * answers it itself, on every path, with CORS headers and "OK" or "Disallowed CORS ...": no route
 * runs. The fields are joined with `:`, which none of the checked ones may contain, so no field
 * can stand in for another.
 */
export function preflightMaps(origins: readonly string[], realm: string, variable = AUTH_VARIABLE): string[] {
  return [
    `    map $http_origin ${ORIGIN_VARIABLE} {`,
    '        default 0;',
    ...origins.map((o) => `        ${quote(o)} 1;`),
    '    }',
    `    map "$request_method:$http_access_control_request_method:$http_authorization:$content_length:$http_transfer_encoding:${ORIGIN_VARIABLE}" ${variable} {`,
    `        default ${quote(realm)};`,
    '        "~^OPTIONS:[^:]+::0*::1$" off;',
    '    }',
  ];
}

export function renderNginxConf(c: NginxConfInput): string {
  const p = c.paths;
  const preflights = (c.preflightOrigins ?? []).length > 0;
  const tokens = c.permissions !== undefined;
  const lines = [
    `# Generated by mlflow-secure; rewritten on every \`${c.writtenBy ?? 'mlflow-secure up'}\`. Do not edit.`,
    ...(c.userDirective ? [c.userDirective] : []),
    'daemon off;',
    'master_process on;',
    `worker_processes ${c.workerProcesses};`,
    `pid ${quote(p.pid)};`,
    `error_log ${quote(p.errorLog)} warn;`,
    '',
    'events {',
    '    worker_connections 1024;',
    '}',
    '',
    'http {',
    // The origin maps' keys (`"http://127.0.0.1:5000"`) are long: nginx.exe's default bucket (32,
    // its cache line) cannot hold them and it refuses the whole conf. First in http, before any
    // map (the access log's too), or nginx calls it a duplicate; on every platform, so a conf
    // means the same everywhere.
    "    # Room for the origin maps' long keys (nginx for Windows' default bucket is 32 bytes).",
    '    map_hash_bucket_size 128;',
    ...(tokens ? tokenAccessLog(quote(p.accessLog)) : [`    access_log ${quote(p.accessLog)};`]),
    `    client_body_temp_path ${quote(p.clientBodyTemp)};`,
    `    proxy_temp_path ${quote(p.proxyTemp)};`,
    `    fastcgi_temp_path ${quote(p.fastcgiTemp)};`,
    `    uwsgi_temp_path ${quote(p.uwsgiTemp)};`,
    `    scgi_temp_path ${quote(p.scgiTemp)};`,
    '    default_type application/octet-stream;',
    '    server_tokens off;',
    '    sendfile on;',
    '    tcp_nodelay on;',
    '    keepalive_timeout 65s;',
    "    # Request lines and headers up to 32 KiB go on to MLflow, which answers them itself (nginx's default: 8 KiB).",
    `    large_client_header_buffers ${LARGE_CLIENT_HEADER_BUFFERS};`,
    '',
    ...(c.permissions ? verifiedUserMap() : currentUserMap()),
    '',
    ...(preflights
      ? [
          "    # The password, except on a CORS preflight of the stack's own pages (browsers never send it there).",
          ...preflightMaps(c.preflightOrigins ?? [], c.realm, tokens ? PASSWORD_AUTH_VARIABLE : AUTH_VARIABLE),
          '',
        ]
      : []),
    ...(tokens
      ? [
          "    # A script's token instead of the password, on MLflow's REST API only (token-maps.ts).",
          ...tokenMaps(),
          ...tokenAuthMap(AUTH_VARIABLE, preflights ? PASSWORD_AUTH_VARIABLE : quote(c.realm)),
          '',
        ]
      : []),
    ...(c.external ? originMap(c.external) : []),
    '    upstream mlflow {',
    `        server ${c.upstream.startsWith('unix:') ? quote(c.upstream) : c.upstream};`,
    '        keepalive 32;',
    '    }',
    '',
    '    server {',
    `        listen ${listenAddress(c.listenHost, c.listenPort)}${c.tls ? ' ssl' : ''};`,
    `        server_name ${c.serverNames.length > 0 ? c.serverNames.map((n) => (n.includes(':') ? `[${n}]` : n)).join(' ') : '_'};`,
    '',
    ...(c.tls ? tlsLines(c.tls) : []),
    ...(c.instanceId ? [`        add_header X-MLflow-Secure-Instance ${quote(c.instanceId)} always;`] : []),
    ...allowOriginLines(c.external),
    `        auth_basic ${preflights || tokens ? AUTH_VARIABLE : quote(c.realm)};`,
    `        auth_basic_user_file ${quote(p.htpasswd)};`,
    '',
    '        # Artifacts are uploaded as one streamed PUT of the whole file.',
    '        client_max_body_size 0;',
    '        proxy_request_buffering off;',
    '        # Large buffers for multi-GB artifacts: MLflow spends CPU on every piece it receives.',
    ...ARTIFACT_BUFFERS.map(([name, value]) => `        ${name} ${value};`),
    '',
    '        location / {',
    `            proxy_pass ${c.external?.tls ? 'https' : 'http'}://mlflow;`,
    '            proxy_http_version 1.1;',
    '            proxy_set_header Connection "";',
    ...hostLines(c.external),
    '            proxy_set_header X-Real-IP $remote_addr;',
    '            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;',
    '            proxy_set_header X-Forwarded-Proto $scheme;',
    '            proxy_set_header X-Forwarded-Host $http_host;',
    '            proxy_set_header X-Forwarded-User $remote_user;',
    '            # The password stops here: MLflow never sees it.',
    '            proxy_set_header Authorization "";',
    ...(c.permissions ? [...permissionHeaderLines(c.permissions.secret), ...tokenHeaderLines()] : []),
    '            proxy_connect_timeout 30s;',
    `            proxy_send_timeout ${PROXY_TIMEOUT_SECONDS}s;`,
    `            proxy_read_timeout ${PROXY_TIMEOUT_SECONDS}s;`,
    `            send_timeout ${PROXY_TIMEOUT_SECONDS}s;`,
    '        }',
    '',
    ...(c.permissions ? [] : currentUserLocations()),
    '    }',
    ...(c.healthPort !== undefined ? healthServer(c.listenHost, c.healthPort) : []),
    '}',
    '',
  ];
  return lines.join('\n');
}

/**
 * MLflow checks Host against --allowed-hosts. Ours is started knowing the public names: it gets
 * what the client sent. One the user runs (--upstream) knows only where the user reaches it.
 * An HTTPS upstream gets its name in SNI; its certificate is not verified (nginx's default).
 */
function hostLines(external: NginxConfInput['external']): string[] {
  if (!external)
    return [
      '            # MLflow checks Host against --allowed-hosts: pass what the client sent.',
      '            proxy_set_header Host $http_host;',
    ];
  return [
    '            # Your MLflow checks Host against its --allowed-hosts: send the address it runs at.',
    `            proxy_set_header Host ${quote(external.hostHeader)};`,
    ...(external.tls
      ? ['            proxy_ssl_server_name on;', `            proxy_ssl_name ${quote(external.serverName)};`]
      : []),
    ...originHeader(external),
  ];
}

function originHeader(external: NonNullable<NginxConfInput['external']>): string[] {
  return external.origins.length > 0 ? ['            proxy_set_header Origin $mlflow_secure_origin;'] : [];
}

/**
 * Our public origins -> the upstream's origin; every other Origin (none included) unchanged. And
 * back on the answer: the user's MLflow allows the origin it was sent, so its
 * Access-Control-Allow-Origin names its own address, which the browser (on one of ours) would
 * refuse. Only that value is turned back into the request's Origin; any other passes as it is.
 */
function originMap(external: NonNullable<NginxConfInput['external']>): string[] {
  if (external.origins.length === 0) return [];
  return [
    '    map $http_origin $mlflow_secure_origin {',
    '        default $http_origin;',
    ...external.origins.map((o) => `        ${quote(o)} ${quote(external.origin)};`),
    '    }',
    `    map $upstream_http_access_control_allow_origin ${ALLOW_ORIGIN_VARIABLE} {`,
    '        default $upstream_http_access_control_allow_origin;',
    `        ${quote(external.origin)} $http_origin;`,
    '    }',
    '',
  ];
}

const ALLOW_ORIGIN_VARIABLE = '$mlflow_secure_allow_origin';

/** Server-level, so every location inherits them (one add_header in a location would drop the rest). */
function allowOriginLines(external: NginxConfInput['external']): string[] {
  if (!external?.origins.length) return [];
  return [
    "        # CORS answers name the origin the browser is on, not your MLflow's (originMap).",
    '        proxy_hide_header Access-Control-Allow-Origin;',
    `        add_header Access-Control-Allow-Origin ${ALLOW_ORIGIN_VARIABLE} always;`,
  ];
}

/**
 * The probe-only server. Proxying to MLflow makes "ready" mean the whole chain answers; the Host
 * header is fixed to `localhost` because MLflow checks Host against --allowed-hosts and a probe
 * sends the pod's address. `deny` (not `return`) answers every other path: nothing else is served.
 */
function healthServer(listenHost: string, port: number): string[] {
  return [
    '',
    "    # Health probes only: not published, no password, nothing but MLflow's /health.",
    '    server {',
    `        listen ${listenAddress(listenHost, port)};`,
    '',
    '        location = /healthz {',
    '            access_log off;',
    '            proxy_pass http://mlflow/health;',
    '            proxy_http_version 1.1;',
    '            proxy_set_header Connection "";',
    '            proxy_set_header Host localhost;',
    '            proxy_connect_timeout 5s;',
    '            proxy_read_timeout 10s;',
    '        }',
    '',
    '        location / {',
    '            deny all;',
    '        }',
    '    }',
  ];
}

/**
 * The pid in nginx's pid file, exactly as nginx writes it: `<pid>\n`, and on Windows `<pid>\r\n`
 * (ngx_create_pidfile writes NGX_LINEFEED, CRLF there). Anything else: undefined.
 */
export function parseNginxPidFile(text: string): number | undefined {
  const m = /^([1-9]\d{0,9})\r?\n$/.exec(text);
  return m ? Number(m[1]) : undefined;
}
