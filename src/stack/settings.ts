/**
 * Command-line options -> validated settings. Pure; every message names the flag and the
 * value received.
 */
import { isIP } from 'node:net';
import { UserError } from '../errors.js';
import type { HashScheme, Platform } from '../system/platform.js';
import { DEFAULT_BCRYPT_COST, MAX_BCRYPT_COST, MIN_BCRYPT_COST, validateUserName } from '../users/htpasswd.js';
import { resolveStateDir } from './state-paths.js';
import { toStoreUri, type StoreUri } from '../stores/uri.js';
import { resolveTls, type TlsOptions, type TlsSetting } from '../tls/plan.js';
import { parseUpstream, upstreamWarning, type Upstream } from '../mlflow/upstream-url.js';
import { resolvePermissions, type PermissionsSetting } from './permissions.js';

import {
  DEFAULT_JOBS,
  DEFAULT_MLFLOW_WORKERS,
  DEFAULT_NGINX_WORKERS,
  DEFAULT_PORT,
  DEFAULT_TIMEOUT_SECONDS,
  MAX_MLFLOW_WORKERS,
} from '../defaults.js';

export {
  DEFAULT_JOBS,
  DEFAULT_MLFLOW_WORKERS,
  DEFAULT_NGINX_WORKERS,
  DEFAULT_PORT,
  DEFAULT_TIMEOUT_SECONDS,
  MAX_MLFLOW_WORKERS,
} from '../defaults.js';

/** The options `up` and `config` share, as commander hands them over (strings). */
export interface StackOptions extends TlsOptions {
  backendStoreUri?: string;
  registryStoreUri?: string;
  artifactsDestination?: string;
  host?: string;
  port?: string;
  serverName?: string;
  user?: string;
  hash?: string;
  bcryptCost?: string;
  stateDir?: string;
  timeout?: string;
  nginxWorkers?: string;
  workers?: string;
  jobs?: string;
  mlflow?: string;
  nginx?: string;
  /** An MLflow that already runs (`http(s)://host:port`): nginx only is started, in front of it. */
  upstream?: string;
  /** MLflow's own permissions for the user nginx signed in (stack/permissions.ts). */
  permissions?: boolean;
  defaultPermission?: string;
}

export interface Settings {
  backend: StoreUri;
  registry: StoreUri;
  artifacts: StoreUri;
  host: string;
  port: number | 'auto';
  serverNames: string[];
  user: string;
  hash: HashScheme;
  bcryptCost: number;
  stateDir: string;
  timeoutMs: number;
  nginxWorkers: number | 'auto';
  /** HTTPS (--tls, --tls-cert/--tls-key), or undefined for plain HTTP. */
  tls?: TlsSetting;
  /** MLflow's uvicorn worker processes (`mlflow ui --workers`). */
  mlflowWorkers: number;
  /** MLflow's job execution (job runner and huey consumers); on POSIX it needs MLflow on TCP. */
  jobs: boolean;
  /** --upstream: the user's MLflow; mlflow-secure then starts nginx only. */
  upstream?: Upstream;
  /** --permissions: MLflow's auth app decides what the signed-in user may do. */
  permissions?: PermissionsSetting;
  warnings: string[];
}

const LABELS = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*';
/** A listen address must be a real name; server names may also be nginx wildcards (*.example.com). */
const HOST_NAME = new RegExp(`^${LABELS}$`);
const SERVER_NAME = new RegExp(`^(?:\\*\\.)?${LABELS}$`);
const unbracket = (name: string) => name.replace(/^\[(.*)\]$/, '$1');

export function parsePort(value: string, flag = '--port'): number | 'auto' {
  if (value === 'auto') return 'auto';
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 65535) {
    throw new UserError(`${flag} must be a number from 1 to 65535 or 'auto', got '${value}'`, {
      hint: `Try ${flag} 5001 or ${flag} auto`,
    });
  }
  return n;
}

export function parseHost(value: string): string {
  const host = unbracket(value);
  // 999.1.1.1 has the shape of a name but is a mistyped address: no top-level name is all digits.
  if (isIP(host) === 0 && (!HOST_NAME.test(host) || /^[\d.]+$/.test(host))) {
    throw new UserError(`--host must be an IP address or host name, got '${value}'`, {
      hint: 'Try --host 127.0.0.1 (this machine only) or --host 0.0.0.0 (all interfaces)',
    });
  }
  return host;
}

export function parseServerNames(value: string | undefined): string[] {
  if (value === undefined) return [];
  // IPv6 names are kept bare; URLs, Host patterns and nginx.conf add brackets where needed.
  const names = value
    .split(',')
    .map((n) => unbracket(n.trim()))
    .filter(Boolean);
  for (const name of names) {
    if (isIP(name) === 0 && !SERVER_NAME.test(name)) {
      throw new UserError(`--server-name has an invalid name '${name}'`, {
        hint: 'Give host names separated by commas, e.g. --server-name mlflow.example.com,mlflow',
      });
    }
  }
  return [...new Set(names)];
}

export function parseBcryptCost(value: string | undefined): number {
  return value === undefined
    ? DEFAULT_BCRYPT_COST
    : parseIntInRange(value, '--bcrypt-cost', MIN_BCRYPT_COST, MAX_BCRYPT_COST);
}

function parseIntInRange(value: string, flag: string, min: number, max: number, hint?: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max)
    throw new UserError(`${flag} must be a whole number from ${min} to ${max}, got '${value}'`, { hint });
  return n;
}

export function parseJobs(value: string | undefined): boolean {
  if (value === undefined) return DEFAULT_JOBS;
  if (value !== 'on' && value !== 'off')
    throw new UserError(`--jobs must be on or off, got '${value}'`, {
      hint: "Try --jobs off (no background jobs; MLflow stays on its Unix socket) or --jobs on (MLflow's GenAI jobs)",
    });
  return value === 'on';
}

/**
 * What `--jobs on` costs, said once by `up` (and `config`). MLflow hands its job runner
 * MLFLOW_TRACKING_URI=http://<host>:<port> (mlflow/server/__init__.py, _run_server), a URL that
 * Python's HTTP clients cannot point at a Unix socket: MLflow must listen on 127.0.0.1:<port>.
 */
function jobsWarnings(jobs: boolean, backend: StoreUri, platform: Platform): string[] {
  if (!jobs) return [];
  // mlflow/server/jobs/utils.py, _check_requirements: MLflow starts without jobs then, and says so in its log.
  if (platform.isWindows)
    return [
      '--jobs on: MLflow does not run background jobs on Windows (it starts without them and says so in its log)',
    ];
  const warnings = [
    '--jobs on: MLflow listens on a loopback TCP port instead of its Unix socket (its job runner calls it back over http://127.0.0.1:<port>), ' +
      'so other accounts on this machine can reach MLflow past the password. Use --jobs off unless you need its background jobs',
  ];
  if (backend.isFileStore)
    warnings.push(
      '--jobs on: MLflow runs background jobs only with a database backend store; with the file store it starts without them',
    );
  return warnings;
}

/**
 * Listening on every interface, without a name to answer to: MLflow's Host check admits only the
 * stack's own names (plan.ts, allowedHostsFor), so a client that comes by an address or a name
 * of this machine gets 403 "Invalid Host header" until that is a --server-name.
 */
function wildcardHostWarnings(host: string, serverNames: readonly string[], port: string): string[] {
  if ((host !== '0.0.0.0' && host !== '::') || serverNames.length > 0) return [];
  const p = port === 'auto' ? '<port>' : port;
  return [
    `--host ${host} without --server-name: MLflow answers only to localhost, 127.0.0.1 and [::1], so a client that opens ` +
      `http://192.168.1.5:${p} or http://my-laptop:${p} gets 403 "Invalid Host header". List each address or name clients use, ` +
      'e.g. --server-name 192.168.1.5,my-laptop',
  ];
}

export function parseHashScheme(value: string | undefined, platform: Platform): HashScheme {
  const scheme = value ?? platform.hashSchemes[0]!;
  if (scheme !== 'bcrypt' && scheme !== 'apr1') throw new UserError(`--hash must be bcrypt or apr1, got '${scheme}'`);
  const refusal = platform.hashRefusal(scheme);
  if (refusal) throw new UserError(`--hash ${scheme} is refused on this platform: ${refusal}`);
  return scheme;
}

export function resolveSettings(o: StackOptions, ctx: { cwd: string; platform: Platform }): Settings {
  const { cwd, platform } = ctx;
  const uriCtx = { cwd, windows: platform.isWindows };
  const warnings: string[] = [];
  // MLflow's default (sqlite:///mlflow.db, relative to its cwd), made absolute.
  const backend = toStoreUri(o.backendStoreUri ?? platform.path.join(cwd, 'mlflow.db'), 'backend', uriCtx);
  const registry = o.registryStoreUri !== undefined ? toStoreUri(o.registryStoreUri, 'registry', uriCtx) : backend;
  const artifacts = toStoreUri(o.artifactsDestination ?? platform.path.join(cwd, 'mlartifacts'), 'artifacts', uriCtx);
  if (backend.isFileStore) {
    warnings.push(
      `${backend.uri} is MLflow's deprecated file store; MLflow 3.13+ refuses it unless MLFLOW_ALLOW_FILE_STORE=true, which mlflow-secure sets. ` +
        `Consider moving to SQLite: mlflow migrate-filestore (see its --help), then --backend-store-uri sqlite:///path/mlflow.db`,
    );
  }
  const timeout = o.timeout ?? String(DEFAULT_TIMEOUT_SECONDS);
  const timeoutSeconds = Number(timeout);
  if (!/^\d+(\.\d+)?$/.test(timeout) || timeoutSeconds < 1 || timeoutSeconds > 3600) {
    throw new UserError(`--timeout must be a number of seconds from 1 to 3600, got '${o.timeout}'`);
  }
  // nginx for Windows serves with one worker (https://nginx.org/en/docs/windows.html: "only one of
  // them actually does any work"; under Wine a second cannot even bind): more only when asked.
  const workers = o.nginxWorkers ?? String(platform.isWindows ? 1 : DEFAULT_NGINX_WORKERS);
  const tls = resolveTls(o, ctx);
  const jobs = parseJobs(o.jobs);
  const upstream = o.upstream !== undefined ? resolveUpstream(o) : undefined;
  if (upstream) warnings.push(upstreamWarning(upstream));
  else warnings.push(...jobsWarnings(jobs, backend, platform));
  const host = parseHost(o.host ?? '127.0.0.1');
  const port = parsePort(o.port ?? String(DEFAULT_PORT));
  const serverNames = parseServerNames(o.serverName);
  const permissions = resolvePermissions(o);
  warnings.push(...wildcardHostWarnings(host, serverNames, String(port)));
  return {
    backend,
    registry,
    artifacts,
    host,
    port,
    serverNames,
    user: validateUserName(o.user ?? 'admin', '--user'),
    hash: parseHashScheme(o.hash, platform),
    bcryptCost: parseBcryptCost(o.bcryptCost),
    stateDir: resolveStateDir(o.stateDir, cwd, platform),
    timeoutMs: Math.round(timeoutSeconds * 1000),
    nginxWorkers: workers === 'auto' ? 'auto' : parseIntInRange(workers, '--nginx-workers', 1, 64),
    ...(tls ? { tls } : {}),
    mlflowWorkers: parseIntInRange(
      o.workers ?? String(DEFAULT_MLFLOW_WORKERS),
      '--workers',
      1,
      MAX_MLFLOW_WORKERS,
      `Try --workers ${DEFAULT_MLFLOW_WORKERS} (MLflow's uvicorn worker processes; each takes about 250-300 MiB)`,
    ),
    jobs,
    ...(upstream ? { upstream } : {}),
    ...(permissions ? { permissions } : {}),
    warnings,
  };
}

/** --upstream, and the options that only make sense when mlflow-secure starts MLflow itself. */
function resolveUpstream(o: StackOptions): Upstream {
  const upstream = parseUpstream(o.upstream!);
  const conflicting = [
    ['--backend-store-uri', o.backendStoreUri],
    ['--registry-store-uri', o.registryStoreUri],
    ['--artifacts-destination', o.artifactsDestination],
    ['--mlflow', o.mlflow],
  ].find(([, v]) => v !== undefined);
  if (conflicting)
    throw new UserError(
      `${conflicting[0]} has no effect with --upstream: the MLflow at ${upstream.url} already chose it`,
      { hint: `Leave out ${conflicting[0]}, or leave out --upstream to let mlflow-secure start MLflow` },
    );
  return upstream;
}
