import { describe, expect, it } from 'vitest';
import { buildPlan, MARKER_ENV, type Found } from '../../../src/stack/plan.js';
import { stateFolders } from '../../../src/stack/state.js';
import { DEFAULT_MLFLOW_WORKERS, resolveSettings, type StackOptions } from '../../../src/stack/settings.js';
import { getPlatform, type Platform } from '../../../src/system/platform.js';

const linux = getPlatform('linux');
const win32 = getPlatform('win32');

function found(overrides: Partial<Found> = {}): Found {
  return {
    mlflow: { file: '/home/ana/proj/.venv/bin/mlflow', args: [] },
    nginx: '/usr/sbin/nginx',
    nginxVersion: [1, 22, 1],
    mlflowPort: 5101,
    listenPort: 5000,
    who: { uid: 1000, username: 'ana' },
    ...overrides,
  };
}

function planFor(options: StackOptions = {}, f: Partial<Found> = {}, platform: Platform = linux) {
  const cwd = platform.isWindows ? 'C:\\Users\\Ana\\proj' : '/home/ana/proj';
  return buildPlan(resolveSettings(options, { cwd, platform }), found(f), platform);
}

/** The value following `flag` in argv (and that the flag appears exactly once). */
function argAfter(args: readonly string[], flag: string): string {
  expect(
    args.filter((a) => a === flag),
    flag,
  ).toHaveLength(1);
  const value = args[args.indexOf(flag) + 1];
  if (value === undefined) throw new Error(`${flag} has no value`);
  return value;
}

describe('buildPlan: MLflow', () => {
  it('runs `mlflow ui` on 127.0.0.1 at the internal port, with every store explicit', () => {
    const plan = planFor();
    const args = plan.mlflow.args;
    expect(plan.mlflow.file).toBe('/home/ana/proj/.venv/bin/mlflow');
    expect(args[0]).toBe('ui');
    expect(argAfter(args, '--host')).toBe('127.0.0.1');
    expect(argAfter(args, '--port')).toBe('5101');
    expect(plan.mlflow.port).toBe(5101);
    // Store URIs travel in MLflow's environment: argv is readable by every local user.
    expect(plan.mlflow.env.MLFLOW_BACKEND_STORE_URI).toBe('sqlite:////home/ana/proj/mlflow.db');
    expect(plan.mlflow.env.MLFLOW_REGISTRY_STORE_URI).toBe('sqlite:////home/ana/proj/mlflow.db');
    expect(plan.mlflow.env.MLFLOW_ARTIFACTS_DESTINATION).toBe('file:///home/ana/proj/mlartifacts');
    for (const flag of ['--backend-store-uri', '--registry-store-uri', '--artifacts-destination'])
      expect(args).not.toContain(flag);
    expect(args).toContain('--serve-artifacts');
    expect(args).not.toContain('--disable-security-middleware');
  });

  it('keeps a database password out of argv', () => {
    const plan = planFor({ backendStoreUri: 'postgresql://ana:s3cret-pw@db.internal/mlflow' });
    expect(plan.mlflow.args.join(' ')).not.toContain('s3cret-pw');
    expect(plan.mlflow.env.MLFLOW_BACKEND_STORE_URI).toBe('postgresql://ana:s3cret-pw@db.internal/mlflow');
  });

  it('POSIX: MLflow listens on a Unix socket in the state folder, job execution off; nginx proxies to it', () => {
    const plan = planFor({ stateDir: "/home/ana/it's here" });
    expect(plan.mlflow.socket).toBe("/home/ana/it's here/mlflow.sock");
    // mlflow splits MLFLOW_UVICORN_OPTS with shlex: the path must survive quoting.
    expect(plan.mlflow.env.MLFLOW_UVICORN_OPTS).toBe(`--uds '/home/ana/it'\\''s here/mlflow.sock'`);
    expect(plan.mlflow.env.MLFLOW_SERVER_ENABLE_JOB_EXECUTION).toBe('false');
    expect(plan.nginx.conf).toContain(`server "unix:/home/ana/it's here/mlflow.sock";`);
    expect(plan.nginx.conf).not.toMatch(/server 127\.0\.0\.1:/);
  });

  it('refuses a state folder whose socket path would not fit in sun_path', () => {
    expect(() => planFor({ stateDir: `/home/ana/${'x'.repeat(100)}` })).toThrow(/too long for MLflow's Unix socket/);
  });

  it('keeps MLflow on loopback whatever --host nginx listens on', () => {
    expect(argAfter(planFor({ host: '0.0.0.0' }).mlflow.args, '--host')).toBe('127.0.0.1');
    expect(argAfter(planFor({ host: '192.168.1.5' }).mlflow.args, '--host')).toBe('127.0.0.1');
  });

  it("runs MLflow in <state>/mlflow-cwd, never in the user's folder (Python imports from its working folder)", () => {
    expect(planFor().mlflow.cwd).toBe('/home/ana/proj/.mlflow-secure/mlflow-cwd');
    expect(planFor({ stateDir: '/srv/state' }).mlflow.cwd).toBe('/srv/state/mlflow-cwd');
    expect(planFor({}, {}, win32).mlflow.cwd).toBe('C:\\Users\\Ana\\proj\\.mlflow-secure\\mlflow-cwd');
  });

  it('puts the interpreter arguments (python -m mlflow) before `ui`', () => {
    const plan = planFor({}, { mlflow: { file: 'C:\\Python\\python.exe', args: ['-m', 'mlflow'] } }, win32);
    expect(plan.mlflow.file).toBe('C:\\Python\\python.exe');
    expect(plan.mlflow.args.slice(0, 3)).toEqual(['-m', 'mlflow', 'ui']);
  });

  it('passes a Windows drive backend as URIs, registry included (mlflow#16133)', () => {
    const { env, socket } = planFor(
      { backendStoreUri: 'D:\\Work\\mlruns', artifactsDestination: 'D:\\Work\\art' },
      {},
      win32,
    ).mlflow;
    expect(env.MLFLOW_BACKEND_STORE_URI).toBe('file:///D:/Work/mlruns');
    expect(env.MLFLOW_REGISTRY_STORE_URI).toBe('file:///D:/Work/mlruns');
    expect(env.MLFLOW_ARTIFACTS_DESTINATION).toBe('file:///D:/Work/art');
    // nginx for Windows has no unix: upstreams: MLflow keeps its loopback port there.
    expect(socket).toBeUndefined();
    expect(env.MLFLOW_UVICORN_OPTS).toBeUndefined();
  });

  it("allows the loopback names and every --server-name, plain and with any port, and nothing of MLflow's private ranges", () => {
    const plan = planFor({ serverName: 'mlflow.example.com,mlflow', host: '0.0.0.0' });
    const hosts = argAfter(plan.mlflow.args, '--allowed-hosts').split(',');
    expect(hosts).toEqual(plan.allowedHosts);
    expect(hosts).toEqual([
      'localhost',
      'localhost:*',
      '127.0.0.1',
      '127.0.0.1:*',
      '[::1]',
      '[[]::1]:*',
      'mlflow.example.com',
      'mlflow.example.com:*',
      'mlflow',
      'mlflow:*',
    ]);
  });

  // MLflow compares a pattern with `*` by fnmatch, any other exactly (is_allowed_host_header in
  // mlflow/server/security_utils.py); this is that rule, to check what the patterns admit.
  const fnmatch = (pattern: string) =>
    new RegExp(
      `^${pattern
        .split('[[]')
        .map((part) =>
          part
            .split('*')
            .map((t) => t.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
            .join('.*'),
        )
        .join('\\[')}$`,
    );
  const admits = (patterns: readonly string[], host: string) =>
    patterns.some((p) => (p.includes('*') ? fnmatch(p).test(host) : p === host));

  it.each([
    ['10.attacker.example', false],
    ['10.attacker.example:5000', false],
    ['10.0.0.5:5000', false],
    ['192.168.1.20', false],
    ['172.16.0.1:5000', false],
    ['fd00::1', false],
    ['0.0.0.0:5000', false],
    ['evil.example', false],
    ['localhost.evil.example', false],
    ['mlflow.example.com.evil.example', false],
    ['localhost', true],
    ['localhost:5000', true],
    ['127.0.0.1:5101', true],
    ['[::1]:5000', true],
    ['mlflow.example.com', true],
    ['mlflow.example.com:8080', true],
    ['x.lab.example.com:5000', true],
  ] as const)('admits Host %s: %s', (host, admitted) => {
    const hosts = planFor({ serverName: 'mlflow.example.com,*.lab.example.com', host: '0.0.0.0' }).allowedHosts;
    expect(admits(hosts, host)).toBe(admitted);
  });

  it('lists a name typed in capitals in lower case too, as browsers send it', () => {
    const hosts = planFor({ serverName: 'MLflow.Example.com' }).allowedHosts;
    expect(hosts).toContain('mlflow.example.com');
    expect(hosts).toContain('mlflow.example.com:*');
    expect(planFor({ serverName: 'MLflow.Example.com' }).corsOrigins).toContain('http://mlflow.example.com:5000');
  });

  it('allows a specific --host as a Host header too', () => {
    const hosts = planFor({ host: '192.168.1.5' }).allowedHosts;
    expect(hosts).toContain('192.168.1.5');
    expect(hosts).toContain('192.168.1.5:*');
    expect(hosts).not.toContain('192.168.*');
  });

  it('lists each public name as a CORS origin with the listen port', () => {
    const plan = planFor({ serverName: 'mlflow.example.com,mlflow', host: '0.0.0.0' }, { listenPort: 8080 });
    const origins = argAfter(plan.mlflow.args, '--cors-allowed-origins').split(',');
    expect(origins).toEqual(plan.corsOrigins);
    expect(origins).toContain('http://mlflow.example.com:8080');
    expect(origins).toContain('http://mlflow:8080');
    expect(origins.every((o) => /^https?:\/\/[^/]+$/.test(o))).toBe(true);
  });

  it("lets through nginx without a password only preflights of the stack's own origins", () => {
    const conf = planFor({ serverName: 'mlflow.example.com,*.lab.example.com' }, { listenPort: 8080 }).nginx.conf;
    expect(conf).toContain('auth_basic $mlflow_secure_auth;');
    const listed = [...conf.matchAll(/^ {8}"(https?:\/\/[^"]+)" 1;$/gm)].map((m) => m[1]);
    expect(listed).toEqual([
      'http://mlflow.example.com:8080',
      'https://mlflow.example.com',
      'http://127.0.0.1:8080',
      'https://127.0.0.1',
      'http://localhost:8080',
      'http://[::1]:8080',
    ]);
    // MLflow's preflight answer compares origins exactly: a wildcard name's origin would never pass.
    expect(conf).not.toContain('lab.example.com:8080" 1');
    // With TLS every page is https: http origins and the loopback ones MLflow does not allow are left out.
    const tls = planFor({ serverName: 'mlflow.example.com', tls: true }, { listenPort: 8443 }).nginx.conf;
    expect([...tls.matchAll(/^ {8}"(https?:\/\/[^"]+)" 1;$/gm)].map((m) => m[1])).toEqual([
      'https://mlflow.example.com:8443',
      'https://127.0.0.1:8443',
    ]);
  });

  it('writes port 80 origins without the port, as browsers send them', () => {
    expect(planFor({ serverName: 'mlflow.example.com', host: '0.0.0.0' }, { listenPort: 80 }).corsOrigins).toContain(
      'http://mlflow.example.com',
    );
  });

  it('sets MLFLOW_ALLOW_FILE_STORE only for a file store', () => {
    expect(planFor().mlflow.env.MLFLOW_ALLOW_FILE_STORE).toBeUndefined();
    expect(planFor({ backendStoreUri: 'postgresql://u@h/db' }).mlflow.env.MLFLOW_ALLOW_FILE_STORE).toBeUndefined();
    expect(planFor({ backendStoreUri: './mlruns' }).mlflow.env.MLFLOW_ALLOW_FILE_STORE).toBe('true');
    expect(planFor({ backendStoreUri: 'x.db', registryStoreUri: './mlruns' }).mlflow.env.MLFLOW_ALLOW_FILE_STORE).toBe(
      'true',
    );
  });

  it('marks the children with the state folder and unbuffers Python', () => {
    const plan = planFor();
    expect(plan.mlflow.env[MARKER_ENV]).toBe('/home/ana/proj/.mlflow-secure');
    expect(plan.marker).toBe('/home/ana/proj/.mlflow-secure');
    expect(plan.mlflow.env.PYTHONUNBUFFERED).toBe('1');
  });
});

describe('buildPlan: --workers and --jobs', () => {
  it('passes the worker count to `mlflow ui --workers`, the default included', () => {
    expect(argAfter(planFor().mlflow.args, '--workers')).toBe(String(DEFAULT_MLFLOW_WORKERS));
    expect(argAfter(planFor({ workers: '1' }).mlflow.args, '--workers')).toBe('1');
    expect(argAfter(planFor({ workers: '7' }, {}, win32).mlflow.args, '--workers')).toBe('7');
    // The command line's identity for `down` stays `ui ... --port <n>`.
    expect(argAfter(planFor({ workers: '1' }).mlflow.args, '--port')).toBe('5101');
  });

  it('POSIX, jobs off: the Unix socket, job execution explicitly off, nginx upstream unix:', () => {
    const plan = planFor({ jobs: 'off', stateDir: '/home/ana/s' });
    expect(plan.mlflow.socket).toBe('/home/ana/s/mlflow.sock');
    expect(plan.mlflow.env.MLFLOW_UVICORN_OPTS).toBe("--uds '/home/ana/s/mlflow.sock'");
    expect(plan.mlflow.env.MLFLOW_SERVER_ENABLE_JOB_EXECUTION).toBe('false');
    expect(plan.nginx.conf).toContain('server "unix:/home/ana/s/mlflow.sock";');
  });

  it('POSIX, jobs on: MLflow on 127.0.0.1:<port> (no --uds), job execution on, nginx upstream TCP', () => {
    const plan = planFor({ jobs: 'on', stateDir: '/home/ana/s' }, { mlflowPort: 5333 });
    expect(plan.mlflow.socket).toBeUndefined();
    expect(plan.mlflow.env.MLFLOW_UVICORN_OPTS).toBeUndefined();
    // Explicit, so an MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false in the shell cannot contradict --jobs on.
    expect(plan.mlflow.env.MLFLOW_SERVER_ENABLE_JOB_EXECUTION).toBe('true');
    expect(argAfter(plan.mlflow.args, '--host')).toBe('127.0.0.1');
    expect(argAfter(plan.mlflow.args, '--port')).toBe('5333');
    expect(plan.nginx.conf).toContain('server 127.0.0.1:5333;');
    expect(plan.nginx.conf).not.toContain('unix:');
  });

  it('POSIX, jobs on: a state folder too long for a socket is fine (no socket is made)', () => {
    expect(planFor({ jobs: 'on', stateDir: `/home/ana/${'x'.repeat(100)}` }).mlflow.socket).toBeUndefined();
  });

  it('Windows: TCP whatever --jobs says; the job switch still reaches MLflow', () => {
    for (const jobs of ['on', 'off'] as const) {
      const plan = planFor({ jobs }, { mlflowPort: 5333 }, win32);
      expect(plan.mlflow.socket, jobs).toBeUndefined();
      expect(plan.mlflow.env.MLFLOW_UVICORN_OPTS, jobs).toBeUndefined();
      expect(plan.mlflow.env.MLFLOW_SERVER_ENABLE_JOB_EXECUTION, jobs).toBe(jobs === 'on' ? 'true' : 'false');
      expect(plan.nginx.conf, jobs).toContain('server 127.0.0.1:5333;');
    }
  });
});

describe('buildPlan: nginx', () => {
  it('runs nginx from its private prefix with its own config and error log', () => {
    const plan = planFor();
    expect(plan.nginx.file).toBe('/usr/sbin/nginx');
    expect(plan.nginx.args).toEqual([
      '-p',
      '/home/ana/proj/.mlflow-secure/nginx/',
      '-c',
      '/home/ana/proj/.mlflow-secure/nginx.conf',
      '-e',
      '/home/ana/proj/.mlflow-secure/logs/nginx-error.log',
    ]);
    expect(argAfter(plan.nginx.args, '-p')).toMatch(/\/$/);
  });

  it.each([
    [[1, 19, 5], true],
    [[1, 19, 4], false],
    [[1, 18, 99], false],
    [[1, 20, 0], true],
    [[1, 22, 1], true],
    [[2, 0, 0], true],
    [[0, 99, 99], false],
  ] as [[number, number, number], boolean][])('nginx %j: -e %s', (nginxVersion, hasE) => {
    const plan = planFor({}, { nginxVersion });
    for (const args of [plan.nginx.args, plan.nginx.testArgs, plan.nginx.quitArgs])
      expect(args.includes('-e')).toBe(hasE);
  });

  it('tests and quits with the same -p/-c as it starts with', () => {
    const { args, testArgs, quitArgs } = planFor().nginx;
    expect(quitArgs).toEqual([...args, '-s', 'quit']);
    expect(quitArgs.slice(-2)).toEqual(['-s', 'quit']);
    expect(testArgs).toEqual([...args, '-t', '-q']);
  });

  it('proxies to the MLflow port and listens where asked', () => {
    const conf = planFor({ host: '0.0.0.0' }, { listenPort: 8080, mlflowPort: 5333 }, win32).nginx.conf;
    expect(conf).toContain('server 127.0.0.1:5333;');
    expect(conf).toContain('listen 0.0.0.0:8080;');
  });

  it('on Windows uses forward slashes in every nginx path and argument', () => {
    const plan = planFor(
      { stateDir: 'D:\\My State' },
      { nginx: 'C:\\nginx\\nginx.exe', who: { uid: -1, username: 'ana' } },
      win32,
    );
    expect(plan.nginx.args).toEqual([
      '-p',
      'D:/My State/nginx/',
      '-c',
      'D:/My State/nginx.conf',
      '-e',
      'D:/My State/logs/nginx-error.log',
    ]);
    expect(plan.nginx.conf).not.toContain('\\');
    const quoted = [...plan.nginx.conf.matchAll(/"([^"]*)"/g)]
      .map((m) => m[1] ?? '')
      .filter((s) => s.includes('/') && !/^https?:\/\//.test(s));
    expect(quoted).toEqual([
      'D:/My State/nginx/logs/nginx.pid',
      'D:/My State/logs/nginx-error.log',
      'D:/My State/logs/nginx-access.log',
      'D:/My State/nginx/temp/client_body',
      'D:/My State/nginx/temp/proxy',
      'D:/My State/nginx/temp/fastcgi',
      'D:/My State/nginx/temp/uwsgi',
      'D:/My State/nginx/temp/scgi',
      'D:/My State/htpasswd',
    ]);
    // The native paths stay native for our own file operations.
    expect(plan.paths.htpasswd).toBe('D:\\My State\\htpasswd');
    expect(plan.paths.nginxConf).toBe('D:\\My State\\nginx.conf');
  });

  it('adds a user directive only when running as root on POSIX', () => {
    expect(planFor({}, { who: { uid: 0, username: 'root', groupName: 'root' } }).nginx.conf).toMatch(
      /^user root root;$/m,
    );
    expect(planFor({}, { who: { uid: 1000, username: 'ana' } }).nginx.conf).not.toMatch(/^user /m);
    expect(planFor({}, { who: { uid: 0, username: 'Administrator' } }, win32).nginx.conf).not.toMatch(/^user /m);
  });

  it('uses the configured worker count and the server names', () => {
    const conf = planFor({ nginxWorkers: '3', serverName: 'a.example.com,b' }).nginx.conf;
    expect(conf).toContain('worker_processes 3;');
    expect(conf).toContain('server_name a.example.com b;');
  });
});

describe('buildPlan: URLs and state', () => {
  it.each([
    ['127.0.0.1', 'http://127.0.0.1:5000'],
    ['0.0.0.0', 'http://127.0.0.1:5000'],
    ['::', 'http://[::1]:5000'],
    ['::1', 'http://[::1]:5000'],
    ['192.168.1.5', 'http://192.168.1.5:5000'],
  ])('--host %s -> %s', (host, url) => {
    expect(planFor({ host }).url).toBe(url);
  });

  it('lists public URLs for the server names', () => {
    expect(planFor({ serverName: 'mlflow.example.com' }, { listenPort: 8080 }).publicUrls).toEqual([
      'http://mlflow.example.com:8080',
    ]);
  });

  it('keeps every state file inside the state folder', () => {
    const plan = planFor({ stateDir: '/srv/ms' });
    const { tempDirs, ...files } = plan.paths;
    for (const p of [...Object.values(files), ...Object.values(tempDirs)]) expect(p.startsWith('/srv/ms')).toBe(true);
    expect(plan.paths.nginxPid).toBe('/srv/ms/nginx/logs/nginx.pid');
    expect(stateFolders(plan.paths, linux)).toEqual([
      '/srv/ms',
      '/srv/ms/logs',
      '/srv/ms/nginx/logs',
      '/srv/ms/nginx/temp/client_body',
      '/srv/ms/nginx/temp/proxy',
      '/srv/ms/nginx/temp/fastcgi',
      '/srv/ms/nginx/temp/uwsgi',
      '/srv/ms/nginx/temp/scgi',
    ]);
  });
});

describe('known bugs in buildPlan', () => {
  it('brackets an IPv6 --server-name once in allowed hosts and origins', () => {
    // parseServerNames keeps '[::1]' with its brackets and hostForUrl adds another pair:
    // actual allowed hosts '[[::1]]', '[[][::1]]:*'; origin 'http://[[::1]]:8080'.
    const plan = planFor({ serverName: '[fe80::1]', host: '0.0.0.0' }, { listenPort: 8080 });
    expect(plan.allowedHosts).toContain('[fe80::1]');
    expect(plan.allowedHosts).toContain('[[]fe80::1]:*');
    expect(plan.corsOrigins).toContain('http://[fe80::1]:8080');
    expect(plan.publicUrls).toEqual(['http://[fe80::1]:8080']);
  });
});
