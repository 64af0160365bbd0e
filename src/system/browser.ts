/**
 * Opens a URL in the default browser with the `open` package (sindresorhus/open, loaded on first
 * use). That package runs a launcher and resolves once it has started: `open` on macOS,
 * PowerShell's `Start` on Windows and WSL, and elsewhere the `xdg-open` script it ships (it
 * prefers its own copy to the system's). The launcher's exit says whether a browser came up:
 * xdg-open exits 3 when it found no way to open the URL (a session without a desktop), 4 when
 * the browser it ran failed (https://portland.freedesktop.org/doc/xdg-open.html). A launcher
 * still running after a few seconds is waiting on the browser it started: that counts as opened.
 *
 * When no browser can be started, the command fails with one line that carries the URL to open
 * by hand (exit 1): a script learns that nothing was shown, and a person gets the URL.
 */
import type { ChildProcess } from 'node:child_process';
import nodePath from 'node:path';
import type { Context } from '../context.js';
import { formatUserError, UserError } from '../errors.js';

/** How long a launcher gets to report a failure (xdg-open fails in well under a second). */
const SETTLE_MS = 3_000;

export type Launch = (url: string) => Promise<ChildProcess>;

const launchWithOpen: Launch = async (url) => (await import('open')).default(url);

/**
 * Only http(s) URLs reach the launcher: it would also open a file (a `.desktop` file runs a
 * program), and the URL comes from the stack record on disk.
 */
export function checkWebUrl(url: string): string {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) {
    throw new UserError(`${JSON.stringify(url)} is not an http:// or https:// URL, so mlflow-secure will not open it`, {
      hint: 'Check the stack record: mlflow-secure status',
    });
  }
  return parsed.href;
}

type Exit = { code: number | null; signal: NodeJS.Signals | null };

/** The launcher's exit, or undefined when it is still running after `ms`. */
function exitWithin(child: ChildProcess, ms: number): Promise<Exit | undefined> {
  // A late error (the launcher could not be signalled...) must not take this process down.
  child.on('error', () => undefined);
  if (child.exitCode !== null || child.signalCode !== null)
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => {
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      clearTimeout(timer);
      resolve({ code, signal });
    };
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(undefined);
    }, ms);
    child.once('exit', onExit);
  });
}

/** Why a desktop-less session is the likely cause, where xdg-open is the launcher. */
function headlessNote(ctx: Context): string {
  if (ctx.platform.isWindows || ctx.platform.name === 'darwin') return '';
  return ctx.env.DISPLAY || ctx.env.WAYLAND_DISPLAY
    ? ''
    : '; neither DISPLAY nor WAYLAND_DISPLAY is set: no desktop in this session?';
}

export async function openUrl(
  url: string,
  ctx: Context,
  o: { launch?: Launch; settleMs?: number } = {},
): Promise<void> {
  const href = checkWebUrl(url);
  const yourself = `Open ${href} in a browser yourself`;
  let child: ChildProcess;
  try {
    child = await (o.launch ?? launchWithOpen)(href);
  } catch (error) {
    const e = error as Error;
    throw new UserError(`no browser could be started (${e.message}${headlessNote(ctx)})`, { hint: yourself });
  }
  const exit = await exitWithin(child, o.settleMs ?? SETTLE_MS);
  if (exit === undefined || exit.code === 0) return;
  const launcher = nodePath.basename(child.spawnfile);
  const why =
    exit.code !== null ? `${launcher} exited with code ${exit.code}` : `${launcher} was stopped by ${exit.signal}`;
  throw new UserError(`no browser could be started (${why}${headlessNote(ctx)})`, { hint: yourself });
}

/** `up --open`: the stack is up whatever the browser does, so a failure is a warning. */
export async function openAfterUp(url: string, ctx: Context): Promise<void> {
  try {
    await openUrl(url, ctx);
    ctx.out.info(`Opened ${url} in your browser.`);
  } catch (error) {
    if (!(error instanceof UserError)) throw error;
    ctx.out.warn(formatUserError(error));
  }
}
