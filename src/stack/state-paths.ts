/**
 * The state folder's layout: where each file of a stack lives, and the folder's path checked for
 * what nginx.conf cannot hold. Pure (the plan and the settings need it), so apart from state.ts,
 * which reads and writes the record.
 */
import { DEFAULT_STATE_DIR } from '../defaults.js';
import { UserError } from '../errors.js';
import type { Platform } from '../system/platform.js';

export interface StatePaths {
  stateDir: string;
  record: string;
  nginxConf: string;
  htpasswd: string;
  generatedPassword: string;
  logsDir: string;
  mlflowLog: string;
  nginxErrorLog: string;
  nginxAccessLog: string;
  /** nginx's prefix (-p): pid file, logs/ and temp/ (nginx.exe wants both to exist). */
  nginxPrefix: string;
  nginxPid: string;
  /** POSIX: the Unix socket MLflow listens on, inside the owner-only state folder. */
  mlflowSocket: string;
  /** Written by `down` before it stops the stack: tells a foreground `up` the stop was asked for. */
  stopRequest: string;
  tempDirs: { clientBody: string; proxy: string; fastcgi: string; uwsgi: string; scgi: string };
}

export function statePaths(stateDir: string, platform: Platform): StatePaths {
  const j = platform.path.join;
  const prefix = j(stateDir, 'nginx');
  const temp = j(prefix, 'temp');
  return {
    stateDir,
    record: j(stateDir, 'stack.json'),
    nginxConf: j(stateDir, 'nginx.conf'),
    htpasswd: j(stateDir, 'htpasswd'),
    generatedPassword: j(stateDir, 'generated-password'),
    logsDir: j(stateDir, 'logs'),
    mlflowLog: j(stateDir, 'logs', 'mlflow.log'),
    nginxErrorLog: j(stateDir, 'logs', 'nginx-error.log'),
    nginxAccessLog: j(stateDir, 'logs', 'nginx-access.log'),
    nginxPrefix: prefix,
    nginxPid: j(prefix, 'logs', 'nginx.pid'),
    mlflowSocket: j(stateDir, 'mlflow.sock'),
    stopRequest: j(stateDir, 'stopping'),
    tempDirs: {
      clientBody: j(temp, 'client_body'),
      proxy: j(temp, 'proxy'),
      fastcgi: j(temp, 'fastcgi'),
      uwsgi: j(temp, 'uwsgi'),
      scgi: j(temp, 'scgi'),
    },
  };
}

/** Folders `up` creates before starting anything. */
export function stateFolders(paths: StatePaths, platform: Platform): string[] {
  return [
    paths.stateDir,
    paths.logsDir,
    platform.path.join(paths.nginxPrefix, 'logs'),
    ...Object.values(paths.tempDirs),
  ];
}

/**
 * The state folder's absolute path. Its paths go into nginx.conf, where a `$` starts a variable
 * even inside quotes and has no escape: `$http_x` in the path would let each request choose
 * `auth_basic_user_file`. Control characters (a newline) have no place in such a path either.
 */
export function resolveStateDir(value: string | undefined, cwd: string, platform: Platform): string {
  const dir = platform.path.resolve(cwd, value ?? DEFAULT_STATE_DIR);
  if (!hasUnsafe(dir)) return dir;
  if (value !== undefined && hasUnsafe(value)) {
    throw new UserError(`--state-dir must not contain '$' or control characters, got ${quoted(value)}`, {
      hint: 'nginx.conf cannot escape them: choose a path without them',
    });
  }
  throw new UserError(`the state folder ${quoted(dir)} has '$' or a control character in its path`, {
    hint: 'nginx.conf cannot escape them: pass --state-dir with a path without them',
  });
}

const isControl = (code: number) => code < 0x20 || (code >= 0x7f && code < 0xa0);
const hasUnsafe = (s: string) => [...s].some((c) => c === '$' || isControl(c.codePointAt(0)!));
/** In quotes, control characters as \uXXXX: the error stays one readable line. */
const quoted = (s: string) =>
  `"${[...s].map((c) => (isControl(c.codePointAt(0)!) ? `\\u${c.codePointAt(0)!.toString(16).padStart(4, '0')}` : c)).join('')}"`;

/** The state folder named by --state-dir (or the default), resolved and laid out. */
export function resolveStatePaths(value: string | undefined, ctx: { cwd: string; platform: Platform }): StatePaths {
  return statePaths(resolveStateDir(value, ctx.cwd, ctx.platform), ctx.platform);
}
