/** The stack record `up` writes: what `down`, `status` and `env` may need; no command, argument or secret (state.ts). */
import type { StartedProcess } from '../../system/processes.js';
import type { Plan } from '../plan.js';
import { maskUriCredentials } from '../../stores/secrets.js';
import { RECORD_VERSION, type StackRecord } from '../state.js';

const startedAt = new Date().toISOString();

/** The record for `plan` with what has started so far. */
export function recordOf(
  plan: Plan,
  mlflow: StartedProcess | undefined,
  nginx: StartedProcess | undefined,
  phase: StackRecord['phase'],
  supervisorPid: number | null,
): StackRecord {
  const s = plan.settings;
  return {
    version: RECORD_VERSION,
    phase,
    supervisorPid,
    startedAt,
    url: plan.url,
    publicUrls: plan.publicUrls,
    user: s.user,
    host: s.host,
    port: plan.listenPort,
    mlflowPort: plan.mlflow.port,
    mlflowOnSocket: plan.mlflow.socket !== undefined,
    ...(plan.upstream ? { upstream: plan.upstream.url } : {}),
    hash: s.hash,
    // --upstream: the user's MLflow chose its stores; none is known here.
    backendStoreUri: s.upstream ? '' : maskUriCredentials(s.backend.uri),
    registryStoreUri: s.upstream ? '' : maskUriCredentials(s.registry.uri),
    artifactsDestination: s.upstream ? '' : maskUriCredentials(s.artifacts.uri),
    ...(mlflow ? { mlflow: { pid: mlflow.pid } } : {}),
    ...(nginx ? { nginx: { pid: nginx.pid } } : {}),
    options: {
      serverNames: s.serverNames,
      nginxWorkers: s.nginxWorkers,
      workers: s.mlflowWorkers,
      jobs: s.jobs,
      ...(s.permissions ? { permissions: s.permissions.defaultPermission } : {}),
      timeoutSeconds: s.timeoutMs / 1000,
      ...(s.tls
        ? { tls: s.tls.kind === 'generated' ? ('generated' as const) : { cert: s.tls.cert, key: s.tls.key } }
        : {}),
    },
  };
}
