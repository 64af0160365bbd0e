/**
 * A foreground `up` whose terminal or pipe goes away must still stop the whole stack: writes
 * to a closed pty fail with EIO and to a dead pipe with EPIPE, and neither may kill it.
 * `logs -f` must end on SIGHUP and when its reader goes.
 */
import { execa, type ResultPromise } from 'execa';
import { appendFile, mkdir, readFile, readlink, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  cleanEnv,
  cli,
  cliPath,
  readStackRecord,
  removeDir,
  spawnCli,
  stackProcesses,
  tempDir,
  waitForNoStackProcesses,
} from './helpers.js';

const PASSWORD = 'terminal-secret-1';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The pid of `node dist/cli.js up` running in `cwd`, read from the process table. */
async function findUp(cwd: string): Promise<number | undefined> {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0');
      if (argv[1] === cliPath && argv[2] === 'up' && (await readlink(`/proc/${entry}/cwd`)) === cwd)
        return Number(entry);
    } catch {
      // gone, or not ours to read
    }
  }
  return undefined;
}

/** Waits until `up` in `cwd` has proved the stack and supervises it; fails at once if `up` dies. */
async function waitUntilRunning(cwd: string, timeoutMs = 150_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let up: number | undefined;
  for (;;) {
    up ??= await findUp(cwd);
    if (up !== undefined && !alive(up)) throw new Error('`up` died before the stack was running');
    const s = await cli(['status', '--json'], { cwd });
    const status = s.exitCode === 0 ? (JSON.parse(s.stdout) as { healthy: boolean; phase?: string }) : undefined;
    if (up !== undefined && status?.healthy && status.phase !== 'starting') return up;
    if (Date.now() > deadline) throw new Error(`the stack was not running after ${timeoutMs} ms: ${s.stdout}`);
    await sleep(500);
  }
}

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (alive(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(100);
  }
  return true;
}

async function recordGone(stateDir: string): Promise<boolean> {
  return readFile(path.join(stateDir, 'stack.json')).then(
    () => false,
    () => true,
  );
}

describe('foreground up whose terminal or pipe goes away', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });

  /** A temp cwd; afterwards nothing of its stack may be left, whatever the test did. */
  async function workspace() {
    const cwd = await tempDir();
    const stateDir = path.join(cwd, '.mlflow-secure');
    const groups: number[] = [];
    cleanups.push(async () => {
      const up = await findUp(cwd);
      if (up !== undefined) process.kill(up, 'SIGKILL');
      await cli(['down'], { cwd });
      expect(await waitForNoStackProcesses(stateDir, groups)).toEqual([]);
      await removeDir(cwd);
    });
    const rememberGroups = async () => {
      const record = await readStackRecord(stateDir);
      groups.push(record.mlflow.pid, record.nginx.pid);
    };
    return { cwd, stateDir, groups, rememberGroups };
  }

  /** Runs `script` in bash as the leader of its own session and process group, as a terminal's job. */
  function job(script: string, cwd: string): ResultPromise {
    const child = execa('bash', ['-c', `set -o pipefail; ${script}`], {
      cwd,
      env: cleanEnv({ MLFLOW_SECURE_PASSWORD: PASSWORD }),
      extendEnv: false,
      detached: true,
      stdin: 'ignore',
      reject: false,
    });
    cleanups.unshift(async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
      await child;
    });
    return child;
  }

  it('a closed terminal (tmux kill-session) stops every process and removes the record', async () => {
    const { cwd, stateDir, groups, rememberGroups } = await workspace();
    // A private server whose socket lives in the temp folder: removed with it.
    const tmux = (...args: string[]) =>
      execa('tmux', ['-S', path.join(cwd, 'tmux.sock'), '-f', '/dev/null', ...args], {
        env: cleanEnv({ MLFLOW_SECURE_PASSWORD: PASSWORD }),
        extendEnv: false,
        reject: false,
      });
    cleanups.unshift(async () => void (await tmux('kill-server')));
    const started = await tmux(
      'new-session',
      '-d',
      '-s',
      'up',
      '-x',
      '160',
      '-y',
      '40',
      '-c',
      cwd,
      `${process.execPath} ${cliPath} up --port auto`,
    );
    expect(started.exitCode, started.stderr).toBe(0);
    const up = await waitUntilRunning(cwd);
    await rememberGroups();
    expect((await stackProcesses(stateDir, groups)).length).toBeGreaterThanOrEqual(3);

    await tmux('kill-session', '-t', 'up');
    expect(await waitForNoStackProcesses(stateDir, groups, 15_000)).toEqual([]);
    expect(await waitForExit(up, 5_000)).toBe(true);
    expect(await recordGone(stateDir)).toBe(true);
  });

  it('keeps supervising after the reader of its pipe exits, and still stops everything on SIGINT', async () => {
    const { cwd, stateDir, groups, rememberGroups } = await workspace();
    const run = job(`${process.execPath} ${cliPath} up --port auto 2>&1 | head -c 1`, cwd);
    // head exits after the first byte; the summary and log lines after it hit a dead pipe.
    const up = await waitUntilRunning(cwd);
    await rememberGroups();
    expect(alive(up)).toBe(true);
    expect((await cli(['status'], { cwd })).exitCode).toBe(0);

    process.kill(up, 'SIGINT');
    const result = await run;
    expect(result.exitCode).toBe(0);
    expect(await waitForNoStackProcesses(stateDir, groups, 15_000)).toEqual([]);
    expect(await recordGone(stateDir)).toBe(true);
  });

  it('Ctrl+C to the whole foreground job (`up 2>&1 | tee log`) stops every process and removes the record', async () => {
    const { cwd, stateDir, groups, rememberGroups } = await workspace();
    const log = path.join(cwd, 'up.log');
    const run = job(`${process.execPath} ${cliPath} up --port auto 2>&1 | tee ${log}`, cwd);
    const up = await waitUntilRunning(cwd);
    await rememberGroups();

    // A terminal sends SIGINT to the foreground process group: `up` and tee at once.
    process.kill(-run.pid!, 'SIGINT');
    await run;
    expect(await waitForNoStackProcesses(stateDir, groups, 15_000)).toEqual([]);
    expect(await waitForExit(up, 5_000)).toBe(true);
    expect(await recordGone(stateDir)).toBe(true);
    const text = await readFile(log, 'utf8');
    expect(text).toMatch(/is up behind nginx/);
    expect(text).not.toContain(PASSWORD);
  });
});

describe('logs -f', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });

  /** A state folder with an MLflow log, and no stack: `logs` only reads files. */
  async function withLog(lines: string[]) {
    const cwd = await tempDir();
    cleanups.push(() => removeDir(cwd));
    const logsDir = path.join(cwd, '.mlflow-secure', 'logs');
    await mkdir(logsDir, { recursive: true });
    const mlflowLog = path.join(logsDir, 'mlflow.log');
    await writeFile(mlflowLog, lines.map((l) => `${l}\n`).join(''));
    return { cwd, mlflowLog };
  }

  it('ends cleanly (exit 0) on SIGHUP', async () => {
    const { cwd } = await withLog(['first line']);
    const run = spawnCli(['logs', 'mlflow', '-f'], { cwd });
    cleanups.unshift(async () => void run.child.kill('SIGKILL'));
    await run.waitFor(/first line/, 10_000);
    await sleep(300); // following now
    run.child.kill('SIGHUP');
    const result = await run.child;
    expect(result.signal, run.output()).toBeUndefined();
    expect(result.exitCode, run.output()).toBe(0);
  });

  it('ends quietly (exit 0, no error) when the reader of its pipe exits (`logs -f | head -1`)', async () => {
    const { cwd, mlflowLog } = await withLog(['line 1', 'line 2']);
    const run = execa('bash', ['-c', `set -o pipefail; ${process.execPath} ${cliPath} logs mlflow -f | head -1`], {
      cwd,
      env: cleanEnv(),
      extendEnv: false,
      stdin: 'ignore',
      reject: false,
      timeout: 20_000,
    });
    // New lines keep coming, as from a live MLflow: writing them finds the pipe closed.
    const writer = setInterval(() => void appendFile(mlflowLog, 'more\n'), 200);
    cleanups.unshift(async () => clearInterval(writer));
    const result = await run;
    clearInterval(writer);
    expect(result.timedOut).toBe(false);
    expect(result.stdout).toBe('line 1');
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
  });
});

describe('output that cannot be written for another reason', () => {
  it('a full disk under stdout is one error line and exit 1, not a crash or a silent exit 0', async () => {
    const cwd = await tempDir();
    try {
      const run = await execa('bash', ['-c', `${process.execPath} ${cliPath} config --port 5000 > /dev/full`], {
        cwd,
        env: cleanEnv(),
        extendEnv: false,
        stdin: 'ignore',
        reject: false,
      });
      expect(run.stderr).toBe(
        'error: could not write the output (ENOSPC). Check where standard output goes (a full disk?) and run again',
      );
      expect(run.exitCode).toBe(1);
    } finally {
      await removeDir(cwd);
    }
  });
});
