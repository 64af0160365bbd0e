/**
 * Output with redaction: every secret registered here is masked in whatever passes through,
 * so a password can never reach the terminal by accident (a log tail, an error from a child).
 * Only `printSecretOnce` writes a secret, and only to stdout, when the user must see it.
 */
import type { Writable } from 'node:stream';

export interface Output {
  /** Normal output (results, URLs): stdout. */
  info(line: string): void;
  /** Progress and warnings: stderr, so stdout stays clean for `--json` and `env`. */
  note(line: string): void;
  warn(line: string): void;
  error(line: string): void;
  /** Write a line that deliberately contains a secret (a generated password, `env`). */
  printSecretOnce(line: string): void;
  addSecret(secret: string | undefined): void;
  redact(text: string): string;
}

const MASK = '********';

export function createOutput(stdout: Writable = process.stdout, stderr: Writable = process.stderr): Output {
  const secrets = new Set<string>();
  const redact = (text: string): string => {
    let out = text;
    // Longest first: a secret that contains a shorter one must be masked whole.
    for (const secret of [...secrets].sort((a, b) => b.length - a.length)) out = out.split(secret).join(MASK);
    return out;
  };
  return {
    info: (line) => void stdout.write(`${redact(line)}\n`),
    note: (line) => void stderr.write(`${redact(line)}\n`),
    warn: (line) => void stderr.write(`warning: ${redact(line)}\n`),
    error: (line) => void stderr.write(`error: ${redact(line)}\n`),
    printSecretOnce: (line) => void stdout.write(`${line}\n`),
    addSecret(secret) {
      // Very short strings would mask innocent text; passwords are validated to be longer.
      if (secret && secret.length >= 4) secrets.add(secret);
    },
    redact,
  };
}
