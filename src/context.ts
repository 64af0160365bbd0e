/** What every command gets from the CLI: injectable, so tests can run commands in-process. */
import type { Output } from './log.js';
import type { Platform } from './system/platform.js';

/** Where stop signals come from: `process` in the CLI, an EventEmitter in tests. */
export interface SignalSource {
  on(signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
  off(signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
}

export interface Context {
  cwd: string;
  env: NodeJS.ProcessEnv;
  platform: Platform;
  out: Output;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  /**
   * Ctrl+C, a closed terminal, `kill`: read from here, never from the global `process` (the CLI
   * passes `process`). Absent: nothing signals (a test that needs no signals leaves it out).
   */
  signals?: SignalSource;
}

/** A source that never signals: what a command sees when the context has none. */
export const NO_SIGNALS: SignalSource = { on: () => undefined, off: () => undefined };
