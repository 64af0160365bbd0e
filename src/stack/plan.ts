/**
 * Settings + what was found on the machine -> the full plan: MLflow's argv and environment,
 * nginx's argv and config text, the state folder's layout, URLs. Pure.
 */
import { createHash } from 'node:crypto';
import { UserError } from '../errors.js';
import type { CommandSpec, Platform } from '../system/platform.js';
import { renderNginxConf } from '../nginx/conf.js';
import { quoteBash } from '../credentials/shell.js';
import type { Settings } from './settings.js';
import { GUNICORN_SOCKET_BASE, gunicornSocketName } from '../defaults.js';
import { statePaths, type StatePaths } from './state-paths.js';
import { tlsPaths } from '../tls/plan.js';
import type { Upstream } from '../mlflow/upstream-url.js';
import { MLFLOW_DIFFERENCES, mlflowFeatures, NEWEST_TESTED } from '../mlflow/versions.js';
import { authPaths, permissionsEnv, PYTHON_DIR } from './permissions.js';

export type { StatePaths };

export interface Found {
  mlflow: CommandSpec;
  nginx: string;
  /** `nginx -v`'s version, e.g. [1, 22, 1]; decides whether `-e` exists (1.19.5+). */
  nginxVersion: [number, number, number];
  mlflowPort: number;
  listenPort: number;
  /** `mlflow --version`'s version (mlflow-versions.ts); the newest tested when not read (config --dry-run). */
  mlflowVersion?: string;
  /** The current user, for nginx's `user` directive when running as root. */
  who: { uid: number; username: string; groupName?: string };
  /**
   * A random value nginx sends on every answer of this run (X-MLflow-Secure-Instance): `up`
   * sends credentials only to the nginx that answers with it, never to a program of another
   * local user that took the port first.
   */
  instanceId?: string;
  /**
   * --permissions, chosen by `up` for this run: the secret nginx sends with the user's name, the
   * first admin MLflow creates when its table has none (stack/permissions.ts), and random
   * passwords MLflow wants but nobody uses. Absent (config): placeholders in the plan.
   */
  permissions?: { secret: string; adminUser: string; adminPassword: string; flaskSecret: string };
}

/** What `config` shows for a per-run secret that only `up` chooses. */
export const SECRET_PLACEHOLDER = '<random:chosen-by-up>';

export interface Plan {
  settings: Settings;
  paths: StatePaths;
  /** Where clients on this machine reach the stack. */
  url: string;
  /** The port nginx listens on. */
  listenPort: number;
  /** Where clients reach it by the public names (`--server-name`). */
  publicUrls: string[];
  /** Host header patterns and CORS origins handed to MLflow (allowedHostsFor, corsOriginsFor). */
  allowedHosts: string[];
  corsOrigins: string[];
  /**
   * MLflow's argv and environment. `port` is in its argv on every platform (its command line's
   * identity); it listens there only where `socket` is undefined (Windows). `socketLink`: the
   * name gunicorn's socket gets in the state folder, which `up` links `socket` to (MLflow < 3.3).
   */
  mlflow: CommandSpec & {
    port: number;
    socket?: string;
    socketLink?: string;
    env: Record<string, string>;
    cwd: string;
  };
  nginx: CommandSpec & { testArgs: string[]; quitArgs: string[]; conf: string };
  /** Written into children's environment: lets `down` and the tests recognise our processes. */
  marker: string;
  /** See Found.instanceId; '' when none. */
  instanceId: string;
  /** --upstream: the MLflow nginx fronts; `mlflow` above is then not started. */
  upstream?: Upstream;
}

export const MARKER_ENV = 'MLFLOW_SECURE_STATE_DIR';

/**
 * MLflow's working folder: never the user's folder, whose json.py would run in every uvicorn
 * worker (see python-cwd.ts). Every store URI is absolute; a client's relative experiment
 * artifact_location resolves here (MLflow's resolve_uri_if_local). Not the artifacts
 * destination: anyone signed in can PUT a json.py there through the artifacts API.
 */
export function mlflowWorkingDir(stateDir: string, platform: Platform): string {
  return platform.path.join(stateDir, 'mlflow-cwd');
}

export const MAX_SOCKET_PATH_BYTES = 103;

/** The loopback names every stack answers to, whatever --host says. */
export const LOOPBACK_NAMES: readonly string[] = ['localhost', '127.0.0.1', '::1'];

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '*']);

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** Names clients may put in Host besides the loopback ones: --server-name, and a specific --host. */
export function publicNames(settings: Pick<Settings, 'host' | 'serverNames'>): string[] {
  const names = [...settings.serverNames];
  if (!WILDCARD_HOSTS.has(settings.host) && !names.includes(settings.host)) names.push(settings.host);
  return names;
}

/**
 * MLflow's --allowed-hosts: the stack's own names only, each bare and with any port. nginx passes
 * the client's Host on as it came ($http_host), and MLflow compares a pattern without `*` to it
 * exactly, port included, and one with `*` by fnmatch (is_allowed_host_header in
 * mlflow/server/security_utils.py). Giving the flag replaces MLflow's defaults, which add
 * `10.*`, `192.168.*`, `172.16.*`...: as fnmatch patterns they also admit names such as
 * `10.attacker.example`, which a DNS-rebinding page can send. `<name>:*` cannot grow into another
 * name: a browser puts only a port after the colon. Browsers send Host in lower case; the exact
 * comparison is case-sensitive, so a name typed in capitals is listed in lower case too.
 */
export function allowedHostsFor(settings: Pick<Settings, 'host' | 'serverNames'>): string[] {
  const names = [...LOOPBACK_NAMES, ...publicNames(settings)].flatMap((n) => [n, n.toLowerCase()]);
  return [
    ...new Set(
      names.flatMap((n) => {
        const h = hostForUrl(n);
        // fnmatch reads '[' as the start of a class: `[[]` is a literal '[' (MLflow writes [::1] so).
        return [h, `${h.replace('[', '[[]')}:*`];
      }),
    ),
  ];
}

/**
 * MLflow's --cors-allowed-origins: the origins of pages served under the public names (MLflow
 * lets http://localhost, 127.0.0.1 and [::1] on any port through by itself). Without TLS also
 * https://<name>, for a TLS proxy in front on 443.
 */
export function corsOriginsFor(
  settings: Pick<Settings, 'host' | 'serverNames'> & Partial<Pick<Settings, 'tls'>>,
  listenPort: number,
): string[] {
  // Browsers serialise an origin's host in lower case, and MLflow compares origins exactly.
  const origins = publicNames(settings).flatMap((n) => {
    const h = hostForUrl(n.toLowerCase());
    // With TLS the page's origin is https://<name>:<port> (the port left out only at 443).
    if (settings.tls) return [listenPort === 443 ? `https://${h}` : `https://${h}:${listenPort}`];
    return [listenPort === 80 ? `http://${h}` : `http://${h}:${listenPort}`, `https://${h}`];
  });
  return [...new Set(origins)];
}

/**
 * Origins whose CORS preflights nginx lets through to MLflow without a password (nginx-conf.ts):
 * the stack's own pages, i.e. the CORS origins above and, over plain HTTP, the loopback URLs on
 * the listen port (MLflow allows those by itself). A page on any other local port (MLflow would
 * allow http://localhost:3000 too) still gets 401 on its preflight, as before. A wildcard server
 * name's origin is left out: MLflow's preflight answer (Starlette's CORSMiddleware) compares
 * origins exactly, so it would refuse every real origin under it anyway.
 */
export function preflightOriginsFor(
  settings: Pick<Settings, 'host' | 'serverNames'> & Partial<Pick<Settings, 'tls'>>,
  listenPort: number,
): string[] {
  const loopback = settings.tls
    ? []
    : LOOPBACK_NAMES.map((n) => `http://${hostForUrl(n)}${listenPort === 80 ? '' : `:${listenPort}`}`);
  return [...new Set([...corsOriginsFor(settings, listenPort).filter((o) => !o.includes('*')), ...loopback])];
}

/** `mlflow server`'s options after the subcommand; `up` and `export` share them. */
export function mlflowServerOptions(o: {
  host: string;
  port: number;
  allowedHosts: readonly string[];
  corsOrigins: readonly string[];
  /** MLflow before 3.5 has no host/CORS middleware and refuses its flags (mlflow-versions.ts). */
  securityMiddleware?: boolean;
}): string[] {
  return [
    '--serve-artifacts',
    '--host',
    o.host,
    '--port',
    String(o.port),
    ...(o.securityMiddleware === false
      ? []
      : [
          '--allowed-hosts',
          o.allowedHosts.join(','),
          ...(o.corsOrigins.length > 0 ? ['--cors-allowed-origins', o.corsOrigins.join(',')] : []),
        ]),
  ];
}

/**
 * nginx's -p/-c (and -e) for this state folder, and the words of its command line that identify
 * it. The prefix must end with a separator; nginx joins it with relative paths as-is.
 * nginx.exe reads its argv in the ANSI code page and then takes the bytes as UTF-8, so a non-ASCII
 * path there fails (`CreateFile() "Z:/.../Ana L?pez/..." failed (1113: No Unicode translation)`,
 * nginx 1.22.1 under Wine). On Windows such a state folder is passed relative to the prefix,
 * where nginx runs (`up` starts it there; `-s quit` and `-t` run there too), with an ASCII id of
 * the folder in a `-g "env ...;"` directive as the identity. Paths inside nginx.conf are read as
 * UTF-8 and stay absolute.
 */
export function nginxLocation(
  paths: Pick<StatePaths, 'stateDir' | 'nginxPrefix' | 'nginxConf' | 'nginxErrorLog'>,
  platform: Platform,
  hasErrorLogFlag = true,
): { args: string[]; identity: string[] } {
  const n = platform.toNginxPath;
  if (!relativeToPrefix(paths.stateDir, platform)) {
    const conf = n(paths.nginxConf);
    const args = [
      '-p',
      `${n(paths.nginxPrefix)}/`,
      '-c',
      conf,
      ...(hasErrorLogFlag ? ['-e', n(paths.nginxErrorLog)] : []),
    ];
    return { args, identity: ['-c', conf] };
  }
  const id = `${STATE_ID_ENV}=${createHash('sha256').update(paths.stateDir).digest('hex').slice(0, 16)}`;
  const args = [
    '-p',
    './',
    '-c',
    '../nginx.conf',
    ...(hasErrorLogFlag ? ['-e', '../logs/nginx-error.log'] : []),
    '-g',
    `env ${id};`,
  ];
  return { args, identity: ['-c', '../nginx.conf', `${id};`] };
}

/**
 * Windows, a state folder whose path is not ASCII: nginx.exe's argv is relative to its prefix
 * (nginxLocation), and so is every path in nginx.conf that nginx.exe hands to an ANSI Windows
 * call: CreateDirectory for the temp folders (`"Z:/.../Ana LA3pez/..." failed (3: Path not
 * found)` under Wine), DeleteFile for the pid file, and the logs with them. Files it opens with
 * ngx_open_file (CreateFileW: the password file) take the UTF-8 path as it is.
 */
export function relativeToPrefix(stateDir: string, platform: Platform): boolean {
  return platform.isWindows && !/^[\x20-\x7e]*$/.test(stateDir);
}

/** See nginxLocation: names the state folder (a hash of its path) in nginx.exe's argv. */
export const STATE_ID_ENV = 'MLFLOW_SECURE_STATE_ID';

export function buildPlan(settings: Settings, found: Found, platform: Platform): Plan {
  const paths = statePaths(settings.stateDir, platform);
  const n = platform.toNginxPath;
  const localHost = WILDCARD_HOSTS.has(settings.host) ? (settings.host === '::' ? '::1' : '127.0.0.1') : settings.host;
  const scheme = settings.tls ? 'https' : 'http';
  const url = `${scheme}://${hostForUrl(localHost)}:${found.listenPort}`;
  const allowedHosts = allowedHostsFor(settings);
  const corsOrigins = corsOriginsFor(settings, found.listenPort);
  const mlflowHas = mlflowFeatures(found.mlflowVersion ?? NEWEST_TESTED);
  if (settings.permissions && !mlflowHas.permissions)
    throw new UserError(
      `--permissions needs MLflow ${MLFLOW_DIFFERENCES.permissions.since} or newer (this one is ${mlflowHas.version})`,
      { hint: 'Leave out --permissions, or run mlflow-secure setup (installs the tested MLflow) and use it' },
    );
  if (settings.jobs && !mlflowHas.jobs)
    throw new UserError(
      `--jobs needs MLflow ${MLFLOW_DIFFERENCES.jobs.since} or newer (this one is ${mlflowHas.version})`,
      { hint: 'Leave out --jobs, or run mlflow-secure setup (installs the tested MLflow) and use it' },
    );

  // POSIX: MLflow listens on a Unix socket inside the owner-only state folder, so no other local
  // account can reach it past nginx (a loopback TCP port is open to every user). uvicorn takes
  // --uds and then binds no TCP port; mlflow splits MLFLOW_UVICORN_OPTS like a POSIX shell.
  // MLflow's job runner calls the server at http://<host>:<port>, which does not exist then: with
  // --jobs on MLflow keeps 127.0.0.1:<port> (settings.ts warns). nginx for Windows has no unix:
  // upstreams: there MLflow keeps 127.0.0.1:<port> too.
  // Before uvicorn (MLflow < 3.3, gunicorn) `--host unix:<base>` is gunicorn's socket-only bind, at
  // `<base>:<port>` (state.ts); nginx, readiness and status reach it through `mlflow.sock`, a link
  // `up` makes (a ':' in wait-on's unix: form would end the path). --upstream: the user's MLflow
  // listens where it does.
  const upstream = settings.upstream;
  const socket = platform.isWindows || settings.jobs || upstream ? undefined : paths.mlflowSocket;
  const socketLink = socket !== undefined && !mlflowHas.uvicorn ? gunicornSocketName(found.mlflowPort) : undefined;
  // sun_path holds 108 bytes on Linux, 104 on macOS, the terminating NUL included.
  const bound = socketLink !== undefined ? platform.path.join(paths.stateDir, socketLink) : socket;
  if (bound !== undefined && Buffer.byteLength(bound) > MAX_SOCKET_PATH_BYTES) {
    throw new UserError(
      `the state folder's path is too long for MLflow's Unix socket (${bound}: ${Buffer.byteLength(bound)} bytes, at most ${MAX_SOCKET_PATH_BYTES})`,
      { hint: 'Use a shorter --state-dir' },
    );
  }

  // Store URIs go through MLflow's environment, not argv: a database password in a URI would
  // be readable by every local user in /proc/<pid>/cmdline. `mlflow server` reads these names.
  const mlflowArgs = [
    ...found.mlflow.args,
    'ui',
    ...mlflowServerOptions({
      host: socketLink !== undefined ? `unix:${platform.path.join(paths.stateDir, GUNICORN_SOCKET_BASE)}` : '127.0.0.1',
      port: found.mlflowPort,
      allowedHosts,
      corsOrigins,
      securityMiddleware: mlflowHas.securityMiddleware,
    }),
    // MLflow 2.x on Windows (waitress) refuses --workers with NotImplementedError.
    ...(platform.isWindows && !mlflowHas.workersOnWindows ? [] : ['--workers', String(settings.mlflowWorkers)]),
    // MLflow's own auth app, with our authorization function (stack/permissions.ts). After the
    // rest: `ui --serve-artifacts` is how restart finds the program in MLflow's argv (running.ts).
    ...(settings.permissions ? ['--app-name', 'basic-auth'] : []),
  ];
  const mlflowEnv: Record<string, string> = {
    [MARKER_ENV]: settings.stateDir,
    PYTHONUNBUFFERED: '1',
    MLFLOW_BACKEND_STORE_URI: settings.backend.uri,
    // Always explicit: a registry URI derived from a Windows drive path breaks (mlflow#16133).
    MLFLOW_REGISTRY_STORE_URI: settings.registry.uri,
    MLFLOW_ARTIFACTS_DESTINATION: settings.artifacts.uri,
  };
  if (settings.backend.isFileStore || settings.registry.isFileStore) mlflowEnv.MLFLOW_ALLOW_FILE_STORE = 'true';
  const secrets = settings.permissions
    ? (found.permissions ?? {
        secret: SECRET_PLACEHOLDER,
        adminUser: settings.user,
        adminPassword: SECRET_PLACEHOLDER,
        flaskSecret: SECRET_PLACEHOLDER,
      })
    : undefined;
  if (secrets)
    Object.assign(
      mlflowEnv,
      permissionsEnv({ ...secrets, iniPath: authPaths(settings.stateDir, platform).ini, pythonDir: PYTHON_DIR }),
    );
  if (socket !== undefined && socketLink === undefined) mlflowEnv.MLFLOW_UVICORN_OPTS = `--uds ${quoteBash(socket)}`;
  // Always explicit: an MLFLOW_SERVER_ENABLE_JOB_EXECUTION inherited from the shell must not
  // contradict --jobs (MLflow's own default is on).
  if (mlflowHas.jobs) mlflowEnv.MLFLOW_SERVER_ENABLE_JOB_EXECUTION = settings.jobs ? 'true' : 'false';

  const [major, minor, patch] = found.nginxVersion;
  const hasErrorLogFlag = major > 1 || (major === 1 && (minor > 19 || (minor === 19 && patch >= 5)));
  const baseArgs = nginxLocation(paths, platform, hasErrorLogFlag).args;

  // Paths nginx.exe passes to ANSI calls, relative to its prefix where the folder is not ASCII.
  const p = relativeToPrefix(paths.stateDir, platform)
    ? (file: string) => n(platform.path.relative(paths.nginxPrefix, file))
    : n;
  const tls = settings.tls ? tlsPaths(settings.stateDir, platform) : undefined;
  const conf = renderNginxConf({
    listenHost: settings.host,
    listenPort: found.listenPort,
    serverNames: settings.serverNames,
    upstream: upstream
      ? upstream.hostHeader
      : socket !== undefined
        ? `unix:${n(socket)}`
        : `127.0.0.1:${found.mlflowPort}`,
    ...(upstream
      ? {
          external: {
            hostHeader: upstream.hostHeader,
            tls: upstream.scheme === 'https',
            serverName: upstream.host,
            origins: corsOrigins,
            origin: upstream.url,
          },
        }
      : {}),
    workerProcesses: settings.nginxWorkers,
    userDirective: platform.nginxUserDirective(found.who),
    realm: 'MLflow',
    preflightOrigins: preflightOriginsFor(settings, found.listenPort),
    instanceId: found.instanceId,
    ...(secrets ? { permissions: { secret: secrets.secret } } : {}),
    // nginx serves the copy in the state folder, whichever certificate it is (src/tls/certificates.ts).
    ...(tls ? { tls: { cert: n(tls.serverCert), key: n(tls.serverKey) } } : {}),
    paths: {
      pid: p(paths.nginxPid),
      errorLog: p(paths.nginxErrorLog),
      accessLog: p(paths.nginxAccessLog),
      htpasswd: n(paths.htpasswd),
      clientBodyTemp: p(paths.tempDirs.clientBody),
      proxyTemp: p(paths.tempDirs.proxy),
      fastcgiTemp: p(paths.tempDirs.fastcgi),
      uwsgiTemp: p(paths.tempDirs.uwsgi),
      scgiTemp: p(paths.tempDirs.scgi),
    },
  });

  return {
    settings,
    paths,
    url,
    listenPort: found.listenPort,
    publicUrls: settings.serverNames.map((name) => `${scheme}://${hostForUrl(name)}:${found.listenPort}`),
    allowedHosts,
    corsOrigins,
    mlflow: {
      file: found.mlflow.file,
      args: mlflowArgs,
      port: upstream ? upstream.port : found.mlflowPort,
      socket,
      ...(socketLink !== undefined ? { socketLink } : {}),
      env: mlflowEnv,
      cwd: mlflowWorkingDir(settings.stateDir, platform),
    },
    nginx: {
      file: found.nginx,
      args: baseArgs,
      testArgs: [...baseArgs, '-t', '-q'],
      quitArgs: [...baseArgs, '-s', 'quit'],
      conf,
    },
    marker: settings.stateDir,
    instanceId: found.instanceId ?? '',
    ...(upstream ? { upstream } : {}),
  };
}
