/** What every command gets from the CLI: injectable, so tests can run commands in-process. */
import type { Output } from './log.js';
import type { Platform } from './system/platform.js';

export interface Context {
  cwd: string;
  env: NodeJS.ProcessEnv;
  platform: Platform;
  out: Output;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
}
