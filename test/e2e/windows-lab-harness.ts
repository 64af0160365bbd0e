/**
 * What the Windows lab suites (windows-lab*.test.ts) share: where the lab's nginx.exe is, the result of
 * a run under Wine and the Linux view of an nginx.exe copy's processes (Wine's own tasklist
 * prints nothing, so the tests read /proc).
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { readdir } from 'node:fs/promises';
// @ts-expect-error: a plain-JavaScript helper script without type declarations
import { toWinePath } from '../../scripts/wine-node.mjs';
import { root } from './helpers.js';

export interface WineRun {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Live (non-zombie) Linux processes running this nginx.exe copy under Wine. */
export async function nginxExeProcesses(exe: string): Promise<number[]> {
  const pids: number[] = [];
  const win = toWinePath(exe) as string;
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ');
      const state = readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]?.[0];
      // Started by a Windows process its command line names the Windows path; started from
      // Linux (`wine <exe>`) the Linux one. Both, or a master left out respawns the killed worker.
      if ((cmd.includes(win) || cmd.startsWith(`${exe} `)) && state !== 'Z' && state !== 'X') pids.push(Number(entry));
    } catch {
      // gone
    }
  }
  return pids;
}

/** The lab's nginx.exe: MLFLOW_SECURE_WINDOWS_LAB, else `shared/windows-lab` next to the repository (or its worktree folder). */
export function findLab(): string | undefined {
  const candidates = [
    process.env.MLFLOW_SECURE_WINDOWS_LAB,
    path.join(root, '..', 'shared', 'windows-lab'),
    path.join(root, '..', '..', 'shared', 'windows-lab'),
  ].filter((d): d is string => d !== undefined);
  return candidates.map((d) => path.join(d, 'nginx.exe')).find((f) => existsSync(f));
}

/** Why the lab's suites skip where findLab finds nothing. */
export const NO_LAB =
  'no windows-lab/nginx.exe (set MLFLOW_SECURE_WINDOWS_LAB, or put shared/windows-lab next to the repository)';

/**
 * `nginx.exe <args> -t` under Wine (`-q` dropped, so a pass says "test is successful"): its exit
 * code and stderr, never a rejection.
 */
export function nginxExeTest(
  wine: { wine: string; env: NodeJS.ProcessEnv },
  exe: string,
  args: readonly string[],
): Promise<{ code: number | undefined; stderr: string }> {
  const argv = [exe, ...args.filter((a) => a !== '-q' && a !== '-t'), '-t'];
  return new Promise((resolve) =>
    execFile(wine.wine, argv, { env: wine.env }, (error, _stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stderr }),
    ),
  );
}
