/**
 * What `up` shows while it works. On a terminal: one line that updates in place, a spinner
 * (yocto-spinner), the phase and the seconds since the command started. Elsewhere (a pipe, a
 * file, CI, NO_COLOR, TERM=dumb): one plain line per phase, no escape codes. With --quiet:
 * nothing. Progress goes to stderr; stdout keeps the summary and, in the foreground, the logs.
 */
import type { Output } from './log.js';

export type ProgressMode = 'spinner' | 'plain' | 'none';

export interface Progress {
  /** A new phase: the spinner's text, or one plain line (a repeat of the last one is dropped). */
  phase(text: string): void;
  /** Removes the spinner line (idempotent); whatever is printed next starts a clean line. */
  done(): void;
}

/**
 * NO_COLOR (no-color.org) asks for no escape codes at all, and a spinner is nothing but escape
 * codes; CI logs keep every frame; TERM=dumb cannot move the cursor.
 */
export function progressMode(o: {
  quiet?: boolean;
  env: NodeJS.ProcessEnv;
  stream: { isTTY?: boolean };
}): ProgressMode {
  if (o.quiet) return 'none';
  const env = o.env;
  const plain =
    !o.stream.isTTY || env.TERM === 'dumb' || 'CI' in env || (env.NO_COLOR !== undefined && env.NO_COLOR !== '');
  return plain ? 'plain' : 'spinner';
}

export async function createProgress(
  mode: ProgressMode,
  stream: NodeJS.WritableStream,
  out: Output,
  now: () => number = () => performance.now(),
): Promise<Progress> {
  if (mode === 'none') return { phase: () => undefined, done: () => undefined };
  if (mode === 'plain') {
    let last = '';
    return {
      phase(text) {
        if (text !== last) out.note(`${text}...`);
        last = text;
      },
      done: () => undefined,
    };
  }
  const { default: yoctoSpinner } = await import('yocto-spinner');
  const started = now();
  let text = '';
  // handleSignals: false: `up` owns SIGINT/SIGTERM (it must stop what it started first).
  const spinner = yoctoSpinner({ stream: stream as NodeJS.WriteStream, handleSignals: false });
  const render = () => {
    spinner.text = out.redact(`${text} (${Math.floor((now() - started) / 1000)}s)`);
  };
  const ticker = setInterval(render, 1000);
  ticker.unref();
  return {
    phase(next) {
      text = next;
      render();
      if (!spinner.isSpinning) spinner.start();
    },
    done() {
      clearInterval(ticker);
      spinner.stop();
    },
  };
}
