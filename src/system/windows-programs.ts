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
