#!/usr/bin/env node
// Benchmarks for the goals in README "Performance". Every figure is a ratio of two things
// measured in this same run, on this machine, so machine speed cancels out.
//   start-up: `up -d` until proven ready, against `mlflow ui` alone until /health answers (the
//             goal), and against `mlflow ui` alone until its first API call answers (what
//             `up`'s proof waits for: MLflow loads its tracking store on the first API call)
//   proxy:    authenticated GET experiments/search through nginx at concurrency 8, against
//             the same request straight to MLflow, for each hash scheme/cost and worker count;
//             and the same for a small UI file (cheap for MLflow, so the cost of verifying the
//             password on every request shows: a UI page load makes dozens of such requests)
//   stop:     `down` until every process is gone and the port is free
// Usage: npm run bench [-- --quick]
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'dist', 'cli.js');
const mlflowBin = path.join(root, '.venv', 'bin', 'mlflow');
const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 1 : 5;
const LOAD_SECONDS = quick ? 2 : 3;
const PASSWORD = 'bench-password-1';
const work = mkdtempSync(path.join(os.tmpdir(), 'mlflow-secure-bench-'));
const stateDir = path.join(work, '.mlflow-secure');
const env = { ...process.env, MLFLOW_SECURE_PASSWORD: PASSWORD };

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (x, d = 2) => x.toFixed(d);

function runCli(args, extraEnv = {}) {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: work, env: { ...env, ...extraEnv }, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mlflow-secure ${args.join(' ')} failed (${r.status}):\n${r.stderr}`);
  return r.stdout;
}

function get(port, pathName, headers = {}) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: pathName, headers, agent: false, timeout: 2000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
  });
}

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function portIsFree(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** `mlflow ui` alone, the way a person starts it, until /health answers and until its first API call answers; then stopped. */
async function plainMlflowStart(db) {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(mlflowBin, ['ui', '--backend-store-uri', `sqlite:///${db}`, '--port', String(port)], {
    cwd: work,
    detached: true,
    stdio: 'ignore',
  });
  while ((await get(port, '/health')) !== 200) await sleep(50);
  const health = performance.now() - started;
  while ((await get(port, '/api/2.0/mlflow/experiments/search?max_results=1')) !== 200) await sleep(50);
  const api = performance.now() - started;
  process.kill(-child.pid, 'SIGTERM');
  while (!(await portIsFree(port))) await sleep(50);
  await sleep(500);
  return { health, api };
}

function record() {
  const r = JSON.parse(readFileSync(path.join(stateDir, 'stack.json'), 'utf8'));
  // Where MLflow answers directly: its socket in the state folder (POSIX) or its port (Windows).
  const socket = path.join(stateDir, 'mlflow.sock');
  return { ...r, mlflowDirect: existsSync(socket) ? socket : r.mlflowPort };
}

const API = '/api/2.0/mlflow/experiments/search?max_results=10';

/** `where`: nginx's port, or MLflow's Unix socket path (POSIX: MLflow has no TCP port). */
async function load(where, auth, pathName, seconds = LOAD_SECONDS) {
  const headers = auth ? { authorization: `Basic ${Buffer.from(`admin:${PASSWORD}`).toString('base64')}` } : {};
  const target =
    typeof where === 'number'
      ? { url: `http://127.0.0.1:${where}${pathName}` }
      : { url: `http://127.0.0.1${pathName}`, socketPath: where };
  const result = await autocannon({ ...target, connections: 8, duration: seconds, headers });
  if (result.non2xx > 0 || result.errors > 0)
    throw new Error(`load run on ${pathName} saw ${result.non2xx} non-2xx responses and ${result.errors} errors`);
  return result.requests.average;
}

/** Direct and proxied runs interleaved (d p d p), so drift hits both sides alike. */
async function compare(r, pathName) {
  const direct = [];
  const proxied = [];
  for (let i = 0; i < 2; i++) {
    direct.push(await load(r.mlflowDirect, false, pathName));
    proxied.push(await load(r.port, true, pathName));
  }
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return { direct: mean(direct), proxied: mean(proxied) };
}

/** A small UI asset (5 KB): MLflow serves it cheaply, so password checking shows in the ratio. */
const STATIC = '/static-files/favicon.ico';

async function main() {
  const db = path.join(work, 'mlflow.db');
  console.log(
    `mlflow-secure bench: ${os.cpus().length} cores, node ${process.version}; rounds ${ROUNDS}, load ${LOAD_SECONDS} s at concurrency 8`,
  );

  // Warm-up: create and migrate the database once, so both sides of the start-up ratio open an
  // existing database (the first start's migrations would otherwise dominate either side).
  runCli(['up', '-d', '--port', 'auto', '--backend-store-uri', db]);
  runCli(['down']);

  // --- start-up and stop -------------------------------------------------------------
  const plain = [];
  const plainApi = [];
  const ours = [];
  const stops = [];
  for (let i = 0; i < ROUNDS; i++) {
    const p = await plainMlflowStart(db);
    plain.push(p.health);
    plainApi.push(p.api);
    let t = performance.now();
    runCli(['up', '-d', '--port', 'auto', '--backend-store-uri', db]);
    ours.push(performance.now() - t);
    const r = record();
    await sleep(500);
    t = performance.now();
    runCli(['down']);
    while (
      !(await portIsFree(r.port)) ||
      (typeof r.mlflowDirect === 'number' ? !(await portIsFree(r.mlflowDirect)) : existsSync(r.mlflowDirect))
    )
      await sleep(10);
    stops.push(performance.now() - t);
    await sleep(500);
  }
  const startRatio = median(ours) / median(plain);
  const startApiRatio = median(ours) / median(plainApi);
  console.log(
    `start-up: up -d ${fmt(median(ours) / 1000)} s vs mlflow ui alone until /health ${fmt(median(plain) / 1000)} s (medians of ${ROUNDS}) -> ratio ${fmt(startRatio)}x (target <= 1.10x)`,
  );
  console.log(
    `start-up: up -d ${fmt(median(ours) / 1000)} s vs mlflow ui alone until its first API answer ${fmt(median(plainApi) / 1000)} s -> ratio ${fmt(startApiRatio)}x`,
  );
  console.log(
    `stop:     down ${fmt(median(stops) / 1000)} s until every process is gone and both ports are free (median of ${ROUNDS}; target <= 1.5 s)`,
  );

  // --- proxy throughput ----------------------------------------------------------------
  const schemes = quick
    ? [['bcrypt', 5], ['apr1']]
    : [['bcrypt', 10], ['bcrypt', 8], ['bcrypt', 6], ['bcrypt', 5], ['bcrypt', 4], ['apr1']];
  const workerCounts = quick ? [2] : [1, 2];
  const rows = [];
  for (const workers of workerCounts) {
    runCli(['up', '-d', '--port', 'auto', '--backend-store-uri', db, '--nginx-workers', String(workers)]);
    const r = record();
    try {
      // Every uvicorn worker loads its tracking store on its first API call: warm them all.
      await load(r.mlflowDirect, false, API, 10);
      for (const [scheme, cost] of schemes) {
        runCli(['user', 'passwd', 'admin', '--hash', scheme, ...(cost ? ['--bcrypt-cost', String(cost)] : [])]);
        const name = cost ? `${scheme} cost ${cost}` : scheme;
        for (const [what, pathName] of [
          ['api', API],
          ['static', STATIC],
        ]) {
          const { direct, proxied } = await compare(r, pathName);
          rows.push({ workers, scheme: name, what, direct, proxied, ratio: proxied / direct });
          console.log(
            `proxy:    workers ${String(workers).padEnd(2)} ${name.padEnd(15)} ${what.padEnd(6)} direct ${fmt(direct, 0).padStart(5)} req/s, through nginx ${fmt(proxied, 0).padStart(5)} req/s -> ratio ${fmt(proxied / direct)}x${what === 'api' ? ' (target >= 0.90x)' : ''}`,
          );
        }
      }
    } finally {
      runCli(['down']);
    }
  }
  console.log('\nsummary');
  console.log(
    `  start-up ratio ${fmt(startRatio)}x against /health (<= 1.10x: ${startRatio <= 1.1 ? 'met' : 'NOT met'}); ${fmt(startApiRatio)}x against MLflow's first API answer`,
  );
  console.log(`  stop ${fmt(median(stops) / 1000)} s (<= 1.5 s: ${median(stops) <= 1500 ? 'met' : 'NOT met'})`);
  for (const row of rows)
    console.log(
      `  proxy workers ${row.workers}, ${row.scheme}, ${row.what}: ${fmt(row.ratio)}x${row.what === 'api' ? ` (>= 0.90x: ${row.ratio >= 0.9 ? 'met' : 'NOT met'})` : ''}`,
    );
}

try {
  await main();
} finally {
  spawnSync(process.execPath, [cli, 'down'], { cwd: work, env });
  rmSync(work, { recursive: true, force: true });
}
