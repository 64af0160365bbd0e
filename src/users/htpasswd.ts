/**
 * The nginx password file: user names, password rules, hash lines. Pure except for the
 * randomness of salts.
 *
 * Schemes: bcrypt (`$2b$`, bcryptjs), verified by nginx through the C library's crypt() on
 * Linux; `$apr1$` (Apache MD5), which nginx verifies itself on every OS, Windows included.
 */
import { randomBytes, randomInt } from 'node:crypto';
import bcrypt from 'bcryptjs';
import apacheMd5 from 'apache-md5';
import { UserError } from '../errors.js';
import type { HashScheme } from '../system/platform.js';

/**
 * Default bcrypt cost. nginx re-verifies the hash on every request inside its single-threaded
 * worker, and the MLflow UI makes dozens of requests per page, so the cost bounds throughput:
 * chosen by measurement with `npm run bench` (see README, "Password hashes").
 */
export const DEFAULT_BCRYPT_COST = 5;
export const MIN_BCRYPT_COST = 4;
export const MAX_BCRYPT_COST = 14;

export interface HtpasswdEntry {
  user: string;
  hash: string;
}

// The user-name rule lives apart from bcryptjs: the state record's check needs it, and `down` and
// `status` must not load a hashing library.
export { USER_NAME, validateUserName } from './user-name.js';

/** Rules every password must meet; the message never repeats the password. */
export function validatePassword(password: string, scheme: HashScheme): string {
  if (password.length < 8) throw new UserError('the password is too short', { hint: 'Use at least 8 characters' });
  if (/[\r\n\0]/.test(password))
    throw new UserError('the password contains a line break or NUL character', { hint: 'Use a single line' });
  // Blanks pass the length rule, yet a run of spaces is among the first guesses.
  if (password.trim() === '')
    throw new UserError('the password is only blanks (spaces, tabs)', { hint: 'Use letters, digits or symbols too' });
  if (scheme === 'bcrypt' && Buffer.byteLength(password, 'utf8') > 72) {
    throw new UserError('the password is longer than 72 bytes, which bcrypt silently truncates', {
      hint: 'Use a shorter password or --hash apr1',
    });
  }
  return password;
}

const APR1_SALT_CHARS = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

export function hashPassword(password: string, scheme: HashScheme, cost = DEFAULT_BCRYPT_COST): string {
  if (scheme === 'bcrypt') return bcrypt.hashSync(password, bcrypt.genSaltSync(cost));
  // apache-md5 draws its own salt from Math.random; give it one from the CSPRNG instead.
  let salt = '';
  for (let i = 0; i < 8; i++) salt += APR1_SALT_CHARS[randomInt(APR1_SALT_CHARS.length)];
  return apacheMd5(password, `$apr1$${salt}$`);
}

export function verifyPassword(password: string, hash: string): boolean {
  const scheme = schemeOf(hash);
  if (scheme === 'bcrypt') {
    // Each cost step doubles the work: cost 31 takes days, here and in nginx on every request.
    const cost = bcryptCostOf(hash) ?? 0;
    if (cost > MAX_BCRYPT_COST) {
      throw new UserError(
        `a bcrypt hash in the password file has cost ${cost}, above ${MAX_BCRYPT_COST}: checking it would take ${cost >= 20 ? 'hours or days' : 'minutes'}, and nginx pays that on every request`,
        { hint: 'Reset that user: mlflow-secure user passwd <name>' },
      );
    }
    return bcrypt.compareSync(password, hash);
  }
  if (scheme === 'apr1') return apacheMd5(password, hash) === hash;
  return false;
}

export function schemeOf(hash: string): HashScheme | 'other' {
  if (/^\$2[aby]\$\d\d\$/.test(hash)) return 'bcrypt';
  if (hash.startsWith('$apr1$')) return 'apr1';
  return 'other';
}

export function bcryptCostOf(hash: string): number | undefined {
  const m = /^\$2[aby]\$(\d\d)\$/.exec(hash);
  return m ? Number(m[1]) : undefined;
}

/** Parses `user:hash` lines; blank lines and `#` comments are dropped. */
export function parseHtpasswd(text: string): HtpasswdEntry[] {
  const entries: HtpasswdEntry[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    entries.push({ user: line.slice(0, colon), hash: line.slice(colon + 1) });
  }
  return entries;
}

export function renderHtpasswd(entries: readonly HtpasswdEntry[]): string {
  return entries.map((e) => `${e.user}:${e.hash}\n`).join('');
}

/** Adds or replaces one user, keeping the others in their order. */
export function upsertEntry(entries: readonly HtpasswdEntry[], entry: HtpasswdEntry): HtpasswdEntry[] {
  const i = entries.findIndex((e) => e.user === entry.user);
  if (i === -1) return [...entries, entry];
  return entries.map((e, j) => (j === i ? entry : e));
}

export function removeEntry(entries: readonly HtpasswdEntry[], user: string): HtpasswdEntry[] {
  return entries.filter((e) => e.user !== user);
}

/** A strong password for people: 24 characters of base64url (144 bits). */
export function generatePassword(): string {
  return randomBytes(18).toString('base64url');
}
