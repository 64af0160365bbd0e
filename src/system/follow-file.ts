/**
 * A log tailer: the foreground `up` and `logs --follow` read the log files the children write
 * into. Its own file: it reads files and starts nothing, so it has no place in processes.ts.
 */
import { promises as fs } from 'node:fs';

/**
 * Follows a growing text file, calling `onLine` for each complete line. Polling keeps it the
 * same on every OS and works for files other processes append to.
 */
export function followFile(
  file: string,
  onLine: (line: string) => void,
  o: { fromStart?: boolean; intervalMs?: number } = {},
): () => Promise<void> {
  let position = -1;
  let partial = '';
  let stopped = false;
  let busy: Promise<void> = Promise.resolve();
  const read = async (flush: boolean) => {
    let handle;
    try {
      const stat = await fs.stat(file);
      if (position === -1) position = o.fromStart ? 0 : stat.size;
      if (stat.size < position) {
        // Emptied (a trimmed log) or replaced (a rotated one): go on from its start.
        position = 0;
        if (partial !== '') onLine(partial);
        partial = '';
      }
      if (stat.size > position) {
        handle = await fs.open(file, 'r');
        const buffer = Buffer.alloc(stat.size - position);
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
        position += bytesRead;
        partial += buffer.subarray(0, bytesRead).toString('utf8');
        const lines = partial.split(/\r?\n/);
        partial = lines.pop() ?? '';
        for (const line of lines) onLine(line);
      }
    } catch {
      if (position === -1 && !o.fromStart) position = 0; // not there yet: it starts empty
    } finally {
      await handle?.close();
    }
    if (flush && partial !== '') {
      onLine(partial);
      partial = '';
    }
  };
  const timer = setInterval(() => {
    busy = busy.then(() => (stopped ? undefined : read(false)));
  }, o.intervalMs ?? 150);
  busy = read(false);
  return async () => {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
    await busy;
    await read(true);
  };
}
