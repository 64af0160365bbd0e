/**
 * `mlflow-secure up`: start MLflow on loopback and nginx in front of it, prove both are
 * healthy and that auth holds, then supervise them (foreground) or return (--detach).
 * The command: options in, the stack lifecycle (src/stack/lifecycle/) out.
 */
import { NO_SIGNALS, type Context } from '../context.js';
import { createProgress, progressMode } from '../progress.js';
import { debugClock, preflight } from '../stack/lifecycle/preflight.js';
import { stackPhases } from '../stack/lifecycle/phases.js';
import { runLifecycle } from '../stack/lifecycle/run.js';
import type { StackOptions } from '../stack/settings.js';
import { obtainPassword } from '../users/password.js';

export interface UpOptions extends StackOptions {
  detach?: boolean;
  passwordStdin?: boolean;
  /** No progress line (the summary and errors are still printed). */
  quiet?: boolean;
  /** Open the UI in the default browser once the stack is up. */
  open?: boolean;
  /** `restart` asked for the password before it stopped the old stack (`{}`: none was given). */
  asked?: { password?: string };
  /** Let MLflow migrate a server database to its schema (a SQLite one is copied first, always). */
  migrate?: boolean;
}

export async function up(o: UpOptions, ctx: Context): Promise<number> {
  const progress = await createProgress(
    progressMode({ quiet: o.quiet, env: ctx.env, stream: ctx.stderr }),
    ctx.stderr,
    ctx.out,
  );
  try {
    const pre = await preflight(o, ctx, progress);
    progress.done();
    const given = await givenPassword(o, ctx, pre.plan.settings.user, !pre.userExists);
    if (given) ctx.out.addSecret(given.password);
    const { paths } = pre.plan;
    const phases = stackPhases({
      pre,
      given,
      detach: o.detach === true,
      open: o.open === true,
      ctx,
      progress,
      debug: debugClock(ctx),
    });
    return await runLifecycle(phases, {
      detach: o.detach === true,
      signals: ctx.signals ?? NO_SIGNALS,
      windows: ctx.platform.isWindows,
      paths,
      out: ctx.out,
      progress,
    });
  } finally {
    progress.done();
  }
}

/** `restart` asked before it stopped the old stack; else the environment, stdin or a prompt (new users only). */
async function givenPassword(
  o: UpOptions,
  ctx: Context,
  user: string,
  prompt: boolean,
): Promise<{ password: string } | undefined> {
  if (o.asked) return o.asked.password !== undefined ? { password: o.asked.password } : undefined;
  return obtainPassword({
    env: ctx.env,
    passwordStdin: o.passwordStdin === true,
    stdin: ctx.stdin,
    stderr: ctx.stderr,
    prompt,
    user,
  });
}
