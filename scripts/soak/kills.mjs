// Part 2, kills: a foreground `up` is started and proven running, then one component gets
// `kill -9`: the nginx master, an nginx worker, the `mlflow` CLI process, a uvicorn worker (or
// uvicorn itself when it runs alone), or the foreground `up`. Within a bounded wait the stack
// must be either fully serving or fully stopped; then `down` must leave nothing of it.
//   fully serving: every component of before is there again (nginx master, as many workers,
//     the mlflow CLI, as many uvicorn workers), the foreground `up` still supervises (unless it
//     was the one killed), an authenticated API call through nginx answers 200, status exits 0;
//     all of it twice, 2 s apart
//   fully stopped: no process of the stack left and the foreground `up` exited with code 3
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import {
  API_PATH,
  check,
  cleanEnv,
  cli,
  countRoles,
  describeProcs,
  httpGet,
  inspectStopped,
  kill9,
  listeningPortsOf,
  median,
  observe,
  say,
  seconds,
  servingUvicorn,
  sleep,
  spawnCli,
  stackProcs,
  statusJson,
  tail,
  trackStateDir,
} from './lib.mjs';

export const COMPONENTS = ['nginx-master', 'nginx-worker', 'mlflow-cli', 'uvicorn-worker', 'up'];
const READY_MS = 180_000;
const VERDICT_MS = 60_000;
const STABLE_MS = 2_000;

function victimOf(component, procs, upPid) {
  if (component === 'up') return { pid: upPid, role: 'up', cmdline: 'node dist/cli.js up' };
  if (component === 'uvicorn-worker') return servingUvicorn(procs);
  return procs.find((p) => p.role === component);
}

/** Every component present before the kill is back, in the same numbers. */
function complete(before, now) {
  return ['nginx-master', 'nginx-worker', 'mlflow-cli', 'uvicorn', 'uvicorn-worker'].every(
    (role) => (now[role] ?? 0) >= (before[role] ?? 0),
  );
}

async function waitRunning(fg, stateDir, cwd) {
  const deadline = Date.now() + READY_MS;
  while (Date.now() < deadline) {
    if (fg.done())
      return {
        detail: `the foreground up exited (${fg.child.exitCode ?? fg.child.signalCode}) before it ran: ${tail(fg.output())}`,
      };
    const st = await statusJson(stateDir, cwd);
    // Healthy is not enough: `up` must have finished its own proof (phase running), or a kill
    // during the proof tests the proof instead of the supervisor.
    if (st.code === 0 && st.json?.url && st.json.phase === 'running') return { url: st.json.url };
    await sleep(500);
  }
  return { detail: `status did not say running within ${READY_MS / 1000} s: ${tail(fg.output())}` };
}

/** Polls until the stack is fully serving or fully stopped, or the bound runs out. */
async function verdict(component, fg, stateDir, cwd, groups, url, before, credentials) {
  const deadline = Date.now() + VERDICT_MS;
  let last = '';
  let servingSince;
  while (Date.now() < deadline) {
    const procs = stackProcs(stateDir, groups);
    observe(groups, procs);
    const upGone = fg.done();
    if (upGone && component !== 'up') {
      const code = fg.child.exitCode;
      const said =
        fg
          .output()
          .split('\n')
          .filter((l) => l.startsWith('error:'))
          .pop() ?? tail(fg.output(), 2);
      if (procs.length === 0)
        return code === 3
          ? { outcome: 'stopped', detail: said }
          : { outcome: `stopped, up exit ${code ?? fg.child.signalCode}`, detail: said };
      last = `up exited ${code ?? fg.child.signalCode} but left ${describeProcs(procs)}`;
    } else if (complete(before, countRoles(procs))) {
      const code = await httpGet(url, API_PATH, credentials);
      const st = code === 200 ? await statusJson(stateDir, cwd) : { code: 'not asked' };
      if (code === 200 && st.code === 0 && (component === 'up' || !fg.done())) {
        // Serving twice, STABLE_MS apart: a supervisor that is about to stop everything has had time to.
        servingSince ??= Date.now();
        if (Date.now() - servingSince >= STABLE_MS) return { outcome: 'serving' };
        last = 'serving, not yet for long';
      } else {
        servingSince = undefined;
        last = `all processes back, but API call ${code}, status exit ${st.code}`;
      }
    } else {
      servingSince = undefined;
      last = `partial: ${JSON.stringify(countRoles(procs))} (before ${JSON.stringify(before)}), up ${upGone ? 'exited' : 'running'}`;
    }
    await sleep(250);
  }
  return { outcome: 'neither', detail: `after ${VERDICT_MS / 1000} s: ${last}` };
}

export async function kills({ trials, work, password }) {
  const part = 'kills';
  const env = cleanEnv({ MLFLOW_SECURE_PASSWORD: password });
  const credentials = { user: 'admin', password };
  const table = {};
  const trialMs = [];
  say(
    `kills: ${trials} trial(s) x ${COMPONENTS.length} components, each on a foreground up (kill -9, verdict within ${VERDICT_MS / 1000} s, then down)`,
  );
  for (const component of COMPONENTS) {
    table[component] = {};
    const cwd = path.join(work, `kills-${component}`);
    mkdirSync(cwd, { recursive: true });
    const stateDir = path.join(cwd, 'state');
    const groups = trackStateDir(stateDir, cwd);
    for (let t = 1; t <= trials; t++) {
      const started = performance.now();
      const label = `${component} trial ${t}`;
      const fg = spawnCli(['up', '--port', 'auto', '--state-dir', stateDir], { cwd, env });
      const ready = await waitRunning(fg, stateDir, cwd);
      let outcome = 'not started';
      let note = '';
      let ports = [];
      if (check(part, `${label}: foreground up running`, ready.url, ready.detail)) {
        const procs = stackProcs(stateDir, groups);
        observe(groups, procs);
        ports = listeningPortsOf(procs.map((p) => p.pid));
        const before = countRoles(procs);
        const victim = victimOf(component, procs, fg.pid);
        if (check(part, `${label}: found a ${component} process`, victim, `processes: ${JSON.stringify(before)}`)) {
          kill9(victim.pid);
          const v = await verdict(component, fg, stateDir, cwd, groups, ready.url, before, credentials);
          outcome = v.outcome;
          note = v.detail ? ` (${v.detail.slice(0, 160)})` : '';
          check(
            part,
            `${label}: fully serving or fully stopped`,
            outcome === 'serving' || outcome === 'stopped',
            `${outcome}${v.detail ? `: ${v.detail}` : ''}`,
          );
        }
      }
      table[component][outcome] = (table[component][outcome] ?? 0) + 1;
      // Then `down`, and nothing of the stack may remain.
      const down = await cli(['down', '--state-dir', stateDir], { cwd, env, timeoutMs: 60_000 });
      check(
        part,
        `${label}: down exits 0`,
        down.code === 0,
        `exit ${down.code ?? down.signal}: ${tail(down.stderr || down.stdout)}`,
      );
      const upEnd = await Promise.race([fg.exited, sleep(15_000).then(() => undefined)]);
      if (
        !check(
          part,
          `${label}: the foreground up has exited after down`,
          upEnd !== undefined,
          'still running 15 s after down: killed it',
        )
      )
        kill9(fg.pid);
      const left = await inspectStopped(stateDir, groups, { url: ready.url, ports });
      const issues = [
        ...(left.procsNow.length ? [`processes: ${describeProcs(left.procsNow)}`] : []),
        ...left.portIssues,
        ...left.fileIssues,
      ];
      check(part, `${label}: nothing left after down`, issues.length === 0, issues.join('; '));
      // Whatever the verdict, the next trial starts from nothing.
      await cleanLeftovers(stateDir, groups);
      trialMs.push(performance.now() - started);
      say(`  ${label}: ${outcome} in ${seconds(performance.now() - started)}${note}`);
    }
  }
  const outcomes = [...new Set(Object.values(table).flatMap((row) => Object.keys(row)))].sort((a, b) =>
    a === 'serving' ? -1 : b === 'serving' ? 1 : a === 'stopped' ? -1 : b === 'stopped' ? 1 : a.localeCompare(b),
  );
  const width = Math.max(16, ...COMPONENTS.map((c) => c.length + 2));
  const lines = [`${'component'.padEnd(width)}${outcomes.map((o) => o.padStart(Math.max(10, o.length + 2))).join('')}`];
  for (const c of COMPONENTS)
    lines.push(
      `${c.padEnd(width)}${outcomes.map((o) => String(table[c][o] ?? 0).padStart(Math.max(10, o.length + 2))).join('')}`,
    );
  say('kills: component x outcome');
  for (const l of lines) say(`  ${l}`);
  const timing = `one trial (start, kill, verdict, down) takes ${seconds(median(trialMs))} (median)`;
  say(`kills: ${timing}`);
  return { figures: [...lines, timing] };
}

async function cleanLeftovers(stateDir, groups) {
  for (const p of stackProcs(stateDir, groups)) kill9(p.pid);
  await sleep(200);
}
