/** What `up` prints once the stack is proven: the URL, the user, how clients connect, how to stop. */
import type { Context } from '../../context.js';
import type { Plan } from '../plan.js';
import type { PreparedTls } from '../../tls/certificates.js';
import type { Users } from './users.js';

export function printSummary(
  plan: Plan,
  users: Users & { tls?: PreparedTls },
  versions: { mlflow: string; nginx: string },
  detached: boolean,
  ctx: Context,
): void {
  const { out } = ctx;
  const s = plan.settings;
  out.info(
    plan.upstream
      ? `Your MLflow ${versions.mlflow} at ${plan.upstream.url} is behind nginx ${versions.nginx}, password required.`
      : `MLflow ${versions.mlflow} is up behind nginx ${versions.nginx}, password required.`,
  );
  out.info(`  URL:       ${plan.url}`);
  for (const u of plan.publicUrls) out.info(`  also:      ${u}`);
  out.info(`  user:      ${s.user}`);
  if (users.generated) {
    out.printSecretOnce(`  password:  ${users.generated}`);
    out.info(`             (generated; kept owner-only in ${plan.paths.generatedPassword} for \`mlflow-secure env\`)`);
  } else if (users.storedGenerated) {
    out.info('  password:  generated earlier; `mlflow-secure env` shows it');
  }
  const envHint = ctx.platform.isWindows
    ? 'mlflow-secure env | Out-String | Invoke-Expression'
    : 'eval "$(mlflow-secure env)"';
  if (users.tls)
    out.info(
      `  CA:        ${users.tls.clientCa ?? 'the CA that issued --tls-cert (mlflow-secure did not find it)'}   (clients and browsers trust this)`,
    );
  out.info(
    `  clients:   ${envHint}   (sets MLFLOW_TRACKING_URI, _USERNAME, _PASSWORD${users.tls?.clientCa ? ', _SERVER_CERT_PATH' : ''})`,
  );
  out.info(
    `  stop:      mlflow-secure down${detached ? '' : '   (or Ctrl+C here)'}${plan.upstream ? '   (stops nginx only; your MLflow keeps running)' : ''}`,
  );
}
