/**
 * Two kinds of failure:
 * - UserError: something the user can fix. One line saying what is wrong and what to do,
 *   no stack trace, a documented exit code.
 * - anything else: our bug. The CLI prints the stack and asks for a report.
 */

/** Exit codes, documented in README.md ("Exit codes"). */
export const ExitCode = {
  ok: 0,
  /** Bad input or environment the user can fix (port in use, missing nginx, bad URI...). */
  userError: 1,
  /** Command-line usage error (unknown flag, missing argument); commander's own code. */
  usage: 2,
  /** The stack failed: a process did not become healthy, or died while supervised. */
  stackFailed: 3,
  /** Internal error: a bug in mlflow-secure. */
  bug: 70,
  /** Interrupted (Ctrl+C) before the stack was ready. */
  interrupted: 130,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export class UserError extends Error {
  override readonly name = 'UserError';
  constructor(
    message: string,
    /** What to do about it; printed after the message on the same line. */
    readonly hint?: string,
    readonly exitCode: ExitCodeValue = ExitCode.userError,
    /** Extra lines shown after the one-line message (e.g. a log tail). */
    readonly details?: string,
  ) {
    super(message);
  }
}

/** The stack failed to start or died: exit code 3, with the failing process's log tail. */
export class StackError extends UserError {
  constructor(message: string, hint?: string, details?: string) {
    super(message, hint, ExitCode.stackFailed, details);
  }
}

export function isUserError(error: unknown): error is UserError {
  return error instanceof UserError;
}

/** One line: "what is wrong. what to do" */
export function formatUserError(error: UserError): string {
  return error.hint ? `${error.message}. ${error.hint}` : error.message;
}
