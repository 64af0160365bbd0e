/**
 * How `setup` runs other programs (Python, pip, apt-get): one injectable function, so unit
 * tests fake them and check the exact commands, and the real one is run-once.ts's runOnce.
 */
import { runOnce, type RunResult } from '../system/run-once.js';
import { withEmptyDir } from '../mlflow/python-cwd.js';

export type { RunOptions, RunResult } from '../system/run-once.js';

export type Runner = typeof runOnce;

/**
 * The real runner: run-once.ts's runOnce, in `baseEnv` unless a run gives its own, and in an
 * empty folder of its own unless it gives a `cwd`: Python (`-c`, `-m pip`, `-m venv`) imports
 * from its working folder, which must never be the user's (python-cwd.ts).
 */
export function processRunner(baseEnv: NodeJS.ProcessEnv): Runner {
  return (file, args, o) =>
    o.cwd !== undefined
      ? runOnce(file, args, { ...o, env: o.env ?? baseEnv })
      : withEmptyDir((cwd) => runOnce(file, args, { ...o, env: o.env ?? baseEnv, cwd }));
}

/** The last non-empty line a failed child printed, for a one-line error. */
export function lastLine(...texts: string[]): string | undefined {
  for (const text of texts) {
    const line = text
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter(Boolean)
      .at(-1);
    if (line) return line;
  }
  return undefined;
}

/** Why a run failed, in a few words: "exit 1: <last line>" or "not found". */
export function failure(r: RunResult): string {
  if (r.exitCode === undefined) return r.error ?? 'did not run';
  const line = lastLine(r.stderr, r.stdout);
  return line ? `exit ${r.exitCode}: ${line}` : `exit ${r.exitCode}`;
}
