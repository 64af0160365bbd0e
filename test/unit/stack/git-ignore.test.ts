/**
 * State folders and setup's venv stay out of the user's git: the `.gitignore` each gets, what is
 * left alone, and the warning for a state file git already tracks (real git, in temp folders).
 */
import { execFileSync } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ensureStateDir } from '../../../src/system/folders.js';
import {
  gitWarnings,
  IGNORE_STATE_DIR,
  ignoreStateEntries,
  onlyStateEntries,
  parseLsFiles,
  STATE_ENTRIES,
  stateFilesInGit,
  type Run,
} from '../../../src/stack/git-ignore.js';
import { getPlatform } from '../../../src/system/platform.js';
import { createOutput } from '../../../src/log.js';
import { ignoreVenv, installMlflow, venvIn } from '../../../src/setup/mlflow.js';
import type { Runner } from '../../../src/setup/runner.js';
import { sink } from '../sink.js';
import { gunicornSocketName, statePaths } from '../../../src/stack/state.js';
import { tlsPaths } from '../../../src/tls/plan.js';
import { authPaths } from '../../../src/stack/permissions.js';
import { TOKENS_FILE } from '../../../src/users/tokens.js';
import { mlflowWorkingDir } from '../../../src/stack/plan.js';

const linux = getPlatform('linux');
const win32 = getPlatform('win32');

let tmp: string;
beforeEach(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'mlflow-secure-gitignore-'));
});
afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const gitEnv = {
  ...process.env,
  GIT_AUTHOR_NAME: 't',
  GIT_AUTHOR_EMAIL: 't@example.com',
  GIT_COMMITTER_NAME: 't',
  GIT_COMMITTER_EMAIL: 't@example.com',
  GIT_CONFIG_NOSYSTEM: '1',
};
const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, env: gitEnv, encoding: 'utf8' });
const gitignoreOf = (dir: string) => readFile(path.join(dir, '.gitignore'), 'utf8');

describe('STATE_ENTRIES: every name at the top of a state folder', () => {
  it('covers the layout of state.ts, the tls/ folder, the auth files of --permissions and the tokens', () => {
    const dir = '/srv/state';
    const paths = statePaths(dir, linux);
    const tops = [
      ...Object.values(paths).flatMap((p: string | Record<string, string>) =>
        typeof p === 'string' ? [p] : Object.values(p),
      ),
      tlsPaths(dir, linux).dir,
      mlflowWorkingDir(dir, linux),
      path.join(dir, 'lock'),
      ...Object.values(authPaths(dir, linux)),
      path.join(dir, TOKENS_FILE),
    ]
      .filter((p) => p !== dir)
      .map((p) => path.relative(dir, p).split(path.sep)[0]!);
    expect(STATE_ENTRIES).toEqual(expect.arrayContaining([...new Set(tops)]));
  });
  it('a folder of only these (and leftover temp files) is ours; anything else is the user’s', () => {
    expect(onlyStateEntries([])).toBe(true);
    expect(onlyStateEntries(['htpasswd', 'logs', '.gitignore', 'stack.json.0123456789ab.tmp'])).toBe(true);
    expect(onlyStateEntries(['htpasswd', 'README.md'])).toBe(false);
    expect(onlyStateEntries(['htpasswd', 'notes.tmp'])).toBe(false);
    // gunicorn's socket (MLflow < 3.3): its name holds MLflow's port.
    expect(onlyStateEntries(['mlflow.sock', gunicornSocketName(5101)])).toBe(true);
    expect(onlyStateEntries(['mlflow-gunicorn.sock:x'])).toBe(false);
  });
});

describe('ensureStateDir writes a .gitignore', () => {
  it('a folder it makes ignores itself whole; git then lists nothing of it', async () => {
    git(tmp, 'init', '-q');
    const dir = path.join(tmp, '.mlflow-secure');
    await ensureStateDir(dir, [path.join(dir, 'logs')], linux);
    expect(await gitignoreOf(dir)).toBe(IGNORE_STATE_DIR);
    await writeFile(path.join(dir, 'generated-password'), 'x');
    await writeFile(path.join(dir, 'logs', 'mlflow.log'), 'x');
    expect(git(tmp, 'status', '--porcelain', '--untracked-files=all')).toBe('');
  });

  it('an existing state folder of an older version gets one at the next command; a second run changes nothing', async () => {
    const dir = path.join(tmp, 'state');
    await mkdir(path.join(dir, 'logs'), { recursive: true, mode: 0o700 });
    await writeFile(path.join(dir, 'htpasswd'), 'a:b\n', { mode: 0o600 });
    await ensureStateDir(dir, [], linux);
    expect(await gitignoreOf(dir)).toBe(IGNORE_STATE_DIR);
    await ensureStateDir(dir, [], win32);
    expect(await gitignoreOf(dir)).toBe(IGNORE_STATE_DIR);
  });

  it("a folder holding the user's own files: only mlflow-secure's entries, never `*`", async () => {
    git(tmp, 'init', '-q');
    await writeFile(path.join(tmp, 'train.py'), 'print(1)\n');
    await ensureStateDir(tmp, [], linux); // --state-dir .
    expect(await gitignoreOf(tmp)).toBe(ignoreStateEntries());
    await writeFile(path.join(tmp, 'htpasswd'), 'a:b\n');
    await mkdir(path.join(tmp, 'tls'));
    await writeFile(path.join(tmp, 'tls', 'ca-key.pem'), 'k');
    // gunicorn's socket name holds MLflow's port (a file stands in: git skips real sockets).
    await writeFile(path.join(tmp, gunicornSocketName(5101)), '');
    git(tmp, 'add', '-A');
    expect(git(tmp, 'diff', '--cached', '--name-only').split('\n').filter(Boolean).sort()).toEqual([
      '.gitignore',
      'train.py',
    ]);
  });

  it('never touches an existing .gitignore, even a link or a file it cannot read', async () => {
    const dir = path.join(tmp, 'state');
    await mkdir(dir, { mode: 0o700 });
    await writeFile(path.join(dir, '.gitignore'), 'mine\n');
    await ensureStateDir(dir, [], linux);
    expect(await gitignoreOf(dir)).toBe('mine\n');
    const other = path.join(tmp, 'other');
    await mkdir(other, { mode: 0o700 });
    await symlink(path.join(tmp, 'nowhere'), path.join(other, '.gitignore'));
    await ensureStateDir(other, [], linux);
    expect((await lstat(path.join(other, '.gitignore'))).isSymbolicLink()).toBe(true);
    expect(await readlink(path.join(other, '.gitignore'))).toBe(path.join(tmp, 'nowhere'));
  });
});

describe("setup's venv", () => {
  it('installMlflow leaves one in the venv it makes (Python 3.11 writes none)', async () => {
    const venv = venvIn(tmp, linux);
    const run: Runner = async (file, args) => {
      if (args[1] === 'venv') await mkdir(args.at(-1)!, { recursive: true });
      const stdout = file === venv.mlflow ? 'mlflow, version 3.17.2\n' : '';
      return { exitCode: 0, stdout, stderr: '' };
    };
    await installMlflow({
      venv,
      pin: { file: 'requirements.txt', text: 'mlflow==3.17.2\n', version: '3.17.2' },
      python: { file: '/usr/bin/python3.11', version: '3.11.7', via: 'python3' },
      platform: linux,
      run,
      out: createOutput(sink().stream, sink().stream),
    });
    expect(await gitignoreOf(venv.dir)).toMatch(/^# .*\n\*\n$/);
  });

  it('gets a `*` .gitignore when it has none; one Python 3.13 wrote is kept', async () => {
    const venv = venvIn(tmp, linux);
    await mkdir(venv.dir);
    await ignoreVenv(venv);
    expect(await gitignoreOf(venv.dir)).toMatch(/^# .*\n\*\n$/);
    await writeFile(path.join(venv.dir, '.gitignore'), '# Created by venv\n*\n');
    await ignoreVenv(venv);
    expect(await gitignoreOf(venv.dir)).toBe('# Created by venv\n*\n');
  });
});

describe('stateFilesInGit: what git tracks or would add', () => {
  it('outside a work tree, starts no git at all', async () => {
    const dir = path.join(tmp, 'state');
    await mkdir(dir);
    const run: Run = () => {
      throw new Error('git must not run here');
    };
    expect(await stateFilesInGit(dir, { PATH: process.env.PATH }, linux, run)).toBeUndefined();
  });

  it('in a repository: the tracked state files, and untracked ones its .gitignore lets through', async () => {
    git(tmp, 'init', '-q');
    const dir = path.join(tmp, '.mlflow-secure');
    await ensureStateDir(dir, [path.join(dir, 'logs')], linux);
    for (const f of ['htpasswd', 'generated-password', path.join('logs', 'mlflow.log')])
      await writeFile(path.join(dir, f), 'x');
    expect(await stateFilesInGit(dir, gitEnv, linux)).toEqual({ tracked: [], unignored: [] });
    git(tmp, 'add', '-f', '.mlflow-secure/htpasswd', '.mlflow-secure/logs/mlflow.log');
    git(tmp, 'commit', '-qm', 'oops');
    expect(await stateFilesInGit(dir, gitEnv, linux)).toEqual({
      tracked: ['htpasswd', 'logs/mlflow.log'],
      unignored: [],
    });
    // A user's .gitignore that names only some of them.
    await writeFile(path.join(dir, '.gitignore'), 'logs/\n');
    expect(await stateFilesInGit(dir, gitEnv, linux)).toEqual({
      tracked: ['htpasswd', 'logs/mlflow.log'],
      unignored: ['generated-password'],
    });
  });

  it('without git, or when git fails, says nothing', async () => {
    git(tmp, 'init', '-q');
    expect(await stateFilesInGit(tmp, { PATH: path.join(tmp, 'no-such-bin') }, linux)).toBeUndefined();
    const failing: Run = () => Promise.resolve({ exitCode: 128, stdout: '' });
    expect(await stateFilesInGit(tmp, gitEnv, linux, failing)).toBeUndefined();
  });

  // A relative PATH entry (here the repository itself) finds its `git` only through the folder
  // git runs in: that program is never run, and without another git nothing is said.
  it('runs git by its full path from PATH: never a git found through a relative PATH entry', async () => {
    git(tmp, 'init', '-q');
    const marker = path.join(tmp, 'planted-ran');
    await writeFile(path.join(tmp, 'git'), `#!/bin/sh\ntouch ${marker}\n`, { mode: 0o755 });
    const files: string[] = [];
    const run: Run = (file) => {
      files.push(file);
      return Promise.resolve({ exitCode: 0, stdout: '' });
    };
    expect(await stateFilesInGit(tmp, { ...gitEnv, PATH: `.:${process.env.PATH}` }, linux, run)).toEqual({
      tracked: [],
      unignored: [],
    });
    expect(files).toHaveLength(1);
    expect(path.isAbsolute(files[0]!)).toBe(true);
    expect(files[0]).not.toBe(path.join(tmp, 'git'));
    expect(await stateFilesInGit(tmp, { ...gitEnv, PATH: '.' }, linux)).toBeUndefined();
    await expect(lstat(marker)).rejects.toThrow();
  });

  it('turns off core.fsmonitor, which a cloned repository could point at a program', async () => {
    git(tmp, 'init', '-q');
    const marker = path.join(tmp, 'ran');
    git(tmp, 'config', 'core.fsmonitor', `touch ${marker}; false`);
    await stateFilesInGit(tmp, gitEnv, linux);
    await expect(lstat(marker)).rejects.toThrow();
  });
});

describe('gitWarnings', () => {
  const q = (s: string) => (/^[\w./-]+$/.test(s) ? s : `'${s}'`);
  it('one line for tracked files, with the command that untracks only our entries', () => {
    const lines = gitWarnings(
      '/p/my state',
      { tracked: ['htpasswd', 'logs/a.log', 'logs/b.log', 'tls/ca-key.pem'], unignored: [] },
      q,
    );
    expect(lines).toEqual([
      "git tracks htpasswd, logs/a.log, logs/b.log and 1 more in the state folder /p/my state, which holds the password, its hashes and keys: untrack them with git -C '/p/my state' rm -r -q --cached -- htpasswd logs tls and commit; if they were ever pushed, change the passwords",
    ]);
  });
  it('one line for files it would add; nothing when git said nothing', () => {
    expect(gitWarnings('/p/s', { tracked: [], unignored: ['generated-password'] }, q)).toEqual([
      'git would add generated-password from the state folder /p/s (its .gitignore does not cover them): list them in /p/s/.gitignore',
    ]);
    expect(gitWarnings('/p/s', undefined, q)).toEqual([]);
    expect(gitWarnings('/p/s', { tracked: [], unignored: [] }, q)).toEqual([]);
  });
  it('parses ls-files -z -t, names with spaces and newlines included', () => {
    expect(parseLsFiles('H htpasswd\0? logs/a b.log\0H logs/x\ny\0')).toEqual({
      tracked: ['htpasswd', 'logs/x\ny'],
      unignored: ['logs/a b.log'],
    });
    expect(parseLsFiles('')).toEqual({ tracked: [], unignored: [] });
  });
});
