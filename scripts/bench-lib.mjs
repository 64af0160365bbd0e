// Shared by the benchmarks (bench.mjs, bench-workers.mjs): running the CLI, plain MLflow, HTTP
// over TCP or MLflow's Unix socket, load runs, and process trees read from /proc (Linux).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const cli = path.join(root, 'dist', 'cli.js');
export const mlflowBin = path.join(root, '.venv', 'bin', 'mlflow');
export const PASSWORD = 'bench-password-1';
/** The API call every load run makes; also what `up` proves the stack with. */
export const API = '/api/2.0/mlflow/experiments/search?max_results=10';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
export const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
export const fmt = (x, d = 2) => x.toFixed(d);
export const mib = (kib) => kib / 1024;
export const mark = (ok) => (ok ? 'PASS' : 'FAIL');

export function runCli(args, o) {
  const r = spawnSync(process.execPath, [cli, ...args], {
    cwd: o.cwd,
    env: { ...process.env, MLFLOW_SECURE_PASSWORD: PASSWORD, ...o.env },
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`mlflow-secure ${args.join(' ')} failed (${r.status}):\n${r.stderr}`);
  return r.stdout;
}

/** The running stack's record, and where MLflow answers directly: its socket, or its TCP port. */
export function stackRecord(stateDir) {
  const r = JSON.parse(readFileSync(path.join(stateDir, 'stack.json'), 'utf8'));
  const onSocket = r.mlflowOnSocket ?? true;
  return { ...r, direct: onSocket ? { socketPath: path.join(stateDir, 'mlflow.sock') } : { port: r.mlflowPort } };
}

/** `where`: { port } or { socketPath }. Resolves with the status code, 0 on a connection error. */
export function httpStatus(where, o = {}) {
  return new Promise((resolve) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        ...where,
        path: o.path ?? '/health',
        method: o.method ?? 'GET',
        headers: o.headers ?? {},
        agent: false,
        timeout: o.timeoutMs ?? 2000,
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
      },
    );
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
    req.end(o.body);
  });
}

export const apiCall = (where) =>
  httpStatus(where, {
    method: 'POST',
    path: '/api/2.0/mlflow/experiments/search',
    headers: { 'content-type': 'application/json' },
    body: '{"max_results":1}',
    timeoutMs: 30_000,
  });

export function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export function portIsFree(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

export const basicAuth = () => `Basic ${Buffer.from(`admin:${PASSWORD}`).toString('base64')}`;

/** Average req/s of an autocannon run at concurrency 8; throws on any non-2xx answer. */
export async function load(where, o) {
  const headers = o.auth ? { authorization: basicAuth() } : {};
  const target = where.socketPath
    ? { url: `http://127.0.0.1${o.path}`, socketPath: where.socketPath }
    : { url: `http://127.0.0.1:${where.port}${o.path}` };
  const result = await autocannon({ ...target, connections: 8, duration: o.seconds, headers });
  if (result.non2xx > 0 || result.errors > 0)
    throw new Error(`load run on ${o.path} saw ${result.non2xx} non-2xx responses and ${result.errors} errors`);
  return result.requests.average;
}

/** Direct and proxied runs interleaved (d p d p d p), so drift hits both sides alike. */
export async function compareThroughput(direct, proxy, o) {
  const d = [];
  const p = [];
  for (let i = 0; i < (o.pairs ?? 3); i++) {
    d.push(await load(direct, { ...o, auth: false }));
    p.push(await load(proxy, { ...o, auth: true }));
  }
  return { direct: mean(d), proxied: mean(p), ratio: mean(p) / mean(d) };
}

function procStat(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: f[0], ppid: Number(f[1]), pgrp: Number(f[2]) };
  } catch {
    return undefined;
  }
}

function kibField(text, name) {
  const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text ?? '');
  return m ? Number(m[1]) : 0;
}

const readOr = (file) => {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
};

/**
 * A process and all its live descendants (by parent pid, zombies left out), with each one's
 * RSS and PSS in KiB. Summed RSS counts pages the forked workers share once per process; PSS
 * splits them, so it is the fairer total.
 */
export function processTree(rootPid) {
  const children = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const s = procStat(entry);
    if (!s || s.state === 'Z' || s.state === 'X') continue;
    const list = children.get(s.ppid) ?? [];
    list.push(Number(entry));
    children.set(s.ppid, list);
  }
  const pids = [];
  const stack = procStat(rootPid) ? [rootPid] : [];
  while (stack.length > 0) {
    const pid = stack.pop();
    pids.push(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return pids.map((pid) => ({
    pid,
    rssKiB: kibField(readOr(`/proc/${pid}/status`), 'VmRSS'),
    pssKiB: kibField(readOr(`/proc/${pid}/smaps_rollup`), 'Pss'),
    command: (readOr(`/proc/${pid}/cmdline`) ?? '').split('\0').join(' ').trim(),
  }));
}

export function treeMemory(rootPid) {
  const tree = processTree(rootPid);
  return {
    processes: tree.length,
    rssKiB: tree.reduce((a, p) => a + p.rssKiB, 0),
    pssKiB: tree.reduce((a, p) => a + p.pssKiB, 0),
    tree,
  };
}

/** Live members of a process group. */
export function groupMembers(pgid) {
  const members = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const s = procStat(entry);
    if (s && s.pgrp === pgid && s.state !== 'Z' && s.state !== 'X') members.push(Number(entry));
  }
  return members;
}

/**
 * Plain `mlflow ui`, the way a person starts it (its own process group, so it can be stopped
 * whole). Resolves once started; `ready()` times /health and the first API answer.
 */
export function startPlainMlflow(o) {
  const started = performance.now();
  const child = spawn(mlflowBin, ['ui', ...o.args], {
    cwd: o.cwd,
    env: { ...process.env, ...o.env },
    detached: true,
    stdio: 'ignore',
  });
  const where = { port: o.port };
  return {
    pid: child.pid,
    async ready(timeoutMs = 180_000) {
      const deadline = started + timeoutMs;
      while ((await httpStatus(where)) !== 200) {
        if (performance.now() > deadline) throw new Error('plain mlflow ui: no /health answer in time');
        await sleep(50);
      }
      const health = performance.now() - started;
      while ((await apiCall(where)) !== 200) {
        if (performance.now() > deadline) throw new Error('plain mlflow ui: no API answer in time');
        await sleep(50);
      }
      return { health, api: performance.now() - started };
    },
    /** TERM to the group; resolves with the ms until every member is gone and the port is free. */
    async stop() {
      const t = performance.now();
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // gone already
      }
      const deadline = t + 30_000;
      while (groupMembers(child.pid).length > 0 || !(await portIsFree(o.port))) {
        if (performance.now() > deadline) {
          try {
            process.kill(-child.pid, 'SIGKILL');
          } catch {
            // gone
          }
        }
        await sleep(10);
      }
      return performance.now() - t;
    },
  };
}

/** `down`, timed until every process of the stack is gone and its port (and socket) are free. */
export async function timedDown(stateDir, cwd) {
  const r = stackRecord(stateDir);
  const groups = [r.mlflow.pid, r.nginx.pid];
  const t = performance.now();
  runCli(['down'], { cwd });
  while (
    groups.some((g) => groupMembers(g).length > 0) ||
    !(await portIsFree(r.port)) ||
    (r.direct.socketPath ? existsSync(r.direct.socketPath) : !(await portIsFree(r.direct.port)))
  ) {
    await sleep(10);
  }
  return performance.now() - t;
}

/**
 * Waits until a process tree has stopped growing: with job execution on, MLflow's job runner
 * starts its huey consumers about 10-12 s after start, and their imports load the CPU for a while.
 * Bounded: returns after `maxMs` whatever the tree does.
 */
export async function waitSettled(rootPid, startedAt, o = { minAgeMs: 20_000, stableMs: 5_000, maxMs: 90_000 }) {
  let count = -1;
  let since = performance.now();
  while (performance.now() - startedAt < o.maxMs) {
    const now = processTree(rootPid).length;
    if (now !== count) {
      count = now;
      since = performance.now();
    } else if (performance.now() - since >= o.stableMs && performance.now() - startedAt >= o.minAgeMs) return;
    await sleep(250);
  }
}
