/**
 * `mlflow-secure restart`: `down`, then `up` with the options the running stack was started
 * with (read from its record), any option given here winning. Detached like `up -d` unless
 * --foreground.
 *
 * Only a stack verified running from this folder is restarted: the record's option values then
 * come from our own `up`. A record nobody verified (a stack.json that came with a cloned
 * repository) could otherwise choose the store URIs MLflow writes to. Even so the values are
 * validated again as if typed, and no program path is taken from the record: MLflow and nginx
 * are the ones the verified processes run (running-stack.ts), unless --mlflow/--nginx say else.
 *
 * Everything `up` could refuse for a reason known now is checked before `down`: a restart that
 * cannot start again leaves the running stack alone.
 */
import type { Context } from '../context.js';
import { ExitCode, UserError } from '../errors.js';
import { checkStateDir } from '../system/folders.js';
import { validatePassword, verifyPassword } from '../users/htpasswd.js';
import { MASK } from '../stores/secrets.js';
import { resolveSettings, type StackOptions } from '../stack/settings.js';
import { obtainPassword } from '../users/password.js';
import { chooseListenPort } from '../system/ports.js';
import { ownership } from '../system/processes.js';
import { runningPrograms } from '../stack/running.js';
import { stackTargets } from '../stack/targets.js';
import { readRecord, resolveStatePaths, type StackRecord, type StatePaths } from '../stack/state.js';
import { startStoreChecks } from '../stores/run-checks.js';
import { lookupMlflow, lookupNginx, nginxVersion, requireFound } from '../system/tools.js';
import { readUsers } from '../users/password-file.js';
import { refuseMigrationBeforeRestart } from '../stores/run-migration.js';
import { down } from './down.js';
import { checkStores } from '../stack/lifecycle/preflight.js';
import { up, type UpOptions } from './up.js';

export interface RestartOptions extends StackOptions {
  foreground?: boolean;
  migrate?: boolean;
  passwordStdin?: boolean;
  quiet?: boolean;
}

/** The options `up` is given: the recorded ones, overridden by those typed now. Pure. */
export function restartOptions(record: StackRecord, given: StackOptions): StackOptions {
  const stores = [
    ['backendStoreUri', '--backend-store-uri', record.backendStoreUri],
    ['registryStoreUri', '--registry-store-uri', record.registryStoreUri],
    ['artifactsDestination', '--artifacts-destination', record.artifactsDestination],
  ] as const;
  const recorded: StackOptions = {
    host: record.host,
    port: String(record.port),
    user: record.user,
    hash: record.hash,
    // Older records have no options: the public URLs still name the server names.
    serverName:
      (record.options?.serverNames ?? record.publicUrls.map((u) => new URL(u).hostname)).join(',') || undefined,
    ...(record.options
      ? { nginxWorkers: String(record.options.nginxWorkers), timeout: String(record.options.timeoutSeconds) }
      : {}),
    ...(record.options?.workers !== undefined ? { workers: String(record.options.workers) } : {}),
    ...(record.options?.jobs !== undefined ? { jobs: record.options.jobs ? 'on' : 'off' } : {}),
    // Permissions stay on (a restart must not quietly make everyone an admin); --no-permissions turns them off.
    ...(record.options?.permissions !== undefined && given.permissions !== false
      ? { permissions: true, defaultPermission: record.options.permissions }
      : {}),
  };
  // HTTPS stays on with the same certificate files (their paths only: up checks the files again);
  // --no-tls turns it off, --tls-cert/--tls-key replace the files.
  const tls = record.options?.tls;
  if (tls && given.tls !== false) {
    if (tls === 'generated') recorded.tls = true;
    else if (given.tlsCert === undefined && given.tlsKey === undefined)
      Object.assign(recorded, { tlsCert: tls.cert, tlsKey: tls.key });
  }
  // --upstream: the user's MLflow keeps its stores; it is checked again (answers, is MLflow) by up.
  if (record.upstream) recorded.upstream = record.upstream;
  for (const [key, flag, uri] of stores) {
    if (given[key] !== undefined || recorded.upstream !== undefined) continue;
    // A password in a store URI is never kept on disk: the record has it masked.
    if (uri.includes(MASK))
      throw new UserError(`the recorded ${flag} has a password, which mlflow-secure does not keep`, {
        hint: `Give it again: mlflow-secure restart ${flag} <uri>`,
      });
    recorded[key] = uri;
  }
  const overrides = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)) as StackOptions;
  return { ...recorded, ...overrides };
}

export async function restart(o: RestartOptions, ctx: Context): Promise<number> {
  const paths = resolveStatePaths(o.stateDir, ctx);
  const record = (await checkStateDir(paths.stateDir, ctx.platform))
    ? await readRecord(paths.record, ctx.platform.name)
    : undefined;
  let running = false;
  for (const t of record ? stackTargets(record, paths, ctx.platform) : [])
    if ((await ownership(t, ctx.platform)) === 'ours') running = true;
  if (!record || !running) {
    throw new UserError(`no stack is running from ${paths.stateDir}, so there is nothing to restart`, {
      hint: 'Start one with: mlflow-secure up (its options are then kept for restart)',
    });
  }
  // MLFLOW_SECURE_DEBUG=1: what the checks before `down` cost, in ms since the command started (as up's phases).
  const debug = (name: string) => {
    if (ctx.env.MLFLOW_SECURE_DEBUG) ctx.out.note(`[${Math.round(performance.now())} ms] ${name}`);
  };
  debug('found the running stack');
  const { foreground, passwordStdin: _passwordStdin, quiet, migrate, ...stack } = o;
  const options: UpOptions = {
    ...restartOptions(record, stack),
    ...(await runningPrograms(record, paths, { mlflow: o.mlflow, nginx: o.nginx }, ctx)),
    migrate,
    stateDir: paths.stateDir,
    detach: !foreground,
    quiet,
  };
  options.asked = await checkBeforeDown(options, o, record, paths, ctx);
  await refuseMigrationBeforeRestart(options, ctx);
  debug('read its programs and checked what up needs');
  const stopped = await down({ stateDir: paths.stateDir }, ctx);
  if (stopped !== ExitCode.ok) return stopped;
  return up(options, ctx);
}

/**
 * What `up` would refuse, asked while the old stack still runs: the options, the two programs,
 * the TLS files, a new port, new stores, and last the password (nobody types before a refusal).
 * Returns the password, read once: `up` must not read stdin or prompt again.
 */
async function checkBeforeDown(
  options: UpOptions,
  o: RestartOptions,
  record: StackRecord,
  paths: StatePaths,
  ctx: Context,
): Promise<{ password?: string }> {
  const { platform, env } = ctx;
  const settings = resolveSettings(options, ctx);
  const nginx = requireFound(await lookupNginx({ flag: options.nginx, env, platform }), 'nginx', platform);
  if (!settings.upstream)
    requireFound(await lookupMlflow({ flag: options.mlflow, env, cwd: ctx.cwd, platform }), 'MLflow', platform);
  await nginxVersion(nginx);
  if (settings.tls?.kind === 'files') await (await import('../tls/certificates.js')).checkUserTls(settings.tls);
  // The running nginx holds its own port (on any address, for the system): only another port can be checked now.
  if (settings.port !== 'auto' && settings.port !== record.port) await chooseListenPort(settings.host, settings.port);
  if (o.backendStoreUri !== undefined || o.registryStoreUri !== undefined || o.artifactsDestination !== undefined) {
    await checkStores(settings);
    await startStoreChecks(settings, options, ctx).verified();
  }
  const entries = (await readUsers(paths.htpasswd)) ?? [];
  const existing = entries.find((e) => e.user === settings.user);
  const given = await obtainPassword({
    env,
    passwordStdin: o.passwordStdin === true,
    stdin: ctx.stdin,
    stderr: ctx.stderr,
    prompt: !existing,
    user: settings.user,
  });
  if (!given) return {};
  ctx.out.addSecret(given.password);
  if (!existing) return { password: validatePassword(given.password, settings.hash) };
  if (!verifyPassword(given.password, existing.hash))
    throw new UserError(
      `user '${settings.user}' already exists in ${paths.htpasswd} with a different password; nothing was stopped`,
      { hint: `Give its current password, or change it with \`mlflow-secure user passwd ${settings.user}\`` },
    );
  return { password: given.password };
}
