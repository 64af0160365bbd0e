/** The password file on disk: read, atomic owner-only writes, and the generated password. */
import { promises as fs } from 'node:fs';
import { UserError } from '../errors.js';
import { readTextIfExists, writeFileAtomic } from '../system/files.js';
import { parseHtpasswd, renderHtpasswd, verifyPassword, type HtpasswdEntry } from './htpasswd.js';

export async function readUsers(file: string): Promise<HtpasswdEntry[] | undefined> {
  const text = await readTextIfExists(file, { ownerOnly: true });
  return text === undefined ? undefined : parseHtpasswd(text);
}

/** Atomic (nginx re-reads the file on every request) and owner-only (0600). */
export async function writeUsers(file: string, entries: readonly HtpasswdEntry[]): Promise<void> {
  await writeFileAtomic(file, renderHtpasswd(entries), 0o600);
}

/** A password mlflow-secure generated, kept owner-only so `env` can show it again. */
export interface GeneratedPassword {
  user: string;
  password: string;
}

export async function readGeneratedPassword(file: string): Promise<GeneratedPassword | undefined> {
  const text = await readTextIfExists(file, { ownerOnly: true });
  if (text === undefined) return undefined;
  try {
    const value = JSON.parse(text) as GeneratedPassword;
    return typeof value.user === 'string' && typeof value.password === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}

export async function writeGeneratedPassword(file: string, value: GeneratedPassword): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(value)}\n`, 0o600);
}

export async function forgetGeneratedPassword(file: string, user: string): Promise<void> {
  const stored = await readGeneratedPassword(file);
  if (stored?.user === user) await fs.rm(file, { force: true });
}

/** The stored generated password of `user`, if it still matches the password file. */
export async function knownPassword(
  generatedFile: string,
  user: string,
  entries: readonly HtpasswdEntry[],
): Promise<string | undefined> {
  const stored = await readGeneratedPassword(generatedFile);
  const entry = entries.find((e) => e.user === user);
  if (!stored || stored.user !== user || !entry) return undefined;
  return verifyPassword(stored.password, entry.hash) ? stored.password : undefined;
}

export function requireUser(entries: readonly HtpasswdEntry[], user: string, file: string): HtpasswdEntry {
  const entry = entries.find((e) => e.user === user);
  if (!entry)
    throw new UserError(`no user '${user}' in ${file}`, { hint: 'List users with `mlflow-secure user list`' });
  return entry;
}
