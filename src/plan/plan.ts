/**
 * Settings + what was found on the machine -> the full plan: MLflow's argv and environment,
 * nginx's argv and config text, the state folder's layout, URLs. Pure.
 */
import type { CommandSpec, Platform } from '../platform.js';
import { renderNginxConf } from './nginx-conf.js';
import type { Settings } from './settings.js';

export interface StatePaths {
  stateDir: string;
  record: string;
  nginxConf: string;
  htpasswd: string;
  generatedPassword: string;
  logsDir: string;
  mlflowLog: string;
  nginxErrorLog: string;
  nginxAccessLog: string;
  /** nginx's prefix (-p): pid file, logs/ and temp/ (nginx.exe wants both to exist). */
  nginxPrefix: string;
  nginxPid: string;
  tempDirs: { clientBody: string; proxy: string; fastcgi: string; uwsgi: string; scgi: string };
}

export function statePaths(stateDir: string, platform: Platform): StatePaths {
  const j = platform.path.join;
  const prefix = j(stateDir, 'nginx');
  const temp = j(prefix, 'temp');
  return {
    stateDir,
    record: j(stateDir, 'stack.json'),
    nginxConf: j(stateDir, 'nginx.conf'),
    htpasswd: j(stateDir, 'htpasswd'),
    generatedPassword: j(stateDir, 'generated-password'),
    logsDir: j(stateDir, 'logs'),
    mlflowLog: j(stateDir, 'logs', 'mlflow.log'),
    nginxErrorLog: j(stateDir, 'logs', 'nginx-error.log'),
    nginxAccessLog: j(stateDir, 'logs', 'nginx-access.log'),
    nginxPrefix: prefix,
    nginxPid: j(prefix, 'logs', 'nginx.pid'),
    tempDirs: {
      clientBody: j(temp, 'client_body'),
      proxy: j(temp, 'proxy'),
      fastcgi: j(temp, 'fastcgi'),
      uwsgi: j(temp, 'uwsgi'),
      scgi: j(temp, 'scgi'),
    },
  };
}

/** Folders `up` creates before starting anything. */
export function stateFolders(paths: StatePaths, platform: Platform): string[] {
  return [paths.stateDir, paths.logsDir, platform.path.join(paths.nginxPrefix, 'logs'), ...Object.values(paths.tempDirs)];
}

export interface Found {
  mlflow: CommandSpec;
  nginx: string;
  /** `nginx -v`'s version, e.g. [1, 22, 1]; decides whether `-e` exists (1.19.5+). */
  nginxVersion: [number, number, number];
  mlflowPort: number;
  listenPort: number;
  /** The current user, for nginx's `user` directive when running as root. */
  who: { uid: number; username: string; groupName?: string };
}

export interface Plan {
  settings: Settings;
  paths: StatePaths;
  /** Where clients on this machine reach the stack. */
  url: string;
  /** Where clients reach it by the public names (`--server-name`). */
  publicUrls: string[];
  /** Allowed Host header patterns and CORS origins handed to MLflow. */
  allowedHosts: string[];
  corsOrigins: string[];
  mlflow: CommandSpec & { port: number; env: Record<string, string> };
  nginx: CommandSpec & { testArgs: string[]; quitArgs: string[]; conf: string };
  /** Written into children's environment: lets `down` and the tests recognise our processes. */
  marker: string;
}

export const MARKER_ENV = 'MLFLOW_SECURE_STATE_DIR';

/**
 * MLflow's own defaults for --allowed-hosts (mlflow/server/security_utils.py): giving the
 * flag replaces them, so they are repeated here before the user's names.
 */
export const MLFLOW_DEFAULT_ALLOWED_HOSTS: readonly string[] = [
  'localhost',
  '127.0.0.1',
  '[::1]',
  '0.0.0.0',
  'localhost:*',
  '127.0.0.1:*',
  '[[]::1]:*',
  '0.0.0.0:*',
  '192.168.*',
  '10.*',
  ...Array.from({ length: 16 }, (_, i) => `172.${16 + i}.*`),
  'fc00:*',
  'fd00:*',
];

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '*']);

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** Names clients may put in Host besides MLflow's defaults: --server-name, and a specific --host. */
export function publicNames(settings: Settings): string[] {
  const names = [...settings.serverNames];
  if (!WILDCARD_HOSTS.has(settings.host) && !names.includes(settings.host)) names.push(settings.host);
  return names;
}

export function allowedHostsFor(settings: Settings): string[] {
  const extra = publicNames(settings).flatMap((n) => {
    const h = hostForUrl(n);
    // fnmatch treats '[' as a class: escape it as MLflow does for [::1].
    const pattern = h.replace('[', '[[]');
    return [h, `${pattern}:*`];
  });
  return [...new Set([...MLFLOW_DEFAULT_ALLOWED_HOSTS, ...extra])];
}

/** Origins a browser sends for pages served under the public names (localhost always passes). */
export function corsOriginsFor(settings: Settings, listenPort: number): string[] {
  const origins = publicNames(settings).flatMap((n) => {
    const h = hostForUrl(n);
    return [listenPort === 80 ? `http://${h}` : `http://${h}:${listenPort}`, `https://${h}`];
  });
  return [...new Set(origins)];
}

export function buildPlan(settings: Settings, found: Found, platform: Platform): Plan {
  const paths = statePaths(settings.stateDir, platform);
  const n = platform.toNginxPath;
  const localHost = WILDCARD_HOSTS.has(settings.host) ? (settings.host === '::' ? '::1' : '127.0.0.1') : settings.host;
  const url = `http://${hostForUrl(localHost)}:${found.listenPort}`;
  const allowedHosts = allowedHostsFor(settings);
  const corsOrigins = corsOriginsFor(settings, found.listenPort);

  const mlflowArgs = [
    ...found.mlflow.args,
    'ui',
    '--backend-store-uri', settings.backend.uri,
    // Always explicit: a registry URI derived from a Windows drive path breaks (mlflow#16133).
    '--registry-store-uri', settings.registry.uri,
    '--serve-artifacts',
    '--artifacts-destination', settings.artifacts.uri,
    '--host', '127.0.0.1',
    '--port', String(found.mlflowPort),
    '--allowed-hosts', allowedHosts.join(','),
    ...(corsOrigins.length > 0 ? ['--cors-allowed-origins', corsOrigins.join(',')] : []),
  ];
  const mlflowEnv: Record<string, string> = { [MARKER_ENV]: settings.stateDir, PYTHONUNBUFFERED: '1' };
  if (settings.backend.isFileStore || settings.registry.isFileStore) mlflowEnv.MLFLOW_ALLOW_FILE_STORE = 'true';

  const [major, minor, patch] = found.nginxVersion;
  const hasErrorLogFlag = major > 1 || (major === 1 && (minor > 19 || (minor === 19 && patch >= 5)));
  // The prefix must end with a separator; nginx joins it with relative paths as-is.
  const baseArgs = ['-p', `${n(paths.nginxPrefix)}/`, '-c', n(paths.nginxConf), ...(hasErrorLogFlag ? ['-e', n(paths.nginxErrorLog)] : [])];

  const conf = renderNginxConf({
    listenHost: settings.host,
    listenPort: found.listenPort,
    serverNames: settings.serverNames,
    upstreamPort: found.mlflowPort,
    workerProcesses: settings.nginxWorkers,
    userDirective: platform.nginxUserDirective(found.who),
    realm: 'MLflow',
    paths: {
      pid: n(paths.nginxPid),
      errorLog: n(paths.nginxErrorLog),
      accessLog: n(paths.nginxAccessLog),
      htpasswd: n(paths.htpasswd),
      clientBodyTemp: n(paths.tempDirs.clientBody),
      proxyTemp: n(paths.tempDirs.proxy),
      fastcgiTemp: n(paths.tempDirs.fastcgi),
      uwsgiTemp: n(paths.tempDirs.uwsgi),
      scgiTemp: n(paths.tempDirs.scgi),
    },
  });

  return {
    settings,
    paths,
    url,
    publicUrls: settings.serverNames.map((name) => `http://${hostForUrl(name)}:${found.listenPort}`),
    allowedHosts,
    corsOrigins,
    mlflow: { file: found.mlflow.file, args: mlflowArgs, port: found.mlflowPort, env: mlflowEnv },
    nginx: { file: found.nginx, args: baseArgs, testArgs: [...baseArgs, '-t', '-q'], quitArgs: [...baseArgs, '-s', 'quit'], conf },
    marker: settings.stateDir,
  };
}
