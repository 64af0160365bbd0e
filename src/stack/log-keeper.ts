/**
 * Keeps a detached stack's logs bounded. Once `up -d` returns nothing of ours runs, and an
 * unauthenticated client alone can grow nginx's access log by ~600 KiB/s (a 401 costs nginx no
 * hash): so `up -d` leaves this small process behind, given the stack's pids and logs in argv
 * (never read from disk). It trims the logs (log-files.ts) every LOG_CHECK_MS and ends as soon
 * as none of the pids is alive (`down`, a crash) or the stack record is gone, checked each second.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { keepLogsBounded, LOG_CHECK_MS } from './log-files.js';

export interface KeeperJob {
  /** The stack's processes: the keeper ends when none of them is alive. */
  pids: number[];
  /** The stack record: the keeper ends when it is gone. */
  record: string;
  logs: string[];
}

/** This module as a script, for `up -d` to start with Node. */
export const keeperScript = (): string => fileURLToPath(import.meta.url);

export function keeperArgs(job: KeeperJob): string[] {
  return ['--pids', job.pids.join(','), '--record', job.record, '--', ...job.logs];
}

/** The job in `argv`, or undefined when it is not exactly what keeperArgs writes. */
export function parseKeeperArgs(argv: readonly string[]): KeeperJob | undefined {
  const [pidsFlag, pids, recordFlag, record, dashes, ...logs] = argv;
  if (pidsFlag !== '--pids' || recordFlag !== '--record' || dashes !== '--') return undefined;
  if (pids === undefined || !/^[1-9]\d*(,[1-9]\d*)*$/.test(pids)) return undefined;
  const all = [record, ...logs];
  if (logs.length === 0 || all.some((p) => p === undefined || !path.isAbsolute(p))) return undefined;
  return { pids: pids.split(',').map(Number), record: record!, logs };
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** Trims the job's logs until its stack is gone; settles then. */
export async function keepStackLogs(job: KeeperJob, o: { checkMs?: number; trimMs?: number } = {}): Promise<void> {
  const stop = keepLogsBounded(job.logs, { intervalMs: o.trimMs ?? LOG_CHECK_MS });
  const present = () =>
    fs.access(job.record).then(
      () => true,
      () => false,
    );
  while (job.pids.some(alive) && (await present())) await new Promise((r) => setTimeout(r, o.checkMs ?? 1_000));
  await stop();
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const job = parseKeeperArgs(process.argv.slice(2));
  if (job) await keepStackLogs(job);
}
