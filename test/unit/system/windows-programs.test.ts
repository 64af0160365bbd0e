/**
 * Windows' own programs are run by their full path, never by a bare name (which Windows looks up
 * in the current folder first: a cloned repository's tasklist.exe or taskkill.bat would run).
 */
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { RunOnce } from '../../../src/system/folders.js';

const ran: { file: string; args: readonly string[] }[] = [];
vi.mock('../../../src/system/run-once.js', () => ({
  runOnce: (file: string, args: readonly string[]) => {
    ran.push({ file, args });
    return Promise.resolve({ exitCode: 0, stdout: '', stderr: '' });
  },
}));

const { parseWhoamiSid, privateFolderArgs, windowsProgram, windowsRoot } =
  await import('../../../src/system/windows-programs.js');
const { makePrivateOnWindows, privateFolderWarning } = await import('../../../src/system/folders.js');
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

describe('the state folder made private on Windows', () => {
  const env = { SystemRoot: 'C:\\Windows' };
  const SID = 'S-1-5-21-1004336348-1177238915-682003330-1001';

  it('parseWhoamiSid reads the SID of `whoami /user /fo csv /nh`, and nothing else', () => {
    expect(parseWhoamiSid(`"desktop-7q\\ana","${SID}"\r\n`)).toBe(SID);
    expect(parseWhoamiSid('"AzureAD\\AnaLopez","S-1-12-1-1-2-3-4"\r\n')).toBe('S-1-12-1-1-2-3-4');
    // Wine prints the name only.
    expect(parseWhoamiSid('VM\\root\r\n')).toBeUndefined();
    expect(parseWhoamiSid(`"a","${SID} & calc"`)).toBeUndefined();
    expect(parseWhoamiSid('')).toBeUndefined();
  });

  it('privateFolderArgs: inheritance removed, full control for the account, SYSTEM and Administrators, inherited inside', () => {
    expect(privateFolderArgs('C:\\projects\\demo\\.mlflow-secure', SID)).toEqual([
      'C:\\projects\\demo\\.mlflow-secure',
      '/inheritance:r',
      '/grant:r',
      `*${SID}:(OI)(CI)F`,
      '*S-1-5-18:(OI)(CI)F',
      '*S-1-5-32-544:(OI)(CI)F',
      '/Q',
    ]);
  });

  it('makePrivateOnWindows runs whoami then icacls, both by full path', async () => {
    const calls: { file: string; args: readonly string[] }[] = [];
    const run: RunOnce = (file, args) => {
      calls.push({ file, args });
      const stdout = file.endsWith('whoami.exe') ? `"pc\\ana","${SID}"\r\n` : '';
      return Promise.resolve({ exitCode: 0, stdout, stderr: '' });
    };
    expect(await makePrivateOnWindows('C:\\p\\.mlflow-secure', env, run)).toBeUndefined();
    expect(calls).toEqual([
      { file: 'C:\\Windows\\System32\\whoami.exe', args: ['/user', '/fo', 'csv', '/nh'] },
      { file: 'C:\\Windows\\System32\\icacls.exe', args: privateFolderArgs('C:\\p\\.mlflow-secure', SID) },
    ]);
  });

  it('says why when it cannot: no SID (icacls not run), or icacls failing (a FAT drive)', async () => {
    const files: string[] = [];
    const noSid: RunOnce = (file) => {
      files.push(file);
      return Promise.resolve({ exitCode: 0, stdout: 'VM\\root\r\n', stderr: '' });
    };
    expect(await makePrivateOnWindows('C:\\p', env, noSid)).toBe('whoami /user named no account SID');
    expect(files).toEqual(['C:\\Windows\\System32\\whoami.exe']);
    const fat: RunOnce = (file) =>
      Promise.resolve(
        file.endsWith('whoami.exe')
          ? { exitCode: 0, stdout: `"pc\\ana","${SID}"`, stderr: '' }
          : { exitCode: 1, stdout: 'E:\\p: This function is not supported on this system.', stderr: '' },
      );
    const why = await makePrivateOnWindows('E:\\p', env, fat);
    expect(why).toBe('icacls failed: E:\\p: This function is not supported on this system.');
    expect(privateFolderWarning('E:\\p\\.mlflow-secure', why!)).toMatch(
      /^could not make the state folder E:\\p\\\.mlflow-secure private to your account \(icacls failed: .*\): other accounts on this computer may read/,
    );
  });
});
