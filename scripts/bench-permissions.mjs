#!/usr/bin/env node
// `up --permissions` measured against the plain stack and MLflow's own basic-auth app, in one run
// (README "Performance"; issue "Measure"):
//   load:  authenticated GET experiments/search at concurrency 8 as a non-admin user (alice):
//          the plain stack (nginx -> MLflow), the --permissions stack (nginx -> MLflow's auth app
//          with our authorization function), and MLflow's basic-auth app at its defaults (it checks
//          the password itself, auth_cache_ttl_seconds 0), all with 2 workers and jobs off;
//          rounds interleaved so that drift hits all three alike
//   token: the same request on the --permissions stack with alice's token (Bearer, checked by our
//          authorization function) against alice's password (checked by nginx), interleaved
//   start: `up -d` and `up -d --permissions` until they return (healthy and proven), on a new state
//          folder and again on the same one, interleaved
// Usage: npm run bench:permissions [-- --quick]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import {
  API,
  cli,
  fmt,
  freePort,
  httpStatus,
  mean,
  median,
  PASSWORD,
  runCli,
  sleep,
  stackRecord,
  startPlainMlflow,
} from './bench-lib.mjs';

const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 1 : 3;
const SECONDS = quick ? 4 : 10;
const ALICE = { user: 'alice', password: 'alice-bench-password' };
const auth = (u) => `Basic ${Buffer.from(`${u.user}:${u.password}`).toString('base64')}`;

/** `who`: a user and password (Basic), or a token string (Bearer). */
async function loadAs(port, who) {
  const r = await autocannon({
    url: `http://127.0.0.1:${port}${API}`,
    connections: 8,
    duration: SECONDS,
    timeout: 30,
    headers: { authorization: typeof who === 'string' ? `Bearer ${who}` : auth(who) },
  });
  if (r.non2xx > 0 || r.errors > 0) throw new Error(`load on ${port}: ${r.non2xx} non-2xx, ${r.errors} errors`);
  return { rps: r.requests.average, p50: r.latency.p50 };
}

function timedUp(cwd, extra) {
  const t = performance.now();
  runCli(['up', '-d', '--port', 'auto', '--workers', '2', '--jobs', 'off', ...extra], { cwd });
  return performance.now() - t;
}

function addAlice(cwd) {
  const r = spawnSync(process.execPath, [cli, 'user', 'add', ALICE.user], {
    cwd,
    env: { ...process.env, MLFLOW_SECURE_PASSWORD: ALICE.password },
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`user add alice failed:\n${r.stderr}`);
}

const dirs = [];
const tmp = (name) => {
  const d = mkdtempSync(path.join(os.tmpdir(), `mlflow-secure-bench-${name}-`));
  dirs.push(d);
  return d;
};

async function main() {
  const plainDir = tmp('plain');
  const permDir = tmp('perm');
  const starts = { plain: [], perm: [], plainFresh: 0, permFresh: 0 };

  // Fresh state folders first (the auth database is created and migrated on the first start).
  starts.plainFresh = timedUp(plainDir, []);
  starts.permFresh = timedUp(permDir, ['--permissions']);
  addAlice(plainDir);
  addAlice(permDir);
  const token = spawnSync(process.execPath, [cli, 'token', 'create', 'bench', '--user', ALICE.user], {
    cwd: permDir,
    encoding: 'utf8',
  });
  if (token.status !== 0) throw new Error(`token create failed:\n${token.stderr}`);
  const aliceToken = token.stdout.trim();

  // MLflow's own basic-auth app at its defaults, alice made by its admin through its REST API.
  const basicDir = tmp('basic');
  const basicPort = await freePort();
  writeFileSync(
    path.join(basicDir, 'auth.ini'),
    `[mlflow]\ndefault_permission = READ\ndatabase_uri = sqlite:///${path.join(basicDir, 'auth.db')}\n`,
  );
  const basic = startPlainMlflow({
    cwd: basicDir,
    port: basicPort,
    args: [
      '--app-name',
      'basic-auth',
      '--host',
      '127.0.0.1',
      '--port',
      String(basicPort),
      '--workers',
      '2',
      '--backend-store-uri',
      `sqlite:///${path.join(basicDir, 'mlflow.db')}`,
    ],
    env: {
      MLFLOW_AUTH_CONFIG_PATH: path.join(basicDir, 'auth.ini'),
      MLFLOW_AUTH_ADMIN_USERNAME: 'admin',
      MLFLOW_AUTH_ADMIN_PASSWORD: PASSWORD,
      MLFLOW_FLASK_SERVER_SECRET_KEY: 'bench-secret-key',
      MLFLOW_SERVER_ENABLE_JOB_EXECUTION: 'false',
    },
  });
  try {
    const deadline = Date.now() + 180_000;
    while ((await httpStatus({ port: basicPort })) !== 200) {
      if (Date.now() > deadline) throw new Error('the basic-auth app did not answer /health');
      await sleep(200);
    }
    const created = await httpStatus(
      { port: basicPort },
      {
        method: 'POST',
        path: '/api/2.0/mlflow/users/create',
        headers: { 'content-type': 'application/json', authorization: auth({ user: 'admin', password: PASSWORD }) },
        body: JSON.stringify({ username: ALICE.user, password: ALICE.password }),
        timeoutMs: 30_000,
      },
    );
    if (created !== 200) throw new Error(`the basic-auth app refused to create alice (${created})`);

    const plainPort = stackRecord(path.join(plainDir, '.mlflow-secure')).port;
    const permPort = stackRecord(path.join(permDir, '.mlflow-secure')).port;
    const runs = { plain: [], perm: [], basic: [], token: [] };
    for (const [name, port] of [
      ['plain', plainPort],
      ['perm', permPort],
      ['basic', basicPort],
    ])
      await loadAs(port, ALICE).catch((e) => console.error(`warm-up ${name}: ${e.message}`));
    await loadAs(permPort, aliceToken).catch((e) => console.error(`warm-up token: ${e.message}`));
    for (let i = 0; i < ROUNDS; i++) {
      runs.plain.push(await loadAs(plainPort, ALICE));
      runs.perm.push(await loadAs(permPort, ALICE));
      runs.basic.push(await loadAs(basicPort, ALICE));
      // The basic-auth app is still hashing the requests it had queued (p50 1.5 s) when the load
      // stops: let it finish, or its CPU goes to whatever is measured next on these 2 cores.
      await new Promise((r) => setTimeout(r, 3000));
      runs.token.push(await loadAs(permPort, aliceToken));
    }
    const rps = (xs) => mean(xs.map((x) => x.rps));
    const p50 = (xs) => median(xs.map((x) => x.p50));
    console.log(
      `experiments/search as alice (non-admin), c=8, ${ROUNDS}x${SECONDS}s interleaved, 2 workers, jobs off:`,
    );
    for (const [name, label] of [
      ['plain', 'plain stack (nginx -> MLflow)       '],
      ['perm', 'up --permissions                    '],
      ['basic', "MLflow's basic-auth app (defaults)  "],
      ['token', '--permissions, with a token          '],
    ])
      console.log(`  ${label} ${fmt(rps(runs[name]), 1)} req/s  p50 ${p50(runs[name])} ms`);
    const vsPlain = rps(runs.perm) / rps(runs.plain);
    const vsBasic = rps(runs.perm) / rps(runs.basic);
    console.log(`  --permissions / plain:      ${fmt(vsPlain)}x  (target >= 0.85)`);
    console.log(`  --permissions / basic-auth: ${fmt(vsBasic, 1)}x  (target >= 15)`);
    const tokenVsPassword = rps(runs.token) / rps(runs.perm);
    console.log(
      `  token / password:           ${fmt(tokenVsPassword)}x  (target within 10%: ${tokenVsPassword >= 0.9 ? 'PASS' : 'FAIL'})`,
    );
  } finally {
    await basic.stop();
  }

  // Starts on the same folders again, interleaved.
  for (let i = 0; i < ROUNDS; i++) {
    runCli(['down'], { cwd: plainDir });
    starts.plain.push(timedUp(plainDir, []));
    runCli(['down'], { cwd: permDir });
    starts.perm.push(timedUp(permDir, ['--permissions']));
  }
  console.log('up -d until it returns (healthy, auth proven):');
  console.log(
    `  new state folder: plain ${fmt(starts.plainFresh / 1000, 1)} s, --permissions ${fmt(starts.permFresh / 1000, 1)} s (${fmt(starts.permFresh / starts.plainFresh)}x)`,
  );
  const sp = median(starts.plain);
  const sq = median(starts.perm);
  console.log(
    `  again (median of ${ROUNDS}): plain ${fmt(sp / 1000, 1)} s, --permissions ${fmt(sq / 1000, 1)} s (${fmt(sq / sp)}x, target <= 1.2)`,
  );
}

try {
  await main();
} finally {
  for (const d of dirs) {
    spawnSync(process.execPath, [cli, 'down'], { cwd: d, encoding: 'utf8' });
    rmSync(d, { recursive: true, force: true });
  }
}
