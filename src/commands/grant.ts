/**
 * `mlflow-secure grant <user> experiment|registered-model <name or id> <permission>`, `revoke`,
 * and `grants [user]`: MLflow's per-resource permissions for a user of the password file, written
 * to the auth database of `up --permissions` with MLflow's own store (users/mlflow-users.ts).
 * In effect at once: the auth app reads its tables on every request.
 */
import type { Context } from '../context.js';
import { ExitCode, UserError } from '../errors.js';
import { checkStateDir } from '../system/folders.js';
import { withStateLock } from '../system/lock.js';
import { parsePermission } from '../stack/permissions.js';
import { readRecord, resolveStatePaths } from '../stack/state.js';
import { maskUriCredentials } from '../stores/secrets.js';
import { toStoreUri } from '../stores/uri.js';
import { readUsers, requireUser } from '../users/password-file.js';
import { validateUserName } from '../users/user-name.js';
import { MlflowUsers, permissionsOn, type Grant } from '../users/mlflow-users.js';

export interface GrantOptions {
  stateDir?: string;
  mlflow?: string;
  backendStoreUri?: string;
  json?: boolean;
}

const KINDS = ['experiment', 'registered-model'] as const;
type Kind = (typeof KINDS)[number];

function parseKind(value: string): Kind {
  if (!(KINDS as readonly string[]).includes(value))
    throw new UserError(`the resource kind must be experiment or registered-model, got '${value}'`, {
      hint: 'e.g. mlflow-secure grant alice experiment my-experiment EDIT',
    });
  return value as Kind;
}

async function open(o: GrantOptions, ctx: Context) {
  const paths = resolveStatePaths(o.stateDir, ctx);
  const auth = (await checkStateDir(paths.stateDir, ctx.platform))
    ? await permissionsOn(paths.stateDir, ctx)
    : undefined;
  if (!auth)
    throw new UserError(`${paths.stateDir} has no MLflow permissions yet (it has not run \`up --permissions\`)`, {
      hint: 'Start the stack with `mlflow-secure up --permissions` once; without it every user is an MLflow admin',
    });
  return { paths, users: await MlflowUsers.open(auth, ctx, o.mlflow) };
}

/**
 * The backend store an experiment name is looked up in: --backend-store-uri, else the running
 * stack's (its record), else up's default (<cwd>/mlflow.db). A URI with a masked password in the
 * record cannot be used: then an id or the flag is needed.
 */
async function trackingStore(
  o: GrantOptions,
  recordFile: string,
  ctx: Context,
): Promise<{ uri: string; shown: string }> {
  const uriCtx = { cwd: ctx.cwd, windows: ctx.platform.isWindows };
  if (o.backendStoreUri !== undefined) {
    const uri = toStoreUri(o.backendStoreUri, 'backend', uriCtx).uri;
    return { uri, shown: maskUriCredentials(uri) };
  }
  const recorded = (await readRecord(recordFile, ctx.platform.name).catch(() => undefined))?.backendStoreUri;
  if (recorded && maskUriCredentials(recorded) === recorded) return { uri: recorded, shown: recorded };
  const uri = toStoreUri(ctx.platform.path.join(ctx.cwd, 'mlflow.db'), 'backend', uriCtx).uri;
  return { uri, shown: uri };
}

export async function grant(
  action: 'grant' | 'revoke',
  args: { user: string; kind: string; resource: string; permission?: string },
  o: GrantOptions,
  ctx: Context,
): Promise<number> {
  const user = validateUserName(args.user);
  const kind = parseKind(args.kind);
  const permission = action === 'grant' ? parsePermission(args.permission ?? '', 'the permission') : undefined;
  if (action === 'grant' && args.permission === undefined)
    throw new UserError('`grant` needs a permission: READ, EDIT, MANAGE or NO_PERMISSIONS');
  const { paths, users } = await open(o, ctx);
  const tracking = await trackingStore(o, paths.record, ctx);
  // Under the state lock, so that `user remove` cannot take the user away in between.
  const done = await withStateLock(paths.stateDir, async () => {
    requireUser((await readUsers(paths.htpasswd)) ?? [], user, paths.htpasswd);
    return users.grant(action, { user, kind, resource: args.resource, permission }, tracking);
  });
  const what = `${kind} ${JSON.stringify(args.resource)}${done.resource !== args.resource ? ` (id ${done.resource})` : ''}`;
  if (action === 'grant') ctx.out.info(`${user} has ${permission} on ${what} (in effect now).`);
  else if (done.existed)
    ctx.out.info(`Revoked ${user}'s permission on ${what}: the default permission applies (in effect now).`);
  else ctx.out.info(`${user} had no permission of its own on ${what}: nothing to revoke.`);
  return ExitCode.ok;
}

export async function grants(user: string | undefined, o: GrantOptions, ctx: Context): Promise<number> {
  if (user !== undefined) validateUserName(user);
  const { users } = await open(o, ctx);
  const rows: Grant[] = await users.grants(user);
  if (o.json) ctx.out.json(rows);
  else if (rows.length === 0)
    ctx.out.info(`No grants${user ? ` for ${user}` : ''}: the default permission applies to everyone.`);
  else for (const g of rows) ctx.out.info(`${g.user}  ${g.kind} ${g.resource}  ${g.permission}`);
  return ExitCode.ok;
}
