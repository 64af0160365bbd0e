/**
 * The token file on disk (`tokens.json` in the state folder): read without following links, written
 * atomically and owner-only (MLflow's authorization function re-reads it when it changes).
 */
import { readTextIfExists, writeFileAtomic } from '../system/files.js';
import type { Platform } from '../system/platform.js';
import { parseTokenFile, renderTokenFile, TOKENS_FILE, type TokenRecord } from './tokens.js';

export function tokensPath(stateDir: string, platform: Platform): string {
  return platform.path.join(stateDir, TOKENS_FILE);
}

export async function readTokens(file: string): Promise<TokenRecord[]> {
  const text = await readTextIfExists(file, { ownerOnly: true });
  return text === undefined ? [] : parseTokenFile(text, file);
}

export async function writeTokens(file: string, tokens: readonly TokenRecord[]): Promise<void> {
  await writeFileAtomic(file, renderTokenFile(tokens), 0o600);
}

/**
 * `user remove`: the user's tokens go with it (call under the state lock), so that a user added
 * again under the same name does not get them back. The function also refuses a token whose
 * user is gone from the password file, so they stop at once even before this runs.
 */
export async function dropUserTokens(file: string, user: string): Promise<number> {
  const tokens = await readTokens(file);
  const kept = tokens.filter((t) => t.user !== user);
  if (kept.length !== tokens.length) await writeTokens(file, kept);
  return tokens.length - kept.length;
}
