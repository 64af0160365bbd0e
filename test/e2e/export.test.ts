/**
 * `export compose|kubernetes` end to end, with the built CLI and a real password file:
 * - the engines' own tools accept what it writes: `docker-compose config` (Debian's
 *   docker-compose 1.29, which needs no Docker engine for that) and `kubernetes-validate --strict`
 *   (its bundled schemas, no cluster, no network) for Kubernetes 1.30 and the newest it ships;
 * - no password is in plain text anywhere in either folder (the login password nowhere, the
 *   store passwords only in compose's owner-only secret files), and secrets are owner-only;
 * - an existing --out is refused without --force, and --force keeps the store passwords;
 * - the exported nginx.conf runs on the real nginx in front of the real MLflow (started by `up`):
 *   the probe port answers MLflow's /health without a password, the public port asks for one,
 *   except on a CORS preflight of the stack's own origin;
 * - the exported Kubernetes MLflow argv, run by the real MLflow, admits the front Service's names
 *   in Host and refuses public names built on them.
 * Skipped, saying why, where docker-compose is absent; .ci/run installs it. kubernetes-validate
 * is installed from PyPI into a venv cached at node_modules/.cache/mlflow-secure/ on first use.
 */
import { execa } from 'execa';
import getPort from 'get-port';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { cp, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import yaml from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from '../../src/system/http.js';
import { cli, readStackRecord, removeDir, root, stackProcesses, tempDir, waitForNoStackProcesses } from './helpers.js';

const PASSWORD = `export-${Math.random().toString(36).slice(2)}-P@ss`;
const KUBERNETES_VALIDATE = 'kubernetes-validate==1.37.0';
const toolsVenv = path.join(root, 'node_modules', '.cache', 'mlflow-secure', KUBERNETES_VALIDATE.replace('==', '-'));
const nginxBin = process.env.MLFLOW_SECURE_NGINX ?? '/usr/sbin/nginx';

const dockerCompose = spawnSync('docker-compose', ['version'], { encoding: 'utf8' });
const missing =
  dockerCompose.status === 0 ? undefined : 'docker-compose is not installed (apt-get install docker-compose)';
if (missing) console.warn(`SKIPPED export tests: ${missing}`);

/** kubernetes-validate in its own venv (never ./.venv), made once; the stamp marks a finished install. */
async function kubernetesValidate(): Promise<string> {
  const bin = path.join(toolsVenv, 'bin', 'kubernetes-validate');
  const stamp = path.join(toolsVenv, '.installed');
  if (existsSync(stamp)) return bin;
  await rm(toolsVenv, { recursive: true, force: true });
  await mkdir(path.dirname(toolsVenv), { recursive: true });
  await execa('python3', ['-m', 'venv', toolsVenv], { timeout: 120_000 });
  await execa(
    path.join(toolsVenv, 'bin', 'pip'),
    ['install', '--quiet', '--disable-pip-version-check', KUBERNETES_VALIDATE],
    { timeout: 300_000 },
  );
  await writeFile(stamp, `${KUBERNETES_VALIDATE}\n`);
  return bin;
}

/** Every regular file under `dir`, relative paths with forward slashes. */
async function walk(dir: string, prefix = ''): Promise<string[]> {
  const found: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) found.push(...(await walk(path.join(dir, e.name), rel)));
    else found.push(rel);
  }
  return found.sort();
}

async function contents(dir: string): Promise<Map<string, string>> {
  const map = new Map<string, string>();
  for (const f of await walk(dir)) map.set(f, await readFile(path.join(dir, f), 'utf8'));
  return map;
}

const mode = async (file: string) => (await stat(file)).mode & 0o777;

describe.skipIf(missing !== undefined)(`export compose|kubernetes${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let cwd: string;
  let composeDir: string;
  let kubeDir: string;
  const outputs: string[] = [];

  beforeAll(async () => {
    cwd = await tempDir('mlflow-secure-export-');
    composeDir = path.join(cwd, 'mlflow-secure-compose');
    kubeDir = path.join(cwd, 'k8s');
    const add = await cli(['user', 'add', 'alice', '--password-stdin'], { cwd, input: `${PASSWORD}\n` });
    expect(add.exitCode, add.stderr).toBe(0);
    const exports = [
      ['export', 'compose', '--s3', '--server-name', 'mlflow.example.test'],
      ['export', 'kubernetes', '--s3', '--out', 'k8s'],
      // Without --s3: artifacts on a volume (compose) or a PersistentVolumeClaim (Kubernetes).
      ['export', 'compose', '--out', 'plain-compose', '--host', '0.0.0.0', '--port', '8080'],
      ['export', 'kubernetes', '--out', 'plain-k8s', '--port', '80'],
    ];
    for (const args of exports) {
      const r = await cli(args, { cwd });
      expect(r.exitCode, r.stderr).toBe(0);
      outputs.push(r.stdout, r.stderr);
    }
  });

  afterAll(async () => {
    if (cwd) await removeDir(cwd);
  });

  it('writes a compose project that docker-compose validates (and a broken one it refuses)', async () => {
    expect(await walk(composeDir)).toEqual([
      'compose.yaml',
      'nginx.conf',
      'secrets/htpasswd',
      'secrets/minio_password',
      'secrets/postgres_password',
    ]);
    for (const [dir, services] of [
      [composeDir, ['minio', 'minio-bucket', 'mlflow', 'mlflow-secure', 'nginx', 'postgres']],
      [path.join(cwd, 'plain-compose'), ['mlflow', 'mlflow-secure', 'nginx', 'postgres']],
    ] as const) {
      const ok = await execa('docker-compose', ['-f', 'compose.yaml', 'config', '-q'], { cwd: dir, reject: false });
      expect(ok.exitCode, ok.stderr).toBe(0);
      expect(ok.stderr).toBe('');
      const listed = await execa('docker-compose', ['-f', 'compose.yaml', 'config', '--services'], { cwd: dir });
      expect(listed.stdout.split('\n').sort()).toEqual(services);
      // As docker-compose resolves it: nginx and MLflow in the holder's namespace, the holder alone publishing.
      const resolved = yaml.load(
        (await execa('docker-compose', ['-f', 'compose.yaml', 'config'], { cwd: dir })).stdout,
      ) as {
        services: Record<string, { network_mode?: string; ports?: unknown[] }>;
      };
      const joined = Object.entries(resolved.services)
        .filter(([, svc]) => svc.network_mode !== undefined)
        .map(([name, svc]) => `${name} ${svc.network_mode}`)
        .sort();
      expect(joined).toEqual(['mlflow service:mlflow-secure', 'nginx service:mlflow-secure']);
      expect(Object.keys(resolved.services).filter((name) => resolved.services[name]!.ports)).toEqual([
        'mlflow-secure',
      ]);
    }
    // The check can fail: the same file with an unknown key in a service is refused.
    const broken = path.join(cwd, 'broken-compose');
    await cp(composeDir, broken, { recursive: true });
    const text = await readFile(path.join(broken, 'compose.yaml'), 'utf8');
    await writeFile(
      path.join(broken, 'compose.yaml'),
      text.replace('\n  nginx:\n', '\n  nginx:\n    not_a_compose_key: 1\n'),
    );
    const bad = await execa('docker-compose', ['-f', 'compose.yaml', 'config', '-q'], { cwd: broken, reject: false });
    expect(bad.exitCode).not.toBe(0);
    expect(bad.stderr).toMatch(/not_a_compose_key/);
  });

  it('writes manifests that kubernetes-validate accepts, strictly, for Kubernetes 1.30 and the newest it knows (and refuses a broken one)', async () => {
    const validate = await kubernetesValidate();
    expect(await walk(kubeDir)).toEqual(['minio.yaml', 'mlflow.yaml', 'postgres.yaml', 'secret.yaml']);
    // Each resource is reported as passed: 8 with MinIO; 7 without (MLflow gets a volume claim).
    for (const [dir, resources] of [
      [kubeDir, 8],
      [path.join(cwd, 'plain-k8s'), 7],
    ] as const) {
      const files = (await walk(dir)).map((f) => path.join(dir, f));
      for (const version of [['-k', '1.30.0'], []]) {
        const r = await execa(validate, ['--strict', ...version, ...files], { reject: false });
        expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(0);
        expect(r.stdout.match(/ passed for resource /g), r.stdout).toHaveLength(resources);
      }
    }
    const broken = path.join(cwd, 'broken-mlflow.yaml');
    const text = await readFile(path.join(kubeDir, 'mlflow.yaml'), 'utf8');
    await writeFile(
      broken,
      text.replace('          livenessProbe:\n', '          livenessProbe:\n            notAProbeField: 1\n'),
    );
    const bad = await execa(validate, ['--strict', '-k', '1.30.0', broken], { reject: false });
    expect(bad.exitCode).not.toBe(0);
    expect(`${bad.stdout}${bad.stderr}`).toMatch(/notAProbeField/);
  });

  it('leaves no password in plain text: the login password nowhere, the store passwords only in compose secret files', async () => {
    const composeTrees = [composeDir, path.join(cwd, 'plain-compose')];
    const kubeTrees = [kubeDir, path.join(cwd, 'plain-k8s')];
    const trees = new Map<string, Map<string, string>>();
    for (const dir of [...composeTrees, ...kubeTrees]) trees.set(dir, await contents(dir));
    const storePasswords: string[] = [];
    for (const dir of composeTrees) {
      for (const [file, text] of trees.get(dir)!)
        if (/^secrets\/(postgres|minio)_password$/.test(file)) storePasswords.push(text);
    }
    for (const dir of kubeTrees) {
      const secret = trees.get(dir)!.get('secret.yaml')!;
      const data = [...secret.matchAll(/^ {2}([a-z-]+): "?([A-Za-z0-9+/=]+)"?$/gm)].map(
        (m) => [m[1]!, Buffer.from(m[2]!, 'base64').toString('utf8')] as const,
      );
      expect(data.map(([key]) => key).sort()).toEqual(
        dir === kubeDir ? ['htpasswd', 'minio-password', 'postgres-password'] : ['htpasswd', 'postgres-password'],
      );
      for (const [key, value] of data) {
        if (key === 'htpasswd') expect(value).toBe(trees.get(composeDir)!.get('secrets/htpasswd'));
        else storePasswords.push(value);
      }
    }
    // Two exports with MinIO, two without: six store passwords, each generated apart.
    expect(storePasswords).toHaveLength(6);
    expect(new Set(storePasswords).size).toBe(6);
    for (const pw of storePasswords) expect(pw).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(trees.get(composeDir)!.get('secrets/htpasswd')).toMatch(/^alice:\$2[aby]\$/);

    for (const [dir, files] of trees) {
      for (const [file, text] of files) {
        for (const pw of [PASSWORD, ...storePasswords]) {
          if (composeTrees.includes(dir) && file.startsWith('secrets/') && text === pw) continue;
          expect(text.includes(pw), `${path.relative(cwd, dir)}/${file} holds a password in plain text`).toBe(false);
        }
      }
    }
    for (const text of outputs) for (const pw of [PASSWORD, ...storePasswords]) expect(text).not.toContain(pw);
  });

  it('writes the secret files owner-only', async () => {
    for (const f of ['secrets/htpasswd', 'secrets/postgres_password', 'secrets/minio_password'])
      expect(await mode(path.join(composeDir, f)), f).toBe(0o600);
    expect(await mode(path.join(composeDir, 'secrets'))).toBe(0o700);
    expect(await mode(path.join(kubeDir, 'secret.yaml'))).toBe(0o600);
    expect(await mode(path.join(kubeDir, 'mlflow.yaml'))).toBe(0o644);
  });

  it('refuses a non-empty --out without --force, and changes nothing there', async () => {
    const before = await contents(composeDir);
    const r = await cli(['export', 'compose'], { cwd });
    expect(r.exitCode).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([
      `error: --out ${composeDir} is not empty. Pass --force to overwrite the files an export writes there (others are left alone), or choose another --out`,
    ]);
    expect(await contents(composeDir)).toEqual(before);
    expect((await readdir(cwd)).filter((n) => n.includes('.mlflow-secure-'))).toEqual([]);
  });

  it('with --force: keeps the store passwords and the files it did not write, drops those it no longer writes', async () => {
    const before = await contents(composeDir);
    const beforeKube = await contents(kubeDir);
    await writeFile(path.join(composeDir, 'NOTES.md'), 'mine\n');
    // An export of the former layout (nginx in MLflow's namespace, the port on mlflow): the port moves.
    await writeFile(
      path.join(composeDir, 'compose.yaml'),
      before.get('compose.yaml')!.replaceAll('"service:mlflow-secure"', '"service:mlflow"'),
    );
    const r = await cli(['export', 'compose', '--force'], { cwd });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/Kept the PostgreSQL password/);
    expect(r.stderr).toMatch(/The published port moves .* run `docker compose down` \(volumes are kept\)/);
    const again = await cli(['export', 'compose', '--force'], { cwd });
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stderr).not.toMatch(/published port moves/);
    const after = await contents(composeDir);
    expect(after.get('secrets/postgres_password')).toBe(before.get('secrets/postgres_password'));
    expect(after.get('NOTES.md')).toBe('mine\n');
    expect(after.has('secrets/minio_password')).toBe(false);
    expect(after.get('compose.yaml')).not.toContain('minio');
    // An export of the former layout (nginx.yaml, MLflow with a Service of its own) is replaced, and
    // what kubectl apply would leave running is named.
    await writeFile(path.join(kubeDir, 'nginx.yaml'), 'kind: Deployment\n');
    const k = await cli(['export', 'kubernetes', '--out', 'k8s', '--force', '--s3'], { cwd });
    expect(k.exitCode, k.stderr).toBe(0);
    expect(await walk(kubeDir)).toEqual(['minio.yaml', 'mlflow.yaml', 'postgres.yaml', 'secret.yaml']);
    expect(k.stderr).toContain(
      'kubectl delete deployment/mlflow-secure-nginx deployment/mlflow-secure-mlflow service/mlflow-secure-mlflow',
    );
    const pg = (text: string) => /^ {2}postgres-password: (.+)$/m.exec(text)?.[1];
    expect(pg(await readFile(path.join(kubeDir, 'secret.yaml'), 'utf8'))).toBe(pg(beforeKube.get('secret.yaml')!));
  });

  it('refuses to export when there is no user, creating nothing', async () => {
    const empty = await tempDir('mlflow-secure-export-empty-');
    try {
      const r = await cli(['export', 'kubernetes'], { cwd: empty });
      expect(r.exitCode).toBe(1);
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(
        /^error: there is no user to export: .*htpasswd is missing or empty\. Add one first with `.*user add <name>`/,
      );
      expect(await readdir(empty)).toEqual([]);
    } finally {
      await removeDir(empty);
    }
  });

  describe("the exported Kubernetes MLflow argv on the real MLflow: the Service's names pass its Host check, others do not", () => {
    let mlflow: ChildProcess | undefined;
    let port: number;

    beforeAll(async () => {
      const docs = yaml.loadAll(await readFile(path.join(kubeDir, 'mlflow.yaml'), 'utf8')) as {
        kind: string;
        spec: { template: { spec: { containers: { name: string; command: string[] }[] } } };
      }[];
      const deployment = docs.find((d) => d.kind === 'Deployment')!;
      const command = deployment.spec.template.spec.containers.find((c) => c.name === 'mlflow')!.command;
      expect(command.slice(0, 2)).toEqual(['mlflow', 'server']);
      port = await getPort({ host: '127.0.0.1' });
      const args = command.slice(1);
      expect(args[args.indexOf('--port') + 1]).toBe('5000');
      args[args.indexOf('--port') + 1] = String(port);
      const work = path.join(cwd, 'k8s-mlflow');
      await mkdir(work, { recursive: true });
      // Its own process group: the whole tree (CLI, uvicorn, worker) is stopped together.
      mlflow = spawn(path.join(root, '.venv', 'bin', 'mlflow'), args, {
        cwd: work,
        detached: true,
        stdio: 'ignore',
        env: {
          PATH: process.env.PATH,
          HOME: work,
          MLFLOW_BACKEND_STORE_URI: `sqlite:///${path.join(work, 'mlflow.db')}`,
          MLFLOW_ARTIFACTS_DESTINATION: path.join(work, 'artifacts'),
          MLFLOW_SERVER_ENABLE_JOB_EXECUTION: 'false',
        },
      });
      const deadline = Date.now() + 150_000;
      for (;;) {
        const r = await request({ host: '127.0.0.1', port, path: '/health' }).catch(() => undefined);
        if (r?.status === 200) break;
        if (Date.now() > deadline || mlflow.exitCode !== null) throw new Error('MLflow did not start');
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    });

    afterAll(async () => {
      if (mlflow?.pid && mlflow.exitCode === null) {
        const exited = new Promise((resolve) => mlflow!.once('exit', resolve));
        process.kill(-mlflow.pid, 'SIGTERM');
        const timer = setTimeout(() => process.kill(-mlflow!.pid!, 'SIGKILL'), 20_000);
        await exited;
        clearTimeout(timer);
      }
    });

    it('answers pods that use the Service name, and refuses a public name built on it', async () => {
      const status = async (host: string) =>
        (
          await request({
            host: '127.0.0.1',
            port,
            path: '/api/2.0/mlflow/experiments/search?max_results=1',
            headers: { Host: host },
          })
        ).status;
      for (const host of [
        'mlflow-secure',
        'mlflow-secure.team-a.svc:5000',
        'mlflow-secure.team-a.svc.cluster.local:5000',
      ])
        expect(await status(host), host).toBe(200);
      for (const host of [
        'mlflow-secure.attacker.example',
        'mlflow-secure.team-a.svc.attacker.example:5000',
        'mlflow-secure.team-a',
      ])
        expect(await status(host), host).toBe(403);
    });
  });

  describe('the exported nginx.conf on the real nginx, in front of the real MLflow', () => {
    let stateDir: string;
    let groups: number[] = [];
    let nginx: ChildProcess | undefined;
    let publicPort: number;
    let probePort: number;

    beforeAll(async () => {
      stateDir = path.join(cwd, '.mlflow-secure');
      const up = await cli(['up', '-d', '--port', 'auto', '--user', 'alice'], {
        cwd,
        env: { MLFLOW_SECURE_PASSWORD: PASSWORD },
      });
      expect(up.exitCode, up.stderr).toBe(0);
      const record = await readStackRecord(stateDir);
      groups = [record.mlflow.pid, record.nginx.pid];
      [publicPort, probePort] = [await getPort({ host: '127.0.0.1' }), await getPort({ host: '127.0.0.1' })];
      // Only what the container provides changes: its paths, its user, MLflow's address (here
      // up's Unix socket). Each replacement must hit exactly as often as said, or the file changed shape.
      const run = path.join(cwd, 'nginx-run');
      await mkdir(path.join(run, 'temp'), { recursive: true });
      let conf = await readFile(path.join(composeDir, 'nginx.conf'), 'utf8');
      const replace = (from: string, to: string, times = 1) => {
        expect(conf.split(from).length - 1, from).toBe(times);
        conf = conf.replaceAll(from, to);
      };
      replace('user nginx;\n', process.getuid?.() === 0 ? 'user root;\n' : '');
      replace('server 127.0.0.1:5000;', `server unix:${path.join(stateDir, 'mlflow.sock')};`);
      replace('listen 0.0.0.0:8080;', `listen 127.0.0.1:${publicPort};`);
      replace('listen 0.0.0.0:8081;', `listen 127.0.0.1:${probePort};`);
      replace('"/etc/nginx/auth/htpasswd"', JSON.stringify(path.join(composeDir, 'secrets', 'htpasswd')));
      replace('"/var/run/nginx.pid"', JSON.stringify(path.join(run, 'nginx.pid')));
      replace('"/var/cache/nginx/', `"${run}/temp/`, 5);
      await writeFile(path.join(run, 'nginx.conf'), conf);
      const args = ['-p', `${run}/`, '-c', path.join(run, 'nginx.conf'), '-e', path.join(run, 'error.log')];
      // The file logs to /dev/stderr and /dev/stdout, which an engine connects to pipes; open()
      // on a socket (what Node gives a child for 'pipe') fails with ENXIO, so here: files.
      const output = path.join(run, 'nginx.out');
      const fd = openSync(output, 'a');
      try {
        const test = spawnSync(nginxBin, [...args, '-t'], { stdio: ['ignore', fd, fd], timeout: 30_000 });
        expect(test.status, await readFile(output, 'utf8')).toBe(0);
        nginx = spawn(nginxBin, args, { stdio: ['ignore', fd, fd] });
      } finally {
        closeSync(fd);
      }
      const deadline = Date.now() + 20_000;
      for (;;) {
        const ok = await request({ host: '127.0.0.1', port: publicPort, path: '/' }).then(
          () => true,
          () => false,
        );
        if (ok) break;
        if (Date.now() > deadline || nginx.exitCode !== null)
          throw new Error(`nginx did not start: ${await readFile(output, 'utf8').catch(() => '')}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    });

    afterAll(async () => {
      if (nginx?.pid && nginx.exitCode === null) {
        const exited = new Promise((resolve) => nginx!.once('exit', resolve));
        nginx.kill('SIGQUIT');
        await exited;
      }
      if (stateDir) {
        await cli(['down'], { cwd });
        expect(await waitForNoStackProcesses(stateDir, groups)).toEqual([]);
      }
      expect(await stackProcesses(stateDir, groups)).toEqual([]);
    });

    it("answers the probe port's /healthz with MLflow's health, without a password, and denies every other path there", async () => {
      const health = await request({ host: '127.0.0.1', port: probePort, path: '/healthz' });
      expect(health.status).toBe(200);
      expect(health.body).toBe('OK');
      expect(
        (
          await request({
            host: '127.0.0.1',
            port: probePort,
            path: '/api/2.0/mlflow/experiments/search?max_results=1',
          })
        ).status,
      ).toBe(403);
      expect((await request({ host: '127.0.0.1', port: probePort, path: '/health' })).status).toBe(403);
    });

    it("passes a CORS preflight of the stack's own page to MLflow without a password, and nothing else", async () => {
      const route = '/api/2.0/mlflow/experiments/create';
      const preflight = (origin: string, extra: Record<string, string> = {}) =>
        request({
          host: '127.0.0.1',
          port: publicPort,
          method: 'OPTIONS',
          path: route,
          headers: { Origin: origin, 'Access-Control-Request-Method': 'POST', ...extra },
        });
      // The export's own origin (loopback on its published port 5000): MLflow's CORS answer.
      const ok = await preflight('http://localhost:5000');
      expect(ok.status, ok.body).toBe(200);
      expect(ok.headers['access-control-allow-origin']).toBe('http://localhost:5000');
      // Any other origin, or anything but a bare preflight, still needs the password.
      expect((await preflight('http://localhost:3000')).status).toBe(401);
      expect((await preflight('http://attacker.example')).status).toBe(401);
      expect(
        (
          await request({
            host: '127.0.0.1',
            port: publicPort,
            method: 'OPTIONS',
            path: route,
            headers: { Origin: 'http://localhost:5000' },
          })
        ).status,
      ).toBe(401);
    });

    it('asks for a password on the public port: 401 without or with a wrong one, MLflow with the right one', async () => {
      const route = '/api/2.0/mlflow/experiments/search?max_results=1';
      expect((await request({ host: '127.0.0.1', port: publicPort, path: route })).status).toBe(401);
      expect((await request({ host: '127.0.0.1', port: publicPort, path: '/healthz' })).status).toBe(401);
      expect(
        (
          await request({
            host: '127.0.0.1',
            port: publicPort,
            path: route,
            auth: { user: 'alice', password: 'wrong-password' },
          })
        ).status,
      ).toBe(401);
      const ok = await request({
        host: '127.0.0.1',
        port: publicPort,
        path: route,
        auth: { user: 'alice', password: PASSWORD },
      });
      expect(ok.status, ok.body).toBe(200);
      expect(JSON.parse(ok.body)).toHaveProperty('experiments');
    });
  });
});
