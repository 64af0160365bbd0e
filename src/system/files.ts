/**
 * File helpers: atomic writes (temp + rename), owner-only modes for secrets, and reads that never
 * follow a link. Folders (the state folder's checks, bounded mkdir) are in folders.ts.
 */
import { randomBytes } from 'node:crypto';
import { constants, promises as fs, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { UserError } from '../errors.js';

/**
 * Writes via a temp file in the same folder and a rename, so readers (nginx re-reads the
 * password file on every request) never see a half-written file. `mode` applies from the
 * first byte: a secret is never readable by others, not even briefly.
 */
export async function writeFileAtomic(
  file: string,
  data: string,
  mode = 0o644,
  o: RenameRetryOptions = {},
): Promise<void> {
  const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await fs.writeFile(temp, data, { mode, flag: 'wx' });
    await fs.chmod(temp, mode); // the umask may have cleared bits of `mode`
    await renameWithRetry(temp, file, o);
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw error;
  }
}

export interface RenameRetryOptions {
  /** Retry transient rename failures (default: on Windows only). */
  windows?: boolean;
  rename?: (from: string, to: string) => Promise<void>;
  sleep?: (ms: number) => Promise<void>;
  /** Total time allowed for retries (default RENAME_RETRY_MS). */
  limitMs?: number;
  /** Called once per failed attempt that is retried (MLFLOW_SECURE_DEBUG counts them). */
  onRetry?: (code: string, attempt: number) => void;
}

/**
 * How long a rename over a file that Windows reports busy is retried. On Windows a rename fails
 * with EPERM/EACCES/EBUSY while another process has the target open without FILE_SHARE_DELETE
 * (an antivirus or indexer scanning it; under Wine, nginx.exe reading the password file: 4-6 in
 * 200 renames, each gone on the next try). graceful-fs retries up to 60 s; 10 s here is
 * more than any scan of a file this small takes, and short enough that a file really held open
 * (an editor) ends in one line instead of a minute's silence.
 */
export const RENAME_RETRY_MS = 10_000;
const RETRIED_RENAME_CODES = new Set(['EPERM', 'EACCES', 'EBUSY']);

/** MLFLOW_SECURE_DEBUG=1: one stderr line per retried rename (the lab counts them), else nothing. */
const debugRetry =
  (to: string) =>
  (code: string, attempt: number): void => {
    if (!process.env.MLFLOW_SECURE_DEBUG) return;
    try {
      process.stderr.write(`[debug] rename over ${to} failed with ${code} (attempt ${attempt}); retrying\n`);
    } catch {
      // nowhere to say it
    }
  };

/** fs.rename, retried with a backoff (10 ms doubling to 500 ms) on Windows' transient codes. */
export async function renameWithRetry(from: string, to: string, o: RenameRetryOptions = {}): Promise<void> {
  const rename = o.rename ?? fs.rename;
  const windows = o.windows ?? process.platform === 'win32';
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const limit = o.limitMs ?? RENAME_RETRY_MS;
  let waited = 0;
  let delay = 10;
  for (let attempt = 1; ; attempt++) {
    try {
      await rename(from, to);
      return;
    } catch (error) {
      const code = errorCode(error);
      if (!windows || !RETRIED_RENAME_CODES.has(code)) throw error;
      if (waited >= limit)
        throw new UserError(
          `cannot replace ${to}: Windows kept it locked for ${Math.round(limit / 1000)} s (${code})`,
          { hint: 'Another program holds it open (an editor, an antivirus scan): close it and try again' },
        );
      (o.onRetry ?? debugRetry(to))(code, attempt);
      const wait = Math.min(delay, limit - waited);
      await sleep(wait);
      waited += wait;
      delay = Math.min(delay * 2, 500);
    }
  }
}

// Numeric open flags; both are missing from fs.constants on Windows.
const NO_FOLLOW = (constants as Partial<typeof constants>).O_NOFOLLOW ?? 0;
const NON_BLOCK = (constants as Partial<typeof constants>).O_NONBLOCK ?? 0;

// Shared with folders.ts, which words its errors the same way.
export const isMissing = (error: unknown) =>
  ['ENOENT', 'ENOTDIR'].includes((error as NodeJS.ErrnoException).code ?? '');
export const errorCode = (error: unknown) => (error as NodeJS.ErrnoException).code ?? 'error';

export function kindOf(stat: Stats): string {
  if (stat.isSymbolicLink()) return 'a symbolic link';
  if (stat.isDirectory()) return 'a folder';
  if (stat.isFile()) return 'a file';
  return 'a device, FIFO or socket';
}

function irregular(file: string, kind: string): UserError {
  return new UserError(`${file} is ${kind}, not a regular file`, {
    hint: 'mlflow-secure never creates one there: remove it (or move it away) and try again',
  });
}

function refuseIrregular(file: string, stat: Stats): void {
  if (!stat.isFile()) throw irregular(file, kindOf(stat));
}

function cannotRead(file: string, error: unknown): Error {
  const code = errorCode(error);
  if (code === 'EACCES' || code === 'EPERM')
    return new UserError(`cannot read ${file} (${code})`, {
      hint: 'Make it yours and readable (chown, chmod 600), or choose another --state-dir',
    });
  return error as Error;
}

/**
 * A secret mlflow-secure wrote is owner-only (0600) and ours. One that others may read or write,
 * or that belongs to someone else, was not written by mlflow-secure or was changed since (a
 * cloned repository ships files 0644): its users or password are not to be trusted. POSIX only
 * (process.getuid exists there); Windows relies on NTFS ACLs.
 */
function refuseShared(file: string, stat: Stats): void {
  if (typeof process.getuid !== 'function') return;
  refuseForeign(file, stat);
  const mode = (stat.mode & 0o777).toString(8).padStart(4, '0');
  if ((stat.mode & 0o077) !== 0) {
    throw new UserError(
      `${file} is open to other users (mode ${mode}); mlflow-secure writes it owner-only (0600), so it did not write this one or it was changed since (a cloned repository?)`,
      { hint: `If it is yours, run chmod 600 ${file}; otherwise delete it` },
    );
  }
}

function refuseForeign(file: string, stat: Stats): void {
  if (typeof process.getuid === 'function' && stat.uid !== process.getuid()) {
    throw new UserError(`${file} belongs to another user (uid ${stat.uid}), so mlflow-secure will not trust it`, {
      hint: 'Delete it, or run as its owner',
    });
  }
}

/**
 * Reads a state file, or undefined when it does not exist. Anything but a regular file is
 * refused: a cloned repository or another account could plant `htpasswd -> /etc/shadow`, and
 * following it would copy that file's lines into ours.
 */
export async function readTextIfExists(
  file: string,
  o: { ownerOnly?: boolean; mine?: boolean; tailBytes?: number } = {},
): Promise<string | undefined> {
  let entry: Stats;
  try {
    entry = await fs.lstat(file);
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw cannotRead(file, error);
  }
  refuseIrregular(file, entry);
  let handle: FileHandle;
  try {
    // O_NOFOLLOW closes the race between lstat and open (a link swapped in meanwhile); Windows
    // lacks it (0 there) and keeps only the lstat. O_NONBLOCK: a FIFO would block open forever.
    handle = await fs.open(file, constants.O_RDONLY | NO_FOLLOW | NON_BLOCK);
  } catch (error) {
    if (isMissing(error)) return undefined;
    if ((error as NodeJS.ErrnoException).code === 'ELOOP') throw irregular(file, 'a symbolic link');
    throw cannotRead(file, error);
  }
  try {
    const stat = await handle.stat();
    refuseIrregular(file, stat);
    if (o.ownerOnly) refuseShared(file, stat);
    else if (o.mine) refuseForeign(file, stat); // a file of ours to edit, whatever its mode
    if (o.tailBytes !== undefined && stat.size > o.tailBytes) {
      // Only the end of a big file (a log grown to gigabytes would not fit in a string).
      const buffer = Buffer.alloc(o.tailBytes);
      const { bytesRead } = await handle.read(buffer, 0, o.tailBytes, stat.size - o.tailBytes);
      const text = buffer.subarray(0, bytesRead).toString('utf8');
      return text.slice(text.indexOf('\n') + 1);
    }
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

/**
 * Refuses any of `files` that exists and is not a regular file. For files other programs open
 * themselves and would follow (MLflow's and nginx's logs, nginx's pid file): a cloned repository
 * could ship `.mlflow-secure/logs/mlflow.log -> ~/.bashrc`.
 */
export async function checkStateFiles(files: readonly string[]): Promise<void> {
  for (const file of files) {
    try {
      refuseIrregular(file, await fs.lstat(file));
    } catch (error) {
      if (error instanceof UserError) throw error;
      if (!isMissing(error)) throw cannotRead(file, error);
    }
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

/** How much of a log `tailFile` reads from its end. */
const TAIL_BYTES = 4 * 1024 * 1024;

/** The last `lines` lines of a text file, or '' when it does not exist. */
export async function tailFile(file: string, lines = 20): Promise<string> {
  const text = (await readTextIfExists(file, { tailBytes: TAIL_BYTES })) ?? '';
  return text
    .split(/\r?\n/)
    .filter((l) => l !== '')
    .slice(-lines)
    .join('\n');
}
