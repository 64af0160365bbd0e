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

/** What a UserError says besides its message; an options object, like Error's `{ cause }`. */
export interface UserErrorOptions {
  /** What to do about it; printed after the message on the same line. */
  hint?: string | undefined;
  exitCode?: ExitCodeValue | undefined;
  /** Extra lines shown after the one-line message (e.g. a log tail). */
  details?: string | undefined;
}

export class UserError extends Error {
  override readonly name = 'UserError';
  readonly hint: string | undefined;
  readonly exitCode: ExitCodeValue;
  readonly details: string | undefined;
  constructor(message: string, options: UserErrorOptions = {}) {
    super(message);
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? ExitCode.userError;
    this.details = options.details;
  }
}

/** The stack failed to start or died: exit code 3, with the failing process's log tail. */
export class StackError extends UserError {
  constructor(message: string, options: Omit<UserErrorOptions, 'exitCode'> = {}) {
    super(message, { ...options, exitCode: ExitCode.stackFailed });
  }
}

export function isUserError(error: unknown): error is UserError {
  return error instanceof UserError;
}

/** One line: "what is wrong. what to do" */
export function formatUserError(error: UserError): string {
  return error.hint ? `${error.message}. ${error.hint}` : error.message;
}
