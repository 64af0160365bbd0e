import { describe, expect, it } from 'vitest';
import { UserError } from '../../../src/errors.js';
import { toStoreUri, type StoreKind, type UriContext } from '../../../src/stores/uri.js';

const WIN: UriContext = { cwd: 'C:\\Users\\Ana\\proj', windows: true };
const POSIX: UriContext = { cwd: '/home/ana/proj', windows: false };

/** The UserError toStoreUri throws, or a failed expectation when it does not throw one. */
function userErrorOf(input: string, kind: StoreKind, ctx: UriContext): UserError {
  try {
    toStoreUri(input, kind, ctx);
  } catch (error) {
    expect(error).toBeInstanceOf(UserError);
    return error as UserError;
  }
  throw new Error(`expected a UserError for ${JSON.stringify(input)} (${kind})`);
}

type Row = [input: string, kind: StoreKind, uri: string, isFileStore: boolean];

// What MLflow needs (mlflow#16133): URIs, never bare drive paths; three
// slashes, forward slashes, upper-case drive; file URIs percent-encoded, sqlite URIs raw.
const windowsRows: Row[] = [
  ['D:\\Work\\mlruns', 'backend', 'file:///D:/Work/mlruns', true],
  ['d:/work/mlruns', 'backend', 'file:///D:/work/mlruns', true],
  ['.\\mlruns', 'backend', 'file:///C:/Users/Ana/proj/mlruns', true],
  ['mlruns', 'backend', 'file:///C:/Users/Ana/proj/mlruns', true],
  ['\\mlruns', 'backend', 'file:///C:/mlruns', true],
  ['..\\data\\mlflow.db', 'backend', 'sqlite:///C:/Users/Ana/data/mlflow.db', false],
  ['mlflow.sqlite', 'backend', 'sqlite:///C:/Users/Ana/proj/mlflow.sqlite', false],
  ['D:\\x\\RUNS.DB', 'backend', 'sqlite:///D:/x/RUNS.DB', false],
  ['C:relative.db', 'backend', 'sqlite:///C:/Users/Ana/proj/relative.db', false],
  ['sqlite:///C:\\x\\mlflow.db', 'backend', 'sqlite:///C:/x/mlflow.db', false],
  ['sqlite:///..\\data\\mlflow.db', 'backend', 'sqlite:///C:/Users/Ana/data/mlflow.db', false],
  ['sqlite:///mlflow.db', 'backend', 'sqlite:///C:/Users/Ana/proj/mlflow.db', false],
  ['sqlite:///D:/x/mlflow.db', 'backend', 'sqlite:///D:/x/mlflow.db', false],
  ['sqlite:///d:/x/mlflow.db', 'backend', 'sqlite:///D:/x/mlflow.db', false],
  ['SQLITE:///D:/x/mlflow.db', 'backend', 'sqlite:///D:/x/mlflow.db', false],
  ['sqlite:///D:/x/mlflow.db?timeout=30', 'backend', 'sqlite:///D:/x/mlflow.db?timeout=30', false],
  ['file:D:\\x', 'backend', 'file:///D:/x', true],
  ['file:D:/x', 'backend', 'file:///D:/x', true],
  ['file://D:/x', 'backend', 'file:///D:/x', true],
  ['file://D:\\x', 'backend', 'file:///D:/x', true],
  ['file:///D:/x', 'backend', 'file:///D:/x', true],
  ['file:///d:/x', 'backend', 'file:///D:/x', true],
  ['FILE:///D:/x', 'backend', 'file:///D:/x', true],
  ['file://localhost/D:/x', 'backend', 'file:///D:/x', true],
  ['file:mlruns', 'backend', 'file:///C:/Users/Ana/proj/mlruns', true],
  ['\\\\server\\share\\mlruns', 'backend', 'file://server/share/mlruns', true],
  ['//server/share/mlruns', 'backend', 'file://server/share/mlruns', true],
  ['file://server/share/mlruns', 'backend', 'file://server/share/mlruns', true],
  ['D:\\My Data\\mlruns', 'backend', 'file:///D:/My%20Data/mlruns', true],
  ['D:\\My Data\\mlflow.db', 'backend', 'sqlite:///D:/My Data/mlflow.db', false],
  ['sqlite:///D:/My Data/mlflow.db', 'backend', 'sqlite:///D:/My Data/mlflow.db', false],
  ['file:///D:/My%20Data', 'backend', 'file:///D:/My%20Data', true],
  ['file:///D:/My%20Data/', 'backend', 'file:///D:/My%20Data', true],
  ['file:///D:/My Data', 'backend', 'file:///D:/My%20Data', true],
  ['D:\\Données\\mlruns', 'backend', 'file:///D:/Donn%C3%A9es/mlruns', true],
  ['D:\\Données\\mlflow.db', 'backend', 'sqlite:///D:/Données/mlflow.db', false],
  ['file:///D:/Donn%C3%A9es', 'backend', 'file:///D:/Donn%C3%A9es', true],
  ['file:///D:/Données', 'backend', 'file:///D:/Donn%C3%A9es', true],
  ['D:\\a#b', 'backend', 'file:///D:/a%23b', true],
  // A literal % in a folder name is data, not an escape: it is encoded, not decoded.
  ['D:\\50%25', 'backend', 'file:///D:/50%2525', true],
  ['D:\\Work\\mlruns\\', 'backend', 'file:///D:/Work/mlruns', true],
  ['D:/Work/mlruns/', 'backend', 'file:///D:/Work/mlruns', true],
  ['D:\\Work\\mlruns\\\\', 'backend', 'file:///D:/Work/mlruns', true],
  ['  D:\\Work\\mlruns  ', 'backend', 'file:///D:/Work/mlruns', true],
  ['C:\\', 'backend', 'file:///C:/', true],
  ['postgresql://u@h/db', 'backend', 'postgresql://u@h/db', false],
  ['mysql+pymysql://u:p@h:3306/db', 'backend', 'mysql+pymysql://u:p@h:3306/db', false],
  ['mssql+pyodbc://u@h/db', 'backend', 'mssql+pyodbc://u@h/db', false],
  ['D:\\Work\\mlruns', 'registry', 'file:///D:/Work/mlruns', true],
  ['D:\\Work\\mlflow.db', 'registry', 'sqlite:///D:/Work/mlflow.db', false],
  ['postgresql+psycopg2://u:p@h:5432/db', 'registry', 'postgresql+psycopg2://u:p@h:5432/db', false],
  ['D:\\art', 'artifacts', 'file:///D:/art', false],
  ['.\\art', 'artifacts', 'file:///C:/Users/Ana/proj/art', false],
  // Artifacts are always a folder: a .db name does not make it a database.
  ['D:\\art\\mlflow.db', 'artifacts', 'file:///D:/art/mlflow.db', false],
  ['file:///D:/My%20Data', 'artifacts', 'file:///D:/My%20Data', false],
  ['s3://bucket/x', 'artifacts', 's3://bucket/x', false],
  ['gs://bucket/x', 'artifacts', 'gs://bucket/x', false],
  ['mlflow-artifacts:/', 'artifacts', 'mlflow-artifacts:/', false],
  // Win32 namespace prefixes name the same drive or share; there is no URI form for the prefix.
  ['\\\\?\\C:\\data\\mlruns', 'backend', 'file:///C:/data/mlruns', true],
  ['\\\\?\\c:\\data\\mlflow.db', 'backend', 'sqlite:///C:/data/mlflow.db', false],
  ['\\\\.\\D:\\data', 'backend', 'file:///D:/data', true],
  ['//?/C:/data/mlruns', 'backend', 'file:///C:/data/mlruns', true],
  ['\\\\?\\UNC\\server\\share\\x', 'backend', 'file://server/share/x', true],
  ['\\\\?\\unc\\server\\share\\x', 'backend', 'file://server/share/x', true],
  // What the old converter made of \\?\C:\data\mlruns, fed back.
  ['file://%3F/C:/data/mlruns', 'backend', 'file:///C:/data/mlruns', true],
  // Browsers write a share as file://///server/share.
  ['file://///server/share/mlruns', 'backend', 'file://server/share/mlruns', true],
  // The part after sqlite:/// is a native path for SQLAlchemy: C:x.db is like bare C:x.db.
  ['sqlite:///C:x.db', 'backend', 'sqlite:///C:/Users/Ana/proj/x.db', false],
  // '#' is not special to SQLAlchemy's URL parser nor to MLflow: kept raw, it works.
  ['C:\\data\\x#y\\mlflow.db', 'backend', 'sqlite:///C:/data/x#y/mlflow.db', false],
  ['sqlite:///C:/data/x#y/mlflow.db', 'backend', 'sqlite:///C:/data/x#y/mlflow.db', false],
  // A literal "%2F" in a folder name (encoded once more) is data, not a separator.
  ['file:///D:/a%252Fb', 'backend', 'file:///D:/a%252Fb', true],
  // Artifacts are always a folder: no SQLite rule applies, '#' is encoded as in any file URI.
  ['D:\\a#b\\x.db', 'artifacts', 'file:///D:/a%23b/x.db', false],
];

describe('toStoreUri on Windows', () => {
  it('has a wide table of Windows shapes', () => {
    expect(windowsRows.length).toBeGreaterThanOrEqual(25);
  });

  it.each(windowsRows)('%s (%s) -> %s', (input, kind, uri, isFileStore) => {
    const result = toStoreUri(input, kind, WIN);
    expect(result.uri).toBe(uri);
    expect(result.isFileStore).toBe(isFileStore);
  });

  it.each(windowsRows)('%s (%s): the URI has no backslash and is stable when fed back', (input, kind) => {
    const { uri } = toStoreUri(input, kind, WIN);
    expect(uri).not.toContain('\\');
    expect(uri).not.toMatch(/^file:\/\/[A-Za-z]:/); // never the two-slash form MLflow reads as a host
    expect(toStoreUri(uri, kind, WIN).uri).toBe(uri);
  });

  it.each([
    ['D:\\Work\\mlruns', 'backend', 'D:\\Work\\mlruns', 'folder'],
    ['..\\data\\mlflow.db', 'backend', 'C:\\Users\\Ana\\data\\mlflow.db', 'sqlite'],
    ['file:///D:/My%20Data', 'backend', 'D:\\My Data', 'folder'],
    ['\\\\server\\share\\mlruns', 'backend', '\\\\server\\share\\mlruns', 'folder'],
    ['sqlite:///D:/x/mlflow.db?timeout=30', 'backend', 'D:\\x\\mlflow.db', 'sqlite'],
    ['D:\\art\\mlflow.db', 'artifacts', 'D:\\art\\mlflow.db', 'folder'],
    ['\\\\?\\C:\\data\\mlruns', 'backend', 'C:\\data\\mlruns', 'folder'],
    ['\\\\?\\UNC\\server\\share\\x', 'backend', '\\\\server\\share\\x', 'folder'],
  ] as const)('%s (%s) is the local %s %s', (input, kind, localPath, localKind) => {
    const result = toStoreUri(input, kind, WIN);
    expect(result.localPath).toBe(localPath);
    expect(result.localKind).toBe(localKind);
  });

  it('gives no local path for remote stores', () => {
    expect(toStoreUri('postgresql://u@h/db', 'backend', WIN).localPath).toBeUndefined();
    expect(toStoreUri('s3://bucket/x', 'artifacts', WIN).localPath).toBeUndefined();
  });

  it.each([
    ['sqlite:///:memory:', 'backend', /in-memory/],
    ['sqlite://mlflow.db', 'backend', /three slashes|not a SQLite URI/],
    ['foo://x', 'registry', /--registry-store-uri 'foo:\/\/x'/],
    ['s3://bucket/x', 'backend', /--backend-store-uri 's3:\/\/bucket\/x'/],
    ['sqlite:///D:/x/mlflow.db', 'artifacts', /--artifacts-destination/],
    ['', 'artifacts', /--artifacts-destination is empty/],
    // A UNC path needs a server and a share; Node would otherwise resolve \\server to C:\server.
    ['\\\\server', 'backend', /'\\\\server' is not a full UNC path/],
    ['\\\\server\\', 'backend', /not a full UNC path/],
    ['//server', 'backend', /not a full UNC path/],
    ['\\\\\\server\\share', 'backend', /not a full UNC path/],
    ['file://server', 'backend', /not a full UNC path/],
    ['\\\\?\\UNC\\server', 'backend', /not a full UNC path/],
    ['\\\\?\\Volume{0b1c2d3e-0000-0000-0000-100000000000}\\mlruns', 'backend', /Windows device path/],
    ['\\\\.\\pipe\\x', 'backend', /Windows device path/],
    ['\\\\?\\C:', 'backend', /Windows device path/],
    // A file URI has no "current folder of drive D": file:///D:x is a typo of file:///D:/x.
    ['file:///D:x', 'backend', /'file:\/\/\/D:x' has the drive-relative path D:x/],
    ['file://D:x', 'backend', /drive-relative path D:x/],
    ['file:D:x', 'backend', /drive-relative path D:x/],
    ['file:C:x', 'backend', /drive-relative path C:x/],
    ['sqlite:////D:x.db', 'backend', /current folder of drive D:/],
    // '?' starts SQLAlchemy's options; %XX is decoded by SQLAlchemy 2.1 but not by MLflow.
    [
      'C:\\data\\a?b\\mlflow.db',
      'backend',
      /--backend-store-uri 'C:\\data\\a\?b\\mlflow.db': a SQLite path cannot contain '\?'/,
    ],
    ['file:///C:/data/a%3Fb/mlflow.db', 'backend', /a SQLite path cannot contain '\?'/],
    ['sqlite:///C:/data/a%3Fb/mlflow.db', 'backend', /a SQLite path cannot contain '%3F'/],
    ['sqlite:///D:/My%20Data/mlflow.db', 'registry', /--registry-store-uri .* cannot contain '%20'/],
    // An encoded separator must not become one: x%2F..%2F.. would climb out of D:\data.
    ['file:///D:/data/x%2F..%2F..%2FWindows', 'backend', /encoded path separator \(%2F\)/],
    ['file:///D:/data/x%2f..%2f..%2fWindows', 'artifacts', /--artifacts-destination .* encoded path separator \(%2f\)/],
    ['file:///D:/data/x%5C..%5C..%5CWindows', 'backend', /encoded path separator \(%5C\)/],
    ['file:///D:/data/a%00b', 'backend', /NUL/],
  ] as const)('refuses %j for %s', (input, kind, message) => {
    expect(userErrorOf(input, kind, WIN).message).toMatch(message);
  });

  // The old message took the first character of the input as the drive letter.
  it.each([
    ['d:data', 'D'],
    ['E:..\\x', 'E'],
    ['  e:x', 'E'],
    ['sqlite:///F:x.db', 'F'],
    ['sqlite:///g:x.db', 'G'],
    ['file:///D:x', 'D'],
    ['file:h:x', 'H'],
  ])('%j: the drive-relative error names drive %s', (input, drive) => {
    const error = userErrorOf(input, 'backend', WIN);
    expect(error.message).toContain(` ${drive}:`);
    // Every drive the message and hint mention (input quoted included) is that one.
    const drives = `${error.message} ${error.hint ?? ''}`.match(/\b[A-Za-z]:/g)!.map((d) => d.toUpperCase());
    expect(new Set(drives)).toEqual(new Set([`${drive}:`]));
  });
});

describe('toStoreUri on POSIX', () => {
  const posixRows: Row[] = [
    ['mlruns', 'backend', 'file:///home/ana/proj/mlruns', true],
    ['./mlruns', 'backend', 'file:///home/ana/proj/mlruns', true],
    ['/data/mlruns', 'backend', 'file:///data/mlruns', true],
    ['/data/mlruns/', 'backend', 'file:///data/mlruns', true],
    ['../data/mlflow.db', 'backend', 'sqlite:////home/ana/data/mlflow.db', false],
    ['/data/mlflow.db', 'backend', 'sqlite:////data/mlflow.db', false],
    ['sqlite:///rel.db', 'backend', 'sqlite:////home/ana/proj/rel.db', false],
    ['sqlite:////abs/x.db', 'backend', 'sqlite:////abs/x.db', false],
    ['file:///abs', 'backend', 'file:///abs', true],
    ['file:/abs', 'backend', 'file:///abs', true],
    ['file://localhost/abs', 'backend', 'file:///abs', true],
    ['/data/My Data', 'backend', 'file:///data/My%20Data', true],
    ['/data/My Data/mlflow.db', 'backend', 'sqlite:////data/My Data/mlflow.db', false],
    ['file:///data/a%20b', 'backend', 'file:///data/a%20b', true],
    ['/data/a%20b', 'backend', 'file:///data/a%2520b', true],
    ['/data/naïve', 'backend', 'file:///data/na%C3%AFve', true],
    ['/data/a?b#c', 'backend', 'file:///data/a%3Fb%23c', true],
    ['postgresql://u@h/db', 'backend', 'postgresql://u@h/db', false],
    ['./art', 'artifacts', 'file:///home/ana/proj/art', false],
    ['/data/x.db', 'artifacts', 'file:///data/x.db', false],
    ['s3://bucket/x', 'artifacts', 's3://bucket/x', false],
    // '#' is not special to SQLAlchemy's URL parser nor to MLflow: kept raw, it works.
    ['/tmp/x#y/mlflow.db', 'backend', 'sqlite:////tmp/x#y/mlflow.db', false],
    ['file:///tmp/x%23y/mlflow.db', 'backend', 'sqlite:////tmp/x#y/mlflow.db', false],
    // A backslash is an ordinary name character here; a literal "%2F" in a name is data.
    ['file:///data/a%5Cb', 'backend', 'file:///data/a%5Cb', true],
    ['file:///data/a%252Fb', 'backend', 'file:///data/a%252Fb', true],
    ['/data/a?b/x.db', 'artifacts', 'file:///data/a%3Fb/x.db', false],
  ];

  it.each(posixRows)('%s (%s) -> %s', (input, kind, uri, isFileStore) => {
    const result = toStoreUri(input, kind, POSIX);
    expect(result.uri).toBe(uri);
    expect(result.isFileStore).toBe(isFileStore);
    expect(toStoreUri(result.uri, kind, POSIX).uri).toBe(uri);
  });

  it('decodes a file URI into the native local path', () => {
    expect(toStoreUri('file:///data/a%20b', 'backend', POSIX).localPath).toBe('/data/a b');
    expect(toStoreUri('sqlite:///rel.db', 'backend', POSIX)).toMatchObject({
      localPath: '/home/ana/proj/rel.db',
      localKind: 'sqlite',
    });
  });

  it.each([
    ['', 'backend', /--backend-store-uri is empty/],
    ['   ', 'backend', /--backend-store-uri is empty/],
    ['D:\\Work\\mlruns', 'backend', /--backend-store-uri 'D:\\Work\\mlruns' looks like a Windows drive path/],
    ['C:/art', 'artifacts', /--artifacts-destination 'C:\/art'/],
    ['file://C:/x', 'backend', /Windows drive path/],
    ['sqlite:///:memory:', 'backend', /--backend-store-uri 'sqlite:\/\/\/:memory:' is an in-memory database/],
    ['sqlite://rel.db', 'backend', /three slashes|not a SQLite URI/],
    ['foo://x', 'backend', /--backend-store-uri 'foo:\/\/x' is not a store URI/],
    ['postgresql:db', 'backend', /--backend-store-uri 'postgresql:db'/],
    ['file://otherhost/x', 'backend', /remote host 'otherhost'/],
    ['file:', 'backend', /has no path/],
    ['sqlite:///x.db', 'artifacts', /--artifacts-destination 'sqlite:\/\/\/x.db'/],
    ['file:///D:x', 'backend', /'file:\/\/\/D:x' names a Windows drive path/],
    ['\\\\?\\C:\\data\\mlruns', 'backend', /looks like a Windows UNC or device path/],
    ['\\\\server\\share', 'backend', /looks like a Windows UNC or device path/],
    ['\\\\server', 'artifacts', /--artifacts-destination .* looks like a Windows UNC or device path/],
    // '?' starts SQLAlchemy's options; %XX is decoded by SQLAlchemy 2.1 but not by MLflow.
    ['/tmp/a?b/mlflow.db', 'backend', /'\/tmp\/a\?b\/mlflow.db': a SQLite path cannot contain '\?'/],
    ['file:///tmp/a%3Fb/mlflow.db', 'backend', /a SQLite path cannot contain '\?'/],
    ['sqlite:////tmp/a%3Fb/x.db', 'backend', /a SQLite path cannot contain '%3F'/],
    ['sqlite:////tmp/a%20b/x.db', 'backend', /a SQLite path cannot contain '%20'/],
    ['sqlite:///50%25.db', 'backend', /a SQLite path cannot contain '%25'/],
    // An encoded separator must not become one: x%2F..%2F.. would climb out of /data.
    ['file:///data/x%2F..%2F..%2Fetc', 'backend', /encoded path separator \(%2F\)/],
    ['file:///data/x%2f..%2f..%2fetc', 'artifacts', /encoded path separator \(%2f\)/],
    ['file://localhost/data/x%2F..%2Fetc', 'backend', /encoded path separator/],
    ['file:///data/a%00b', 'backend', /NUL/],
  ] as const)('refuses %j for %s', (input, kind, message) => {
    expect(userErrorOf(input, kind, POSIX).message).toMatch(message);
  });

  it('hints at the fix in the error', () => {
    expect(userErrorOf('file://otherhost/x', 'backend', POSIX).hint).toContain('file:///');
    expect(userErrorOf('foo://x', 'backend', POSIX).hint).toContain('sqlite:///');
  });
});

// Bugs found while writing these tests, since fixed: each asserts the right behaviour.
describe('fixed bugs in toStoreUri', () => {
  it('decodes reserved escapes such as %26 in a file URI instead of encoding them again', () => {
    // actual: uri file:///D:/a%2526b, localPath D:\a%26b
    const result = toStoreUri('file:///D:/a%26b', 'backend', WIN);
    expect(result.localPath).toBe('D:\\a&b');
    expect(['file:///D:/a&b', 'file:///D:/a%26b']).toContain(result.uri);
  });

  it('decodes %2523 once (a literal "%23" in the name), not twice', () => {
    // actual: uri file:///data/a%23b, localPath /data/a#b
    const result = toStoreUri('file:///data/a%2523b', 'backend', POSIX);
    expect(result.localPath).toBe('/data/a%23b');
    expect(result.uri).toBe('file:///data/a%2523b');
  });

  it('refuses file:///C:/x on POSIX like file://C:/x', () => {
    // actual: accepted as the POSIX folder /C:/x
    expect(() => toStoreUri('file:///C:/x', 'backend', POSIX)).toThrow(UserError);
  });

  it('does not resolve a drive-relative path against the test process cwd', () => {
    // actual: file:///D:/<process.cwd() without its leading slash>/mlruns, e.g. file:///D:/work/main/mlruns
    let uri: string;
    try {
      uri = toStoreUri('D:mlruns', 'backend', WIN).uri;
    } catch (error) {
      expect(error).toBeInstanceOf(UserError);
      return;
    }
    expect(uri).toBe('file:///D:/mlruns');
  });

  it('reads the four-slash sqlite form on Windows as the absolute drive path', () => {
    // actual: sqlite:///C:/C:/x.db
    let uri: string;
    try {
      uri = toStoreUri('sqlite:////C:/x.db', 'backend', WIN).uri;
    } catch (error) {
      expect(error).toBeInstanceOf(UserError);
      return;
    }
    expect(uri).toBe('sqlite:///C:/x.db');
  });
});

describe('refusals never echo a database password', () => {
  it('masks the password of a refused URI in the message', () => {
    let message = '';
    try {
      toStoreUri('postgress://ana:s3cret-pw@db.internal/mlflow', 'backend', { cwd: '/home/ana', windows: false });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/postgress:\/\/ana:\*{8}@db\.internal\/mlflow/);
    expect(message).not.toContain('s3cret-pw');
  });
});
