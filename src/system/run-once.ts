/**
 * Short-lived commands run to completion (nginx -t, mlflow --version, ps, tasklist, git, pip).
 * Its own file, apart from processes.ts (the long-lived children): process-table.ts and the
 * setup, store and git helpers need only this, and processes.ts needs process-table.ts, so
 * sharing one file made a cycle.
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
  timeoutMs: number;
  /** The child's whole environment (else ours). */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /**
   * Let the user watch (pip, apt-get): the child's output goes to our stderr as it comes (its
   * stdout there too, so our stdout keeps only results); its stderr is also kept for errors.
   */
  show?: boolean;
}

/**
 * Runs a short-lived command (`nginx -t`, `nginx -v`, `mlflow --version`, `ps`, `tasklist`,
 * `git check-ignore`, pip) to completion: no shell, no stdin, a time limit, never throws.
 * execa is loaded on first use, so the commands that run none (`--version`, `status` on
 * Linux) do not load it.
 */
export async function runOnce(file: string, args: readonly string[], o: RunOptions): Promise<RunResult> {
  const { execa } = await import('execa');
  const r = await execa(file, args, {
    ...(o.env ? { env: o.env, extendEnv: false } : {}),
    ...(o.cwd ? { cwd: o.cwd } : {}),
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
    result.error = r.timedOut
      ? `timed out after ${Math.round(o.timeoutMs / 1000)} s`
      : (r as { code?: string }).code === 'ENOENT'
        ? 'not found'
        : (r.originalMessage ?? r.shortMessage);
  }
  return result;
}
