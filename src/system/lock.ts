/**
 * One command at a time changes a state folder: `user add` and friends read, modify and write
 * the password file, and two at once would lose one's change. The lock is proper-lockfile's
 * (an atomic mkdir of `<state>/lock`, its mtime refreshed while held), so a holder that crashed
 * leaves a lock that turns stale and is taken over, never one that blocks forever.
 */
import nodePath from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { UserError } from '../errors.js';

export const DEFAULT_LOCK_TIMEOUT_MS = 15_000;
/** A lock whose mtime is older than this is a crashed holder's. Held locks are refreshed every STALE_MS / 2. */
const STALE_MS = 10_000;
const MIN_DELAY_MS = 20;
const MAX_DELAY_MS = 200;

/** Runs `fn` while holding the state folder's lock (the folder must exist). Not reentrant. */
export async function withStateLock<T>(
  stateDir: string,
  fn: () => Promise<T>,
  o: { timeoutMs?: number } = {},
): Promise<T> {
  // Loaded on first use: proper-lockfile installs exit and signal hooks when imported.
  const lockfile = await import('proper-lockfile');
  const lockfilePath = nodePath.join(stateDir, 'lock');
  const timeoutMs = o.timeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  let compromised: Error | undefined;
  const options = {
    lockfilePath,
    stale: STALE_MS,
    realpath: false,
    retries: 0,
    // The default throws from a timer (a crash with a stack); report it after `fn` instead.
    onCompromised: (error: Error) => {
      compromised = error;
    },
  };
  let release: (() => Promise<void>) | undefined;
  // Bounded twice: by the deadline, and by a count in case the clock jumps.
  for (let attempt = 0; attempt <= Math.ceil(timeoutMs / MIN_DELAY_MS); attempt++) {
    try {
      release = await lockfile.lock(stateDir, options);
      break;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ELOCKED') {
        throw new UserError(`cannot lock the state folder ${stateDir} (${code ?? 'error'})`, {
          hint: 'Check that it exists and that you can write to it',
        });
      }
      const left = deadline - Date.now();
      if (left <= 0) break;
      await sleep(Math.min(left, MIN_DELAY_MS + Math.random() * (MAX_DELAY_MS - MIN_DELAY_MS)));
    }
  }
  if (!release) {
    throw new UserError(`another mlflow-secure command is changing ${stateDir}`, {
      hint: `Wait for it and try again (a lock left by a crashed command expires after ${STALE_MS / 1000} s)`,
    });
  }
  let result: T;
  try {
    result = await fn();
  } finally {
    // Already gone (lock taken over, folder removed by a failed start): nothing left to release.
    await release().catch(() => undefined);
  }
  if (compromised) {
    throw new UserError(`the lock on ${stateDir} was lost while this command ran (${compromised.message})`, {
      hint: 'Check the result (e.g. `mlflow-secure user list`) and run the command again if needed',
    });
  }
  return result;
}
