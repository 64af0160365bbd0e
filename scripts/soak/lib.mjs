// Shared parts of the soak suite (scripts/soak.mjs): running the built CLI, reading the Linux
// process table and socket tables, HTTP probes, file hashes, statistics, the check ledger and
// the clean-up registry. Plain Node ESM, Linux only (it reads /proc).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const cliPath = path.join(root, 'dist', 'cli.js');
export const venvPython = path.join(root, '.venv', 'bin', 'python');
/** The variable whose value in a process's environment names the state folder of its stack. */
export const MARKER_ENV = 'MLFLOW_SECURE_STATE_DIR';
export const UNSHARE = '/usr/bin/unshare';

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Set once the clean-up began (Ctrl+C or the end): nothing new starts. */
let stopping = false;
/** Set on Ctrl+C: the parts still unwinding fall silent. */
let silenced = false;
export function silence() {
  silenced = true;
}

// --- output that survives a closed terminal or a dead pipe ---------
let outputBroken = false;
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', () => {
    outputBroken = true;
  });
}
export function say(line = '') {
  // After Ctrl+C only the clean-up speaks: the parts still unwinding would print noise.
  if (outputBroken || silenced) return;
  try {
    process.stdout.write(`${line}\n`);
  } catch {
    outputBroken = true;
  }
}

// --- the check ledger ---------------------------------------------------------------------
/** Every check of every part, in order: { part, name, ok, detail }. */
export const ledger = [];

export function check(part, name, ok, detail = '') {
  if (silenced) return Boolean(ok);
  ledger.push({ part, name, ok: Boolean(ok), detail });
  if (!ok) say(`  FAIL [${part}] ${name}${detail ? `: ${detail}` : ''}`);
  return Boolean(ok);
}

// --- statistics ---------------------------------------------------------------------------
export function quantile(xs, q) {
  if (xs.length === 0) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? sorted[0];
}
export const median = (xs) => quantile(xs, 0.5);
export const seconds = (ms) => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(2)} s` : 'n/a');

// --- the clean-up registry ----------------------------------------------------------------
/** Every state folder a stack may have been started in, and every child we spawned. */
const stateDirs = new Map();
const children = new Set();

/**
 * A state folder a stack may run in, remembered for the final clean-up, with the process
 * groups its processes were seen in: pgid -> the latest start time (clock ticks since boot)
 * of a process seen in it. A group member counts as the stack's only if it started no later:
 * pids (and so group ids) get reused, and other people's programs lead groups too.
 */
export function trackStateDir(stateDir, cwd) {
  if (!stateDirs.has(stateDir)) stateDirs.set(stateDir, { cwd, groups: new Map() });
  return stateDirs.get(stateDir).groups;
}

/** Records the groups of processes just seen in a stack (see trackStateDir); never our own group. */
export function observe(groups, procs) {
  const ours = readProc(process.pid)?.pgid;
  for (const p of procs)
    if (p.pgid > 1 && p.pgid !== ours) groups.set(p.pgid, Math.max(groups.get(p.pgid) ?? 0, p.start));
}

// --- the built CLI --------------------------------------------------------------------------
/** Environment for the CLI under test: no password, tool path or venv leaks in from our shell. */
export function cleanEnv(extra = {}) {
  const env = { ...process.env };
  for (const k of [
    'MLFLOW_SECURE_PASSWORD',
    'MLFLOW_SECURE_NGINX',
    'MLFLOW_SECURE_MLFLOW',
    'MLFLOW_SECURE_DEBUG',
    'VIRTUAL_ENV',
    MARKER_ENV,
  ])
    delete env[k];
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/**
 * Runs a program to its end, bounded: after `timeoutMs` it gets SIGKILL. Never rejects.
 * `onTick` (optional) is called every `tickMs` while it runs (e.g. to watch the process table).
 */
export function run(file, args, o = {}) {
  return new Promise((resolve) => {
    const started = performance.now();
    // Once the clean-up began (Ctrl+C), nothing new starts but the clean-up's own `down`s.
    if (stopping && !o.cleanup) {
      resolve({ code: null, signal: 'SIGINT', stdout: '', stderr: 'soak: stopping', ms: 0, timedOut: false });
      return;
    }
    let child;
    try {
      child = spawn(file, args, { cwd: o.cwd, env: o.env ?? cleanEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    } catch (error) {
      resolve({ code: null, signal: null, stdout: '', stderr: String(error), ms: 0, timedOut: false });
      return;
    }
    children.add(child);
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.stdin.on('error', () => undefined);
    if (o.input !== undefined) child.stdin.end(o.input);
    else child.stdin.end();
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, o.timeoutMs ?? 180_000);
    const ticker = o.onTick ? setInterval(o.onTick, o.tickMs ?? 100) : undefined;
    let settled = false;
    const finish = (code, signal) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (ticker) clearInterval(ticker);
      children.delete(child);
      resolve({ code, signal, stdout, stderr, ms: performance.now() - started, timedOut });
    };
    child.on('error', (error) => {
      stderr += String(error);
      finish(null, null);
    });
    child.on('close', finish);
    // 'close' waits for the output pipes too, which a daemon the CLI started might hold: once
    // the process itself exited, its output gets one more second.
    child.on('exit', (code, signal) => setTimeout(() => finish(code, signal), 1_000));
  });
}

/** `node dist/cli.js <args>` in `cwd`. */
export function cli(args, o = {}) {
  return run(process.execPath, [cliPath, ...args], o);
}

/**
 * The CLI inside a fresh PID namespace (and mount namespace, for its own /proc), in its own
 * session: `unshare --pid --fork --kill-child --mount-proc`. A hostile pid in a record (-1, 0,
 * 1, a huge one) can then only reach processes of that namespace, and everything in it dies
 * with it. A bystander `sleep` (pid 2 there) is started first; the wrapper writes whether it
 * survived the CLI to `bystanderFile`: "<pid> alive" or "<pid> killed".
 */
export function cliInNamespace(args, bystanderFile, o = {}) {
  const script = [
    'sleep 600 & b=$!',
    'setsid "$@"; rc=$?',
    's=$(cut -d" " -f3 "/proc/$b/stat" 2>/dev/null)',
    'if [ -n "$s" ] && [ "$s" != Z ] && [ "$s" != X ]; then v=alive; else v=killed; fi',
    'echo "$b $v" > "$SOAK_BYSTANDER_FILE"',
    'kill -9 "$b" 2>/dev/null',
    'exit $rc',
  ].join('\n');
  const env = { ...(o.env ?? cleanEnv()), SOAK_BYSTANDER_FILE: bystanderFile };
  return run(
    UNSHARE,
    [
      '--pid',
      '--fork',
      '--kill-child',
      '--mount-proc',
      '/bin/sh',
      '-c',
      script,
      'soak-ns',
      process.execPath,
      cliPath,
      ...args,
    ],
    { ...o, env },
  );
}

/** A long-running CLI (a foreground `up`), its output collected. */
export function spawnCli(args, o = {}) {
  if (stopping) throw new Error('soak: stopping');
  const child = spawn(process.execPath, [cliPath, ...args], {
    cwd: o.cwd,
    env: o.env ?? cleanEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  child.on('error', (error) => (output += String(error)));
  // 'exit', not 'close': the stack's processes must not hold our pipes, but if they did, this
  // still settles when `up` itself ends.
  const exited = new Promise((resolve) =>
    child.on('exit', (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    }),
  );
  return {
    child,
    pid: child.pid,
    exited,
    output: () => output,
    done: () => child.exitCode !== null || child.signalCode !== null,
  };
}

/** The lines a failed command printed, trimmed to the end, for a FAIL detail. */
export function tail(text, lines = 4) {
  return text.trim().split('\n').slice(-lines).join(' | ');
}

// --- the process table ----------------------------------------------------------------------
function readText(file) {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** One process from /proc: pid, ppid, pgid, state, start time (ticks), argv joined, environ. */
export function readProc(pid) {
  const stat = readText(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cmdline = (readText(`/proc/${pid}/cmdline`) ?? '').split('\0').join(' ').trim();
  const environ = (readText(`/proc/${pid}/environ`) ?? '').split('\0');
  return {
    pid: Number(pid),
    state: fields[0],
    ppid: Number(fields[1]),
    pgid: Number(fields[2]),
    start: Number(fields[19]),
    cmdline,
    environ,
  };
}

export function allProcs() {
  const procs = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const p = readProc(entry);
    if (p && p.state !== 'Z' && p.state !== 'X') procs.push(p);
  }
  return procs;
}

const markerOf = (p) => p.environ.find((e) => e.startsWith(`${MARKER_ENV}=`))?.slice(MARKER_ENV.length + 1);

/** An nginx master started with `-c <stateDir>/nginx.conf` (nginx rewrites its environment). */
function isNginxMasterOf(p, stateDir) {
  return p.cmdline.startsWith('nginx: master') && p.cmdline.includes(`-c ${path.join(stateDir, 'nginx.conf')}`);
}

/**
 * The processes of the stack in `stateDir`, from the process table only: MLflow's whole tree
 * (its environment carries the state-folder marker), the nginx master (by its argv) and its
 * workers (its children, or members of its process group), plus members of `groups` (see
 * trackStateDir: orphaned nginx workers keep their dead master's group). Each gets a role:
 * nginx-master, nginx-worker, mlflow-cli, uvicorn, uvicorn-worker, mlflow-other, other.
 */
export function stackProcs(stateDir, groups = new Map(), procs = allProcs()) {
  const byPid = new Map(procs.map((p) => [p.pid, p]));
  const masters = procs.filter((p) => isNginxMasterOf(p, stateDir));
  const masterPids = new Set(masters.map((p) => p.pid));
  const masterGroups = new Set(masters.map((p) => p.pgid));
  const inGroup = (p) =>
    groups.has(p.pgid) && p.start <= groups.get(p.pgid) && /^nginx: |python|mlflow/.test(p.cmdline);
  const found = [];
  for (const p of procs) {
    const marked = markerOf(p) === stateDir;
    const nginx =
      masterPids.has(p.pid) || masterPids.has(p.ppid) || (p.cmdline.startsWith('nginx:') && masterGroups.has(p.pgid));
    if (!marked && !nginx && !inGroup(p)) continue;
    const parent = byPid.get(p.ppid);
    let role = 'other';
    if (masterPids.has(p.pid)) role = 'nginx-master';
    else if (p.cmdline.startsWith('nginx:')) role = 'nginx-worker';
    else if (/\buvicorn\b/.test(p.cmdline)) role = 'uvicorn';
    else if (p.cmdline.includes('multiprocessing.spawn') && parent && /\buvicorn\b/.test(parent.cmdline))
      role = 'uvicorn-worker';
    // `.../bin/mlflow ui ...` or `python -m mlflow server ...`, started by something outside the stack.
    else if (marked && /(^|[\s/])mlflow\s+(ui|server)\b/.test(p.cmdline) && !(parent && markerOf(parent) === stateDir))
      role = 'mlflow-cli';
    else if (marked) role = 'mlflow-other';
    found.push({ ...p, environ: undefined, role });
  }
  return found;
}

/** Processes carrying a marker under `prefix`, or an nginx master whose argv names a path under it. */
export function procsUnder(prefix, procs = allProcs()) {
  return procs.filter(
    (p) =>
      (markerOf(p) ?? '').startsWith(prefix) || (p.cmdline.startsWith('nginx: master') && p.cmdline.includes(prefix)),
  );
}

export function countRoles(procs) {
  const counts = {};
  for (const p of procs) counts[p.role] = (counts[p.role] ?? 0) + 1;
  return counts;
}

/** The process MLflow serves requests from: a uvicorn worker, or uvicorn itself when it runs alone. */
export function servingUvicorn(procs) {
  return procs.find((p) => p.role === 'uvicorn-worker') ?? procs.find((p) => p.role === 'uvicorn');
}

export function kill9(pid) {
  try {
    process.kill(pid, 'SIGKILL');
    return true;
  } catch {
    return false;
  }
}

/** Bounded wait until the stack in `stateDir` has no live process; returns what is left. */
export async function waitNoProcs(stateDir, groups, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = stackProcs(stateDir, groups);
    if (left.length === 0 || Date.now() > deadline) return left;
    await sleep(100);
  }
}

export const describeProcs = (procs) => procs.map((p) => `${p.pid} ${p.role} (${p.cmdline.slice(0, 70)})`).join('; ');

// --- sockets --------------------------------------------------------------------------------
/** LISTEN sockets from /proc/net/tcp and tcp6: [{ port, inode }]. */
export function listeningTcp() {
  const out = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = readText(file) ?? '';
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '0A') continue;
      out.push({ port: parseInt(f[1].split(':')[1], 16), inode: Number(f[9]) });
    }
  }
  return out;
}

/** Unix sockets bound to a path under `prefix`, from /proc/net/unix. */
export function unixSocketsUnder(prefix) {
  const text = readText('/proc/net/unix') ?? '';
  return text
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/)[7])
    .filter((p) => p && p.startsWith(prefix));
}

function socketInodes(pid) {
  const inodes = new Set();
  let fds = [];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return inodes;
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(Number(m[1]));
    } catch {
      // closed meanwhile
    }
  }
  return inodes;
}

/** TCP ports the given processes listen on (read through their file descriptors). */
export function listeningPortsOf(pids) {
  const inodes = new Set();
  for (const pid of pids) for (const i of socketInodes(pid)) inodes.add(i);
  return [
    ...new Set(
      listeningTcp()
        .filter((s) => inodes.has(s.inode))
        .map((s) => s.port),
    ),
  ].sort((a, b) => a - b);
}

/** Who listens on `port` now (pids with a matching socket), for a FAIL detail. */
export function listenersOf(port) {
  const inodes = new Set(
    listeningTcp()
      .filter((s) => s.port === port)
      .map((s) => s.inode),
  );
  if (inodes.size === 0) return [];
  return allProcs()
    .filter((p) => [...socketInodes(p.pid)].some((i) => inodes.has(i)))
    .map((p) => `${p.pid} ${p.cmdline.slice(0, 60)}`);
}

/** Does anything accept a TCP connection on 127.0.0.1:port? */
export function accepts(port, host = '127.0.0.1') {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2_000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Holds a port open on 127.0.0.1 (for the port-in-use case); returns { port, close }. */
export function bindPort() {
  return new Promise((resolve, reject) => {
    const server = net
      .createServer()
      .listen(0, '127.0.0.1', () =>
        resolve({ port: server.address().port, close: () => new Promise((r) => server.close(() => r())) }),
      );
    server.once('error', reject);
  });
}

// --- HTTP -------------------------------------------------------------------------------------
export const API_PATH = '/api/2.0/mlflow/experiments/search?max_results=1';

/** GET through nginx with Basic credentials (or none); resolves the status, 0 when unreachable. */
export function httpGet(url, pathName, credentials) {
  const u = new URL(url);
  const headers = credentials
    ? { authorization: `Basic ${Buffer.from(`${credentials.user}:${credentials.password}`).toString('base64')}` }
    : {};
  return new Promise((resolve) => {
    const req = http.get(
      {
        host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: Number(u.port),
        path: pathName,
        headers,
        agent: false,
        timeout: 10_000,
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', () => resolve(0));
      },
    );
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
  });
}

/** `status --json`: { code, json } (json undefined when unparsable). */
export async function statusJson(stateDir, cwd) {
  const r = await cli(['status', '--json', '--state-dir', stateDir], { cwd, timeoutMs: 30_000 });
  let json;
  try {
    json = JSON.parse(r.stdout);
  } catch {
    json = undefined;
  }
  return { code: r.code, json, r };
}

// --- files ------------------------------------------------------------------------------------
/** Every entry under `dir` (relative path -> type), depth-first; folders end in '/'. */
export function listTree(dir) {
  const out = new Map();
  const walk = (d, rel) => {
    let entries = [];
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      const full = path.join(d, e.name);
      if (e.isDirectory()) {
        out.set(`${r}/`, 'dir');
        walk(full, r);
      } else
        out.set(
          r,
          e.isFile()
            ? 'file'
            : e.isSymbolicLink()
              ? 'symlink'
              : e.isSocket()
                ? 'socket'
                : e.isFIFO()
                  ? 'fifo'
                  : 'other',
        );
    }
  };
  walk(dir, '');
  return out;
}

/**
 * sha256 of every non-folder entry under `dir`, except under a `logs` folder: relative path ->
 * digest (a symbolic link by its target text, never followed).
 */
export function hashTree(dir) {
  const out = new Map();
  for (const [rel, type] of listTree(dir)) {
    if (type === 'dir' || rel.split('/').includes('logs')) continue;
    const full = path.join(dir, rel);
    let digest;
    try {
      if (type === 'symlink') digest = `link:${readlinkSync(full)}`;
      else if (type === 'file') digest = createHash('sha256').update(readFileSync(full)).digest('hex');
      else digest = type;
    } catch (error) {
      digest = `unreadable:${error.code}`;
    }
    out.set(rel, digest);
  }
  return out;
}

/** What differs between two hashTree results: ["+added", "-removed", "~changed"]. */
export function diffTrees(before, after) {
  const diff = [];
  for (const [k, v] of after)
    if (!before.has(k)) diff.push(`+${k}`);
    else if (before.get(k) !== v) diff.push(`~${k}`);
  for (const k of before.keys()) if (!after.has(k)) diff.push(`-${k}`);
  return diff;
}

export function isSymlink(p) {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

// --- clean-up -----------------------------------------------------------------------------------
/**
 * Stops everything this soak may have started: every spawned CLI gets SIGKILL (a foreground
 * `up` that was still supervising leaves its children, handled next), then `down` in every
 * tracked state folder, then SIGKILL to whatever is left of each stack in the process table
 * (marker, nginx master argv, groups seen while it ran). Bounded; never throws.
 */
export async function cleanUpAll(workRoot) {
  stopping = true;
  for (const child of children) {
    try {
      child.kill('SIGKILL');
    } catch {
      // gone
    }
  }
  for (const [stateDir, { cwd, groups }] of stateDirs) {
    if (stackProcs(stateDir, groups).length > 0)
      await cli(['down', '--state-dir', stateDir], { cwd, timeoutMs: 30_000, cleanup: true });
    for (const p of stackProcs(stateDir, groups)) kill9(p.pid);
  }
  // Anything else under our temp root (a case that started a stack by mistake, in a folder we
  // did not track): by marker and nginx argv only.
  if (workRoot) for (const p of procsUnder(workRoot)) kill9(p.pid);
}

// --- a stack for a part ---------------------------------------------------------------------
/**
 * `up -d --port auto` in `stateDir`, then its URL from `status --json`. Returns
 * { ok, url, r, detail }; `ok` only when up exited 0 and status said healthy.
 */
export async function upDetached(stateDir, cwd, env, extraArgs = []) {
  const r = await cli(['up', '-d', '--port', 'auto', '--state-dir', stateDir, ...extraArgs], {
    cwd,
    env,
    timeoutMs: 200_000,
  });
  if (r.code !== 0)
    return {
      ok: false,
      r,
      detail: `up -d exited ${r.code ?? r.signal}${r.timedOut ? ' (timed out)' : ''}: ${tail(r.stderr || r.stdout)}`,
    };
  const st = await statusJson(stateDir, cwd);
  if (st.code !== 0 || !st.json?.url)
    return { ok: false, r, detail: `status after up exited ${st.code}: ${tail(st.r.stdout + st.r.stderr)}` };
  return { ok: true, r, url: st.json.url };
}

/**
 * What is left of a stack once `down` returned: processes (at once, and after a bounded wait),
 * ports (nginx's port must refuse connections; none of `ports`, the ones its processes listened
 * on, may still have a LISTEN entry in /proc/net/tcp{,6}), unix sockets under the state folder,
 * and stray files (the record, *.tmp, sockets, nginx.pid). Returns
 * { procsNow, procsLater, portIssues, fileIssues, tree }.
 */
export async function inspectStopped(stateDir, groups, { url, ports = [] } = {}) {
  const procsNow = stackProcs(stateDir, groups);
  const procsLater = procsNow.length > 0 ? await waitNoProcs(stateDir, groups, 10_000) : [];
  const portIssues = [];
  if (url) {
    const nginxPort = Number(new URL(url).port);
    if (await accepts(nginxPort, new URL(url).hostname.replace(/^\[(.*)\]$/, '$1')))
      portIssues.push(`nginx port ${nginxPort} still accepts connections`);
  }
  const listening = new Set(listeningTcp().map((s) => s.port));
  for (const port of ports) {
    if (!listening.has(port)) continue;
    // Someone else may have taken the port since: only ours counts.
    const owners = listenersOf(port);
    if (owners.length === 0 || owners.some((o) => o.includes(stateDir) || /mlflow|uvicorn|nginx/.test(o)))
      portIssues.push(`port ${port} still LISTEN (${owners.join(', ') || 'owner unknown'})`);
  }
  for (const sock of unixSocketsUnder(stateDir)) portIssues.push(`unix socket ${sock} still bound`);
  const tree = listTree(stateDir);
  const fileIssues = [];
  for (const [rel, type] of tree) {
    const base = path.basename(rel.replace(/\/$/, ''));
    if (rel === 'stack.json') fileIssues.push('stack.json left behind');
    else if (base.endsWith('.tmp') || /\.tmp[.-]/.test(base)) fileIssues.push(`temp file ${rel}`);
    else if (type === 'socket') fileIssues.push(`socket ${rel}`);
    else if (base === 'nginx.pid') fileIssues.push(`pid file ${rel}`);
  }
  return { procsNow, procsLater, portIssues, fileIssues, tree };
}

/**
 * Waits (bounded) until the built CLI answers `--version`: the soak may start, or a part begin,
 * while dist/ is being rebuilt. Returns true when it answered.
 */
export async function waitForCli(timeoutMs = 180_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await cli(['--version'], { timeoutMs: 30_000 });
    if (r.code === 0) return true;
    if (Date.now() > deadline) return false;
    await sleep(2_000);
  }
}
