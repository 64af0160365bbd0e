/** Wait ready (MLflow answers /health, nginx listens), then prove that auth holds through nginx. */
import { provePermissions } from '../permissions-files.js';
import { connectHost, mlflowHealthResource, proveStack, waitReady, type Check } from '../health.js';
import { failureWithLog, withLogTail } from './log-tail.js';
import type { StackRun } from './stack.js';
import { removeTemporaryUser } from './users.js';

/** What MLflow's log says it is doing while it starts, as a phase of the progress line. */
export function mlflowStartPhase(line: string): string | undefined {
  if (/Creating initial MLflow database tables|alembic\.runtime\.migration\].*Running (upgrade|stamp)/.test(line))
    return 'MLflow is migrating its database';
  if (/Started server process|Waiting for application startup|Uvicorn running/.test(line))
    return 'MLflow is starting its web server';
  return undefined;
}

export async function waitStackReady(s: StackRun): Promise<void> {
  const { plan, mlflow, nginx } = s;
  const { paths } = plan;
  const { stores } = s.pre;
  if (!nginx) throw new Error('waitStackReady before nginx started');
  s.progress.phase('Waiting for MLflow to answer');
  const deadline = plan.settings.timeoutMs;
  const listen = `tcp:${connectHost(plan)}:${plan.listenPort}`;
  await Promise.all([
    // --upstream: the user's MLflow was checked before nginx started.
    !mlflow
      ? undefined
      : stores.explainExit(
          withLogTail(
            stores.orLoggedProblem(
              waitReady({
                resource: mlflowHealthResource(plan.mlflow),
                exited: mlflow.exited,
                timeoutMs: deadline,
                what: 'MLflow',
              }),
            ),
            'mlflow',
            paths.mlflowLog,
          ),
        ),
    withLogTail(
      waitReady({ resource: listen, exited: nginx.exited, timeoutMs: deadline, what: 'nginx' }),
      'nginx',
      paths.nginxErrorLog,
    ),
  ]);
}

/** Called once both answer: the checks through the proxy. */
export async function proveStackWorks(s: StackRun): Promise<Check[]> {
  s.starting = false;
  s.debug('MLflow answers /health; nginx listens');
  s.progress.phase('Proving that the password is required and works');
  const checks = await proveStack(s.plan, s.users.probe, s.users.tls?.trust);
  return [...checks, ...(await provePermissions(s.plan))];
}

/**
 * A failed check is a StackError with MLflow's log; the temporary probe user leaves the password
 * file at once (its row in MLflow's user table goes after the summary: probe.ts).
 */
export async function acceptProof(s: StackRun, checks: Check[]): Promise<void> {
  s.debug('proved auth and an API call through the proxy');
  const failed = checks.filter((c) => !c.ok);
  if (failed.length > 0) {
    throw await failureWithLog(
      `the stack started but ${failed.length} check(s) failed: ${failed.map((c) => c.name).join('; ')}`,
      'This is likely a bug in mlflow-secure or an unusual nginx/MLflow build; details below',
      s.plan.paths.mlflowLog,
      'mlflow',
      10,
      failed.map((c) => `  ${c.name}: ${c.detail}`),
    );
  }
  if (s.users.probeIsTemporary) await removeTemporaryUser(s.plan.paths, s.users.probe);
}
