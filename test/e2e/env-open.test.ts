/**
 * Credentials that stay (`env --save`, `--dotenv`, `--forget`) and the browser (`open`,
 * `up --open`) on one real stack. The real MLflow Python client logs in with only
 * MLFLOW_TRACKING_URI in its environment, from ~/.mlflow/credentials (HOME is a temp folder) or
 * from a .env file loaded by python-dotenv. The browser is a script that records its argv,
 * reached through the real xdg-open script the `open` package ships, via $BROWSER.
 */
import { execa } from 'execa';
import { appendFile, lstat, mkdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cli,
  cliPath,
  readStackRecord,
  removeDir,
  root,
  spawnCli,
  tempDir,
  venvPython,
  waitForNoStackProcesses,
} from './helpers.js';

// %: configparser interpolation; ' and \: python-dotenv escapes; $x: shells.
const PASSWORD = `e2e-${Math.random().toString(36).slice(2)}-P%@ss'"$x\\y`;
const LOGIN = path.join(root, 'test', 'fixtures', 'saved_login.py');

/** No desktop, so the xdg-open that `open` ships goes to $BROWSER (or finds nothing). */
const NO_DESKTOP = {
  DISPLAY: undefined,
  WAYLAND_DISPLAY: undefined,
  XDG_CURRENT_DESKTOP: undefined,
  DESKTOP_SESSION: undefined,
  KDE_FULL_SESSION: undefined,
  GNOME_DESKTOP_SESSION_ID: undefined,
  BROWSER: undefined,
};

/** A stand-in browser: appends each argument it gets, one per line, to `log`. */
async function fakeProgram(file: string, log: string): Promise<void> {
  await writeFile(file, `#!/bin/sh\nprintf '%s\\n' "$@" >> '${log}'\n`, { mode: 0o755 });
}

const readLines = async (file: string) => (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean);
const modeOf = async (p: string) => (await stat(p)).mode & 0o777;

/** The real MLflow client with only PATH, HOME and what `extra` sets: no MLFLOW_TRACKING_USERNAME/_PASSWORD. */
function client(args: string[], env: Record<string, string>) {
  return execa(venvPython, [LOGIN, ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
    extendEnv: false,
    reject: false,
    timeout: 120_000,
  });
}

describe('env --save / --forget and open, on real MLflow and nginx', () => {
  let cwd: string;
  let stateDir: string;
  let home: string;
  let url: string;
  let groups: number[] = [];
  let browser: string;
  let browserLog: string;
  const credentials = () => path.join(home, '.mlflow', 'credentials');
  const env = (extra: Record<string, string | undefined> = {}) => ({
    HOME: home,
    MLFLOW_SECURE_PASSWORD: PASSWORD,
    ...NO_DESKTOP,
    ...extra,
  });

  beforeAll(async () => {
    cwd = await tempDir();
    stateDir = path.join(cwd, '.mlflow-secure');
    home = path.join(cwd, 'home');
    await mkdir(home);
    browser = path.join(cwd, 'fake-browser');
    browserLog = path.join(cwd, 'browser.log');
    await fakeProgram(browser, browserLog);
    await execa('git', ['init', '-q', cwd]);
    const r = await cli(['up', '-d', '--open', '--port', 'auto'], { cwd, env: env({ BROWSER: browser }) });
    expect(r.exitCode, r.stderr).toBe(0);
    const record = await readStackRecord(stateDir);
    groups = [record.mlflow.pid, record.nginx.pid];
    url = record.url;
    expect(r.stdout).toContain(`Opened ${url} in your browser.`);
  });

  afterAll(async () => {
    if (!cwd) return;
    await cli(['down'], { cwd });
    expect(await waitForNoStackProcesses(stateDir, groups)).toEqual([]);
    await removeDir(cwd);
  });

  it('up -d --open handed the URL to the default browser, once', async () => {
    expect(await readLines(browserLog)).toEqual([`${url}/`]);
  });

  it('env --save: ~/.mlflow/credentials (0600 in a 0700 folder) lets the real client log in with only MLFLOW_TRACKING_URI set', async () => {
    const r = await cli(['env', '--save'], { cwd, env: env() });
    expect(r.exitCode, r.stderr).toBe(0);
    // stdout is only the line still needed; `eval` of it is what sets the URI below.
    expect(r.stdout).toBe(`export MLFLOW_TRACKING_URI='${url}'`);
    expect(r.stderr).toContain(`Wrote ${credentials()} (owner-only, 0600): [mlflow] mlflow_tracking_username = admin`);
    expect(r.stderr).toContain(`Undo: node ${cliPath} env --forget`);
    expect(`${r.stdout}${r.stderr}`).not.toContain(PASSWORD);
    expect(await modeOf(path.dirname(credentials()))).toBe(0o700);
    expect(await modeOf(credentials())).toBe(0o600);

    const run = await execa('bash', ['-c', `eval "$1" && exec "${venvPython}" "${LOGIN}"`, '_', r.stdout], {
      env: { PATH: process.env.PATH ?? '', HOME: home },
      extendEnv: false,
      reject: false,
      timeout: 120_000,
    });
    expect(run.exitCode, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout.trim().split('\n').pop()!);
    expect(out).toEqual({ tracking_uri: url, params: { loaded_from: 'credentials' }, username_env: null });
    // nginx let the run in as admin.
    expect(await readFile(path.join(stateDir, 'logs', 'nginx-access.log'), 'utf8')).toMatch(
      / - admin \[[^\]]+\] "POST \/api\/2\.0\/mlflow\/runs\/create HTTP\/1\.1" 200/,
    );
  });

  it('env --forget: the same client now gets 401; other sections stay; a second forget has nothing to do', async () => {
    await appendFile(credentials(), '\n[other]\nkey = kept\n');
    const r = await cli(['env', '--forget'], { cwd, env: { HOME: home } });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe(
      `Removed mlflow_tracking_username, mlflow_tracking_password of user "admin" from ${credentials()}.`,
    );
    expect(await readFile(credentials(), 'utf8')).toBe('[other]\nkey = kept\n');

    const run = await client([], { HOME: home, MLFLOW_TRACKING_URI: url });
    expect(run.exitCode).not.toBe(0);
    expect(run.stderr).toMatch(/failed with error code 401 != 200/);

    const again = await cli(['env', '--forget'], { cwd, env: { HOME: home } });
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toBe(`Nothing to forget: ${credentials()} holds no MLflow credentials.`);
  });

  it('env --save --dotenv: python-dotenv loads the file and the real client logs in; other keys stay; git is asked whether it would commit it', async () => {
    const dotenv = path.join(cwd, '.env');
    await writeFile(dotenv, 'DEBUG=1\n');
    const r = await cli(['env', '--save', '--dotenv', '.env'], { cwd, env: env() });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(
      `Updated ${dotenv} (owner-only, 0600): MLFLOW_TRACKING_URI, MLFLOW_TRACKING_USERNAME, MLFLOW_TRACKING_PASSWORD for user admin`,
    );
    expect(r.stderr).toContain(`warning: ${dotenv} is inside a git work tree and git does not ignore it`);
    expect(r.stderr).toContain("The password holds ' or \\");
    expect(`${r.stdout}${r.stderr}`).not.toContain(PASSWORD);
    expect(await modeOf(dotenv)).toBe(0o600);
    expect((await readFile(dotenv, 'utf8')).split('\n')[0]).toBe('DEBUG=1');

    // A home without credentials: the login comes from the .env file alone.
    const bare = path.join(cwd, 'bare-home');
    await mkdir(bare);
    const run = await client([dotenv], { HOME: bare });
    expect(run.exitCode, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout.trim().split('\n').pop()!)).toEqual({
      tracking_uri: url,
      params: { loaded_from: dotenv },
      username_env: 'admin',
    });

    await writeFile(path.join(cwd, '.gitignore'), '.env\n');
    const ignored = await cli(['env', '--save', '--dotenv', '.env'], { cwd, env: env() });
    expect(ignored.exitCode, ignored.stderr).toBe(0);
    expect(ignored.stderr).not.toContain('git work tree');
  });

  it('env --forget --dotenv removes only our three keys', async () => {
    const dotenv = path.join(cwd, '.env');
    const r = await cli(['env', '--forget', '--dotenv', '.env'], { cwd, env: { HOME: home } });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe(
      `Removed MLFLOW_TRACKING_URI, MLFLOW_TRACKING_USERNAME, MLFLOW_TRACKING_PASSWORD from ${dotenv}.`,
    );
    expect(await readFile(dotenv, 'utf8')).toBe('DEBUG=1\n');
  });

  it("env --save --dotenv over the issue's lone-CR .env: python-dotenv's dotenv_values gives our URI, user and password", async () => {
    const dotenv = path.join(cwd, 'cr.env');
    await writeFile(
      dotenv,
      'MLFLOW_TRACKING_USERNAME=old\nPROJECT=demo\rMLFLOW_TRACKING_URI=http://attacker.example:8000\n',
    );
    const r = await cli(['env', '--save', '--dotenv', 'cr.env'], { cwd, env: env() });
    expect(r.exitCode, r.stderr).toBe(0);
    const read = await execa(
      venvPython,
      [
        '-c',
        'import json, sys\nfrom dotenv import dotenv_values\nprint(json.dumps(dotenv_values(sys.argv[1])))',
        dotenv,
      ],
      { env: { PATH: process.env.PATH ?? '' }, extendEnv: false },
    );
    expect(JSON.parse(read.stdout)).toEqual({
      PROJECT: 'demo',
      MLFLOW_TRACKING_URI: url,
      MLFLOW_TRACKING_USERNAME: 'admin',
      MLFLOW_TRACKING_PASSWORD: PASSWORD,
    });
  });

  it('refuses a wrong MLFLOW_SECURE_PASSWORD and a linked credentials file in one line, writing nothing and showing no password', async () => {
    const wrong = `${PASSWORD}-wrong`;
    const bad = await cli(['env', '--save'], { cwd, env: env({ MLFLOW_SECURE_PASSWORD: wrong }) });
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr.trim().split('\n')).toEqual([
      `error: MLFLOW_SECURE_PASSWORD is not admin's password in ${path.join(stateDir, 'htpasswd')}. Give the right one (or set a new one with \`node ${cliPath} user passwd admin\`), then run again`,
    ]);
    expect(`${bad.stdout}${bad.stderr}`).not.toContain(wrong.slice(0, 12));

    const target = path.join(cwd, 'elsewhere');
    await writeFile(target, '');
    await rm(credentials());
    await symlink(target, credentials());
    const linked = await cli(['env', '--save'], { cwd, env: env() });
    expect(linked.exitCode).toBe(1);
    expect(linked.stderr.trim().split('\n')).toEqual([
      `error: ${credentials()} is a symbolic link, not a regular file. mlflow-secure never creates one there: remove it (or move it away) and try again`,
    ]);
    expect(linked.stdout).toBe('');
    expect(await readFile(target, 'utf8')).toBe('');
    expect((await lstat(credentials())).isSymbolicLink()).toBe(true);
  });

  it('open: the `open` package runs the xdg-open it ships (not a fake first on PATH), which hands the URL to $BROWSER', async () => {
    const bin = path.join(cwd, 'bin');
    await mkdir(bin);
    const pathLog = path.join(cwd, 'path-xdg-open.log');
    await fakeProgram(path.join(bin, 'xdg-open'), pathLog);
    await writeFile(browserLog, '');
    const r = await cli(['open'], { cwd, env: env({ BROWSER: browser, PATH: `${bin}:${process.env.PATH ?? ''}` }) });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe(
      `Opened ${url} in your browser; log in as admin (node ${cliPath} env shows the password if it generated it).`,
    );
    expect(await readLines(browserLog)).toEqual([`${url}/`]);
    expect(await readLines(pathLog)).toEqual([]);
  });

  it('open with no desktop and no browser: exit 1, one line with the URL to open by hand', async () => {
    const r = await cli(['open'], { cwd, env: env() });
    expect(r.exitCode).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([
      `error: no browser could be started (xdg-open exited with code 3; neither DISPLAY nor WAYLAND_DISPLAY is set: no desktop in this session?). Open ${url}/ in a browser yourself`,
    ]);
  });

  it('open and env --save with no stack: one line, exit 1, nothing opened or written', async () => {
    const empty = await tempDir();
    try {
      await writeFile(browserLog, '');
      const open = await cli(['open'], { cwd: empty, env: env({ BROWSER: browser }) });
      expect(open.exitCode).toBe(1);
      expect(open.stderr.trim().split('\n')).toEqual([
        `error: no stack is recorded in ${path.join(empty, '.mlflow-secure')}. Start one with \`node ${cliPath} up -d\`, then run \`node ${cliPath} open\` again`,
      ]);
      expect(await readLines(browserLog)).toEqual([]);
      const save = await cli(['env', '--save'], { cwd: empty, env: env({ HOME: empty }) });
      expect(save.exitCode).toBe(1);
      expect(save.stderr.trim().split('\n')).toHaveLength(1);
      expect(await lstat(path.join(empty, '.mlflow')).catch(() => 'none')).toBe('none');
    } finally {
      await removeDir(empty);
    }
  });
});

describe('up --open in the foreground', () => {
  it('opens the browser once the stack is up, then keeps supervising until Ctrl+C', async () => {
    const cwd = await tempDir();
    const stateDir = path.join(cwd, '.mlflow-secure');
    const browser = path.join(cwd, 'fake-browser');
    const browserLog = path.join(cwd, 'browser.log');
    await fakeProgram(browser, browserLog);
    const run = spawnCli(['up', '--open', '--port', 'auto'], {
      cwd,
      env: { MLFLOW_SECURE_PASSWORD: PASSWORD, ...NO_DESKTOP, BROWSER: browser },
    });
    const groups: number[] = [];
    try {
      await run.waitFor(/Opened http:\/\/\S+ in your browser\./);
      const record = await readStackRecord(stateDir);
      groups.push(record.mlflow.pid, record.nginx.pid);
      expect(await readLines(browserLog)).toEqual([`${record.url}/`]);
      const status = await cli(['status', '--json'], { cwd });
      expect(JSON.parse(status.stdout)).toMatchObject({ running: true, healthy: true, supervisor: 'running' });
      run.child.kill('SIGINT');
      const result = await run.child;
      expect(result.exitCode, run.output()).toBe(0);
      expect(run.output()).toMatch(/Stopped MLflow and nginx/);
    } finally {
      run.child.kill('SIGKILL');
      await cli(['down'], { cwd });
      expect(await waitForNoStackProcesses(stateDir, groups)).toEqual([]);
      await removeDir(cwd);
    }
  });
});
