#!/usr/bin/env node
// MLflow's own knobs, measured on this machine, to choose mlflow-secure's defaults for
// --workers and --jobs (README "Performance"). For MLflow workers 1, 2, 4 and job execution on
// and off:
//   start-up: plain `mlflow ui --workers n` (direct, no proxy) until /health answers and until
//             its first API answer (POST experiments/search {"max_results":1}); medians of rounds
//             interleaved across the configurations, so drift hits them all alike
//   stop:     TERM to plain MLflow's process group until every process is gone
//   load:     `mlflow-secure up -d --workers n --jobs on|off`: authenticated GET
//             experiments/search through nginx against the same request straight to MLflow (its
//             socket, or its port with jobs on), concurrency 8, interleaved runs
//   memory:   that stack's MLflow process tree after the load (every worker has loaded its
//             tracking store, the job runner's consumers are up): process count, summed RSS, PSS
// Usage: npm run bench:workers [-- --quick]
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  API,
  cli,
  compareThroughput,
  fmt,
  freePort,
  load,
  median,
  mib,
  runCli,
  sleep,
  stackRecord,
  startPlainMlflow,
  treeMemory,
  waitSettled,
} from './bench-lib.mjs';

const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 1 : 3;
const LOAD_SECONDS = quick ? 3 : 10;
const WORKERS = [1, 2, 4];
const JOBS = ['off', 'on'];
const configs = WORKERS.flatMap((workers) => JOBS.map((jobs) => ({ workers, jobs })));
const key = (c) => `${c.workers}/${c.jobs}`;

const work = mkdtempSync(path.join(os.tmpdir(), 'mlflow-secure-bench-workers-'));
const stateDir = path.join(work, '.mlflow-secure');
const db = path.join(work, 'mlflow.db');
const at = { cwd: work };

async function main() {
  console.log(
    `mlflow-secure bench:workers: ${os.cpus().length} cores, node ${process.version}; ${ROUNDS} start-up rounds, load ${LOAD_SECONDS} s at concurrency 8`,
  );
  // Create and migrate the database once: every start below opens an existing one.
  runCli(['up', '-d', '--port', 'auto', '--backend-store-uri', db], at);
  runCli(['down'], at);

  const starts = new Map(configs.map((c) => [key(c), { health: [], api: [], stop: [] }]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const c of configs) {
      const port = await freePort();
      const plain = startPlainMlflow({
        cwd: work,
        port,
        args: ['--backend-store-uri', `sqlite:///${db}`, '--port', String(port), '--workers', String(c.workers)],
        env: { MLFLOW_SERVER_ENABLE_JOB_EXECUTION: c.jobs === 'on' ? 'true' : 'false' },
      });
      let t;
      try {
        t = await plain.ready();
      } catch (error) {
        await plain.stop();
        throw error;
      }
      const s = starts.get(key(c));
      s.health.push(t.health);
      s.api.push(t.api);
      s.stop.push(await plain.stop());
      console.log(
        `  round ${round + 1}: workers ${c.workers}, jobs ${c.jobs.padEnd(3)}: /health ${fmt(t.health / 1000)} s, first API ${fmt(t.api / 1000)} s`,
      );
      await sleep(500);
    }
  }

  const rows = [];
  for (const c of configs) {
    const upStart = performance.now();
    runCli(
      ['up', '-d', '--port', 'auto', '--backend-store-uri', db, '--workers', String(c.workers), '--jobs', c.jobs],
      at,
    );
    const upSeconds = (performance.now() - upStart) / 1000;
    const r = stackRecord(stateDir);
    try {
      // Loaded only once MLflow's tree is complete (the job runner's consumers up and imported).
      await waitSettled(r.mlflow.pid, upStart);
      // Every uvicorn worker loads its tracking store on its first API call: warm them all.
      await load(r.direct, { path: API, seconds: 5 });
      const t = await compareThroughput(r.direct, { port: r.port }, { path: API, seconds: LOAD_SECONDS });
      const mem = treeMemory(r.mlflow.pid);
      const s = starts.get(key(c));
      rows.push({ ...c, health: median(s.health), api: median(s.api), stop: median(s.stop), upSeconds, ...t, mem });
      console.log(
        `  workers ${c.workers}, jobs ${c.jobs.padEnd(3)}: direct ${fmt(t.direct, 0)} req/s, through the proxy ${fmt(t.proxied, 0)} req/s -> ${fmt(t.ratio)}x; ` +
          `MLflow tree ${mem.processes} processes, RSS ${fmt(mib(mem.rssKiB), 0)} MiB, PSS ${fmt(mib(mem.pssKiB), 0)} MiB`,
      );
    } finally {
      runCli(['down'], at);
    }
    await sleep(500);
  }

  console.log(
    `\nplain mlflow ui (medians of ${ROUNDS}) and mlflow-secure's stack (load ${LOAD_SECONDS} s x 3 per side, interleaved, c=8):`,
  );
  console.log(
    'workers | jobs | /health s | first API s | stop s | up -d s | processes | RSS MiB | PSS MiB | direct req/s | proxy req/s | proxy/direct',
  );
  for (const x of rows) {
    console.log(
      [
        x.workers,
        x.jobs,
        fmt(x.health / 1000),
        fmt(x.api / 1000),
        fmt(x.stop / 1000),
        fmt(x.upSeconds),
        x.mem.processes,
        fmt(mib(x.mem.rssKiB), 0),
        fmt(mib(x.mem.pssKiB), 0),
        fmt(x.direct, 0),
        fmt(x.proxied, 0),
        `${fmt(x.ratio)}x`,
      ]
        .map(String)
        .join(' | '),
    );
  }
}

try {
  await main();
} finally {
  const { spawnSync } = await import('node:child_process');
  spawnSync(process.execPath, [cli, 'down'], { cwd: work });
  rmSync(work, { recursive: true, force: true });
}
