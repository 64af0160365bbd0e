/** `mlflow-secure config` (= `up --dry-run`): the full plan, starting nothing. */
import type { Context } from '../context.js';
import { ExitCode } from '../errors.js';
import { DEFAULT_BCRYPT_COST } from '../users/htpasswd.js';
import { buildPlan } from '../stack/plan.js';
import { maskUriCredentials, uriSecrets } from '../stores/secrets.js';
import { resolveSettings, type StackOptions } from '../stack/settings.js';
import { quoteBash, quotePowerShell } from '../credentials/shell.js';
import { discover } from '../stack/discover.js';
import { tlsPaths } from '../tls/plan.js';

export async function config(o: StackOptions & { json?: boolean }, ctx: Context): Promise<number> {
  const { platform, out } = ctx;
  const settings = resolveSettings(o, ctx);
  const { found, notes } = await discover(settings, o, ctx, false);
  const plan = buildPlan(settings, found, platform);
  // A store URI may carry a database password: shown masked, and registered so that any
  // other line (a warning, a note) is redacted too.
  const stores = { backend: settings.backend.uri, registry: settings.registry.uri, artifacts: settings.artifacts.uri };
  const mlflowEnv = Object.entries(plan.mlflow.env);
  for (const value of [...Object.values(stores), ...mlflowEnv.map(([, v]) => v), ...plan.mlflow.args]) {
    for (const secret of uriSecrets(value)) out.addSecret(secret);
  }
  const mask = maskUriCredentials;
  const shownEnv = Object.fromEntries(mlflowEnv.map(([k, v]) => [k, mask(v)]));
  const shownArgs = plan.mlflow.args.map(mask);
  const quote = platform.isWindows ? quotePowerShell : quoteBash;
  const argv = (file: string, args: string[]) =>
    [file, ...args].map((a) => (/^[\w@%+=:,./\\-]+$/.test(a) ? a : quote(a))).join(' ');
  const summary = {
    url: plan.url,
    publicUrls: plan.publicUrls,
    user: settings.user,
    stateDir: settings.stateDir,
    backendStoreUri: mask(stores.backend),
    registryStoreUri: mask(stores.registry),
    artifactsDestination: mask(stores.artifacts),
    fileStore: settings.backend.isFileStore,
    mlflow: {
      file: plan.mlflow.file,
      args: shownArgs,
      env: shownEnv,
      port: plan.mlflow.port,
      socket: plan.mlflow.socket,
      cwd: plan.mlflow.cwd,
      workers: settings.mlflowWorkers,
      jobs: settings.jobs,
    },
    nginx: {
      file: plan.nginx.file,
      args: plan.nginx.args,
      testArgs: plan.nginx.testArgs,
      quitArgs: plan.nginx.quitArgs,
    },
    nginxConfPath: plan.paths.nginxConf,
    nginxConf: plan.nginx.conf,
    passwordFile: plan.paths.htpasswd,
    tls: settings.tls ? { ...settings.tls, folder: tlsPaths(settings.stateDir, platform).dir } : undefined,
    hashScheme: settings.hash,
    bcryptCost: settings.hash === 'bcrypt' ? settings.bcryptCost : undefined,
    defaultBcryptCost: DEFAULT_BCRYPT_COST,
    allowedHosts: plan.allowedHosts,
    corsAllowedOrigins: plan.corsOrigins,
    ...(plan.upstream ? { upstream: plan.upstream.url } : {}),
    platform: platform.name,
    warnings: settings.warnings,
    notes,
  };
  if (o.json) {
    out.json(summary);
    return ExitCode.ok;
  }
  for (const w of settings.warnings) out.warn(w);
  out.info(`# mlflow-secure plan (nothing started)`);
  out.info(`URL:            ${plan.url}${plan.publicUrls.length ? `  (also ${plan.publicUrls.join(', ')})` : ''}`);
  out.info(`user:           ${settings.user}`);
  if (settings.tls) {
    const t = tlsPaths(settings.stateDir, platform);
    out.info(
      `HTTPS:          ${settings.tls.kind === 'generated' ? `certificate from a local CA (${t.caCert}), made or renewed by up` : `${settings.tls.cert} (key ${settings.tls.key}), copied to ${t.dir} by up`}; plain HTTP on the port redirects`,
    );
  }
  out.info(
    `password file:  ${plan.paths.htpasswd}  (${settings.hash}${settings.hash === 'bcrypt' ? `, cost ${settings.bcryptCost}` : ''}, mode 0600)`,
  );
  if (plan.upstream) {
    // --upstream: the user's MLflow; nothing of it is started, so no stores and no MLflow command.
    out.info(`MLflow:         yours, at ${plan.upstream.url} (--upstream: not started or stopped by mlflow-secure)`);
  } else {
    out.info(`backend store:  ${mask(stores.backend)}`);
    out.info(`registry store: ${mask(stores.registry)}`);
    out.info(`artifacts:      ${mask(stores.artifacts)} (served through MLflow)`);
    out.info('');
    const listens =
      plan.mlflow.socket !== undefined ? `its Unix socket ${plan.mlflow.socket}` : `127.0.0.1:${plan.mlflow.port}`;
    out.info(
      `MLflow (${settings.mlflowWorkers} worker${settings.mlflowWorkers === 1 ? '' : 's'}, jobs ${settings.jobs ? 'on' : 'off'}; listens on ${listens} only):`,
    );
    out.info(
      `  ${Object.entries(shownEnv)
        .map(([k, v]) => `${k}=${quote(v)}`)
        .join(' ')} ${argv(plan.mlflow.file, shownArgs)}`,
    );
  }
  out.info(`nginx:`);
  out.info(`  ${argv(plan.nginx.file, plan.nginx.args)}`);
  out.info(`  test: ${argv(plan.nginx.file, plan.nginx.testArgs)}`);
  out.info(`  stop: ${argv(plan.nginx.file, plan.nginx.quitArgs)}`);
  for (const n of notes) out.info(`note: ${n}`);
  out.info('');
  out.info(`# ${plan.paths.nginxConf}`);
  out.info(plan.nginx.conf);
  return ExitCode.ok;
}
