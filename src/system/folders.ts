/**
 * Folders: the state folder made owner-only and checked to be ours, and other folders made with
 * a bounded `mkdir -p` and proved writable. Apart from files.ts (single files: atomic writes,
 * reads that never follow a link), which the Windows lab loads on its own in node.exe under Wine.
 */
import { constants, promises as fs, type Stats } from 'node:fs';
import nodePath from 'node:path';
import { UserError } from '../errors.js';
import { ignoreStateDir } from '../stack/git-ignore.js';
import { errorCode, isMissing, kindOf } from './files.js';
import type { Platform } from './platform.js';
import type { RunResult } from './run-once.js';
import { parseWhoamiSid, privateFolderArgs, windowsProgram } from './windows-programs.js';

/**
 * Creates the state folder (owner-only, 0700) and `subdirs` inside it, then checks the state
 * folder is ours (checkStateDir). An existing folder of ours that is merely 0755 (older versions
 * made it so) is tightened to 0700. It gets a `.gitignore` when it has none (git-ignore.ts), an
 * existing folder too. Returns the folders it created, so a failed start can remove exactly those.
 * On Windows a folder it makes gets an ACL of this account, SYSTEM and Administrators only
 * (makePrivateOnWindows); `warn` hears when that could not be done.
 */
export async function ensureStateDir(
  dir: string,
  subdirs: readonly string[],
  platform: Platform,
  o: { warn?: (line: string) => void; env?: NodeJS.ProcessEnv } = {},
): Promise<string[]> {
  const created: string[] = [];
  let stat = await inspectStateDir(dir, platform);
  const madeNow = !stat;
  if (!stat) {
    const first = await makeDirs(dir, 0o700, 'state');
    if (first !== undefined) created.push(first);
    // Windows: mode 0700 means nothing there; before anything is written in it, its ACL.
    if (platform.isWindows) {
      const why = await makePrivateOnWindows(dir, o.env ?? process.env);
      if (why !== undefined) o.warn?.(privateFolderWarning(dir, why));
    }
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

export type RunOnce = (file: string, args: readonly string[], o: { timeoutMs: number }) => Promise<RunResult>;

/**
 * Windows: `dir` made private to this account, as a user profile folder is (windows-programs.ts,
 * privateFolderArgs). A folder outside the profile otherwise inherits read access for every
 * local user, and it holds the password file, a generated password, keys and, with
 * --permissions, nginx's secret. Returns why it could not be done (a FAT drive has no ACLs), or
 * undefined.
 */
export async function makePrivateOnWindows(
  dir: string,
  env: NodeJS.ProcessEnv,
  run?: RunOnce,
): Promise<string | undefined> {
  const runOnce = run ?? (await import('./run-once.js')).runOnce;
  const who = await runOnce(windowsProgram('whoami', env), ['/user', '/fo', 'csv', '/nh'], { timeoutMs: 15_000 });
  const sid = who.exitCode === 0 ? parseWhoamiSid(who.stdout) : undefined;
  if (sid === undefined) return `whoami /user named no account SID${who.error ? `: ${who.error}` : ''}`;
  const r = await runOnce(windowsProgram('icacls', env), privateFolderArgs(dir, sid), { timeoutMs: 15_000 });
  if (r.exitCode === 0) return undefined;
  return `icacls failed: ${r.error ?? (r.stderr.trim() || r.stdout.trim() || `exit ${r.exitCode}`)}`;
}

export function privateFolderWarning(dir: string, why: string): string {
  return (
    `could not make the state folder ${dir} private to your account (${why}): other accounts on this computer may read the password file and keys in it. ` +
    "Keep the project under your user folder, or remove other users in the folder's Properties > Security"
  );
}
