/** The rule for user names in the password file, shared by `user`, `up` and the state record's check. Pure. */
import { UserError } from '../errors.js';

export const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$/;

export function validateUserName(name: string, flag?: string): string {
  if (!USER_NAME.test(name)) {
    throw new UserError(
      // JSON.stringify: a name with a line break or escape codes stays on one visible line.
      `${flag ? `${flag}: ` : ''}bad user name ${JSON.stringify(name)}`,
      { hint: 'Use 1-64 letters, digits or . _ @ + -, starting with a letter or digit' },
    );
  }
  return name;
}
