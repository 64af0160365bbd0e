/** File helpers: atomic writes (temp + rename) and owner-only modes for secrets. */
import { randomBytes } from 'node:crypto';
import { constants, promises as fs } from 'node:fs';
import nodePath from 'node:path';
import { UserError } from './errors.js';

/**
 * Writes via a temp file in the same folder and a rename, so readers (nginx re-reads the
 * password file on every request) never see a half-written file. `mode` applies from the
 * first byte: a secret is never readable by others, not even briefly.
 */
export async function writeFileAtomic(file: string, data: string, mode = 0o644): Promise<void> {
  const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await fs.writeFile(temp, data, { mode, flag: 'wx' });
    await fs.chmod(temp, mode); // the umask may have cleared bits of `mode`
    await fs.rename(temp, file);
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw error;
  }
}

export async function readTextIfExists(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw error;
  }
}

export async function exists(file: string): Promise<boolean> {
  try {
    await fs.access(file);
    return true;
  } catch {
    return false;
  }
}

/**
 * Creates folders (parents too) and proves each is writable, turning permission errors into
 * one clear line. Returns the folders it created, so a failed start can remove exactly those.
 */
export async function ensureWritableDirs(dirs: readonly string[], what: string): Promise<string[]> {
  const created: string[] = [];
  for (const dir of dirs) {
    try {
      const first = await fs.mkdir(dir, { recursive: true });
      if (first !== undefined) created.push(first);
      await fs.access(dir, constants.W_OK);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'error';
      throw new UserError(`cannot write to ${what} folder ${dir} (${code})`, 'Choose a folder you can write to, or fix its permissions');
    }
  }
  return created;
}

/** The nearest existing ancestor of `p` must be writable for MLflow to create `p` there. */
export async function checkCreatable(p: string, what: string): Promise<void> {
  let dir = p;
  for (;;) {
    try {
      const stat = await fs.stat(dir);
      // The nearest existing ancestor must be a folder: nothing can be created under a file.
      if (dir !== p && !stat.isDirectory()) throw new UserError(`cannot create the ${what} at ${p}: ${dir} is a file`, 'Choose another location');
      await fs.access(dir, constants.W_OK); // the existing file or folder itself
      return;
    } catch (error) {
      if (error instanceof UserError) throw error;
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') {
        throw new UserError(`cannot write the ${what} at ${p} (${code ?? 'error'})`, 'Choose a location you can write to, or fix its permissions');
      }
      const parent = nodePath.dirname(dir);
      if (parent === dir) throw new UserError(`cannot create the ${what} at ${p}`, 'Choose a location you can write to');
      dir = parent;
    }
  }
}

/** The last `lines` lines of a text file, or '' when it does not exist. */
export async function tailFile(file: string, lines = 20): Promise<string> {
  const text = (await readTextIfExists(file)) ?? '';
  return text.split(/\r?\n/).filter((l) => l !== '').slice(-lines).join('\n');
}
