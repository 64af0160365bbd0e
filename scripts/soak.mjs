#!/usr/bin/env node
// The fault-and-soak suite: drives the built CLI (dist/cli.js) the way people do, and reads the
// Linux process table (/proc) to see what really runs, never the stack record. Not part of
// `npm test`; a full run takes about an hour on 2 cores. Parts (all by default):
//   cycles   up -d / down N times in one state folder: after each down no process, port or
//            stray file is left; up and down timings (median, p95)
//   kills    kill -9 of each component of a running foreground stack: it must end fully serving
//            or fully stopped (exit 3), and down must leave nothing
//   clients  N real MLflow Python clients at once through the proxy, W log_metric calls each:
//            0 errors, every value read back; throughput
//   users    N concurrent `user add`: all on file, each logs in (200 right, 401 wrong)
//   inputs   40+ bad inputs: one `error:` line, non-zero exit, nothing started, no data changed
//            (hostile stack records only inside a PID namespace: pid -1 means every process)
// Usage: npm run soak [-- --cycles N --trials N --clients N --writes N --users N --only a,b --keep]
// (--keep leaves the temp work folder with its logs.) Exit code 1 when any check failed, 2 for a
// bad option, 130 on Ctrl+C (after stopping every stack). Linux only; the inputs part needs root
// and util-linux's unshare for its PID namespace.
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { clients } from './soak/clients.mjs';
import { cycles } from './soak/cycles.mjs';
import { inputs } from './soak/inputs.mjs';
import { COMPONENTS, kills } from './soak/kills.mjs';
import { check, cleanUpAll, cliPath, ledger, say, seconds, silence, waitForCli } from './soak/lib.mjs';
import { users } from './soak/users.mjs';

const PARTS = ['cycles', 'kills', 'clients', 'users', 'inputs'];
const DEFAULTS = { cycles: 200, trials: 20, clients: 8, writes: 1000, users: 20 };

function usageError(message) {
  process.stderr.write(
    `soak: error: ${message}. Usage: node scripts/soak.mjs [--cycles N] [--trials N] [--clients N] [--writes N] [--users N] [--only ${PARTS.join(',')}] [--keep]\n`,
  );
  process.exit(2);
}

function options() {
  let values;
  try {
    ({ values } = parseArgs({
      options: Object.fromEntries([
        ...Object.keys(DEFAULTS).map((k) => [k, { type: 'string' }]),
        ['only', { type: 'string' }],
        ['keep', { type: 'boolean' }],
      ]),
      strict: true,
    }));
  } catch (error) {
    usageError(error.message.split('\n')[0]);
  }
  const o = { keep: values.keep === true };
  for (const [k, d] of Object.entries(DEFAULTS)) {
    const v = values[k] ?? String(d);
    if (!/^\d+$/.test(v) || Number(v) > 100_000)
      usageError(`--${k} must be a whole number from 0 to 100000, got '${v}'`);
    o[k] = Number(v);
  }
  o.only = values.only === undefined ? PARTS : values.only.split(',').map((s) => s.trim());
  const unknown = o.only.filter((p) => !PARTS.includes(p));
  if (unknown.length > 0 || o.only.length === 0)
    usageError(`--only takes parts from ${PARTS.join(', ')}, got '${values.only}'`);
  return o;
}

const o = options();
if (process.platform !== 'linux') {
  process.stderr.write('soak: error: the soak reads the Linux process table (/proc). Run it on Linux\n');
  process.exit(2);
}
const work = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'mlflow-secure-soak-')));
// Never a flag (argv shows in ps); the CLI gets it from MLFLOW_SECURE_PASSWORD.
const password = `soak-${Math.random().toString(36).slice(2)}-${Date.now().toString(36)}`;

let cleaning;
async function cleanUp() {
  cleaning ??= (async () => {
    await cleanUpAll(work);
    if (!o.keep) rmSync(work, { recursive: true, force: true });
  })();
  return cleaning;
}

// Ctrl+C (or TERM): stop every stack started so far, then leave with 128 + signal.
for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
  ['SIGHUP', 129],
]) {
  process.once(signal, () => {
    say(`\nsoak: ${signal}: stopping every stack it started...`);
    silence();
    cleanUp().finally(() => {
      process.stderr.write(`soak: interrupted by ${signal}; every stack it started is stopped\n`, () =>
        process.exit(code),
      );
    });
  });
}

const results = {};
const started = performance.now();
try {
  say(`mlflow-secure soak: ${os.cpus().length} cores, node ${process.version}, CLI ${cliPath}`);
  say(
    `  parts ${o.only.join(', ')}; cycles ${o.cycles}, kill trials ${o.trials} x ${COMPONENTS.length}, clients ${o.clients} x ${o.writes} writes, users ${o.users}; work folder ${work}`,
  );
  const ctx = { work, password };
  const timed = async (name, fn) => {
    if (
      !check(
        name,
        'the built CLI answers (dist/cli.js --version)',
        await waitForCli(),
        'not within 180 s: run npm run build',
      )
    )
      return;
    const t = performance.now();
    results[name] = { ...(await fn()), ms: performance.now() - t };
    say();
  };
  if (o.only.includes('cycles') && o.cycles > 0) await timed('cycles', () => cycles({ ...ctx, count: o.cycles }));
  if (o.only.includes('kills') && o.trials > 0) await timed('kills', () => kills({ ...ctx, trials: o.trials }));
  if (o.only.includes('clients') && o.clients > 0)
    await timed('clients', () => clients({ ...ctx, count: o.clients, writes: o.writes }));
  if (o.only.includes('users') && o.users > 0) await timed('users', () => users({ ...ctx, count: o.users }));
  if (o.only.includes('inputs')) await timed('inputs', () => inputs(ctx));
} catch (error) {
  // A bug in the soak itself: it counts as a failed check, with its stack.
  ledger.push({ part: 'soak', name: 'the soak ran to its end', ok: false, detail: error.stack });
  say(`soak: internal error: ${error.stack}`);
} finally {
  await cleanUp();
}

/**
 * How long a run with the default counts would take, scaled from this run's parts: cycles and
 * kill trials by their count, the clients by this run's write rate (plus its fixed part: stack
 * start, Python start, read-back, down), users and inputs as measured (they barely scale).
 */
function estimate() {
  const missing = PARTS.filter((p) => !results[p]);
  let ms = 0;
  if (results.cycles) ms += (results.cycles.ms / o.cycles) * DEFAULTS.cycles;
  if (results.kills) ms += (results.kills.ms / o.trials) * DEFAULTS.trials;
  if (results.clients) {
    const { writesPerSecond: wps, ms: partMs } = results.clients;
    const writeMs = wps ? ((o.clients * o.writes) / wps) * 1000 : 0;
    ms += partMs - writeMs + (wps ? ((DEFAULTS.clients * DEFAULTS.writes) / wps) * 1000 : 0);
  }
  if (results.users) ms += results.users.ms;
  if (results.inputs) ms += results.inputs.ms;
  return `  estimated run with the default counts: about ${Math.round(ms / 60_000)} min${missing.length ? ` (without ${missing.join(', ')}, not run here)` : ''}, from this run's timings`;
}

// --- summary ------------------------------------------------------------------------------------
say('summary');
const parts = [...new Set(ledger.map((c) => c.part))];
say(`  ${'part'.padEnd(9)}${'passed'.padStart(8)}${'failed'.padStart(8)}${'time'.padStart(11)}  figures`);
for (const part of parts) {
  const passed = ledger.filter((c) => c.part === part && c.ok).length;
  const failed = ledger.filter((c) => c.part === part && !c.ok).length;
  const figures = results[part]?.figures ?? [];
  say(
    `  ${part.padEnd(9)}${String(passed).padStart(8)}${String(failed).padStart(8)}${(results[part] ? seconds(results[part].ms) : '').padStart(11)}  ${figures[0] ?? ''}`,
  );
  for (const f of figures.slice(1)) say(`  ${''.padEnd(36)}  ${f}`);
}
say(`  total time ${seconds(performance.now() - started)}`);
say(estimate());
const passed = ledger.filter((c) => c.ok).length;
const failed = ledger.length - passed;
say(`soak: ${passed} passed, ${failed} failed`);
process.exitCode = failed > 0 ? 1 : 0;
