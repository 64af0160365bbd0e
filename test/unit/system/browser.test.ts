/**
 * openUrl's verdict from the launcher it started. The launchers here are real child processes
 * that exit like xdg-open does (0 opened, 3 no method, still running: waiting on the browser).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { checkWebUrl, openAfterUp, openUrl, type Launch } from '../../../src/system/browser.js';
import type { Context } from '../../../src/context.js';
import { UserError } from '../../../src/errors.js';
import { createOutput } from '../../../src/log.js';
import { getPlatform } from '../../../src/system/platform.js';
import { sink } from '../sink.js';
import { userErrorFrom } from '../user-error.js';

const URL_ = 'http://127.0.0.1:5000';

function context(platform: NodeJS.Platform, env: NodeJS.ProcessEnv = {}) {
  const stdout = sink();
  const stderr = sink();
  const ctx: Context = {
    cwd: '/',
    env,
    platform: getPlatform(platform),
    out: createOutput(stdout.stream, stderr.stream),
    stdin: process.stdin,
    stderr: stderr.stream,
  };
  return { ctx, stdout, stderr };
}

/** A launcher: `sh -c <script>` named like the real one, recording the URL it was given. */
function launcher(script: string, seen: string[] = []): Launch {
  return async (url) => {
    seen.push(url);
    const child = spawn('sh', ['-c', script], { stdio: 'ignore' });
    await once(child, 'spawn');
    return child;
  };
}

async function userErrorOf(promise: Promise<unknown>): Promise<UserError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(UserError);
    return error as UserError;
  }
  throw new Error('expected a UserError');
}

describe('checkWebUrl', () => {
  it('passes http(s) URLs on, normalised', () => {
    expect(checkWebUrl('http://127.0.0.1:5000')).toBe('http://127.0.0.1:5000/');
    expect(checkWebUrl('https://mlflow.example.test:8443')).toBe('https://mlflow.example.test:8443/');
  });

  it.each(['file:///etc/passwd', '/home/ana/evil.desktop', 'javascript:alert(1)', '--help', ''])(
    'refuses %j: the launcher would open files and programs too',
    (url) => {
      expect(userErrorFrom(() => checkWebUrl(url)).message).toMatch(/is not an http:\/\/ or https:\/\/ URL/);
    },
  );
});

describe('openUrl', () => {
  it('resolves when the launcher exits 0, after handing it the URL', async () => {
    const seen: string[] = [];
    await openUrl(URL_, context('linux').ctx, { launch: launcher('exit 0', seen) });
    expect(seen).toEqual([`${URL_}/`]);
  });

  it('resolves when the launcher is still running after the settle time (it waits on the browser it started)', async () => {
    let child: ChildProcess | undefined;
    const launch: Launch = async (url) => {
      child = await launcher('sleep 30')(url);
      return child;
    };
    const started = Date.now();
    await openUrl(URL_, context('linux').ctx, { launch, settleMs: 300 });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(child?.exitCode).toBeNull();
    child?.kill();
  });

  it('fails with one line carrying the URL when xdg-open finds no way (exit 3), naming the missing desktop', async () => {
    const e = await userErrorOf(openUrl(URL_, context('linux', {}).ctx, { launch: launcher('exit 3') }));
    expect(e.message).toBe(
      'no browser could be started (sh exited with code 3; neither DISPLAY nor WAYLAND_DISPLAY is set: no desktop in this session?)',
    );
    expect(e.hint).toBe(`Open ${URL_}/ in a browser yourself`);
  });

  it('leaves the desktop out when there is one, and on Windows and macOS', async () => {
    for (const [platform, env] of [
      ['linux', { DISPLAY: ':0' }],
      ['win32', {}],
      ['darwin', {}],
    ] as const) {
      const e = await userErrorOf(openUrl(URL_, context(platform, env).ctx, { launch: launcher('exit 4') }));
      expect(e.message).toBe('no browser could be started (sh exited with code 4)');
    }
  });

  it('fails with one line when the launcher cannot be started at all', async () => {
    const launch: Launch = () => Promise.reject(Object.assign(new Error('spawn xdg-open ENOENT'), { code: 'ENOENT' }));
    const e = await userErrorOf(openUrl(URL_, context('linux', { WAYLAND_DISPLAY: 'wayland-0' }).ctx, { launch }));
    expect(e.message).toBe('no browser could be started (spawn xdg-open ENOENT)');
  });

  it('never starts a launcher for a URL that is not http(s)', async () => {
    const seen: string[] = [];
    await userErrorOf(openUrl('file:///etc/passwd', context('linux').ctx, { launch: launcher('exit 0', seen) }));
    expect(seen).toEqual([]);
  });
});

describe('openAfterUp', () => {
  it('turns a failure into a warning: the stack is up whatever the browser does', async () => {
    const { ctx, stderr, stdout } = context('linux', {});
    // The real launcher (the `open` package's xdg-open), with no desktop and a browser that fails.
    const env: NodeJS.ProcessEnv = { ...process.env, BROWSER: 'false' };
    delete env.DISPLAY;
    delete env.WAYLAND_DISPLAY;
    const saved = process.env;
    process.env = env;
    try {
      await openAfterUp(URL_, ctx);
    } finally {
      process.env = saved;
    }
    expect(stderr.text()).toBe(
      `warning: no browser could be started (xdg-open exited with code 3; neither DISPLAY nor WAYLAND_DISPLAY is set: no desktop in this session?). Open ${URL_}/ in a browser yourself\n`,
    );
    expect(stdout.text()).toBe('');
  });
});
