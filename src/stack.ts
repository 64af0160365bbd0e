/** Stopping a recorded stack: shared by `down` and by `up` when it cleans up after itself. */
import { execa } from 'execa';
import type { Platform } from './platform.js';
import { ownership, stopTree, waitUntilGone, type StopResult, type StopTarget } from './processes.js';
import type { ProcessRecord, StackRecord } from './state.js';

/** How long a process gets to stop by itself before it is killed. */
export const GRACE_MS = 5_000;

export interface Stopped {
  name: string;
  pid: number;
  result: StopResult;
}

export function target(name: string, p: ProcessRecord): StopTarget {
  return { name, pid: p.pid, group: p.group, identity: p.identity, image: p.image };
}

/**
 * nginx first gets `-s quit` (graceful: finishes in-flight requests, closes idle keep-alive
 * connections), with the same -p/-c so it finds its pid file; MLflow gets TERM to its whole
 * tree. Both in parallel, each followed by KILL after the grace period.
 */
export async function stopStack(record: Pick<StackRecord, 'mlflow' | 'nginx'>, platform: Platform, graceMs = GRACE_MS): Promise<Stopped[]> {
  const jobs: Promise<Stopped>[] = [];
  if (record.nginx) {
    const nginx = record.nginx;
    const t = target('nginx', nginx);
    jobs.push(
      (async (): Promise<Stopped> => {
        const owner = await ownership(t, platform);
        if (owner !== 'ours') return { name: 'nginx', pid: t.pid, result: owner };
        await execa(nginx.file, nginx.quitArgs, { reject: false, timeout: graceMs, stdin: 'ignore', windowsHide: true });
        if (await waitUntilGone(t, Math.min(graceMs, 2_000), platform)) return { name: 'nginx', pid: t.pid, result: 'stopped' };
        return { name: 'nginx', pid: t.pid, result: await stopTree(t, { platform, graceMs: 1_000, verify: false }) };
      })(),
    );
  }
  if (record.mlflow) {
    const t = target('mlflow', record.mlflow);
    jobs.push(stopTree(t, { platform, graceMs }).then((result) => ({ name: 'mlflow', pid: t.pid, result })));
  }
  return Promise.all(jobs);
}
