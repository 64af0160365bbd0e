// Part 5, inputs: bad inputs, each run in a fresh folder. Each must end in exactly one `error:`
// line on stderr (other lines only `warning:` or commander's usage hint), a non-zero exit that
// is not 70 (a bug), no stack trace, nothing started (no process with the state-folder marker or
// an nginx master under the case folder, watched while it runs), and no data changed (sha256 of
// every file under the case folder before and after, logs excepted). Passwords must not show.
//
// SAFETY: every case whose folder holds a stack record (stack.json) runs the CLI inside a fresh
// PID namespace (cliInNamespace): a hostile pid such as -1 means "every process you may signal",
// which for root is the whole machine. Such cases are never run outside it, and the final
// clean-up never runs `down` on their folders.
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  bindPort,
  check,
  cleanEnv,
  cli,
  cliInNamespace,
  diffTrees,
  hashTree,
  kill9,
  listTree,
  procsUnder,
  say,
  seconds,
  tail,
  trackStateDir,
  UNSHARE,
} from './lib.mjs';

const HUGE_PID = 4_194_305; // above the largest pid_max Linux allows (2^22)

// --- the cases ------------------------------------------------------------------------------
// Each: name; args(k) -> argv; optional setup(k) (sync or async), env (extra variables), input
// (stdin), allowRem (env --shell cmd may answer with a `rem` line instead of an error),
// allowNotOurs (a record whose pid belongs to another program: `down` may instead leave it
// alone with a warning and drop the record, exit 0, which is how a reused pid is handled),
// extra(k, r) -> [[name, ok, detail]]. k = { cwd, st, record(mutate), pwned, busyPort, ... }.

/** `up -d` with the case's state folder, an automatic port and a short readiness limit, unless the case sets them. */
function up(k, ...extra) {
  const args = ['up', '-d', '--state-dir', k.st, ...extra];
  if (!extra.includes('--port')) args.push('--port', 'auto');
  if (!extra.includes('--timeout')) args.push('--timeout', '60');
  return args;
}
const userAdd = (k, name, ...extra) => ['user', 'add', name, '--password-stdin', '--state-dir', k.st, ...extra];
const stateFolder = (k, mode = 0o700) => {
  mkdirSync(k.st, { recursive: true });
  chmodSync(k.st, mode);
};

function cases() {
  const list = [];
  const add = (name, o) => list.push({ name, ...o });
  const pwIn = { input: 'a-good-password-1\n', env: { MLFLOW_SECURE_PASSWORD: undefined } };

  // Store URIs.
  add("up --backend-store-uri 'ftp://x'", { args: (k) => up(k, '--backend-store-uri', 'ftp://x') });
  add("up --backend-store-uri 'file://C:/x' (a drive path, on Linux)", {
    args: (k) => up(k, '--backend-store-uri', 'file://C:/x'),
  });
  add("up --backend-store-uri 'sqlite:///%2F..%2F..%2Fetc%2Fsoak.db'", {
    args: (k) => up(k, '--backend-store-uri', 'sqlite:///%2F..%2F..%2Fetc%2Fsoak.db'),
  });
  add("up --artifacts-destination 'file:///srv/%2F..%2F..%2Fetc'", {
    args: (k) => up(k, '--artifacts-destination', 'file:///srv/%2F..%2F..%2Fetc'),
  });
  add("up --registry-store-uri 'ftp://x'", { args: (k) => up(k, '--registry-store-uri', 'ftp://x') });
  add("up --registry-store-uri 'file://C:/x'", { args: (k) => up(k, '--registry-store-uri', 'file://C:/x') });
  add("up --backend-store-uri ''", { args: (k) => up(k, '--backend-store-uri', '') });
  add("up --backend-store-uri 'sqlite://' (in memory)", { args: (k) => up(k, '--backend-store-uri', 'sqlite://') });
  add('up --backend-store-uri /proc/x/mlflow.db (cannot be created)', {
    args: (k) => up(k, '--backend-store-uri', '/proc/x/mlflow.db'),
  });

  // Ports, addresses, names.
  add('up --port <a port in use>', { args: (k) => up(k, '--port', String(k.busyPort)) });
  add('up --port 0', { args: (k) => up(k, '--port', '0') });
  add('up --port 65536', { args: (k) => up(k, '--port', '65536') });
  add('up --port abc', { args: (k) => up(k, '--port', 'abc') });
  add('up --host 999.1.1.1', { args: (k) => up(k, '--host', '999.1.1.1') });
  add("up --host '127.0.0.1; return 200'", { args: (k) => up(k, '--host', '127.0.0.1; return 200') });
  add("up --server-name 'x; return 200'", { args: (k) => up(k, '--server-name', 'x; return 200') });

  // Executables.
  add('up --nginx /nonexistent', { args: (k) => up(k, '--nginx', '/nonexistent') });
  add('up --mlflow /nonexistent', { args: (k) => up(k, '--mlflow', '/nonexistent') });
  add('up --nginx <a text file>', {
    setup: (k) => writeFileSync(path.join(k.cwd, 'not-nginx'), 'hello\n'),
    args: (k) => up(k, '--nginx', path.join(k.cwd, 'not-nginx')),
  });
  add('up --mlflow <an empty folder>', {
    setup: (k) => mkdirSync(path.join(k.cwd, 'empty-venv')),
    args: (k) => up(k, '--mlflow', path.join(k.cwd, 'empty-venv')),
  });

  // User names.
  add("user add 'a<newline>b'", { ...pwIn, args: (k) => userAdd(k, 'a\nb') });
  add("user add 'a:b'", { ...pwIn, args: (k) => userAdd(k, 'a:b') });
  add("user add ''", { ...pwIn, args: (k) => userAdd(k, '') });
  add('user add <300 characters>', { ...pwIn, args: (k) => userAdd(k, 'u'.repeat(300)) });
  add("up --user 'a:b'", { args: (k) => up(k, '--user', 'a:b') });
  add("up --user 'a<newline>b'", { args: (k) => up(k, '--user', 'a\nb') });
  add('user frob x (unknown action)', { args: (k) => ['user', 'frob', 'x', '--state-dir', k.st] });
  add('user passwd ghost (no such user)', {
    ...pwIn,
    args: (k) => ['user', 'passwd', 'ghost', '--password-stdin', '--state-dir', k.st],
  });

  // Folders.
  add('up --state-dir /proc/x', { args: () => ['up', '-d', '--port', 'auto', '--state-dir', '/proc/x'] });
  add('user add --state-dir /proc/x', {
    ...pwIn,
    args: () => ['user', 'add', 'bob', '--password-stdin', '--state-dir', '/proc/x'],
  });
  add('up --state-dir <a file>/state (a file in the way)', {
    setup: (k) => writeFileSync(path.join(k.cwd, 'afile'), 'x\n'),
    args: (k) => ['up', '-d', '--port', 'auto', '--state-dir', path.join(k.cwd, 'afile', 'state')],
  });
  add('up --state-dir <a file>', { setup: (k) => writeFileSync(k.st, 'x\n'), args: (k) => up(k) });
  add('user add, the state folder is a file', {
    ...pwIn,
    setup: (k) => writeFileSync(k.st, 'x\n'),
    args: (k) => userAdd(k, 'bob'),
  });
  add('up, group-writable state folder (0775)', { setup: (k) => stateFolder(k, 0o775), args: (k) => up(k) });
  add('user add, group-writable state folder (0775)', {
    ...pwIn,
    setup: (k) => stateFolder(k, 0o775),
    args: (k) => userAdd(k, 'bob'),
  });
  add('up, state folder owned by uid 65534', {
    setup: (k) => (stateFolder(k), chownSync(k.st, 65534, 65534)),
    args: (k) => up(k),
  });
  add('user add, state folder owned by uid 65534', {
    ...pwIn,
    setup: (k) => (stateFolder(k), chownSync(k.st, 65534, 65534)),
    args: (k) => userAdd(k, 'bob'),
  });
  add("up, '$' in the state path", {
    args: (k) => ['up', '-d', '--port', 'auto', '--state-dir', path.join(k.cwd, 'st$HOME')],
  });
  add('up, the state folder is a symlink', {
    setup: (k) => (mkdirSync(path.join(k.cwd, 'real'), { mode: 0o700 }), symlinkSync(path.join(k.cwd, 'real'), k.st)),
    args: (k) => up(k),
  });
  const linkedHtpasswd = (k) => {
    stateFolder(k);
    writeFileSync(path.join(k.cwd, 'victim'), 'root:do-not-touch\n');
    symlinkSync(path.join(k.cwd, 'victim'), path.join(k.st, 'htpasswd'));
  };
  add('up, htpasswd is a symlink', { setup: linkedHtpasswd, args: (k) => up(k) });
  add('user add, htpasswd is a symlink', { ...pwIn, setup: linkedHtpasswd, args: (k) => userAdd(k, 'bob') });

  // Options.
  add('up --timeout 0', { args: (k) => up(k, '--timeout', '0') });
  add('up --timeout -5', { args: (k) => up(k, '--timeout', '-5') });
  add('up --timeout abc', { args: (k) => up(k, '--timeout', 'abc') });
  add('up --password-stdin, empty password', {
    input: '\n',
    env: { MLFLOW_SECURE_PASSWORD: undefined },
    args: (k) => up(k, '--password-stdin'),
  });
  add('up --password-stdin, blank password (8 spaces)', {
    input: '        \n',
    env: { MLFLOW_SECURE_PASSWORD: undefined },
    args: (k) => up(k, '--password-stdin'),
  });
  add('user add --password-stdin, blank password', {
    input: '          \n',
    env: { MLFLOW_SECURE_PASSWORD: undefined },
    args: (k) => userAdd(k, 'bob'),
  });
  add('up, MLFLOW_SECURE_PASSWORD too short', {
    env: { MLFLOW_SECURE_PASSWORD: 'abc' },
    password: 'abc',
    args: (k) => up(k),
  });
  add('up --bcrypt-cost 99', { args: (k) => up(k, '--bcrypt-cost', '99') });
  add('up --bcrypt-cost 3', { args: (k) => up(k, '--bcrypt-cost', '3') });
  add('user add --bcrypt-cost 99', { ...pwIn, args: (k) => userAdd(k, 'bob', '--bcrypt-cost', '99') });
  add('up --nginx-workers 0', { args: (k) => up(k, '--nginx-workers', '0') });
  add('up --nginx-workers -2', { args: (k) => up(k, '--nginx-workers', '-2') });
  add('up --nginx-workers abc', { args: (k) => up(k, '--nginx-workers', 'abc') });
  add('up --nginx-workers 100000', { args: (k) => up(k, '--nginx-workers', '100000') });
  add('up --hash sha1', { args: (k) => up(k, '--hash', 'sha1') });
  add('up --frob (unknown option)', { args: (k) => up(k, '--frob') });
  add('logs frob', { args: (k) => ['logs', 'frob', '--state-dir', k.st] });

  // Stale or hostile stack records: always inside the PID namespace (see the top of this file).
  const setPid = (pid) => (rec) => {
    rec.mlflow.pid = pid;
  };
  for (const [what, pid] of [
    ['-1', -1],
    ['0', 0],
    ['1', 1],
    [String(HUGE_PID), HUGE_PID],
  ]) {
    for (const cmd of ['down', 'status', 'up', 'env']) {
      if ((pid === 0 || pid === HUGE_PID) && (cmd === 'up' || cmd === 'env')) continue;
      add(`${cmd}, stack.json with mlflow pid ${what}`, {
        hostile: setPid(pid),
        args: (k) => (cmd === 'up' ? up(k) : [cmd, '--state-dir', k.st]),
      });
    }
  }
  add("down, stack.json with a string pid ('123')", {
    hostile: setPid('123'),
    args: (k) => ['down', '--state-dir', k.st],
  });
  add('down, stack.json with supervisorPid -1', {
    hostile: (rec) => {
      rec.supervisorPid = -1;
    },
    args: (k) => ['down', '--state-dir', k.st],
  });
  add('down, stack.json with mlflow "identity": [] and a bystander\'s pid', {
    allowNotOurs: true,
    hostile: (rec) => {
      rec.mlflow.pid = 2; // the bystander `sleep` in the namespace
      rec.mlflow.identity = [];
    },
    args: (k) => ['down', '--state-dir', k.st],
  });
  add('down, stack.json with nginx "file": "/bin/sh", "quitArgs": ["-c", "touch PWNED"]', {
    allowNotOurs: true,
    hostile: (rec, k) => {
      rec.nginx.pid = 2; // the bystander `sleep` in the namespace, named in identity so it "matches"
      rec.nginx.identity = ['sleep'];
      rec.nginx.file = '/bin/sh';
      rec.nginx.quitArgs = ['-c', `touch ${k.pwned}`];
    },
    args: (k) => ['down', '--state-dir', k.st],
    extra: (k) => [['no PWNED file (the record chose what to run)', !existsSync(k.pwned), `${k.pwned} was created`]],
  });
  for (const shell of ['bash', 'cmd']) {
    add(`env --shell ${shell}, stack.json with a user name holding a newline`, {
      hostile: (rec) => {
        rec.user = 'admin\nexport PWNED=1';
      },
      args: (k) => ['env', '--shell', shell, '--state-dir', k.st],
    });
  }
  for (const cmd of ['down', 'status', 'up', 'env']) {
    add(`${cmd}, malformed stack.json`, {
      rawRecord: '{"version": 1, "mlflow": {"pid": ',
      args: (k) => (cmd === 'up' ? up(k) : [cmd, '--state-dir', k.st]),
    });
  }
  for (const cmd of ['down', 'status'])
    add(`${cmd}, stack.json {"pid":2}`, { rawRecord: '{"pid":2}\n', args: (k) => [cmd, '--state-dir', k.st] });
  // Against a running stack (live): env needs one, and a second `up` must be refused.
  for (const [what, pw] of [
    ['a double quote', 'soak"&echo PWNED&"pw-1234'],
    ['a percent sign', 'soak%PATH%pw-1234'],
  ]) {
    add(`env --shell cmd, a password with ${what}`, {
      live: true,
      env: { MLFLOW_SECURE_PASSWORD: pw },
      password: pw,
      allowRem: true,
      args: (k) => ['env', '--shell', 'cmd', '--state-dir', k.st],
    });
  }
  add('up -d while the stack runs (same state folder)', { live: true, args: (k) => up(k) });
  return list;
}

// --- running them ---------------------------------------------------------------------------

/**
 * A real stack (`up -d`): its record is the genuine base the hostile ones are made from, and the
 * `live` cases run against it while it runs. Returns { cwd, st, text, env } or { detail }.
 */
async function startTemplate(base, password) {
  const cwd = path.join(base, 'template');
  const st = path.join(cwd, 'state');
  mkdirSync(cwd, { recursive: true });
  trackStateDir(st, cwd);
  const env = cleanEnv({ MLFLOW_SECURE_PASSWORD: password });
  const r = await cli(['up', '-d', '--port', 'auto', '--state-dir', st, '--timeout', '120'], {
    cwd,
    env,
    timeoutMs: 200_000,
  });
  let text;
  try {
    text = readFileSync(path.join(st, 'stack.json'), 'utf8');
  } catch {
    text = undefined;
  }
  if (r.code !== 0 || text === undefined) {
    await cli(['down', '--state-dir', st], { cwd, env, timeoutMs: 60_000 });
    return { detail: `up -d exited ${r.code}: ${tail(r.stderr || r.stdout)}` };
  }
  return { cwd, st, text, env };
}

/** Writes the template record into a case folder, paths moved there, then lets `mutate` edit it. */
function writeRecord(k, template, mutate) {
  mkdirSync(k.st, { recursive: true, mode: 0o700 });
  chmodSync(k.st, 0o700);
  const text = template.text.split(template.st).join(k.st).split(template.cwd).join(k.cwd);
  const rec = JSON.parse(text);
  mutate(rec, k);
  writeFileSync(path.join(k.st, 'stack.json'), `${JSON.stringify(rec, null, 2)}\n`, { mode: 0o600 });
  for (const f of ['htpasswd', 'nginx.conf']) {
    const from = path.join(template.st, f);
    if (existsSync(from)) copyFileSync(from, path.join(k.st, f));
  }
}

/**
 * The genuine record, stale (its stack is gone), must be accepted: `status` reports it without an
 * error line, `down` exits 0. Otherwise every hostile-record case would pass for the wrong reason
 * (a record rejected for a path it holds, not for the hostile field). In the PID namespace too:
 * its pids may have been reused meanwhile.
 */
async function control(base, template) {
  const part = 'inputs';
  for (const cmd of ['status', 'down']) {
    const cwd = mkdtempSync(path.join(base, `control-${cmd}-`));
    const k = { cwd, st: path.join(cwd, 'state') };
    writeRecord(k, template, () => undefined);
    const bystanderFile = path.join(os.tmpdir(), `soak-bystander-${process.pid}-control-${cmd}`);
    const r = await cliInNamespace([cmd, '--state-dir', k.st], bystanderFile, { cwd, timeoutMs: 60_000 });
    rmSync(bystanderFile, { force: true });
    const ok = cmd === 'down' ? r.code === 0 : r.code === 3 && !/^error:/m.test(r.stderr);
    check(
      part,
      `control: ${cmd} accepts the genuine (stale) record, so hostile records are refused for their hostile field`,
      ok,
      `exit ${r.code}: ${tail(r.stderr || r.stdout)}`,
    );
  }
}

/** The one-clear-line standard: exactly one `error:` line, exit non-zero and not 70, no trace. */
function standardProblems(r) {
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  const errors = lines.filter((l) => l.startsWith('error:'));
  const others = lines.filter(
    (l) => !l.startsWith('error:') && !l.startsWith('warning:') && l !== '(run with --help for usage)',
  );
  const problems = [];
  if (r.timedOut) problems.push('timed out');
  if (r.code === 0) problems.push('exit 0');
  else if (r.code === 70) problems.push('exit 70 (internal error)');
  else if (r.code === null) problems.push(`killed by ${r.signal}`);
  if (errors.length !== 1) problems.push(`${errors.length} error lines`);
  if (lines.some((l) => /^\s+at .+(:\d+|\))$/.test(l))) problems.push('stack trace');
  if (others.length > 0)
    problems.push(`other stderr lines: ${JSON.stringify(others.slice(0, 2).map((l) => l.slice(0, 100)))}`);
  return problems;
}

/**
 * Runs one case and checks it; returns the names of the aspects that failed. `k` holds the case
 * folder; live cases run in the template stack's folder, where only processes that were not
 * there before count as started, and only the state folder is hashed (MLflow writes its DB).
 */
async function runCase(c, label, k, nsOk) {
  const part = 'inputs';
  const casePassword = c.password ?? `soak-case-${randomBytes(6).toString('hex')}`;
  const env = cleanEnv({ MLFLOW_SECURE_PASSWORD: casePassword, ...(c.env ?? {}) });
  await c.setup?.(k);
  // Any record in a case folder means the CLI runs in the namespace, whatever the case says.
  const ns = !c.live && [...listTree(k.cwd).keys()].some((p) => p.endsWith('stack.json'));
  if (ns && !nsOk) {
    check(part, `${label}: needs the PID namespace`, false, 'not run outside it');
    return ['not run'];
  }
  if (!ns && !c.live) trackStateDir(k.st, k.cwd);
  const hashRoot = c.live ? k.st : k.cwd;
  const baseline = new Set(procsUnder(k.cwd).map((p) => p.pid));
  const before = hashTree(hashRoot);
  const seen = new Map();
  const watch = () => {
    for (const p of procsUnder(k.cwd)) if (!baseline.has(p.pid)) seen.set(p.pid, p.cmdline.slice(0, 80));
  };
  const bystanderFile = path.join(os.tmpdir(), `soak-bystander-${process.pid}-${randomBytes(4).toString('hex')}`);
  const args = c.args(k);
  const o = { cwd: k.cwd, env, input: c.input, timeoutMs: 120_000, onTick: watch, tickMs: 100 };
  const r = ns ? await cliInNamespace(args, bystanderFile, o) : await cli(args, o);
  watch();
  const after = hashTree(hashRoot);

  const problems = [];
  const standard = standardProblems(r);
  const injectable = r.stdout.split('\n').some((l) => l.includes(casePassword) && /^set /.test(l));
  const remAnswer = c.allowRem && r.code === 0 && /^rem .*MLFLOW_TRACKING_PASSWORD/m.test(r.stdout) && !injectable;
  const leftAlone =
    c.allowNotOurs && r.code === 0 && /^warning: .*left it alone/m.test(r.stderr) && !/^error:/m.test(r.stderr);
  if (
    !check(
      part,
      `${label}: one error line, non-zero exit`,
      standard.length === 0 || remAnswer || leftAlone,
      standard.join(', '),
    )
  )
    problems.push('standard');
  if (
    !check(
      part,
      `${label}: nothing started`,
      seen.size === 0,
      [...seen].map(([pid, cmd]) => `${pid} ${cmd}`).join('; '),
    )
  )
    problems.push('started');
  // Dropping the record is what `down` does after leaving a reused pid alone.
  const changed = diffTrees(before, after).filter((d) => !(leftAlone && d === '-state/stack.json'));
  if (!check(part, `${label}: no data changed`, changed.length === 0, changed.join(' '))) problems.push('data');
  const leakedIn = [r.stderr, args[0] === 'env' ? '' : r.stdout].some((t) => t.includes(casePassword));
  if (
    !check(
      part,
      `${label}: no password in the output`,
      !leakedIn && !injectable,
      injectable ? 'printed an injectable set line' : 'the password appeared',
    )
  )
    problems.push('password');
  if (ns) {
    let bystander = 'no report';
    try {
      bystander = readFileSync(bystanderFile, 'utf8').trim();
    } catch {
      // the namespace wrapper did not get to write it
    }
    rmSync(bystanderFile, { force: true });
    if (!check(part, `${label}: a bystander process survived`, / alive$/.test(bystander), `bystander: ${bystander}`))
      problems.push('bystander');
  }
  for (const [name, ok, detail] of c.extra?.(k, r) ?? [])
    if (!check(part, `${label}: ${name}`, ok, detail)) problems.push(name);
  if (k.pwned) rmSync(k.pwned, { force: true });
  // A case that started something by mistake: stop it (never `down` on a hostile record; a
  // namespace took its processes with it).
  if (!ns && !c.live && procsUnder(k.cwd).length > 0)
    await cli(['down', '--state-dir', k.st], { cwd: k.cwd, env, timeoutMs: 60_000 });
  for (const pid of seen.keys()) if (procsUnder(k.cwd).some((p) => p.pid === pid)) kill9(pid);
  if (!c.live) for (const p of procsUnder(k.cwd)) kill9(p.pid);
  const said = (
    r.stderr.split('\n').find((l) => l.startsWith('error:')) ??
    r.stderr.split('\n').find((l) => l.startsWith('warning:')) ??
    r.stdout.split('\n')[0] ??
    ''
  ).slice(0, 140);
  say(
    `  ${problems.length === 0 ? 'ok  ' : 'FAIL'} ${label}${ns ? ' (in a PID namespace)' : c.live ? ' (live stack)' : ''}: exit ${r.code ?? r.signal}, ${seconds(r.ms)}${problems.length ? ` -> ${problems.join(', ')}` : ''}`,
  );
  say(`         ${said.split(casePassword).join('<password>')}`);
  return problems;
}

export async function inputs({ work, password }) {
  const part = 'inputs';
  const base = path.join(work, 'inputs');
  mkdirSync(base, { recursive: true });
  const nsOk = existsSync(UNSHARE) && process.getuid?.() === 0;
  check(
    part,
    'the PID namespace is available (root and /usr/bin/unshare)',
    nsOk,
    'hostile-record cases need it; not run',
  );
  const template = await startTemplate(base, password);
  check(
    part,
    'a genuine stack (up -d) to derive hostile records from and to run live cases on',
    template.text,
    template.detail,
  );
  // Live cases first, while the template stack runs.
  const all = cases().sort((a, b) => Number(Boolean(b.live)) - Number(Boolean(a.live)));
  say(
    `inputs: ${all.length} bad inputs, each in a fresh folder (live ones on a running stack)${nsOk ? '; stack records only inside a PID namespace' : ''}`,
  );
  const busy = await bindPort();
  const failing = [];
  const started = performance.now();
  let templateRunning = Boolean(template.text);
  try {
    for (const [i, c] of all.entries()) {
      const n = String(i + 1).padStart(2, '0');
      const label = `#${n} ${c.name}`;
      if (!c.live && templateRunning) {
        await cli(['down', '--state-dir', template.st], { cwd: template.cwd, env: template.env, timeoutMs: 60_000 });
        templateRunning = false;
        if (nsOk) await control(base, template);
      }
      if ((c.live || c.hostile) && !template.text) {
        check(part, `${label}: set up`, false, 'no genuine stack to start from; not run');
        failing.push(`${label} [not run]`);
        continue;
      }
      let k;
      if (c.live) k = { cwd: template.cwd, st: template.st };
      else {
        const cwd = mkdtempSync(path.join(base, `case-${n}-`));
        k = {
          cwd,
          st: path.join(cwd, 'state'),
          busyPort: busy.port,
          pwned: path.join(os.tmpdir(), `PWNED-soak-${process.pid}-${randomBytes(4).toString('hex')}`),
        };
        if (c.rawRecord) {
          mkdirSync(k.st, { recursive: true, mode: 0o700 });
          writeFileSync(path.join(k.st, 'stack.json'), c.rawRecord, { mode: 0o600 });
        } else if (c.hostile) writeRecord(k, template, c.hostile);
      }
      const problems = await runCase(c, label, k, nsOk);
      if (problems.length > 0) failing.push(`${label} [${problems.join(', ')}]`);
    }
  } finally {
    await busy.close();
    if (templateRunning)
      await cli(['down', '--state-dir', template.st], { cwd: template.cwd, env: template.env, timeoutMs: 60_000 });
  }
  const figures = [
    `${all.length - failing.length}/${all.length} bad inputs handled to the standard (${seconds(performance.now() - started)})`,
  ];
  say(`inputs: ${figures[0]}`);
  if (failing.length > 0) {
    say('inputs: failing on this build:');
    for (const f of failing) say(`  ${f}`);
  }
  return { figures, failing };
}
