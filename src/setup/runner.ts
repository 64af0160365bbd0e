/**
 * How `setup` runs other programs (Python, pip, apt-get): one injectable function, so unit
 * tests fake them and check the exact commands, and the real one is execa.
 */

export interface RunResult {
  /** Undefined when the program did not run to an exit: see `error`. */
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
  /** Why there is no exit code: 'not found', 'timed out after N s', or the spawn error. */
  error?: string;
}

export interface RunOptions {
  /**
   * Let the user watch: the child's output goes to our stderr as it comes (its stdout there
   * too, so our stdout keeps only results), and its stderr is also kept for the error line.
   */
  show?: boolean;
  env?: NodeJS.ProcessEnv;
  timeoutMs: number;
}

export type Runner = (file: string, args: readonly string[], o: RunOptions) => Promise<RunResult>;

/** The real runner. Loads execa on first use (main.ts must not pay for it). */
export function execaRunner(baseEnv: NodeJS.ProcessEnv): Runner {
  return async (file, args, o) => {
    const { execa } = await import('execa');
    const r = await execa(file, args, {
      env: o.env ?? baseEnv,
      extendEnv: false,
      stdin: 'ignore',
      // fd 2 itself, not a pipe: pip and apt-get see the terminal and draw their progress.
      stdout: o.show ? 2 : 'pipe',
      stderr: o.show ? ['inherit', 'pipe'] : 'pipe',
      reject: false,
      timeout: o.timeoutMs,
      windowsHide: true,
    });
    const text = (v: unknown) => (typeof v === 'string' ? v : '');
    const result: RunResult = { exitCode: r.exitCode, stdout: text(r.stdout), stderr: text(r.stderr) };
    if (r.exitCode === undefined) {
      result.error = r.timedOut ? `timed out after ${Math.round(o.timeoutMs / 1000)} s` : (r as { code?: string }).code === 'ENOENT' ? 'not found' : (r.originalMessage ?? r.shortMessage);
    }
    return result;
  };
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
