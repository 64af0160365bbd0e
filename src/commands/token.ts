/**
 * `mlflow-secure token create|list|revoke`: tokens for scripts and CI, after `up --permissions`.
 * A token is shown once, when created (alone on stdout, so `TOKEN=$(mlflow-secure token create ci)`
 * works), and kept only as its SHA-256 in the state folder (users/tokens.ts says why that hash).
 * MLflow's authorization function re-reads the file when it changes: a revoke counts at once.
 */
import { randomBytes } from 'node:crypto';
import type { Context } from '../context.js';
import { ExitCode, UserError } from '../errors.js';
import { checkStateDir } from '../system/folders.js';
import { withStateLock } from '../system/lock.js';
import { resolveStatePaths } from '../stack/state.js';
import { readUsers, requireUser } from '../users/password-file.js';
import { permissionsOn } from '../users/mlflow-users.js';
import { validateUserName } from '../users/user-name.js';
import { readTokens, tokensPath, writeTokens } from '../users/token-file.js';
import {
  DEFAULT_EXPIRES,
  hashToken,
  isExpired,
  parseExpires,
  tokenFromBytes,
  TOKEN_BYTES,
  validateTokenName,
  type TokenRecord,
} from '../users/tokens.js';

export type TokenAction = 'create' | 'list' | 'revoke';

export interface TokenOptions {
  stateDir?: string;
  user?: string;
  expires?: string;
  readOnly?: boolean;
  json?: boolean;
}

export async function token(
  action: TokenAction,
  name: string | undefined,
  o: TokenOptions,
  ctx: Context,
): Promise<number> {
  const paths = resolveStatePaths(o.stateDir, ctx);
  const file = tokensPath(paths.stateDir, ctx.platform);
  const exists = await checkStateDir(paths.stateDir, ctx.platform);
  if (action !== 'create' && (o.user !== undefined || o.expires !== undefined || o.readOnly))
    throw new UserError('--user, --expires and --read-only go with `token create`', {
      hint: 'e.g. mlflow-secure token create ci --user alice --expires 30d',
    });
  if (action === 'list') return list(exists ? await readTokens(file) : [], o, ctx);
  if (name === undefined)
    throw new UserError(`\`token ${action}\` needs a token name`, { hint: `e.g. mlflow-secure token ${action} ci` });
  validateTokenName(name);
  if (action === 'revoke') {
    const gone = exists
      ? await withStateLock(paths.stateDir, async () => {
          const tokens = await readTokens(file);
          const kept = tokens.filter((t) => t.name !== name);
          if (kept.length !== tokens.length) await writeTokens(file, kept);
          return kept.length !== tokens.length;
        })
      : false;
    if (!gone)
      throw new UserError(`no token '${name}' in ${file}`, { hint: 'List tokens with `mlflow-secure token list`' });
    ctx.out.info(`Revoked token '${name}' (refused from now on; no restart needed).`);
    return ExitCode.ok;
  }

  // The authorization function that checks tokens runs only in MLflow's auth app.
  if (!exists || !(await permissionsOn(paths.stateDir, ctx)))
    throw new UserError(`tokens need \`up --permissions\`: ${paths.stateDir} has not run it`, {
      hint: 'Start the stack with `mlflow-secure up --permissions` once, then create the token',
    });
  if (o.user !== undefined) validateUserName(o.user, '--user');
  const now = new Date();
  const expires = parseExpires(o.expires ?? DEFAULT_EXPIRES, now);
  const secret = tokenFromBytes(randomBytes(TOKEN_BYTES));
  ctx.out.addSecret(secret);
  const record = await withStateLock(paths.stateDir, async () => {
    const users = (await readUsers(paths.htpasswd)) ?? [];
    const user = o.user ?? onlyUser(users.map((u) => u.user));
    requireUser(users, user, paths.htpasswd);
    const tokens = await readTokens(file);
    if (tokens.some((t) => t.name === name))
      throw new UserError(`a token '${name}' already exists`, {
        hint: `Choose another name, or revoke it first: mlflow-secure token revoke ${name}`,
      });
    const created: TokenRecord = {
      name,
      user,
      sha256: hashToken(secret),
      created: now.toISOString(),
      expires: expires === null ? null : expires.toISOString(),
      readOnly: o.readOnly === true,
    };
    await writeTokens(file, [...tokens, created]);
    return created;
  });
  // stdout gets the token alone; what it is goes to a terminal only (a script captures stdout).
  if (ctx.stderr.isTTY)
    ctx.out.note(
      `Token '${name}' for ${record.user}${record.readOnly ? ' (read-only)' : ''}, ${record.expires ? `expires ${record.expires}` : 'never expires'}. Shown once: use it as MLFLOW_TRACKING_TOKEN, with MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD unset.`,
    );
  ctx.out.printSecretOnce(secret);
  return ExitCode.ok;
}

/** Without --user: the one user there is; with several, the choice is the user's. */
function onlyUser(users: readonly string[]): string {
  if (users.length === 1 && users[0] !== undefined) return users[0];
  throw new UserError(
    users.length === 0 ? 'there are no users to give a token to' : `--user is needed: there are ${users.length} users`,
    { hint: 'e.g. mlflow-secure token create ci --user alice' },
  );
}

function list(tokens: readonly TokenRecord[], o: TokenOptions, ctx: Context): number {
  const now = new Date();
  const rows = tokens.map((t) => ({
    name: t.name,
    user: t.user,
    created: t.created,
    expires: t.expires,
    readOnly: t.readOnly,
    expired: isExpired(t, now),
  }));
  if (o.json) ctx.out.json(rows);
  else if (rows.length === 0) ctx.out.info('No tokens: `mlflow-secure token create <name>` makes one.');
  else
    for (const r of rows)
      ctx.out.info(
        `${r.name}  ${r.user}  created ${r.created}  ${r.expires === null ? 'never expires' : `${r.expired ? 'expired' : 'expires'} ${r.expires}`}${r.readOnly ? '  read-only' : ''}`,
      );
  return ExitCode.ok;
}
