/** `mlflow-secure open`: the running stack's URL in the default browser. */
import { openUrl } from '../system/browser.js';
import type { Context } from '../context.js';
import { ExitCode } from '../errors.js';
import { runningStack, stackUrl } from '../stack/running.js';

export async function open(o: { stateDir?: string; public?: boolean }, ctx: Context): Promise<number> {
  const { record } = await runningStack(o.stateDir, 'open', ctx);
  const url = stackUrl(record, o.public);
  await openUrl(url, ctx);
  ctx.out.info(
    `Opened ${url} in your browser; log in as ${record.user} (mlflow-secure env shows the password if it generated it).`,
  );
  return ExitCode.ok;
}
