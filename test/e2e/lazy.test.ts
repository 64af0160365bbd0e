/**
 * Lazy loading is real: the commands people run most often, and `--version`, load neither
 * execa (260 modules) nor bcryptjs. Measured by a resolve hook that lists every module the
 * built CLI loads (test/fixtures/record-imports.mjs).
 */
import { execa } from 'execa';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, cliPath, removeDir, root, tempDir } from './helpers.js';

let dir: string;
beforeAll(async () => {
  dir = await tempDir();
});
afterAll(async () => removeDir(dir));

async function modulesLoadedBy(args: string[]): Promise<{ exitCode: number; urls: string[] }> {
  const list = path.join(dir, `imports-${args[0]}.txt`);
  const r = await execa(
    process.execPath,
    ['--import', path.join(root, 'test', 'fixtures', 'record-imports.mjs'), cliPath, ...args],
    {
      cwd: dir,
      env: cleanEnv({ RECORD_IMPORTS_TO: list }),
      extendEnv: false,
      reject: false,
      stdin: 'ignore',
    },
  );
  const urls = (await readFile(list, 'utf8')).split('\n').filter(Boolean);
  return { exitCode: r.exitCode ?? -1, urls };
}

describe('lazy loading', () => {
  it.each([[['--version']], [['status', '--state-dir', 'state']], [['down', '--state-dir', 'state']]])(
    '%j loads neither execa nor bcryptjs',
    async (args) => {
      const { exitCode, urls } = await modulesLoadedBy(args);
      expect(exitCode).not.toBe(1);
      expect(urls.some((u) => u.endsWith('/dist/main.js'))).toBe(true);
      expect(urls.filter((u) => /\/node_modules\/(execa|bcryptjs)\//.test(u))).toEqual([]);
    },
  );

  it('the hook does see them where they are used (config loads execa)', async () => {
    const { urls } = await modulesLoadedBy(['config']);
    expect(urls.some((u) => u.includes('/node_modules/execa/'))).toBe(true);
    expect(urls.some((u) => u.includes('/node_modules/bcryptjs/'))).toBe(true);
  });
});
