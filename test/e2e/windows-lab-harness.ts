/**
 * What the Windows lab suites (windows-lab.test.ts, windows-lab-tls.test.ts) share: the result of
 * a run under Wine and the Linux view of an nginx.exe copy's processes (Wine's own tasklist
 * prints nothing, so the tests read /proc).
 */
import { readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
// @ts-expect-error: a plain-JavaScript helper script without type declarations
import { toWinePath } from '../../scripts/wine-node.mjs';

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
      if (cmd.includes(win) && state !== 'Z' && state !== 'X') pids.push(Number(entry));
    } catch {
      // gone
    }
  }
  return pids;
}
