/**
 * ~/.mlflow/credentials and .env files on a real file system (temp folders only): modes, links,
 * other users' files, where the home is on each platform, and git's verdict on a .env file.
 */
import { execFileSync } from 'node:child_process';
import {
  chmod,
  chown,
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readlink,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  forgetDotenv,
  forgetMlflowCredentials,
  gitWouldCommit,
  mlflowCredentialsFile,
  saveDotenv,
  saveMlflowCredentials,
} from '../../../src/credentials/files.js';
import { UserError } from '../../../src/errors.js';
import { getPlatform } from '../../../src/system/platform.js';
import { userErrorFrom } from '../user-error.js';

const linux = getPlatform('linux');
const win32 = getPlatform('win32');
const isRoot = process.getuid?.() === 0;
const PASSWORD = 'pw-%-secret-1234';

async function userErrorOf(promise: Promise<unknown>): Promise<UserError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(UserError);
    const e = error as UserError;
    expect(`${e.message}. ${e.hint ?? ''}`).not.toContain('\n');
    expect(`${e.message}. ${e.hint ?? ''}`).not.toContain(PASSWORD);
    return e;
  }
  throw new Error('expected a UserError');
}

const modeOf = async (p: string) => (await stat(p)).mode & 0o777;

let tmp: string;
let file: string;
beforeEach(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'mlflow-secure-creds-'));
  file = path.join(tmp, '.mlflow', 'credentials');
});
afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('mlflowCredentialsFile: where MLflow\'s client looks (Python\'s expanduser("~"))', () => {
  it('POSIX: $HOME', () => {
    expect(mlflowCredentialsFile({ HOME: '/home/ana' }, linux)).toBe('/home/ana/.mlflow/credentials');
  });

  it("POSIX without HOME: the account's home from the passwd entry", () => {
    expect(mlflowCredentialsFile({}, linux)).toBe(path.join(os.userInfo().homedir, '.mlflow', 'credentials'));
  });

  it('Windows: %USERPROFILE%, else %HOMEDRIVE%%HOMEPATH%, never $HOME', () => {
    expect(mlflowCredentialsFile({ USERPROFILE: 'C:\\Users\\ana', HOME: '/c/Users/ana' }, win32)).toBe(
      'C:\\Users\\ana\\.mlflow\\credentials',
    );
    expect(mlflowCredentialsFile({ HOMEDRIVE: 'D:', HOMEPATH: '\\Users\\ana' }, win32)).toBe(
      'D:\\Users\\ana\\.mlflow\\credentials',
    );
  });

  it('Windows with neither: one line naming USERPROFILE', () => {
    const e = userErrorFrom(() => mlflowCredentialsFile({ HOME: '/c/Users/ana' }, win32));
    expect(e.message).toBe('cannot tell where your home folder is (USERPROFILE is not set)');
  });
});

describe.runIf(process.platform !== 'win32')('saveMlflowCredentials / forgetMlflowCredentials', () => {
  it('creates ~/.mlflow owner-only (0700) and the file 0600, whatever the umask', async () => {
    const old = process.umask(0o000);
    try {
      const saved = await saveMlflowCredentials(file, 'admin', PASSWORD, linux);
      expect(saved).toEqual({ file, created: true });
    } finally {
      process.umask(old);
    }
    expect(await modeOf(path.dirname(file))).toBe(0o700);
    expect(await modeOf(file)).toBe(0o600);
    expect(await readFile(file, 'utf8')).toBe(
      '[mlflow]\nmlflow_tracking_username = admin\nmlflow_tracking_password = pw-%%-secret-1234\n',
    );
  });

  it('keeps the rest of an existing file, makes it 0600 and says it was readable by others', async () => {
    await mkdir(path.dirname(file));
    await writeFile(file, '[other]\nkey = value\n');
    await chmod(file, 0o644);
    const saved = await saveMlflowCredentials(file, 'admin', PASSWORD, linux);
    expect(saved).toEqual({ file, created: false, loosened: '0644' });
    expect(await modeOf(file)).toBe(0o600);
    expect(await readFile(file, 'utf8')).toMatch(/^\[other\]\nkey = value\n\n\[mlflow\]\n/);
    // Leaves an existing folder's mode alone (0755 is not writable by others).
    expect(await modeOf(path.dirname(file))).not.toBe(0);
  });

  it('says whose credentials it replaced', async () => {
    await saveMlflowCredentials(file, 'someone', 'other-password', linux);
    expect((await saveMlflowCredentials(file, 'admin', PASSWORD, linux)).previousUser).toBe('someone');
  });

  it('refuses a symbolic link in place of the file, and leaves it as it was', async () => {
    await mkdir(path.dirname(file), { mode: 0o700 });
    const target = path.join(tmp, 'elsewhere');
    await writeFile(target, '[mlflow]\n');
    await symlink(target, file);
    const e = await userErrorOf(saveMlflowCredentials(file, 'admin', PASSWORD, linux));
    expect(e.message).toBe(`${file} is a symbolic link, not a regular file`);
    expect(await readlink(file)).toBe(target);
    expect(await readFile(target, 'utf8')).toBe('[mlflow]\n');
    await userErrorOf(forgetMlflowCredentials(file, linux));
  });

  it('refuses a symbolic link in place of ~/.mlflow, and a folder others can write to', async () => {
    const real = path.join(tmp, 'real');
    await mkdir(real);
    await symlink(real, path.dirname(file));
    expect((await userErrorOf(saveMlflowCredentials(file, 'admin', PASSWORD, linux))).message).toBe(
      `${path.dirname(file)} is a symbolic link`,
    );
    await rm(path.dirname(file));
    await mkdir(path.dirname(file));
    await chmod(path.dirname(file), 0o777);
    expect((await userErrorOf(saveMlflowCredentials(file, 'admin', PASSWORD, linux))).message).toBe(
      `${path.dirname(file)} is writable by other users (mode 0777)`,
    );
    expect((await lstat(file).catch(() => undefined)) === undefined).toBe(true);
  });

  it.runIf(isRoot)("refuses another user's file and another user's ~/.mlflow", async () => {
    await mkdir(path.dirname(file), { mode: 0o700 });
    await writeFile(file, '[mlflow]\n', { mode: 0o600 });
    await chown(file, 65534, 65534);
    expect((await userErrorOf(saveMlflowCredentials(file, 'admin', PASSWORD, linux))).message).toMatch(
      /belongs to another user \(uid 65534\)/,
    );
    expect(await readFile(file, 'utf8')).toBe('[mlflow]\n');
    await rm(file);
    await chown(path.dirname(file), 65534, 65534);
    expect((await userErrorOf(saveMlflowCredentials(file, 'admin', PASSWORD, linux))).message).toMatch(
      /\.mlflow belongs to another user \(uid 65534, you are 0\)/,
    );
  });

  it('forget removes our keys, deletes the file when nothing else is left, and is idempotent', async () => {
    await mkdir(path.dirname(file), { mode: 0o700 });
    await writeFile(file, '[other]\nkey = value\n', { mode: 0o600 });
    await saveMlflowCredentials(file, 'admin', PASSWORD, linux);
    expect(await forgetMlflowCredentials(file, linux)).toEqual({
      file,
      existed: true,
      removed: ['mlflow_tracking_username', 'mlflow_tracking_password'],
      user: 'admin',
      deleted: false,
    });
    expect(await readFile(file, 'utf8')).toBe('[other]\nkey = value\n');
    expect(await forgetMlflowCredentials(file, linux)).toEqual({ file, existed: true, removed: [], deleted: false });
    await rm(file);
    await saveMlflowCredentials(file, 'admin', PASSWORD, linux);
    expect((await forgetMlflowCredentials(file, linux)).deleted).toBe(true);
    expect(await lstat(file).catch(() => 'gone')).toBe('gone');
    expect(await forgetMlflowCredentials(file, linux)).toEqual({ file, existed: false, removed: [], deleted: false });
  });
});

describe.runIf(process.platform !== 'win32')('saveDotenv / forgetDotenv', () => {
  const entries = [
    { key: 'MLFLOW_TRACKING_URI', value: 'http://127.0.0.1:5000', what: 'URI' },
    { key: 'MLFLOW_TRACKING_PASSWORD', value: PASSWORD, what: 'password' },
  ];

  it('writes owner-only, keeps other keys, and forgets only ours', async () => {
    const env = path.join(tmp, '.env');
    await writeFile(env, 'DEBUG=1\n');
    await chmod(env, 0o664);
    expect(await saveDotenv(env, entries, linux)).toEqual({ file: env, created: false, loosened: '0664' });
    expect(await modeOf(env)).toBe(0o600);
    expect(await readFile(env, 'utf8')).toBe(
      `DEBUG=1\nMLFLOW_TRACKING_URI='http://127.0.0.1:5000'\nMLFLOW_TRACKING_PASSWORD='${PASSWORD}'\n`,
    );
    const keys = entries.map((e) => e.key);
    expect(await forgetDotenv(env, keys, linux)).toEqual({ file: env, existed: true, removed: keys, deleted: false });
    expect(await readFile(env, 'utf8')).toBe('DEBUG=1\n');
    expect((await forgetDotenv(env, keys, linux)).removed).toEqual([]);
  });

  it('a folder that does not exist is one line, not a crash', async () => {
    const env = path.join(tmp, 'no-such-folder', '.env');
    expect((await userErrorOf(saveDotenv(env, entries, linux))).message).toBe(`cannot write ${env} (ENOENT)`);
  });

  it('refuses a symbolic link', async () => {
    const env = path.join(tmp, '.env');
    await writeFile(path.join(tmp, 'target'), 'A=1\n');
    await symlink(path.join(tmp, 'target'), env);
    expect((await userErrorOf(saveDotenv(env, entries, linux))).message).toBe(
      `${env} is a symbolic link, not a regular file`,
    );
    expect(await readFile(path.join(tmp, 'target'), 'utf8')).toBe('A=1\n');
  });
});

describe('gitWouldCommit', () => {
  const gitEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/nonexistent', GIT_CONFIG_NOSYSTEM: '1' };

  it('true for a file git would add, false once it is ignored, false outside a repository or without git', async () => {
    const repo = path.join(tmp, 'repo');
    await mkdir(repo);
    execFileSync('git', ['init', '-q', repo], { env: gitEnv });
    const env = path.join(repo, 'sub', '.env');
    await mkdir(path.dirname(env));
    expect(await gitWouldCommit(env, linux, gitEnv)).toBe(true);
    await writeFile(path.join(repo, '.gitignore'), '.env\n');
    expect(await gitWouldCommit(env, linux, gitEnv)).toBe(false);
    expect(await gitWouldCommit(path.join(tmp, '.env'), linux, gitEnv)).toBe(false);
    expect(await gitWouldCommit(env, linux, { ...gitEnv, PATH: path.join(tmp, 'no-such-bin') })).toBe(false);
  });

  it('does not run a program the repository configures as its fsmonitor', async () => {
    const repo = path.join(tmp, 'repo');
    await mkdir(repo);
    execFileSync('git', ['init', '-q', repo], { env: gitEnv });
    const marker = path.join(tmp, 'fsmonitor-ran');
    const hook = path.join(tmp, 'hook.sh');
    await writeFile(hook, `#!/bin/sh\ntouch ${marker}\n`, { mode: 0o755 });
    execFileSync('git', ['-C', repo, 'config', 'core.fsmonitor', hook], { env: gitEnv });
    execFileSync('git', ['-C', repo, 'commit', '-q', '--allow-empty', '-m', 'x'], {
      env: {
        ...gitEnv,
        GIT_AUTHOR_NAME: 'a',
        GIT_AUTHOR_EMAIL: 'a@b',
        GIT_COMMITTER_NAME: 'a',
        GIT_COMMITTER_EMAIL: 'a@b',
      },
    });
    await rm(marker, { force: true });
    expect(await gitWouldCommit(path.join(repo, '.env'), linux, gitEnv)).toBe(true);
    expect(await lstat(marker).catch(() => 'not run')).toBe('not run');
  });
});
