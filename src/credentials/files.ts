/**
 * Credentials that stay: MLflow's `~/.mlflow/credentials` and a `.env` file, written owner-only
 * and atomically, with every line that is not ours kept. Links and other users' files are
 * refused: the password is never written through a link or into someone else's file.
 */
import { promises as fs, type Stats } from 'node:fs';
import { UserError } from '../errors.js';
import { readTextIfExists, writeFileAtomic } from '../system/files.js';
import type { Platform } from '../system/platform.js';
import { PASSWORD_KEY, removeCredentials, setCredentials, USERNAME_KEY } from './ini.js';
import { removeDotenv, setDotenv } from './dotenv.js';

/** Where MLflow's Python client looks: `os.path.expanduser("~/.mlflow/credentials")`, no variable moves it (mlflow/utils/credentials.py). */
export function mlflowCredentialsFile(env: NodeJS.ProcessEnv, platform: Platform): string {
  const home = platform.homeDir(env);
  if (!home) {
    const which = platform.isWindows ? 'USERPROFILE' : 'HOME';
    throw new UserError(`cannot tell where your home folder is (${which} is not set)`, {
      hint: `Set ${which}, or point clients at the stack with environment variables: mlflow-secure env`,
    });
  }
  return platform.path.join(home, '.mlflow', 'credentials');
}

async function lstatOrUndefined(p: string): Promise<Stats | undefined> {
  try {
    return await fs.lstat(p);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    if (code === 'ENOENT') return undefined;
    throw new UserError(`cannot read ${p} (${code})`, {
      hint: 'Check that the folders above it exist, are folders, and are yours',
    });
  }
}

const modeText = (stat: Stats) => (stat.mode & 0o777).toString(8).padStart(4, '0');

/**
 * `~/.mlflow`, made owner-only (0700) when it is missing. An existing one must be a real folder
 * of ours that others cannot write to: whoever can write there can swap the credentials file.
 * Windows: NTFS ACLs, not these mode bits, decide who may write (as for the state folder).
 */
async function ensureCredentialsDir(dir: string, platform: Platform): Promise<void> {
  const stat = await lstatOrUndefined(dir);
  if (!stat) {
    try {
      await fs.mkdir(dir, { mode: 0o700 });
      if (!platform.isWindows) await fs.chmod(dir, 0o700); // the umask may have cleared bits
    } catch (error) {
      throw new UserError(`cannot create ${dir} (${(error as NodeJS.ErrnoException).code ?? 'error'})`, {
        hint: 'Check that your home folder exists and is yours',
      });
    }
    return;
  }
  if (stat.isSymbolicLink())
    throw new UserError(`${dir} is a symbolic link`, {
      hint: 'mlflow-secure writes the password only into a real folder: replace the link with the folder it points to',
    });
  if (!stat.isDirectory()) throw new UserError(`${dir} is not a folder`, { hint: 'Move it away and try again' });
  if (platform.isWindows) return;
  const uid = process.getuid?.();
  if (uid !== undefined && stat.uid !== uid)
    throw new UserError(`${dir} belongs to another user (uid ${stat.uid}, you are ${uid})`, {
      hint: "Run as its owner (is HOME pointing at someone else's home?)",
    });
  if ((stat.mode & 0o022) !== 0)
    throw new UserError(`${dir} is writable by other users (mode ${modeText(stat)})`, {
      hint: `Run chmod 700 ${dir}, then try again`,
    });
}

/** The text of a file to edit, '' when it does not exist; links, devices and other users' files are refused. */
async function readForEdit(
  file: string,
  platform: Platform,
): Promise<{ text: string; existed: boolean; loosened?: string }> {
  const before = await lstatOrUndefined(file);
  const text = await readTextIfExists(file, { mine: true });
  if (text === undefined) return { text: '', existed: false };
  // A file others could read: it is rewritten owner-only, and the user is told it was not.
  // Windows: mode bits are made up there (NTFS ACLs decide).
  const loosened = !platform.isWindows && before && (before.mode & 0o077) !== 0 ? modeText(before) : undefined;
  return { text, existed: true, ...(loosened ? { loosened } : {}) };
}

/** writeFileAtomic owner-only, with a failure (a missing folder, no permission) as one line. */
async function writeOwnerOnly(file: string, text: string): Promise<void> {
  try {
    await writeFileAtomic(file, text, 0o600);
  } catch (error) {
    throw new UserError(`cannot write ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`, {
      hint: 'Check that its folder exists and that you may write there',
    });
  }
}

export interface Saved {
  file: string;
  /** It did not exist before. */
  created: boolean;
  /** Its mode before, when others could read it (it is 0600 now). */
  loosened?: string;
}

export async function saveMlflowCredentials(
  file: string,
  user: string,
  password: string,
  platform: Platform,
): Promise<Saved & { previousUser?: string }> {
  await ensureCredentialsDir(platform.path.dirname(file), platform);
  const { text, existed, loosened } = await readForEdit(file, platform);
  const next = setCredentials(text, user, password, file);
  await writeOwnerOnly(file, next.text);
  return {
    file,
    created: !existed,
    ...(loosened ? { loosened } : {}),
    ...(next.previousUser !== undefined ? { previousUser: next.previousUser } : {}),
  };
}

export interface Forgotten {
  file: string;
  existed: boolean;
  /** What was removed: keys, or nothing (the file did not exist or held none of them). */
  removed: string[];
  /** The user name that was there, if any. */
  user?: string;
  /** The file held nothing else and was deleted. */
  deleted: boolean;
}

/** Writes `text` back, or deletes the file when nothing but blank lines is left. */
async function writeBack(file: string, text: string, empty: boolean): Promise<boolean> {
  if (empty) {
    await fs.rm(file, { force: true }).catch((error: NodeJS.ErrnoException) => {
      throw new UserError(`cannot remove ${file} (${error.code ?? 'error'})`, {
        hint: 'Check that you may write to its folder',
      });
    });
    return true;
  }
  await writeOwnerOnly(file, text);
  return false;
}

export async function forgetMlflowCredentials(file: string, platform: Platform): Promise<Forgotten> {
  const { text, existed } = await readForEdit(file, platform);
  if (!existed) return { file, existed, removed: [], deleted: false };
  const next = removeCredentials(text, file);
  if (!next.removed) return { file, existed, removed: [], deleted: false };
  const deleted = await writeBack(file, next.text, next.empty);
  return {
    file,
    existed,
    removed: [USERNAME_KEY, PASSWORD_KEY],
    ...(next.user !== undefined ? { user: next.user } : {}),
    deleted,
  };
}

export interface DotenvEntry {
  key: string;
  value: string;
  /** How the value is named in an error (never the value itself). */
  what: string;
}

export async function saveDotenv(file: string, entries: readonly DotenvEntry[], platform: Platform): Promise<Saved> {
  const { text, existed, loosened } = await readForEdit(file, platform);
  await writeOwnerOnly(file, setDotenv(text, entries));
  return { file, created: !existed, ...(loosened ? { loosened } : {}) };
}

export async function forgetDotenv(file: string, keys: readonly string[], platform: Platform): Promise<Forgotten> {
  const { text, existed } = await readForEdit(file, platform);
  if (!existed) return { file, existed, removed: [], deleted: false };
  const next = removeDotenv(text, keys);
  if (next.removed.length === 0) return { file, existed, removed: [], deleted: false };
  const deleted = await writeBack(file, next.text, next.empty);
  return { file, existed, removed: next.removed, deleted };
}

/**
 * True when `file` is inside a git work tree and git would not ignore it (a `git add .` would
 * take the password along); false otherwise, and when git is missing or says nothing in time.
 * `check-ignore` exits 0 for ignored, 1 for not ignored, 128 outside a repository
 * (https://git-scm.com/docs/git-check-ignore). core.fsmonitor is turned off because a
 * repository's own config could name a program for git to run there.
 */
export async function gitWouldCommit(file: string, platform: Platform, env: NodeJS.ProcessEnv): Promise<boolean> {
  const git = await (await import('../system/tools.js')).findGit(env, platform);
  if (git === undefined) return false;
  const { runOnce } = await import('../system/run-once.js');
  const r = await runOnce(
    git,
    ['-c', 'core.fsmonitor=false', 'check-ignore', '-q', '--', platform.path.basename(file)],
    { cwd: platform.path.dirname(file), env, timeoutMs: 5_000 },
  );
  return r.exitCode === 1;
}
