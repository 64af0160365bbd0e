/**
 * Nothing lost when MLflow upgrades its database: before MLflow starts, the probe
 * (python/db_migration.py, run in MLflow's own Python) reads the database's schema revision and
 * MLflow's head. A SQLite database MLflow would migrate is first copied with SQLite's online
 * backup API into `<database>.backups/` beside it (the newest BACKUPS_KEPT are kept); a server
 * database is left alone unless `--migrate` says so, with the dump command to run first.
 *
 * The copies live beside the database, not in the state folder: they belong to the data (one
 * set per database whichever state folder starts it, on the same disk, kept when a state folder
 * is deleted), and that folder is writable wherever SQLite can write its journal.
 */
import { promises as fs } from 'node:fs';
import nodePath from 'node:path';
import type { Context } from '../context.js';
import { UserError } from '../errors.js';
import { PASSWORD_ENV } from '../users/password.js';
import type { CommandSpec } from '../system/platform.js';
import {
  BackupAnswer,
  backupFileName,
  backupFolderFor,
  backupLine,
  backupsToRemove,
  BACKUPS_KEPT,
  migrationTargets,
  mlflowName,
  ProbeAnswer,
  parseAnswer,
  refusal,
  verdictOf,
  type MigrationTarget,
  type Verdict,
} from './migration.js';
import { maskUriCredentials } from './secrets.js';
import { resolveSettings, type Settings, type StackOptions } from '../stack/settings.js';
import { runOnce, type RunResult } from '../system/run-once.js';
import { findMlflowPython } from './run-checks.js';
import { lookupMlflow, type IsExecutable } from '../system/tools.js';
import { pythonScriptPath } from '../mlflow/python-scripts.js';

export const DB_MIGRATION_SCRIPT = pythonScriptPath('db_migration');

/** A probe reads one row (a server's connection is bounded by PGCONNECT_TIMEOUT); a copy is bounded by the disk. */
const PROBE_TIMEOUT_MS = 45_000;
const BACKUP_TIMEOUT_MS = 30 * 60_000;

export interface MigrationDeps {
  run?: typeof runOnce;
  isExecutable?: IsExecutable;
  now?: () => Date;
}

type Probed =
  | { target: MigrationTarget; verdict: Verdict; mlflow: string; python: CommandSpec }
  | { target: MigrationTarget; notChecked: string };

function describe(target: MigrationTarget): string {
  return `the ${target.role} ${target.kind === 'sqlite' ? target.path : maskUriCredentials(target.uri)}`;
}

function runScript(
  python: CommandSpec,
  vars: Record<string, string>,
  ctx: Pick<Context, 'env'>,
  timeoutMs: number,
  run: typeof runOnce,
): Promise<RunResult> {
  const env: NodeJS.ProcessEnv = { ...ctx.env, PGCONNECT_TIMEOUT: ctx.env.PGCONNECT_TIMEOUT ?? '10', ...vars };
  delete env[PASSWORD_ENV];
  // -I: nothing from the working folder or PYTHON* variables on the path; the script's own
  // folder (ours, read-only) as the working folder. The URI goes through the environment.
  return run(python.file, [...python.args, '-I', DB_MIGRATION_SCRIPT], {
    env,
    cwd: nodePath.dirname(DB_MIGRATION_SCRIPT),
    timeoutMs,
  });
}

function whyNot(r: RunResult, answer: { message?: string; type?: string } | undefined): string {
  if (answer) return `${answer.type ?? 'error'}: ${(answer.message ?? '').split('\n')[0]}`;
  if (r.exitCode === undefined) return r.error ?? 'did not run';
  return `exit ${r.exitCode}: ${r.stderr.trim().split(/\r?\n/).at(-1) ?? ''}`;
}

async function probeTargets(
  given: MigrationTarget[],
  mlflow: CommandSpec,
  ctx: Pick<Context, 'env' | 'platform'>,
  deps: MigrationDeps,
): Promise<Probed[]> {
  // A SQLite file that is not there yet is a new database: nothing to read, no Python started.
  const present = await Promise.all(
    given.map(
      (t) =>
        t.kind !== 'sqlite' ||
        fs.stat(t.path).then(
          (st) => st.isFile(),
          () => false,
        ),
    ),
  );
  const targets = given.filter((_, i) => present[i]);
  if (targets.length === 0) return [];
  const python = await findMlflowPython(mlflow, ctx.platform, deps.isExecutable);
  if (!python)
    return targets.map((target) => ({
      target,
      notChecked: `could not tell whether MLflow will migrate ${describe(target)}: no Python beside ${mlflow.file}`,
    }));
  const run = deps.run ?? runOnce;
  return Promise.all(
    targets.map(async (target): Promise<Probed> => {
      const vars: Record<string, string> = {
        MLFLOW_SECURE_DB_ACTION: 'probe',
        ...(target.kind === 'sqlite' ? { MLFLOW_SECURE_DB_PATH: target.path } : { MLFLOW_SECURE_DB_URI: target.uri }),
      };
      const r = await runScript(python, vars, ctx, PROBE_TIMEOUT_MS, run);
      const answer = parseAnswer(r.stdout, ProbeAnswer);
      if (answer?.ok) return { target, verdict: verdictOf(answer), mlflow: mlflowName(answer.version), python };
      return {
        target,
        notChecked: `could not read the schema revision of ${describe(target)} (${whyNot(r, answer)})`,
      };
    }),
  );
}

function unknownLine(p: { target: MigrationTarget; mlflow: string }, revision: string): string {
  return `${describe(p.target)} has schema revision ${revision}, which ${p.mlflow} does not know (a newer MLflow's?); MLflow does not migrate it, and may fail on it`;
}

export interface UpMigration {
  /** Throws when MLflow would migrate a server database and --migrate was not given; warns what could not be checked. */
  verified(): Promise<void>;
  /** Copies each SQLite database MLflow would migrate (one line each); throws when a copy fails. */
  beforeMlflowStarts(): Promise<void>;
}

/** `up`: starts the probes at once (they run while nginx and the ports are looked at). */
export function startMigrationCheck(
  settings: Settings,
  o: Pick<StackOptions, 'mlflow'> & { migrate?: boolean },
  ctx: Context,
  deps: MigrationDeps = {},
): UpMigration {
  // --upstream: the user's MLflow owns its database; ours starts none.
  const targets = settings.upstream ? [] : migrationTargets(settings);
  const probed: Promise<Probed[]> =
    targets.length === 0
      ? Promise.resolve([])
      : lookupMlflow({
          flag: o.mlflow,
          env: ctx.env,
          cwd: ctx.cwd,
          platform: ctx.platform,
          ...(deps.isExecutable ? { isExecutable: deps.isExecutable } : {}),
        }).then((lookup) => (lookup.found ? probeTargets(targets, lookup.found, ctx, deps) : []));
  // Settles only through verified(); a failed `up` before that must not leave a rejection unheard.
  probed.catch(() => undefined);
  let pending: {
    target: Extract<MigrationTarget, { kind: 'sqlite' }>;
    verdict: Verdict;
    mlflow: string;
    python: CommandSpec;
  }[] = [];
  return {
    async verified() {
      const results = await probed;
      pending = [];
      for (const p of results) {
        if ('notChecked' in p) {
          ctx.out.warn(p.notChecked);
          continue;
        }
        const { target, verdict } = p;
        if (verdict.action === 'unknown') ctx.out.warn(unknownLine(p, verdict.revision));
        if (verdict.action !== 'migrate') continue;
        if (target.kind === 'sqlite') pending.push({ target, verdict, mlflow: p.mlflow, python: p.python });
        else if (!o.migrate) {
          const r = refusal(target, verdict, p.mlflow);
          throw new UserError(r.message, { hint: r.hint });
        } else
          ctx.out.note(
            `${p.mlflow} migrates ${describe(target)} from schema revision ${verdict.revision} to ${verdict.head} (--migrate).`,
          );
      }
    },
    async beforeMlflowStarts() {
      for (const { target, verdict, mlflow, python } of pending) {
        if (verdict.action !== 'migrate') continue;
        const path = await backupSqlite(target, verdict.revision, python, ctx, deps);
        ctx.out.note(backupLine(target, verdict, path, mlflow));
      }
    },
  };
}

/** Copies the database into its backup folder, then removes the copies past the newest BACKUPS_KEPT. */
async function backupSqlite(
  target: Extract<MigrationTarget, { kind: 'sqlite' }>,
  revision: string,
  python: CommandSpec,
  ctx: Context,
  deps: MigrationDeps,
): Promise<string> {
  const { platform } = ctx;
  const folder = backupFolderFor(target.path);
  const failed = (why: string) =>
    new UserError(`could not keep a copy of ${target.path} before MLflow migrates it (${why}); nothing was started`, {
      hint: `Fix that (free space? permissions of ${folder}?), or copy the database yourself while nothing uses it`,
    });
  try {
    await fs.mkdir(folder, { recursive: true, mode: 0o700 });
    const st = await fs.lstat(folder);
    if (!st.isDirectory()) throw new Error(`${folder} is not a folder`);
    // The copies are the database itself: never in the user's git history.
    await fs.writeFile(platform.path.join(folder, '.gitignore'), '*\n', { flag: 'wx' }).catch((e: unknown) => {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    });
  } catch (e) {
    throw failed((e as Error).message);
  }
  const file = platform.path.join(
    folder,
    backupFileName(target.path, revision, (deps.now ?? (() => new Date()))(), platform),
  );
  const r = await runScript(
    python,
    { MLFLOW_SECURE_DB_ACTION: 'backup', MLFLOW_SECURE_DB_PATH: target.path, MLFLOW_SECURE_DB_BACKUP: file },
    ctx,
    BACKUP_TIMEOUT_MS,
    deps.run ?? runOnce,
  );
  const answer = parseAnswer(r.stdout, BackupAnswer);
  if (!answer?.ok) throw failed(whyNot(r, answer));
  const names = await fs.readdir(folder).catch(() => [] as string[]);
  for (const old of backupsToRemove(names, target.path, BACKUPS_KEPT, platform))
    await fs.rm(platform.path.join(folder, old), { force: true }).catch(() => undefined);
  return file;
}

/** A `doctor` finding (doctor.ts prints them). */
export interface MigrationFinding {
  ok: boolean;
  info?: boolean;
  what: string;
  fix?: string;
}

/** `doctor`: the databases `up` would start MLflow on (the default ./mlflow.db, or those given) that it would migrate. */
export async function doctorMigrationFindings(
  o: Pick<StackOptions, 'backendStoreUri' | 'registryStoreUri'>,
  mlflow: CommandSpec | undefined,
  ctx: Context,
  deps: MigrationDeps = {},
): Promise<MigrationFinding[]> {
  if (!mlflow) return [];
  let settings: Settings;
  try {
    settings = resolveSettings({ backendStoreUri: o.backendStoreUri, registryStoreUri: o.registryStoreUri }, ctx);
  } catch (error) {
    // The store findings say what is wrong with the URI.
    if (error instanceof UserError) return [];
    throw error;
  }
  const targets = migrationTargets(settings);
  if (targets.length === 0) return [];
  const findings: MigrationFinding[] = [];
  for (const p of await probeTargets(targets, mlflow, ctx, deps)) {
    if ('notChecked' in p) {
      // A server that cannot be reached is the store check's finding already.
      if (p.target.kind === 'sqlite') findings.push({ ok: false, what: p.notChecked, fix: 'Check the file' });
      continue;
    }
    const { target, verdict } = p;
    if (verdict.action === 'unknown')
      findings.push({
        ok: false,
        what: unknownLine(p, verdict.revision),
        fix: 'Use the MLflow that made it: --mlflow <path>',
      });
    else if (verdict.action === 'migrate') {
      if (target.kind === 'server') {
        const r = refusal(target, verdict, p.mlflow);
        findings.push({ ok: false, what: `a migration is pending: ${r.message}`, fix: r.hint });
      } else
        findings.push({
          ok: true,
          info: true,
          what: `a migration is pending: ${p.mlflow} will migrate ${describe(target)} from schema revision ${verdict.revision} to ${verdict.head}; up keeps a copy first in ${backupFolderFor(target.path)}`,
        });
    }
  }
  return findings;
}

/**
 * `restart`, before it stops the running stack: the same refusal `up` would make for a server
 * database the (perhaps upgraded) MLflow would migrate, so that a refused restart leaves the
 * stack running. Silent otherwise: `up` says everything else.
 */
export async function refuseMigrationBeforeRestart(
  o: StackOptions & { migrate?: boolean },
  ctx: Context,
  deps: MigrationDeps = {},
): Promise<void> {
  if (o.migrate) return;
  let settings: Settings;
  try {
    settings = resolveSettings(o, ctx);
  } catch (error) {
    if (error instanceof UserError) return;
    throw error;
  }
  const targets = migrationTargets(settings).filter((t) => t.kind === 'server');
  if (targets.length === 0) return;
  const lookup = await lookupMlflow({
    flag: o.mlflow,
    env: ctx.env,
    cwd: ctx.cwd,
    platform: ctx.platform,
    ...(deps.isExecutable ? { isExecutable: deps.isExecutable } : {}),
  });
  if (!lookup.found) return;
  for (const p of await probeTargets(targets, lookup.found, ctx, deps)) {
    if ('notChecked' in p || p.target.kind !== 'server' || p.verdict.action !== 'migrate') continue;
    const r = refusal(p.target, p.verdict, p.mlflow);
    throw new UserError(`${r.message}; the running stack was left as it is`, { hint: r.hint });
  }
}
