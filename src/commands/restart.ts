/**
 * `mlflow-secure restart`: `down`, then `up` with the options the running stack was started
 * with (read from its record), any option given here winning. Detached like `up -d` unless
 * --foreground.
 *
 * Only a stack verified running from this folder is restarted: the record's option values then
 * come from our own `up`. A record nobody verified (a stack.json that came with a cloned
 * repository) could otherwise choose the store URIs MLflow writes to. Even so the values are
 * validated again as if typed, and no program path is taken from the record (nginx and MLflow
 * are looked up as `up` always does).
 */
import type { Context } from '../context.js';
import { ExitCode, UserError } from '../errors.js';
import { checkStateDir } from '../files.js';
import { MASK } from '../plan/secrets.js';
import type { StackOptions } from '../plan/settings.js';
import { ownership } from '../processes.js';
import { stackTargets } from '../stack.js';
import { readRecord, resolveStatePaths, type StackRecord } from '../state.js';
import { down } from './down.js';
import { up, type UpOptions } from './up.js';

export interface RestartOptions extends StackOptions {
  foreground?: boolean;
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
      throw new UserError(
        `the recorded ${flag} has a password, which mlflow-secure does not keep`,
        `Give it again: mlflow-secure restart ${flag} <uri>`,
      );
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
    throw new UserError(
      `no stack is running from ${paths.stateDir}, so there is nothing to restart`,
      'Start one with: mlflow-secure up (its options are then kept for restart)',
    );
  }
  const { foreground, passwordStdin, quiet, ...stack } = o;
  const options: UpOptions = {
    ...restartOptions(record, stack),
    stateDir: paths.stateDir,
    detach: !foreground,
    passwordStdin,
    quiet,
  };
  const stopped = await down({ stateDir: paths.stateDir }, ctx);
  if (stopped !== ExitCode.ok) return stopped;
  return up(options, ctx);
}
