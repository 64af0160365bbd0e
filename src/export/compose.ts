/**
 * `mlflow-secure export compose`: a docker compose project. Pure: an ExportInput in, the files out.
 *
 * - compose.yaml holds no password. Compose mounts each `secrets:` file at /run/secrets/<name>
 *   as a bind mount that keeps the host file's owner and mode (0600 here): compose ignores
 *   uid/gid/mode outside swarm (docker/compose#9648), so only root inside a container reads
 *   them. Each service reads its secret as root at start: PostgreSQL's entrypoint reads
 *   POSTGRES_PASSWORD_FILE before it drops to the postgres user, MinIO reads
 *   MINIO_ROOT_PASSWORD_FILE, MLflow's image runs as root and a two-line entrypoint reads the
 *   file into MLFLOW_BACKEND_STORE_URI, and nginx's master copies the password file where its
 *   workers (user nginx) read it on every request.
 * - MLflow is reachable only through nginx: nginx and MLflow share one network namespace, and
 *   MLflow listens on its loopback, 127.0.0.1, which no other container and no host process enters
 *   (a container's address on a bridge network is reachable from the host, by every local account,
 *   and from every container on that network). The namespace belongs to a third service, as a
 *   Kubernetes pod's belongs to its pause container: Docker gives a restarted or re-created
 *   container a new namespace, and one that joined the old namespace keeps the dead one, so
 *   neither nginx (re-created for every new user list) nor MLflow (restarted when it fails) may
 *   own it. The holder runs `pause`, which does nothing and so never fails; it is on the project
 *   network (nginx and MLflow share its resolv.conf and Docker's DNS, and reach `postgres` by
 *   name), and it publishes nginx's port. Its restart policy only brings it back with the daemon
 *   (a reboot); Docker releases with moby/moby#50327 (2025) start it before the containers that
 *   join it, older ones may need `docker compose up -d` once after a reboot.
 * - `$` is compose's interpolation character: every `$` meant for a shell is written `$$`.
 * - Only what docker-compose 1.29 (Debian 12's) and Compose v2 both read: no top-level `name`,
 *   no `configs` (1.29 ignores them outside swarm), nginx.conf as a read-only bind mount.
 */
import {
  containerNginxConf,
  CONTAINER,
  DATABASE,
  FRONT_NAME,
  IMAGES,
  MINIO_USER,
  mlflowCommand,
  mlflowEnvironment,
  mlflowImage,
  PORTS,
  postgresUri,
  type ExportFile,
  type ExportInput,
} from './stack.js';
import { listenAddress } from '../nginx/conf.js';
import { commented, renderYaml, type YamlValue } from './yaml-files.js';

export const COMPOSE_FILE = 'compose.yaml';
export const COMPOSE_SECRETS_DIR = 'secrets';

/** Every file a compose export can write: a re-export removes those it no longer writes. */
export const COMPOSE_FILES = [
  COMPOSE_FILE,
  'nginx.conf',
  'secrets/htpasswd',
  'secrets/postgres_password',
  'secrets/minio_password',
] as const;

const SERVICE = {
  /** Holds nginx's and MLflow's network namespace; other containers of the project reach nginx by this name. */
  holder: FRONT_NAME,
  nginx: 'nginx',
  mlflow: 'mlflow',
  postgres: 'postgres',
  minio: 'minio',
  bucket: 'minio-bucket',
} as const;

/** Compose interpolates `$VAR` and `${VAR}` everywhere; `$$` is a literal `$`. */
export function escapeCompose(text: string): string {
  return text.replace(/\$/g, '$$$$');
}

/** `sh -c <script> <name> <command...>`: the script ends in `exec "$@"`, so the command runs as PID 1. */
function shellEntrypoint(lines: string[]): string[] {
  return ['/bin/sh', '-c', escapeCompose(['set -e', ...lines, 'exec "$@"'].join('\n')), 'mlflow-secure-entrypoint'];
}

function secretPath(name: string): string {
  return `/run/secrets/${name}`;
}

function healthcheck(test: string[], o: { interval: string; startPeriod: string; retries?: number }): YamlValue {
  return { test, interval: o.interval, timeout: '10s', retries: o.retries ?? 5, start_period: o.startPeriod };
}

export function renderCompose(input: ExportInput): ExportFile[] {
  if (input.s3 && input.minioPassword === undefined) throw new Error('--s3 needs a MinIO password');
  const nginxConf = containerNginxConf(input);
  const mlflowSecrets = ['postgres_password', ...(input.s3 ? ['minio_password'] : [])];

  const services: Record<string, YamlValue> = {
    [SERVICE.postgres]: {
      image: IMAGES.postgres,
      restart: 'unless-stopped',
      environment: {
        POSTGRES_USER: DATABASE.user,
        POSTGRES_DB: DATABASE.name,
        POSTGRES_PASSWORD_FILE: secretPath('postgres_password'),
      },
      secrets: ['postgres_password'],
      volumes: [`postgres-data:${CONTAINER.postgresData}`],
      healthcheck: healthcheck(['CMD', 'pg_isready', '-U', DATABASE.user, '-d', DATABASE.name], {
        interval: '5s',
        startPeriod: '30s',
        retries: 12,
      }),
    },
  };
  if (input.s3) {
    services[SERVICE.minio] = {
      image: IMAGES.minio,
      restart: 'unless-stopped',
      command: ['server', CONTAINER.minioData],
      // MinIO reads <name> from /run/secrets/<name> (cmd/common-main.go, readFromSecret).
      environment: { MINIO_ROOT_USER: MINIO_USER, MINIO_ROOT_PASSWORD_FILE: 'minio_password' },
      secrets: ['minio_password'],
      volumes: [`minio-data:${CONTAINER.minioData}`],
      healthcheck: healthcheck(['CMD', 'mc', 'ready', 'local'], { interval: '5s', startPeriod: '30s' }),
    };
    services[SERVICE.bucket] = commented('Runs once: creates the artifact bucket when missing, then exits.', {
      image: mlflowImage(input.mlflowVersion),
      entrypoint: shellEntrypoint([
        `AWS_SECRET_ACCESS_KEY="$(cat ${secretPath('minio_password')})"`,
        'export AWS_SECRET_ACCESS_KEY',
      ]),
      command: ['python', '-c', input.scripts.createBucket],
      environment: mlflowEnvironment(input, SERVICE.minio),
      secrets: ['minio_password'],
      depends_on: { [SERVICE.minio]: { condition: 'service_healthy' } },
    });
  }
  services[SERVICE.holder] = commented(
    "Holds nginx's and MLflow's network namespace and publishes nginx's port; runs nothing else, so it never fails.",
    {
      image: IMAGES.pause,
      restart: 'unless-stopped',
      ports: [`${listenAddress(input.host, input.port)}:${PORTS.nginx}`],
    },
  );
  const inNamespace = `service:${SERVICE.holder}`;
  services[SERVICE.mlflow] = {
    image: mlflowImage(input.mlflowVersion),
    restart: 'unless-stopped',
    entrypoint: commented(
      'The database password goes from its secret file into the store URIs here, at start: it is in no other file.',
      shellEntrypoint([
        `db_password="$(cat ${secretPath('postgres_password')})"`,
        `MLFLOW_BACKEND_STORE_URI="${postgresUri(SERVICE.postgres, '${db_password}')}"`,
        'MLFLOW_REGISTRY_STORE_URI="$MLFLOW_BACKEND_STORE_URI"',
        'export MLFLOW_BACKEND_STORE_URI MLFLOW_REGISTRY_STORE_URI',
        ...(input.s3
          ? [`AWS_SECRET_ACCESS_KEY="$(cat ${secretPath('minio_password')})"`, 'export AWS_SECRET_ACCESS_KEY']
          : []),
      ]),
    ),
    command: mlflowCommand(input),
    environment: mlflowEnvironment(input, SERVICE.minio),
    secrets: mlflowSecrets,
    network_mode: commented('MLflow listens on the loopback of this namespace, which only nginx shares.', inNamespace),
    ...(input.s3 ? {} : { volumes: [`mlflow-artifacts:${CONTAINER.artifacts}`] }),
    depends_on: {
      [SERVICE.holder]: { condition: 'service_started' },
      [SERVICE.postgres]: { condition: 'service_healthy' },
      ...(input.s3 ? { [SERVICE.bucket]: { condition: 'service_completed_successfully' } } : {}),
    },
    healthcheck: healthcheck(['CMD', 'python', '-c', input.scripts.health], { interval: '10s', startPeriod: '120s' }),
  };
  services[SERVICE.nginx] = {
    image: IMAGES.nginx,
    restart: 'unless-stopped',
    entrypoint: commented(
      "nginx's workers (user nginx) read the password file on every request; the secret's bind mount is root's, owner-only.",
      shellEntrypoint([
        `mkdir -p ${CONTAINER.authDir}`,
        `install -m 0440 -o root -g nginx ${secretPath('htpasswd')} ${CONTAINER.htpasswd}`,
      ]),
    ),
    command: ['nginx', '-c', CONTAINER.nginxConf],
    network_mode: inNamespace,
    volumes: [`./nginx.conf:${CONTAINER.nginxConf}:ro`],
    secrets: ['htpasswd'],
    depends_on: {
      [SERVICE.holder]: { condition: 'service_started' },
      [SERVICE.mlflow]: { condition: 'service_healthy' },
    },
    healthcheck: commented(
      'Healthy = MLflow answers through nginx (the probe-only port) and the public port asks for a password (401).',
      healthcheck(
        [
          'CMD-SHELL',
          escapeCompose(
            `curl -fsS -o /dev/null http://127.0.0.1:${PORTS.health}/healthz && test "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:${PORTS.nginx}/)" = 401`,
          ),
        ],
        { interval: '10s', startPeriod: '30s' },
      ),
    ),
  };

  const secrets: Record<string, YamlValue> = {
    htpasswd: { file: `./${COMPOSE_SECRETS_DIR}/htpasswd` },
    postgres_password: { file: `./${COMPOSE_SECRETS_DIR}/postgres_password` },
    ...(input.s3 ? { minio_password: { file: `./${COMPOSE_SECRETS_DIR}/minio_password` } } : {}),
  };
  const volumes: Record<string, YamlValue> = {
    'postgres-data': {},
    ...(input.s3 ? { 'minio-data': {} } : { 'mlflow-artifacts': {} }),
  };

  const url = `http://${input.host.includes(':') ? `[${input.host}]` : input.host}:${input.port}`;
  const header = [
    `Generated by \`mlflow-secure export compose\` (MLflow ${input.mlflowVersion}); rewritten by every export. Do not edit.`,
    `Start: docker compose up -d   then open ${url} (the users of secrets/htpasswd log in)`,
    'Check: docker compose config  (or docker-compose config)',
    'No password is in this file: they are in ./secrets, owner-only (0600).',
  ].join('\n');
  const compose = renderYaml({ services, secrets, volumes }, header);

  return [
    { path: COMPOSE_FILE, content: compose, secret: false },
    { path: 'nginx.conf', content: nginxConf, secret: false },
    { path: `${COMPOSE_SECRETS_DIR}/htpasswd`, content: input.htpasswd, secret: true },
    { path: `${COMPOSE_SECRETS_DIR}/postgres_password`, content: input.postgresPassword, secret: true },
    ...(input.s3
      ? [{ path: `${COMPOSE_SECRETS_DIR}/minio_password`, content: input.minioPassword!, secret: true }]
      : []),
  ];
}
