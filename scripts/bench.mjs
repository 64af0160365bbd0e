#!/usr/bin/env node
// The goals of README "Performance", measured in one run on this machine, each printed next to
// its target with PASS or FAIL. Every figure compares two things measured in this same run, so
// machine speed cancels out. mlflow-secure runs with its defaults throughout.
//   (a) start-up: `up -d` until proven healthy, against plain `mlflow ui` with its own defaults
//       (4 workers, job execution on; only --port is given, a free one) until its first API
//       answer; medians of interleaved rounds
//   (b) throughput: authenticated GET experiments/search through nginx, against the same request
//       straight to the stack's MLflow (its socket, or its port), concurrency 8, interleaved
//   (c) memory: summed RSS (and PSS) of the stack's process trees (MLflow + nginx), against plain
//       `mlflow ui`'s tree, each after load and once its job consumers (if any) are up
//   (d) stop: `down` until every process is gone and the port and socket are free, on a fresh
//       stack and on one after >= 60 s of uptime followed by load
//   (e) a 1 GiB artifact up and down through the proxy against straight to MLflow, over MLflow's
//       artifact proxy REST paths (PUT/GET /api/2.0/mlflow-artifacts/artifacts/<path>); medians
//       of 3 each; size and sha256 checked once
// The benchmark always exits 0 when it ran: a missed target is a finding, not a crash.
// Usage: npm run bench [-- --quick] [-- --hashes]   (--hashes adds the hash-scheme sweep)
import { createHash, randomFillSync } from 'node:crypto';
import { createReadStream, mkdtempSync, openSync, rmSync, statSync, writeSync, closeSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import {
  API,
  basicAuth,
  cli,
  compareThroughput,
  fmt,
  freePort,
  load,
  mark,
  median,
  mib,
  runCli,
  sleep,
  stackRecord,
  startPlainMlflow,
  timedDown,
  treeMemory,
  waitSettled,
} from './bench-lib.mjs';

const quick = process.argv.includes('--quick');
const hashes = process.argv.includes('--hashes');
const ROUNDS = quick ? 1 : 5;
const LOAD_SECONDS = quick ? 3 : 10;
const TRANSFERS = quick ? 1 : 3;
const ARTIFACT_BYTES = quick ? 256 * 1024 * 1024 : 1024 * 1024 * 1024;
const AGED_SECONDS = 60;

const work = mkdtempSync(path.join(os.tmpdir(), 'mlflow-secure-bench-'));
const stateDir = path.join(work, '.mlflow-secure');
const at = { cwd: work };
/** Plain MLflow's own defaults: nothing of ours in its environment. */
const plainEnv = { MLFLOW_SERVER_ENABLE_JOB_EXECUTION: undefined, MLFLOW_UVICORN_OPTS: undefined };

const results = [];
function report(label, figure, ok, target) {
  results.push({ label, figure, ok, target });
  console.log(`${label}: ${figure}${target ? `   target ${target}: ${mark(ok)}` : ''}`);
}

/** The defaults, as `config --json` shows them. */
function defaults() {
  const plan = JSON.parse(runCli(['config', '--json', '--port', 'auto'], at));
  return {
    workers: plan.mlflow.workers,
    jobs: plan.mlflow.jobs ? 'on' : 'off',
    hash: plan.hashScheme,
    cost: plan.bcryptCost,
  };
}

/** Plain `mlflow ui` until its first API answer; the last round also measures its tree after load. */
async function plainRound(withMemory) {
  const port = await freePort();
  const plain = startPlainMlflow({ cwd: work, port, args: ['--port', String(port)], env: plainEnv });
  const started = performance.now();
  try {
    const t = await plain.ready();
    if (!withMemory) return t;
    // Its job runner starts the huey consumers about 10-12 s after start: measure once they are up.
    await waitSettled(plain.pid, started);
    await load({ port }, { path: API, seconds: 5 });
    return { ...t, mem: treeMemory(plain.pid) };
  } finally {
    await plain.stop();
  }
}

function makeArtifact(file, bytes) {
  const hash = createHash('sha256');
  const chunk = Buffer.alloc(8 * 1024 * 1024);
  const fd = openSync(file, 'w');
  try {
    for (let left = bytes; left > 0; left -= chunk.length) {
      const part = chunk.subarray(0, Math.min(chunk.length, left));
      randomFillSync(part);
      hash.update(part);
      writeSync(fd, part);
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

const artifactPath = (name) => `/api/2.0/mlflow-artifacts/artifacts/bench/${name}`;

/** One streamed PUT of the whole file, as MLflow's client sends it; resolves with the seconds taken. */
function upload(where, name, file, auth) {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const headers = {
      'content-type': 'application/octet-stream',
      'content-length': String(statSync(file).size),
      ...(auth ? { authorization: basicAuth() } : {}),
    };
    const req = http.request(
      { host: '127.0.0.1', ...where, method: 'PUT', path: artifactPath(name), headers, agent: false },
      (res) => {
        res.resume();
        res.on('end', () =>
          res.statusCode === 200
            ? resolve((performance.now() - t) / 1000)
            : reject(new Error(`upload ${name}: HTTP ${res.statusCode}`)),
        );
      },
    );
    req.on('error', reject);
    createReadStream(file, { highWaterMark: 1024 * 1024 }).pipe(req);
  });
}

/** GET of the whole artifact; resolves with the seconds taken, its size and (when asked) its sha256. */
function download(where, name, auth, withHash = false) {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const hash = withHash ? createHash('sha256') : undefined;
    let size = 0;
    const headers = auth ? { authorization: basicAuth() } : {};
    const req = http.get({ host: '127.0.0.1', ...where, path: artifactPath(name), headers, agent: false }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`download ${name}: HTTP ${res.statusCode}`));
        return;
      }
      res.on('data', (d) => {
        size += d.length;
        hash?.update(d);
      });
      res.on('end', () => resolve({ seconds: (performance.now() - t) / 1000, size, sha256: hash?.digest('hex') }));
    });
    req.on('error', reject);
  });
}

async function transfers(r) {
  const file = path.join(work, 'artifact.bin');
  const sha256 = makeArtifact(file, ARTIFACT_BYTES);
  const direct = r.direct;
  const proxy = { port: r.port };
  const up = { direct: [], proxy: [] };
  const down = { direct: [], proxy: [] };
  try {
    for (let i = 0; i < TRANSFERS; i++) {
      up.direct.push(await upload(direct, 'direct.bin', file, false));
      up.proxy.push(await upload(proxy, 'proxy.bin', file, true));
    }
    const check = await download(proxy, 'proxy.bin', true, true);
    const intact = check.size === ARTIFACT_BYTES && check.sha256 === sha256;
    for (let i = 0; i < TRANSFERS; i++) {
      const d = await download(direct, 'direct.bin', false);
      const p = await download(proxy, 'proxy.bin', true);
      if (d.size !== ARTIFACT_BYTES || p.size !== ARTIFACT_BYTES)
        throw new Error(`download sizes ${d.size} and ${p.size}, want ${ARTIFACT_BYTES}`);
      down.direct.push(d.seconds);
      down.proxy.push(p.seconds);
    }
    return {
      intact,
      up: { direct: median(up.direct), proxy: median(up.proxy) },
      down: { direct: median(down.direct), proxy: median(down.proxy) },
    };
  } finally {
    rmSync(file, { force: true });
    rmSync(path.join(work, 'mlartifacts', 'bench'), { recursive: true, force: true });
  }
}

const memLine = (m) => `${m.processes} processes, RSS ${fmt(mib(m.rssKiB), 0)} MiB (PSS ${fmt(mib(m.pssKiB), 0)} MiB)`;

/** The password-check cost per hash scheme and nginx worker count (README "Password hashes"). */
async function hashSweep() {
  const STATIC = '/static-files/favicon.ico';
  const schemes = [['bcrypt', 10], ['bcrypt', 8], ['bcrypt', 6], ['bcrypt', 5], ['bcrypt', 4], ['apr1']];
  for (const nginxWorkers of [1, 2]) {
    runCli(['up', '-d', '--port', 'auto', '--nginx-workers', String(nginxWorkers)], at);
    const r = stackRecord(stateDir);
    try {
      await load(r.direct, { path: API, seconds: 5 });
      for (const [scheme, cost] of schemes) {
        runCli(['user', 'passwd', 'admin', '--hash', scheme, ...(cost ? ['--bcrypt-cost', String(cost)] : [])], at);
        const name = cost ? `${scheme} cost ${cost}` : scheme;
        for (const [what, pathName] of [
          ['api', API],
          ['static', STATIC],
        ]) {
          const t = await compareThroughput(r.direct, { port: r.port }, { path: pathName, seconds: 3 });
          console.log(
            `hashes: nginx workers ${nginxWorkers}, ${name.padEnd(14)} ${what.padEnd(6)} direct ${fmt(t.direct, 0).padStart(5)} req/s, through nginx ${fmt(t.proxied, 0).padStart(5)} req/s -> ${fmt(t.ratio)}x`,
          );
        }
      }
    } finally {
      runCli(['down'], at);
    }
  }
}

async function main() {
  const d = defaults();
  console.log(
    `mlflow-secure bench: ${os.cpus().length} cores, node ${process.version}; ${ROUNDS} start-up rounds, load ${LOAD_SECONDS} s at concurrency 8`,
  );
  console.log(
    `defaults: --workers ${d.workers} --jobs ${d.jobs}, ${d.hash}${d.cost ? ` cost ${d.cost}` : ''}; plain mlflow ui with its own defaults (4 workers, jobs on)\n`,
  );

  // Create and migrate the database (<cwd>/mlflow.db: both sides' default) once, so every start
  // below opens an existing one.
  runCli(['up', '-d', '--port', 'auto'], at);
  runCli(['down'], at);

  // (a) start-up, and (d) `down` on a fresh stack; plain and ours interleaved.
  const plainApi = [];
  const plainHealth = [];
  const ours = [];
  const freshDown = [];
  let plainMem;
  for (let i = 0; i < ROUNDS; i++) {
    const p = await plainRound(i === ROUNDS - 1);
    plainApi.push(p.api);
    plainHealth.push(p.health);
    plainMem = p.mem ?? plainMem;
    await sleep(500);
    const t = performance.now();
    runCli(['up', '-d', '--port', 'auto'], at);
    ours.push(performance.now() - t);
    await sleep(500);
    freshDown.push(await timedDown(stateDir, work));
    await sleep(500);
  }
  const startRatio = median(ours) / median(plainApi);
  report(
    '(a) start-up',
    `up -d until proven healthy ${fmt(median(ours) / 1000)} s vs plain mlflow ui until its first API answer ${fmt(median(plainApi) / 1000)} s (/health ${fmt(median(plainHealth) / 1000)} s); medians of ${ROUNDS} -> ${fmt(startRatio)}x`,
    startRatio <= 0.7,
    '<= 0.70x',
  );

  // One stack for (b), (c), (e) and the aged `down`.
  const upAt = performance.now();
  runCli(['up', '-d', '--port', 'auto'], at);
  const r = stackRecord(stateDir);
  let agedDown;
  let ageSeconds;
  try {
    // Every uvicorn worker loads its tracking store on its first API call: warm them all.
    await load(r.direct, { path: API, seconds: 5 });
    const t = await compareThroughput(r.direct, { port: r.port }, { path: API, seconds: LOAD_SECONDS });
    report(
      '(b) throughput',
      `through the proxy ${fmt(t.proxied, 0)} req/s vs direct ${fmt(t.direct, 0)} req/s (same ${d.workers} worker(s), ${r.direct.socketPath ? 'direct over its socket' : 'direct over TCP'}) -> ${fmt(t.ratio)}x`,
      t.ratio >= 0.95,
      '>= 0.95x',
    );

    const mlflowMem = treeMemory(r.mlflow.pid);
    const nginxMem = treeMemory(r.nginx.pid);
    const stack = {
      processes: mlflowMem.processes + nginxMem.processes,
      rssKiB: mlflowMem.rssKiB + nginxMem.rssKiB,
      pssKiB: mlflowMem.pssKiB + nginxMem.pssKiB,
    };
    report(
      '(c) memory',
      `stack ${memLine(stack)} = MLflow ${memLine(mlflowMem)} + nginx ${memLine(nginxMem)}; plain mlflow ui ${memLine(plainMem)} -> RSS ${fmt(stack.rssKiB / plainMem.rssKiB)}x`,
    );

    const x = await transfers(r);
    const size = `${fmt(ARTIFACT_BYTES / 1024 ** 3, 2)} GiB`;
    report(
      '(e) artifact check',
      `${size} uploaded and downloaded through the proxy: size and sha256 ${x.intact ? 'match' : 'DO NOT match'}`,
      x.intact,
      'bytes intact',
    );
    report(
      '(e) upload',
      `${size} through the proxy ${fmt(x.up.proxy)} s vs direct ${fmt(x.up.direct)} s (medians of ${TRANSFERS}) -> ${fmt(x.up.direct / x.up.proxy)}x the speed`,
      x.up.direct / x.up.proxy >= 0.9,
      '>= 0.90x',
    );
    report(
      '(e) download',
      `${size} through the proxy ${fmt(x.down.proxy)} s vs direct ${fmt(x.down.direct)} s (medians of ${TRANSFERS}) -> ${fmt(x.down.direct / x.down.proxy)}x the speed`,
      x.down.direct / x.down.proxy >= 0.9,
      '>= 0.90x',
    );

    // (d), aged: at least 60 s of uptime, then load, then `down`.
    await sleep(Math.max(0, AGED_SECONDS * 1000 - (performance.now() - upAt)));
    await load({ port: r.port }, { path: API, seconds: 5, auth: true });
    ageSeconds = (performance.now() - upAt) / 1000;
  } finally {
    agedDown = await timedDown(stateDir, work);
  }
  report(
    '(d) down, fresh',
    `${fmt(median(freshDown) / 1000)} s (median of ${ROUNDS})`,
    median(freshDown) <= 1500,
    '<= 1.5 s',
  );
  if (ageSeconds !== undefined)
    report(
      '(d) down, aged',
      `${fmt(agedDown / 1000)} s after ${fmt(ageSeconds, 0)} s of uptime and load`,
      agedDown <= 1500,
      '<= 1.5 s',
    );

  if (hashes) await hashSweep();

  console.log('\nsummary');
  for (const x of results)
    console.log(
      `  ${x.target ? mark(x.ok).padEnd(5) : '     '}${x.label}: ${x.figure}${x.target ? ` (target ${x.target})` : ''}`,
    );
}

try {
  await main();
} catch (error) {
  console.error(`bench failed: ${error.stack ?? error}`);
  process.exitCode = 1;
} finally {
  const { spawnSync } = await import('node:child_process');
  spawnSync(process.execPath, [cli, 'down'], { cwd: work });
  rmSync(work, { recursive: true, force: true });
}
