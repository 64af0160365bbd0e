import { describe, expect, it } from 'vitest';
import { venvMlflowVersion } from '../../../src/mlflow/version.js';
import { getPlatform } from '../../../src/system/platform.js';

const linux = getPlatform('linux');
const win32 = getPlatform('win32');

/** A fake folder tree: path -> names in it. */
const tree = (dirs: Record<string, string[]>) => async (dir: string) => dirs[dir] ?? [];

describe('venvMlflowVersion', () => {
  const posix = {
    '/p/.venv': ['bin', 'lib', 'pyvenv.cfg'],
    '/p/.venv/lib': ['python3.11'],
    '/p/.venv/lib/python3.11/site-packages': [
      'mlflow',
      'mlflow-3.17.2.dist-info',
      'mlflow_skinny-3.17.2.dist-info',
      'mlflow_tracing-3.17.2.dist-info',
    ],
  };

  it("reads the mlflow package's dist-info folder of the executable's venv, not its sister packages", async () => {
    expect(await venvMlflowVersion('/p/.venv/bin/mlflow', linux, tree(posix))).toBe('3.17.2');
    const old = { ...posix, '/p/.venv/lib/python3.11/site-packages': ['mlflow-2.22.1.dist-info'] };
    expect(await venvMlflowVersion('/p/.venv/bin/mlflow', linux, tree(old))).toBe('2.22.1');
  });

  it('on Windows: Scripts\\mlflow.exe and Lib\\site-packages', async () => {
    const win = {
      'C:\\p\\.venv': ['Scripts', 'Lib', 'pyvenv.cfg'],
      'C:\\p\\.venv\\Lib\\site-packages': ['mlflow-3.4.0.dist-info'],
    };
    expect(await venvMlflowVersion('C:\\p\\.venv\\Scripts\\mlflow.exe', win32, tree(win))).toBe('3.4.0');
  });

  it('gives up (and `mlflow --version` answers) outside a venv, with no or two dist-infos, or another program', async () => {
    expect(await venvMlflowVersion('/usr/local/bin/mlflow', linux, tree(posix))).toBeUndefined();
    expect(await venvMlflowVersion('/p/tools/mlflow', linux, tree(posix))).toBeUndefined();
    expect(await venvMlflowVersion('/p/.venv/bin/python', linux, tree(posix))).toBeUndefined();
    const none = { ...posix, '/p/.venv/lib/python3.11/site-packages': ['mlflow_skinny-3.17.2.dist-info'] };
    expect(await venvMlflowVersion('/p/.venv/bin/mlflow', linux, tree(none))).toBeUndefined();
    const two = {
      ...posix,
      '/p/.venv/lib': ['python3.11', 'python3.12'],
      '/p/.venv/lib/python3.12/site-packages': ['mlflow-3.4.0.dist-info'],
    };
    expect(await venvMlflowVersion('/p/.venv/bin/mlflow', linux, tree(two))).toBeUndefined();
  });
});
