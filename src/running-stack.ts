/**
 * The stack recorded in a state folder, only when its nginx is running from that very folder.
 * For commands that hand the stack's URL to someone (`env` to clients with the password, `open`
 * to the browser): a planted record cannot point them elsewhere.
 */
import type { Context } from './context.js';
import { UserError } from './errors.js';
import { checkStateDir } from './files.js';
import { ownership } from './processes.js';
import { nginxTarget } from './stack.js';
import { readRecord, resolveStatePaths, type StackRecord, type StatePaths } from './state.js';

/** `command`: what to run again once the stack is up (e.g. `env`, `open`). */
export async function runningStack(
  stateDir: string | undefined,
  command: string,
  ctx: Context,
): Promise<{ paths: StatePaths; record: StackRecord }> {
  const paths = resolveStatePaths(stateDir, ctx);
  const record = (await checkStateDir(paths.stateDir, ctx.platform))
    ? await readRecord(paths.record, ctx.platform.name)
    : undefined;
  if (!record)
    throw new UserError(
      `no stack is recorded in ${paths.stateDir}`,
      `Start one with \`mlflow-secure up -d\`, then run \`mlflow-secure ${command}\` again`,
    );
  const owner = record.nginx
    ? await ownership(nginxTarget(record.nginx.pid, paths, ctx.platform), ctx.platform)
    : 'gone';
  if (owner !== 'ours' && owner !== 'unverified') {
    throw new UserError(
      `the stack recorded in ${paths.stateDir} is not running`,
      `Start it with \`mlflow-secure up -d\`, then run \`mlflow-secure ${command}\` again`,
    );
  }
  return { paths, record };
}

/** The URL to hand out: the first public one with `--public` (when there is one), else the local one. */
export function stackUrl(record: StackRecord, usePublic: boolean | undefined): string {
  return usePublic && record.publicUrls.length > 0 ? record.publicUrls[0]! : record.url;
}
