/**
 * `mlflow-secure export compose|kubernetes [--out dir]`: the stack `up` runs, written for an
 * engine that is already there. The rendering is pure (src/export/); this command reads the
 * password file, generates (or keeps) the store passwords, and writes the folder.
 *
 * Writing: every file is first written into a staging folder beside --out, so a failure leaves
 * an earlier export as it was; a new --out is then one rename, an existing one gets each file by
 * rename (atomic per file). Files the user added there are left alone; files an earlier export
 * wrote and this one does not (minio_password after dropping --s3) are removed.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import nodePath from 'node:path';
import type { Context } from '../context.js';
import { ExitCode, UserError } from '../errors.js';
import { readTextIfExists } from '../system/files.js';
import { checkStateDir, ensureWritableDirs } from '../system/folders.js';
import { renderHtpasswd } from '../users/htpasswd.js';
import { COMPOSE_FILE, COMPOSE_FILES, renderCompose } from '../export/compose.js';
import { FORMER_OBJECTS, KUBERNETES_FILES, renderKubernetes, SECRET_FILE, SECRET_KEYS } from '../export/kubernetes.js';
import {
  FRONT_NAME,
  IMAGES,
  mlflowImage,
  PORTS,
  STORE_SECRET,
  type ExportFile,
  type ExportInput,
  type ExportTarget,
} from '../export/stack.js';
import { parseHost, parsePort, parseServerNames } from '../stack/settings.js';
import { resolveStatePaths } from '../stack/state.js';
import { readUsers } from '../users/password-file.js';
import { DEFAULT_NGINX_WORKERS, DEFAULT_PORT } from '../defaults.js';
import { containerScripts } from '../export/container-scripts.js';

export interface ExportOptions {
  out?: string;
  force?: boolean;
  s3?: boolean;
  stateDir?: string;
  host?: string;
  port?: string;
  serverName?: string;
  nginxWorkers?: string;
  mlflowWorkers?: string;
}

const TARGETS: readonly ExportTarget[] = ['compose', 'kubernetes'];

function parseCount(value: string, flag: string, o: { auto: boolean }): number | 'auto' {
  if (o.auto && value === 'auto') return 'auto';
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 64)
    throw new UserError(`${flag} must be a whole number from 1 to 64${o.auto ? " or 'auto'" : ''}, got '${value}'`);
  return n;
}

/** Options -> everything but the password file and secrets; every message names the flag. */
export function resolveExportOptions(
  target: string,
  o: ExportOptions,
): Omit<ExportInput, 'mlflowVersion' | 'htpasswd' | 'postgresPassword' | 'minioPassword' | 'scripts'> {
  if (!(TARGETS as readonly string[]).includes(target))
    throw new UserError(`unknown export target '${target}'`, {
      hint: 'Use `mlflow-secure export compose` or `mlflow-secure export kubernetes`',
    });
  const t = target as ExportTarget;
  if (t === 'kubernetes' && o.host !== undefined) {
    throw new UserError(
      '--host is for `export compose` (the host address its port is published on); a Kubernetes Service has none',
      {
        hint: 'Drop --host, and reach the Service mlflow-secure through an Ingress, a LoadBalancer or kubectl port-forward',
      },
    );
  }
  const port = parsePort(o.port ?? String(DEFAULT_PORT));
  if (port === 'auto')
    throw new UserError("--port auto picks a free port when `up` starts; an export needs a fixed one, got 'auto'", {
      hint: 'Give a number, e.g. --port 5000',
    });
  const mlflowWorkers = parseCount(o.mlflowWorkers ?? '1', '--mlflow-workers', { auto: false }) as number;
  return {
    target: t,
    host: t === 'compose' ? parseHost(o.host ?? '127.0.0.1') : '0.0.0.0',
    port,
    serverNames: parseServerNames(o.serverName),
    nginxWorkers: parseCount(o.nginxWorkers ?? String(DEFAULT_NGINX_WORKERS), '--nginx-workers', { auto: true }),
    mlflowWorkers,
    s3: o.s3 === true,
  };
}

/** `mlflow==X.Y.Z` from the requirements.txt shipped beside dist/ (and src/). */
export function pinnedMlflowVersion(requirements: string): string {
  const m = /^mlflow==(\d+\.\d+\.\d+)\s*$/m.exec(requirements);
  if (!m) throw new Error('requirements.txt pins no mlflow==X.Y.Z');
  return m[1]!;
}

async function readPinnedMlflowVersion(): Promise<string> {
  // This file is src/commands/export.ts or dist/commands/export.js: the package root is two up.
  return pinnedMlflowVersion(await fs.readFile(new URL('../../requirements.txt', import.meta.url), 'utf8'));
}

/** 32 base64url characters (192 bits): in a URI as they are, no escaping. */
export function generateStoreSecret(): string {
  return randomBytes(24).toString('base64url');
}

type OutState = 'missing' | 'empty' | 'non-empty';

async function inspectOut(out: string, force: boolean): Promise<OutState> {
  let stat;
  try {
    stat = await fs.lstat(out);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw new UserError(`cannot read --out ${out} (${(error as NodeJS.ErrnoException).code ?? 'error'})`, {
      hint: 'Choose another --out',
    });
  }
  // A link could send the secrets anywhere; a file is not a folder to write into.
  if (stat.isSymbolicLink())
    throw new UserError(`--out ${out} is a symbolic link`, { hint: 'Pass the real folder, or another --out' });
  if (!stat.isDirectory())
    throw new UserError(`--out ${out} exists and is not a folder`, { hint: 'Choose another --out' });
  if ((await fs.readdir(out)).length === 0) return 'empty';
  if (!force)
    throw new UserError(`--out ${out} is not empty`, {
      hint: 'Pass --force to overwrite the files an export writes there (others are left alone), or choose another --out',
    });
  return 'non-empty';
}

function checkKept(value: string, file: string, what: string): string {
  if (!STORE_SECRET.test(value)) {
    throw new UserError(`${file} does not hold a ${what} password mlflow-secure generated`, {
      hint: `Delete it to generate a new one (a ${what} created with the old password must then be reset)`,
    });
  }
  return value;
}

/**
 * The store passwords of an earlier export in --out, kept: PostgreSQL and MinIO set theirs once,
 * when their volume is new, so a new password would lock MLflow out of the existing data.
 */
async function keptSecrets(out: string, target: ExportTarget): Promise<{ postgres?: string; minio?: string }> {
  if (target === 'compose') {
    const read = async (name: string, what: string) => {
      const file = nodePath.join(out, 'secrets', name);
      const text = await readTextIfExists(file, { ownerOnly: true });
      return text === undefined ? undefined : checkKept(text.trim(), file, what);
    };
    return { postgres: await read('postgres_password', 'PostgreSQL'), minio: await read('minio_password', 'MinIO') };
  }
  const file = nodePath.join(out, SECRET_FILE);
  const text = await readTextIfExists(file, { ownerOnly: true });
  if (text === undefined) return {};
  const value = (key: string, what: string) => {
    const m = new RegExp(`^\\s+${key}:\\s*"?([A-Za-z0-9+/=]+)"?\\s*$`, 'm').exec(text);
    return m ? checkKept(Buffer.from(m[1]!, 'base64').toString('utf8'), file, what) : undefined;
  };
  return { postgres: value(SECRET_KEYS.postgres, 'PostgreSQL'), minio: value(SECRET_KEYS.minio, 'MinIO') };
}

function errorCode(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? 'error';
}

/** Writes `files` into `out` (see the file's comment); `known` lists every file an export may write. */
export async function writeExport(
  out: string,
  state: OutState,
  files: readonly ExportFile[],
  known: readonly string[],
): Promise<void> {
  const parent = nodePath.dirname(out);
  await ensureWritableDirs([parent], 'export');
  const cannotWrite = (error: unknown) =>
    new UserError(`cannot write the export to ${out} (${errorCode(error)})`, {
      hint: 'Choose a folder you can write to with --out',
    });
  // mkdtemp makes it 0700: a new export folder stays owner-only, secrets and all.
  const stage = await fs
    .mkdtemp(nodePath.join(parent, `.${nodePath.basename(out)}.mlflow-secure-`))
    .catch((error: unknown) => {
      throw cannotWrite(error);
    });
  const local = (root: string, file: string) => nodePath.join(root, ...file.split('/'));
  try {
    for (const f of files) {
      const p = local(stage, f.path);
      await fs.mkdir(nodePath.dirname(p), { recursive: true, mode: 0o700 });
      await fs.writeFile(p, f.content, { mode: f.secret ? 0o600 : 0o644, flag: 'wx' });
      await fs.chmod(p, f.secret ? 0o600 : 0o644); // the umask may have cleared bits
    }
    if (state === 'missing') {
      await fs.rename(stage, out);
      return;
    }
    for (const f of files) {
      const target = local(out, f.path);
      const dir = nodePath.dirname(target);
      if (dir !== out) {
        await fs.mkdir(dir, { recursive: true, mode: 0o700 });
        const stat = await fs.lstat(dir);
        if (!stat.isDirectory())
          throw new UserError(`${dir} is not a folder`, { hint: 'Move it away, or choose another --out' });
        if (f.secret) await fs.chmod(dir, 0o700);
      }
      const existing = await fs.lstat(target).catch(() => undefined);
      if (existing && !existing.isFile())
        throw new UserError(`${target} is not a regular file`, { hint: 'Move it away, or choose another --out' });
      await fs.rename(local(stage, f.path), target);
    }
    const written = new Set(files.map((f) => f.path));
    for (const name of known.filter((k) => !written.has(k))) {
      const target = local(out, name);
      const stat = await fs.lstat(target).catch(() => undefined);
      if (stat?.isFile()) await fs.rm(target);
    }
  } catch (error) {
    // File-system refusals (EACCES, ENOSPC...) are the user's to fix; anything else is our bug.
    if (error instanceof UserError || typeof (error as NodeJS.ErrnoException).code !== 'string') throw error;
    throw cannotWrite(error);
  } finally {
    await fs.rm(stage, { recursive: true, force: true });
  }
}

export async function exportStack(target: string, o: ExportOptions, ctx: Context): Promise<number> {
  const { out: log, platform } = ctx;
  const options = resolveExportOptions(target, o);
  const paths = resolveStatePaths(o.stateDir, ctx);
  const entries = (await checkStateDir(paths.stateDir, platform)) ? ((await readUsers(paths.htpasswd)) ?? []) : [];
  if (entries.length === 0) {
    throw new UserError(`there is no user to export: ${paths.htpasswd} is missing or empty`, {
      hint: 'Add one first with `mlflow-secure user add <name>` (or run `mlflow-secure up` once), or pass the --state-dir that has them',
    });
  }
  const out = platform.path.resolve(ctx.cwd, o.out ?? `mlflow-secure-${options.target}`);
  const state = await inspectOut(out, o.force === true);
  const kept = state === 'non-empty' ? await keptSecrets(out, options.target) : {};
  const input: ExportInput = {
    ...options,
    mlflowVersion: await readPinnedMlflowVersion(),
    htpasswd: renderHtpasswd(entries),
    postgresPassword: kept.postgres ?? generateStoreSecret(),
    minioPassword: options.s3 ? (kept.minio ?? generateStoreSecret()) : undefined,
    scripts: containerScripts(),
  };
  for (const secret of [input.postgresPassword, input.minioPassword]) if (secret) log.addSecret(secret);
  const files = options.target === 'compose' ? renderCompose(input) : renderKubernetes(input);
  // nginx.yaml is what exports wrote before MLflow moved into nginx's pod.
  const formerLayout =
    options.target === 'kubernetes' &&
    state === 'non-empty' &&
    (await fs.lstat(platform.path.join(out, 'nginx.yaml')).then(
      (s) => s.isFile(),
      () => false,
    ));
  // Exports before the holder service had nginx join MLflow's namespace, MLflow publishing the port.
  const formerCompose =
    options.target === 'compose' &&
    state === 'non-empty' &&
    /^\s*network_mode: "?service:mlflow"?\s*$/m.test(
      (await readTextIfExists(platform.path.join(out, COMPOSE_FILE))) ?? '',
    );
  await writeExport(out, state, files, options.target === 'compose' ? COMPOSE_FILES : KUBERNETES_FILES);

  const listed = files.map((f) => (f.secret ? `${f.path} (0600)` : f.path)).join(', ');
  const images = `MLflow ${input.mlflowVersion} (${mlflowImage(input.mlflowVersion)}), nginx (${IMAGES.nginx}), PostgreSQL (${IMAGES.postgres})${input.s3 ? `, MinIO (${IMAGES.minio})` : ''}${options.target === 'compose' ? `, pause (${IMAGES.pause})` : ''}`;
  const users = entries.map((e) => JSON.stringify(e.user)).join(', ');
  const url = (host: string) => `http://${host.includes(':') ? `[${host}]` : host}:${input.port}`;
  if (kept.postgres)
    log.note('Kept the PostgreSQL password of the export already there: its database was created with it.');
  if (options.target === 'compose') {
    log.info(`Wrote a docker compose project to ${out}: ${listed}`);
    log.info(`Stack: ${images}. Users who can log in: ${users} (from ${paths.htpasswd}).`);
    log.info(
      `Check: cd ${out} && docker compose config --quiet   (docker-compose 1.29: docker-compose -f ${COMPOSE_FILE} config -q)`,
    );
    if (formerCompose)
      log.warn(
        `The published port moves from the mlflow service to ${FRONT_NAME}, which now holds nginx's and MLflow's network: run \`docker compose down\` (volumes are kept) before \`docker compose up -d\`, or the old mlflow container still holds the port.`,
      );
    log.info(`Start: cd ${out} && docker compose up -d   then open ${url(input.host)}`);
    log.info(
      'A changed user list reaches nginx with a new export and `docker compose up -d --force-recreate nginx`; MLflow keeps running.',
    );
    log.info(`Containers on the project's network reach it at http://${FRONT_NAME}:${PORTS.nginx}.`);
  } else {
    log.info(`Wrote Kubernetes manifests to ${out}: ${listed}`);
    log.info(`Stack: ${images}. Users who can log in: ${users} (from ${paths.htpasswd}).`);
    log.info(
      `${SECRET_FILE} holds the password file and the store passwords, only base64-encoded: keep it out of version control.`,
    );
    log.info(
      `Check: kubernetes-validate --strict ${platform.path.join(out, '*.yaml')}   (or kubectl apply --dry-run=server -f ${out})`,
    );
    log.info(`Apply: kubectl apply -f ${out}`);
    if (formerLayout)
      log.warn(
        `MLflow now runs inside nginx's pod, on its loopback; kubectl apply leaves the objects of the earlier export, whose Service reaches MLflow without a password: kubectl delete ${FORMER_OBJECTS.join(' ')}`,
      );
    log.info(
      `Reach: kubectl port-forward service/${FRONT_NAME} ${input.port}:${input.port}   then open ${url('127.0.0.1')}`,
    );
    log.info(`Pods reach it at http://${FRONT_NAME}.<namespace>.svc:${input.port} (or .svc.cluster.local).`);
  }
  return ExitCode.ok;
}
