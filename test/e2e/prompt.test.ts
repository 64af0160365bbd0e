/**
 * The hidden password prompt on a real terminal (a pseudo-terminal from util-linux `script`):
 * what is typed is never echoed, is asked twice, and ends up hashed in the password file.
 */
import { spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { hashPassword, verifyPassword } from '../../src/users/htpasswd.js';
import { cleanEnv, cliPath, removeDir, root, tempDir } from './helpers.js';

function onTerminal(args: string[], cwd: string) {
  const command = [process.execPath, cliPath, ...args].map((a) => `'${a}'`).join(' ');
  const child = spawn('script', ['-qec', command, '/dev/null'], {
    cwd,
    env: cleanEnv({ TERM: 'dumb' }),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let screen = '';
  child.stdout.on('data', (d: Buffer) => (screen += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (screen += d.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const waitFor = async (text: string) => {
    const deadline = Date.now() + 20_000;
    while (!screen.includes(text)) {
      if (Date.now() > deadline) throw new Error(`no "${text}" on the terminal; it shows:\n${screen}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  return { child, exited, waitFor, screen: () => screen, type: (s: string) => child.stdin.write(s) };
}

describe('hidden password prompt on a terminal', () => {
  let cwd: string;
  afterEach(async () => removeDir(cwd));

  it('asks twice without echoing and stores a hash that verifies', async () => {
    cwd = await tempDir();
    const password = 'typed-Secret-9876';
    const t = onTerminal(['user', 'add', 'carol'], cwd);
    await t.waitFor('Password for carol');
    t.type(`${password}\r`);
    await t.waitFor('Repeat it:');
    t.type(`${password}\r`);
    expect(await t.exited, t.screen()).toBe(0);
    expect(t.screen()).toMatch(/Added user 'carol'/);
    expect(t.screen()).not.toContain(password);
    const line = (await readFile(path.join(cwd, '.mlflow-secure', 'htpasswd'), 'utf8')).trim();
    expect(line.startsWith('carol:$2b$05$')).toBe(true);
    expect(verifyPassword(password, line.slice('carol:'.length))).toBe(true);
  });

  it('refuses two different entries, writing nothing', async () => {
    cwd = await tempDir();
    const t = onTerminal(['user', 'add', 'carol'], cwd);
    await t.waitFor('Password for carol');
    t.type('first-Secret-1\r');
    await t.waitFor('Repeat it:');
    t.type('second-Secret-2\r');
    expect(await t.exited).toBe(1);
    expect(t.screen()).toMatch(/error: the two passwords differ\. Run the command again/);
    await expect(readFile(path.join(cwd, '.mlflow-secure', 'htpasswd'))).rejects.toThrow(/ENOENT/);
  });

  it('does not prompt on a restart (the user exists and keeps its password); nginx -t failing is one clear error, exit 3', async () => {
    cwd = await tempDir();
    const state = path.join(cwd, '.mlflow-secure');
    await mkdir(state);
    const htpasswd = `admin:${hashPassword('kept-Secret-1', 'apr1')}\n`;
    await writeFile(path.join(state, 'htpasswd'), htpasswd, { mode: 0o600 });
    const t = onTerminal(
      ['up', '--port', 'auto', '--nginx', path.join(root, 'test', 'fixtures', 'fake-nginx-bad-conf.mjs')],
      cwd,
    );
    expect(await t.exited, t.screen()).toBe(3);
    expect(t.screen()).not.toContain('Password for');
    expect(t.screen()).toMatch(
      /error: nginx rejected the generated configuration .*nginx\.conf\. Read the nginx message below/,
    );
    expect(t.screen()).toMatch(/\[emerg\] unknown directive "fake"/);
    expect(await readFile(path.join(state, 'htpasswd'), 'utf8')).toBe(htpasswd);
    await expect(readFile(path.join(state, 'stack.json'))).rejects.toThrow(/ENOENT/);
  });
});
