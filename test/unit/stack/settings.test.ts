import { describe, expect, it } from 'vitest';
import { UserError } from '../../../src/errors.js';
import { DEFAULT_BCRYPT_COST } from '../../../src/users/htpasswd.js';
import {
  DEFAULT_JOBS,
  DEFAULT_MLFLOW_WORKERS,
  DEFAULT_NGINX_WORKERS,
  DEFAULT_PORT,
  DEFAULT_TIMEOUT_SECONDS,
  parseHashScheme,
  parseHost,
  parsePort,
  parseServerNames,
  resolveSettings,
  type StackOptions,
} from '../../../src/stack/settings.js';
import { resolveStateDir } from '../../../src/stack/state.js';
import { getPlatform } from '../../../src/system/platform.js';
import { userErrorFrom } from '../user-error.js';

const linux = getPlatform('linux');
const win32 = getPlatform('win32');
const darwin = getPlatform('darwin');
const POSIX_CWD = '/home/ana/proj';
const WIN_CWD = 'C:\\Users\\Ana\\proj';

const onLinux = (o: StackOptions) => resolveSettings(o, { cwd: POSIX_CWD, platform: linux });
const onWindows = (o: StackOptions) => resolveSettings(o, { cwd: WIN_CWD, platform: win32 });

describe('resolveSettings defaults', () => {
  it('on Linux: MLflow defaults made absolute, port 5000, admin, bcrypt', () => {
    const s = onLinux({});
    expect(s.backend).toEqual({
      uri: 'sqlite:////home/ana/proj/mlflow.db',
      isFileStore: false,
      localPath: '/home/ana/proj/mlflow.db',
      localKind: 'sqlite',
    });
    expect(s.registry.uri).toBe(s.backend.uri);
    expect(s.artifacts).toMatchObject({
      uri: 'file:///home/ana/proj/mlartifacts',
      isFileStore: false,
      localKind: 'folder',
    });
    expect(s.host).toBe('127.0.0.1');
    expect(s.port).toBe(5000);
    expect(DEFAULT_PORT).toBe(5000);
    expect(s.serverNames).toEqual([]);
    expect(s.user).toBe('admin');
    expect(s.hash).toBe('bcrypt');
    expect(s.bcryptCost).toBe(DEFAULT_BCRYPT_COST);
    expect(s.stateDir).toBe('/home/ana/proj/.mlflow-secure');
    expect(s.timeoutMs).toBe(DEFAULT_TIMEOUT_SECONDS * 1000);
    expect(s.nginxWorkers).toBe(DEFAULT_NGINX_WORKERS);
    expect(s.mlflowWorkers).toBe(DEFAULT_MLFLOW_WORKERS);
    expect(s.jobs).toBe(DEFAULT_JOBS);
    expect(s.warnings).toEqual([]);
  });

  it('on Windows: drive URIs with forward slashes, apr1, a native state folder', () => {
    const s = onWindows({});
    expect(s.backend.uri).toBe('sqlite:///C:/Users/Ana/proj/mlflow.db');
    expect(s.registry.uri).toBe('sqlite:///C:/Users/Ana/proj/mlflow.db');
    expect(s.artifacts.uri).toBe('file:///C:/Users/Ana/proj/mlartifacts');
    expect(s.hash).toBe('apr1');
    expect(s.stateDir).toBe('C:\\Users\\Ana\\proj\\.mlflow-secure');
    expect(s.warnings).toEqual([]);
  });

  it('on macOS: apr1', () => {
    expect(resolveSettings({}, { cwd: '/Users/ana', platform: darwin }).hash).toBe('apr1');
  });
});

describe('resolveSettings with options', () => {
  it('takes an explicit registry separately from the backend', () => {
    const s = onWindows({ backendStoreUri: 'D:\\Work\\mlflow.db', registryStoreUri: 'postgresql://u@h/reg' });
    expect(s.backend.uri).toBe('sqlite:///D:/Work/mlflow.db');
    expect(s.registry.uri).toBe('postgresql://u@h/reg');
  });

  it('uses the backend for the registry when none is given, as URI (never the bare drive path)', () => {
    const s = onWindows({ backendStoreUri: 'D:\\Work\\mlruns' });
    expect(s.registry.uri).toBe('file:///D:/Work/mlruns');
  });

  it('warns about the deprecated file store for a folder backend, naming the URI and the way out', () => {
    const s = onWindows({ backendStoreUri: 'D:\\Work\\mlruns' });
    expect(s.backend.isFileStore).toBe(true);
    expect(s.warnings).toHaveLength(1);
    expect(s.warnings[0]).toContain('file:///D:/Work/mlruns');
    expect(s.warnings[0]).toContain('MLFLOW_ALLOW_FILE_STORE=true');
    expect(s.warnings[0]).toContain('migrate-filestore');
  });

  it.each(['./mlflow.db', 'sqlite:///x.db', 'postgresql://u@h/db'])(
    'does not warn for backend %s',
    (backendStoreUri) => {
      expect(onLinux({ backendStoreUri }).warnings).toEqual([]);
    },
  );

  it('resolves relative paths and the state folder against cwd', () => {
    const s = onLinux({ backendStoreUri: 'data/mlflow.db', artifactsDestination: '../art', stateDir: 'state' });
    expect(s.backend.uri).toBe('sqlite:////home/ana/proj/data/mlflow.db');
    expect(s.artifacts.uri).toBe('file:///home/ana/art');
    expect(s.stateDir).toBe('/home/ana/proj/state');
    expect(resolveStateDir('D:\\state', WIN_CWD, win32)).toBe('D:\\state');
    expect(resolveStateDir(undefined, WIN_CWD, win32)).toBe('C:\\Users\\Ana\\proj\\.mlflow-secure');
  });

  it('takes every option', () => {
    const s = onLinux({
      host: '[::1]',
      port: 'auto',
      serverName: 'mlflow.example.com,mlflow',
      user: 'ana',
      hash: 'apr1',
      bcryptCost: '10',
      timeout: '30',
      nginxWorkers: 'auto',
    });
    expect(s).toMatchObject({
      host: '::1',
      port: 'auto',
      serverNames: ['mlflow.example.com', 'mlflow'],
      user: 'ana',
      hash: 'apr1',
      bcryptCost: 10,
      timeoutMs: 30_000,
      nginxWorkers: 'auto',
    });
    expect(onLinux({ nginxWorkers: '4' }).nginxWorkers).toBe(4);
  });
});

describe('--workers and --jobs', () => {
  it('defaults to fewer MLflow workers than MLflow (4) and no job execution, chosen by measurement', () => {
    expect(DEFAULT_MLFLOW_WORKERS).toBeGreaterThanOrEqual(1);
    expect(DEFAULT_MLFLOW_WORKERS).toBeLessThan(4);
    expect(DEFAULT_JOBS).toBe(false);
  });

  it('takes 1 to 32 workers and on/off for jobs', () => {
    expect(onLinux({ workers: '1' }).mlflowWorkers).toBe(1);
    expect(onLinux({ workers: '32' }).mlflowWorkers).toBe(32);
    expect(onLinux({ jobs: 'on' }).jobs).toBe(true);
    expect(onLinux({ jobs: 'off' }).jobs).toBe(false);
    expect(onWindows({ workers: '3', jobs: 'off' })).toMatchObject({ mlflowWorkers: 3, jobs: false, warnings: [] });
  });

  it('warns once that --jobs on puts MLflow on a loopback port other accounts can reach (POSIX)', () => {
    const warnings = onLinux({ jobs: 'on' }).warnings;
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/--jobs on.*TCP port.*other accounts.*past the password/);
    expect(onLinux({ jobs: 'off' }).warnings).toEqual([]);
    // MLflow runs jobs only with a database backend: the file store gets a second line.
    expect(
      onLinux({ jobs: 'on', backendStoreUri: '/home/ana/mlruns' }).warnings.some((w) =>
        /--jobs on.*database backend/.test(w),
      ),
    ).toBe(true);
  });

  it('on Windows MLflow is on TCP anyway; --jobs on only warns that MLflow runs no jobs there', () => {
    const warnings = onWindows({ jobs: 'on' }).warnings;
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/--jobs on.*Windows/);
    expect(warnings[0]).not.toMatch(/other accounts/);
  });

  it('a bad --workers value gets a hint that names the flag', () => {
    expect(userErrorFrom(() => onLinux({ workers: '0' })).hint).toMatch(/--workers \d/);
    expect(userErrorFrom(() => onLinux({ jobs: 'yes' })).hint).toMatch(/--jobs (on|off)/);
  });
});

describe('bcrypt where nginx cannot verify it', () => {
  it('refuses bcrypt on Windows, explaining the crypt() fallback', () => {
    const error = userErrorFrom(() => onWindows({ hash: 'bcrypt' }));
    expect(error.message).toContain('--hash bcrypt');
    expect(error.message).toContain('crypt()');
    // Why it is dangerous, not just "unsupported": the stored string itself would log in.
    expect(error.message).toMatch(/typed password|plain|hash itself would log in/);
    expect(error.message).toContain('--hash apr1');
  });

  it('refuses bcrypt on macOS, explaining why', () => {
    const error = userErrorFrom(() => resolveSettings({ hash: 'bcrypt' }, { cwd: '/Users/ana', platform: darwin }));
    expect(error.message).toMatch(/macOS.*crypt\(\).*bcrypt/);
    expect(error.message).toContain('apr1');
  });

  it('accepts apr1 everywhere and bcrypt on Linux', () => {
    for (const platform of [linux, win32, darwin])
      expect(parseHashScheme('apr1', platform), platform.name).toBe('apr1');
    expect(parseHashScheme('bcrypt', linux)).toBe('bcrypt');
    expect(parseHashScheme(undefined, linux)).toBe('bcrypt');
    expect(parseHashScheme(undefined, win32)).toBe('apr1');
    expect(parseHashScheme(undefined, darwin)).toBe('apr1');
  });
});

describe('bad values name the flag and the value', () => {
  it.each([
    [{ port: 'abc' }, '--port', 'abc'],
    [{ port: '0' }, '--port', '0'],
    [{ port: '65536' }, '--port', '65536'],
    [{ port: '-1' }, '--port', '-1'],
    [{ port: '50 00' }, '--port', '50 00'],
    [{ port: '5000.5' }, '--port', '5000.5'],
    [{ host: 'not a host' }, '--host', 'not a host'],
    [{ host: '-x' }, '--host', '-x'],
    [{ host: 'http://x' }, '--host', 'http://x'],
    [{ serverName: 'ok.example.com,bad_name!' }, '--server-name', 'bad_name!'],
    [{ serverName: 'http://x' }, '--server-name', 'http://x'],
    [{ hash: 'md5' }, '--hash', 'md5'],
    [{ hash: 'BCRYPT' }, '--hash', 'BCRYPT'],
    [{ bcryptCost: '3' }, '--bcrypt-cost', '3'],
    [{ bcryptCost: '15' }, '--bcrypt-cost', '15'],
    [{ bcryptCost: 'ten' }, '--bcrypt-cost', 'ten'],
    [{ timeout: '0' }, '--timeout', '0'],
    [{ timeout: 'abc' }, '--timeout', 'abc'],
    [{ timeout: '3601' }, '--timeout', '3601'],
    [{ timeout: '-5' }, '--timeout', '-5'],
    [{ nginxWorkers: '0' }, '--nginx-workers', '0'],
    [{ nginxWorkers: '65' }, '--nginx-workers', '65'],
    [{ nginxWorkers: 'two' }, '--nginx-workers', 'two'],
    [{ workers: '0' }, '--workers', '0'],
    [{ workers: '33' }, '--workers', '33'],
    [{ workers: 'four' }, '--workers', 'four'],
    [{ workers: '2.5' }, '--workers', '2.5'],
    [{ workers: '-1' }, '--workers', '-1'],
    [{ jobs: 'yes' }, '--jobs', 'yes'],
    [{ jobs: 'ON' }, '--jobs', 'ON'],
    [{ jobs: '' }, '--jobs', ''],
    [{ backendStoreUri: 'foo://x' }, '--backend-store-uri', 'foo://x'],
    [{ registryStoreUri: 'foo://x' }, '--registry-store-uri', 'foo://x'],
    [{ artifactsDestination: 'sqlite:///x.db' }, '--artifacts-destination', 'sqlite:///x.db'],
    [{ backendStoreUri: 'D:\\x' }, '--backend-store-uri', 'D:\\x'],
  ] as [StackOptions, string, string][])('%j -> %s', (options, flag, value) => {
    const error = userErrorFrom(() => onLinux(options));
    expect(error.message).toContain(flag);
    expect(error.message).toContain(`'${value}'`);
  });

  it('names the user name it refuses', () => {
    expect(userErrorFrom(() => onLinux({ user: 'a:b' })).message).toContain('"a:b"');
  });

  it('names the --user flag when refusing a user name (STYLE practice 7)', () => {
    // actual message: "bad user name 'a:b'" (validateUserName does not know the flag)
    expect(userErrorFrom(() => onLinux({ user: 'a:b' })).message).toContain('--user');
  });
});

describe('parsePort', () => {
  it.each([
    ['1', 1],
    ['5000', 5000],
    ['65535', 65535],
    ['auto', 'auto'],
  ] as const)('%s -> %s', (value, expected) => {
    expect(parsePort(value)).toBe(expected);
  });

  it('names the flag it is given', () => {
    expect(userErrorFrom(() => parsePort('x', '--mlflow-port')).message).toBe(
      "--mlflow-port must be a number from 1 to 65535 or 'auto', got 'x'",
    );
  });
});

describe('--host on every interface', () => {
  it.each(['0.0.0.0', '::'])(
    '%s without --server-name: says that clients coming by an address or name need one',
    (host) => {
      const warnings = onLinux({ host, port: '8080' }).warnings;
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/^--host \S+ without --server-name: MLflow answers only to localhost/);
      expect(warnings[0]).toContain('http://192.168.1.5:8080');
      expect(warnings[0]).toContain('403 "Invalid Host header"');
      expect(warnings[0]).toContain('--server-name 192.168.1.5,my-laptop');
    },
  );

  it('says nothing with a --server-name, or on a specific address', () => {
    expect(onLinux({ host: '0.0.0.0', serverName: 'mlflow.lan' }).warnings).toEqual([]);
    expect(onLinux({ host: '192.168.1.5' }).warnings).toEqual([]);
    expect(onLinux({ host: '0.0.0.0', port: 'auto' }).warnings[0]).toContain('http://my-laptop:<port>');
  });
});

describe('parseHost', () => {
  it.each([
    ['127.0.0.1', '127.0.0.1'],
    ['0.0.0.0', '0.0.0.0'],
    ['::', '::'],
    ['::1', '::1'],
    ['[::1]', '::1'],
    ['[fe80::1]', 'fe80::1'],
    ['localhost', 'localhost'],
    ['mlflow.example.com', 'mlflow.example.com'],
  ])('%s -> %s', (value, expected) => {
    expect(parseHost(value)).toBe(expected);
  });

  it.each(['', 'a b', 'a_b', 'host:80', '[::1', 'x..y', '999.1.1.1', '1.2.3'])('refuses %j', (value) => {
    expect(userErrorFrom(() => parseHost(value)).message).toContain(`'${value}'`);
  });

  it('refuses a wildcard name, which nginx cannot listen on', () => {
    // actual: returns '*.example.com', later rendered as `listen *.example.com:5000;`
    expect(() => parseHost('*.example.com')).toThrow(UserError);
  });
});

describe('parseServerNames', () => {
  it('splits on commas, trims, drops empties and duplicates', () => {
    expect(parseServerNames(undefined)).toEqual([]);
    expect(parseServerNames('')).toEqual([]);
    expect(parseServerNames(' ,, ')).toEqual([]);
    expect(parseServerNames(' mlflow.example.com , mlflow,mlflow.example.com ')).toEqual([
      'mlflow.example.com',
      'mlflow',
    ]);
  });

  it.each(['*.example.com', '10.0.0.5', 'fe80::1', 'localhost', 'a-b.c'])('accepts %s', (name) => {
    expect(parseServerNames(name)).toEqual([name]);
  });

  it.each(['bad name', 'x/y', 'a_b', 'http://x', 'x:80', '-x'])('refuses %j', (name) => {
    const error = userErrorFrom(() => parseServerNames(`ok.example.com,${name}`));
    expect(error.message).toContain('--server-name');
    expect(error.message).toContain(`'${name}'`);
  });
});

describe('resolveStateDir refuses what nginx.conf cannot hold', () => {
  // nginx expands `$name` even inside quotes and has no escape for it: `$http_x` in the path
  // would let each request choose auth_basic_user_file and access_log.
  it.each([
    ['state$http_x', '"state$http_x"'],
    ['$HOME/state', '"$HOME/state"'],
    ['a\nb', '"a\\u000ab"'],
    ['tab\there', '"tab\\u0009here"'],
    ['nul\u0000', '"nul\\u0000"'],
    ['del\u007f', '"del\\u007f"'],
  ])('refuses --state-dir %j, in one printable line', (value, shown) => {
    for (const [cwd, platform] of [
      [POSIX_CWD, linux],
      [WIN_CWD, win32],
    ] as const) {
      const error = userErrorFrom(() => resolveStateDir(value, cwd, platform));
      expect(error.message).toBe(`--state-dir must not contain '$' or control characters, got ${shown}`);
      expect([...`${error.message}. ${error.hint}`].every((c) => c >= ' ' && c !== '\u007f')).toBe(true);
    }
  });

  it('refuses a current folder with `$` in it, saying to pass --state-dir', () => {
    const error = userErrorFrom(() => resolveStateDir(undefined, '/home/ana/$proj', linux));
    expect(error.message).toBe(
      `the state folder "/home/ana/$proj/.mlflow-secure" has '$' or a control character in its path`,
    );
    expect(error.hint).toContain('--state-dir');
    expect(resolveStateDir('/srv/state', '/home/ana/$proj', linux)).toBe('/srv/state');
  });

  it('accepts spaces, quotes, unicode and Windows drive paths', () => {
    expect(resolveStateDir('my state/"x"/é', POSIX_CWD, linux)).toBe('/home/ana/proj/my state/"x"/é');
    expect(resolveStateDir('C:\\Program Files\\ms', WIN_CWD, win32)).toBe('C:\\Program Files\\ms');
  });
});
