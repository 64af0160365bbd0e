/**
 * Tokens for scripts and CI (`mlflow-secure token`), after `up --permissions`. Pure: the token's
 * form, its hash, --expires, and the token file (`tokens.json` in the state folder) as text.
 *
 * A token is `mlfs_` and 32 random bytes in base64url (43 characters). Only its SHA-256 is kept:
 * 256 random bits leave no dictionary to try, so a slow password hash (bcrypt, PBKDF2) would add
 * nothing but its cost, on every request. python/mlflow_secure_auth.py checks it (nginx cannot):
 * it reads the same file, so a change here counts at the next request.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { UserError } from '../errors.js';
import { USER_NAME } from './user-name.js';

export const TOKEN_PREFIX = 'mlfs_';
export const TOKEN_BYTES = 32;
/** What nginx lets past auth_basic on the API paths (nginx/token-maps.ts) and the function accepts. */
export const TOKEN_PATTERN = /^mlfs_[A-Za-z0-9_-]{43}$/;
export const TOKEN_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const TOKENS_FILE = 'tokens.json';
export const TOKEN_FILE_VERSION = 1;
/** A token lives this long unless --expires says otherwise: a forgotten CI secret stops by itself. */
export const DEFAULT_EXPIRES = '90d';

export interface TokenRecord {
  name: string;
  user: string;
  /** SHA-256 of the whole token, lower-case hex. */
  sha256: string;
  /** ISO 8601, UTC. */
  created: string;
  /** ISO 8601, UTC; null: never. */
  expires: string | null;
  readOnly: boolean;
}

export function tokenFromBytes(bytes: Uint8Array): string {
  if (bytes.length < TOKEN_BYTES) throw new Error(`a token needs ${TOKEN_BYTES} random bytes`);
  return `${TOKEN_PREFIX}${Buffer.from(bytes.subarray(0, TOKEN_BYTES)).toString('base64url')}`;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export function validateTokenName(name: string): string {
  if (!TOKEN_NAME.test(name))
    throw new UserError(`bad token name ${JSON.stringify(name)}`, {
      hint: 'Use 1-64 letters, digits or . _ -, starting with a letter or digit (e.g. ci)',
    });
  return name;
}

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const MAX_EXPIRES_MS = 3650 * UNIT_MS.d;

/** `30m`, `12h`, `30d`, `45s` or `never` -> the expiry (null: never), from `now`. */
export function parseExpires(value: string, now: Date): Date | null {
  if (value === 'never') return null;
  const m = /^([1-9]\d{0,6})([smhd])$/.exec(value);
  const ms = m ? Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS] : NaN;
  if (!(ms <= MAX_EXPIRES_MS))
    throw new UserError(`--expires must be a count and a unit (s, m, h, d) up to 3650d, or never; got '${value}'`, {
      hint: `e.g. --expires 30d (default ${DEFAULT_EXPIRES})`,
    });
  return new Date(now.getTime() + ms);
}

const Iso = z.string().refine((s) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?Z$/.test(s) && !isNaN(Date.parse(s)));
const TokenFile = z.strictObject({
  version: z.literal(TOKEN_FILE_VERSION),
  tokens: z.array(
    z.strictObject({
      name: z.string().regex(TOKEN_NAME),
      user: z.string().regex(USER_NAME),
      sha256: z.string().regex(/^[0-9a-f]{64}$/),
      created: Iso,
      expires: Iso.nullable(),
      readOnly: z.boolean(),
    }),
  ),
});

/** The token file's text -> its records; anything mlflow-secure would not have written is refused whole. */
export function parseTokenFile(text: string, file: string): TokenRecord[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  const parsed = TokenFile.safeParse(value);
  const names = new Set(parsed.data?.tokens.map((t) => t.name));
  const hashes = new Set(parsed.data?.tokens.map((t) => t.sha256));
  if (!parsed.success || names.size !== parsed.data.tokens.length || hashes.size !== names.size)
    throw new UserError(`${file} is not a token file mlflow-secure wrote`, {
      hint: 'Remove it (every token stops working; create new ones with `mlflow-secure token create`)',
    });
  return parsed.data.tokens;
}

export function renderTokenFile(tokens: readonly TokenRecord[]): string {
  return `${JSON.stringify({ version: TOKEN_FILE_VERSION, tokens }, null, 2)}\n`;
}

export function isExpired(t: TokenRecord, now: Date): boolean {
  return t.expires !== null && Date.parse(t.expires) <= now.getTime();
}
