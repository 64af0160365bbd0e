/** Failures that carry the end of the failing process's log: what the user reads first. */
import { StackError } from '../../errors.js';
import { tailFile } from '../../system/files.js';

/** A StackError whose details end with the last lines of `logFile` (what the user reads first). */
export async function failureWithLog(
  message: string,
  hint: string,
  logFile: string,
  name: string,
  lines = 25,
  before: string[] = [],
): Promise<StackError> {
  const tail = await tailFile(logFile, lines);
  return new StackError(message, {
    hint,
    details: [...before, tail ? `last lines of ${logFile}:\n${tail}` : `(${name} wrote nothing to ${logFile})`].join(
      '\n',
    ),
  });
}

/** Turns a failure of one process into a StackError carrying the end of its log. */
export async function withLogTail<T>(work: Promise<T>, name: string, logFile: string): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (error instanceof StackError && !error.details)
      throw await failureWithLog(error.message, error.hint ?? '', logFile, name);
    throw error;
  }
}
