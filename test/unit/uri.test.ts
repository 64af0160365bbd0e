import { describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.js';
import { toStoreUri, type StoreKind, type UriContext } from '../../src/plan/uri.js';

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

// What MLflow needs (domain-notes.md, mlflow#16133): URIs, never bare drive paths; three
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
  ] as const)('refuses %j for %s', (input, kind, message) => {
    expect(userErrorOf(input, kind, WIN).message).toMatch(message);
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
  ];

  it.each(posixRows)('%s (%s) -> %s', (input, kind, uri, isFileStore) => {
    const result = toStoreUri(input, kind, POSIX);
    expect(result.uri).toBe(uri);
    expect(result.isFileStore).toBe(isFileStore);
    expect(toStoreUri(result.uri, kind, POSIX).uri).toBe(uri);
  });

  it('decodes a file URI into the native local path', () => {
    expect(toStoreUri('file:///data/a%20b', 'backend', POSIX).localPath).toBe('/data/a b');
    expect(toStoreUri('sqlite:///rel.db', 'backend', POSIX)).toMatchObject({ localPath: '/home/ana/proj/rel.db', localKind: 'sqlite' });
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
  ] as const)('refuses %j for %s', (input, kind, message) => {
    expect(userErrorOf(input, kind, POSIX).message).toMatch(message);
  });

  it('hints at the fix in the error', () => {
    expect(userErrorOf('file://otherhost/x', 'backend', POSIX).hint).toContain('file:///');
    expect(userErrorOf('foo://x', 'backend', POSIX).hint).toContain('sqlite:///');
  });
});

// Bugs found while writing these tests (reported, not fixed here). Each `it.fails` asserts the
// RIGHT behaviour: it passes while the bug is present and fails once src is fixed, which is the
// signal to turn it into a plain `it`.
describe('known bugs in toStoreUri', () => {
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
