// Part 1, cycles: `up -d` / `down` again and again in one state folder. After each `down`: no
// process of the stack left (process table), no port still bound, no stray file (the folder
// holds the same set of entries as after the first `down`: no record, *.tmp, socket, pid file).
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import {
  API_PATH,
  check,
  cleanEnv,
  cli,
  describeProcs,
  httpGet,
  inspectStopped,
  listeningPortsOf,
  median,
  observe,
  quantile,
  say,
  seconds,
  stackProcs,
  tail,
  trackStateDir,
  upDetached,
} from './lib.mjs';

export async function cycles({ count, work, password }) {
  const part = 'cycles';
  const cwd = path.join(work, 'cycles');
  mkdirSync(cwd, { recursive: true });
  const stateDir = path.join(cwd, 'state');
  const groups = trackStateDir(stateDir, cwd);
  const env = cleanEnv({ MLFLOW_SECURE_PASSWORD: password });
  const ups = [];
  const downs = [];
  let reference;
  let clean = 0;
  say(`cycles: ${count} x (up -d, one authenticated API call, down) in ${stateDir}`);
  for (let i = 1; i <= count; i++) {
    const label = `cycle ${i}`;
    const up = await upDetached(stateDir, cwd, env);
    const procs = stackProcs(stateDir, groups);
    observe(groups, procs);
    const ports = listeningPortsOf(procs.map((p) => p.pid));
    let ok = check(part, `${label}: up -d`, up.ok, up.detail);
    if (up.ok) {
      ups.push(up.r.ms);
      const code = await httpGet(up.url, API_PATH, { user: 'admin', password });
      ok = check(part, `${label}: authenticated API call through nginx`, code === 200, `got ${code}`) && ok;
    }
    const down = await cli(['down', '--state-dir', stateDir], { cwd, env, timeoutMs: 60_000 });
    ok =
      check(
        part,
        `${label}: down exits 0`,
        down.code === 0,
        `exit ${down.code ?? down.signal}: ${tail(down.stderr || down.stdout)}`,
      ) && ok;
    if (down.code === 0) downs.push(down.ms);
    const left = await inspectStopped(stateDir, groups, { url: up.url, ports });
    const procDetail =
      left.procsLater.length > 0
        ? `still there 10 s later: ${describeProcs(left.procsLater)}`
        : `gone only after down returned: ${describeProcs(left.procsNow)}`;
    ok = check(part, `${label}: 0 processes left`, left.procsNow.length === 0, procDetail) && ok;
    ok = check(part, `${label}: 0 ports still bound`, left.portIssues.length === 0, left.portIssues.join('; ')) && ok;
    const entries = [...left.tree.keys()].sort();
    if (reference === undefined) reference = entries;
    const extra = entries.filter((e) => !reference.includes(e));
    const missing = reference.filter((e) => !entries.includes(e));
    const strays = [...left.fileIssues, ...extra.map((e) => `new ${e}`), ...missing.map((e) => `missing ${e}`)];
    ok = check(part, `${label}: 0 stray files`, strays.length === 0, strays.join('; ')) && ok;
    if (ok) clean++;
    say(
      `  ${label}/${count}: up ${up.ok ? seconds(up.r.ms) : 'FAILED'}, down ${down.code === 0 ? seconds(down.ms) : 'FAILED'}, ${procs.length} processes, ports ${ports.join(',') || '-'}${ok ? '' : '  <- FAIL'}`,
    );
  }
  const figures = [
    `${clean}/${count} clean cycles`,
    `up -d median ${seconds(median(ups))}, p95 ${seconds(quantile(ups, 0.95))}`,
    `down median ${seconds(median(downs))}, p95 ${seconds(quantile(downs, 0.95))}`,
  ];
  for (const f of figures) say(`cycles: ${f}`);
  return { figures };
}
