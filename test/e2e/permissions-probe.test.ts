/**
 * `up --permissions` when the user's password is not known: auth is proven with a temporary probe
 * user, whose row in MLflow's user table goes after the summary (src/stack/lifecycle/probe.ts):
 * awaited before `up -d` returns, in the background while `up` supervises, and still gone after
 * a Ctrl+C sent to the whole terminal (the process group) right after the summary.
 */
import { execa } from 'execa';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, cli, cliPath, removeDir, tempDir, venvPython, waitForNoStackProcesses } from './helpers.js';

const PASSWORD = `probe-${Math.random().toString(36).slice(2)}-password`;
const UP = ['up', '--permissions', '--port', 'auto', '--user', 'bob', '--workers', '1', '--jobs', 'off'];

describe('the temporary probe user under --permissions', () => {
  let cwd: string;
  let stateDir: string;

  /** The names in MLflow's user table, read from its database. */
  const mlflowUsers = async (): Promise<string[]> => {
    const read =
      'import sqlite3,sys,json;print(json.dumps([r[0] for r in sqlite3.connect(sys.argv[1]).execute("select username from users order by id")]))';
    const r = await execa(venvPython, ['-c', read, path.join(stateDir, 'mlflow-auth.db')]);
    return JSON.parse(r.stdout) as string[];
  };
  /** A foreground `up` in its own process group, as a terminal runs it. */
  const foreground = () => {
    const child = execa(process.execPath, [cliPath, ...UP], {
      cwd,
      env: cleanEnv(),
      extendEnv: false,
      stdin: 'ignore',
      reject: false,
      all: true,
      detached: true,
    });
    let text = '';
    child.all?.on('data', (d: Buffer) => (text += d.toString('utf8')));
    const summary = async () => {
      const deadline = Date.now() + 180_000;
      while (!/stop: /.test(text)) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no summary; output:\n${text}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    return { child, summary, output: () => text };
  };

  beforeAll(async () => {
    cwd = await tempDir();
    stateDir = path.join(cwd, '.mlflow-secure');
    const r = await cli(['up', '-d', ...UP.slice(1)], { cwd, env: { MLFLOW_SECURE_PASSWORD: PASSWORD } });
    expect(r.exitCode, r.stderr).toBe(0);
    expect((await cli(['down'], { cwd })).exitCode).toBe(0);
  });
  afterAll(async () => {
    if (cwd) {
      await cli(['down'], { cwd });
      expect(await waitForNoStackProcesses(stateDir)).toEqual([]);
      await removeDir(cwd);
    }
  });

  it('up -d without the password: the probe proved auth, and has no row once up -d returned', async () => {
    const r = await cli(['up', '-d', ...UP.slice(1)], { cwd });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(await mlflowUsers()).toEqual(['bob']);
    expect((await cli(['down'], { cwd })).exitCode).toBe(0);
  });

  it('supervised: the summary comes first, the row goes in the background while up runs', async () => {
    const run = foreground();
    await run.summary();
    const deadline = Date.now() + 60_000;
    while ((await mlflowUsers()).length > 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
    expect(await mlflowUsers()).toEqual(['bob']);
    expect(run.child.exitCode).toBeNull(); // still supervising
    process.kill(-run.child.pid!, 'SIGINT');
    expect((await run.child).exitCode, run.output()).toBe(0);
  });

  it('a Ctrl+C to the whole terminal right after the summary: the row still goes before up exits', async () => {
    const run = foreground();
    await run.summary();
    expect((await mlflowUsers()).some((u) => u.startsWith('mlflow-secure-probe-'))).toBe(true);
    process.kill(-run.child.pid!, 'SIGINT');
    expect((await run.child).exitCode, run.output()).toBe(0);
    expect(await mlflowUsers()).toEqual(['bob']);
    expect(run.output()).not.toMatch(/could not remove the probe user/);
  });
});
