/** `mlflow-secure doctor`: what is there, what is missing, and how to fix each problem. */
import { constants, promises as fs } from 'node:fs';
import type { Context } from '../context.js';
import { ExitCode } from '../errors.js';
import { probeHashSchemes } from '../nginx/probe.js';
import { DEFAULT_PORT, parseHost, parsePort } from '../stack/settings.js';
import { resolveStateDir } from '../stack/state.js';
import { probePort } from '../system/ports.js';
import {
  lookupMlflow,
  lookupNginx,
  MLFLOW_INSTALL_HINT,
  mlflowVersion,
  nginxVersion,
  NGINX_INSTALL_HINT,
} from '../system/tools.js';
import { getStatus } from './status.js';
import { currentUser } from '../stack/discover.js';
import { doctorStoreFindings } from '../stores/run-checks.js';
import { mlflowVersionFindings, type Finding } from '../mlflow/versions.js';
import { doctorMigrationFindings } from '../stores/run-migration.js';

export async function doctor(
  o: {
    stateDir?: string;
    nginx?: string;
    mlflow?: string;
    host?: string;
    port?: string;
    json?: boolean;
    backendStoreUri?: string;
    registryStoreUri?: string;
    artifactsDestination?: string;
  },
  ctx: Context,
): Promise<number> {
  const { platform, env, cwd, out } = ctx;
  const findings: Finding[] = [];
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  findings.push({
    ok: major > 20 || (major === 20 && minor >= 19),
    what: `Node.js ${process.versions.node}`,
    fix: 'Install Node.js 20.19 or newer (22 LTS recommended)',
  });

  const mlflow = await lookupMlflow({ flag: o.mlflow, env, cwd, platform });
  if (mlflow.found) {
    const version = await mlflowVersion(mlflow.found).then(
      (v) => ({ v }),
      (e: Error) => ({ e: e.message }),
    );
    const where = [mlflow.found.file, ...mlflow.found.args].join(' ');
    findings.push(
      ...('v' in version
        ? mlflowVersionFindings(version.v, where, platform)
        : [{ ok: false, what: version.e, fix: 'Reinstall it (mlflow-secure setup --force), or pass --mlflow <path>' }]),
    );
  } else {
    findings.push({
      ok: false,
      what: `MLflow not found; looked at: ${mlflow.searched.join(', ')}`,
      fix: MLFLOW_INSTALL_HINT,
    });
  }
  findings.push(...(await doctorStoreFindings(o, mlflow.found, ctx)));
  // A database MLflow would migrate on the next start (the default ./mlflow.db, or the one given).
  findings.push(...(await doctorMigrationFindings(o, mlflow.found, ctx)));

  const nginx = await lookupNginx({ flag: o.nginx, env, platform });
  if (nginx.found) {
    const version = await nginxVersion(nginx.found).then(
      (v) => ({ v }),
      (e: Error) => ({ e: e.message }),
    );
    if ('v' in version) {
      findings.push({ ok: true, what: `nginx ${version.v.join('.')} (${nginx.found})` });
      const probe = await probeHashSchemes(
        nginx.found,
        platform,
        platform.hashSchemes,
        platform.nginxUserDirective(currentUser(platform)),
      ).then(
        (r) => ({ r }),
        (e: Error) => ({ e: e.message }),
      );
      if ('r' in probe) {
        for (const [scheme, result] of Object.entries(probe.r)) {
          findings.push({
            ok: result === 'verified',
            what: `nginx ${result} a ${scheme} password (live check)`,
            fix: `Use another --hash; ${scheme} cannot work with this nginx`,
          });
        }
      } else
        findings.push({
          ok: false,
          what: `nginx could not run a test server: ${probe.e}`,
          fix: 'Check that nginx runs from a private folder (see the message)',
        });
    } else findings.push({ ok: false, what: version.e, fix: 'Pass the real nginx with --nginx <path>' });
  } else {
    findings.push({
      ok: false,
      what: `nginx not found; looked at: ${nginx.searched.join(', ')}`,
      fix: NGINX_INSTALL_HINT[platform.name] ?? NGINX_INSTALL_HINT.linux,
    });
  }

  for (const scheme of ['bcrypt', 'apr1'] as const) {
    const refusal = platform.hashRefusal(scheme);
    if (refusal) findings.push({ ok: true, info: true, what: `${scheme} is refused on ${platform.name}: ${refusal}` });
  }

  const stateDir = resolveStateDir(o.stateDir, cwd, platform);
  const status = await getStatus(stateDir, ctx);
  const host = parseHost(o.host ?? '127.0.0.1');
  const port = parsePort(o.port ?? String(DEFAULT_PORT));
  if (status.running) {
    findings.push({
      ok: true,
      info: true,
      what: `a stack is running from ${stateDir} at ${status.url} (${status.healthy ? 'healthy' : 'NOT healthy'})`,
    });
  } else if (port !== 'auto') {
    const state = await probePort(host, port);
    findings.push({
      ok: state === 'free',
      what: `port ${port} on ${host} is ${state}`,
      fix:
        state === 'in-use'
          ? 'Use --port auto or another port (macOS: AirPlay Receiver holds 5000)'
          : 'Use a port above 1023 on an address of this machine',
    });
  }
  // HTTPS: the certificate nginx serves (or will serve) from this state folder, and how long it lasts.
  const cert = await (
    await import('../tls/certificates.js')
  )
    .describeServedCertificate(stateDir, platform)
    .catch(() => undefined);
  if (cert)
    findings.push({
      ok: cert.ok,
      info: cert.ok,
      what: cert.what,
      fix: 'Start the stack again (mlflow-secure restart): up renews a generated certificate; renew your own --tls-cert',
    });
  const writable = await firstExisting(stateDir).then((dir) =>
    fs.access(dir, constants.W_OK).then(
      () => true,
      () => false,
    ),
  );
  findings.push({
    ok: writable,
    what: `state folder ${stateDir} ${writable ? 'is writable' : 'is not writable'}`,
    fix: 'Choose another with --state-dir, or fix its permissions',
  });

  if (o.json) out.json(findings);
  else
    for (const f of findings)
      out.info(`${f.info ? 'i' : f.ok ? 'ok' : 'FAIL'}  ${f.what}${!f.ok && f.fix ? `\n      fix: ${f.fix}` : ''}`);
  const failed = findings.filter((f) => !f.ok);
  if (!o.json) out.info(failed.length === 0 ? 'All checks passed.' : `${failed.length} problem(s) found.`);
  return failed.length === 0 ? ExitCode.ok : ExitCode.userError;
}

async function firstExisting(dir: string): Promise<string> {
  const path = await import('node:path');
  let d = dir;
  for (;;) {
    try {
      await fs.stat(d);
      return d;
    } catch {
      const parent = path.dirname(d);
      if (parent === d) return d;
      d = parent;
    }
  }
}
