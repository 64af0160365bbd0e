/**
 * Store locations -> URIs MLflow accepts. Pure: strings in, strings out.
 *
 * Why: MLflow reads its registry URI with `urlparse`, so a bare Windows path such as
 * `D:\Work\mlruns` has scheme `d` and the model registry fails with
 * UnsupportedModelRegistryStoreURIException (mlflow#16133). We therefore turn every local
 * path into `file:///D:/Work/mlruns` or `sqlite:///D:/Work/mlflow.db` (three slashes,
 * forward slashes) and always pass --registry-store-uri explicitly.
 */
import nodePath from 'node:path';
import { UserError } from '../errors.js';
import { maskUriCredentials } from './secrets.js';

export type StoreKind = 'backend' | 'registry' | 'artifacts';

export interface UriContext {
  /** Folder relative paths resolve against. */
  cwd: string;
  windows: boolean;
}

export interface StoreUri {
  uri: string;
  /** MLflow's deprecated file store (`file:` backend). */
  isFileStore: boolean;
  /** The local file or folder behind the URI (native form), for writability checks. */
  localPath?: string;
  /** `file` for a local folder, `sqlite` for a local database file. */
  localKind?: 'folder' | 'sqlite';
}

const FLAG: Record<StoreKind, string> = {
  backend: '--backend-store-uri',
  registry: '--registry-store-uri',
  artifacts: '--artifacts-destination',
};

/** Schemes MLflow's tracking/registry stores understand (SQLAlchemy dialects allow `+driver`). */
const DB_SCHEMES = new Set(['postgresql', 'postgres', 'mysql', 'mssql']);
const OTHER_STORE_SCHEMES: Record<'backend' | 'registry', Set<string>> = {
  backend: new Set(['databricks', 'databricks-uc']),
  registry: new Set(['databricks', 'databricks-uc', 'uc']),
};
const SQLITE_EXTENSIONS = /\.(db|sqlite|sqlite3)$/i;
const DRIVE_PATH = /^[A-Za-z]:(?:[\\/]|$)/;
const UNC_PATH = /^(?:\\\\|\/\/)(?![\\/])[^\\/]+[\\/][^\\/]+/;
/** `D:mlruns` or `D:`: relative to drive D's current folder, which this process cannot know. */
const DRIVE_RELATIVE = /^[A-Za-z]:(?![\\/])/;
/** Win32 namespace prefixes: `\\?\` (no normalisation) and `\\.\` (devices). */
const WIN32_PREFIX = /^[\\/]{2}[?.][\\/]/;

/** `C:x` with a cwd on C: resolves against the cwd; on another drive it cannot be resolved here. */
function sameDrive(p: string, cwd: string): boolean {
  return p[0]!.toUpperCase() === cwd[0]?.toUpperCase() && cwd[1] === ':';
}

/** `p` starts with the drive-relative path; `example` is the full form to suggest for that drive. */
function driveRelative(flag: string, input: string, p: string, example: (drive: string) => string): UserError {
  const drive = p[0]!.toUpperCase();
  return new UserError(`${flag} '${input}' is relative to the current folder of drive ${drive}:`, {
    hint: `Give the full path, e.g. ${example(drive)}`,
  });
}

/**
 * `\\?\C:\x` and `\\.\C:\x` are C:\x, `\\?\UNC\server\share` is \\server\share. A URI cannot carry the
 * prefix (it would read `?` as a host), so drop it; other device paths (volumes, pipes) have no URI.
 */
function withoutWin32Prefix(p: string, flag: string, input: string): string {
  if (!WIN32_PREFIX.test(p)) return p;
  const rest = p.slice(4);
  if (/^[A-Za-z]:[\\/]/.test(rest)) return rest;
  if (/^UNC[\\/]/i.test(rest)) return `\\\\${rest.slice(4)}`;
  throw new UserError(`${flag} '${input}' is a Windows device path MLflow cannot use`, {
    hint: 'Give a drive path such as D:\\mlruns or a share such as \\\\server\\share\\mlruns',
  });
}

/** A native Windows path (typed, or taken from a URI) as an absolute path, or one clear error. */
function windowsAbsolute(
  p: string,
  flag: string,
  input: string,
  ctx: UriContext,
  example: (drive: string) => string,
): string {
  const plain = withoutWin32Prefix(p, flag, input);
  // Node resolves `\\server` (no share) to C:\server, a different place altogether.
  if (/^[\\/]{2}/.test(plain) && !UNC_PATH.test(plain)) {
    throw new UserError(`${flag} '${input}' is not a full UNC path`, {
      hint: 'A UNC path needs a server and a share: \\\\server\\share\\folder',
    });
  }
  if (DRIVE_RELATIVE.test(plain) && !sameDrive(plain, ctx.cwd)) throw driveRelative(flag, input, plain, example);
  return nodePath.win32.resolve(ctx.cwd, stripTrailingSeparators(plain, true));
}

const nativeExample = (drive: string) => `${drive}:\\path\\to\\store`;

export function toStoreUri(input: string, kind: StoreKind, ctx: UriContext): StoreUri {
  try {
    return convertStoreUri(input, kind, ctx);
  } catch (error) {
    // A refused URI is echoed back: never with its database password (postgress://u:pw@h/db).
    if (!(error instanceof UserError)) throw error;
    const masked = maskUriCredentials(input);
    if (masked === input) throw error;
    const mask = (text: string) => text.split(input).join(masked);
    throw new UserError(mask(error.message), {
      hint: error.hint && mask(error.hint),
      exitCode: error.exitCode,
      details: error.details,
    });
  }
}

function convertStoreUri(input: string, kind: StoreKind, ctx: UriContext): StoreUri {
  const flag = FLAG[kind];
  const raw = input.trim();
  if (raw === '') throw new UserError(`${flag} is empty`, { hint: 'Give a folder, a .db file or a URI' });

  const localPath = (p: string): StoreUri => {
    const absolute = ctx.windows
      ? windowsAbsolute(p, flag, input, ctx, nativeExample)
      : nodePath.posix.resolve(ctx.cwd, stripTrailingSeparators(p, false));
    return fromLocalPath(absolute, input, kind, ctx);
  };

  // Every path that starts with two separators is a UNC or device path; windowsAbsolute vets it.
  if (ctx.windows && (DRIVE_PATH.test(raw) || DRIVE_RELATIVE.test(raw) || /^[\\/]{2}/.test(raw))) return localPath(raw);
  if (!ctx.windows && DRIVE_PATH.test(raw)) {
    throw new UserError(`${flag} '${input}' looks like a Windows drive path`, {
      hint: 'On this system give a POSIX path such as /data/mlflow or a URI',
    });
  }
  if (!ctx.windows && raw.startsWith('\\\\')) {
    throw new UserError(`${flag} '${input}' looks like a Windows UNC or device path`, {
      hint: 'On this system give a POSIX path such as /data/mlflow or a URI',
    });
  }

  const match = /^([A-Za-z][A-Za-z0-9+.-]*):(.*)$/s.exec(raw);
  if (!match || match[1]!.length < 2) return localPath(raw);
  const scheme = match[1]!.toLowerCase();
  const rest = match[2]!;

  if (scheme === 'file') return fromFileUri(rest, input, kind, ctx, localPath);
  if (scheme === 'sqlite') {
    if (kind === 'artifacts') throw badScheme(flag, input, kind);
    return fromSqliteUri(rest, input, kind, ctx);
  }
  if (kind === 'artifacts') return { uri: raw, isFileStore: false };
  const base = scheme.split('+')[0]!;
  if (DB_SCHEMES.has(base) || OTHER_STORE_SCHEMES[kind].has(scheme)) {
    if (!rest.startsWith('//') && DB_SCHEMES.has(base)) throw badScheme(flag, input, kind);
    return { uri: raw, isFileStore: false };
  }
  throw badScheme(flag, input, kind);
}

function badScheme(flag: string, input: string, kind: StoreKind): UserError {
  const hint =
    kind === 'artifacts'
      ? 'Give a folder or a URI such as file:///data/mlartifacts or s3://bucket/path'
      : 'Give a folder, a .db file, sqlite:///path/mlflow.db, postgresql://..., mysql://... or mssql://...';
  return new UserError(`${flag} '${input}' is not a store URI MLflow can use`, { hint });
}

function fromFileUri(
  rest: string,
  input: string,
  kind: StoreKind,
  ctx: UriContext,
  localPath: (p: string) => StoreUri,
): StoreUri {
  const flag = FLAG[kind];
  // Inside one name an encoded slash is data; decoded, it would become a separator and let
  // x%2F..%2F.. climb out of the folder the URI names. No real folder name holds one.
  const separator = (ctx.windows ? /%(?:2f|5c)/i : /%2f/i).exec(rest);
  if (separator) {
    throw new UserError(`${flag} '${input}' has an encoded path separator (${separator[0]})`, {
      hint: 'Write the path with plain / separators',
    });
  }
  if (/%00/.test(rest))
    throw new UserError(`${flag} '${input}' has an encoded NUL (%00), which no path can hold`, {
      hint: 'Remove the %00',
    });
  let body = safeDecode(rest);
  if (body.startsWith('//')) {
    // file://authority/path: an empty authority or localhost means this machine; a drive
    // letter as authority is the common two-slash mistake (file://D:/x), not a host.
    const afterSlashes = body.slice(2);
    const authority = /^[^/\\]*/.exec(afterSlashes)![0];
    const tail = afterSlashes.slice(authority.length);
    if (authority === '' || authority.toLowerCase() === 'localhost') body = tail;
    else if (/^[A-Za-z]:$/.test(authority)) body = authority + (tail || '/');
    else if (/^[A-Za-z]:/.test(authority))
      body = authority + tail; // file://D:x, refused below
    else if (ctx.windows) body = `\\\\${authority}${tail.replace(/\//g, '\\')}`;
    else {
      throw new UserError(`${FLAG[kind]} '${input}' names the remote host '${authority}'`, {
        hint: 'A file URI must name a local path: file:///absolute/path (three slashes)',
      });
    }
  }
  // file:///D:/x arrives here as /D:/x (and file:///D:x as /D:x).
  if (/^\/[A-Za-z]:/.test(body)) body = body.slice(1);
  // Browsers write a share as file://///server/share: three or more slashes before a name.
  if (ctx.windows && /^\/{3,}[^/]/.test(body)) body = `//${body.replace(/^\/+/, '')}`;
  if (!ctx.windows && /^[A-Za-z]:/.test(body)) {
    throw new UserError(`${flag} '${input}' names a Windows drive path`, {
      hint: 'On this system give a POSIX path such as file:///data/mlruns',
    });
  }
  // A file URI's path is absolute: file:///D:x is a slip for file:///D:/x, not "x in D's current folder".
  if (DRIVE_RELATIVE.test(body)) {
    const drive = body[0]!.toUpperCase();
    throw new UserError(`${flag} '${input}' has the drive-relative path ${drive}${body.slice(1)}`, {
      hint: `Give the full path, e.g. file:///${drive}:/path/to/store`,
    });
  }
  if (body === '') throw new UserError(`${flag} '${input}' has no path`, { hint: 'Use file:///absolute/path' });
  return localPath(body);
}

function fromSqliteUri(rest: string, input: string, kind: StoreKind, ctx: UriContext): StoreUri {
  const flag = FLAG[kind];
  if (!rest.startsWith('///')) {
    throw new UserError(`${flag} '${input}' is not a SQLite URI`, {
      hint: 'Use sqlite:///path/to/mlflow.db (three slashes)',
    });
  }
  const [rawFile = '', ...query] = rest.slice(3).split('?');
  // sqlite:////C:/x.db (a POSIX habit) names the drive path C:/x.db on Windows; a colon
  // cannot be part of a Windows name, so /D:x.db is the drive-relative D:x.db.
  const file = ctx.windows && /^\/[A-Za-z]:/.test(rawFile) ? rawFile.slice(1) : rawFile;
  if (file === '' || file === ':memory:') {
    throw new UserError(`${flag} '${input}' is an in-memory database, which loses every run on exit`, {
      hint: 'Give a file: sqlite:///path/to/mlflow.db',
    });
  }
  // SQLAlchemy opens the rest as a native path, so D:x.db is handled like the bare D:x.db.
  const absolute = ctx.windows
    ? windowsAbsolute(file, flag, input, ctx, (drive) => `sqlite:///${drive}:/path/to/mlflow.db`)
    : nodePath.posix.resolve(ctx.cwd, stripTrailingSeparators(file, false));
  checkSqlitePath(absolute, flag, input);
  const suffix = query.length > 0 ? `?${query.join('?')}` : '';
  return {
    uri: `sqlite:///${sqlitePath(absolute, ctx.windows)}${suffix}`,
    isFileStore: false,
    localPath: absolute,
    localKind: 'sqlite',
  };
}

/**
 * SQLAlchemy and MLflow read the path after sqlite:/// differently: SQLAlchemy ends it at '?' (the
 * rest is options) and, from 2.1 on, decodes %XX (sqlalchemy#11234); MLflow creates its parent folder
 * from the raw text (mlflow/store/db/utils.py, _make_parent_dirs_if_sqlite). Measured with MLflow
 * 3.17.2 + SQLAlchemy 2.1.9:
 * sqlite:////t/a%3Fb/x.db creates the folder `a%3Fb`, then "unable to open database file". So no
 * spelling of '?' or of a literal %XX reaches both intact: refuse them. '#' is special to neither.
 */
function checkSqlitePath(absolute: string, flag: string, input: string): void {
  const bad = /\?|%[0-9A-Fa-f]{2}/.exec(absolute)?.[0];
  if (bad === undefined) return;
  throw new UserError(
    `${flag} '${input}': a SQLite path cannot contain '${bad}' (SQLAlchemy and MLflow read it differently)`,
    {
      hint:
        bad === '?'
          ? 'Use a folder whose path has no ?'
          : 'Write the path without %-escapes, or use a folder whose name has no %',
    },
  );
}

function fromLocalPath(absolute: string, input: string, kind: StoreKind, ctx: UriContext): StoreUri {
  if (kind !== 'artifacts' && SQLITE_EXTENSIONS.test(absolute)) {
    checkSqlitePath(absolute, FLAG[kind], input);
    return {
      uri: `sqlite:///${sqlitePath(absolute, ctx.windows)}`,
      isFileStore: false,
      localPath: absolute,
      localKind: 'sqlite',
    };
  }
  return {
    uri: fileUri(absolute, ctx.windows),
    isFileStore: kind !== 'artifacts',
    localPath: absolute,
    localKind: 'folder',
  };
}

/** An absolute native path as the part after `sqlite:///` (SQLAlchemy takes the rest literally). */
function sqlitePath(absolute: string, windows: boolean): string {
  if (!windows) return absolute; // sqlite:/// + /abs = sqlite:////abs, SQLAlchemy's absolute form
  return upperDrive(absolute.replace(/\\/g, '/'));
}

/** An absolute native path as a file URI, percent-encoding what URI parsing would misread. */
export function fileUri(absolute: string, windows: boolean): string {
  const encode = (p: string) => encodeURI(p).replace(/#/g, '%23').replace(/\?/g, '%3F');
  if (!windows) return `file://${encode(absolute)}`;
  const forward = absolute.replace(/\\/g, '/');
  if (forward.startsWith('//')) return `file:${encode(forward)}`; // UNC: file://server/share/x
  return `file:///${encode(upperDrive(forward))}`;
}

function upperDrive(p: string): string {
  return /^[a-z]:/.test(p) ? p[0]!.toUpperCase() + p.slice(1) : p;
}

function stripTrailingSeparators(p: string, windows: boolean): string {
  const re = windows ? /[\\/]+$/ : /\/+$/;
  const stripped = p.replace(re, '');
  if (stripped === '' || (windows && /^[A-Za-z]:$/.test(stripped))) return p; // keep a root
  return stripped;
}

/** Undoes percent-encoding once (a path has no reserved characters to keep encoded). */
function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s; // a lone '%' is part of the name
  }
}
