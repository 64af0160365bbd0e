/**
 * What the Windows lab (a real nginx.exe under Wine) found, with Windows-shaped inputs injected:
 * a rename over a file nginx.exe is reading fails with EPERM now and then; the pid file ends in
 * CRLF; nginx for Windows serves with one worker.
 */
import { mkdtemp, readdir, readFile, rename, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { UserError } from '../../../src/errors.js';
import { RENAME_RETRY_MS, renameWithRetry, writeFileAtomic } from '../../../src/system/files.js';
import { parseNginxPidFile } from '../../../src/nginx/conf.js';
import { buildPlan, type Found } from '../../../src/stack/plan.js';
import { resolveSettings } from '../../../src/stack/settings.js';
import { getPlatform } from '../../../src/system/platform.js';
import { commandLineMatches } from '../../../src/system/processes.js';
import { nginxTarget } from '../../../src/stack/targets.js';

const errno = (code: string) => Object.assign(new Error(`${code}: operation not permitted, rename`), { code });

/** A rename that fails with `code` `times` times, then renames for real; counts calls and the time slept. */
function flakyRename(times: number, code = 'EPERM') {
  const state = { calls: 0, slept: 0 };
  return {
    state,
    rename: async (from: string, to: string) => {
      state.calls++;
      if (state.calls <= times) throw errno(code);
      await rename(from, to);
    },
    sleep: async (ms: number) => {
      state.slept += ms;
    },
  };
}

describe('atomic writes on Windows survive a transient EPERM/EACCES/EBUSY on rename', () => {
  let dir: string;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it.each(['EPERM', 'EACCES', 'EBUSY'])(
    '%s 6 times, then the rename goes through; no temp file is left',
    async (code) => {
      dir = await mkdtemp(path.join(os.tmpdir(), 'rename-retry-'));
      const file = path.join(dir, 'htpasswd');
      const flaky = flakyRename(6, code);
      const retries: string[] = [];
      await writeFileAtomic(file, 'ana:$apr1$x$y\n', 0o600, {
        windows: true,
        rename: flaky.rename,
        sleep: flaky.sleep,
        onRetry: (c, n) => retries.push(`${c}#${n}`),
      });
      expect(await readFile(file, 'utf8')).toBe('ana:$apr1$x$y\n');
      expect(flaky.state.calls).toBe(7);
      expect(retries).toEqual([1, 2, 3, 4, 5, 6].map((n) => `${code}#${n}`));
      // The backoff: 10, 20, 40, 80, 160, 320 ms.
      expect(flaky.state.slept).toBe(630);
      expect(await readdir(dir)).toEqual(['htpasswd']);
    },
  );

  it('gives up after the bound with one line naming the file and the code, and removes its temp file', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'rename-retry-'));
    const file = path.join(dir, 'stack.json');
    const flaky = flakyRename(Number.POSITIVE_INFINITY);
    const error = await writeFileAtomic(file, '{}\n', 0o600, {
      windows: true,
      rename: flaky.rename,
      sleep: flaky.sleep,
      onRetry: () => undefined,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).message).toBe(`cannot replace ${file}: Windows kept it locked for 10 s (EPERM)`);
    expect((error as UserError).hint).toMatch(/^Another program holds it open/);
    expect(flaky.state.slept).toBe(RENAME_RETRY_MS);
    // 10 ms doubling to 500 ms, then 500 ms steps: bounded in attempts as well as time.
    expect(flaky.state.calls).toBeLessThan(30);
    expect(await readdir(dir)).toEqual([]);
  });

  it('POSIX (and any other code on Windows) fails at once, as before', async () => {
    for (const [windows, code] of [
      [false, 'EPERM'],
      [true, 'EXDEV'],
      [true, 'ENOENT'],
    ] as const) {
      const flaky = flakyRename(1, code);
      await expect(
        renameWithRetry('/nowhere/a', '/nowhere/b', { windows, rename: flaky.rename, sleep: flaky.sleep }),
      ).rejects.toMatchObject({ code });
      expect(flaky.state.calls).toBe(1);
      expect(flaky.state.slept).toBe(0);
    }
  });
});

describe("nginx's pid file", () => {
  it('reads `<pid>\\r\\n` (nginx.exe) and `<pid>\\n` (POSIX)', () => {
    expect(parseNginxPidFile('32\r\n')).toBe(32);
    expect(parseNginxPidFile('4242\n')).toBe(4242);
  });
  it.each(['', '32', ' 32\r\n', '32\r\n\r\n', '32\n\n', '0\n', '-1\n', '12abc\n', '032\n', '99999999999\n', '3 2\n'])(
    'refuses %j',
    (text) => {
      expect(parseNginxPidFile(text)).toBeUndefined();
    },
  );
});

describe('nginx workers on Windows', () => {
  const found: Found = {
    mlflow: { file: 'mlflow.exe', args: [] },
    nginx: 'C:\\nginx\\nginx.exe',
    nginxVersion: [1, 22, 1],
    mlflowPort: 5101,
    listenPort: 5000,
    who: { uid: -1, username: 'ana' },
  };
  const confFor = (name: 'win32' | 'linux', nginxWorkers?: string) => {
    const platform = getPlatform(name);
    const cwd = platform.isWindows ? 'C:\\Users\\Ana\\proj' : '/home/ana/proj';
    return buildPlan(resolveSettings({ nginxWorkers }, { cwd, platform }), found, platform).nginx.conf;
  };
  it('one worker by default on Windows (nginx for Windows serves with one); Linux keeps its default', () => {
    expect(confFor('win32')).toMatch(/^worker_processes 1;$/m);
    expect(confFor('linux')).toMatch(/^worker_processes 2;$/m);
  });
  it('more only when asked', () => {
    expect(confFor('win32', '2')).toMatch(/^worker_processes 2;$/m);
  });
});

describe('nginx.exe and a non-ASCII state folder', () => {
  const win = getPlatform('win32');
  const linux = getPlatform('linux');
  const found: Found = {
    mlflow: { file: 'mlflow.exe', args: [] },
    nginx: 'C:\\nginx\\nginx.exe',
    nginxVersion: [1, 22, 1],
    mlflowPort: 5101,
    listenPort: 5000,
    who: { uid: -1, username: 'ana' },
  };
  const planIn = (platform: typeof win, stateDir: string) =>
    buildPlan(resolveSettings({ stateDir }, { cwd: stateDir, platform }), found, platform);

  it('an ASCII folder keeps absolute paths in argv and nginx.conf (as before)', () => {
    const plan = planIn(win, 'C:\\Users\\Ana Lopez\\proj\\.mlflow-secure');
    expect(plan.nginx.args).toEqual([
      '-p',
      'C:/Users/Ana Lopez/proj/.mlflow-secure/nginx/',
      '-c',
      'C:/Users/Ana Lopez/proj/.mlflow-secure/nginx.conf',
      '-e',
      'C:/Users/Ana Lopez/proj/.mlflow-secure/logs/nginx-error.log',
    ]);
    expect(plan.nginx.conf).toContain(
      'client_body_temp_path "C:/Users/Ana Lopez/proj/.mlflow-secure/nginx/temp/client_body";',
    );
    expect(nginxTarget(1234, plan.paths, win).identity).toEqual([
      '-c',
      'C:/Users/Ana Lopez/proj/.mlflow-secure/nginx.conf',
    ]);
  });

  it('a non-ASCII folder: argv relative to the prefix plus an ASCII id of the folder; ANSI-called paths relative', () => {
    const plan = planIn(win, 'C:\\Users\\Ana López\\proj\\.mlflow-secure');
    const id = plan.nginx.args.at(-1)!;
    expect(id).toMatch(/^env MLFLOW_SECURE_STATE_ID=[0-9a-f]{16};$/);
    expect(plan.nginx.args.slice(0, 7)).toEqual([
      '-p',
      './',
      '-c',
      '../nginx.conf',
      '-e',
      '../logs/nginx-error.log',
      '-g',
    ]);
    expect(plan.nginx.args.join(' ')).toMatch(/^[\x20-\x7e]+$/);
    const conf = plan.nginx.conf;
    expect(conf).toContain('pid "logs/nginx.pid";');
    expect(conf).toContain('error_log "../logs/nginx-error.log" warn;');
    expect(conf).toContain('access_log "../logs/nginx-access.log";');
    expect(conf).toContain('scgi_temp_path "temp/scgi";');
    expect(conf).toContain('auth_basic_user_file "C:/Users/Ana López/proj/.mlflow-secure/htpasswd";');
    // The identity names this folder: another folder's id differs.
    const target = nginxTarget(1234, plan.paths, win);
    expect(target.identity).toEqual(['-c', '../nginx.conf', id.slice(4)]);
    const other = planIn(win, 'C:\\Users\\Ana López\\other\\.mlflow-secure');
    expect(nginxTarget(1234, other.paths, win).identity).not.toEqual(target.identity);
    // As Windows quotes it on the command line, the identity matches.
    expect(
      commandLineMatches(
        `"C:\\nginx\\nginx.exe" -p ./ -c ../nginx.conf -e ../logs/nginx-error.log -g "${id}"`,
        target.identity,
      ),
    ).toBe(true);
  });

  it('POSIX is unchanged by a non-ASCII folder', () => {
    const plan = planIn(linux, '/home/ana/Ana López/.mlflow-secure');
    expect(plan.nginx.args.slice(0, 4)).toEqual([
      '-p',
      '/home/ana/Ana López/.mlflow-secure/nginx/',
      '-c',
      '/home/ana/Ana López/.mlflow-secure/nginx.conf',
    ]);
    expect(plan.nginx.conf).toContain('pid "/home/ana/Ana López/.mlflow-secure/nginx/logs/nginx.pid";');
  });
});
