/**
 * `mlflow-secure user add|remove|list|passwd <name>`: edit the password file atomically.
 * nginx re-reads it on every request, so changes take effect without a restart.
 */
import type { Context } from '../context.js';
import { ExitCode, UserError } from '../errors.js';
import { ensureWritableDirs } from '../files.js';
import { bcryptCostOf, generatePassword, hashPassword, removeEntry, schemeOf, upsertEntry, validatePassword, validateUserName } from '../plan/htpasswd.js';
import { statePaths } from '../plan/plan.js';
import { parseBcryptCost, parseHashScheme, resolveStateDir } from '../plan/settings.js';
import { obtainPassword } from '../password.js';
import { forgetGeneratedPassword, readUsers, requireUser, writeUsers } from '../users.js';

export interface UserOptions {
  stateDir?: string;
  hash?: string;
  bcryptCost?: string;
  passwordStdin?: boolean;
  json?: boolean;
}

export async function user(action: string, name: string | undefined, o: UserOptions, ctx: Context): Promise<number> {
  const { out, platform } = ctx;
  const paths = statePaths(resolveStateDir(o.stateDir, ctx.cwd, platform), platform);
  const entries = (await readUsers(paths.htpasswd)) ?? [];

  if (action === 'list') {
    const rows = entries.map((e) => ({ user: e.user, scheme: schemeOf(e.hash), cost: bcryptCostOf(e.hash) }));
    if (o.json) out.info(JSON.stringify(rows, null, 2));
    else if (rows.length === 0) out.info(`No users yet in ${paths.htpasswd}: \`mlflow-secure up\` or \`mlflow-secure user add <name>\` creates one.`);
    else for (const r of rows) out.info(`${r.user}  (${r.scheme}${r.cost ? `, cost ${r.cost}` : ''})`);
    return ExitCode.ok;
  }
  if (!['add', 'remove', 'passwd'].includes(action)) throw new UserError(`unknown user action '${action}'`, 'Use add, remove, list or passwd');
  if (name === undefined) throw new UserError(`\`user ${action}\` needs a user name`, `e.g. mlflow-secure user ${action} alice`);
  validateUserName(name);
  const exists = entries.some((e) => e.user === name);

  if (action === 'remove') {
    requireUser(entries, name, paths.htpasswd);
    if (entries.length === 1) throw new UserError(`'${name}' is the only user; removing it would lock everyone out`, 'Add another user first');
    await writeUsers(paths.htpasswd, removeEntry(entries, name));
    await forgetGeneratedPassword(paths.generatedPassword, name);
    out.info(`Removed user '${name}' (in effect now; no restart needed).`);
    return ExitCode.ok;
  }
  if (action === 'add' && exists) throw new UserError(`user '${name}' already exists`, `Change its password with \`mlflow-secure user passwd ${name}\``);
  if (action === 'passwd') requireUser(entries, name, paths.htpasswd);

  const scheme = parseHashScheme(o.hash, platform);
  const cost = parseBcryptCost(o.bcryptCost);
  const given = await obtainPassword({ env: ctx.env, passwordStdin: o.passwordStdin === true, stdin: ctx.stdin, stderr: ctx.stderr, prompt: true, user: name });
  const password = given ? validatePassword(given.password, scheme) : generatePassword();
  out.addSecret(password);
  await ensureWritableDirs([paths.stateDir], 'state');
  await writeUsers(paths.htpasswd, upsertEntry(entries, { user: name, hash: hashPassword(password, scheme, cost) }));
  await forgetGeneratedPassword(paths.generatedPassword, name);
  out.info(`${action === 'add' ? 'Added' : 'Changed the password of'} user '${name}' (${scheme}; in effect now, no restart needed).`);
  if (!given) out.printSecretOnce(`Generated password for ${name}: ${password}   (shown once)`);
  return ExitCode.ok;
}
