/**
 * File helpers: atomic writes (temp + rename), owner-only modes for secrets, the state folder's
 * checks, and reads that never follow a link.
 */
import { randomBytes } from 'node:crypto';
import { constants, promises as fs, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import nodePath from 'node:path';
import { UserError } from '../errors.js';
import { ignoreStateDir } from '../stack/git-ignore.js';
import type { Platform } from './platform.js';

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

const isMissing = (error: unknown) => ['ENOENT', 'ENOTDIR'].includes((error as NodeJS.ErrnoException).code ?? '');
const errorCode = (error: unknown) => (error as NodeJS.ErrnoException).code ?? 'error';

function kindOf(stat: Stats): string {
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

/**
 * Creates the state folder (owner-only, 0700) and `subdirs` inside it, then checks the state
 * folder is ours (checkStateDir). An existing folder of ours that is merely 0755 (older versions
 * made it so) is tightened to 0700. It gets a `.gitignore` when it has none (git-ignore.ts), an
 * existing folder too. Returns the folders it created, so a failed start can remove exactly those.
 */
export async function ensureStateDir(dir: string, subdirs: readonly string[], platform: Platform): Promise<string[]> {
  const created: string[] = [];
  let stat = await inspectStateDir(dir, platform);
  const madeNow = !stat;
  if (!stat) {
    const first = await makeDirs(dir, 0o700, 'state');
    if (first !== undefined) created.push(first);
    stat = await inspectStateDir(dir, platform);
    if (!stat)
      throw new UserError(`cannot write to state folder ${dir} (ENOENT)`, {
        hint: 'Choose a folder you can write to with --state-dir',
      });
  }
  try {
    // Windows: no POSIX modes to tighten (NTFS ACLs decide who may enter).
    if (!platform.isWindows && (stat.mode & 0o077) !== 0) await fs.chmod(dir, 0o700);
    await fs.access(dir, constants.W_OK);
  } catch (error) {
    throw new UserError(`cannot write to state folder ${dir} (${errorCode(error)})`, {
      hint: `Run chmod 700 ${dir}, or choose another --state-dir`,
    });
  }
  await ignoreStateDir(dir, madeNow);
  for (const sub of subdirs) {
    const first = await makeDirsInside(dir, sub);
    if (first !== undefined) created.push(first);
  }
  return created;
}

/**
 * For commands that only read the state folder: false when it does not exist; a UserError when
 * it is not a folder, is a symbolic link, belongs to someone else or is writable by others
 * (whoever can write there can replace the password file or nginx.conf); true otherwise.
 */
export async function checkStateDir(dir: string, platform: Platform): Promise<boolean> {
  return (await inspectStateDir(dir, platform)) !== undefined;
}

async function inspectStateDir(dir: string, platform: Platform): Promise<Stats | undefined> {
  let stat: Stats;
  try {
    stat = await fs.lstat(dir);
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw new UserError(`cannot read the state folder ${dir} (${errorCode(error)})`, {
      hint: 'Fix its permissions, or choose another --state-dir',
    });
  }
  // A link could point our owner-only files anywhere (a cloned repo shipping `.mlflow-secure -> ~/.ssh`).
  if (stat.isSymbolicLink())
    throw new UserError(`the state folder ${dir} is a symbolic link`, {
      hint: 'Pass the real folder with --state-dir, or remove the link',
    });
  if (!stat.isDirectory())
    throw new UserError(`the state folder ${dir} is not a folder`, {
      hint: 'Move that file away, or choose another --state-dir',
    });
  // Windows: Node reports uid 0 and mode bits made up from the read-only flag; NTFS ACLs, not
  // these, decide who may write there.
  if (platform.isWindows) return stat;
  const uid = process.getuid?.();
  if (uid !== undefined && stat.uid !== uid) {
    throw new UserError(`the state folder ${dir} belongs to another user (uid ${stat.uid}, you are ${uid})`, {
      hint: `Choose another --state-dir, or take it over: sudo chown -R ${uid} ${dir}`,
    });
  }
  if ((stat.mode & 0o022) !== 0) {
    const mode = (stat.mode & 0o777).toString(8).padStart(3, '0');
    throw new UserError(`the state folder ${dir} is writable by other users (mode ${mode})`, {
      hint: `Run chmod 700 ${dir}, or choose another --state-dir`,
    });
  }
  return stat;
}

/**
 * `mkdir -p` with a bound. Node's recursive mkdir reads ENOENT as "the parent is missing", makes
 * the parent (EEXIST) and retries forever when the parent exists but cannot hold the child:
 * procfs answers ENOENT for `/proc/x` (measured on Node 20: 100 % CPU, never returns). Here each
 * missing component is made once, from the top down, and any error ends in one line. Returns
 * the topmost folder it created.
 */
async function makeDirs(dir: string, mode: number, what: string): Promise<string | undefined> {
  const missing: string[] = [];
  for (let p = nodePath.resolve(dir); ;) {
    try {
      const stat = await fs.stat(p);
      if (!stat.isDirectory())
        throw new UserError(`cannot write to ${what} folder ${dir} (ENOTDIR)`, {
          hint: `Choose a folder you can write to: ${p} is a file`,
        });
      break;
    } catch (error) {
      if (error instanceof UserError) throw error;
      if (!isMissing(error)) throw cannotCreate(dir, what, error);
      missing.unshift(p);
      const parent = nodePath.dirname(p);
      if (parent === p) throw cannotCreate(dir, what, error); // no root: a drive that does not exist
      p = parent;
    }
  }
  let first: string | undefined;
  for (const p of missing) {
    // Folders above the target get the usual mode (umask); the target gets `mode`.
    if (await makeDir(p, p === missing.at(-1) ? mode : 0o777, dir, what)) first ??= p;
  }
  return first;
}

/** Makes `sub` (a folder inside `root`) one component at a time, refusing links on the way. */
async function makeDirsInside(root: string, sub: string): Promise<string | undefined> {
  const rel = nodePath.relative(root, sub);
  if (rel === '' || rel.startsWith('..') || nodePath.isAbsolute(rel)) throw new Error(`${sub} is not inside ${root}`);
  let first: string | undefined;
  let p = root;
  for (const part of rel.split(nodePath.sep)) {
    p = nodePath.join(p, part);
    if (await makeDir(p, 0o700, sub, 'state')) first ??= p;
    const stat = await fs.lstat(p);
    if (!stat.isDirectory())
      throw new UserError(`${p} is ${kindOf(stat)}, not a folder`, {
        hint: 'mlflow-secure never creates one there: remove it (or move it away) and try again',
      });
  }
  return first;
}

/** One mkdir: true when it made `p`, false when `p` already existed (another command may have made it meanwhile). */
async function makeDir(p: string, mode: number, dir: string, what: string): Promise<boolean> {
  try {
    await fs.mkdir(p, { mode });
    if (mode !== 0o777) await fs.chmod(p, mode); // the umask may have cleared bits of `mode`
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw cannotCreate(dir, what, error);
  }
}

function cannotCreate(dir: string, what: string, error: unknown): UserError {
  return new UserError(`cannot write to ${what} folder ${dir} (${errorCode(error)})`, {
    hint: 'Choose a folder you can write to, or fix its permissions',
  });
}

/**
 * Creates folders (parents too) and proves each is writable, turning permission errors into
 * one clear line. Returns the folders it created, so a failed start can remove exactly those.
 */
export async function ensureWritableDirs(dirs: readonly string[], what: string): Promise<string[]> {
  const created: string[] = [];
  for (const dir of dirs) {
    const first = await makeDirs(dir, 0o777, what);
    if (first !== undefined) created.push(first);
    try {
      await fs.access(dir, constants.W_OK);
    } catch (error) {
      throw new UserError(`cannot write to ${what} folder ${dir} (${errorCode(error)})`, {
        hint: 'Choose a folder you can write to, or fix its permissions',
      });
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
      if (dir !== p && !stat.isDirectory())
        throw new UserError(`cannot create the ${what} at ${p}: ${dir} is a file`, { hint: 'Choose another location' });
      await fs.access(dir, constants.W_OK); // the existing file or folder itself
      if (dir !== p) await probeCreate(dir, p, what);
      return;
    } catch (error) {
      if (error instanceof UserError) throw error;
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') {
        throw new UserError(`cannot write the ${what} at ${p} (${code ?? 'error'})`, {
          hint: 'Choose a location you can write to, or fix its permissions',
        });
      }
      const parent = nodePath.dirname(dir);
      if (parent === dir)
        throw new UserError(`cannot create the ${what} at ${p}`, { hint: 'Choose a location you can write to' });
      dir = parent;
    }
  }
}

/**
 * access() says yes to root everywhere, /proc included: where MLflow must create the store,
 * prove it by creating (and removing) a probe folder. Any failure here is final, never a
 * reason to look further up.
 */
async function probeCreate(dir: string, p: string, what: string): Promise<void> {
  try {
    await fs.rm(await fs.mkdtemp(nodePath.join(dir, '.mlflow-secure-probe-')), { recursive: true, force: true });
  } catch (error) {
    throw new UserError(`cannot create the ${what} at ${p}: nothing can be created in ${dir} (${errorCode(error)})`, {
      hint: 'Choose a location you can write to',
    });
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
