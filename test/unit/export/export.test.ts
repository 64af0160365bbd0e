import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import yaml from 'js-yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { generateStoreSecret, pinnedMlflowVersion, resolveExportOptions } from '../../../src/commands/export.js';
import { escapeCompose, renderCompose } from '../../../src/export/compose.js';
import { renderKubernetes, SECRET_NAME } from '../../../src/export/kubernetes.js';
import { containerScripts, HEALTH_PY } from '../../../src/export/container-scripts.js';
import { containerNginxConf, IMAGES, mlflowImage, STORE_SECRET, type ExportInput } from '../../../src/export/stack.js';
import { renderNginxConf } from '../../../src/nginx/conf.js';
import { allowedHostsFor, corsOriginsFor, mlflowServerOptions, preflightOriginsFor } from '../../../src/stack/plan.js';
import { userErrorFrom } from '../user-error.js';

const PG = 'pgPASSWORD_aaaaaaaaaaaaaaaaaaaaaa';
const MINIO = 'minioPASSWORD-bbbbbbbbbbbbbbbbbbb';
const HTPASSWD =
  'alice:$2b$05$abcdefghijklmnopqrstuu0123456789ABCDEFGHIJKLMNOPQRSTU\nbob:$apr1$abcdefgh$0123456789abcdefghijkl\n';
const root = path.resolve(import.meta.dirname, '..', '..', '..');
const version = pinnedMlflowVersion(readFileSync(path.join(root, 'requirements.txt'), 'utf8'));

function input(o: Partial<ExportInput> = {}): ExportInput {
  return {
    target: 'compose',
    mlflowVersion: version,
    host: '127.0.0.1',
    port: 5000,
    serverNames: ['mlflow.example.com'],
    nginxWorkers: 2,
    mlflowWorkers: 1,
    s3: false,
    htpasswd: HTPASSWD,
    postgresPassword: PG,
    minioPassword: o.s3 ? MINIO : undefined,
    scripts: containerScripts(),
    ...o,
  };
}

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function files(
  list: { path: string; content: string; secret: boolean }[],
): Map<string, { content: string; secret: boolean }> {
  return new Map(list.map((f) => [f.path, f]));
}

/** The text of the block that starts with `head` (e.g. `        location / {`), up to its closing brace. */
function block(conf: string, head: string): string {
  const start = conf.indexOf(head);
  expect(start, head).toBeGreaterThanOrEqual(0);
  const indent = head.length - head.trimStart().length;
  const end = conf.indexOf(`\n${' '.repeat(indent)}}`, start);
  return conf.slice(start, end + indent + 2);
}

/** The value of `flag` in an argv. */
function flagValue(argv: string[], flag: string): string[] {
  const i = argv.indexOf(flag);
  expect(i, flag).toBeGreaterThan(0);
  return argv[i + 1]!.split(',');
}

/**
 * MLflow's own checks (mlflow/server/security_utils.py, from ./.venv) on MLflow's argv: which Host
 * headers pass --allowed-hosts, and which Origins of a POST to the API pass --cors-allowed-origins.
 */
function mlflowAdmits(
  argv: string[],
  o: { hosts: string[]; origins: string[] },
): { hosts: string[]; origins: string[] } {
  const script = [
    'import json, sys',
    'from mlflow.server.security_utils import is_allowed_host_header, should_block_cors_request',
    'a = json.load(sys.stdin)',
    "print(json.dumps({'hosts': [h for h in a['hosts'] if is_allowed_host_header(a['allowed'], h)],",
    "  'origins': [x for x in a['origins'] if not should_block_cors_request(x, 'POST', a['cors'])]}))",
  ].join('\n');
  const stdin = JSON.stringify({
    ...o,
    allowed: flagValue(argv, '--allowed-hosts'),
    cors: flagValue(argv, '--cors-allowed-origins'),
  });
  const out = execFileSync(path.join(root, '.venv', 'bin', 'python'), ['-I', '-c', script], {
    input: stdin,
    encoding: 'utf8',
    cwd: os.tmpdir(),
  });
  return JSON.parse(out) as { hosts: string[]; origins: string[] };
}

const upConf = (o: { preflightOrigins?: string[] } = {}) =>
  renderNginxConf({
    listenHost: '127.0.0.1',
    listenPort: 5000,
    serverNames: ['mlflow.example.com'],
    upstream: 'unix:/home/ana/.mlflow-secure/mlflow.sock',
    workerProcesses: 2,
    realm: 'MLflow',
    ...o,
    paths: {
      pid: '/s/pid',
      errorLog: '/s/e',
      accessLog: '/s/a',
      htpasswd: '/s/htpasswd',
      clientBodyTemp: '/s/1',
      proxyTemp: '/s/2',
      fastcgiTemp: '/s/3',
      uwsgiTemp: '/s/4',
      scgiTemp: '/s/5',
    },
  });

describe('the nginx.conf an export writes', () => {
  const conf = containerNginxConf(input());

  it("keeps up's public server: the same proxy location, auth for the whole server", () => {
    expect(block(conf, '        location / {')).toBe(block(upConf(), '        location / {'));
    const server = block(conf, '    server {');
    expect(server).toContain('auth_basic $mlflow_secure_auth;');
    expect(server).toContain('auth_basic_user_file "/etc/nginx/auth/htpasswd";');
    expect(server).toContain('client_max_body_size 0;');
    // `location /`, and the signed-in user's answer (users/current) as up has it.
    expect(server.match(/^\s*location [^{]+/gm)?.map((l) => l.trim())).toEqual([
      'location /',
      'location = /ajax-api/2.0/mlflow/users/current',
      'location = /api/2.0/mlflow/users/current',
      'location @mlflow_secure_current_user',
    ]);
  });

  it("lets CORS preflights of the stack's own pages through to MLflow as up does (browsers send no password there)", () => {
    const names = { host: '127.0.0.1', serverNames: ['mlflow.example.com'] };
    const origins = preflightOriginsFor(names, 5000);
    expect(origins).toContain('http://mlflow.example.com:5000');
    expect(origins).toContain('http://localhost:5000');
    // The same map up renders for these origins, and auth_basic reads it.
    const upText = upConf({ preflightOrigins: origins });
    const maps = (t: string) => t.slice(t.indexOf('    map $http_origin'), t.indexOf('    upstream mlflow {'));
    expect(maps(conf)).toBe(maps(upText));
    expect(maps(conf)).toContain('        "http://mlflow.example.com:5000" 1;');
    expect(block(conf, '    server {')).toContain('auth_basic $mlflow_secure_auth;');
    // Kubernetes: the Service's port, where port-forward's loopback URLs land too.
    const k8s = containerNginxConf(input({ target: 'kubernetes', host: '0.0.0.0', port: 80 }));
    expect(maps(k8s)).toContain('        "http://mlflow.example.com" 1;');
    expect(maps(k8s)).toContain('        "http://127.0.0.1" 1;');
  });

  it('reaches MLflow on the loopback it shares with it and listens on every interface of its container', () => {
    expect(conf).toContain('        server 127.0.0.1:5000;');
    expect(containerNginxConf(input({ target: 'kubernetes' }))).toContain('        server 127.0.0.1:5000;');
    expect(conf).toContain('        listen 0.0.0.0:8080;');
    expect(conf.split('\n')[1]).toBe('user nginx;');
    expect(conf.split('\n')[0]).toBe(
      '# Generated by mlflow-secure; rewritten on every `mlflow-secure export compose`. Do not edit.',
    );
  });

  it("has a probe-only server: /healthz answers with MLflow's /health without a password, every other path is denied", () => {
    const probe = conf.slice(conf.indexOf('    server {', conf.indexOf('listen 0.0.0.0:8080') + 1));
    expect(probe).toContain('listen 0.0.0.0:8081;');
    expect(probe).not.toContain('auth_basic');
    expect(block(probe, '        location = /healthz {')).toContain('proxy_pass http://mlflow/health;');
    expect(block(probe, '        location = /healthz {')).toContain('proxy_set_header Host localhost;');
    expect(block(probe, '        location / {')).toContain('deny all;');
    expect(probe.match(/^\s*location /gm)).toHaveLength(2);
  });

  it('has `return` only in the named location reached after auth, includes nothing, balances its braces', () => {
    // A `return` in a location answers before auth_basic; in a named location, reached only by
    // try_files (content phase, after auth), it answers signed-in requests only.
    const named = block(conf, '        location @mlflow_secure_current_user {');
    expect(named).toMatch(/\breturn 200 /);
    expect(conf.replace(named, '')).not.toMatch(/\breturn\s/);
    expect(conf).not.toMatch(/\binclude\b/);
    expect(conf.split('{').length).toBe(conf.split('}').length);
  });
});

describe('renderCompose', () => {
  const out = files(renderCompose(input()));
  const text = out.get('compose.yaml')!.content;
  const compose = yaml.load(text) as Obj;
  const s3 = files(renderCompose(input({ s3: true })));
  const s3Compose = yaml.load(s3.get('compose.yaml')!.content) as Obj;
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('writes compose.yaml, nginx.conf and the secret files (only those flagged secret)', () => {
    expect([...out.keys()]).toEqual(['compose.yaml', 'nginx.conf', 'secrets/htpasswd', 'secrets/postgres_password']);
    expect([...out].filter(([, f]) => f.secret).map(([p]) => p)).toEqual([
      'secrets/htpasswd',
      'secrets/postgres_password',
    ]);
    expect(out.get('secrets/htpasswd')!.content).toBe(HTPASSWD);
    expect(out.get('secrets/postgres_password')!.content).toBe(PG);
    expect(out.get('nginx.conf')!.content).toBe(containerNginxConf(input()));
    expect([...s3.keys()]).toContain('secrets/minio_password');
  });

  it('has no password outside the secret files', () => {
    for (const [p, f] of [...out, ...s3]) {
      if (f.secret) continue;
      for (const secret of [PG, MINIO]) expect(f.content, p).not.toContain(secret);
    }
  });

  it('writes every `$` meant for a shell as `$$`, so compose interpolates nothing', () => {
    for (const t of [text, s3.get('compose.yaml')!.content]) expect(t.replace(/\$\$/g, '')).not.toContain('$');
    expect(escapeCompose('a $b ${c} $$')).toBe('a $$b $${c} $$$$');
  });

  it('runs PostgreSQL with its password from the secret file, MLflow after it is healthy', () => {
    expect(Object.keys(compose.services)).toEqual(['postgres', 'mlflow-secure', 'mlflow', 'nginx']);
    expect(compose.services.postgres.environment).toEqual({
      POSTGRES_USER: 'mlflow',
      POSTGRES_DB: 'mlflow',
      POSTGRES_PASSWORD_FILE: '/run/secrets/postgres_password',
    });
    expect(compose.secrets).toEqual({
      htpasswd: { file: './secrets/htpasswd' },
      postgres_password: { file: './secrets/postgres_password' },
    });
    expect(compose.services.mlflow.depends_on).toEqual({
      'mlflow-secure': { condition: 'service_started' },
      postgres: { condition: 'service_healthy' },
    });
  });

  it("keeps MLflow unreachable but through nginx: MLflow on loopback, in a namespace it shares with nginx alone, only nginx's port published", () => {
    for (const c of [compose, s3Compose]) {
      const mlflow = c.services.mlflow as Obj;
      expect(mlflow.command[mlflow.command.indexOf('--host') + 1]).toBe('127.0.0.1');
      // Exactly nginx and MLflow join the holder's namespace, which publishes nginx's port.
      const joined = Object.entries(c.services as Record<string, Obj>)
        .filter(([, service]) => service.network_mode !== undefined)
        .map(([name, service]) => `${name} ${service.network_mode}`);
      expect(joined).toEqual(['mlflow service:mlflow-secure', 'nginx service:mlflow-secure']);
      expect(c.services['mlflow-secure'].ports).toEqual(['127.0.0.1:5000:8080']);
      for (const [name, service] of Object.entries(c.services as Record<string, Obj>)) {
        if (name !== 'mlflow-secure') expect(service.ports, name).toBeUndefined();
        expect(service.networks, name).toBeUndefined();
      }
      expect(c.services.mlflow.healthcheck.test).toEqual(['CMD', 'python', '-c', HEALTH_PY]);
    }
  });

  it('holds the namespace in a pause container, so nginx and MLflow can each restart or be re-created alone', () => {
    // Docker gives a restarted container a new namespace; one that joined the old one keeps the
    // dead one. The holder runs nothing that can fail, so it never restarts on its own.
    for (const c of [compose, s3Compose]) {
      const holder = c.services['mlflow-secure'] as Obj;
      expect(holder.image).toBe(IMAGES.pause);
      expect(IMAGES.pause).toMatch(/^registry\.k8s\.io\/pause:\d+\.\d+(\.\d+)?$/);
      expect(Object.keys(holder).sort()).toEqual(['image', 'ports', 'restart']);
      expect(holder.restart).toBe('unless-stopped');
      // Neither nginx nor MLflow owns the namespace the other is in.
      expect(c.services.mlflow.network_mode).not.toBe('service:nginx');
      expect(c.services.nginx.network_mode).not.toBe('service:mlflow');
      expect(c.services.mlflow.depends_on['mlflow-secure']).toEqual({ condition: 'service_started' });
      expect(c.services.nginx.depends_on).toEqual({
        'mlflow-secure': { condition: 'service_started' },
        mlflow: { condition: 'service_healthy' },
      });
    }
  });

  it("lets containers of the project reach nginx by the holder's service name: MLflow admits its Host and Origin, nothing wider", () => {
    const argv = compose.services.mlflow.command as string[];
    const hosts = ['mlflow-secure', 'mlflow-secure:8080', 'mlflow.example.com:5000', 'localhost:5000'];
    const refused = ['mlflow-secure.attacker.example', 'mlflow-secure.attacker.example:8080', '10.attacker.example'];
    const origins = ['http://mlflow-secure:8080', 'http://mlflow.example.com:5000'];
    expect(
      mlflowAdmits(argv, { hosts: [...hosts, ...refused], origins: [...origins, 'http://attacker.example'] }),
    ).toEqual({
      hosts,
      origins,
    });
  });

  it("runs the official MLflow image of the pinned version with up's options", () => {
    expect(compose.services.mlflow.image).toBe(mlflowImage(version));
    expect(compose.services.mlflow.image).toMatch(/^ghcr\.io\/mlflow\/mlflow:v\d+\.\d+\.\d+-full$/);
    const names = { host: '127.0.0.1', serverNames: ['mlflow.example.com'] };
    // Besides up's names: the holder's service name, on nginx's port inside the project network.
    const internal = { host: '0.0.0.0', serverNames: ['mlflow-secure'] };
    const options = mlflowServerOptions({
      host: '127.0.0.1',
      port: 5000,
      allowedHosts: allowedHostsFor({ ...names, serverNames: [...names.serverNames, 'mlflow-secure'] }),
      corsOrigins: [...corsOriginsFor(names, 5000), ...corsOriginsFor(internal, 8080)],
    });
    expect(compose.services.mlflow.command).toEqual(['mlflow', 'server', ...options, '--workers', '1']);
    expect(compose.services.mlflow.command).toContain('--serve-artifacts');
    expect(compose.services.mlflow.environment).toMatchObject({
      MLFLOW_SERVER_ENABLE_JOB_EXECUTION: 'false',
      MLFLOW_ARTIFACTS_DESTINATION: '/mlartifacts',
    });
  });

  /** The entrypoint as the container runs it: compose turns `$$` into `$`; /run/secrets moved to a temp folder. */
  function runEntrypoint(service: Obj, secrets: Record<string, string>, print: string): string {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'export-unit-'));
    dirs.push(dir);
    for (const [name, value] of Object.entries(secrets)) writeFileSync(path.join(dir, name), value, { mode: 0o600 });
    const [sh, flag, script, name] = service.entrypoint as string[];
    const local = (script as string).replaceAll('$$', '$').replaceAll('/run/secrets/', `${dir}/`);
    return execFileSync(sh!, [flag!, local, name!, 'sh', '-c', print], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH },
    });
  }

  it("builds MLflow's store URIs from the secret file at start, with /bin/sh", () => {
    const printed = runEntrypoint(
      compose.services.mlflow,
      { postgres_password: PG },
      'echo "$MLFLOW_BACKEND_STORE_URI|$MLFLOW_REGISTRY_STORE_URI"',
    );
    const uri = `postgresql://mlflow:${PG}@postgres:5432/mlflow`;
    expect(printed.trim()).toBe(`${uri}|${uri}`);
    const withS3 = runEntrypoint(
      s3Compose.services.mlflow,
      { postgres_password: PG, minio_password: MINIO },
      'echo "$AWS_SECRET_ACCESS_KEY"',
    );
    expect(withS3.trim()).toBe(MINIO);
  });

  it('stops before MLflow when the secret file cannot be read (set -e)', () => {
    expect(() => runEntrypoint(compose.services.mlflow, {}, 'echo started')).toThrow();
  });

  it('copies the password file where nginx workers read it, and checks health through the probe port and a 401 on the public one', () => {
    const [, , script] = compose.services.nginx.entrypoint as string[];
    expect(script).toContain('install -m 0440 -o root -g nginx /run/secrets/htpasswd /etc/nginx/auth/htpasswd');
    expect(compose.services.nginx.command).toEqual(['nginx', '-c', '/etc/nginx/mlflow-secure/nginx.conf']);
    expect(compose.services.nginx.volumes).toEqual(['./nginx.conf:/etc/nginx/mlflow-secure/nginx.conf:ro']);
    const [kind, check] = compose.services.nginx.healthcheck.test as string[];
    expect(kind).toBe('CMD-SHELL');
    expect(check).toContain('http://127.0.0.1:8081/healthz');
    expect(check).toContain('= 401');
    // The shell accepts it once compose has turned `$$` into `$`.
    execFileSync('/bin/sh', ['-n', '-c', check!.replaceAll('$$', '$')]);
  });

  it('publishes on the --host and --port given, IPv6 in brackets', () => {
    const c = yaml.load(renderCompose(input({ host: '::1', port: 8443 }))[0]!.content) as Obj;
    expect(c.services['mlflow-secure'].ports).toEqual(['[::1]:8443:8080']);
  });

  it('with --s3: MinIO with its password from a secret, a one-shot bucket creator, MLflow on s3://mlflow', () => {
    expect(Object.keys(s3Compose.services)).toEqual([
      'postgres',
      'minio',
      'minio-bucket',
      'mlflow-secure',
      'mlflow',
      'nginx',
    ]);
    expect(s3Compose.services.minio.environment).toEqual({
      MINIO_ROOT_USER: 'mlflow',
      MINIO_ROOT_PASSWORD_FILE: 'minio_password',
    });
    expect(s3Compose.services.mlflow.environment).toMatchObject({
      MLFLOW_ARTIFACTS_DESTINATION: 's3://mlflow',
      MLFLOW_S3_ENDPOINT_URL: 'http://minio:9000',
      AWS_ACCESS_KEY_ID: 'mlflow',
    });
    expect(s3Compose.services.mlflow.depends_on['minio-bucket']).toEqual({
      condition: 'service_completed_successfully',
    });
    expect(s3Compose.services.mlflow.volumes).toBeUndefined();
    expect(Object.keys(s3Compose.volumes)).toEqual(['postgres-data', 'minio-data']);
  });

  it('renders the whole compose.yaml', () => {
    expect(text).toMatchSnapshot();
  });
});

describe('renderKubernetes', () => {
  const out = files(renderKubernetes(input({ target: 'kubernetes', host: '0.0.0.0' })));
  const docs = (file: string, o = out) => yaml.loadAll(o.get(file)!.content) as Obj[];
  const all = () => [...out.keys()].flatMap((f) => docs(f));
  const find = (kind: string, name: string, list = all()) =>
    list.find((d) => d.kind === kind && d.metadata.name === name)!;
  const s3 = files(renderKubernetes(input({ target: 'kubernetes', host: '0.0.0.0', s3: true })));

  const server = (list = all()) => find('Deployment', 'mlflow-secure', list).spec.template;
  const container = (name: string, list = all()) =>
    (server(list).spec.containers as Obj[]).find((c) => c.name === name)!;

  it('writes the Secret (owner-only) apart from the other manifests', () => {
    expect([...out.keys()]).toEqual(['secret.yaml', 'mlflow.yaml', 'postgres.yaml']);
    expect([...out].filter(([, f]) => f.secret).map(([p]) => p)).toEqual(['secret.yaml']);
    expect([...s3.keys()]).toEqual(['secret.yaml', 'mlflow.yaml', 'postgres.yaml', 'minio.yaml']);
    expect(all().map((d) => `${d.kind}/${d.metadata.name}`)).toEqual([
      'Secret/mlflow-secure',
      'ConfigMap/mlflow-secure-nginx',
      'Service/mlflow-secure',
      'PersistentVolumeClaim/mlflow-secure-artifacts',
      'Deployment/mlflow-secure',
      'Service/mlflow-secure-postgres',
      'StatefulSet/mlflow-secure-postgres',
    ]);
  });

  it("keeps MLflow unreachable but through nginx: in nginx's pod on 127.0.0.1, no Service of its own, no port", () => {
    for (const list of [all(), [...s3.keys()].flatMap((f) => docs(f, s3))]) {
      // Whatever the names: no Service selects a pod whose MLflow container it could reach.
      const pods = list.filter((d) => ['Deployment', 'StatefulSet'].includes(d.kind));
      for (const svc of list.filter((d) => d.kind === 'Service')) {
        const selector = Object.entries(svc.spec.selector as Record<string, string>);
        for (const pod of pods.filter((p) =>
          selector.every(([k, v]) => (p.spec.template.metadata.labels as Record<string, string>)[k] === v),
        )) {
          const images = (pod.spec.template.spec.containers as Obj[]).map((c) => c.image as string);
          if (images.some((i) => i.includes('mlflow/mlflow')))
            expect(`${svc.metadata.name} -> ${svc.spec.ports.map((p: Obj) => p.targetPort).join(',')}`).toBe(
              'mlflow-secure -> http',
            );
        }
      }
      const mlflow = container('mlflow', list);
      expect(mlflow.command[mlflow.command.indexOf('--host') + 1]).toBe('127.0.0.1');
      expect(mlflow.ports).toBeUndefined();
      expect(container('nginx', list)).toBeDefined();
      const podLabels = server(list).metadata.labels as Record<string, string>;
      // Every Service that selects the pod MLflow runs in targets nginx's public port only.
      const selecting = list.filter(
        (d) =>
          d.kind === 'Service' &&
          Object.entries(d.spec.selector as Record<string, string>).every(([k, v]) => podLabels[k] === v),
      );
      expect(selecting.map((d) => d.metadata.name)).toEqual(['mlflow-secure']);
      expect(selecting[0]!.spec.ports.map((p: Obj) => p.targetPort)).toEqual(['http']);
      expect(container('nginx', list).ports.find((p: Obj) => p.name === 'http').containerPort).toBe(8080);
      // No pod but this one runs MLflow's image as a server.
      const images = list
        .filter((d) => ['Deployment', 'StatefulSet'].includes(d.kind))
        .flatMap((d) => (d.spec.template.spec.containers as Obj[]).map((c) => `${d.metadata.name}/${c.image}`));
      expect(images.filter((i) => i.includes('mlflow/mlflow'))).toEqual([`mlflow-secure/${mlflowImage(version)}`]);
    }
  });

  it("admits the front Service's names in MLflow's Host and Origin checks, as pods use them, and no public name that could match", () => {
    const argv = container('mlflow').command as string[];
    const names = ['mlflow-secure', 'mlflow-secure.team-a.svc', 'mlflow-secure.team-a.svc.cluster.local'];
    const hosts = [...names, ...names.map((n) => `${n}:5000`), 'mlflow-secure.x.svc:80', 'mlflow.example.com:5000'];
    const refused = [
      'mlflow-secure.attacker.example',
      'mlflow-secure.attacker.example:5000',
      'mlflow-secure.team-a.svc.attacker.example',
      'mlflow-secure.team-a.svc.cluster.local.attacker.example:5000',
      'mlflow-secure.team-a',
      'other.team-a.svc',
      '10.attacker.example',
    ];
    const origins = names.map((n) => `http://${n}:5000`);
    const otherOrigins = ['http://mlflow-secure.attacker.example:5000', 'http://attacker.example'];
    expect(mlflowAdmits(argv, { hosts: [...hosts, ...refused], origins: [...origins, ...otherOrigins] })).toEqual({
      hosts,
      origins,
    });
    // Beyond a port (`:*`, where a browser puts only digits), a wildcard stays inside .svc names.
    const wild = new Set(
      flagValue(argv, '--allowed-hosts')
        .map((p) => p.replace(/:\*$/, ''))
        .filter((p) => p.includes('*')),
    );
    expect([...wild]).toEqual(['mlflow-secure.*.svc', 'mlflow-secure.*.svc.cluster.local']);
  });

  it('keeps the password file and store passwords in the Secret, base64, and nowhere else', () => {
    const data = find('Secret', SECRET_NAME, docs('secret.yaml', s3)).data as Record<string, string>;
    const decoded = Object.fromEntries(
      Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
    );
    expect(decoded).toEqual({ htpasswd: HTPASSWD, 'postgres-password': PG, 'minio-password': MINIO });
    for (const [p, f] of s3) {
      for (const secret of [PG, MINIO]) expect(f.content, p).not.toContain(secret);
      if (p !== 'secret.yaml')
        for (const secret of [PG, MINIO]) expect(f.content, p).not.toContain(Buffer.from(secret).toString('base64'));
    }
  });

  it("builds MLflow's store URI in the kubelet from the Secret (a dependent variable)", () => {
    const env = container('mlflow').env as Obj[];
    const names = env.map((e) => e.name);
    const uri = 'postgresql://mlflow:$(MLFLOW_DB_PASSWORD)@mlflow-secure-postgres:5432/mlflow';
    expect(env.find((e) => e.name === 'MLFLOW_DB_PASSWORD')).toEqual({
      name: 'MLFLOW_DB_PASSWORD',
      valueFrom: { secretKeyRef: { name: SECRET_NAME, key: 'postgres-password' } },
    });
    expect(env.find((e) => e.name === 'MLFLOW_BACKEND_STORE_URI')!.value).toBe(uri);
    expect(env.find((e) => e.name === 'MLFLOW_REGISTRY_STORE_URI')!.value).toBe(uri);
    // The kubelet expands $(VAR) only for variables defined earlier in the list.
    expect(names.indexOf('MLFLOW_DB_PASSWORD')).toBeLessThan(names.indexOf('MLFLOW_BACKEND_STORE_URI'));
    const pg = find('StatefulSet', 'mlflow-secure-postgres').spec.template.spec.containers[0].env as Obj[];
    expect(pg.find((e) => e.name === 'POSTGRES_PASSWORD')).toEqual({
      name: 'POSTGRES_PASSWORD',
      valueFrom: { secretKeyRef: { name: SECRET_NAME, key: 'postgres-password' } },
    });
  });

  it("probes MLflow's /health on loopback from inside its container; nginx's readiness on the probe port, its liveness by TCP", () => {
    const mlflow = container('mlflow');
    for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe'])
      expect(mlflow[probe].exec, probe).toEqual({ command: ['python', '-c', HEALTH_PY] });
    expect(HEALTH_PY).toContain("'http://127.0.0.1:5000/health', headers={'Host': 'localhost'}");
    execFileSync(path.join(root, '.venv', 'bin', 'python'), [
      '-c',
      `import ast; ast.parse(${JSON.stringify(HEALTH_PY)})`,
    ]);
    const nginx = container('nginx');
    expect(nginx.ports).toEqual([
      { name: 'http', containerPort: 8080 },
      { name: 'health', containerPort: 8081 },
    ]);
    expect(nginx.readinessProbe.httpGet).toEqual({ path: '/healthz', port: 'health' });
    expect(nginx.livenessProbe.tcpSocket).toEqual({ port: 'http' });
  });

  it('puts the probe port in no Service; the front Service is nginx on --port', () => {
    const services = all().filter((d) => d.kind === 'Service');
    for (const s of services) for (const p of s.spec.ports) expect([8081, 'health']).not.toContain(p.targetPort);
    const front = find('Service', 'mlflow-secure');
    expect(front.spec.ports).toEqual([{ name: 'http', port: 5000, targetPort: 'http', protocol: 'TCP' }]);
    expect(front.spec.selector).toEqual(server().metadata.labels);
  });

  it('mounts nginx.conf from a ConfigMap (its hash rolls the pod), the password file from the Secret (group nginx), the artifact claim in MLflow only', () => {
    const map = find('ConfigMap', 'mlflow-secure-nginx');
    expect(map.data['nginx.conf']).toBe(containerNginxConf(input({ target: 'kubernetes', host: '0.0.0.0' })));
    const pod = server();
    expect(pod.metadata.annotations['mlflow-secure/nginx-conf-sha256']).toBe(
      createHash('sha256').update(map.data['nginx.conf']).digest('hex'),
    );
    expect(pod.spec.securityContext).toEqual({ fsGroup: 101, fsGroupChangePolicy: 'OnRootMismatch' });
    expect(pod.spec.volumes).toContainEqual({
      name: 'auth',
      secret: { secretName: SECRET_NAME, items: [{ key: 'htpasswd', path: 'htpasswd' }], defaultMode: 0o440 },
    });
    expect(pod.spec.volumes).toContainEqual({
      name: 'artifacts',
      persistentVolumeClaim: { claimName: 'mlflow-secure-artifacts' },
    });
    expect(container('mlflow').volumeMounts).toEqual([{ name: 'artifacts', mountPath: '/mlartifacts' }]);
    expect(container('nginx').volumeMounts.map((m: Obj) => m.name)).toEqual(['config', 'auth']);
    expect(find('Deployment', 'mlflow-secure').spec.strategy).toEqual({ type: 'Recreate' });
  });

  it('turns service links off in every pod (a Service named like mlflow would set MLFLOW_PORT)', () => {
    const pods = [...all(), ...[...s3.keys()].flatMap((f) => docs(f, s3))].filter((d) =>
      ['Deployment', 'StatefulSet'].includes(d.kind),
    );
    expect(pods.length).toBeGreaterThanOrEqual(4);
    for (const d of pods) expect(d.spec.template.spec.enableServiceLinks, d.metadata.name).toBe(false);
  });

  it('with --s3: MinIO as a StatefulSet, the bucket made by an init container, no artifact volume', () => {
    const list = [...s3.keys()].flatMap((f) => docs(f, s3));
    expect(find('StatefulSet', 'mlflow-secure-minio', list)).toBeDefined();
    const pod = find('Deployment', 'mlflow-secure', list).spec;
    expect(pod.strategy).toBeUndefined();
    expect(pod.template.spec.initContainers.map((c: Obj) => c.name)).toEqual(['create-bucket']);
    expect(pod.template.spec.volumes.map((v: Obj) => v.name)).toEqual(['config', 'auth']);
    expect(list.filter((d) => d.kind === 'PersistentVolumeClaim')).toEqual([]);
  });

  it('renders the whole mlflow.yaml', () => {
    expect(out.get('mlflow.yaml')!.content).toMatchSnapshot();
  });
});

describe('export options', () => {
  it('takes compose defaults and refuses what an engine cannot use', () => {
    expect(resolveExportOptions('compose', {})).toEqual({
      target: 'compose',
      host: '127.0.0.1',
      port: 5000,
      serverNames: [],
      nginxWorkers: 2,
      mlflowWorkers: 1,
      s3: false,
    });
    expect(resolveExportOptions('kubernetes', { port: '80', s3: true, nginxWorkers: 'auto' })).toMatchObject({
      host: '0.0.0.0',
      port: 80,
      s3: true,
      nginxWorkers: 'auto',
    });
    expect(userErrorFrom(() => resolveExportOptions('swarm', {})).message).toBe("unknown export target 'swarm'");
    expect(userErrorFrom(() => resolveExportOptions('compose', { port: 'auto' })).message).toMatch(
      /^--port auto .*got 'auto'$/,
    );
    expect(userErrorFrom(() => resolveExportOptions('kubernetes', { host: '0.0.0.0' })).message).toMatch(
      /^--host is for `export compose`/,
    );
    expect(userErrorFrom(() => resolveExportOptions('compose', { mlflowWorkers: '0' })).message).toBe(
      "--mlflow-workers must be a whole number from 1 to 64, got '0'",
    );
    expect(userErrorFrom(() => resolveExportOptions('compose', { host: 'a b' })).message).toMatch(/^--host must be/);
  });

  it('reads the pinned MLflow version from requirements.txt', () => {
    expect(pinnedMlflowVersion('# x\nmlflow==3.17.2\n')).toBe('3.17.2');
    expect(version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(() => pinnedMlflowVersion('mlflow>=3\n')).toThrow();
  });

  it('generates store passwords that sit in a URI unescaped', () => {
    const a = generateStoreSecret();
    expect(a).toMatch(STORE_SECRET);
    expect(a).toHaveLength(32);
    expect(encodeURIComponent(a)).toBe(a);
    expect(generateStoreSecret()).not.toBe(a);
  });
});
