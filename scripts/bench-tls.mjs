#!/usr/bin/env node
// What HTTPS costs (README "HTTPS"). Every figure is a ratio of two things measured in this same
// run, on this machine, so machine speed cancels out.
//   proxy:    authenticated POST /api/2.0/mlflow/experiments/search at concurrency 8 through an
//             `up --tls` stack, against the same request through a plain-HTTP stack running at the
//             same time (keep-alive on, as clients keep their connections; runs interleaved t p t p)
//   start-up: `up -d --tls` with its certificate already made, until proven ready, against
//             `up -d` without TLS, alternated in the same state folder
// Usage: npm run bench:tls [-- --quick]
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'dist', 'cli.js');
const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 1 : 5;
const LOAD_SECONDS = quick ? 3 : 5;
const PASSWORD = 'bench-password-1';
const work = mkdtempSync(path.join(os.tmpdir(), 'mlflow-secure-bench-tls-'));
const db = path.join(work, 'mlflow.db');
const env = { ...process.env, MLFLOW_SECURE_PASSWORD: PASSWORD };
// Two state folders: the HTTPS stack and the plain one run side by side for the proxy figures.
const folders = { tls: path.join(work, 'tls'), plain: path.join(work, 'plain') };
for (const f of Object.values(folders)) mkdirSync(f);

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const fmt = (x, d = 2) => x.toFixed(d);

function runCli(cwd, args) {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd, env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mlflow-secure ${args.join(' ')} failed (${r.status}):\n${r.stderr}`);
  return r.stdout;
}

const up = (cwd, tls) =>
  runCli(cwd, ['up', '-d', '-q', '--port', 'auto', '--backend-store-uri', db, ...(tls ? ['--tls'] : [])]);
const down = (cwd) => runCli(cwd, ['down']);
const record = (cwd) => JSON.parse(readFileSync(path.join(cwd, '.mlflow-secure', 'stack.json'), 'utf8'));

const SEARCH = '/api/2.0/mlflow/experiments/search';

/** `warmUp`: cold workers may time out a request or two; only measured runs must be clean. */
async function load(url, seconds = LOAD_SECONDS, warmUp = false) {
  const result = await autocannon({
    url: `${url}${SEARCH}`,
    method: 'POST',
    body: '{"max_results":10}',
    headers: {
      authorization: `Basic ${Buffer.from(`admin:${PASSWORD}`).toString('base64')}`,
      'content-type': 'application/json',
    },
    connections: 8,
    duration: seconds,
  });
  if (!warmUp && (result.non2xx > 0 || result.errors > 0))
    throw new Error(`load on ${url} saw ${result.non2xx} non-2xx responses and ${result.errors} errors`);
  return { rps: result.requests.average, p50: result.latency.p50 };
}

async function main() {
  console.log(
    `mlflow-secure bench (TLS): ${os.cpus().length} cores, node ${process.version}; rounds ${ROUNDS}, load ${LOAD_SECONDS} s at concurrency 8`,
  );
  // Warm-up: the database migrated once, the local CA and server certificate made once.
  up(folders.tls, true);
  down(folders.tls);

  // --- proxy throughput ------------------------------------------------------------------
  up(folders.tls, true);
  up(folders.plain, false);
  const urls = { tls: record(folders.tls).url, plain: record(folders.plain).url };
  const runs = { tls: [], plain: [] };
  try {
    // Each uvicorn worker loads its tracking store on its first API call: warm both stacks.
    await load(urls.tls, 5, true);
    await load(urls.plain, 5, true);
    for (let i = 0; i < Math.max(2, ROUNDS - 2); i++) {
      runs.tls.push(await load(urls.tls));
      runs.plain.push(await load(urls.plain));
    }
  } finally {
    down(folders.tls);
    down(folders.plain);
  }
  const tlsRps = mean(runs.tls.map((r) => r.rps));
  const plainRps = mean(runs.plain.map((r) => r.rps));
  const proxyRatio = tlsRps / plainRps;
  console.log(
    `proxy:    POST experiments/search c=8: HTTPS ${fmt(tlsRps, 0)} req/s (p50 ${fmt(median(runs.tls.map((r) => r.p50)), 0)} ms), plain HTTP ${fmt(plainRps, 0)} req/s (p50 ${fmt(median(runs.plain.map((r) => r.p50)), 0)} ms) -> ratio ${fmt(proxyRatio)}x (target >= 0.85x)`,
  );

  // --- start-up ----------------------------------------------------------------------------
  const times = { tls: [], plain: [] };
  for (let i = 0; i < ROUNDS; i++) {
    for (const tls of i % 2 === 0 ? [true, false] : [false, true]) {
      const t = performance.now();
      up(folders.tls, tls);
      times[tls ? 'tls' : 'plain'].push(performance.now() - t);
      down(folders.tls);
    }
  }
  const startRatio = median(times.tls) / median(times.plain);
  console.log(
    `start-up: up -d --tls ${fmt(median(times.tls) / 1000)} s vs up -d ${fmt(median(times.plain) / 1000)} s (medians of ${ROUNDS}; certificate already made) -> ratio ${fmt(startRatio)}x (target <= 1.05x)`,
  );

  console.log('\nsummary');
  console.log(
    `  HTTPS proxy throughput ${fmt(proxyRatio)}x of plain HTTP (>= 0.85x: ${proxyRatio >= 0.85 ? 'met' : 'NOT met'})`,
  );
  console.log(
    `  start-up with --tls ${fmt(startRatio)}x of without (<= 1.05x: ${startRatio <= 1.05 ? 'met' : 'NOT met'})`,
  );
}

try {
  await main();
} finally {
  for (const f of Object.values(folders)) spawnSync(process.execPath, [cli, 'down'], { cwd: f, env });
  rmSync(work, { recursive: true, force: true });
}
