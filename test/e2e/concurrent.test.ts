/** Two commands at once on one state folder: the lock and the `starting` claim keep one stack. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { request } from '../../src/system/http.js';
import {
  cli,
  readStackRecord,
  removeDir,
  spawnCli,
  stackProcesses,
  tempDir,
  waitForNoStackProcesses,
} from './helpers.js';

const PASSWORD = 'two-at-once-Pw-1';

describe('two `up -d` at once in one state folder', () => {
  let cwd: string | undefined;
  afterAll(async () => {
    if (cwd) {
      await cli(['down'], { cwd });
      await removeDir(cwd);
    }
  });

  it('starts exactly one stack; the other exits 1 with one line and starts nothing', async () => {
    cwd = await tempDir('mlflow-secure-two-ups-');
    const stateDir = path.join(cwd, '.mlflow-secure');
    const [a, b] = await Promise.all(
      [0, 1].map(() => cli(['up', '-d', '--port', 'auto'], { cwd: cwd!, env: { MLFLOW_SECURE_PASSWORD: PASSWORD } })),
    );
    const results = [a!, b!].sort((x, y) => x.exitCode - y.exitCode);
    expect(
      results.map((r) => r.exitCode),
      results.map((r) => r.stderr).join('\n---\n'),
    ).toEqual([0, 1]);
    const loser = results[1]!;
    expect(loser.stderr.split('\n').filter((l) => l.startsWith('error:'))).toHaveLength(1);
    expect(loser.stderr).toMatch(/already running|another `node \S+ up` \(pid \d+\) is starting/);
    const record = await readStackRecord(stateDir);
    // One MLflow tree (one CLI leading it), one nginx master: nothing of the loser is left.
    const procs = await stackProcesses(stateDir, [record.mlflow.pid, record.nginx.pid]);
    const leaders = procs.filter((p) => p.pid === p.pgid);
    expect(leaders.map((p) => p.pid).sort()).toEqual([record.mlflow.pid, record.nginx.pid].sort());
    const url = new URL(record.url);
    expect(
      (
        await request({
          host: url.hostname,
          port: Number(url.port),
          path: '/health',
          auth: { user: 'admin', password: PASSWORD },
        })
      ).status,
    ).toBe(200);
    const down = await cli(['down'], { cwd });
    expect(down.exitCode, down.stderr).toBe(0);
    expect(await waitForNoStackProcesses(stateDir, [record.mlflow.pid, record.nginx.pid])).toEqual([]);
  });
});

describe('`down` while `up` is still starting', () => {
  it('the starting up stops what it started (exit 130), down exits 0, nothing is left and no stack comes up later', async () => {
    const cwd = await tempDir('mlflow-secure-down-while-starting-');
    const stateDir = path.join(cwd, '.mlflow-secure');
    const run = spawnCli(['up', '-d', '--port', 'auto'], { cwd, env: { MLFLOW_SECURE_PASSWORD: PASSWORD } });
    try {
      // Wait for the claim: a `starting` record naming this up.
      const deadline = Date.now() + 60_000;
      for (;;) {
        const text = await readFile(path.join(stateDir, 'stack.json'), 'utf8').catch(() => '');
        if (text.includes('"starting"')) break;
        if (Date.now() > deadline) throw new Error(`no starting record; output: ${run.output()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const down = await cli(['down'], { cwd });
      expect(down.exitCode, down.stderr).toBe(0);
      const up = await run.child;
      expect(up.exitCode, run.output()).toBe(130);
      expect(run.output()).toMatch(/Interrupted \(node \S+ down\) while starting: stopped everything/);
      expect(await waitForNoStackProcesses(stateDir, [], 5_000)).toEqual([]);
      await expect(readFile(path.join(stateDir, 'stack.json'))).rejects.toThrow(/ENOENT/);
      await expect(readFile(path.join(stateDir, 'stopping'))).rejects.toThrow(/ENOENT/);
    } finally {
      run.child.kill('SIGKILL');
      await cli(['down'], { cwd });
      await removeDir(cwd);
    }
  });
});
