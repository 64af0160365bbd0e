/**
 * The stack's logs keep being written after `up -d` returns (MLflow and nginx write their log
 * files themselves, not through a pipe to `up`), `logs` and `logs -f` show what came later,
 * each `up` rotates a log that grew past the bound, and a foreground `up` keeps them bounded
 * while it runs.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { request } from '../../src/system/http.js';
import { LOG_KEEP, LOG_MAX_BYTES } from '../../src/stack/log-files.js';
import { cli, readStackRecord, removeDir, spawnCli, tempDir } from './helpers.js';

const PASSWORD = `logs-${Math.random().toString(36).slice(2)}-Pw`;
const auth = { user: 'admin', password: PASSWORD };

/** A request MLflow answers 404 and logs one access line for; `tag` makes the line findable. */
async function taggedRequest(port: number, tag: string): Promise<number> {
  const r = await request({
    host: '127.0.0.1',
    port,
    path: `/api/2.0/mlflow/experiments/get-by-name?experiment_name=${tag}`,
    auth,
  });
  return r.status;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = await probe();
    if (got !== undefined) return got;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Log keepers (pid and command line) working for the stack in `stateDir`. */
async function keeperProcesses(stateDir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await fs.readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    const args = cmdline.split('\0');
    if (args.some((a) => a.endsWith('log-keeper.js')) && args.includes(path.join(stateDir, 'stack.json')))
      found.push(`${entry} ${args.join(' ')}`);
  }
  return found;
}

const readOr = (file: string) => fs.readFile(file, 'utf8').catch(() => '');
const sizeOf = (file: string) => fs.stat(file).then((s) => s.size);
/** Log-like lines (no NUL bytes), about `bytes` of them. */
const padding = (bytes: number) => `${'padding '.repeat(127)}padding\n`.repeat(Math.ceil(bytes / 1024));

describe('logs after up -d', () => {
  let cwd: string;
  let stateDir: string;
  let logsDir: string;
  beforeAll(async () => {
    cwd = await tempDir();
    stateDir = path.join(cwd, '.mlflow-secure');
    logsDir = path.join(stateDir, 'logs');
  });
  afterAll(async () => {
    await cli(['down'], { cwd });
    await removeDir(cwd);
  });

  it('MLflow keeps writing its log once up -d has returned: logs and logs -f show the later lines', async () => {
    const up = await cli(['up', '-d', '--port', 'auto', '--nginx-workers', '1', '--workers', '1'], {
      cwd,
      env: { MLFLOW_SECURE_PASSWORD: PASSWORD },
    });
    expect(up.exitCode, up.stderr).toBe(0);
    const { port } = await readStackRecord(stateDir);

    const tag = `after-detach-${randomBytes(4).toString('hex')}`;
    expect(await taggedRequest(port, tag)).toBe(404);
    // uvicorn's access line for it, written by MLflow after `up -d` exited.
    const line = await waitFor('the access line in mlflow.log', async () =>
      (await readOr(path.join(logsDir, 'mlflow.log'))).split('\n').find((l) => l.includes(tag)),
    );
    expect(line).toMatch(/INFO: .*"GET \/api\/2\.0\/mlflow\/experiments\/get-by-name\?experiment_name=.* 404/);
    const shown = await cli(['logs', 'mlflow'], { cwd });
    expect(shown.exitCode, shown.stderr).toBe(0);
    expect(shown.stdout).toContain(tag);

    const follow = spawnCli(['logs', '-f', 'mlflow'], { cwd });
    const later = `followed-${randomBytes(4).toString('hex')}`;
    try {
      // The follower starts at the end: what it prints next was written after it started.
      await new Promise((r) => setTimeout(r, 1_000));
      expect(await taggedRequest(port, later)).toBe(404);
      await follow.waitFor(new RegExp(later), 30_000);
    } finally {
      follow.child.kill('SIGINT');
      await follow.child;
    }

    // nginx's own logs, for comparison (nginx always wrote them itself).
    const access = await cli(['logs', 'access'], { cwd });
    expect(access.stdout).toContain(later);
  });

  it('logs masks the password of a store URI in a line it reads back', async () => {
    await fs.appendFile(
      path.join(logsDir, 'mlflow.log'),
      "sqlalchemy: could not connect to 'postgresql://mlflow:Pg-s3cret-pw@db.internal/mlflow'\n",
    );
    const shown = await cli(['logs', 'mlflow', '-n', '5'], { cwd });
    expect(shown.stdout).toContain("'postgresql://mlflow:********@db.internal/mlflow'");
    expect(shown.stdout).not.toContain('Pg-s3cret-pw');
  });

  it('a detached stack keeps its logs bounded: the keeper trims them, and ends with the stack', async () => {
    const { port } = await readStackRecord(stateDir);
    const keepers = await keeperProcesses(stateDir);
    expect(keepers).toHaveLength(1);
    const mlflowLog = path.join(logsDir, 'mlflow.log');
    const accessLog = path.join(logsDir, 'nginx-access.log');
    const tag = `before-trim-${randomBytes(4).toString('hex')}`;
    expect(await taggedRequest(port, tag)).toBe(404);
    await waitFor('the tagged line', async () => ((await readOr(mlflowLog)).includes(tag) ? true : undefined));
    await fs.appendFile(mlflowLog, padding(LOG_MAX_BYTES + 1024));
    await fs.appendFile(accessLog, padding(LOG_MAX_BYTES + 1024));
    await waitFor(
      'both logs to be trimmed',
      async () =>
        (await sizeOf(mlflowLog)) < LOG_MAX_BYTES && (await sizeOf(accessLog)) < LOG_MAX_BYTES ? true : undefined,
      60_000,
    );
    expect(await readOr(`${mlflowLog}.1`)).toContain(tag);
    // MLflow and nginx append after the trim: their next lines start the emptied files.
    const after = `after-trim-${randomBytes(4).toString('hex')}`;
    expect(await taggedRequest(port, after)).toBe(404);
    for (const file of [mlflowLog, accessLog]) {
      const text = await waitFor(`the line after the trim in ${file}`, async () => {
        const t = await readOr(file);
        return t.includes(after) ? t : undefined;
      });
      expect(text).not.toContain('\0');
      expect(Buffer.byteLength(text)).toBeLessThan(1024 * 1024);
    }
    const shown = await cli(['logs', 'mlflow', '-n', '3'], { cwd });
    expect(shown.stdout).toContain(after);

    expect((await cli(['down'], { cwd })).exitCode).toBe(0);
    await waitFor(
      'the keeper to end',
      async () => ((await keeperProcesses(stateDir)).length === 0 ? true : undefined),
      10_000,
    );
  });
});

describe('log rotation and bound', () => {
  let cwd: string;
  let stateDir: string;
  let logsDir: string;
  beforeAll(async () => {
    cwd = await tempDir();
    stateDir = path.join(cwd, '.mlflow-secure');
    logsDir = path.join(stateDir, 'logs');
  });
  afterAll(async () => {
    await cli(['down'], { cwd });
    await removeDir(cwd);
  });

  it(`each up rotates a log over ${LOG_MAX_BYTES / 2 ** 20} MiB and keeps ${LOG_KEEP} old ones`, async () => {
    const args = ['up', '-d', '--port', 'auto', '--nginx-workers', '1', '--workers', '1'];
    const env = { MLFLOW_SECURE_PASSWORD: PASSWORD };
    const first = await cli(args, { cwd, env });
    expect(first.exitCode, first.stderr).toBe(0);
    expect((await cli(['down'], { cwd })).exitCode).toBe(0);

    const mlflowLog = path.join(logsDir, 'mlflow.log');
    const accessLog = path.join(logsDir, 'nginx-access.log');
    const errorLog = path.join(logsDir, 'nginx-error.log');
    // Old rotations: .1 .. .LOG_KEEP, each naming itself; the oldest must go.
    for (let n = 1; n <= LOG_KEEP; n++) await fs.writeFile(`${mlflowLog}.${n}`, `old rotation ${n}\n`);
    await fs.appendFile(mlflowLog, `${padding(LOG_MAX_BYTES)}last line before the restart\n`);
    await fs.appendFile(accessLog, padding(LOG_MAX_BYTES));
    const errorBefore = await sizeOf(errorLog);
    expect(errorBefore).toBeLessThan(LOG_MAX_BYTES);

    const second = await cli(args, { cwd, env });
    // The next test starts its own stack here.
    onTestFinished(async () => {
      await cli(['down'], { cwd });
    });
    expect(second.exitCode, second.stderr).toBe(0);
    expect(await readOr(`${mlflowLog}.1`)).toMatch(/last line before the restart\n$/);
    for (let n = 2; n <= LOG_KEEP; n++) expect(await readOr(`${mlflowLog}.${n}`)).toBe(`old rotation ${n - 1}\n`);
    expect(await readOr(`${mlflowLog}.${LOG_KEEP + 1}`)).toBe('');
    // The new log holds only this start's lines; nginx's access log was rotated too.
    expect(await sizeOf(mlflowLog)).toBeLessThan(1024 * 1024);
    expect(await readOr(mlflowLog)).not.toContain('padding');
    expect(await sizeOf(`${accessLog}.1`)).toBeGreaterThan(LOG_MAX_BYTES);
    expect(await sizeOf(accessLog)).toBeLessThan(1024 * 1024);
    // A small log is left alone.
    expect(await readOr(`${errorLog}.1`)).toBe('');
    expect(await sizeOf(errorLog)).toBeGreaterThanOrEqual(errorBefore);
    // `logs` reaches back into the rotated file for lines the new one does not have yet.
    const shown = await cli(['logs', 'mlflow', '-n', '100000'], { cwd });
    expect(shown.stdout).toContain('last line before the restart');
  });

  it('a foreground up shows `mlflow |` lines and trims a log that passes the bound while it runs', async () => {
    const fg = spawnCli(['up', '--port', 'auto', '--nginx-workers', '1', '--workers', '1'], {
      cwd,
      env: { MLFLOW_SECURE_PASSWORD: PASSWORD },
    });
    try {
      await fg.waitFor(/^ {2}stop: .* down/m);
      expect(fg.output()).toMatch(/^mlflow \| .*Uvicorn running/m);
      const { port } = await readStackRecord(stateDir);
      const tag = `foreground-${randomBytes(4).toString('hex')}`;
      expect(await taggedRequest(port, tag)).toBe(404);
      await fg.waitFor(new RegExp(`^mlflow \\| .*${tag}`, 'm'), 30_000);

      const mlflowLog = path.join(logsDir, 'mlflow.log');
      await fs.appendFile(mlflowLog, padding(LOG_MAX_BYTES + 1024));
      // The supervisor copies it to .1 and empties it; MLflow, appending, goes on from the start.
      await waitFor(
        'mlflow.log to be trimmed',
        async () => ((await sizeOf(mlflowLog)) < LOG_MAX_BYTES ? true : undefined),
        60_000,
      );
      expect(await readOr(`${mlflowLog}.1`)).toContain(tag);
      const after = `after-trim-${randomBytes(4).toString('hex')}`;
      expect(await taggedRequest(port, after)).toBe(404);
      const text = await waitFor('the line after the trim', async () => {
        const t = await readOr(mlflowLog);
        return t.includes(after) ? t : undefined;
      });
      // No hole of NUL bytes where the old content was: every write landed at the new end.
      expect(text).not.toContain('\0');
      expect(Buffer.byteLength(text)).toBeLessThan(1024 * 1024);
      await fg.waitFor(new RegExp(`^mlflow \\| .*${after}`, 'm'), 30_000);
    } finally {
      fg.child.kill('SIGINT');
      await fg.child;
    }
  });

  it('logs says so when a log is far over the bound with nothing trimming it', async () => {
    const errorLog = path.join(logsDir, 'nginx-error.log');
    await fs.appendFile(errorLog, padding(2 * LOG_MAX_BYTES + 1024));
    const r = await cli(['logs', 'nginx', '-n', '1'], { cwd });
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toMatch(/nginx-error\.log is 2\d MiB and nothing keeps it under 10 MiB .*restart` rotates it\.$/);
  });
});
