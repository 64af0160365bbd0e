/**
 * The version matrix: `up -d` on the real MLflow of each version, the Python client of that
 * same version through the proxy, `down`, and where MLflow listens. Each version lives in its own
 * venv under ~/.cache/mlflow-secure-versions/<version> (MLFLOW_SECURE_VERSIONS_CACHE overrides),
 * made on first use; a later run installs nothing. The pin is ./.venv (`npm test` makes it).
 */
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cli,
  removeDir,
  root,
  stackProcesses,
  tempDir,
  waitForNoStackProcesses,
  readStackRecord,
} from '../e2e/helpers.js';
import { NEWEST_TESTED, OLDEST_SUPPORTED } from '../../src/mlflow/versions.js';
import { buildPlan } from '../../src/stack/plan.js';
import { resolveSettings, type StackOptions } from '../../src/stack/settings.js';
import { getPlatform } from '../../src/system/platform.js';

const cacheDir =
  process.env.MLFLOW_SECURE_VERSIONS_CACHE ?? path.join(os.homedir(), '.cache', 'mlflow-secure-versions');

/**
 * pip resolves these versions' `sqlalchemy<3` to SQLAlchemy 2.1 today, whose sqlalchemy.pool
 * has no FallbackAsyncAdaptedQueuePool: MLflow 2.22.1 and 3.4.0 then fail at start with an
 * ImportError. Their users need `sqlalchemy<2.1` too (README).
 */
const EXTRA_PINS = ['sqlalchemy<2.1'];

interface Version {
  version: string;
  /** The mlflow executable, once its venv exists. */
  mlflow: string;
  python: string;
}

const pinVenv = path.join(root, '.venv');
const MATRIX: Version[] = [
  // The last 2.x; the last gunicorn 3.x and the first uvicorn one (gunicorn's unix: bind, then
  // uvicorn's --uds); the last before the host/CORS middleware and jobs; then the pin.
  ...['2.22.1', '3.2.0', '3.3.0', '3.4.0'].map((version) => ({
    version,
    mlflow: path.join(cacheDir, version, 'bin', 'mlflow'),
    python: path.join(cacheDir, version, 'bin', 'python'),
  })),
  {
    version: NEWEST_TESTED,
    mlflow: path.join(pinVenv, 'bin', 'mlflow'),
    python: path.join(pinVenv, 'bin', 'python'),
  },
];
const TOO_OLD = '1.30.1';

/** Makes the venv of one version unless a finished one is there (a marker written last). */
async function ensureVenv(version: string): Promise<number> {
  const dir = path.join(cacheDir, version);
  const done = path.join(dir, '.mlflow-secure-complete');
  if (existsSync(done)) return 0;
  const started = Date.now();
  await rm(dir, { recursive: true, force: true });
  await mkdir(cacheDir, { recursive: true });
  await execa('python3', ['-m', 'venv', dir], { timeout: 300_000 });
  await execa(path.join(dir, 'bin', 'pip'), ['install', '-q', `mlflow==${version}`, ...EXTRA_PINS], {
    timeout: 1_100_000,
    env: { PIP_DISABLE_PIP_VERSION_CHECK: '1' },
  });
  await writeFile(done, `${new Date().toISOString()}\n`);
  return Date.now() - started;
}

/** Socket inodes of every TCP socket in LISTEN state: local address (hex, as the kernel writes it) by inode. */
async function tcpListeners(): Promise<Map<string, string>> {
  const listeners = new Map<string, string>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(file, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 9 && f[3] === '0A') listeners.set(f[9]!, f[1]!);
    }
  }
  return listeners;
}

/** The TCP addresses MLflow's processes (every process of the stack but nginx) listen on. */
async function mlflowTcpListeners(stateDir: string, groups: number[]): Promise<string[]> {
  const listeners = await tcpListeners();
  const addresses: string[] = [];
  for (const p of await stackProcesses(stateDir, groups)) {
    if (/\bnginx\b/.test(p.cmdline.split(' ')[0] ?? '')) continue;
    const fds = await readdir(`/proc/${p.pid}/fd`).catch(() => []);
    for (const fd of fds) {
      const target = await readlink(`/proc/${p.pid}/fd/${fd}`).catch(() => '');
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (inode && listeners.has(inode)) addresses.push(listeners.get(inode)!);
    }
  }
  return [...new Set(addresses)];
}

const PASSWORD = `v-${Math.random().toString(36).slice(2)}-P@ss`;

describe('the MLflow version matrix', () => {
  beforeAll(async () => {
    const started = Date.now();
    const took = await Promise.all([...MATRIX.slice(0, -1).map((v) => v.version), TOO_OLD].map(ensureVenv));
    console.log(
      `venvs ready in ${Math.round((Date.now() - started) / 1000)} s (installed: ${took.filter((t) => t > 0).length})`,
    );
  });

  for (const v of MATRIX) {
    describe(`MLflow ${v.version}`, () => {
      let cwd: string;
      let stateDir: string;
      let groups: number[] = [];

      beforeAll(async () => {
        cwd = await tempDir('mlflow-secure-versions-');
        stateDir = path.join(cwd, '.mlflow-secure');
      });

      afterAll(async () => {
        if (!cwd) return;
        await cli(['down'], { cwd });
        await removeDir(cwd);
      });

      it('up -d proves the stack; the client of that version logs and reads back through the proxy; down leaves nothing', async () => {
        const up = await cli(['up', '-d', '--port', 'auto', '--workers', '1', '--mlflow', v.mlflow], {
          cwd,
          env: { MLFLOW_SECURE_PASSWORD: PASSWORD },
        });
        expect(up.stdout, up.stderr).toContain(`MLflow ${v.version} is up behind nginx`);
        expect(up.exitCode, up.stderr).toBe(0);
        expect(up.stderr).not.toMatch(/newer than the newest/);
        // On POSIX every version is on a Unix socket (gunicorn's before 3.3): no TCP warning.
        expect(up.stderr).not.toMatch(/DNS rebinding/);
        const record = await readStackRecord(stateDir);
        groups = [record.mlflow.pid, record.nginx.pid];
        const raw = JSON.parse(await readFile(path.join(stateDir, 'stack.json'), 'utf8')) as {
          mlflowOnSocket?: boolean;
        };
        expect(raw.mlflowOnSocket).toBe(true);

        // MLflow listens on no TCP port: uvicorn's --uds, or gunicorn's unix: bind (before 3.3).
        expect(await mlflowTcpListeners(stateDir, groups)).toEqual([]);

        const script = `eval "$("${process.execPath}" "${path.join(root, 'dist', 'cli.js')}" env)" && exec "${v.python}" "${path.join(root, 'test', 'fixtures', 'client.py')}"`;
        const client = await execa('bash', ['-c', script], {
          cwd,
          reject: false,
          env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? cwd, MLFLOW_SECURE_PASSWORD: PASSWORD },
          extendEnv: false,
          timeout: 240_000,
        });
        expect(client.exitCode, client.stderr).toBe(0);
        const out = JSON.parse(client.stdout.trim().split('\n').pop()!);
        expect(out.tracking_uri).toBe(record.url);
        expect(out.params).toEqual({ alpha: '0.5' });
        expect(out.metrics).toEqual({ loss: 0.125 });
        expect(out.history).toEqual([0.25, 0.125]);
        expect(out.artifact_uri).toMatch(/^mlflow-artifacts:/);
        expect(out.sha_got).toBe(out.sha_sent);
        const access = await readFile(path.join(stateDir, 'logs', 'nginx-access.log'), 'utf8');
        expect(access).toContain(`mlflow-python-client/${v.version}`);

        const down = await cli(['down'], { cwd });
        expect(down.exitCode, down.stderr).toBe(0);
        expect(await waitForNoStackProcesses(stateDir, groups)).toEqual([]);
        expect(existsSync(path.join(stateDir, 'stack.json'))).toBe(false);
        expect(existsSync(path.join(stateDir, 'mlflow.sock'))).toBe(false);
        // Nor gunicorn's socket (MLflow < 3.3), whatever port its name holds.
        expect((await readdir(stateDir)).filter((n) => n.startsWith('mlflow-gunicorn.sock'))).toEqual([]);
      });
    });
  }

  it(`MLflow ${OLDEST_SUPPORTED} (gunicorn): a link planted at mlflow.sock is replaced, never followed; a file at gunicorn's socket name is refused`, async () => {
    const v = MATRIX[0]!;
    const cwd = await tempDir('mlflow-secure-versions-');
    const stateDir = path.join(cwd, '.mlflow-secure');
    const up = () =>
      cli(['up', '-d', '--port', 'auto', '--workers', '1', '--mlflow', v.mlflow], {
        cwd,
        env: { MLFLOW_SECURE_PASSWORD: PASSWORD },
      });
    try {
      await mkdir(stateDir, { mode: 0o700 });
      const inTheWay = path.join(stateDir, 'mlflow-gunicorn.sock:1');
      await writeFile(inTheWay, 'mine');
      const refused = await up();
      expect(refused.exitCode, refused.stderr).toBe(1);
      expect(refused.stderr).toContain(`${inTheWay} is in the way of MLflow's socket and is not a socket`);
      expect(await readFile(inTheWay, 'utf8')).toBe('mine');
      expect(existsSync(path.join(stateDir, 'stack.json'))).toBe(false);
      await rm(inTheWay);

      // A link into another folder where mlflow.sock goes, and a stale gunicorn socket of another port.
      const victim = path.join(cwd, 'victim');
      await writeFile(victim, 'keep');
      await symlink(victim, path.join(stateDir, 'mlflow.sock'));
      const stale = path.join(stateDir, 'mlflow-gunicorn.sock:2');
      await execa(v.python, ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', stale]);
      const started = await up();
      expect(started.exitCode, started.stderr).toBe(0);
      const record = await readStackRecord(stateDir);
      expect(await readlink(path.join(stateDir, 'mlflow.sock'))).toBe(`mlflow-gunicorn.sock:${record.mlflowPort}`);
      expect(await readFile(victim, 'utf8')).toBe('keep');
      const down = await cli(['down'], { cwd });
      expect(down.exitCode, down.stderr).toBe(0);
      expect((await readdir(stateDir)).filter((n) => n.startsWith('mlflow'))).toEqual(['mlflow-cwd']);
      expect(await readFile(victim, 'utf8')).toBe('keep');
    } finally {
      await cli(['down'], { cwd });
      await removeDir(cwd);
    }
  });

  it(`Windows store URIs: MLflow ${OLDEST_SUPPORTED} accepts the forms the plan passes, and refuses a bare drive path`, async () => {
    const win32 = getPlatform('win32');
    const planned = (o: StackOptions) => {
      const settings = resolveSettings(o, { cwd: 'D:\\Work', platform: win32 });
      const found = {
        mlflow: { file: 'mlflow.exe', args: [] },
        nginx: 'nginx.exe',
        nginxVersion: [1, 22, 1] as [number, number, number],
        mlflowPort: 5101,
        listenPort: 5000,
        who: { uid: -1, username: 'ana' },
        mlflowVersion: OLDEST_SUPPORTED,
      };
      return buildPlan(settings, found, win32).mlflow.env;
    };
    const fileStore = planned({ backendStoreUri: 'D:\\Work\\mlruns' });
    const sqlite = planned({});
    const uris = [
      fileStore.MLFLOW_BACKEND_STORE_URI!,
      fileStore.MLFLOW_REGISTRY_STORE_URI!,
      sqlite.MLFLOW_BACKEND_STORE_URI!,
      sqlite.MLFLOW_REGISTRY_STORE_URI!,
    ];
    expect(uris).toEqual([
      'file:///D:/Work/mlruns',
      'file:///D:/Work/mlruns',
      'sqlite:///D:/Work/mlflow.db',
      'sqlite:///D:/Work/mlflow.db',
    ]);
    const oldest = MATRIX.find((v) => v.version === OLDEST_SUPPORTED)!;
    const r = await execa(
      oldest.python,
      [path.join(root, 'test', 'versions', 'store_uris.py'), 'D:\\Work\\mlruns', ...uris],
      {
        cwd: os.tmpdir(),
        timeout: 120_000,
      },
    );
    const picked = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<
      string,
      { tracking: string; registry: string }
    >;
    // What the manual recipe hits: MLflow reads `D:` as a URI scheme.
    expect(picked['D:\\Work\\mlruns']).toEqual({
      tracking: 'UnsupportedModelRegistryStoreURIException',
      registry: 'UnsupportedModelRegistryStoreURIException',
    });
    expect(picked['file:///D:/Work/mlruns']).toEqual({ tracking: '_get_file_store', registry: '_get_file_store' });
    expect(picked['sqlite:///D:/Work/mlflow.db']).toEqual({
      tracking: '_get_sqlalchemy_store',
      registry: '_get_sqlalchemy_store',
    });
  });

  it(`refuses MLflow ${TOO_OLD} in one line naming it, the minimum and setup; nothing started`, async () => {
    const cwd = await tempDir('mlflow-secure-versions-');
    try {
      const r = await cli(['up', '-d', '--port', 'auto', '--mlflow', path.join(cacheDir, TOO_OLD, 'bin', 'mlflow')], {
        cwd,
        env: { MLFLOW_SECURE_PASSWORD: PASSWORD },
      });
      expect(r.exitCode).toBe(1);
      // One error line; before it only the progress line of the phase that stopped.
      const lines = r.stderr.split('\n').filter((l) => l.startsWith('error:'));
      expect(lines, r.stderr).toHaveLength(1);
      expect(r.stderr.split('\n').filter(Boolean), r.stderr).toHaveLength(2);
      expect(lines[0]).toContain(TOO_OLD);
      expect(lines[0]).toContain(OLDEST_SUPPORTED);
      // The CLI names itself as it was run (here node dist/cli.js).
      expect(lines[0]).toMatch(/(mlflow-secure|cli\.js) setup \(installs the tested MLflow/);
      expect(await stackProcesses(path.join(cwd, '.mlflow-secure'))).toEqual([]);
      expect(existsSync(path.join(cwd, '.mlflow-secure', 'stack.json'))).toBe(false);
      // doctor says the same, as a failing check.
      const doctor = await cli(['doctor', '--mlflow', path.join(cacheDir, TOO_OLD, 'bin', 'mlflow')], { cwd });
      expect(doctor.exitCode).toBe(1);
      expect(doctor.stdout).toMatch(
        new RegExp(
          `^FAIL  MLflow ${TOO_OLD.replace(/\./g, '\\.')} .*older than the oldest supported, ${OLDEST_SUPPORTED}`,
          'm',
        ),
      );
    } finally {
      await removeDir(cwd);
    }
  });
});
