import { expect } from 'vitest';
import { UserError } from '../../src/errors.js';

/** The UserError `fn` throws, or a failed expectation when it does not throw one. */
export function userErrorFrom(fn: () => unknown): UserError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(UserError);
    return error as UserError;
  }
  throw new Error('expected a UserError');
}
