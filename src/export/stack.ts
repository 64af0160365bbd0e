/**
 * The stack `mlflow-secure export` renders for a container engine, whatever the engine: images,
 * ports, MLflow's argv and environment, and nginx.conf. Pure. The compose and Kubernetes
 * renderers (export-compose.ts, export-kubernetes.ts) only say how each engine runs these.
 *
 * The same choices as `up`: MLflow's options come from plan.ts (mlflowServerOptions,
 * allowedHostsFor, corsOriginsFor), nginx.conf from nginx-conf.ts's renderNginxConf with
 * preflightOriginsFor's origins; what an engine needs differently (paths inside the nginx image, nginx on every interface of its
 * container, a probe-only port, the names clients inside the engine use) is a parameter. Under
 * both engines MLflow shares a network namespace with nginx alone and listens on its loopback
 * only: nothing but that nginx reaches it.
 */
import { renderNginxConf } from '../nginx/conf.js';
import { allowedHostsFor, corsOriginsFor, mlflowServerOptions, preflightOriginsFor } from '../stack/plan.js';

export type ExportTarget = 'compose' | 'kubernetes';

export interface ExportInput {
  target: ExportTarget;
  /** The MLflow version mlflow-secure pins (requirements.txt): the image tag follows it. */
  mlflowVersion: string;
  /** compose: the host address the published port binds to. kubernetes: unused (`0.0.0.0`). */
  host: string;
  /** compose: the published port on the host. kubernetes: the front Service's port. */
  port: number;
  serverNames: string[];
  nginxWorkers: number | 'auto';
  mlflowWorkers: number;
  /** Artifacts in a MinIO bucket instead of a volume. */
  s3: boolean;
  /** The password file's text (user names and hashes, no password). */
  htpasswd: string;
  /** Generated secrets: base64url, so they sit in a URI without escaping. */
  postgresPassword: string;
  minioPassword?: string;
  /** The Python the containers run (python/*.py's text, read by the command: this module reads no file). */
  scripts: ContainerScripts;
}

/** Python run inside the exported containers with `python -c`. */
export interface ContainerScripts {
  /** MLflow's /health on its loopback address (MLflow's image has Python but no curl). */
  health: string;
  /** Creates MLflow's bucket when missing (MLflow does not). */
  createBucket: string;
}

/** One file of the export, its path relative to the export folder with forward slashes. */
export interface ExportFile {
  path: string;
  content: string;
  /** Holds a secret: written owner-only (0600). */
  secret: boolean;
}

/**
 * Images. MLflow's `-full` variant: the plain one has no database driver nor boto3, and
 * `postgresql://` needs psycopg under MLflow 3.17's SQLAlchemy 2.1 (mlflow/mlflow docker/README.md:
 * "This image contains only the core MLflow package"; `-full` adds "Database drivers (MySQL,
 * PostgreSQL, SQL Server)" and "AWS S3"). The MinIO tag is the last image MinIO published.
 * `pause` is Kubernetes' pod sandbox (the tag kubelets of 1.33-1.36 use): it holds compose's network
 * namespace and does nothing else.
 */
export const IMAGES = {
  nginx: 'nginx:1.28',
  pause: 'registry.k8s.io/pause:3.10.2',
  postgres: 'postgres:17',
  minio: 'minio/minio:RELEASE.2025-09-07T16-13-09Z',
} as const;

export function mlflowImage(version: string): string {
  return `ghcr.io/mlflow/mlflow:v${version}-full`;
}

/** Ports inside the containers. */
export const PORTS = { nginx: 8080, health: 8081, mlflow: 5000, postgres: 5432, minio: 9000 } as const;

export const DATABASE = { user: 'mlflow', name: 'mlflow' } as const;
export const BUCKET = 'mlflow';
/** MinIO's root user name doubles as MLflow's access key id; it is no secret, its password is. */
export const MINIO_USER = 'mlflow';

/** Paths inside the containers. */
export const CONTAINER = {
  nginxConfDir: '/etc/nginx/mlflow-secure',
  nginxConf: '/etc/nginx/mlflow-secure/nginx.conf',
  authDir: '/etc/nginx/auth',
  htpasswd: '/etc/nginx/auth/htpasswd',
  artifacts: '/mlartifacts',
  postgresData: '/var/lib/postgresql/data',
  minioData: '/data',
} as const;

/**
 * The front door's name inside the engine: compose's namespace holder (a service name on the
 * project network) and Kubernetes' front Service. Clients there send it as Host.
 */
export const FRONT_NAME = 'mlflow-secure';

/**
 * The names clients inside the engine reach nginx by, and the port they put after them. compose:
 * the holder's service name, which Docker's DNS resolves on the project network, on nginx's
 * container port. Kubernetes: the front Service as pods resolve it (`<name>`, `<name>.<ns>.svc`,
 * `<name>.<ns>.svc.cluster.local`; the namespace is the user's, hence `*`) on the Service's port.
 * fnmatch's `*` also crosses dots, so every pattern ends in `.svc` or `.svc.cluster.local`, names no
 * public domain has: never `<name>.*`, which `mlflow-secure.attacker.example` would match (so the
 * short `<name>.<ns>` stays out, and so does a cluster domain other than cluster.local).
 */
export function internalNames(input: Pick<ExportInput, 'target' | 'port'>): { names: string[]; port: number } {
  if (input.target === 'compose') return { names: [FRONT_NAME], port: PORTS.nginx };
  return { names: [FRONT_NAME, `${FRONT_NAME}.*.svc`, `${FRONT_NAME}.*.svc.cluster.local`], port: input.port };
}

/**
 * nginx.conf for the official nginx image: its `nginx` user (uid and gid 101) for the workers,
 * logs to the container's stdout and stderr, the temp folders the image creates, and the probe
 * port beside the public one. CORS preflights of the stack's pages pass as under `up`, for the
 * public names on the published (compose) or Service (Kubernetes) port; the internal names are
 * left out: a page served under one is MLflow's own UI, whose requests are same-origin.
 */
export function containerNginxConf(input: ExportInput): string {
  return renderNginxConf({
    listenHost: '0.0.0.0',
    listenPort: PORTS.nginx,
    serverNames: input.serverNames,
    upstream: `${MLFLOW_LISTEN}:${PORTS.mlflow}`,
    workerProcesses: input.nginxWorkers,
    userDirective: 'user nginx;',
    realm: 'MLflow',
    preflightOrigins: preflightOriginsFor({ host: input.host, serverNames: input.serverNames }, input.port),
    writtenBy: `mlflow-secure export ${input.target}`,
    healthPort: PORTS.health,
    paths: {
      pid: '/var/run/nginx.pid',
      errorLog: '/dev/stderr',
      accessLog: '/dev/stdout',
      htpasswd: CONTAINER.htpasswd,
      clientBodyTemp: '/var/cache/nginx/client_temp',
      proxyTemp: '/var/cache/nginx/proxy_temp',
      fastcgiTemp: '/var/cache/nginx/fastcgi_temp',
      uwsgiTemp: '/var/cache/nginx/uwsgi_temp',
      scgiTemp: '/var/cache/nginx/scgi_temp',
    },
  });
}

/**
 * Where MLflow listens: the loopback of the network namespace it shares with nginx (the pod's under
 * Kubernetes, the holder container's under compose), which no other container or host process enters.
 */
export const MLFLOW_LISTEN = '127.0.0.1';

/**
 * MLflow's argv: `up`'s options, on loopback only, one worker by default. Its Host and Origin
 * checks admit the internal names too (nginx passes Host on as it came): each with any port, and
 * the origins of the UI served under them, whose POSTs carry an Origin.
 */
export function mlflowCommand(input: ExportInput): string[] {
  const names = { host: input.host, serverNames: input.serverNames };
  const internal = internalNames(input);
  const options = mlflowServerOptions({
    host: MLFLOW_LISTEN,
    port: PORTS.mlflow,
    allowedHosts: allowedHostsFor({ ...names, serverNames: [...input.serverNames, ...internal.names] }),
    corsOrigins: [
      ...new Set([
        ...corsOriginsFor(names, input.port),
        ...corsOriginsFor({ host: '0.0.0.0', serverNames: internal.names }, internal.port),
      ]),
    ],
  });
  return ['mlflow', 'server', ...options, '--workers', String(input.mlflowWorkers)];
}

/**
 * MLflow's environment besides the store URIs, which carry the database password and are built
 * from the secret where the engine runs. Job execution is off as under `up`: the job runner
 * serves GenAI background jobs only and starts a dozen more processes.
 */
export function mlflowEnvironment(input: ExportInput, minioHost: string): Record<string, string> {
  return {
    PYTHONUNBUFFERED: '1',
    MLFLOW_SERVER_ENABLE_JOB_EXECUTION: 'false',
    MLFLOW_ARTIFACTS_DESTINATION: input.s3 ? `s3://${BUCKET}` : CONTAINER.artifacts,
    ...(input.s3
      ? {
          MLFLOW_S3_ENDPOINT_URL: `http://${minioHost}:${PORTS.minio}`,
          AWS_ACCESS_KEY_ID: MINIO_USER,
          AWS_DEFAULT_REGION: 'us-east-1',
        }
      : {}),
  };
}

/** The backend store URI with `password` standing for the password (a reference the engine expands). */
export function postgresUri(host: string, password: string): string {
  return `postgresql://${DATABASE.user}:${password}@${host}:${PORTS.postgres}/${DATABASE.name}`;
}

/** A generated store password: 32 base64url characters (192 bits), safe in a URI as it is. */
export const STORE_SECRET = /^[A-Za-z0-9_-]{24,128}$/;
