/**
 * The Windows tree kill, proven by the exact command (Wine's taskkill has no /T, so it cannot
 * be run here): stopTree on win32 hands the pid to the tree kill, which runs taskkill by its
 * full path (windows-programs.test.ts). Never by image name.
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { getPlatform } from '../../../src/system/platform.js';
import { isAlive, stopTree } from '../../../src/system/processes.js';

describe('tree kill on Windows', () => {
  it('the plan shows `taskkill /pid <pid> /T /F` (never by image name)', () => {
    expect(getPlatform('win32').treeKillCommand(4242)).toEqual({
      file: 'taskkill',
      args: ['/pid', '4242', '/T', '/F'],
    });
  });

  it('stopTree on win32 kills through the tree kill (no process-group signals) and waits until the process is gone', async () => {
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    const pid = child.pid!;
    const exited = new Promise((r) => child.once('exit', r));
    const calls: [number, string][] = [];
    const result = await stopTree(
      { name: 'mlflow', pid, group: false, identity: [] },
      {
        platform: getPlatform('win32'),
        graceMs: 5_000,
        verify: false,
        treeKill: (p, signal, cb) => {
          calls.push([p, signal]);
          process.kill(p, 'SIGKILL'); // what taskkill /F does
          cb();
        },
      },
    );
    expect(result).toBe('stopped');
    expect(calls).toEqual([[pid, 'SIGTERM']]);
    await exited;
    expect(isAlive(pid)).toBe(false);
  });
});
