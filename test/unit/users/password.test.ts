import { Readable, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { UserError } from '../../../src/errors.js';
import { obtainPassword, PASSWORD_ENV, type PasswordInput } from '../../../src/users/password.js';

const FROM_ENV = 'env-Zq9!xyzW';
const FROM_STDIN = 'stdin-Kp4?abcD';

/** A fake stdin that says whether anyone read it. */
function fakeStdin(text: string): Readable & { wasRead: () => boolean } {
  let read = false;
  const chunks = [text];
  const stream = new Readable({
    read() {
      read = true;
      this.push(chunks.shift() ?? null);
    },
  });
  return Object.assign(stream, { wasRead: () => read });
}

function input(o: {
  stdin: string;
  env?: string;
  passwordStdin: boolean;
}): PasswordInput & { stdin: ReturnType<typeof fakeStdin> } {
  return {
    env: o.env === undefined ? {} : { [PASSWORD_ENV]: o.env },
    passwordStdin: o.passwordStdin,
    stdin: fakeStdin(o.stdin),
    stderr: new Writable({ write: (_chunk, _encoding, callback) => callback() }),
    prompt: true, // no TTY here, so never asked
    user: 'admin',
  };
}

describe('obtainPassword', () => {
  it('--password-stdin wins over MLFLOW_SECURE_PASSWORD', async () => {
    const i = input({ stdin: `${FROM_STDIN}\n`, env: FROM_ENV, passwordStdin: true });
    expect(await obtainPassword(i)).toEqual({ password: FROM_STDIN, source: 'stdin' });
    expect(i.stdin.wasRead()).toBe(true);
  });

  it('--password-stdin alone reads the first line, without its CRLF', async () => {
    const i = input({ stdin: `${FROM_STDIN}\r\nsecond line\n`, passwordStdin: true });
    expect(await obtainPassword(i)).toEqual({ password: FROM_STDIN, source: 'stdin' });
  });

  it('--password-stdin with nothing piped in is an error, even when the environment has one', async () => {
    const error = await obtainPassword(input({ stdin: '', env: FROM_ENV, passwordStdin: true })).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(UserError);
    const shown = `${(error as UserError).message}. ${(error as UserError).hint ?? ''}`;
    expect(shown).toMatch(/--password-stdin read an empty password/);
    expect(shown).not.toContain(FROM_ENV);
    expect(shown).not.toMatch(/\n/);
  });

  it('MLFLOW_SECURE_PASSWORD without the flag, leaving stdin unread', async () => {
    const i = input({ stdin: `${FROM_STDIN}\n`, env: FROM_ENV, passwordStdin: false });
    expect(await obtainPassword(i)).toEqual({ password: FROM_ENV, source: 'environment' });
    expect(i.stdin.wasRead()).toBe(false);
  });

  it('nothing given and no terminal: undefined (the caller generates one)', async () => {
    for (const env of [undefined, '']) {
      const i = input({ stdin: `${FROM_STDIN}\n`, env, passwordStdin: false });
      expect(await obtainPassword(i)).toBeUndefined();
      expect(i.stdin.wasRead()).toBe(false);
    }
  });
});
