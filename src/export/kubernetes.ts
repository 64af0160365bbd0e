/**
 * `mlflow-secure export kubernetes`: manifests for `kubectl apply -f <folder>`. Pure: an
 * ExportInput in, the files out.
 *
 * - One Secret holds the password file and the generated store passwords (base64, as the API
 *   wants; its file is owner-only). No other manifest has a password: MLflow's store URI is
 *   assembled by the kubelet from the Secret through a dependent environment variable
 *   (`$(MLFLOW_DB_PASSWORD)`), PostgreSQL and MinIO read theirs from `secretKeyRef`.
 * - nginx.conf is a ConfigMap; the pod template carries its hash, so `kubectl apply` of a
 *   changed config rolls nginx (it reads the file only at start). The password file is a Secret
 *   volume, which the kubelet keeps in sync: nginx re-reads it on every request, so a new user
 *   works after `kubectl apply` of the Secret, without a restart.
 * - MLflow is reachable only through nginx: both run in one pod, MLflow listens on the pod's
 *   loopback (127.0.0.1, which only the pod's own containers share) and has no Service. A Service
 *   or NetworkPolicy would leave it to the cluster: any pod could reach a Service, and a policy
 *   holds only where the CNI enforces policies. The price: a changed nginx.conf restarts MLflow.
 * - Probes. MLflow: its /health on 127.0.0.1, from inside its container (`python -c`: the kubelet's
 *   HTTP probes connect to the pod's address, where MLflow does not listen). nginx: readiness is
 *   GET /healthz on the probe-only port 8081, which answers with MLflow's /health without a
 *   password (a probe cannot send one without putting it in the manifest, and the public port
 *   answers 401 to everything), so the Service sends traffic only to an nginx that reaches MLflow;
 *   liveness is a TCP connect on the public port, so nginx is not restarted while MLflow is down.
 *   Port 8081 is in no Service and serves nothing but /healthz.
 * - enableServiceLinks off: a Service named like `mlflow` would put MLFLOW_PORT=tcp://... into
 *   the pods' environment, a variable `mlflow server` reads as --port (mlflow/utils/cli_args.py).
 * - PostgreSQL is a StatefulSet with its own volume claim; MinIO too, with --s3.
 */
import { createHash } from 'node:crypto';
import {
  BUCKET,
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
import { commented, renderYamlDocuments, type Commented, type YamlValue } from './yaml-files.js';

type Manifest = { [key: string]: YamlValue | undefined };
type Document = Manifest | Commented;

export const SECRET_NAME = 'mlflow-secure';
export const SECRET_FILE = 'secret.yaml';
/** Keys of the Secret's data. */
export const SECRET_KEYS = { htpasswd: 'htpasswd', postgres: 'postgres-password', minio: 'minio-password' } as const;

/**
 * Every file a Kubernetes export can write: a re-export removes those it no longer writes
 * (nginx.yaml held nginx's own Deployment before MLflow moved into its pod).
 */
export const KUBERNETES_FILES = [SECRET_FILE, 'mlflow.yaml', 'nginx.yaml', 'postgres.yaml', 'minio.yaml'] as const;

/**
 * What exports before MLflow moved into nginx's pod created, and `kubectl apply` does not delete:
 * the Service among them reaches MLflow without a password.
 */
export const FORMER_OBJECTS = [
  'deployment/mlflow-secure-nginx',
  'deployment/mlflow-secure-mlflow',
  'service/mlflow-secure-mlflow',
] as const;

/** Names in the namespace; the front door is the Service `mlflow-secure`. */
const NAME = {
  front: FRONT_NAME,
  server: FRONT_NAME,
  nginxConf: 'mlflow-secure-nginx',
  postgres: 'mlflow-secure-postgres',
  minio: 'mlflow-secure-minio',
  artifacts: 'mlflow-secure-artifacts',
} as const;

/** The official nginx image's `nginx` group: the password file is readable by it. */
const NGINX_GID = 101;
/** 0440 as the API wants it (a JSON number, decimal). */
const MODE_0440 = 0o440;

function labels(component: string): Record<string, string> {
  return { 'app.kubernetes.io/name': 'mlflow-secure', 'app.kubernetes.io/component': component };
}

function metadata(name: string, component: string, extra: Manifest = {}): Manifest {
  return { name, labels: labels(component), ...extra };
}

function secretEnv(name: string, key: string): YamlValue {
  return { name, valueFrom: { secretKeyRef: { name: SECRET_NAME, key } } };
}

function env(values: Record<string, string>): YamlValue[] {
  return Object.entries(values).map(([name, value]) => ({ name, value }));
}

function service(
  name: string,
  component: string,
  port: number,
  targetPort: string | number,
  selectComponent = component,
): Manifest {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: metadata(name, component),
    spec: { selector: labels(selectComponent), ports: [{ name: 'http', port, targetPort, protocol: 'TCP' }] },
  };
}

function claim(storage: string): Manifest {
  return { accessModes: ['ReadWriteOnce'], resources: { requests: { storage } } };
}

function podSpec(spec: Manifest): Manifest {
  return { enableServiceLinks: false, ...spec };
}

const base64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

function secret(input: ExportInput): Manifest {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: metadata(SECRET_NAME, 'secrets'),
    type: 'Opaque',
    data: {
      [SECRET_KEYS.htpasswd]: base64(input.htpasswd),
      [SECRET_KEYS.postgres]: base64(input.postgresPassword),
      ...(input.s3 ? { [SECRET_KEYS.minio]: base64(input.minioPassword!) } : {}),
    },
  };
}

function postgres(): Manifest[] {
  const ready = { exec: { command: ['pg_isready', '-U', DATABASE.user, '-d', DATABASE.name] } };
  return [
    service(NAME.postgres, 'postgres', PORTS.postgres, PORTS.postgres),
    {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: metadata(NAME.postgres, 'postgres'),
      spec: {
        serviceName: NAME.postgres,
        replicas: 1,
        selector: { matchLabels: labels('postgres') },
        template: {
          metadata: { labels: labels('postgres') },
          spec: podSpec({
            containers: [
              {
                name: 'postgres',
                image: IMAGES.postgres,
                env: [
                  ...env({ POSTGRES_USER: DATABASE.user, POSTGRES_DB: DATABASE.name }),
                  secretEnv('POSTGRES_PASSWORD', SECRET_KEYS.postgres),
                  // A fresh volume has lost+found at its root, and initdb wants an empty folder.
                  ...env({ PGDATA: `${CONTAINER.postgresData}/pgdata` }),
                ],
                ports: [{ name: 'postgres', containerPort: PORTS.postgres }],
                readinessProbe: { ...ready, periodSeconds: 5, timeoutSeconds: 5 },
                livenessProbe: { ...ready, initialDelaySeconds: 30, periodSeconds: 20, timeoutSeconds: 5 },
                volumeMounts: [{ name: 'data', mountPath: CONTAINER.postgresData }],
              },
            ],
          }),
        },
        volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: claim('10Gi') }],
      },
    },
  ];
}

function minio(): Manifest[] {
  const probe = (path: string) => ({ httpGet: { path, port: PORTS.minio } });
  return [
    service(NAME.minio, 'minio', PORTS.minio, PORTS.minio),
    {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: metadata(NAME.minio, 'minio'),
      spec: {
        serviceName: NAME.minio,
        replicas: 1,
        selector: { matchLabels: labels('minio') },
        template: {
          metadata: { labels: labels('minio') },
          spec: podSpec({
            containers: [
              {
                name: 'minio',
                image: IMAGES.minio,
                args: ['server', CONTAINER.minioData],
                env: [...env({ MINIO_ROOT_USER: MINIO_USER }), secretEnv('MINIO_ROOT_PASSWORD', SECRET_KEYS.minio)],
                ports: [{ name: 's3', containerPort: PORTS.minio }],
                readinessProbe: { ...probe('/minio/health/ready'), periodSeconds: 10, timeoutSeconds: 5 },
                livenessProbe: {
                  ...probe('/minio/health/live'),
                  initialDelaySeconds: 30,
                  periodSeconds: 20,
                  timeoutSeconds: 5,
                },
                volumeMounts: [{ name: 'data', mountPath: CONTAINER.minioData }],
              },
            ],
          }),
        },
        volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: claim('50Gi') }],
      },
    },
  ];
}

/** nginx in front, MLflow beside it on the pod's loopback: one pod, one Service (nginx's public port). */
function server(input: ExportInput, conf: string): Document[] {
  const health = { exec: { command: ['python', '-c', input.scripts.health] } };
  const s3Env = input.s3 ? [secretEnv('AWS_SECRET_ACCESS_KEY', SECRET_KEYS.minio)] : [];
  const storeUri = postgresUri(NAME.postgres, '$(MLFLOW_DB_PASSWORD)');
  const mlflowContainer: Manifest = {
    name: 'mlflow',
    image: mlflowImage(input.mlflowVersion),
    command: mlflowCommand(input),
    env: [
      ...env(mlflowEnvironment(input, NAME.minio)),
      ...s3Env,
      secretEnv('MLFLOW_DB_PASSWORD', SECRET_KEYS.postgres),
      commented('$(MLFLOW_DB_PASSWORD) is expanded by the kubelet from the variable above.', {
        name: 'MLFLOW_BACKEND_STORE_URI',
        value: storeUri,
      }),
      { name: 'MLFLOW_REGISTRY_STORE_URI', value: storeUri },
    ],
    // The first start creates the database schema: give it minutes before liveness counts.
    startupProbe: { ...health, periodSeconds: 5, timeoutSeconds: 5, failureThreshold: 60 },
    readinessProbe: { ...health, periodSeconds: 10, timeoutSeconds: 5 },
    livenessProbe: { ...health, periodSeconds: 20, timeoutSeconds: 5, failureThreshold: 3 },
    volumeMounts: input.s3 ? undefined : [{ name: 'artifacts', mountPath: CONTAINER.artifacts }],
  };
  const nginxContainer: Manifest = {
    name: 'nginx',
    image: IMAGES.nginx,
    command: ['nginx', '-c', CONTAINER.nginxConf],
    ports: [
      { name: 'http', containerPort: PORTS.nginx },
      { name: 'health', containerPort: PORTS.health },
    ],
    readinessProbe: { httpGet: { path: '/healthz', port: 'health' }, periodSeconds: 10, timeoutSeconds: 5 },
    livenessProbe: { tcpSocket: { port: 'http' }, initialDelaySeconds: 10, periodSeconds: 20, timeoutSeconds: 5 },
    volumeMounts: [
      { name: 'config', mountPath: CONTAINER.nginxConfDir, readOnly: true },
      { name: 'auth', mountPath: CONTAINER.authDir, readOnly: true },
    ],
  };
  return [
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: metadata(NAME.nginxConf, 'server'), data: { 'nginx.conf': conf } },
    commented(
      'The front door, and the only way to MLflow: point an Ingress or a LoadBalancer here, or `kubectl port-forward`.',
      service(NAME.front, 'server', input.port, 'http'),
    ),
    ...(input.s3
      ? []
      : [
          {
            apiVersion: 'v1',
            kind: 'PersistentVolumeClaim',
            metadata: metadata(NAME.artifacts, 'server'),
            spec: claim('50Gi'),
          },
        ]),
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: metadata(NAME.server, 'server'),
      spec: {
        replicas: 1,
        // The artifact volume is ReadWriteOnce: the old pod lets go before the new one starts.
        strategy: input.s3 ? undefined : { type: 'Recreate' },
        selector: { matchLabels: labels('server') },
        template: {
          metadata: {
            labels: labels('server'),
            annotations: { 'mlflow-secure/nginx-conf-sha256': createHash('sha256').update(conf).digest('hex') },
          },
          spec: podSpec({
            // The Secret volume's files get this group: nginx's workers (uid/gid 101) read the password
            // file. OnRootMismatch: the artifact volume is not re-chowned file by file at every start.
            securityContext: { fsGroup: NGINX_GID, fsGroupChangePolicy: 'OnRootMismatch' },
            initContainers: input.s3
              ? [
                  commented(`Creates the bucket ${BUCKET} when missing (MLflow does not).`, {
                    name: 'create-bucket',
                    image: mlflowImage(input.mlflowVersion),
                    command: ['python', '-c', input.scripts.createBucket],
                    env: [...env(mlflowEnvironment(input, NAME.minio)), ...s3Env],
                  }),
                ]
              : undefined,
            containers: [
              nginxContainer,
              commented('Listens on 127.0.0.1 only: reached by the nginx beside it, by nothing else.', mlflowContainer),
            ],
            volumes: [
              { name: 'config', configMap: { name: NAME.nginxConf } },
              {
                name: 'auth',
                secret: {
                  secretName: SECRET_NAME,
                  items: [{ key: SECRET_KEYS.htpasswd, path: 'htpasswd' }],
                  defaultMode: MODE_0440,
                },
              },
              ...(input.s3 ? [] : [{ name: 'artifacts', persistentVolumeClaim: { claimName: NAME.artifacts } }]),
            ],
          }),
        },
      },
    },
  ];
}

export function renderKubernetes(input: ExportInput): ExportFile[] {
  if (input.s3 && input.minioPassword === undefined) throw new Error('--s3 needs a MinIO password');
  const header = (what: string) =>
    [
      `Generated by \`mlflow-secure export kubernetes\` (MLflow ${input.mlflowVersion}): ${what}. Rewritten by every export.`,
      'Apply the folder: kubectl apply -f <this folder>   Check: kubernetes-validate --strict <file>',
    ].join('\n');
  const file = (path: string, what: string, docs: Document[], secretFile = false): ExportFile => ({
    path,
    content: renderYamlDocuments(docs, header(what)),
    secret: secretFile,
  });
  return [
    file(
      SECRET_FILE,
      'the password file and the store passwords, base64 (keep this file owner-only)',
      [secret(input)],
      true,
    ),
    file(
      'mlflow.yaml',
      'nginx.conf, the front Service and the Deployment: nginx in front of MLflow, in one pod',
      server(input, containerNginxConf(input)),
    ),
    file('postgres.yaml', 'PostgreSQL, the tracking and registry store', postgres()),
    ...(input.s3 ? [file('minio.yaml', 'MinIO, the artifact store', minio())] : []),
  ];
}
