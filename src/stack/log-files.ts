/**
 * The stack's log files: opened for the children to write themselves, rotated at each start,
 * and held under a size bound while a foreground `up` supervises.
 *
 * MLflow writes its log through a descriptor we open and hand over as its stdout and stderr
 * (nginx opens its own logs). Both append (O_APPEND): every write lands at the file's current
 * end, so a log can be emptied under a running writer (copy, then truncate) without leaving a
 * hole of NUL bytes where the old content was. Renaming would not do: a child keeps writing
 * into the renamed file, and MLflow cannot be told to reopen its stdout.
 *
 * Bound: a log over LOG_MAX_BYTES is rotated to `<log>.1` (older ones shift up to
 * `<log>.LOG_KEEP`, the oldest dropped) at each `up` (and `restart`), and every
 * LOG_CHECK_MS by a foreground `up`. A detached stack has no process of ours left, so its
 * logs grow until the next `up` or `restart`.
 */
import { closeSync, constants, fstatSync, ftruncateSync, openSync, promises as fs, readSync, writeSync } from 'node:fs';

export const LOG_MAX_BYTES = 10 * 1024 * 1024;
export const LOG_KEEP = 3;
export const LOG_CHECK_MS = 10_000;

export interface RotateOptions {
  maxBytes?: number;
  keep?: number;
}

/** `<file>.1` is the newest rotation, `<file>.<keep>` the oldest. */
export const rotatedLog = (file: string, n: number): string => `${file}.${n}`;

/**
 * Opens `file` for a child's stdout and stderr: write-only, appending, created owner-only and,
 * on POSIX, never through a symbolic link planted in its place. Close it once the child runs:
 * the child has its own copy.
 */
export async function openLogForChild(file: string, windows: boolean): Promise<fs.FileHandle> {
  // libuv turns 'a' into FILE_APPEND_DATA on Windows, the same always-at-the-end writes.
  if (windows) return fs.open(file, 'a', 0o600);
  return fs.open(file, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
}

async function sizeOf(file: string): Promise<number | undefined> {
  try {
    const stat = await fs.lstat(file);
    return stat.isFile() ? stat.size : undefined;
  } catch {
    return undefined;
  }
}

/** Makes room for a new `<file>.1`: `.1` -> `.2` ... -> `.<keep>`, the oldest removed. */
async function shiftRotations(file: string, keep: number): Promise<void> {
  await fs.rm(rotatedLog(file, keep), { force: true });
  for (let n = keep - 1; n >= 1; n--) {
    await fs.rename(rotatedLog(file, n), rotatedLog(file, n + 1)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
  }
}

/**
 * At start, while nothing writes `file`: when it is over the bound, it becomes `<file>.1`.
 * Returns whether it rotated.
 */
export async function rotateLog(file: string, o: RotateOptions = {}): Promise<boolean> {
  const size = await sizeOf(file);
  if (size === undefined || size <= (o.maxBytes ?? LOG_MAX_BYTES)) return false;
  await shiftRotations(file, o.keep ?? LOG_KEEP);
  await fs.rename(file, rotatedLog(file, 1));
  return true;
}

/**
 * While children append to `file`: when it is over the bound, its content goes to `<file>.1`
 * and it is emptied in place, so the writers' descriptors stay valid. The bulk is copied
 * asynchronously; what was appended meanwhile follows in one synchronous step that ends with the
 * truncation, so only a write landing in those last microseconds can be lost. Returns whether
 * it trimmed.
 */
export async function trimLog(file: string, o: RotateOptions = {}): Promise<boolean> {
  const size = await sizeOf(file);
  if (size === undefined || size <= (o.maxBytes ?? LOG_MAX_BYTES)) return false;
  await shiftRotations(file, o.keep ?? LOG_KEEP);
  const target = rotatedLog(file, 1);
  await fs.copyFile(file, target);
  const source = openSync(file, 'r+');
  try {
    const sink = openSync(target, 'a');
    try {
      let copied = fstatSync(sink).size;
      const buffer = Buffer.alloc(64 * 1024);
      for (let read; (read = readSync(source, buffer, 0, buffer.length, copied)) > 0; copied += read)
        writeSync(sink, buffer, 0, read);
      ftruncateSync(source, 0);
    } finally {
      closeSync(sink);
    }
  } finally {
    closeSync(source);
  }
  return true;
}

/**
 * Trims each of `files` that grows past the bound, checked every `intervalMs` until the
 * returned function is called (it waits for a trim in progress). Failures (a full disk, a
 * file removed) are left for the next check: the logs must never stop the stack.
 */
export function keepLogsBounded(
  files: readonly string[],
  o: RotateOptions & { intervalMs?: number } = {},
): () => Promise<void> {
  let busy: Promise<void> = Promise.resolve();
  let stopped = false;
  const check = async () => {
    for (const file of files) if (!stopped) await trimLog(file, o).catch(() => false);
  };
  const timer = setInterval(() => {
    busy = busy.then(check);
  }, o.intervalMs ?? LOG_CHECK_MS);
  timer.unref();
  return async () => {
    stopped = true;
    clearInterval(timer);
    await busy;
  };
}
