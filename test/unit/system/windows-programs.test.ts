/**
 * Windows' own programs are run by their full path, never by a bare name (which Windows looks up
 * in the current folder first: a cloned repository's tasklist.exe or taskkill.bat would run).
 */
import { beforeEach, describe, expect, it, vi } from 'vitest';

const ran: { file: string; args: readonly string[] }[] = [];
vi.mock('../../../src/system/run-once.js', () => ({
  runOnce: (file: string, args: readonly string[]) => {
    ran.push({ file, args });
    return Promise.resolve({ exitCode: 0, stdout: '', stderr: '' });
  },
}));

const { windowsProgram, windowsRoot } = await import('../../../src/system/windows-programs.js');
const { windowsTreeKill } = await import('../../../src/system/processes.js');
const { readCommandLine, readProcessIdentity } = await import('../../../src/system/process-table.js');
const { getPlatform } = await import('../../../src/system/platform.js');

beforeEach(() => {
  ran.length = 0;
});

describe('windowsProgram', () => {
  it('lives under SystemRoot', () => {
    expect(windowsProgram('tasklist', { SystemRoot: 'D:\\WINDOWS' })).toBe('D:\\WINDOWS\\System32\\tasklist.exe');
    expect(windowsProgram('taskkill', { SystemRoot: 'C:\\Windows' })).toBe('C:\\Windows\\System32\\taskkill.exe');
    expect(windowsProgram('powershell', { SYSTEMROOT: 'C:\\Windows' })).toBe(
      'C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe',
    );
    expect(windowsRoot({ windir: 'E:\\Win' })).toBe('E:\\Win');
  });

  it.each([[undefined], [''], ['Windows'], ['.\\win'], ['\\\\server\\share'], ['C:\\Win;C:\\evil'], ['C:\\a"b']])(
    'falls back to C:\\Windows for SystemRoot %j',
    (root) => {
      expect(windowsRoot(root === undefined ? {} : { SystemRoot: root })).toBe('C:\\Windows');
    },
  );
});

describe('what runs them', () => {
  const win32 = getPlatform('win32');
  const env = process.env;
  beforeEach(() => {
    process.env = { ...env, SystemRoot: 'C:\\Windows' };
    return () => {
      process.env = env;
    };
  });

  it('the tree kill runs exactly `<SystemRoot>\\System32\\taskkill.exe /pid N /T /F` (never by image name)', async () => {
    const error = await new Promise<Error | undefined>((resolve) => windowsTreeKill(4242, 'SIGTERM', resolve));
    expect(error).toBeUndefined();
    expect(ran).toEqual([{ file: 'C:\\Windows\\System32\\taskkill.exe', args: ['/pid', '4242', '/T', '/F'] }]);
  });

  it('a process is read through PowerShell, then tasklist, both by full path', async () => {
    await readProcessIdentity(77, win32);
    expect(ran.map((r) => r.file)).toEqual([
      'C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe',
      'C:\\Windows\\System32\\tasklist.exe',
    ]);
    expect(ran[1]?.args).toEqual(['/FI', 'PID eq 77', '/FO', 'CSV', '/NH']);
    ran.length = 0;
    await readCommandLine(77, win32);
    expect(ran.map((r) => r.file)).toEqual(['C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe']);
  });
});
