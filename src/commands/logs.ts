/** `mlflow-secure logs [mlflow|nginx] [-f]`: the stack's logs, prefixed by process name. */
import { promises as fs } from 'node:fs';
import { NO_SIGNALS, type Context } from '../context.js';
import { ExitCode, UserError } from '../errors.js';
import { exists, tailFile } from '../system/files.js';
import { checkStateDir } from '../system/folders.js';
import { labelNginxLogLine } from '../stack/health.js';
import { LOG_MAX_BYTES, rotatedLog } from '../stack/log-files.js';
import { maskUrisInText } from '../log.js';
import { followFile } from '../system/follow-file.js';
import { whenStopped } from '../stack/lifecycle/stop.js';
import { stopOnSignals } from '../stack/lifecycle/stop-signals.js';
import { resolveStatePaths } from '../stack/state.js';

export async function logs(
  which: string | undefined,
  o: { stateDir?: string; follow?: boolean; lines?: string },
  ctx: Context,
): Promise<number> {
  const paths = resolveStatePaths(o.stateDir, ctx);
  const all: Record<string, string> = {
    mlflow: paths.mlflowLog,
    nginx: paths.nginxErrorLog,
    access: paths.nginxAccessLog,
  };
  if (which !== undefined && !Object.hasOwn(all, which))
    throw new UserError(`unknown log '${which}'`, { hint: 'Choose mlflow, nginx or access' });
  const lines = o.lines === undefined ? 50 : Number(o.lines);
  if (!Number.isInteger(lines) || lines < 0) throw new UserError(`--lines must be a whole number, got '${o.lines}'`);
  const chosen = which ? [which] : ['mlflow', 'nginx'];
  // A foreign or group-writable state folder is refused like everywhere else.
  await checkStateDir(paths.stateDir, ctx.platform);
  const present = [];
  for (const name of chosen) if (await exists(all[name]!)) present.push(name);
  if (present.length === 0 && !o.follow) {
    ctx.out.info(`No logs yet in ${paths.logsDir}: start the stack with \`mlflow-secure up\`.`);
    return ExitCode.ok;
  }
  const prefix = (name: string) => (chosen.length > 1 ? `${name.padEnd(6)} | ` : '');
  // MLflow may print a store URI with its password; this process does not know that password.
  const show = (name: string, line: string) =>
    ctx.out.info(`${prefix(name)}${maskUrisInText(name === 'nginx' ? labelNginxLogLine(line) : line)}`);
  for (const name of present) {
    for (const line of await tailWithRotated(all[name]!, lines)) show(name, line);
    const size = (await fs.stat(all[name]!).catch(() => undefined))?.size ?? 0;
    // A trimmed log passes the bound by what it gains between two checks, never twice over.
    if (size > 2 * LOG_MAX_BYTES)
      ctx.out.note(
        `${all[name]} is ${Math.round(size / 2 ** 20)} MiB and nothing keeps it under ${LOG_MAX_BYTES / 2 ** 20} MiB (was its \`up\` killed?): \`mlflow-secure restart\` rotates it.`,
      );
  }
  if (!o.follow) return ExitCode.ok;
  const stops = chosen.map((name) => followFile(all[name]!, (line) => show(name, line)));
  // Until Ctrl+C, a closed terminal (SIGHUP), or a write that finds the reader gone (`logs -f | head -1`).
  const signals = stopOnSignals(ctx.signals ?? NO_SIGNALS, ctx.platform.isWindows);
  const until = whenStopped(signals.signal);
  await Promise.race([until.stopped, ctx.out.stdoutClosed]);
  until.dispose();
  signals.dispose();
  await Promise.all(stops.map((s) => s()));
  return ExitCode.ok;
}

/** The last `lines` lines of `file`, reaching back into `<file>.1` when it was just rotated. */
async function tailWithRotated(file: string, lines: number): Promise<string[]> {
  if (lines === 0) return [];
  const split = (text: string) => text.split('\n').filter(Boolean);
  const current = split(await tailFile(file, lines));
  if (current.length >= lines) return current;
  return [...split(await tailFile(rotatedLog(file, 1), lines - current.length)), ...current];
}
