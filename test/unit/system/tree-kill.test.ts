/**
 * The Windows tree kill, proven by the exact command (Wine's taskkill has no /T, so it cannot
 * be run here): stopTree on win32 hands the pid to tree-kill, and tree-kill on win32 runs
 * `taskkill /pid <pid> /T /F`. Never by image name.
 */
import childProcess, { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { afterEach, describe, expect, it } from 'vitest';
import { getPlatform } from '../../../src/system/platform.js';
import { isAlive, stopTree } from '../../../src/system/processes.js';

const require = createRequire(import.meta.url);

describe('tree kill on Windows', () => {
  const realPlatform = Object.getOwnPropertyDescriptor(process, 'platform')!;
  const realExec = childProcess.exec;
  afterEach(() => {
    Object.defineProperty(process, 'platform', realPlatform);
    (childProcess as { exec: typeof realExec }).exec = realExec;
    delete require.cache[require.resolve('tree-kill')];
  });

  it('tree-kill runs exactly `taskkill /pid <pid> /T /F` on win32', () => {
    const commands: string[] = [];
    (childProcess as unknown as { exec: (cmd: string, cb: () => void) => void }).exec = (cmd, cb) => {
      commands.push(cmd);
      cb();
    };
    Object.defineProperty(process, 'platform', { value: 'win32' });
    delete require.cache[require.resolve('tree-kill')];
    const treeKill = require('tree-kill') as (pid: number, signal: string, cb: () => void) => void;
    let called = false;
    treeKill(4242, 'SIGTERM', () => (called = true));
    expect(commands).toEqual(['taskkill /pid 4242 /T /F']);
    expect(called).toBe(true);
    expect(commands[0]).not.toMatch(/\/IM/i);
    // The plan shows the same command.
    expect(getPlatform('win32').treeKillCommand(4242)).toEqual({
      file: 'taskkill',
      args: ['/pid', '4242', '/T', '/F'],
    });
  });

  it('stopTree on win32 kills through tree-kill (no process-group signals) and waits until the process is gone', async () => {
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
