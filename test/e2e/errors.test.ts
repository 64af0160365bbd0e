/**
 * Every failure a user can cause ends in one clear line, a non-zero exit, nothing left
 * running, and no existing data touched.
 */
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  cli,
  readStackRecord,
  removeDir,
  root,
  spawnCli,
  stackProcesses,
  tempDir,
  waitForNoStackProcesses,
} from './helpers.js';

const fixtures = path.join(root, 'test', 'fixtures');

/** The one `error:` line of a failure (details, like a log tail, may follow on later lines). */
function errorLine(stderr: string): string {
  const lines = stderr.split('\n').filter((l) => l.startsWith('error: '));
  expect(lines, stderr).toHaveLength(1);
  return lines[0]!;
}

describe('failures a user can cause', () => {
  let cwd: string;
  let stateDir: string;
  let existing: Record<string, string>;

  const digest = async (f: string) =>
    createHash('sha256')
      .update(await readFile(f))
      .digest('hex');

  beforeEach(async () => {
    cwd = await tempDir();
    stateDir = path.join(cwd, '.mlflow-secure');
    // Existing user data that no failure may touch.
    await writeFile(path.join(cwd, 'mlflow.db'), 'not really sqlite, but must stay byte-identical');
    await mkdir(stateDir);
    await writeFile(path.join(stateDir, 'htpasswd'), 'admin:$apr1$abcdefgh$0123456789abcdefghijkl\n', { mode: 0o600 });
    existing = {};
    for (const f of [path.join(cwd, 'mlflow.db'), path.join(stateDir, 'htpasswd')]) existing[f] = await digest(f);
  });

  afterEach(async () => {
    expect(await stackProcesses(stateDir)).toEqual([]);
    for (const [f, d] of Object.entries(existing)) expect(await digest(f), `${f} changed`).toBe(d);
    await expect(readFile(path.join(stateDir, 'stack.json'))).rejects.toThrow(/ENOENT/);
    await removeDir(cwd);
  });

  it('port in use: names the port and suggests --port', async () => {
    const server = net.createServer().listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const r = await cli(['up', '-d', '--port', String(port)], { cwd });
      expect(r.exitCode).toBe(1);
      expect(errorLine(r.stderr)).toMatch(
        new RegExp(`port ${port} on 127\\.0\\.0\\.1 is already in use.*--port \\d+ \\(or --port auto\\)`),
      );
    } finally {
      server.close();
    }
  });

  it('missing nginx: says where it looked and how to install it', async () => {
    const r = await cli(['up', '-d', '--port', 'auto', '--nginx', '/nonexistent/nginx'], { cwd });
    expect(r.exitCode).toBe(1);
    expect(errorLine(r.stderr)).toMatch(/nginx not found \(looked at: \/nonexistent\/nginx \(--nginx\)\)\. Install it/);
  });

  it('missing nginx on PATH and in the usual places', async () => {
    const r = await cli(['up', '-d', '--port', 'auto'], { cwd, env: { PATH: path.dirname(process.execPath) } });
    // Debian installs nginx into /usr/sbin, one of the usual places: then it is found.
    if (r.exitCode === 1) expect(errorLine(r.stderr)).toMatch(/nginx not found|MLflow not found/);
  });

  it('missing MLflow: says where it looked and how to install it', async () => {
    const r = await cli(['up', '-d', '--port', 'auto', '--mlflow', '/nonexistent/venv'], { cwd });
    expect(r.exitCode).toBe(1);
    expect(errorLine(r.stderr)).toMatch(
      /MLflow not found \(looked at: \/nonexistent\/venv \(--mlflow\)\)\. Run mlflow-secure setup /,
    );
  });

  it('bad backend URI: names the flag and the value', async () => {
    const r = await cli(['up', '-d', '--backend-store-uri', 'foo://bar/x'], { cwd });
    expect(r.exitCode).toBe(1);
    expect(errorLine(r.stderr)).toBe(
      "error: --backend-store-uri 'foo://bar/x' is not a store URI MLflow can use. Give a folder, a .db file, sqlite:///path/mlflow.db, postgresql://..., mysql://... or mssql://...",
    );
  });

  it('bad user name', async () => {
    const r = await cli(['up', '-d', '--user', 'ad:min'], { cwd });
    expect(r.exitCode).toBe(1);
    expect(errorLine(r.stderr)).toMatch(/bad user name "ad:min"/);
  });

  it('bad port value is a usage-style error naming the flag', async () => {
    const r = await cli(['up', '-d', '--port', '99999'], { cwd });
    expect(r.exitCode).toBe(1);
    expect(errorLine(r.stderr)).toMatch(/--port must be a number from 1 to 65535 or 'auto', got '99999'/);
  });

  it('unknown flag: usage error, exit 2', async () => {
    const r = await cli(['up', '--bogus'], { cwd });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/unknown option '--bogus'/);
  });

  it('unwritable state folder', async () => {
    const r = await cli(['up', '-d', '--port', 'auto', '--state-dir', path.join(cwd, 'mlflow.db', 'state')], { cwd });
    expect(r.exitCode).toBe(1);
    expect(errorLine(r.stderr)).toMatch(
      /cannot write to state folder .*mlflow\.db\/state \(ENOTDIR\)\. Choose a folder you can write to/,
    );
  });

  it('a different password for an existing user is refused, the file untouched', async () => {
    const r = await cli(['up', '-d', '--port', 'auto'], { cwd, env: { MLFLOW_SECURE_PASSWORD: 'not-the-password' } });
    expect(r.exitCode).toBe(1);
    expect(errorLine(r.stderr)).toMatch(/user 'admin' already exists in .*htpasswd with a different password/);
    expect(r.stderr).not.toContain('not-the-password');
  });

  it('MLflow exiting at start: exit 3 with its log tail, nginx stopped', async () => {
    const r = await cli(
      [
        'up',
        '-d',
        '--port',
        'auto',
        '--user',
        'bob',
        '--backend-store-uri',
        path.join(cwd, 'other.db'),
        '--mlflow',
        path.join(fixtures, 'fake-mlflow-exits.mjs'),
      ],
      {
        cwd,
        env: { MLFLOW_SECURE_PASSWORD: 'bob-password-1' },
      },
    );
    expect(r.exitCode, r.stderr).toBe(3);
    expect(errorLine(r.stderr)).toMatch(/mlflow exited with code 1 before it became ready/);
    expect(r.stderr).toMatch(/unable to open database file/);
    // bob was added to the password file by this run: that is the run's own change, not existing data.
    existing[path.join(stateDir, 'htpasswd')] = await digest(path.join(stateDir, 'htpasswd'));
  });

  it('MLflow never healthy and ignoring SIGTERM: timeout, then killed; nothing left', async () => {
    const started = Date.now();
    const r = await cli(
      [
        'up',
        '-d',
        '--port',
        'auto',
        '--timeout',
        '2',
        '--user',
        'bob',
        '--mlflow',
        path.join(fixtures, 'fake-mlflow-stubborn.mjs'),
      ],
      {
        cwd,
        env: { MLFLOW_SECURE_PASSWORD: 'bob-password-1' },
      },
    );
    expect(r.exitCode, r.stderr).toBe(3);
    expect(errorLine(r.stderr)).toMatch(/MLflow did not become ready within 2 s\. Raise --timeout/);
    expect(r.stderr).toMatch(/fake-mlflow: starting forever/);
    expect(Date.now() - started).toBeLessThan(30_000);
    existing[path.join(stateDir, 'htpasswd')] = await digest(path.join(stateDir, 'htpasswd'));
  });

  it('logs -f follows new lines until Ctrl+C, exit 0', async () => {
    const logs = path.join(stateDir, 'logs');
    await mkdir(logs, { recursive: true });
    await writeFile(path.join(logs, 'mlflow.log'), 'old line\n');
    const run = spawnCli(['logs', 'mlflow', '-f', '-n', '5'], { cwd });
    await run.waitFor(/old line/, 10_000);
    await writeFile(path.join(logs, 'mlflow.log'), 'old line\nnew line\n');
    await run.waitFor(/new line/, 10_000);
    run.child.kill('SIGINT');
    expect((await run.child).exitCode).toBe(0);
    const unknown = await cli(['logs', 'gunicorn'], { cwd });
    expect(unknown.exitCode).toBe(1);
    expect(errorLine(unknown.stderr)).toMatch(/unknown log 'gunicorn'. Choose mlflow, nginx or access/);
  });

  it('sends no credentials to a program that holds the port instead of our nginx (another local account squatting it)', async () => {
    const log = path.join(cwd, 'squatter.log');
    const fake = path.join(root, 'test', 'fixtures', 'fake-nginx-squatter.mjs');
    const r = await cli(
      [
        'up',
        '-d',
        '--port',
        'auto',
        '--user',
        'squat',
        '--backend-store-uri',
        path.join(cwd, 'other.db'),
        '--nginx',
        fake,
      ],
      { cwd, env: { MLFLOW_SECURE_PASSWORD: 'squatted-Pw-1', SQUATTER_LOG: log } },
    );
    expect(r.exitCode, r.stderr).toBe(3);
    expect(errorLine(r.stderr)).toMatch(/is not this stack's nginx .*no credentials were sent/);
    // It was asked once, anonymously, and never saw an Authorization header.
    expect((await readFile(log, 'utf8')).trim().split('\n')).toEqual(['none']);
    expect(await waitForNoStackProcesses(stateDir)).toEqual([]);
    // squat was added to the password file by this run: the run's own change, not existing data.
    existing[path.join(stateDir, 'htpasswd')] = await digest(path.join(stateDir, 'htpasswd'));
  });

  it('stale state: status says so, down clears it, exit 0', async () => {
    // pids of processes that have exited: a record left by a stack that is gone.
    const dead = async () => {
      const child = execa('true');
      await child;
      return child.pid!;
    };
    await writeFile(
      path.join(stateDir, 'stack.json'),
      JSON.stringify({
        version: 2,
        phase: 'running',
        supervisorPid: null,
        startedAt: '2026-01-01T00:00:00.000Z',
        url: 'http://127.0.0.1:1',
        publicUrls: [],
        user: 'admin',
        host: '127.0.0.1',
        port: 1,
        mlflowPort: 2,
        hash: 'bcrypt',
        backendStoreUri: 'sqlite:///x',
        registryStoreUri: 'sqlite:///x',
        artifactsDestination: 'file:///x',
        mlflow: { pid: await dead() },
        nginx: { pid: await dead() },
      }),
    );
    const status = await cli(['status'], { cwd });
    expect(status.exitCode, status.stderr).toBe(3);
    expect(status.stdout).toMatch(/NOT running \(stale record\)/);
    const down = await cli(['down'], { cwd });
    expect(down.exitCode).toBe(0);
    expect(down.stdout).toMatch(/was not running/);
  });

  it('a second up on the same state folder is refused while the first runs', async () => {
    const first = await cli(
      ['up', '-d', '--port', 'auto', '--user', 'bob', '--backend-store-uri', path.join(cwd, 'real.db')],
      { cwd, env: { MLFLOW_SECURE_PASSWORD: 'bob-password-1' } },
    );
    expect(first.exitCode, first.stderr).toBe(0);
    const record = await readStackRecord(stateDir);
    try {
      const second = await cli(['up', '-d', '--port', 'auto', '--user', 'bob'], {
        cwd,
        env: { MLFLOW_SECURE_PASSWORD: 'bob-password-1' },
      });
      expect(second.exitCode).toBe(1);
      expect(errorLine(second.stderr)).toMatch(
        /a stack is already running from .* \(mlflow pid \d+, nginx pid \d+\).*dist\/cli\.js down/,
      );
    } finally {
      expect((await cli(['down'], { cwd })).exitCode).toBe(0);
      expect(await waitForNoStackProcesses(stateDir, [record.mlflow.pid, record.nginx.pid])).toEqual([]);
    }
    existing[path.join(stateDir, 'htpasswd')] = await digest(path.join(stateDir, 'htpasswd'));
  });
});
