/**
 * The record of the running stack (`<state>/stack.json`), read by down, status, logs, env.
 *
 * Anyone can put a stack.json in a folder (a cloned repository can ship `.mlflow-secure/`), so
 * the record is data, never code: it is parsed, validated and only then used, and it holds no
 * command, argument or pattern. What `down` signals is decided from the state folder itself
 * (nginx's `-c <this folder's nginx.conf>`, MLflow's marker environment) and from fixed
 * knowledge of the two programs; from the record come only numbers (pids and ports) that are
 * checked against the live process before anything is sent to them.
 */
import { promises as fs } from 'node:fs';
import { z } from 'zod';
import { UserError } from '../errors.js';
import { readTextIfExists, writeFileAtomic } from '../system/files.js';
import { USER_NAME } from '../users/user-name.js';

// gunicorn's socket names live in defaults.ts (no imports), which git-ignore.ts reads too: folders.ts imports it.
export { GUNICORN_SOCKET_BASE, GUNICORN_SOCKET_NAME, gunicornSocketName } from '../defaults.js';

// The folder's layout is pure (stack/plan.ts and settings.ts use it), so it lives in state-paths.ts.
export { resolveStateDir, resolveStatePaths, stateFolders, statePaths, type StatePaths } from './state-paths.js';

export const RECORD_VERSION = 2;

/** Linux's largest possible pid_max (2^22); other systems use signed 32-bit pids. */
const PID_LIMIT_FALLBACK = 4_194_304;

/**
 * The exclusive upper bound of a pid on this system. 0 and negative pids address process groups
 * or every process (kill(-1) is "all you may signal"), and 1 is init: a recorded pid must be a
 * whole number from 2 up to this limit.
 */
export async function pidLimit(platformName: NodeJS.Platform): Promise<number> {
  if (platformName === 'linux') {
    const text = await fs.readFile('/proc/sys/kernel/pid_max', 'utf8').catch(() => undefined);
    const n = Number(text?.trim());
    return Number.isInteger(n) && n > 2 ? n : PID_LIMIT_FALLBACK;
  }
  return platformName === 'win32' ? 2 ** 32 : 2 ** 31 - 1;
}

const port = z.number().int().min(1).max(65535);
const host = z.string().regex(/^[A-Za-z0-9.:-]{1,253}$/, 'not a host name or address');
/** http://<host>:<port> (a server name may be a *.wildcard) or http://[v6]:<port>, nothing else: `env` hands it to clients with the password. */
const localUrl = z
  .string()
  .regex(
    /^https?:\/\/(?:(?:\*\.)?[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\]):\d{1,5}$/,
    'not a plain http://host:port URL',
  );

function recordSchema(maxPid: number) {
  const pid = z
    .number()
    .int()
    .min(2)
    .max(maxPid - 1);
  const proc = z.object({ pid });
  return z.object({
    version: z.union([z.literal(1), z.literal(RECORD_VERSION)]),
    /** `starting` while up is bringing the stack up, `running` once it was proven healthy. */
    phase: z.enum(['starting', 'running']),
    /** The foreground `up` supervising the stack, or null once it detached. Shown by status; never signalled. */
    supervisorPid: pid.nullable(),
    startedAt: z.string().max(64),
    url: localUrl,
    publicUrls: z.array(localUrl).max(64),
    user: z.string().regex(USER_NAME, 'not a valid user name'),
    host,
    port,
    /** The port in MLflow's argv: its TCP port (Windows), or the identity of its command line (Unix socket). */
    mlflowPort: port,
    /** Whether MLflow listens on `<state>/mlflow.sock` (POSIX, --jobs off) or on 127.0.0.1:mlflowPort; absent: the platform's default. */
    mlflowOnSocket: z.boolean().optional(),
    /**
     * `up --upstream`: the user's MLflow (no `mlflow` pid then; `down` never signals it). Data only:
     * validated as a URL here and again as --upstream by restart, probed only while this folder's
     * nginx runs, and never a command, a pid or a path.
     */
    upstream: z
      .string()
      .regex(
        /^https?:\/\/(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\]):\d{1,5}$/,
        'not a plain http(s)://host:port URL',
      )
      .optional(),
    hash: z.enum(['bcrypt', 'apr1']),
    /** For display only, with any password masked. */
    backendStoreUri: z.string().max(4096),
    registryStoreUri: z.string().max(4096),
    artifactsDestination: z.string().max(4096),
    mlflow: proc.optional(),
    nginx: proc.optional(),
    /**
     * What `restart` hands to `up` again besides the fields above: option values, validated
     * again as if typed (settings.ts). No program path, no secret.
     */
    options: z
      .object({
        serverNames: z.array(z.string().regex(/^(?:\*\.)?[A-Za-z0-9.:-]{1,253}$/, 'not a server name')).max(64),
        nginxWorkers: z.union([z.number().int().min(1).max(64), z.literal('auto')]),
        timeoutSeconds: z.number().min(1).max(3600),
        /** MLflow's worker count and job execution (optional: records of 0.1 before --workers). */
        workers: z.number().int().min(1).max(32).optional(),
        jobs: z.boolean().optional(),
        /** --permissions: its default permission (absent: permissions off). */
        permissions: z.enum(['READ', 'EDIT', 'MANAGE', 'NO_PERMISSIONS']).optional(),
        /** HTTPS: a generated certificate, or the paths of the user's own (paths only; `up` checks the files again). */
        tls: z
          .union([
            z.literal('generated'),
            z.object({ cert: z.string().min(1).max(4096), key: z.string().min(1).max(4096) }),
          ])
          .optional(),
      })
      .optional(),
  });
}

export type StackRecord = Omit<z.infer<ReturnType<typeof recordSchema>>, 'version'> & {
  version: typeof RECORD_VERSION | 1;
};

/**
 * The validated record, or undefined when there is none. A record that is not one mlflow-secure
 * wrote gets one line and exit 1: nothing is signalled, nothing deleted.
 */
export async function readRecord(file: string, platformName: NodeJS.Platform): Promise<StackRecord | undefined> {
  const text = await readTextIfExists(file);
  if (text === undefined) return undefined;
  const bad = (why: string) =>
    new UserError(
      `the stack record ${file} is not one mlflow-secure wrote (${why}); nothing was stopped or signalled`,
      {
        hint: 'If you did not start a stack from this folder, delete that file; if you did, stop its processes by hand',
      },
    );
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw bad('not JSON');
  }
  const parsed = recordSchema(await pidLimit(platformName)).safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw bad(issue ? `${issue.path.join('.') || 'record'}: ${issue.message}` : 'invalid');
  }
  return parsed.data;
}

export async function writeRecord(file: string, record: StackRecord): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(record, null, 2)}\n`, 0o600);
}

export async function removeRecord(file: string): Promise<void> {
  await fs.rm(file, { force: true });
}
