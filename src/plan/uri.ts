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

/** `C:x` with a cwd on C: resolves against the cwd; on another drive it cannot be resolved here. */
function sameDrive(p: string, cwd: string): boolean {
  return p[0]!.toUpperCase() === cwd[0]?.toUpperCase() && cwd[1] === ':';
}

function driveRelative(flag: string, input: string): UserError {
  return new UserError(`${flag} '${input}' is relative to the current folder of drive ${input[0]!.toUpperCase()}:`, `Give the full path, e.g. ${input[0]!.toUpperCase()}:\\path\\to\\store`);
}

export function toStoreUri(input: string, kind: StoreKind, ctx: UriContext): StoreUri {
  const flag = FLAG[kind];
  const raw = input.trim();
  if (raw === '') throw new UserError(`${flag} is empty`, 'Give a folder, a .db file or a URI');
  const path = ctx.windows ? nodePath.win32 : nodePath.posix;

  const localPath = (p: string): StoreUri => fromLocalPath(path.resolve(ctx.cwd, stripTrailingSeparators(p, ctx.windows)), kind, ctx);

  if (ctx.windows && DRIVE_RELATIVE.test(raw) && !sameDrive(raw, ctx.cwd)) throw driveRelative(flag, input);
  if (ctx.windows && (DRIVE_PATH.test(raw) || DRIVE_RELATIVE.test(raw) || UNC_PATH.test(raw))) return localPath(raw);
  if (!ctx.windows && DRIVE_PATH.test(raw)) {
    throw new UserError(`${flag} '${input}' looks like a Windows drive path`, 'On this system give a POSIX path such as /data/mlflow or a URI');
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
  return new UserError(`${flag} '${input}' is not a store URI MLflow can use`, hint);
}

function fromFileUri(rest: string, input: string, kind: StoreKind, ctx: UriContext, localPath: (p: string) => StoreUri): StoreUri {
  let body = safeDecode(rest);
  if (body.startsWith('//')) {
    // file://authority/path: an empty authority or localhost means this machine; a drive
    // letter as authority is the common two-slash mistake (file://D:/x), not a host.
    const afterSlashes = body.slice(2);
    const authority = /^[^/\\]*/.exec(afterSlashes)![0];
    const tail = afterSlashes.slice(authority.length);
    if (authority === '' || authority.toLowerCase() === 'localhost') body = tail;
    else if (/^[A-Za-z]:$/.test(authority)) body = authority + (tail || '/');
    else if (ctx.windows) body = `\\\\${authority}${tail.replace(/\//g, '\\')}`;
    else {
      throw new UserError(
        `${FLAG[kind]} '${input}' names the remote host '${authority}'`,
        'A file URI must name a local path: file:///absolute/path (three slashes)',
      );
    }
  }
  // file:///D:/x arrives here as /D:/x.
  if (/^\/[A-Za-z]:(?:[\\/]|$)/.test(body)) body = body.slice(1);
  if (ctx.windows && DRIVE_RELATIVE.test(body) && !sameDrive(body, ctx.cwd)) throw driveRelative(FLAG[kind], input);
  if (!ctx.windows && DRIVE_PATH.test(body)) {
    throw new UserError(`${FLAG[kind]} '${input}' names a Windows drive path`, 'On this system give a POSIX path such as file:///data/mlruns');
  }
  if (body === '') throw new UserError(`${FLAG[kind]} '${input}' has no path`, 'Use file:///absolute/path');
  return localPath(body);
}

function fromSqliteUri(rest: string, input: string, kind: StoreKind, ctx: UriContext): StoreUri {
  const flag = FLAG[kind];
  if (!rest.startsWith('///')) {
    throw new UserError(`${flag} '${input}' is not a SQLite URI`, 'Use sqlite:///path/to/mlflow.db (three slashes)');
  }
  const [rawFile = '', ...query] = rest.slice(3).split('?');
  // sqlite:////C:/x.db (a POSIX habit) names the drive path C:/x.db on Windows.
  const file = ctx.windows && /^\/[A-Za-z]:[\\/]/.test(rawFile) ? rawFile.slice(1) : rawFile;
  if (ctx.windows && DRIVE_RELATIVE.test(file) && !sameDrive(file, ctx.cwd)) throw driveRelative(flag, input);
  if (file === '' || file === ':memory:') {
    throw new UserError(`${flag} '${input}' is an in-memory database, which loses every run on exit`, 'Give a file: sqlite:///path/to/mlflow.db');
  }
  const path = ctx.windows ? nodePath.win32 : nodePath.posix;
  const absolute = path.resolve(ctx.cwd, stripTrailingSeparators(file, ctx.windows));
  const suffix = query.length > 0 ? `?${query.join('?')}` : '';
  return { uri: `sqlite:///${sqlitePath(absolute, ctx.windows)}${suffix}`, isFileStore: false, localPath: absolute, localKind: 'sqlite' };
}

function fromLocalPath(absolute: string, kind: StoreKind, ctx: UriContext): StoreUri {
  if (kind !== 'artifacts' && SQLITE_EXTENSIONS.test(absolute)) {
    return { uri: `sqlite:///${sqlitePath(absolute, ctx.windows)}`, isFileStore: false, localPath: absolute, localKind: 'sqlite' };
  }
  return { uri: fileUri(absolute, ctx.windows), isFileStore: kind !== 'artifacts', localPath: absolute, localKind: 'folder' };
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
