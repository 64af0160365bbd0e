/**
 * `mlflow-secure user add|remove|list|passwd <name>`: edit the password file atomically.
 * nginx re-reads it on every request, so changes take effect without a restart. Changes run one
 * at a time under the state folder's lock: two at once would each write back what they read.
 */
import type { Context } from '../context.js';
import { ExitCode, UserError } from '../errors.js';
import { checkStateDir, ensureStateDir } from '../system/folders.js';
import { stateDirGitWarnings } from '../stack/git-ignore.js';
import { withStateLock } from '../system/lock.js';
import {
  bcryptCostOf,
  generatePassword,
  hashPassword,
  removeEntry,
  schemeOf,
  upsertEntry,
  validatePassword,
  validateUserName,
  type HtpasswdEntry,
  USER_NAME,
} from '../users/htpasswd.js';
import { parseBcryptCost, parseHashScheme } from '../stack/settings.js';
import { obtainPassword } from '../users/password.js';
import { resolveStatePaths } from '../stack/state.js';
import { forgetGeneratedPassword, readUsers, requireUser, writeUsers } from '../users/password-file.js';
import { permissionsOn, type MlflowUsers } from '../users/mlflow-users.js';
import { dropUserTokens, tokensPath } from '../users/token-file.js';

/**
 * There are no permissions behind the password (yet): whoever signs in is what MLflow calls an
 * admin, whatever the UI's `users/current` says (nginx/current-user.ts).
 */
const ADMIN_NOTE = (name: string) =>
  `Every signed-in user is a full MLflow administrator: ${name} can create experiments with any artifact_location, change or delete every experiment, run and model, and store gateway keys (mlflow-secure has no per-user permissions yet).`;

export interface UserOptions {
  stateDir?: string;
  hash?: string;
  bcryptCost?: string;
  passwordStdin?: boolean;
  json?: boolean;
  /** add: an MLflow admin (the state folder has had `up --permissions`). */
  admin?: boolean;
  mlflow?: string;
}

/** With `up --permissions` behind the state folder: MLflow's user table, kept in step. */
async function mlflowUsersOf(stateDir: string, o: UserOptions, ctx: Context): Promise<MlflowUsers | undefined> {
  const auth = await permissionsOn(stateDir, ctx);
  if (!auth) return undefined;
  const { MlflowUsers } = await import('../users/mlflow-users.js');
  return MlflowUsers.open(auth, ctx, o.mlflow);
}

/** commander checks the action is one of these. */
export type UserAction = 'add' | 'remove' | 'list' | 'passwd';

export async function user(
  action: UserAction,
  name: string | undefined,
  o: UserOptions,
  ctx: Context,
): Promise<number> {
  const { out, platform } = ctx;
  const paths = resolveStatePaths(o.stateDir, ctx);
  const readEntries = async () =>
    (await checkStateDir(paths.stateDir, platform)) ? ((await readUsers(paths.htpasswd)) ?? []) : [];

  if (action === 'list') {
    const entries = await readEntries();
    // The password file is the list; who is an MLflow admin is added when MLflow can be asked.
    const inMlflow = await (entries.length > 0 ? mlflowUsersOf(paths.stateDir, o, ctx) : undefined)
      ?.then(async (users) => (users ? await users.list() : undefined))
      .catch((error: Error) => {
        out.warn(`not showing who is an MLflow admin: ${error.message}`);
        return undefined;
      });
    const admins = new Set(inMlflow?.filter((u) => u.is_admin).map((u) => u.username));
    const rows = entries.map((e) => ({
      user: e.user,
      scheme: schemeOf(e.hash),
      cost: bcryptCostOf(e.hash),
      ...(inMlflow ? { admin: admins.has(e.user) } : {}),
    }));
    if (o.json) out.json(rows);
    else if (rows.length === 0)
      out.info(
        `No users yet in ${paths.htpasswd}: \`mlflow-secure up\` or \`mlflow-secure user add <name>\` creates one.`,
      );
    // A name mlflow-secure would not accept (written by someone else) is shown escaped, never as raw terminal bytes.
    else
      for (const r of rows)
        out.info(
          `${USER_NAME.test(r.user) ? r.user : JSON.stringify(r.user)}  (${r.scheme}${r.cost ? `, cost ${r.cost}` : ''})${r.admin ? '  MLflow admin' : ''}`,
        );
    return ExitCode.ok;
  }
  if (name === undefined)
    throw new UserError(`\`user ${action}\` needs a user name`, { hint: `e.g. mlflow-secure user ${action} alice` });
  validateUserName(name);
  // Checked here, before asking for a password, and again under the lock: another command may
  // have changed the file in between.
  checkChange(action, name, await readEntries(), paths.htpasswd);
  // Found before asking for a password: a missing MLflow fails here, with nothing changed.
  const inMlflow = action === 'passwd' ? undefined : await mlflowUsersOf(paths.stateDir, o, ctx);
  if (o.admin && (action !== 'add' || !inMlflow))
    throw new UserError(
      action !== 'add'
        ? '--admin goes with `user add`'
        : `--admin needs MLflow's permissions: ${paths.stateDir} has not run \`up --permissions\``,
      {
        hint:
          action !== 'add'
            ? `mlflow-secure user add <name> --admin`
            : 'Start the stack with `mlflow-secure up --permissions` once, then add the admin',
      },
    );

  if (action === 'remove') {
    await withStateLock(paths.stateDir, async () => {
      const entries = (await readUsers(paths.htpasswd)) ?? [];
      checkChange(action, name, entries, paths.htpasswd);
      // The generated password first: if that file is unusable, nothing has changed yet.
      await forgetGeneratedPassword(paths.generatedPassword, name);
      await writeUsers(paths.htpasswd, removeEntry(entries, name));
      // The password file first: nginx refuses the name at once. MLflow's row (and its grants)
      // after: if that fails, the password file is put back, so neither has changed.
      if (inMlflow)
        await inMlflow.remove(name).catch(async (error: unknown) => {
          await writeUsers(paths.htpasswd, entries);
          throw error;
        });
      // Its tokens last: they already stop with the name (the authorization function checks the
      // password file); this keeps a user added again under the name from getting them back.
      await dropUserTokens(tokensPath(paths.stateDir, platform), name).catch((error: Error) =>
        out.warn(`could not remove ${name}'s tokens: ${error.message}`),
      );
    });
    out.info(`Removed user '${name}' (in effect now; no restart needed).`);
    return ExitCode.ok;
  }

  const scheme = parseHashScheme(o.hash, platform);
  const cost = parseBcryptCost(o.bcryptCost);
  const given = await obtainPassword({
    env: ctx.env,
    passwordStdin: o.passwordStdin === true,
    stdin: ctx.stdin,
    stderr: ctx.stderr,
    prompt: true,
    user: name,
  });
  const password = given ? validatePassword(given.password, scheme) : generatePassword();
  out.addSecret(password);
  // Hashed before taking the lock: a high bcrypt cost takes seconds, and others wait for the lock.
  const hash = hashPassword(password, scheme, cost);
  await ensureStateDir(paths.stateDir, [], platform, { warn: (line) => out.warn(line), env: ctx.env });
  await withStateLock(paths.stateDir, async () => {
    const entries = (await readUsers(paths.htpasswd)) ?? [];
    checkChange(action, name, entries, paths.htpasswd);
    // MLflow's row first (the slow part, the likelier to fail), then the password file; a failure
    // of that write undoes the row.
    const undo = action === 'add' && inMlflow ? await inMlflow.add(name, o.admin === true) : undefined;
    try {
      await forgetGeneratedPassword(paths.generatedPassword, name);
      await writeUsers(paths.htpasswd, upsertEntry(entries, { user: name, hash }));
    } catch (error) {
      await undo?.();
      throw error;
    }
  });
  out.info(
    `${action === 'add' ? 'Added' : 'Changed the password of'} user '${name}' (${scheme}; in effect now, no restart needed).`,
  );
  if (action === 'add')
    out.info(
      inMlflow
        ? `MLflow's permissions apply to ${name}${o.admin ? ' as an MLflow admin' : ': the default permission, and what `mlflow-secure grant` gives'}.`
        : ADMIN_NOTE(name),
    );
  if (!given) out.printSecretOnce(`Generated password for ${name}: ${password}   (shown once)`);
  for (const w of await stateDirGitWarnings(paths.stateDir, ctx)) out.warn(w);
  return ExitCode.ok;
}

/** Whether `action` may change `name` in `entries`; throws the reason when not. */
function checkChange(action: string, name: string, entries: readonly HtpasswdEntry[], file: string): void {
  if (action === 'add') {
    if (entries.some((e) => e.user === name))
      throw new UserError(`user '${name}' already exists`, {
        hint: `Change its password with \`mlflow-secure user passwd ${name}\``,
      });
    return;
  }
  requireUser(entries, name, file);
  if (action === 'remove' && entries.length === 1)
    throw new UserError(`'${name}' is the only user; removing it would lock everyone out`, {
      hint: 'Add another user first',
    });
}
