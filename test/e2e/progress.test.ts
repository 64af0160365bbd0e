/**
 * What `up` shows while it starts. On a real terminal (a pseudo-terminal from util-linux
 * `script`): a spinner on one updating line with the phase and elapsed seconds, the cursor
 * given back at the end. Piped, with NO_COLOR, or with --quiet: plain lines or none, and not
 * one escape code. Also: the deliberate wrong-password check labelled in the foreground logs,
 * and hints that name the command the user actually ran.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanEnv, cli, cliPath, removeDir, spawnCli, tempDir, waitForNoStackProcesses } from './helpers.js';

const PASSWORD = `progress-${Math.random().toString(36).slice(2)}-Pw`;
const ESC = '\u001b';

/** Runs the CLI on a pseudo-terminal and returns everything the terminal received. */
function onTerminal(
  args: string[],
  cwd: string,
  env: Record<string, string | undefined>,
): Promise<{ code: number | null; screen: string }> {
  const command = [process.execPath, cliPath, ...args].map((a) => `'${a}'`).join(' ');
  const child = spawn('script', ['-qec', command, '/dev/null'], {
    cwd,
    env: cleanEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let screen = '';
  child.stdout.on('data', (d: Buffer) => (screen += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (screen += d.toString('utf8')));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, screen })));
}

/** A terminal that can move the cursor, outside CI, colours allowed. */
const TTY_ENV = { TERM: 'xterm-256color', CI: undefined, NO_COLOR: undefined, MLFLOW_SECURE_PASSWORD: PASSWORD };

async function busyPort(): Promise<{ port: number; close: () => Promise<void> }> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return { port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe('progress while starting', () => {
  let cwd: string;
  afterEach(async () => {
    await cli(['down'], { cwd });
    expect(await waitForNoStackProcesses(path.join(cwd, '.mlflow-secure'), [], 10_000)).toEqual([]);
    await removeDir(cwd);
  });

  it('on a terminal: a spinner line with phases and elapsed seconds, then the summary', async () => {
    cwd = await tempDir();
    const { code, screen } = await onTerminal(['up', '-d', '--port', 'auto'], cwd, TTY_ENV);
    expect(code, screen).toBe(0);
    // One line redrawn in place: carriage to column 1 and erase-line, never a scroll of lines.
    expect(screen).toContain(`${ESC}[1G${ESC}[0K`);
    // A spinner frame (coloured: the colour's reset code follows it), then the phase and the seconds.
    expect(screen).toMatch(new RegExp(`[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏](?:${ESC}\\[39m)? Waiting for MLflow to answer \\(\\d+s\\)`));
    expect(screen).toMatch(/Proving that the password is required and works \(\d+s\)/);
    // MLflow takes seconds to start: the counter moved.
    expect(screen).toMatch(/\([1-9]\d*s\)/);
    // The spinner hid the cursor and gave it back before the summary.
    const summaryAt = screen.indexOf('is up behind nginx');
    expect(summaryAt).toBeGreaterThan(0);
    expect(screen.lastIndexOf(`${ESC}[?25h`)).toBeLessThan(summaryAt);
    expect(screen.lastIndexOf(`${ESC}[?25l`)).toBeLessThan(screen.lastIndexOf(`${ESC}[?25h`));
    expect(screen).not.toContain(PASSWORD);
  });

  it('piped: one plain line per phase in order, no escape code; foreground logs label the wrong-password check', async () => {
    cwd = await tempDir();
    const up = spawnCli(['up', '--port', 'auto'], {
      cwd,
      env: { MLFLOW_SECURE_PASSWORD: PASSWORD, CI: undefined, NO_COLOR: undefined, TERM: 'xterm-256color' },
    });
    await up.waitFor(/stop: .* down/);
    await up.waitFor(/password mismatch.*<- expected: mlflow-secure checking that a wrong password is refused/);
    const text = up.output();
    expect(text).not.toContain(ESC);
    const phases = [
      'Checking nginx, MLflow and the state folder...',
      'Writing the nginx config and the password file...',
      'Starting MLflow and nginx...',
      'Waiting for MLflow to answer...',
      'Proving that the password is required and works...',
    ];
    const positions = phases.map((p) => text.indexOf(p));
    expect(
      positions.every((p) => p >= 0),
      text,
    ).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    // The label is on nginx's line for our own check, and only there.
    const mismatches = text.split('\n').filter((l) => l.includes('password mismatch'));
    expect(mismatches.length).toBeGreaterThan(0);
    for (const l of mismatches) expect(l).toContain('/mlflow-secure/wrong-password-check');
    // Run by path: the hints name `node <path>`, which works; a bare `mlflow-secure` would not.
    expect(text).toContain(`stop:      node ${cliPath} down`);
    expect(text).not.toMatch(/(?<![\w./-])mlflow-secure (down|env)\b/);
    up.child.kill('SIGINT');
    expect((await up.child).exitCode).toBe(0);
  });

  it('NO_COLOR on a terminal: plain lines, no escape code from mlflow-secure', async () => {
    cwd = await tempDir();
    const port = await busyPort();
    try {
      const { code, screen } = await onTerminal(['up', '-d', '--port', String(port.port)], cwd, {
        ...TTY_ENV,
        NO_COLOR: '1',
      });
      expect(code).toBe(1);
      expect(screen).toContain('Checking nginx, MLflow and the state folder...');
      expect(screen).toMatch(/error: .*port/i);
      expect(screen).not.toContain(ESC);
    } finally {
      await port.close();
    }
  });

  it('--quiet on a terminal: no progress at all, the error still one line', async () => {
    cwd = await tempDir();
    const port = await busyPort();
    try {
      const { code, screen } = await onTerminal(['up', '-d', '--quiet', '--port', String(port.port)], cwd, TTY_ENV);
      expect(code).toBe(1);
      expect(screen).not.toContain('Checking nginx');
      expect(screen).not.toContain(ESC);
      expect(
        screen
          .trim()
          .split(/\r?\n/)
          .filter((l) => l.startsWith('error:')),
      ).toHaveLength(1);
    } finally {
      await port.close();
    }
  });

  it('after `npm start` (an npm script of this package) the hints say `npx mlflow-secure`', async () => {
    cwd = await tempDir();
    const r = await cli(['up', '-d', '--port', 'auto'], {
      cwd,
      env: { MLFLOW_SECURE_PASSWORD: PASSWORD, npm_lifecycle_event: 'start', npm_package_name: 'mlflow-secure' },
    });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain('clients:   eval "$(npx mlflow-secure env)"');
    expect(r.stdout).toContain('stop:      npx mlflow-secure down');
  });
});
