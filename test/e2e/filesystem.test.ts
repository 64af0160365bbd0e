/**
 * The state folder on a real file system, through the built CLI: owner-only, never followed
 * through links, one writer at a time, and every failure one line at once. No MLflow needed.
 */
import { chmod, mkdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseHtpasswd, verifyPassword } from '../../src/users/htpasswd.js';
import { cli, removeDir, tempDir } from './helpers.js';

/** The one `error:` line of a failure, and nothing else on stderr. */
function onlyErrorLine(stderr: string): string {
  const lines = stderr.split('\n').filter((l) => l.trim() !== '');
  expect(lines, stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^error: /);
  return lines[0]!;
}

describe.runIf(process.platform !== 'win32')('the state folder on disk', () => {
  let cwd: string;
  let stateDir: string;

  beforeEach(async () => {
    cwd = await tempDir();
    stateDir = path.join(cwd, '.mlflow-secure');
  });
  afterEach(async () => {
    await removeDir(cwd);
  });

  it('20 concurrent `user add` against one state folder keep all 20 users, each with its password', async () => {
    const password = (i: number) => `password-${i}-${'x'.repeat(i)}`;
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        cli(['user', 'add', `u${i}`], { cwd, env: { MLFLOW_SECURE_PASSWORD: password(i) }, timeoutMs: 60_000 }),
      ),
    );
    for (const r of results) expect(r.exitCode, r.stderr).toBe(0);
    const entries = parseHtpasswd(await readFile(path.join(stateDir, 'htpasswd'), 'utf8'));
    expect(entries.map((e) => e.user).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `u${i}`).sort());
    for (const [i, name] of Array.from({ length: 20 }, (_, k) => [k, `u${k}`] as const)) {
      expect(verifyPassword(password(i), entries.find((e) => e.user === name)!.hash), name).toBe(true);
    }
    expect((await stat(stateDir)).mode & 0o777).toBe(0o700);
    expect((await stat(path.join(stateDir, 'htpasswd'))).mode & 0o777).toBe(0o600);
  });

  it('`user add --state-dir /proc/forbidden` ends at once with one line (it used to spin forever)', async () => {
    if (process.platform !== 'linux') return;
    const started = Date.now();
    const r = await cli(['user', 'add', 'x', '--state-dir', '/proc/forbidden'], {
      cwd,
      env: { MLFLOW_SECURE_PASSWORD: 'secret-pw-123' },
      timeoutMs: 10_000,
    });
    expect(Date.now() - started).toBeLessThan(8000);
    expect(r.exitCode, r.stderr).toBe(1);
    expect(onlyErrorLine(r.stderr)).toMatch(
      /^error: cannot write to state folder \/proc\/forbidden \(E[A-Z]+\)\. Choose a folder you can write to/,
    );
    expect(r.stderr).not.toContain('secret-pw-123');
  });

  it('`user add` with htpasswd -> a secret file refuses it and copies none of its lines', async () => {
    // A temp file stands in for /etc/shadow; the real one is never read.
    const shadow = path.join(cwd, 'shadow');
    const secret = 'root:$6$saltsalt$notarealhash:19000:0:99999:7:::\n';
    await writeFile(shadow, secret, { mode: 0o600 });
    await mkdir(stateDir, { mode: 0o700 });
    await symlink(shadow, path.join(stateDir, 'htpasswd'));
    const r = await cli(['user', 'add', 'eve'], { cwd, env: { MLFLOW_SECURE_PASSWORD: 'secret-pw-123' } });
    expect(r.exitCode).toBe(1);
    expect(onlyErrorLine(r.stderr)).toContain(
      `${path.join(stateDir, 'htpasswd')} is a symbolic link, not a regular file`,
    );
    expect(r.stderr + r.stdout).not.toContain('root:');
    expect(await readFile(shadow, 'utf8')).toBe(secret);
    const list = await cli(['user', 'list'], { cwd });
    expect(list.exitCode).toBe(1);
    expect(onlyErrorLine(list.stderr)).toContain('is a symbolic link');
  });

  it('refuses a state folder others can write to, with what to do', async () => {
    await mkdir(stateDir);
    await chmod(stateDir, 0o777);
    for (const args of [
      ['user', 'list'],
      ['user', 'add', 'ana'],
    ]) {
      const r = await cli(args, { cwd, env: { MLFLOW_SECURE_PASSWORD: 'secret-pw-123' } });
      expect(r.exitCode, args.join(' ')).toBe(1);
      expect(onlyErrorLine(r.stderr)).toBe(
        `error: the state folder ${stateDir} is writable by other users (mode 777). Run chmod 700 ${stateDir}, or choose another --state-dir`,
      );
    }
    expect((await stat(stateDir)).mode & 0o777).toBe(0o777);
  });

  it('tightens a 0755 state folder an older version made, and works', async () => {
    await mkdir(stateDir);
    await chmod(stateDir, 0o755);
    const r = await cli(['user', 'add', 'ana'], { cwd, env: { MLFLOW_SECURE_PASSWORD: 'secret-pw-123' } });
    expect(r.exitCode, r.stderr).toBe(0);
    expect((await stat(stateDir)).mode & 0o777).toBe(0o700);
  });

  it.runIf(process.getuid?.() === 0)('refuses a state folder that belongs to another user', async () => {
    const { chown } = await import('node:fs/promises');
    await mkdir(stateDir, { mode: 0o700 });
    await chown(stateDir, 12345, 12345);
    const r = await cli(['user', 'add', 'ana'], { cwd, env: { MLFLOW_SECURE_PASSWORD: 'secret-pw-123' } });
    expect(r.exitCode).toBe(1);
    expect(onlyErrorLine(r.stderr)).toContain(`the state folder ${stateDir} belongs to another user (uid 12345`);
  });

  it('refuses `$` in the state folder path before writing anything', async () => {
    const r = await cli(['user', 'add', 'ana', '--state-dir', 'st$http_x'], {
      cwd,
      env: { MLFLOW_SECURE_PASSWORD: 'secret-pw-123' },
    });
    expect(r.exitCode).toBe(1);
    expect(onlyErrorLine(r.stderr)).toContain(
      `--state-dir must not contain '$' or control characters, got "st$http_x"`,
    );
    await expect(stat(path.join(cwd, 'st$http_x'))).rejects.toThrow(/ENOENT/);
  });
});
