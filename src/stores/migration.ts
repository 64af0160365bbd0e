/**
 * MLflow migrates its database to its own schema when it starts (SQLite and server databases
 * alike; 3.17.2 upgraded a database three alembic revisions old in place), and an older MLflow
 * cannot open it afterwards. Here: which databases a start would touch, what the probe in
 * MLflow's Python answered, what `up` does about it (a copy of a SQLite file; for a server,
 * the dump command and a refusal without --migrate), and which old copies go. Pure.
 */
import { z } from 'zod';
import type { Platform } from '../system/platform.js';
import { MASK, maskUriCredentials } from './secrets.js';
import type { Settings } from '../stack/settings.js';
import { quoteBash } from '../credentials/shell.js';

/** How many copies `up` keeps per database (the newest). */
export const BACKUPS_KEPT = 3;

export type MigrationTarget =
  | { kind: 'sqlite'; role: string; flag: string; path: string; uri: string }
  | { kind: 'server'; role: string; flag: string; uri: string };

const SERVER_SCHEMES = /^(postgresql|postgres|mysql|mariadb|mssql)(\+[a-z0-9_]+)?:\/\//i;

/** The databases MLflow would migrate for these settings: the backend's, and the registry's when it is another. */
export function migrationTargets(settings: Pick<Settings, 'backend' | 'registry'>): MigrationTarget[] {
  const { backend, registry } = settings;
  const same = backend.uri === registry.uri;
  const stores = [
    { store: backend, role: same ? 'backend and registry store' : 'backend store', flag: '--backend-store-uri' },
    ...(same ? [] : [{ store: registry, role: 'registry store', flag: '--registry-store-uri' }]),
  ];
  const targets: MigrationTarget[] = [];
  for (const { store, role, flag } of stores) {
    if (store.localKind === 'sqlite' && store.localPath)
      targets.push({ kind: 'sqlite', role, flag, path: store.localPath, uri: store.uri });
    else if (SERVER_SCHEMES.test(store.uri)) targets.push({ kind: 'server', role, flag, uri: store.uri });
  }
  return targets;
}

/** A schema revision as alembic writes it; anything else from a database is not shown or used. */
const Revision = z.string().regex(/^[A-Za-z0-9_]{1,64}$/);

const Failure = z.object({
  ok: z.literal(false),
  kind: z.string().max(40),
  type: z.string().max(200).optional(),
  message: z.string().max(4000).optional(),
  module: z.string().max(200).optional(),
});

export const ProbeAnswer = z.union([
  z.object({
    ok: z.literal(true),
    revision: Revision.nullable(),
    head: Revision.nullable(),
    known: z.boolean(),
    version: z.string().max(64).optional(),
  }),
  Failure,
]);
export type ProbeAnswer = z.infer<typeof ProbeAnswer>;

export const BackupAnswer = z.union([
  z.object({
    ok: z.literal(true),
    path: z.string().min(1).max(4096),
    bytes: z.number().int().nonnegative(),
    revision: Revision.nullable(),
  }),
  Failure,
]);
export type BackupAnswer = z.infer<typeof BackupAnswer>;

/** The script's last line, parsed and validated; undefined when it printed no valid answer. */
export function parseAnswer<T>(stdout: string, schema: z.ZodType<T>): T | undefined {
  const line = stdout.trim().split(/\r?\n/).at(-1) ?? '';
  try {
    const r = schema.safeParse(JSON.parse(line));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

export type Verdict =
  /** New or empty (MLflow creates its tables) or already at MLflow's head: nothing to do. */
  | { action: 'none' }
  /** MLflow will migrate it from `revision` to `head`. */
  | { action: 'migrate'; revision: string; head: string }
  /** A revision MLflow does not know (a newer MLflow's?): MLflow will not migrate it. */
  | { action: 'unknown'; revision: string; head: string | undefined };

export function verdictOf(answer: Extract<ProbeAnswer, { ok: true }>): Verdict {
  const { revision, head } = answer;
  if (revision === null || revision === head) return { action: 'none' };
  if (!answer.known || head === null) return { action: 'unknown', revision, head: head ?? undefined };
  return { action: 'migrate', revision, head };
}

/** `mlflow.db` -> the folder beside it that holds its copies. */
export function backupFolderFor(dbPath: string): string {
  return `${dbPath}.backups`;
}

/** `mlflow.db`, revision, time -> `mlflow-<UTC time>-<revision>.db`: names sort by age. */
export function backupFileName(dbPath: string, revision: string, at: Date, platform: Pick<Platform, 'path'>): string {
  const base = platform.path.basename(dbPath);
  const ext = platform.path.extname(base);
  const stem = ext ? base.slice(0, -ext.length) : base;
  const stamp = at.toISOString().replace(/[-:]/g, '').replace('.', '-');
  return `${stem}-${stamp}-${revision}${ext || '.db'}`;
}

/** Names in the backup folder that `up` wrote for this database and that are past the newest `keep`. */
export function backupsToRemove(
  names: readonly string[],
  dbPath: string,
  keep: number,
  platform: Pick<Platform, 'path'>,
): string[] {
  const base = platform.path.basename(dbPath);
  const ext = platform.path.extname(base);
  const stem = ext ? base.slice(0, -ext.length) : base;
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const ours = new RegExp(`^${escape(stem)}-\\d{8}T\\d{6}-\\d{3}Z-[A-Za-z0-9_]{1,64}${escape(ext || '.db')}$`);
  return names
    .filter((n) => ours.test(n))
    .sort()
    .reverse()
    .slice(keep);
}

/** A URI without its password, its `+driver`, for a dump tool to take. */
function uriForTools(uri: string): string {
  const masked = maskUriCredentials(uri);
  return masked
    .replace(/^([a-z]+)\+[a-z0-9_]+:/i, '$1:')
    .replace(/^postgres:/i, 'postgresql:')
    .replace(`:${MASK}@`, '@')
    .replace(
      new RegExp(`([?&])(?:password|passwd|pwd)=${MASK.replace(/\*/g, '\\*')}(&|$)`, 'i'),
      (_m, a: string, b: string) => (b ? a : ''),
    );
}

/**
 * The command that dumps the server database, to run before MLflow migrates it; without its
 * password (pg_dump and mysqldump ask for it, or read ~/.pgpass, PGPASSWORD, ~/.my.cnf).
 */
export function dumpCommand(uri: string, revision: string): string | undefined {
  const tool = uriForTools(uri);
  const quote = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : quoteBash(s));
  if (/^postgresql:/i.test(tool))
    return `pg_dump --format=custom --file=${quote(`mlflow-${revision}.dump`)} ${quote(tool)}`;
  const m = /^(mysql|mariadb):\/\/(?:([^:@/]*)(?::[^@]*)?@)?([^/:?#]*)(?::(\d+))?(?:\/([^?#]*))?/i.exec(tool);
  if (m) {
    const decode = (s: string) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    };
    const [, , user, host, port, database] = m;
    return [
      'mysqldump',
      '--single-transaction',
      '--routines',
      ...(host ? [`--host=${quote(decode(host))}`] : []),
      ...(port ? [`--port=${port}`] : []),
      ...(user ? [`--user=${quote(decode(user))}`] : []),
      '--password',
      `--result-file=${quote(`mlflow-${revision}.sql`)}`,
      quote(decode(database ?? '')),
    ].join(' ');
  }
  return undefined;
}

/** Why `up` stops before MLflow migrates a server database, and what to do: one line each. */
export function refusal(
  target: Extract<MigrationTarget, { kind: 'server' }>,
  verdict: Extract<Verdict, { action: 'migrate' }>,
  mlflow: string,
): { message: string; hint: string } {
  const dump = dumpCommand(target.uri, verdict.revision);
  return {
    message: `${mlflow} would migrate the ${target.role} ${maskUriCredentials(target.uri)} from schema revision ${verdict.revision} to ${verdict.head}, and an older MLflow cannot use it after that`,
    hint: `Back it up first${dump ? ` (${dump})` : " with your database server's tools"}, then run again with --migrate`,
  };
}

/** The one line `up` prints once the copy is made. */
export function backupLine(
  target: Extract<MigrationTarget, { kind: 'sqlite' }>,
  verdict: Extract<Verdict, { action: 'migrate' }>,
  backupPath: string,
  mlflow: string,
): string {
  return `Before ${mlflow} migrates ${target.path} (schema ${verdict.revision} -> ${verdict.head}), a copy was kept: ${backupPath} (the last ${BACKUPS_KEPT} are kept).`;
}

/** `MLflow 3.17.2`, or `MLflow` when the probe could not tell. */
export function mlflowName(version: string | undefined): string {
  return version && /^[\w.+-]{1,64}$/.test(version) ? `MLflow ${version}` : 'MLflow';
}
