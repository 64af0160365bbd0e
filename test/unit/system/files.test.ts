/**
 * The state folder's checks, reads that never follow a link, and the state lock. These touch a
 * real file system, in temp folders only.
 */
import { execFileSync } from 'node:child_process';
import { chmod, chown, lstat, mkdir, mkdtemp, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UserError } from '../../../src/errors.js';
import { checkStateFiles, readTextIfExists } from '../../../src/system/files.js';
import { checkStateDir, ensureStateDir, ensureWritableDirs } from '../../../src/system/folders.js';
import { withStateLock } from '../../../src/system/lock.js';
import { getPlatform } from '../../../src/system/platform.js';
import { readUsers } from '../../../src/users/password-file.js';

const linux = getPlatform('linux');
const win32 = getPlatform('win32');
const posix = process.platform !== 'win32';
const isRoot = process.getuid?.() === 0;

/** The UserError `promise` rejects with, or a failed expectation. */
async function userErrorOf(promise: Promise<unknown>): Promise<UserError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(UserError);
    const e = error as UserError;
    expect(`${e.message}. ${e.hint ?? ''}`).not.toContain('\n');
    return e;
  }
  throw new Error('expected a UserError');
}

const modeOf = async (p: string) => (await stat(p)).mode & 0o777;

let tmp: string;
beforeEach(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'mlflow-secure-files-'));
});
afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe.runIf(posix)('ensureStateDir', () => {
  it('creates the state folder and its sub-folders owner-only (0700) and returns what it created', async () => {
    const dir = path.join(tmp, 'a', 'b', '.mlflow-secure');
    const subs = [path.join(dir, 'logs'), path.join(dir, 'nginx', 'temp', 'proxy')];
    const created = await ensureStateDir(dir, subs, linux);
    expect(created).toEqual([path.join(tmp, 'a'), path.join(dir, 'logs'), path.join(dir, 'nginx')]);
    for (const p of [dir, ...subs, path.join(dir, 'nginx'), path.join(dir, 'nginx', 'temp')])
      expect(await modeOf(p), p).toBe(0o700);
    // A second run creates nothing.
    expect(await ensureStateDir(dir, subs, linux)).toEqual([]);
  });

  it('tightens a folder of ours that an older version made 0755, silently', async () => {
    const dir = path.join(tmp, 'state');
    await mkdir(dir);
    await chmod(dir, 0o755);
    expect(await ensureStateDir(dir, [], linux)).toEqual([]);
    expect(await modeOf(dir)).toBe(0o700);
  });

  it.each([0o775, 0o757, 0o777])('refuses a state folder writable by others (mode %o)', async (mode) => {
    const dir = path.join(tmp, 'state');
    await mkdir(dir);
    await chmod(dir, mode);
    const e = await userErrorOf(ensureStateDir(dir, [], linux));
    expect(e.message).toBe(`the state folder ${dir} is writable by other users (mode ${mode.toString(8)})`);
    expect(e.hint).toContain(`chmod 700 ${dir}`);
    expect(await modeOf(dir)).toBe(mode); // left as it was
  });

  it.runIf(isRoot)('refuses a state folder owned by another user', async () => {
    const dir = path.join(tmp, 'state');
    await mkdir(dir, { mode: 0o700 });
    await chown(dir, 12345, 12345);
    const e = await userErrorOf(ensureStateDir(dir, [], linux));
    expect(e.message).toContain('belongs to another user (uid 12345');
    expect(await userErrorOf(checkStateDir(dir, linux))).toBeInstanceOf(UserError);
  });

  it('refuses a state folder that is a symbolic link, even to a folder of ours', async () => {
    const real = path.join(tmp, 'real');
    await mkdir(real, { mode: 0o700 });
    const dir = path.join(tmp, 'state');
    await symlink(real, dir);
    expect((await userErrorOf(ensureStateDir(dir, [], linux))).message).toBe(
      `the state folder ${dir} is a symbolic link`,
    );
  });

  it('refuses a state folder that is a file', async () => {
    const dir = path.join(tmp, 'state');
    await writeFile(dir, 'x');
    expect((await userErrorOf(ensureStateDir(dir, [], linux))).message).toBe(`the state folder ${dir} is not a folder`);
  });

  it('refuses a sub-folder that is a link (logs/ -> elsewhere)', async () => {
    const dir = path.join(tmp, 'state');
    await mkdir(dir, { mode: 0o700 });
    await mkdir(path.join(tmp, 'elsewhere'));
    await symlink(path.join(tmp, 'elsewhere'), path.join(dir, 'logs'));
    const e = await userErrorOf(ensureStateDir(dir, [path.join(dir, 'logs')], linux));
    expect(e.message).toBe(`${path.join(dir, 'logs')} is a symbolic link, not a folder`);
  });

  it('on Windows skips the owner and mode checks (NTFS ACLs decide)', async () => {
    const dir = path.join(tmp, 'state');
    await mkdir(dir);
    await chmod(dir, 0o777);
    expect(await ensureStateDir(dir, [], win32)).toEqual([]);
    expect(await modeOf(dir)).toBe(0o777);
    expect(await checkStateDir(dir, win32)).toBe(true);
  });

  it(
    "ends at once, with one line, under /proc (Node's recursive mkdir spins there forever)",
    { timeout: 5000 },
    async () => {
      if (process.platform !== 'linux') return;
      const e = await userErrorOf(ensureStateDir('/proc/forbidden/state', [], linux));
      expect(e.message).toMatch(/^cannot write to state folder \/proc\/forbidden\/state \(E[A-Z]+\)$/);
      expect((await userErrorOf(ensureWritableDirs(['/proc/forbidden'], 'state'))).message).toMatch(
        /^cannot write to state folder \/proc\/forbidden \(E[A-Z]+\)$/,
      );
    },
  );

  it('ends with one line below a dangling link', async () => {
    await symlink(path.join(tmp, 'nowhere'), path.join(tmp, 'dangling'));
    const e = await userErrorOf(ensureStateDir(path.join(tmp, 'dangling', 'state'), [], linux));
    expect(e.message).toBe(`cannot write to state folder ${path.join(tmp, 'dangling', 'state')} (ENOENT)`);
  });

  it('refuses a sub-folder path that is a file', async () => {
    const dir = path.join(tmp, 'state');
    await mkdir(dir, { mode: 0o700 });
    await writeFile(path.join(dir, 'nginx'), '');
    const e = await userErrorOf(ensureStateDir(dir, [path.join(dir, 'nginx', 'logs')], linux));
    expect(e.message).toBe(`${path.join(dir, 'nginx')} is a file, not a folder`);
  });

  it('refuses to create anything under a file', async () => {
    await writeFile(path.join(tmp, 'file'), 'x');
    const e = await userErrorOf(ensureStateDir(path.join(tmp, 'file', 'state'), [], linux));
    // The wording errors.test.ts expects from `up --state-dir mlflow.db/state`.
    expect(e.message).toBe(`cannot write to state folder ${path.join(tmp, 'file', 'state')} (ENOTDIR)`);
    expect(e.hint).toBe(`Choose a folder you can write to: ${path.join(tmp, 'file')} is a file`);
  });
});

describe.runIf(posix)('checkStateDir (reading commands)', () => {
  it('is false when the folder does not exist, true for ours, and changes nothing', async () => {
    expect(await checkStateDir(path.join(tmp, 'missing'), linux)).toBe(false);
    const dir = path.join(tmp, 'state');
    await mkdir(dir);
    await chmod(dir, 0o755);
    expect(await checkStateDir(dir, linux)).toBe(true);
    expect(await modeOf(dir)).toBe(0o755);
  });

  it('refuses a group-writable folder and a link', async () => {
    const dir = path.join(tmp, 'state');
    await mkdir(dir);
    await chmod(dir, 0o770);
    expect((await userErrorOf(checkStateDir(dir, linux))).message).toContain('writable by other users (mode 770)');
    await symlink(dir, path.join(tmp, 'link'));
    expect((await userErrorOf(checkStateDir(path.join(tmp, 'link'), linux))).message).toContain('is a symbolic link');
  });
});

describe.runIf(posix)('reading state files never follows a link', () => {
  /** Stands in for /etc/shadow (the real one is never read). */
  const secret = 'root:$6$saltsalt$notarealhash:19000:0:99999:7:::\n';

  it('refuses htpasswd -> a secret file, naming the file and showing none of its lines', async () => {
    const shadow = path.join(tmp, 'shadow');
    await writeFile(shadow, secret, { mode: 0o600 });
    const htpasswd = path.join(tmp, 'htpasswd');
    await symlink(shadow, htpasswd);
    const e = await userErrorOf(readUsers(htpasswd));
    expect(e.message).toBe(`${htpasswd} is a symbolic link, not a regular file`);
    expect(`${e.message} ${e.hint}`).not.toContain('root');
    await userErrorOf(readTextIfExists(htpasswd));
  });

  it('refuses a folder and a FIFO (which would block a plain open forever)', { timeout: 5000 }, async () => {
    await mkdir(path.join(tmp, 'stack.json'));
    expect((await userErrorOf(readTextIfExists(path.join(tmp, 'stack.json')))).message).toContain(
      'is a folder, not a regular file',
    );
    const fifo = path.join(tmp, 'generated-password');
    execFileSync('mkfifo', [fifo]);
    expect((await userErrorOf(readTextIfExists(fifo))).message).toContain('is a device, FIFO or socket');
  });

  it('reads a regular file and gives undefined for a missing one', async () => {
    await writeFile(path.join(tmp, 'htpasswd'), 'a:b\n');
    expect(await readTextIfExists(path.join(tmp, 'htpasswd'))).toBe('a:b\n');
    expect(await readTextIfExists(path.join(tmp, 'missing'))).toBeUndefined();
    expect(await readTextIfExists(path.join(tmp, 'htpasswd', 'below-a-file'))).toBeUndefined();
  });

  it.runIf(!isRoot)('turns an unreadable file into one line', async () => {
    await writeFile(path.join(tmp, 'htpasswd'), 'a:b\n', { mode: 0o000 });
    expect((await userErrorOf(readTextIfExists(path.join(tmp, 'htpasswd')))).message).toContain('(EACCES)');
  });
});

describe.runIf(posix)('checkStateFiles', () => {
  it('refuses a log file that is a link (logs/mlflow.log -> ~/.bashrc) and leaves the target alone', async () => {
    const target = path.join(tmp, 'bashrc');
    await writeFile(target, 'export PATH\n');
    await mkdir(path.join(tmp, 'logs'));
    const log = path.join(tmp, 'logs', 'mlflow.log');
    await symlink(target, log);
    const e = await userErrorOf(checkStateFiles([path.join(tmp, 'missing.log'), log]));
    expect(e.message).toBe(`${log} is a symbolic link, not a regular file`);
    expect(await readFile(target, 'utf8')).toBe('export PATH\n');
  });

  it('accepts regular files and missing ones; refuses a folder', async () => {
    await writeFile(path.join(tmp, 'a.log'), '');
    await checkStateFiles([path.join(tmp, 'a.log'), path.join(tmp, 'missing.log'), path.join(tmp, 'no', 'such.pid')]);
    await mkdir(path.join(tmp, 'nginx.pid'));
    expect((await userErrorOf(checkStateFiles([path.join(tmp, 'nginx.pid')]))).message).toContain('is a folder');
  });
});

describe('withStateLock', () => {
  it('lets one caller at a time run (no lost update in a read-modify-write)', async () => {
    const file = path.join(tmp, 'counter');
    await writeFile(file, '0');
    const bump = () =>
      withStateLock(tmp, async () => {
        const n = Number(await readFile(file, 'utf8'));
        await new Promise((r) => setTimeout(r, 5));
        await writeFile(file, String(n + 1));
      });
    await Promise.all(Array.from({ length: 10 }, bump));
    expect(await readFile(file, 'utf8')).toBe('10');
    await expect(lstat(path.join(tmp, 'lock'))).rejects.toThrow(/ENOENT/); // released
  });

  it('gives up at its deadline with one line when another command holds the lock', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const holder = withStateLock(tmp, () => held);
    await new Promise((r) => setTimeout(r, 50));
    const started = Date.now();
    const e = await userErrorOf(withStateLock(tmp, async () => 'never', { timeoutMs: 400 }));
    expect(Date.now() - started).toBeLessThan(2000);
    expect(e.message).toBe(`another mlflow-secure command is changing ${tmp}`);
    expect(e.hint).toMatch(/^Wait for it and try again/);
    release();
    await holder;
  });

  it('takes over a lock left by a crashed command once it is stale', async () => {
    const lock = path.join(tmp, 'lock');
    await mkdir(lock);
    const old = new Date(Date.now() - 60_000);
    await utimes(lock, old, old);
    expect(await withStateLock(tmp, async () => 'ran', { timeoutMs: 1000 })).toBe('ran');
  });

  it("passes fn's error through and releases the lock", async () => {
    await expect(withStateLock(tmp, async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await withStateLock(tmp, async () => 1, { timeoutMs: 500 })).toBe(1);
  });

  it('says so in one line when the state folder does not exist', async () => {
    const e = await userErrorOf(withStateLock(path.join(tmp, 'missing'), async () => 1));
    expect(e.message).toBe(`cannot lock the state folder ${path.join(tmp, 'missing')} (ENOENT)`);
  });
});

describe('secrets a stranger could have planted', () => {
  let tmp: string;
  beforeEach(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'mlflow-secure-planted-'));
  });
  afterEach(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it.runIf(posix)(
    'refuses a password file others may read or write (a cloned repository ships 0644), and one of another user',
    async () => {
      const file = path.join(tmp, 'htpasswd');
      await writeFile(file, 'backdoor:{PLAIN}letmein\n', { mode: 0o644 });
      await chmod(file, 0o644);
      expect((await userErrorOf(readUsers(file))).message).toMatch(
        /is open to other users \(mode 0644\); mlflow-secure writes it owner-only/,
      );
      await chmod(file, 0o600);
      expect(await readUsers(file)).toEqual([{ user: 'backdoor', hash: '{PLAIN}letmein' }]);
      if (isRoot) {
        await chown(file, 65534, 65534);
        expect((await userErrorOf(readUsers(file))).message).toMatch(/belongs to another user \(uid 65534\)/);
      }
    },
  );

  it('reads only the end of a very large log', async () => {
    const { tailFile } = await import('../../../src/system/files.js');
    const file = path.join(tmp, 'big.log');
    // 6 MiB of lines, more than tailFile reads: the last lines still come back whole.
    const line = `${'x'.repeat(1023)}\n`;
    await writeFile(file, line.repeat(6 * 1024) + 'last line\n');
    expect((await tailFile(file, 2)).split('\n')).toEqual([line.trimEnd(), 'last line']);
  });

  it('refuses a bcrypt hash whose cost would take hours, at once', async () => {
    const { verifyPassword } = await import('../../../src/users/htpasswd.js');
    const started = Date.now();
    expect(() => verifyPassword('whatever1', '$2b$31$abcdefghijklmnopqrstuu5Hq2c6bWQ0ZGq0M5G8rW2gQq9bZ7zMe')).toThrow(
      /has cost 31, above 14/,
    );
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});

describe('checkCreatable', () => {
  it.runIf(process.platform === 'linux')(
    'refuses a store under /proc even as root (access() says yes there), with one line',
    async () => {
      const { checkCreatable } = await import('../../../src/system/folders.js');
      const e = await userErrorOf(checkCreatable('/proc/x/mlflow.db', 'backend store'));
      expect(e.message).toMatch(
        /cannot create the backend store at \/proc\/x\/mlflow\.db: nothing can be created in \/proc/,
      );
    },
  );
});
