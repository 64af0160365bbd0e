/**
 * Foreground `up`: Ctrl+C stops everything and exits 0; a dead MLflow takes nginx down with
 * it and exits non-zero naming it; a SIGKILLed `up` leaves orphans that `down` cleans up.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { request } from '../../src/system/http.js';
import {
  cli,
  cliPath,
  readStackRecord,
  removeDir,
  spawnCli,
  stackProcesses,
  tempDir,
  waitForNoStackProcesses,
} from './helpers.js';

const PASSWORD = 'foreground-secret-1';

describe('foreground up, supervised', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });

  async function startForeground(extra: string[] = []) {
    const cwd = await tempDir();
    const stateDir = path.join(cwd, '.mlflow-secure');
    const run = spawnCli(['up', '--port', 'auto', ...extra], { cwd, env: { MLFLOW_SECURE_PASSWORD: PASSWORD } });
    const groups: number[] = [];
    cleanups.push(async () => {
      run.child.kill('SIGKILL');
      await cli(['down'], { cwd });
      expect(await waitForNoStackProcesses(stateDir, groups)).toEqual([]);
      await removeDir(cwd);
    });
    await run.waitFor(/is up behind nginx/);
    const record = await readStackRecord(stateDir);
    groups.push(record.mlflow.pid, record.nginx.pid);
    return { cwd, stateDir, run, record, groups };
  }

  it("shows both processes' output prefixed by name, and stops cleanly on SIGINT with exit 0 (listening on 0.0.0.0)", async () => {
    const { stateDir, run, record, groups } = await startForeground(['--host', '0.0.0.0']);
    const url = new URL(record.url);
    // Listening on every interface: the local URL uses loopback, and nginx answers there.
    expect(url.hostname).toBe('127.0.0.1');
    expect(await readFile(path.join(stateDir, 'nginx.conf'), 'utf8')).toContain(`listen 0.0.0.0:${url.port};`);
    expect(
      (
        await request({
          host: url.hostname,
          port: Number(url.port),
          path: '/',
          auth: { user: 'admin', password: PASSWORD },
        })
      ).status,
    ).toBe(200);
    await run.waitFor(/^mlflow \| .*Application startup complete/m, 30_000);
    expect((await stackProcesses(stateDir, groups)).length).toBeGreaterThanOrEqual(3);
    run.child.kill('SIGINT');
    const result = await run.child;
    expect(result.exitCode, run.output()).toBe(0);
    expect(run.output()).toMatch(/Stopped MLflow and nginx/);
    expect(await waitForNoStackProcesses(stateDir, groups, 2_000)).toEqual([]);
    const status = await cli(['status'], { cwd: path.dirname(stateDir) });
    expect(status.stdout).toMatch(/Not running/);
  });

  it('Ctrl+C while starting stops what was started and exits 130', async () => {
    const cwd = await tempDir();
    const stateDir = path.join(cwd, '.mlflow-secure');
    const run = spawnCli(['up', '--port', 'auto'], { cwd, env: { MLFLOW_SECURE_PASSWORD: PASSWORD } });
    cleanups.push(async () => {
      run.child.kill('SIGKILL');
      await removeDir(cwd);
    });
    // MLflow has started (its first log line) but is not ready yet.
    await run.waitFor(/^mlflow \| /m, 60_000);
    const groups = [(await readStackRecord(stateDir)).mlflow.pid];
    expect(run.output()).not.toMatch(/is up behind nginx/);
    run.child.kill('SIGINT');
    const result = await run.child;
    expect(result.exitCode, run.output()).toBe(130);
    expect(run.output()).toMatch(/Interrupted \(SIGINT\) while starting: stopped everything/);
    expect(await waitForNoStackProcesses(stateDir, groups, 2_000)).toEqual([]);
    await expect(readFile(path.join(stateDir, 'stack.json'))).rejects.toThrow(/ENOENT/);
  });

  it('stops nginx and exits non-zero naming MLflow when MLflow is killed with SIGKILL', async () => {
    const { stateDir, run, record, groups } = await startForeground();
    process.kill(record.mlflow.pid, 'SIGKILL');
    const result = await run.child;
    expect(result.exitCode, run.output()).toBe(3);
    expect(run.output()).toMatch(/error: mlflow was killed by SIGKILL while the stack was running; stopped the rest/);
    expect(run.output()).toMatch(/last lines of .*mlflow\.log/);
    // nginx, MLflow's orphaned uvicorn workers and job runners: all gone.
    expect(await waitForNoStackProcesses(stateDir, groups, 2_000)).toEqual([]);
  });

  it('leaves a working stack when the foreground up is SIGKILLed, and `down` cleans up its orphans', async () => {
    const { cwd, stateDir, run, record, groups } = await startForeground();
    run.child.kill('SIGKILL');
    await run.child;
    const url = new URL(record.url);
    // The children write to files, not to the dead supervisor: they keep serving.
    expect(
      (
        await request({
          host: url.hostname,
          port: Number(url.port),
          path: '/',
          auth: { user: 'admin', password: PASSWORD },
        })
      ).status,
    ).toBe(200);
    expect((await stackProcesses(stateDir, groups)).length).toBeGreaterThanOrEqual(3);
    // status notices that nothing supervises the stack any more, and says what to do.
    const status = await cli(['status'], { cwd });
    expect(status.stdout).toMatch(new RegExp(`its supervisor \\(pid ${run.child.pid}\\) is gone`));
    // Run by path, the hint names the command that works: `node <path>/dist/cli.js down`.
    expect(status.stdout).toContain(`Stop it with: node ${cliPath} down`);
    expect(JSON.parse((await cli(['status', '--json'], { cwd })).stdout)).toMatchObject({
      supervisor: 'gone',
      supervisorPid: run.child.pid,
    });
    const down = await cli(['down'], { cwd });
    expect(down.exitCode, down.stderr).toBe(0);
    expect(down.stdout).toMatch(/Stopped mlflow/);
    expect(await waitForNoStackProcesses(stateDir, groups, 2_000)).toEqual([]);
  });

  it('`down` from another terminal stops a foreground up, which exits 0', async () => {
    const { cwd, stateDir, run, groups } = await startForeground();
    const down = await cli(['down'], { cwd });
    expect(down.exitCode, down.stderr).toBe(0);
    expect((await run.child).exitCode, run.output()).toBe(0);
    expect(await waitForNoStackProcesses(stateDir, groups, 2_000)).toEqual([]);
  });
});
