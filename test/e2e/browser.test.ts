/**
 * The MLflow UI in a real browser through the proxy: Debian's Chromium, headless, driven by
 * playwright-core (which brings no browser of its own). With credentials the app renders, asks
 * users/current and shows the signed-in name, and no request to the stack fails; without them the
 * page gets nginx's 401. Skipped, saying why, where no chromium is on PATH; .ci/run installs it.
 */
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Response } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, readStackRecord, removeDir, tempDir, waitForNoStackProcesses } from './helpers.js';

const PASSWORD = `e2e-${Math.random().toString(36).slice(2)}-Br'"$x`;

/** Debian names it chromium, Ubuntu and others chromium-browser. */
async function findChromium(): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    for (const name of ['chromium', 'chromium-browser']) {
      const file = path.join(dir, name);
      if (
        await access(file, constants.X_OK).then(
          () => true,
          () => false,
        )
      )
        return file;
    }
  }
  return undefined;
}

const executablePath = await findChromium();
const reason = executablePath
  ? undefined
  : 'no chromium or chromium-browser on PATH (Debian: apt-get install chromium)';
if (reason) console.warn(`SKIPPED browser tests: ${reason}`);

interface Seen {
  status: number;
  method: string;
  url: string;
}

/** Every answer the page got from the stack, and every request to it that got none. */
function watch(
  context: BrowserContext,
  origin: string,
): { answers: Seen[]; failures: string[]; currentUser: Promise<Response> } {
  const answers: Seen[] = [];
  const failures: string[] = [];
  const mine = (u: string) => new URL(u).origin === origin;
  context.on('response', (r) => {
    if (mine(r.url())) answers.push({ status: r.status(), method: r.request().method(), url: r.url() });
  });
  context.on('requestfailed', (r) => {
    if (mine(r.url())) failures.push(`${r.method()} ${r.url()}: ${r.failure()?.errorText ?? '?'}`);
  });
  const currentUser = context.waitForEvent('response', {
    predicate: (r) => new URL(r.url()).pathname.endsWith('/ajax-api/2.0/mlflow/users/current'),
    timeout: 60_000,
  });
  return { answers, failures, currentUser };
}

describe.skipIf(reason !== undefined)(
  `the MLflow UI in headless Chromium through the proxy${reason ? ` (skipped: ${reason})` : ''}`,
  () => {
    let cwd: string;
    let stateDir: string;
    let url: string;
    let groups: number[] = [];
    let browser: Browser | undefined;

    beforeAll(async () => {
      cwd = await tempDir();
      stateDir = path.join(cwd, '.mlflow-secure');
      const r = await cli(['up', '-d', '--port', 'auto'], { cwd, env: { MLFLOW_SECURE_PASSWORD: PASSWORD } });
      expect(r.exitCode, r.stderr).toBe(0);
      const record = await readStackRecord(stateDir);
      groups = [record.mlflow.pid, record.nginx.pid];
      url = record.url;
      // chromiumSandbox off: Chromium's sandbox refuses to run as root, which CI is.
      browser = await chromium.launch({ executablePath, headless: true, chromiumSandbox: false, timeout: 60_000 });
    });

    afterAll(async () => {
      await browser?.close();
      if (cwd) {
        await cli(['down'], { cwd });
        expect(await waitForNoStackProcesses(stateDir, groups)).toEqual([]);
        await removeDir(cwd);
      }
    });

    const signIn = async (username: string, password: string) => {
      const context = await browser!.newContext({ httpCredentials: { username, password } });
      const seen = watch(context, new URL(url).origin);
      const page = await context.newPage();
      const started = Date.now();
      const res = await page.goto(url, { waitUntil: 'load', timeout: 120_000 });
      expect(res?.status()).toBe(200);
      // Fails fast on a 404 here rather than waiting below for a menu that never comes.
      const current = await seen.currentUser;
      expect(current.status(), 'users/current').toBe(200);
      // The app has rendered once it shows the account menu (drawn only from a users/current answer
      // with a user in it) and the experiments list (data from MLflow through the proxy).
      await page
        .getByRole('button', { name: `Account menu for ${username}` })
        .waitFor({ state: 'visible', timeout: 60_000 });
      await page
        .getByRole('link', { name: 'Default', exact: true })
        .first()
        .waitFor({ state: 'visible', timeout: 60_000 });
      const renderedMs = Date.now() - started;
      return { context, page, seen, current, renderedMs };
    };

    it('renders the UI, gets 200 and the signed-in name from users/current, and no request to the stack fails', async () => {
      const { context, page, seen, current, renderedMs } = await signIn('admin', PASSWORD);
      console.log(`browser: the UI rendered in ${renderedMs} ms`);
      expect(current.headers()['content-type']).toBe('application/json');
      expect(await current.json()).toEqual({
        user: { id: 0, username: 'admin', is_admin: false },
        is_basic_auth: false,
      });
      // Let requests the render set off come back, then read the whole log.
      await page.waitForTimeout(2_000);
      expect(
        seen.answers.filter((a) => a.url.includes('/ajax-api/')).length,
        'API calls made by the app',
      ).toBeGreaterThanOrEqual(3);
      expect(seen.answers.filter((a) => a.status === 404 || a.status >= 500)).toEqual([]);
      expect(seen.answers.filter((a) => a.status === 401)).toEqual([]);
      expect(seen.failures).toEqual([]);
      await expect(page.getByRole('button', { name: 'Account menu for admin' }).innerText()).resolves.toContain(
        'admin',
      );
      await context.close();
    });

    it('names a user added with `user add` while the stack runs', async () => {
      const add = await cli(['user', 'add', 'carol', '--password-stdin'], { cwd, input: 'carol-Secret-123\n' });
      expect(add.exitCode, add.stderr).toBe(0);
      const { context, seen, current } = await signIn('carol', 'carol-Secret-123');
      expect(await current.json()).toEqual({
        user: { id: 0, username: 'carol', is_admin: false },
        is_basic_auth: false,
      });
      expect(seen.answers.filter((a) => a.status === 404 || a.status >= 500)).toEqual([]);
      await context.close();
    });

    it('gets 401 without credentials or with a wrong password, and nothing of the app', async () => {
      for (const credentials of [undefined, { username: 'admin', password: 'wrong-password' }]) {
        const context = await browser!.newContext(credentials ? { httpCredentials: credentials } : {});
        const seen = watch(context, new URL(url).origin);
        seen.currentUser.catch(() => undefined);
        const page = await context.newPage();
        // Chromium without credentials to offer ends the navigation with ERR_INVALID_AUTH_CREDENTIALS;
        // with wrong ones it shows nginx's 401 page.
        const res = await page.goto(url, { waitUntil: 'load', timeout: 60_000 }).catch((e: Error) => e);
        if (res instanceof Error) expect(res.message).toContain('ERR_INVALID_AUTH_CREDENTIALS');
        else expect(res?.status()).toBe(401);
        expect(seen.answers.map((a) => [a.method, new URL(a.url).pathname, a.status])).toEqual([['GET', '/', 401]]);
        expect(await page.locator('script').count()).toBe(0);
        await context.close();
      }
    });
  },
);
