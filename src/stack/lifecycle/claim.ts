/**
 * The claim: under the state lock, no other stack runs from the folder, nginx.conf is written
 * and tested, the password file holds `up`'s user. When it fails nothing is left to undo.
 */
import { writePermissionFiles } from '../permissions-files.js';
import { promises as fs } from 'node:fs';
import type { Context } from '../../context.js';
import { StackError, UserError } from '../../errors.js';
import { writeFileAtomic } from '../../system/files.js';
import { withStateLock } from '../../system/lock.js';
import { ownership } from '../../system/processes.js';
import { runOnce } from '../../system/run-once.js';
import type { PreparedTls } from '../../tls/certificates.js';
import { writeGeneratedPassword, writeUsers } from '../../users/password-file.js';
import type { Plan } from '../plan.js';
import { readRecord, removeRecord, writeRecord, type StatePaths } from '../state.js';
import { isLiveUp, removeStackFiles, stackTargets } from '../targets.js';
import { recordOf } from './record.js';
import { prepareUsers, type Users } from './users.js';

/**
 * Refuses a second stack in the same state folder, or a second `up` starting one right now;
 * clears the record of one that is gone. Runs under the state lock.
 */
async function checkNoRunningStack(paths: StatePaths, ctx: Context): Promise<void> {
  const record = await readRecord(paths.record, ctx.platform.name);
  if (!record) return;
  const alive: string[] = [];
  for (const t of stackTargets(record, paths, ctx.platform)) {
    const owner = await ownership(t, ctx.platform);
    if (owner === 'ours' || owner === 'unverified') alive.push(`${t.name} pid ${t.pid}`);
  }
  if (alive.length > 0) {
    throw new UserError(`a stack is already running from ${paths.stateDir} (${alive.join(', ')}) at ${record.url}`, {
      hint: 'Stop it with `mlflow-secure down`, or use another --state-dir',
    });
  }
  const sup = record.supervisorPid;
  if (record.phase === 'starting' && (await isLiveUp(sup, ctx.platform))) {
    throw new UserError(`another \`mlflow-secure up\` (pid ${sup}) is starting a stack from ${paths.stateDir}`, {
      hint: 'Wait for it, or stop it with `mlflow-secure down`',
    });
  }
  await removeStackFiles(paths);
  ctx.out.note(`Removed the record of a stack that is no longer running (${paths.record}).`);
}

async function testNginxConf(plan: Plan): Promise<void> {
  // In nginx's prefix, as it runs: its argv may name the state folder relative to it (plan.ts).
  const r = await runOnce(plan.nginx.file, plan.nginx.testArgs, { timeoutMs: 30_000, cwd: plan.paths.nginxPrefix });
  if (r.exitCode !== 0) {
    const lines = `${r.stderr}\n${r.stdout}`.split('\n').filter((l) => /emerg|alert|crit|error/.test(l));
    throw new StackError(`nginx rejected the generated configuration ${plan.paths.nginxConf}`, {
      hint: 'Read the nginx message below; check --host, --server-name and the state folder',
      details: lines.join('\n'),
    });
  }
}

/** Under the state lock: claims the folder, writes nginx.conf (tested) and the password file. */
export async function claimStateFolder(
  plan: Plan,
  given: { password: string } | undefined,
  ctx: Context,
): Promise<Users & { tls?: PreparedTls }> {
  const { paths, settings } = plan;
  // No second `up` claims the folder and no `user` command edits the password file between our
  // read and our write. nginx -t runs before the password file changes, so a failure never
  // leaves the temporary probe user behind.
  return withStateLock(paths.stateDir, async () => {
    await checkNoRunningStack(paths, ctx);
    // A stop request left by a `down` that died must not stop this new stack.
    await fs.rm(paths.stopRequest, { force: true });
    const prepared = await prepareUsers(settings, paths, given, ctx);
    await writeRecord(paths.record, recordOf(plan, undefined, undefined, 'starting', process.pid));
    let tls: PreparedTls | undefined;
    try {
      // Certificates before nginx -t: nginx opens them while it tests the config.
      if (settings.tls) {
        const { certificateNamesFor, prepareTls } = await import('../../tls/certificates.js');
        tls = await prepareTls(settings.tls, certificateNamesFor(settings), paths.stateDir, ctx);
      }
      // With --permissions nginx.conf holds the per-run secret: owner-only.
      await writeFileAtomic(paths.nginxConf, plan.nginx.conf, settings.permissions ? 0o600 : 0o644);
      await writePermissionFiles(plan, ctx.platform);
      await testNginxConf(plan);
      if (prepared.changed) await writeUsers(paths.htpasswd, prepared.entries);
      if (prepared.generated)
        await writeGeneratedPassword(paths.generatedPassword, { user: settings.user, password: prepared.generated });
    } catch (error) {
      await removeRecord(paths.record);
      throw error;
    }
    for (const w of tls?.warnings ?? []) ctx.out.warn(w);
    for (const n of tls?.notes ?? []) ctx.out.note(`${n}.`);
    return { ...prepared, ...(tls ? { tls } : {}) };
  });
}
