/**
 * Windows' own programs by their full path. Pure.
 *
 * Given a bare name, Windows looks in the current folder before PATH: CreateProcess does, and so
 * do libuv (Node's spawn: src/win/process.c, search_path) and cmd.exe. So `tasklist` run from a
 * cloned repository that ships a `tasklist.exe` would run the repository's program. They live in
 * %SystemRoot%\System32 (the `open` package finds PowerShell the same way).
 */
import nodePath from 'node:path';

const PROGRAMS = {
  tasklist: 'System32\\tasklist.exe',
  taskkill: 'System32\\taskkill.exe',
  powershell: 'System32\\WindowsPowerShell\\v1.0\\powershell.exe',
  whoami: 'System32\\whoami.exe',
  icacls: 'System32\\icacls.exe',
} as const;
export type WindowsProgram = keyof typeof PROGRAMS;

/** Where Windows is, from SystemRoot (else windir): a plain drive path, else C:\Windows. */
export function windowsRoot(env: NodeJS.ProcessEnv): string {
  const root = env.SystemRoot ?? env.SYSTEMROOT ?? env.windir ?? env.WINDIR ?? '';
  return /^[A-Za-z]:\\[^;"<>|?*\r\n]*$/.test(root) ? root : 'C:\\Windows';
}

export function windowsProgram(name: WindowsProgram, env: NodeJS.ProcessEnv): string {
  return nodePath.win32.join(windowsRoot(env), PROGRAMS[name]);
}

/** The account's SID from `whoami /user /fo csv /nh` (`"pc\ana","S-1-5-21-…-1001"`), or undefined. */
export function parseWhoamiSid(stdout: string): string | undefined {
  const m = /^"[^"]*","(S-1-\d+(?:-\d+)+)"\s*$/m.exec(stdout);
  return m?.[1];
}

/** Well-known SIDs a user profile folder grants too: the system itself and the Administrators group. */
export const SYSTEM_SID = 'S-1-5-18';
export const ADMINISTRATORS_SID = 'S-1-5-32-544';

/**
 * icacls arguments that make `dir` what a user profile folder is: inherited entries removed,
 * full control for this account, SYSTEM and Administrators only, passed on to everything inside
 * ((OI)(CI)). Without it a folder outside the profile (C:\projects\…) inherits "Users: read".
 */
export function privateFolderArgs(dir: string, sid: string): string[] {
  return [
    dir,
    '/inheritance:r',
    '/grant:r',
    ...[sid, SYSTEM_SID, ADMINISTRATORS_SID].map((s) => `*${s}:(OI)(CI)F`),
    '/Q',
  ];
}
