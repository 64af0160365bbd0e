/**
 * `mlflow-secure up`: start MLflow on loopback and nginx in front of it, prove both are
 * healthy and that auth holds, then supervise them (foreground) or return (--detach).
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Context } from '../context.js';
import { ExitCode, StackError, UserError } from '../errors.js';
import { checkCreatable, checkStateFiles, ensureStateDir, exists, tailFile, writeFileAtomic } from '../system/files.js';
import {
  describeExit,
  labelNginxLogLine,
  mlflowHealthResource,
  proveStack,
  waitReady,
  connectHost,
  type Credential,
} from '../stack/health.js';
import { withStateLock } from '../system/lock.js';
import { keepLogsBounded, rotateLog } from '../stack/log-files.js';
import { keeperArgs, keeperScript } from '../stack/log-keeper.js';
import {
  generatePassword,
  hashPassword,
  removeEntry,
  schemeOf,
  upsertEntry,
  validatePassword,
  verifyPassword,
  type HtpasswdEntry,
} from '../users/htpasswd.js';
import { buildPlan, MARKER_ENV, mlflowWorkingDir, type Plan } from '../stack/plan.js';
import { maskUriCredentials, uriSecrets } from '../stores/secrets.js';
import { resolveSettings, type Settings, type StackOptions } from '../stack/settings.js';
import { obtainPassword } from '../users/password.js';
import { createProgress, progressMode, type Progress } from '../progress.js';
import {
  followFile,
  ownership,
  runOnce,
  startBackground,
  startProcess,
  type StartedProcess,
} from '../system/processes.js';
import { isLiveUp, mlflowTarget, nginxTarget, removeStackFiles, stackTargets, stopStack } from '../stack/targets.js';
import {
  GUNICORN_SOCKET_NAME,
  readRecord,
  RECORD_VERSION,
  removeRecord,
  stateFolders,
  statePaths,
  writeRecord,
  type StackRecord,
  type StatePaths,
} from '../stack/state.js';
import { knownPassword, readUsers, writeGeneratedPassword, writeUsers } from '../users/password-file.js';
import { discover } from '../stack/discover.js';
import { stateDirGitWarnings } from '../stack/git-ignore.js';
import type { PreparedTls } from '../tls/certificates.js';
import { startStoreChecks } from '../stores/run-checks.js';
import { checkMlflowWorkingDir } from '../mlflow/python-cwd.js';
import { startMigrationCheck } from '../stores/run-migration.js';
import { checkUpstream, watchUpstream } from '../mlflow/upstream.js';
import {
  checkAuthExtra,
  choosePermissionSecrets,
  forgetProbe,
  provePermissions,
  writePermissionFiles,
} from '../stack/permissions-files.js';

export interface UpOptions extends StackOptions {
  detach?: boolean;
  passwordStdin?: boolean;
  /** No progress line (the summary and errors are still printed). */
  quiet?: boolean;
  /** Open the UI in the default browser once the stack is up. */
  open?: boolean;
  /** `restart` asked for the password before it stopped the old stack (`{}`: none was given). */
  asked?: { password?: string };
  /** Let MLflow migrate a server database to its schema (a SQLite one is copied first, always). */
  migrate?: boolean;
}

class Interrupted extends Error {
  constructor(readonly signal: string) {
    super(`interrupted by ${signal}`);
  }
}

const STOP_SIGNALS = (windows: boolean): NodeJS.Signals[] =>
  windows ? ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK'] : ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** Signal handlers, installed once and removed when done. */
function listenForStop(windows: boolean): {
  stopped: Promise<string>;
  received(): string | undefined;
  dispose(): void;
} {
  let onSignal: (signal: NodeJS.Signals) => void = () => undefined;
  let received: string | undefined;
  const stopped = new Promise<string>((resolve) => {
    onSignal = (signal) => {
      received ??= signal;
      resolve(signal);
    };
  });
  const signals = STOP_SIGNALS(windows);
  for (const s of signals) process.on(s, onSignal);
  return { stopped, received: () => received, dispose: () => signals.forEach((s) => process.off(s, onSignal)) };
}

function raceStop<T>(work: Promise<T>, stopped: Promise<string>): Promise<T> {
  return Promise.race([work, stopped.then((s) => Promise.reject(new Interrupted(s)))]);
}

/**
 * Refuses a second stack in the same state folder, or a second `up` starting one right now;
 * clears the record of one that is gone. Runs under the state lock.
 */
async function checkNoRunningStack(paths: StatePaths, ctx: Context): Promise<void> {
  const record = await readRecord(paths.record, ctx.platform.name);
  if (!record) return;
  const alive: string[] = [];
  for (const t of stackTargets(record, paths, ctx.platform)) {
    const owner = await ownership(t, ctx.platform);
    if (owner === 'ours' || owner === 'unverified') alive.push(`${t.name} pid ${t.pid}`);
  }
  if (alive.length > 0) {
    throw new UserError(`a stack is already running from ${paths.stateDir} (${alive.join(', ')}) at ${record.url}`, {
      hint: 'Stop it with `mlflow-secure down`, or use another --state-dir',
    });
  }
  const sup = record.supervisorPid;
  if (record.phase === 'starting' && (await isLiveUp(sup, ctx.platform))) {
    throw new UserError(`another \`mlflow-secure up\` (pid ${sup}) is starting a stack from ${paths.stateDir}`, {
      hint: 'Wait for it, or stop it with `mlflow-secure down`',
    });
  }
  await removeStackFiles(paths);
  ctx.out.note(`Removed the record of a stack that is no longer running (${paths.record}).`);
}

/** Each local store path can be created (restart checks the same before it stops anything). */
export async function checkStores(settings: Settings): Promise<void> {
  const stores = [
    ['backend store', settings.backend],
    ['registry store', settings.registry],
    ['artifacts destination', settings.artifacts],
  ] as const;
  for (const [what, store] of stores) if (store.localPath) await checkCreatable(store.localPath, what);
}

interface Users {
  entries: HtpasswdEntry[];
  /** The credential the readiness check logs in with. */
  probe: Credential;
  /** True when `probe` is a temporary user added only for the check. */
  probeIsTemporary: boolean;
  /** The user's password, when mlflow-secure generated it in this run (printed once). */
  generated?: string;
  /** An earlier generated password is on file for the user (`env` shows it). */
  storedGenerated?: boolean;
  changed: boolean;
}

/**
 * The password file is kept across restarts: `up` adds its user when missing and never
 * resets anyone. A password given for an existing user must match the one on file.
 */
async function prepareUsers(
  settings: Settings,
  paths: StatePaths,
  given: { password: string } | undefined,
  ctx: Context,
): Promise<Users> {
  let entries = (await readUsers(paths.htpasswd)) ?? [];
  const existing = entries.find((e) => e.user === settings.user);
  for (const e of entries) {
    const scheme = schemeOf(e.hash);
    // JSON.stringify: a name from the file is shown escaped, never as raw terminal bytes.
    const name = JSON.stringify(e.user);
    if (scheme === 'other') {
      ctx.out.warn(
        `user ${name} in ${paths.htpasswd} has a hash mlflow-secure did not write (not bcrypt or apr1; nginx also takes {PLAIN} and {SHA}); check it, or remove it: mlflow-secure user remove <name>`,
      );
    } else if (ctx.platform.hashRefusal(scheme)) {
      ctx.out.warn(
        `user ${name} has a ${scheme} hash that nginx here cannot verify; reset it: mlflow-secure user passwd <name> --hash apr1`,
      );
    }
  }
  // Everyone in the password file can log in: say who besides --user, every start.
  const others = entries.filter((e) => e.user !== settings.user).map((e) => JSON.stringify(e.user));
  if (others.length > 0)
    ctx.out.note(`The password file also lets in: ${others.join(', ')} (mlflow-secure user list; user remove <name>).`);
  if (existing) {
    if (given) {
      if (!verifyPassword(given.password, existing.hash)) {
        throw new UserError(`user '${settings.user}' already exists in ${paths.htpasswd} with a different password`, {
          hint: `Give its current password, or change it with \`mlflow-secure user passwd ${settings.user}\``,
        });
      }
      return {
        entries,
        probe: { user: settings.user, password: given.password },
        probeIsTemporary: false,
        changed: false,
      };
    }
    const stored = await knownPassword(paths.generatedPassword, settings.user, entries);
    if (stored !== undefined) {
      ctx.out.addSecret(stored);
      return {
        entries,
        probe: { user: settings.user, password: stored },
        probeIsTemporary: false,
        storedGenerated: true,
        changed: false,
      };
    }
    // The password is not known here: prove auth with a temporary user, removed after the check.
    const probe = { user: `mlflow-secure-probe-${randomBytes(4).toString('hex')}`, password: generatePassword() };
    ctx.out.addSecret(probe.password);
    entries = upsertEntry(entries, {
      user: probe.user,
      hash: hashPassword(probe.password, settings.hash, settings.bcryptCost),
    });
    return { entries, probe, probeIsTemporary: true, changed: true };
  }
  const password = given ? validatePassword(given.password, settings.hash) : generatePassword();
  ctx.out.addSecret(password);
  entries = upsertEntry(entries, {
    user: settings.user,
    hash: hashPassword(password, settings.hash, settings.bcryptCost),
  });
  return {
    entries,
    probe: { user: settings.user, password },
    probeIsTemporary: false,
    generated: given ? undefined : password,
    changed: true,
  };
}

async function removeTemporaryUser(paths: StatePaths, probe: Credential): Promise<void> {
  await withStateLock(paths.stateDir, async () => {
    const entries = await readUsers(paths.htpasswd);
    if (entries?.some((e) => e.user === probe.user)) await writeUsers(paths.htpasswd, removeEntry(entries, probe.user));
  });
}

async function testNginxConf(plan: Plan): Promise<void> {
  // In nginx's prefix, as it runs: its argv may name the state folder relative to it (plan.ts).
  const r = await runOnce(plan.nginx.file, plan.nginx.testArgs, { timeoutMs: 30_000, cwd: plan.paths.nginxPrefix });
  if (r.exitCode !== 0) {
    const lines = `${r.stderr}\n${r.stdout}`.split('\n').filter((l) => /emerg|alert|crit|error/.test(l));
    throw new StackError(`nginx rejected the generated configuration ${plan.paths.nginxConf}`, {
      hint: 'Read the nginx message below; check --host, --server-name and the state folder',
      details: lines.join('\n'),
    });
  }
}

const startedAt = new Date().toISOString();

/** What `down`, `status` and `env` may need; no command, argument or secret (state.ts). */
export function recordOf(
  plan: Plan,
  mlflow: StartedProcess | undefined,
  nginx: StartedProcess | undefined,
  phase: StackRecord['phase'],
  supervisorPid: number | null,
): StackRecord {
  const s = plan.settings;
  return {
    version: RECORD_VERSION,
    phase,
    supervisorPid,
    startedAt,
    url: plan.url,
    publicUrls: plan.publicUrls,
    user: s.user,
    host: s.host,
    port: plan.listenPort,
    mlflowPort: plan.mlflow.port,
    mlflowOnSocket: plan.mlflow.socket !== undefined,
    ...(plan.upstream ? { upstream: plan.upstream.url } : {}),
    hash: s.hash,
    // --upstream: the user's MLflow chose its stores; none is known here.
    backendStoreUri: s.upstream ? '' : maskUriCredentials(s.backend.uri),
    registryStoreUri: s.upstream ? '' : maskUriCredentials(s.registry.uri),
    artifactsDestination: s.upstream ? '' : maskUriCredentials(s.artifacts.uri),
    ...(mlflow ? { mlflow: { pid: mlflow.pid } } : {}),
    ...(nginx ? { nginx: { pid: nginx.pid } } : {}),
    options: {
      serverNames: s.serverNames,
      nginxWorkers: s.nginxWorkers,
      workers: s.mlflowWorkers,
      jobs: s.jobs,
      ...(s.permissions ? { permissions: s.permissions.defaultPermission } : {}),
      timeoutSeconds: s.timeoutMs / 1000,
      ...(s.tls
        ? { tls: s.tls.kind === 'generated' ? ('generated' as const) : { cert: s.tls.cert, key: s.tls.key } }
        : {}),
    },
  };
}

/** Resolves once `file` exists (polled: the same on every OS); bounded by dispose(). */
function watchStopRequest(file: string): { seen: Promise<void>; dispose(): void } {
  let timer: NodeJS.Timeout | undefined;
  const seen = new Promise<void>((resolve) => {
    timer = setInterval(() => {
      void exists(file).then((yes) => {
        if (yes) resolve();
      });
    }, 200);
  });
  return { seen, dispose: () => clearInterval(timer) };
}

/**
 * Before anything starts: MLflow and nginx open these files themselves and would follow a link
 * planted in the state folder (`logs/mlflow.log -> ~/.bashrc`). MLflow's socket path must be
 * free or a stale socket (removed once no stack runs here).
 */
async function checkStateEntries(paths: StatePaths): Promise<void> {
  await checkStateFiles([
    paths.mlflowLog,
    paths.nginxErrorLog,
    paths.nginxAccessLog,
    paths.nginxPid,
    paths.nginxConf,
    paths.htpasswd,
    paths.generatedPassword,
    paths.record,
    paths.stopRequest,
  ]);
  // Ours: uvicorn's socket, or the link to gunicorn's (replaced before MLflow starts, never followed).
  const socket = await fs.lstat(paths.mlflowSocket).catch(() => undefined);
  if (socket && !socket.isSocket() && !socket.isSymbolicLink())
    throw new UserError(`${paths.mlflowSocket} is in the way of MLflow's socket and is not a socket`, {
      hint: 'Remove it, or choose another --state-dir',
    });
  for (const name of await fs.readdir(paths.stateDir)) {
    const file = path.join(paths.stateDir, name);
    if (GUNICORN_SOCKET_NAME.test(name) && !(await fs.lstat(file)).isSocket())
      throw new UserError(`${file} is in the way of MLflow's socket and is not a socket`, {
        hint: 'Remove it, or choose another --state-dir',
      });
  }
}

/**
 * MLflow < 3.3 (gunicorn) binds `mlflow-gunicorn.sock:<port>`; nginx, readiness and status reach
 * it at `mlflow.sock`, made here a link relative to the state folder (connect follows it). What
 * was there (checked by checkStateEntries: a stale socket or link) is removed, never followed.
 */
async function linkMlflowSocket(plan: Plan): Promise<void> {
  const { socket, socketLink } = plan.mlflow;
  if (socket === undefined) return;
  await fs.rm(socket, { force: true });
  if (socketLink !== undefined) await fs.symlink(socketLink, socket);
}

/** A StackError whose details end with the last lines of `logFile` (what the user reads first). */
async function failureWithLog(
  message: string,
  hint: string,
  logFile: string,
  name: string,
  lines = 25,
  before: string[] = [],
): Promise<StackError> {
  const tail = await tailFile(logFile, lines);
  return new StackError(message, {
    hint,
    details: [...before, tail ? `last lines of ${logFile}:\n${tail}` : `(${name} wrote nothing to ${logFile})`].join(
      '\n',
    ),
  });
}

/** Turns a failure of one process into a StackError carrying the end of its log. */
async function withLogTail<T>(work: Promise<T>, name: string, logFile: string): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (error instanceof StackError && !error.details)
      throw await failureWithLog(error.message, error.hint ?? '', logFile, name);
    throw error;
  }
}

/** What MLflow's log says it is doing while it starts, as a phase of the progress line. */
export function mlflowStartPhase(line: string): string | undefined {
  if (/Creating initial MLflow database tables|alembic\.runtime\.migration\].*Running (upgrade|stamp)/.test(line))
    return 'MLflow is migrating its database';
  if (/Started server process|Waiting for application startup|Uvicorn running/.test(line))
    return 'MLflow is starting its web server';
  return undefined;
}

function printSummary(
  plan: Plan,
  users: Users & { tls?: PreparedTls },
  versions: { mlflow: string; nginx: string },
  detached: boolean,
  ctx: Context,
): void {
  const { out } = ctx;
  const s = plan.settings;
  out.info(
    plan.upstream
      ? `Your MLflow ${versions.mlflow} at ${plan.upstream.url} is behind nginx ${versions.nginx}, password required.`
      : `MLflow ${versions.mlflow} is up behind nginx ${versions.nginx}, password required.`,
  );
  out.info(`  URL:       ${plan.url}`);
  for (const u of plan.publicUrls) out.info(`  also:      ${u}`);
  out.info(`  user:      ${s.user}`);
  if (users.generated) {
    out.printSecretOnce(`  password:  ${users.generated}`);
    out.info(`             (generated; kept owner-only in ${plan.paths.generatedPassword} for \`mlflow-secure env\`)`);
  } else if (users.storedGenerated) {
    out.info('  password:  generated earlier; `mlflow-secure env` shows it');
  }
  const envHint = ctx.platform.isWindows
    ? 'mlflow-secure env | Out-String | Invoke-Expression'
    : 'eval "$(mlflow-secure env)"';
  if (users.tls)
    out.info(
      `  CA:        ${users.tls.clientCa ?? 'the CA that issued --tls-cert (mlflow-secure did not find it)'}   (clients and browsers trust this)`,
    );
  out.info(
    `  clients:   ${envHint}   (sets MLFLOW_TRACKING_URI, _USERNAME, _PASSWORD${users.tls?.clientCa ? ', _SERVER_CERT_PATH' : ''})`,
  );
  out.info(
    `  stop:      mlflow-secure down${detached ? '' : '   (or Ctrl+C here)'}${plan.upstream ? '   (stops nginx only; your MLflow keeps running)' : ''}`,
  );
}

/** Under the state lock: claims the folder, writes nginx.conf (tested) and the password file. */
async function claimStateFolder(
  plan: Plan,
  given: { password: string } | undefined,
  ctx: Context,
): Promise<Users & { tls?: PreparedTls }> {
  const { paths, settings } = plan;
  // No second `up` claims the folder and no `user` command edits the password file between our
  // read and our write. nginx -t runs before the password file changes, so a failure never
  // leaves the temporary probe user behind.
  return withStateLock(paths.stateDir, async () => {
    await checkNoRunningStack(paths, ctx);
    // A stop request left by a `down` that died must not stop this new stack.
    await fs.rm(paths.stopRequest, { force: true });
    const prepared = await prepareUsers(settings, paths, given, ctx);
    await writeRecord(paths.record, recordOf(plan, undefined, undefined, 'starting', process.pid));
    let tls: PreparedTls | undefined;
    try {
      // Certificates before nginx -t: nginx opens them while it tests the config.
      if (settings.tls) {
        const { certificateNamesFor, prepareTls } = await import('../tls/certificates.js');
        tls = await prepareTls(settings.tls, certificateNamesFor(settings), paths.stateDir, ctx);
      }
      await writeFileAtomic(paths.nginxConf, plan.nginx.conf, settings.permissions ? 0o600 : 0o644);
      await writePermissionFiles(plan, ctx.platform);
      await testNginxConf(plan);
      if (prepared.changed) await writeUsers(paths.htpasswd, prepared.entries);
      if (prepared.generated)
        await writeGeneratedPassword(paths.generatedPassword, { user: settings.user, password: prepared.generated });
    } catch (error) {
      await removeRecord(paths.record);
      throw error;
    }
    for (const w of tls?.warnings ?? []) ctx.out.warn(w);
    for (const n of tls?.notes ?? []) ctx.out.note(`${n}.`);
    return { ...prepared, ...(tls ? { tls } : {}) };
  });
}

export async function up(o: UpOptions, ctx: Context): Promise<number> {
  const progress = await createProgress(
    progressMode({ quiet: o.quiet, env: ctx.env, stream: ctx.stderr }),
    ctx.stderr,
    ctx.out,
  );
  try {
    return await startStack(o, ctx, progress);
  } finally {
    progress.done();
  }
}

async function startStack(o: UpOptions, ctx: Context, progress: Progress): Promise<number> {
  const { platform, out } = ctx;
  // MLFLOW_SECURE_DEBUG=1: when each start-up phase ended, in ms since the command started.
  const debug = (name: string) => {
    if (ctx.env.MLFLOW_SECURE_DEBUG) out.note(`[${Math.round(performance.now())} ms] ${name}`);
  };
  const settings = resolveSettings(o, ctx);
  // A database password in a store URI is masked in everything we print (log tails included).
  for (const store of [settings.backend, settings.registry, settings.artifacts])
    for (const secret of uriSecrets(store.uri)) out.addSecret(secret);
  for (const w of settings.warnings) out.warn(w);
  const paths = statePaths(settings.stateDir, platform);

  progress.phase('Checking nginx, MLflow and the state folder');
  // A database or S3 store is checked in MLflow's Python meanwhile (nothing runs for SQLite).
  const stores = startStoreChecks(settings, o, ctx);
  // Whether MLflow would migrate its database, read meanwhile (python/db_migration.py).
  const migration = startMigrationCheck(settings, o, ctx);
  const { found } = await discover(settings, o, ctx, true);
  if (settings.permissions) found.permissions = await choosePermissionSecrets(settings, platform, out);
  if (settings.permissions) await checkAuthExtra(found.mlflow, ctx);
  debug('found nginx and MLflow, chose ports');
  await ensureStateDir(
    paths.stateDir,
    [...stateFolders(paths, platform).filter((d) => d !== paths.stateDir), mlflowWorkingDir(paths.stateDir, platform)],
    platform,
  );
  // Asked now, said before the summary: git answers long before MLflow does.
  const inGit = stateDirGitWarnings(paths.stateDir, ctx);
  await checkStateEntries(paths);
  if (!settings.upstream) {
    await checkMlflowWorkingDir(mlflowWorkingDir(paths.stateDir, platform));
    await checkStores(settings);
  }
  const plan = buildPlan(settings, found, platform);
  // --upstream: before anything is written or started, the URL must answer and be MLflow.
  const upstreamVersion = plan.upstream ? await checkUpstream(plan.upstream) : undefined;
  if (plan.upstream) debug(`MLflow ${upstreamVersion} answers at ${plan.upstream.url}`);
  // The user's certificate and key are checked before anyone is asked for a password.
  if (settings.tls?.kind === 'files') await (await import('../tls/certificates.js')).checkUserTls(settings.tls);
  // A terminal prompt only for a new user (an existing one keeps its password across restarts),
  // asked before the state lock is taken: nobody waits on a person typing.
  const existing = ((await readUsers(paths.htpasswd)) ?? []).some((e) => e.user === settings.user);
  if (stores.pending) progress.phase(`Checking ${stores.pending}`);
  await stores.verified();
  await migration.verified();
  debug('checked the stores');
  progress.done();
  const given = o.asked
    ? o.asked.password !== undefined
      ? { password: o.asked.password }
      : undefined
    : await obtainPassword({
        env: ctx.env,
        passwordStdin: o.passwordStdin === true,
        stdin: ctx.stdin,
        stderr: ctx.stderr,
        prompt: !existing,
        user: settings.user,
      });
  if (given) out.addSecret(given.password);

  // From the claim on, a signal (a closed terminal, Ctrl+C) must clean up, not kill us midway.
  const signals = listenForStop(platform.isWindows);
  progress.phase('Writing the nginx config and the password file');
  const users = await claimStateFolder(plan, given, ctx).catch((error: unknown) => {
    signals.dispose();
    throw error;
  });
  debug('wrote nginx.conf; nginx -t passed');
  // The folder is claimed and nothing writes the logs yet: a log that outgrew the bound is set aside.
  const logFiles = [paths.mlflowLog, paths.nginxErrorLog, paths.nginxAccessLog];
  for (const file of logFiles)
    await rotateLog(file).catch((error: unknown) => out.warn(`could not rotate ${file}: ${String(error)}`));

  // `down` from another terminal while this `up` is still starting: it leaves a stop request.
  const requested = watchStopRequest(paths.stopRequest);
  const stop = {
    stopped: Promise.race([signals.stopped, requested.seen.then(() => 'mlflow-secure down')]),
    dispose: () => {
      signals.dispose();
      requested.dispose();
    },
  };
  let starting = true;
  // With --upstream nothing writes MLflow's log here: following it costs a stat per poll.
  const stopFollowing = [
    followFile(paths.mlflowLog, (line) => {
      if (starting) {
        stores.onMlflowLine(line);
        const phase = mlflowStartPhase(line);
        if (phase) progress.phase(phase);
      }
      if (!o.detach) out.info(`mlflow | ${line}`);
    }),
  ];
  if (!o.detach) {
    stopFollowing.push(followFile(paths.nginxErrorLog, (line) => out.info(`nginx  | ${labelNginxLogLine(line)}`)));
    // Nowhere to print once the terminal or the pipe is gone: stop reading the logs.
    void out.stdoutClosed.then(() => Promise.all(stopFollowing.map((f) => f())));
  }
  let mlflow: StartedProcess | undefined;
  let nginx: StartedProcess | undefined;
  const record = (phase: StackRecord['phase'], supervisorPid: number | null) =>
    writeRecord(paths.record, recordOf(plan, mlflow, nginx, phase, supervisorPid));
  let keepRunning = false;
  let stopBounding: (() => Promise<void>) | undefined;
  let cleaned: Promise<void> | undefined;
  /** Stops whatever was started and removes what the stack leaves; runs once, however often asked. */
  const cleanup = () =>
    (cleaned ??= (async () => {
      const targets = [
        // Our own children: ours even where the process table tells nothing (Windows under Wine).
        ...(mlflow ? [{ ...mlflowTarget(mlflow.pid, plan.mlflow.port, paths.stateDir, platform), known: true }] : []),
        ...(nginx ? [{ ...nginxTarget(nginx.pid, paths, platform, plan.nginx.file), known: true }] : []),
      ];
      await stopBounding?.();
      await stopStack(targets, paths, platform);
      await Promise.all(stopFollowing.map((f) => f()));
      await removeStackFiles(paths);
      if (users.probeIsTemporary) await removeTemporaryUser(paths, users.probe).catch(() => undefined);
    })());

  try {
    try {
      // A signal that came during the claim: stop before starting anything.
      const early = signals.received();
      if (early !== undefined) throw new Interrupted(early);
      await migration.beforeMlflowStarts();
      progress.phase(plan.upstream ? 'Starting nginx' : 'Starting MLflow and nginx');
      if (!plan.upstream) await linkMlflowSocket(plan);
      if (!plan.upstream)
        mlflow = await startProcess({
          name: 'mlflow',
          file: plan.mlflow.file,
          args: plan.mlflow.args,
          env: plan.mlflow.env,
          cwd: plan.mlflow.cwd,
          logFile: paths.mlflowLog,
          platform,
        });
      await record('starting', process.pid);
      nginx = await startProcess({
        name: 'nginx',
        file: plan.nginx.file,
        args: plan.nginx.args,
        env: { [MARKER_ENV]: plan.marker },
        cwd: paths.nginxPrefix,
        logFile: paths.nginxErrorLog,
        platform,
      });
      await record('starting', process.pid);
      debug('started MLflow and nginx');

      progress.phase('Waiting for MLflow to answer');
      const deadline = settings.timeoutMs;
      const listen = `tcp:${connectHost(plan)}:${plan.listenPort}`;
      await raceStop(
        Promise.all([
          // --upstream: the user's MLflow was checked before nginx started.
          !mlflow
            ? undefined
            : stores.explainExit(
                withLogTail(
                  stores.orLoggedProblem(
                    waitReady({
                      resource: mlflowHealthResource(plan.mlflow),
                      exited: mlflow.exited,
                      timeoutMs: deadline,
                      what: 'MLflow',
                    }),
                  ),
                  'mlflow',
                  paths.mlflowLog,
                ),
              ),
          withLogTail(
            waitReady({ resource: listen, exited: nginx.exited, timeoutMs: deadline, what: 'nginx' }),
            'nginx',
            paths.nginxErrorLog,
          ),
        ]),
        stop.stopped,
      );
      starting = false;
      debug('MLflow answers /health; nginx listens');
      progress.phase('Proving that the password is required and works');
      const checks = await raceStop(proveStack(plan, users.probe, users.tls?.trust), stop.stopped);
      checks.push(...(await provePermissions(plan)));
      debug('proved auth and an API call through the proxy');
      const failed = checks.filter((c) => !c.ok);
      if (failed.length > 0) {
        throw await failureWithLog(
          `the stack started but ${failed.length} check(s) failed: ${failed.map((c) => c.name).join('; ')}`,
          'This is likely a bug in mlflow-secure or an unusual nginx/MLflow build; details below',
          paths.mlflowLog,
          'mlflow',
          10,
          failed.map((c) => `  ${c.name}: ${c.detail}`),
        );
      }
      if (users.probeIsTemporary) await removeTemporaryUser(paths, users.probe);
      if (users.probeIsTemporary) await forgetProbe(plan, found.mlflow, users.probe.user, ctx);
    } catch (error) {
      if (!(error instanceof Interrupted)) throw error;
      progress.done();
      await cleanup();
      out.note(`Interrupted (${error.signal}) while starting: stopped everything.`);
      return ExitCode.interrupted;
    }

    // --upstream: the version the user's MLflow answered; else the one read before it started.
    const versions = { mlflow: upstreamVersion ?? found.mlflowVersion ?? '?', nginx: found.nginxVersion.join('.') };
    progress.done();
    for (const w of await inGit) out.warn(w);
    if (o.detach) {
      await record('running', null);
      await Promise.all(stopFollowing.map((f) => f()));
      mlflow?.detach();
      nginx.detach();
      // Nothing of ours stays to bound the logs: a small keeper does, until the stack is gone.
      const keeper = keeperScript();
      if (keeper.endsWith('.js')) {
        const pids = mlflow ? [mlflow.pid, nginx.pid] : [nginx.pid]; // --upstream: nginx alone
        const job = { pids, record: paths.record, logs: logFiles };
        startBackground(process.execPath, [keeper, ...keeperArgs(job)], { cwd: os.tmpdir(), platform });
      }
      keepRunning = true;
      printSummary(plan, users, versions, true, ctx);
      if (o.open) await (await import('../system/browser.js')).openAfterUp(plan.url, ctx);
      return ExitCode.ok;
    }

    await record('running', process.pid);
    // From here on `down` stops the processes and this `up` sees them exit.
    requested.dispose();
    // While this `up` supervises, the logs stay bounded (a detached stack's wait for the next start).
    stopBounding = keepLogsBounded(logFiles);
    printSummary(plan, users, versions, false, ctx);
    if (o.open) await (await import('../system/browser.js')).openAfterUp(plan.url, ctx);
    // The user's MLflow going away is said, not a reason to stop: they may be restarting it.
    const stopWatching = plan.upstream
      ? watchUpstream(plan.upstream, (answers, detail) =>
          answers
            ? out.note(`Your MLflow at ${plan.upstream!.url} answers again.`)
            : out.warn(
                `your MLflow at ${plan.upstream!.url} stopped answering (${detail}): requests through nginx get 502 until it is back`,
              ),
        )
      : () => undefined;
    const outcome = await Promise.race([
      stop.stopped.then((signal) => ({ signal })),
      ...(mlflow ? [mlflow.exited.then((exit) => ({ exit }))] : []),
      nginx.exited.then((exit) => ({ exit })),
    ]).finally(stopWatching);
    if ('signal' in outcome) {
      out.note(`Stopping (${outcome.signal})...`);
      await cleanup();
      out.note(
        plan.upstream
          ? `Stopped nginx (your MLflow at ${plan.upstream.url} keeps running).`
          : 'Stopped MLflow and nginx.',
      );
      return ExitCode.ok;
    }
    // `down` leaves a stop request before it stops the processes, and removes the record last:
    // either one says the exit was asked for.
    if ((await exists(paths.stopRequest)) || !(await exists(paths.record))) {
      await cleanup();
      out.note('Stopped by `mlflow-secure down`.');
      return ExitCode.ok;
    }
    const died = outcome.exit;
    await cleanup();
    throw await failureWithLog(
      `${describeExit(died)} while the stack was running; stopped the rest`,
      `Read its log: mlflow-secure logs ${died.name}`,
      died.name === 'mlflow' ? paths.mlflowLog : paths.nginxErrorLog,
      died.name,
    );
  } finally {
    if (!keepRunning) await cleanup();
    stop.dispose();
  }
}
