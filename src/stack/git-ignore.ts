/**
 * Keeping mlflow-secure's folders out of the user's git: `up` in a git project writes the
 * plaintext generated password, the password file and, with --tls, private keys into
 * `./.mlflow-secure/`, and `git add -A` would commit them. Each folder gets a `.gitignore`; a
 * state file git already tracks gets one warning line, since ignore rules do not untrack it.
 */
import { promises as fs } from 'node:fs';
import nodePath from 'node:path';
import { UserError } from '../errors.js';
import { shellWord } from '../invocation.js';
import type { Platform } from '../system/platform.js';
import { GUNICORN_SOCKET_BASE, GUNICORN_SOCKET_NAME } from '../defaults.js';

/**
 * Every name mlflow-secure puts at the top of a state folder (state.ts's layout, tls.ts's `tls/`,
 * lock.ts's `lock`). A folder holding nothing else is ours to ignore whole.
 */
export const STATE_ENTRIES = [
  'stack.json',
  'nginx.conf',
  'htpasswd',
  'generated-password',
  'logs',
  'nginx',
  'tls',
  'mlflow.sock',
  'lock',
  'stopping',
  'mlflow-cwd',
  // up --permissions (permissions.ts, authPaths): MLflow's auth database with SQLite's side
  // files, its ini, the first admin's name; and the tokens' hashes (users/tokens.ts).
  'mlflow-auth.db',
  'mlflow-auth.db-journal',
  'mlflow-auth.db-wal',
  'mlflow-auth.db-shm',
  'mlflow-auth.ini',
  'mlflow-admin',
  'tokens.json',
] as const;

/** gunicorn's socket (MLflow < 3.3, state.ts): its name holds MLflow's port. Git never tracks a socket. */
const GUNICORN_SOCKET_IGNORE = `/${GUNICORN_SOCKET_BASE}:*`;

/** What writeFileAtomic leaves behind when it dies between write and rename: `<name>.<12 hex>.tmp`. */
const TEMP_FILE = /^.+\.[0-9a-f]{12}\.tmp$/;

/** Ignores the state folder whole, this file included: `git status` then shows nothing of it. */
export const IGNORE_STATE_DIR =
  '# Written by mlflow-secure: passwords, keys and logs live here, so git ignores all of it.\n*\n';

/**
 * For a folder that holds the user's own files too (`--state-dir .`): `*` there would hide them
 * from git, so only mlflow-secure's entries are named, anchored to this folder.
 */
export function ignoreStateEntries(): string {
  return [
    '# Written by mlflow-secure: its state files here (passwords, keys, logs) stay out of git.',
    ...STATE_ENTRIES.map((name) => `/${name}`),
    GUNICORN_SOCKET_IGNORE,
    '',
  ].join('\n');
}

/** True when every entry of a folder is one mlflow-secure writes there. Pure. */
export function onlyStateEntries(names: readonly string[]): boolean {
  const ours = new Set<string>([...STATE_ENTRIES, '.gitignore']);
  return names.every((n) => ours.has(n) || TEMP_FILE.test(n) || GUNICORN_SOCKET_NAME.test(n));
}

const isMissing = (error: unknown) => ['ENOENT', 'ENOTDIR'].includes((error as NodeJS.ErrnoException).code ?? '');
/** Anything there, even unreadable or a dangling link, is not ours to replace. */
const present = (p: string) =>
  fs.lstat(p).then(
    () => true,
    (error: unknown) => !isMissing(error),
  );

/**
 * Writes `<dir>/.gitignore` unless something is there already: an existing one (the user's, or
 * ours) is never changed. Exclusive create, so a file or link that appears meanwhile is left
 * alone too.
 */
export async function writeGitignore(dir: string, text: string): Promise<boolean> {
  const file = nodePath.join(dir, '.gitignore');
  if (await present(file)) return false;
  try {
    await fs.writeFile(file, text, { flag: 'wx', mode: 0o644 });
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    if (code === 'EEXIST') return false;
    throw new UserError(`cannot write ${file} (${code}), which keeps the folder out of git`, {
      hint: 'Fix the folder (disk space, permissions) and try again',
    });
  }
}

/** The state folder's `.gitignore`: whole when mlflow-secure made the folder or it holds only our entries. */
export async function ignoreStateDir(dir: string, madeNow: boolean): Promise<void> {
  if (await present(nodePath.join(dir, '.gitignore'))) return;
  const ours = madeNow || onlyStateEntries(await fs.readdir(dir));
  await writeGitignore(dir, ours ? IGNORE_STATE_DIR : ignoreStateEntries());
}

/** What git says of the state folder's entries: tracked ones, and untracked ones it does not ignore. */
export interface GitFindings {
  tracked: string[];
  unignored: string[];
}

/** Parses `git ls-files -z -t --cached --others`: `H path` tracked, `? path` untracked and not ignored. Pure. */
export function parseLsFiles(stdout: string): GitFindings {
  const found: GitFindings = { tracked: [], unignored: [] };
  for (const item of stdout.split('\0')) {
    const m = /^(\S) (.+)$/s.exec(item);
    if (!m) continue;
    (m[1] === '?' ? found.unignored : found.tracked).push(m[2]!);
  }
  return found;
}

/** Is `dir` (or a folder above it) a git work tree? Only stats: no git is started outside one. */
async function inWorkTree(dir: string): Promise<boolean> {
  for (let p = nodePath.resolve(dir), depth = 0; depth < 256; depth++) {
    if (
      await fs.lstat(nodePath.join(p, '.git')).then(
        () => true,
        () => false,
      )
    )
      return true;
    const parent = nodePath.dirname(p);
    if (parent === p) return false;
    p = parent;
  }
  return false;
}

export type Run = (
  file: string,
  args: readonly string[],
  o: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number },
) => Promise<{ exitCode?: number; stdout: string }>;

/**
 * Asks git which of the state folder's entries it tracks or would add. Undefined outside a work
 * tree, without git, or when git fails or is slow (5 s): this check never stops a command. One
 * git start (about 5 ms); none at all outside a repository (GIT_DIR aside). core.fsmonitor is
 * off because a cloned repository's own config could name a program for git to run.
 */
export async function stateFilesInGit(
  dir: string,
  env: NodeJS.ProcessEnv,
  platform: Platform,
  run?: Run,
): Promise<GitFindings | undefined> {
  if (env.GIT_DIR === undefined && !(await inWorkTree(dir))) return undefined;
  const git = await (await import('../system/tools.js')).findGit(env, platform);
  if (git === undefined) return undefined;
  const runOnce = run ?? (await import('../system/run-once.js')).runOnce;
  const r = await runOnce(
    git,
    [
      '-c',
      'core.fsmonitor=false',
      '--literal-pathspecs',
      'ls-files',
      '-z',
      '-t',
      '--cached',
      '--others',
      '--exclude-standard',
      '--',
      ...STATE_ENTRIES,
    ],
    { cwd: dir, env, timeoutMs: 5_000 },
  ).catch(() => undefined);
  if (r?.exitCode !== 0) return undefined;
  return parseLsFiles(r.stdout);
}

const listed = (names: readonly string[]) =>
  names.length <= 3 ? names.join(', ') : `${names.slice(0, 3).join(', ')} and ${names.length - 3} more`;

/**
 * One warning line per finding. Pure. `quote` makes a shell word (invocation.ts's shellWord). The
 * untrack command names only our entries: the folder may hold the user's own files too.
 */
export function gitWarnings(dir: string, found: GitFindings | undefined, quote: (s: string) => string): string[] {
  if (!found) return [];
  const lines: string[] = [];
  if (found.tracked.length > 0) {
    const tops = [...new Set(found.tracked.map((p) => p.split('/')[0]!))];
    lines.push(
      `git tracks ${listed(found.tracked)} in the state folder ${dir}, which holds the password, its hashes and keys: untrack them with git -C ${quote(dir)} rm -r -q --cached -- ${tops.map(quote).join(' ')} and commit; if they were ever pushed, change the passwords`,
    );
  }
  if (found.unignored.length > 0)
    lines.push(
      `git would add ${listed(found.unignored)} from the state folder ${dir} (its .gitignore does not cover them): list them in ${nodePath.join(dir, '.gitignore')}`,
    );
  return lines;
}

/** The warning lines for a state folder (none outside git); never rejects. */
export async function stateDirGitWarnings(
  dir: string,
  ctx: { env: NodeJS.ProcessEnv; platform: Platform },
): Promise<string[]> {
  const found = await stateFilesInGit(dir, ctx.env, ctx.platform).catch(() => undefined);
  return gitWarnings(dir, found, (s) => shellWord(s, ctx.platform));
}
