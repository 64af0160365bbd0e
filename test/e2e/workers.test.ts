/**
 * --workers and --jobs on real MLflow and nginx: the process tree each setting starts, where
 * MLflow listens, and that the stack works through the proxy. Processes are read from /proc.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { request } from '../../src/system/http.js';
import { DEFAULT_MLFLOW_WORKERS, DEFAULT_NGINX_WORKERS } from '../../src/stack/settings.js';
import { cli, readStackRecord, removeDir, tempDir, waitForNoStackProcesses } from './helpers.js';

const PASSWORD = `e2e-${Math.random().toString(36).slice(2)}-workers`;

interface Proc {
  pid: number;
  ppid: number;
  argv: string[];
}

/** A process and its live descendants, found by parent pid (not by what the record says). */
async function processTree(rootPid: number): Promise<Proc[]> {
  const all: Proc[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const s = await readFile(`/proc/${entry}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      if (f[0] === 'Z' || f[0] === 'X') continue;
      const argv = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0').filter(Boolean);
      all.push({ pid: Number(entry), ppid: Number(f[1]), argv });
    } catch {
      // gone meanwhile
    }
  }
  const tree: Proc[] = [];
  const todo = all.filter((p) => p.pid === rootPid);
  while (todo.length > 0) {
    const p = todo.pop()!;
    tree.push(p);
    todo.push(...all.filter((c) => c.ppid === p.pid));
  }
  return tree;
}

const has = (p: Proc, word: string) => p.argv.includes(word);
const valueOf = (p: Proc, flag: string) => p.argv[p.argv.indexOf(flag) + 1];
const uvicorn = (tree: Proc[]) => tree.filter((p) => has(p, 'uvicorn') && has(p, '-m'));
const jobRunners = (tree: Proc[]) => tree.filter((p) => has(p, 'mlflow.server.jobs._job_runner'));
const hueyConsumers = (tree: Proc[]) => tree.filter((p) => has(p, 'huey.bin.huey_consumer'));
/** uvicorn with more than one worker: a supervisor, multiprocessing's resource tracker, and one spawned process per worker. */
const spawnedWorkers = (tree: Proc[]) => tree.filter((p) => p.argv.some((a) => a.includes('multiprocessing.spawn')));

/** Is something listening on 127.0.0.1/0.0.0.0 at this TCP port (from /proc/net/tcp)? */
async function listensOnTcp(port: number): Promise<boolean> {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  const lines = [
    ...(await readFile('/proc/net/tcp', 'utf8')).split('\n'),
    ...(await readFile('/proc/net/tcp6', 'utf8').catch(() => '')).split('\n'),
  ];
  return lines.map((l) => l.trim().split(/\s+/)).some((f) => f[1]?.endsWith(`:${hex}`) && f[3] === '0A');
}

describe('--workers and --jobs on real MLflow and nginx', () => {
  let cwd: string | undefined;
  let groups: number[] = [];

  afterEach(async () => {
    if (!cwd) return;
    const stateDir = path.join(cwd, '.mlflow-secure');
    await cli(['down'], { cwd });
    expect(await waitForNoStackProcesses(stateDir, groups)).toEqual([]);
    await removeDir(cwd);
    cwd = undefined;
    groups = [];
  });

  it('up -d --workers 1 --jobs on: MLflow on a loopback TCP port with its job runner, working through the proxy', async () => {
    cwd = await tempDir();
    const stateDir = path.join(cwd, '.mlflow-secure');
    const r = await cli(['up', '-d', '--port', 'auto', '--workers', '1', '--jobs', 'on'], {
      cwd,
      env: { MLFLOW_SECURE_PASSWORD: PASSWORD },
    });
    expect(r.exitCode, r.stderr).toBe(0);
    const record = await readStackRecord(stateDir);
    groups = [record.mlflow.pid, record.nginx.pid];
    // Warned once about what --jobs on costs.
    expect(r.stderr.match(/--jobs on: MLflow listens on a loopback TCP port/g)).toHaveLength(1);

    // MLflow listens on 127.0.0.1:<its port>, and there is no socket.
    expect(await listensOnTcp(record.mlflowPort)).toBe(true);
    await expect(stat(path.join(stateDir, 'mlflow.sock'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await readFile(path.join(stateDir, 'nginx.conf'), 'utf8')).toContain(
      `server 127.0.0.1:${record.mlflowPort};`,
    );

    // Through the proxy: 401 without the password, a real write and read with it.
    const url = new URL(record.url);
    const at = { host: url.hostname, port: Number(url.port) };
    const auth = { user: 'admin', password: PASSWORD };
    expect((await request({ ...at, path: '/api/2.0/mlflow/experiments/search?max_results=1' })).status).toBe(401);
    const name = `workers-e2e-${Date.now()}`;
    const created = await request({
      ...at,
      method: 'POST',
      path: '/api/2.0/mlflow/experiments/create',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name }),
      auth,
    });
    expect(created.status, created.body).toBe(200);
    const id = (JSON.parse(created.body) as { experiment_id: string }).experiment_id;
    const got = await request({ ...at, path: `/api/2.0/mlflow/experiments/get-by-name?experiment_name=${name}`, auth });
    expect(got.status).toBe(200);
    expect((JSON.parse(got.body) as { experiment: { experiment_id: string } }).experiment.experiment_id).toBe(id);

    // status finds MLflow on its port (the record says it is not on the socket).
    const status = await cli(['status', '--json'], { cwd });
    expect(status.exitCode, status.stdout).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ healthy: true, health: { mlflow: 'ok', nginxAuth: 'ok' } });

    // The tree: the mlflow CLI; one uvicorn serving in-process (no supervisor, no spawned
    // workers) on TCP; the job runner, which starts its huey consumers about 10 s after start.
    let tree = await processTree(record.mlflow.pid);
    for (const deadline = Date.now() + 60_000; hueyConsumers(tree).length === 0 && Date.now() < deadline;) {
      await new Promise((res) => setTimeout(res, 500));
      tree = await processTree(record.mlflow.pid);
    }
    const [server, ...moreServers] = uvicorn(tree);
    expect(moreServers).toEqual([]);
    expect(server!.ppid).toBe(record.mlflow.pid);
    expect(valueOf(server!, '--workers')).toBe('1');
    expect(valueOf(server!, '--host')).toBe('127.0.0.1');
    expect(valueOf(server!, '--port')).toBe(String(record.mlflowPort));
    expect(server!.argv).not.toContain('--uds');
    expect(spawnedWorkers(tree)).toEqual([]);
    const runners = jobRunners(tree);
    expect(runners).toHaveLength(1);
    expect(runners[0]!.ppid).toBe(record.mlflow.pid);
    const consumers = hueyConsumers(tree);
    expect(consumers.length).toBeGreaterThan(0);
    for (const c of consumers) expect(c.ppid).toBe(runners[0]!.pid);
    // Nothing else: CLI + server + runner + its consumers.
    expect(tree).toHaveLength(3 + consumers.length);
  });

  it('the default stack: MLflow with the default workers and no job runner on its socket, nginx with its workers', async () => {
    cwd = await tempDir();
    const stateDir = path.join(cwd, '.mlflow-secure');
    const r = await cli(['up', '-d', '--port', 'auto'], { cwd, env: { MLFLOW_SECURE_PASSWORD: PASSWORD } });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).not.toContain('--jobs');
    const record = await readStackRecord(stateDir);
    groups = [record.mlflow.pid, record.nginx.pid];
    expect((await stat(path.join(stateDir, 'mlflow.sock'))).isSocket()).toBe(true);
    expect(await listensOnTcp(record.mlflowPort)).toBe(false);

    // Give a job runner the time it would need to start its consumers: none may appear.
    await new Promise((res) => setTimeout(res, 12_000));
    const tree = await processTree(record.mlflow.pid);
    const [server] = uvicorn(tree);
    expect(valueOf(server!, '--workers')).toBe(String(DEFAULT_MLFLOW_WORKERS));
    expect(server!.argv).toContain('--uds');
    expect(jobRunners(tree)).toEqual([]);
    expect(hueyConsumers(tree)).toEqual([]);
    expect(spawnedWorkers(tree)).toHaveLength(DEFAULT_MLFLOW_WORKERS > 1 ? DEFAULT_MLFLOW_WORKERS : 0);
    // The mlflow CLI, uvicorn, and (with more than one worker) multiprocessing's resource tracker plus the workers.
    const mlflowCount = DEFAULT_MLFLOW_WORKERS > 1 ? 3 + DEFAULT_MLFLOW_WORKERS : 2;
    expect(tree.map((p) => p.argv.slice(0, 4).join(' '))).toHaveLength(mlflowCount);
    const nginx = await processTree(record.nginx.pid);
    expect(nginx).toHaveLength(1 + DEFAULT_NGINX_WORKERS);
    expect(nginx.filter((p) => /^nginx: worker process/.test(p.argv.join(' ')))).toHaveLength(DEFAULT_NGINX_WORKERS);
  });
});
