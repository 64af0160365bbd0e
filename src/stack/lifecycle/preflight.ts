/**
 * Before anything is claimed, written or started: settings, the programs, the state folder,
 * the stores and (--upstream) the user's MLflow are checked; the plan is built.
 */
import { checkAuthExtra, choosePermissionSecrets } from '../permissions-files.js';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Context } from '../../context.js';
import { UserError } from '../../errors.js';
import { checkMlflowWorkingDir } from '../../mlflow/python-cwd.js';
import { checkUpstream } from '../../mlflow/upstream.js';
import type { Progress } from '../../progress.js';
import { startStoreChecks, type UpStoreChecks } from '../../stores/run-checks.js';
import { startMigrationCheck, type UpMigration } from '../../stores/run-migration.js';
import { uriSecrets } from '../../stores/secrets.js';
import { checkStateFiles } from '../../system/files.js';
import { checkCreatable, ensureStateDir } from '../../system/folders.js';
import { readUsers } from '../../users/password-file.js';
import { discover } from '../discover.js';
import { stateDirGitWarnings } from '../git-ignore.js';
import { buildPlan, mlflowWorkingDir, type Found, type Plan } from '../plan.js';
import { resolveSettings, type Settings, type StackOptions } from '../settings.js';
import { GUNICORN_SOCKET_NAME, stateFolders, statePaths, type StatePaths } from '../state.js';

/** What the checks found, for the phases that follow. */
export interface Preflight {
  plan: Plan;
  found: Found;
  stores: UpStoreChecks;
  migration: UpMigration;
  /** --upstream: the version the user's MLflow answered. */
  upstreamVersion: string | undefined;
  /** Warnings about the state folder in git, said before the summary. */
  inGit: Promise<string[]>;
  /** `up`'s user is already in the password file (it keeps its password: no prompt). */
  userExists: boolean;
}

/** MLFLOW_SECURE_DEBUG=1: when each start-up phase ended, in ms since the command started. */
export function debugClock(ctx: Context): (name: string) => void {
  return (name) => {
    if (ctx.env.MLFLOW_SECURE_DEBUG) ctx.out.note(`[${Math.round(performance.now())} ms] ${name}`);
  };
}

export async function preflight(o: StackOptions, ctx: Context, progress: Progress): Promise<Preflight> {
  const { platform, out } = ctx;
  const debug = debugClock(ctx);
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
  if (settings.permissions) {
    found.permissions = await choosePermissionSecrets(settings, platform, out);
    await checkAuthExtra(found.mlflow, ctx);
  }
  debug('found nginx and MLflow, chose ports');
  await ensureStateDir(
    paths.stateDir,
    [...stateFolders(paths, platform).filter((d) => d !== paths.stateDir), mlflowWorkingDir(paths.stateDir, platform)],
    platform,
    { warn: (line) => out.warn(line), env: ctx.env },
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
  if (settings.tls?.kind === 'files') await (await import('../../tls/certificates.js')).checkUserTls(settings.tls);
  // A terminal prompt only for a new user (an existing one keeps its password across restarts),
  // asked before the state lock is taken: nobody waits on a person typing.
  const userExists = ((await readUsers(paths.htpasswd)) ?? []).some((e) => e.user === settings.user);
  if (stores.pending) progress.phase(`Checking ${stores.pending}`);
  await stores.verified();
  await migration.verified();
  debug('checked the stores');
  return { plan, found, stores, migration, upstreamVersion, inGit, userExists };
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
