/**
 * Where a password comes from, first match wins: --password-stdin, MLFLOW_SECURE_PASSWORD, or a
 * hidden prompt on a terminal. Never a flag value: it would sit in shell history and in `ps`.
 */
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { ExitCode, UserError } from '../errors.js';

export const PASSWORD_ENV = 'MLFLOW_SECURE_PASSWORD';

const MAX_PASSWORD_INPUT = 4096;

export interface PasswordInput {
  env: NodeJS.ProcessEnv;
  passwordStdin: boolean;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  /** Ask on the terminal when nothing else gave a password. */
  prompt: boolean;
  user: string;
}

export type PasswordSource = 'environment' | 'stdin' | 'prompt';

/** The password given by the user, or undefined when none was given (the caller may generate one). */
export async function obtainPassword(
  i: PasswordInput,
): Promise<{ password: string; source: PasswordSource } | undefined> {
  // The explicit flag wins over an environment variable that may be left over from elsewhere.
  if (i.passwordStdin) return { password: await readFirstLine(i.stdin), source: 'stdin' };
  const fromEnv = i.env[PASSWORD_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return { password: fromEnv, source: 'environment' };
  if (i.prompt && i.stdin.isTTY && i.stderr.isTTY) {
    const first = await promptHidden(`Password for ${i.user} (empty: generate one): `, i.stdin, i.stderr);
    if (first === '') return undefined;
    const again = await promptHidden('Repeat it: ', i.stdin, i.stderr);
    if (first !== again) throw new UserError('the two passwords differ', { hint: 'Run the command again' });
    return { password: first, source: 'prompt' };
  }
  return undefined;
}

export async function readFirstLine(stream: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of stream) {
    text += typeof chunk === 'string' ? chunk : (chunk as Buffer).toString('utf8');
    if (text.includes('\n')) break;
    // Bounded: a password is one short line, not a stream without end.
    if (text.length > MAX_PASSWORD_INPUT)
      throw new UserError(`--password-stdin read more than ${MAX_PASSWORD_INPUT} characters without a line break`, {
        hint: 'Pipe in the password alone, on one line',
      });
  }
  const line = text.split(/\r?\n/)[0] ?? '';
  if (line === '')
    throw new UserError('--password-stdin read an empty password', {
      hint: 'Pipe it in, e.g. printf \'%s\\n\' "$PASSWORD" | mlflow-secure up --password-stdin',
    });
  return line;
}

function promptHidden(question: string, input: NodeJS.ReadableStream, output: NodeJS.WritableStream): Promise<string> {
  let muted = false;
  const sink = new Writable({
    write(chunk, encoding, callback) {
      if (!muted) output.write(chunk, encoding);
      callback();
    },
  });
  const rl = createInterface({ input, output: sink, terminal: true });
  return new Promise((resolve, reject) => {
    // A terminal that hangs up mid-prompt (EIO) or closes (Ctrl+D) ends in one clear line.
    const gone = () => {
      rl.close();
      reject(
        new UserError('the terminal closed before the password was entered', {
          hint: 'Run the command again, or pass the password with --password-stdin',
        }),
      );
    };
    input.once('error', gone);
    rl.once('close', () => input.off('error', gone));
    rl.once('SIGINT', () => {
      rl.close();
      output.write('\n');
      reject(new UserError('interrupted while asking for the password', { exitCode: ExitCode.interrupted }));
    });
    rl.question(question, (answer) => {
      input.off('error', gone);
      rl.close();
      output.write('\n');
      resolve(answer);
    });
    muted = true;
  });
}
