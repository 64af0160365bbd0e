/**
 * The users `up` lets in: its own user (added when missing, never reset) and, when that user's
 * password is not known here, a temporary probe user that proves auth and is removed after.
 */
import { randomBytes } from 'node:crypto';
import type { Context } from '../../context.js';
import { UserError } from '../../errors.js';
import type { Credential } from '../health.js';
import { withStateLock } from '../../system/lock.js';
import {
  generatePassword,
  hashPassword,
  removeEntry,
  schemeOf,
  upsertEntry,
  validatePassword,
  verifyPassword,
  type HtpasswdEntry,
} from '../../users/htpasswd.js';
import { knownPassword, readUsers, writeUsers } from '../../users/password-file.js';
import type { Settings } from '../settings.js';
import type { StatePaths } from '../state.js';

export interface Users {
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
export async function prepareUsers(
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

export async function removeTemporaryUser(paths: StatePaths, probe: Credential): Promise<void> {
  await withStateLock(paths.stateDir, async () => {
    const entries = await readUsers(paths.htpasswd);
    if (entries?.some((e) => e.user === probe.user)) await writeUsers(paths.htpasswd, removeEntry(entries, probe.user));
  });
}
