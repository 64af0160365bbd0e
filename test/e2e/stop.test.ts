/**
 * stopTree's timing rules on real process groups, provoked with tiny fake programs:
 * a lone process gets its whole grace period to shut down cleanly; a leader whose workers
 * have all exited (the `mlflow` CLI's teardown) is killed soon after.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { getPlatform } from '../../src/system/platform.js';
import { liveGroupMembers } from '../../src/system/process-table.js';
import { LEADER_TEARDOWN_MS, startProcess, stopTree } from '../../src/system/processes.js';
import { removeDir, root, tempDir } from './helpers.js';

const platform = getPlatform();
const fixture = (name: string) => path.join(root, 'test', 'fixtures', name);

describe('stopTree on process groups', () => {
  let dir: string;
  afterEach(async () => removeDir(dir));

  async function start(name: string) {
    dir = await tempDir('mlflow-secure-stop-');
    const p = await startProcess({
      name,
      file: process.execPath,
      args: [fixture(name)],
      env: {},
      cwd: dir,
      logFile: path.join(dir, 'out.log'),
      platform,
    });
    const deadline = Date.now() + 10_000;
    // Running, with its SIGTERM handlers in place (and, for the leader, its worker's too).
    const ready = name === 'leader-lingers.mjs' ? /worker: running/ : /graceful-slow: running/;
    while (!ready.test(await readFile(path.join(dir, 'out.log'), 'utf8').catch(() => ''))) {
      if (Date.now() > deadline) throw new Error(`${name} did not start`);
      await new Promise((r) => setTimeout(r, 25));
    }
    return p;
  }

  it('gives a lone process its grace period to finish cleanly (not killed)', async () => {
    const p = await start('graceful-slow.mjs');
    const started = Date.now();
    expect(
      await stopTree({ name: 'x', pid: p.pid, group: true, identity: [] }, { platform, graceMs: 5_000, verify: false }),
    ).toBe('stopped');
    const exit = await p.exited;
    expect(exit).toMatchObject({ code: 0, signal: undefined });
    expect(Date.now() - started).toBeGreaterThanOrEqual(700);
  });

  it('kills a leader soon after its workers exited, without waiting out the grace period', async () => {
    const p = await start('leader-lingers.mjs');
    const started = Date.now();
    expect(
      await stopTree(
        { name: 'x', pid: p.pid, group: true, identity: [] },
        { platform, graceMs: 10_000, verify: false },
      ),
    ).toBe('stopped');
    const elapsed = Date.now() - started;
    expect((await p.exited).signal).toBe('SIGKILL');
    expect(elapsed).toBeGreaterThanOrEqual(LEADER_TEARDOWN_MS);
    expect(elapsed).toBeLessThan(5_000);
    expect(await liveGroupMembers(p.pid, platform)).toEqual([]);
  });
});
