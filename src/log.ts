/**
 * Output with redaction: every secret registered here is masked in whatever passes through,
 * so a password can never reach the terminal by accident (a log tail, an error from a child).
 * Only `printSecretOnce` writes a secret, and only to stdout, when the user must see it.
 *
 * Every write may fail: a closed terminal answers EIO, a pipe whose reader exited EPIPE. With
 * no 'error' listener that kills the process, and a foreground `up` killed mid-shutdown leaves
 * the stack running. So a failed write is swallowed and the stream is not written again.
 */

export interface Output {
  /** Normal output (results, URLs): stdout. */
  info(line: string): void;
  /**
   * A `--json` answer on stdout: data, so its strings are redacted but left as they are otherwise
   * (info's command naming would rewrite file contents such as nginx.conf's first line, and a
   * quoted `--state-dir` put into a string broke the JSON).
   */
  json(value: unknown): void;
  /** Progress and warnings: stderr, so stdout stays clean for `--json` and `env`. */
  note(line: string): void;
  warn(line: string): void;
  error(line: string): void;
  /** Write a line that deliberately contains a secret (a generated password, `env`). */
  printSecretOnce(line: string): void;
  addSecret(secret: string | undefined): void;
  /** From now on every `mlflow-secure <command>` printed carries this `--state-dir <dir>` (invocation.ts). */
  useStateDirArg(arg: string): void;
  redact(text: string): string;
  /** Settles when stdout can no longer be written (its terminal closed, its reader exited). */
  readonly stdoutClosed: Promise<void>;
}
import { BIN_NAME, nameCommands } from './invocation.js';
import { MASK, maskUriCredentials } from './stores/secrets.js';

type Stream = NodeJS.WritableStream;

export interface StreamState {
  failure: NodeJS.ErrnoException | undefined;
  closed: Promise<void>;
  markFailed(error: unknown): void;
}

/**
 * Codes that mean "the reader is gone" (EOF: a closed pipe on Windows): expected, said nowhere.
 * Anything else (ENOSPC on a redirected file) is a real loss of output, reported by cli.ts.
 */
const READER_GONE = new Set(['EPIPE', 'EIO', 'EOF', 'ECONNRESET', 'ERR_STREAM_DESTROYED']);

const states = new WeakMap<Stream, StreamState>();

/** Installs (once per stream) the 'error' listener that keeps a failed write from killing us. */
export function guardStream(stream: Stream): StreamState {
  const known = states.get(stream);
  if (known) return known;
  let resolve: () => void = () => undefined;
  const state: StreamState = {
    failure: undefined,
    closed: new Promise<void>((r) => {
      resolve = r;
    }),
    markFailed(error) {
      state.failure ??= error instanceof Error ? error : new Error(String(error));
      resolve();
    },
  };
  stream.on('error', state.markFailed);
  states.set(stream, state);
  return state;
}

/** process.stdout and process.stderr: called first thing by cli.ts. */
export function guardStdio(): void {
  guardStream(process.stdout);
  guardStream(process.stderr);
}

/** Writes unless the stream already failed; never throws. A destroyed stream fails in the callback. */
export function safeWrite(stream: Stream, text: string): void {
  const state = guardStream(stream);
  if (state.failure) return;
  try {
    stream.write(text, (error?: Error | null) => {
      if (error) state.markFailed(error);
    });
  } catch (error) {
    state.markFailed(error);
  }
}

/** The first write error on `stream` that was not just its reader going away, if any. */
export function unexpectedWriteFailure(stream: Stream): NodeJS.ErrnoException | undefined {
  const failure = states.get(stream)?.failure;
  return failure && !READER_GONE.has(failure.code ?? '') ? failure : undefined;
}

/**
 * `self`: how the user runs mlflow-secure (invocation.ts); every `mlflow-secure <command>` in a
 * printed line is written that way, so a hint never names a command that is not installed.
 */
export function createOutput(
  stdout: Stream = process.stdout,
  stderr: Stream = process.stderr,
  o: { self?: string | (() => string) } = {},
): Output {
  // Worked out on the first printed line (it may look on PATH), not on every start.
  let self: string | undefined;
  const selfName = () => (self ??= typeof o.self === 'function' ? o.self() : (o.self ?? BIN_NAME));
  const secrets = new Set<string>();
  const redact = (text: string): string => {
    let out = text;
    // Longest first: a secret that contains a shorter one must be masked whole.
    for (const secret of [...secrets].sort((a, b) => b.length - a.length)) out = out.split(secret).join(MASK);
    return out;
  };
  const closed = guardStream(stdout).closed;
  guardStream(stderr);
  let stateDirArg: string | undefined;
  const shown = (line: string) => nameCommands(redact(line), selfName(), stateDirArg);
  return {
    info: (line) => safeWrite(stdout, `${shown(line)}\n`),
    json: (value) =>
      safeWrite(stdout, `${JSON.stringify(value, (_key, v: unknown) => (typeof v === 'string' ? redact(v) : v), 2)}\n`),
    note: (line) => safeWrite(stderr, `${shown(line)}\n`),
    warn: (line) => safeWrite(stderr, `warning: ${shown(line)}\n`),
    error: (line) => safeWrite(stderr, `error: ${shown(line)}\n`),
    printSecretOnce: (line) => safeWrite(stdout, `${line}\n`),
    addSecret(secret) {
      // Very short strings would mask innocent text; passwords are validated to be longer.
      if (secret && secret.length >= 4) secrets.add(secret);
    },
    useStateDirArg(arg) {
      stateDirArg = arg;
    },
    redact,
    stdoutClosed: closed,
  };
}

/** Where a URI in a log line ends: a blank, a quote or an angle bracket. */
const URI_END = /[\s'"`<>]/g;
const SCHEME_CHAR = /[A-Za-z0-9+.-]/;
/** A longer URI is masked whole when it has a user part: masking it exactly may not be cheap. */
const MAX_URI = 4096;

/**
 * `text` with the password of every URI in it masked (`postgresql://u:********@db/mlflow`):
 * for lines another process wrote (MLflow's log, read back by `logs`), whose secrets the
 * reading process was never told. A linear scan from each `://`: lines can be megabytes long, and
 * what nginx logs of a request is anyone's to write.
 */
export function maskUrisInText(text: string): string {
  let out = '';
  let from = 0;
  for (let at = text.indexOf('://'); at !== -1; at = text.indexOf('://', Math.max(at + 3, from))) {
    let start = at;
    while (start > from && SCHEME_CHAR.test(text[start - 1]!)) start--;
    while (start < at && !/[A-Za-z]/.test(text[start]!)) start++;
    if (start === at) continue;
    URI_END.lastIndex = at + 3;
    const end = URI_END.exec(text)?.index ?? text.length;
    const uri = text.slice(start, end);
    const masked =
      uri.length <= MAX_URI ? maskUriCredentials(uri) : uri.includes('@') ? `${text.slice(start, at)}://${MASK}` : uri;
    out += text.slice(from, start) + masked;
    from = end;
  }
  return out + text.slice(from);
}
