/**
 * The stack's log files: rotation at start, trimming under a live appending writer, the
 * descriptor a child gets, and the follower going on after a trim.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { keepLogsBounded, LOG_MAX_BYTES, openLogForChild, rotateLog, trimLog } from '../../../src/stack/log-files.js';
import { keeperArgs, keepStackLogs, parseKeeperArgs } from '../../../src/stack/log-keeper.js';
import { getPlatform } from '../../../src/system/platform.js';
import { followFile } from '../../../src/system/follow-file.js';
import { startProcess } from '../../../src/system/processes.js';

let dir: string;
let log: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'mlflow-secure-log-files-'));
  log = path.join(dir, 'mlflow.log');
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const read = (file: string) => fs.readFile(file, 'utf8').catch(() => undefined);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('rotateLog (at start, nothing writing)', () => {
  it('leaves a log at or under the bound alone', async () => {
    await fs.writeFile(log, '0123456789');
    expect(await rotateLog(log, { maxBytes: 10 })).toBe(false);
    expect(await read(log)).toBe('0123456789');
    expect(await read(`${log}.1`)).toBeUndefined();
  });

  it('does nothing for a log that does not exist', async () => {
    expect(await rotateLog(log, { maxBytes: 10 })).toBe(false);
  });

  it('moves a log over the bound to .1, shifts the older ones and drops the oldest', async () => {
    await fs.writeFile(log, 'current, too big\n');
    await fs.writeFile(`${log}.1`, 'one\n');
    await fs.writeFile(`${log}.2`, 'two\n');
    await fs.writeFile(`${log}.3`, 'three\n');
    expect(await rotateLog(log, { maxBytes: 10, keep: 3 })).toBe(true);
    expect(await read(log)).toBeUndefined();
    expect(await read(`${log}.1`)).toBe('current, too big\n');
    expect(await read(`${log}.2`)).toBe('one\n');
    expect(await read(`${log}.3`)).toBe('two\n');
    expect(await read(`${log}.4`)).toBeUndefined();
  });

  it('shifts over gaps in the older ones', async () => {
    await fs.writeFile(log, 'current, too big\n');
    await fs.writeFile(`${log}.2`, 'two\n');
    expect(await rotateLog(log, { maxBytes: 10, keep: 3 })).toBe(true);
    expect(await read(`${log}.1`)).toBe('current, too big\n');
    expect(await read(`${log}.2`)).toBeUndefined();
    expect(await read(`${log}.3`)).toBe('two\n');
  });
});

describe('openLogForChild', () => {
  it.skipIf(process.platform === 'win32')('refuses a symbolic link planted in place of the log', async () => {
    const target = path.join(dir, 'bashrc');
    await fs.writeFile(target, 'keep me\n');
    await fs.symlink(target, log);
    await expect(openLogForChild(log, false)).rejects.toMatchObject({ code: 'ELOOP' });
    expect(await read(target)).toBe('keep me\n');
  });

  it.skipIf(process.platform === 'win32')('creates the log owner-only and appends to an existing one', async () => {
    const first = await openLogForChild(log, false);
    await first.write('one\n', 0);
    await first.close();
    expect((await fs.stat(log)).mode & 0o777).toBe(0o600);
    const second = await openLogForChild(log, false);
    // A position is ignored: O_APPEND writes at the end.
    await second.write('two\n', 0);
    await second.close();
    expect(await read(log)).toBe('one\ntwo\n');
  });
});

/** A child of ours that appends `tick N` lines to `log` through the descriptor startProcess gives it. */
async function tickingChild(count: number, everyMs: number) {
  const script = `let n = 0; const t = setInterval(() => { console.log('tick ' + n++); if (n === ${count}) clearInterval(t); }, ${everyMs});`;
  return startProcess({
    name: 'mlflow',
    file: process.execPath,
    args: ['-e', script],
    env: {},
    cwd: dir,
    logFile: log,
    platform: getPlatform(),
  });
}

describe('trimLog (a child appending all along)', () => {
  it('moves the content to .1 and empties the log; the child goes on at the new start, no NUL bytes', async () => {
    const child = await tickingChild(40, 20);
    await sleep(400);
    expect(await trimLog(log, { maxBytes: 10 })).toBe(true);
    await child.exited;
    const current = (await read(log))!;
    const old = (await read(`${log}.1`))!;
    expect(current).not.toContain('\0');
    expect(current.startsWith('tick ')).toBe(true);
    const ticks = [...old.split('\n'), ...current.split('\n')].filter(Boolean);
    // Every line is whole, in order, once; the window between copy and truncate lost none here.
    expect(ticks).toEqual(Array.from({ length: 40 }, (_, n) => `tick ${n}`));
    expect(old.split('\n').filter(Boolean).length).toBeGreaterThan(0);
  });

  it('leaves a log under the bound alone', async () => {
    await fs.writeFile(log, 'small\n');
    expect(await trimLog(log, { maxBytes: 1024 })).toBe(false);
    expect(await read(log)).toBe('small\n');
  });
});

describe('keepLogsBounded', () => {
  it('trims a log that passes the bound at the next check, and stops checking when told', async () => {
    const other = path.join(dir, 'nginx-access.log');
    await fs.writeFile(other, 'small\n');
    const stop = keepLogsBounded([log, other], { maxBytes: 100, intervalMs: 50 });
    await fs.writeFile(log, 'x'.repeat(200));
    for (let i = 0; i < 100 && (await fs.stat(log)).size > 0; i++) await sleep(20);
    expect((await fs.stat(log)).size).toBe(0);
    expect(await read(`${log}.1`)).toBe('x'.repeat(200));
    expect(await read(other)).toBe('small\n');
    await stop();
    await fs.writeFile(log, 'y'.repeat(200));
    await sleep(200);
    expect(await read(log)).toBe('y'.repeat(200));
  });

  it('keeps checking after a failed trim (a log removed meanwhile)', async () => {
    const stop = keepLogsBounded([path.join(dir, 'gone', 'x.log'), log], { maxBytes: 100, intervalMs: 30 });
    await fs.writeFile(log, 'x'.repeat(200));
    for (let i = 0; i < 100 && (await fs.stat(log)).size > 0; i++) await sleep(20);
    await stop();
    expect((await fs.stat(log)).size).toBe(0);
  });
});

describe('followFile across a trim', () => {
  it('goes on from the start of the emptied log, a cut line shown once', async () => {
    await fs.writeFile(log, '');
    const lines: string[] = [];
    const stop = followFile(log, (l) => lines.push(l), { intervalMs: 20 });
    await sleep(60);
    await fs.appendFile(log, 'one\ntwo\npartial');
    for (let i = 0; i < 50 && lines.length < 2; i++) await sleep(20);
    await fs.truncate(log, 0);
    await sleep(80);
    await fs.appendFile(log, 'three\n');
    for (let i = 0; i < 50 && !lines.includes('three'); i++) await sleep(20);
    await stop();
    expect(lines).toEqual(['one', 'two', 'partial', 'three']);
  });
});

describe('the log keeper of a detached stack', () => {
  const job = { pids: [101, 202], record: '/s/stack.json', logs: ['/s/logs/mlflow.log', '/s/logs/nginx-access.log'] };

  it('reads back exactly the job it was given', () => {
    expect(parseKeeperArgs(keeperArgs(job))).toEqual(job);
  });

  it('refuses anything else: bad pids, relative paths, no logs, missing flags', () => {
    const args = keeperArgs(job);
    expect(parseKeeperArgs(args.map((a) => (a === '101,202' ? '101,-1' : a)))).toBeUndefined();
    expect(parseKeeperArgs(args.map((a) => (a === '101,202' ? '$(id)' : a)))).toBeUndefined();
    expect(parseKeeperArgs(args.map((a) => (a === '/s/stack.json' ? 'stack.json' : a)))).toBeUndefined();
    expect(parseKeeperArgs(args.map((a) => (a === '/s/logs/mlflow.log' ? 'mlflow.log' : a)))).toBeUndefined();
    expect(parseKeeperArgs(args.slice(0, 5))).toBeUndefined();
    expect(parseKeeperArgs(args.slice(1))).toBeUndefined();
  });

  it('trims while the stack lives and ends when its processes are gone', async () => {
    const record = path.join(dir, 'stack.json');
    await fs.writeFile(record, '{}');
    const child = await tickingChild(25, 20);
    const kept = keepStackLogs({ pids: [child.pid], record, logs: [log] }, { checkMs: 20, trimMs: 30 });
    await fs.appendFile(log, 'x'.repeat(LOG_MAX_BYTES + 1));
    await child.exited;
    await kept;
    expect((await fs.stat(log)).size).toBeLessThan(1024);
    expect((await fs.stat(`${log}.1`)).size).toBeGreaterThan(LOG_MAX_BYTES);
  });

  it('ends when the stack record is gone, though a pid is alive', async () => {
    const kept = keepStackLogs(
      { pids: [process.pid], record: path.join(dir, 'none.json'), logs: [log] },
      { checkMs: 20 },
    );
    await expect(kept).resolves.toBeUndefined();
  });
});
