/** The stack record is validated before use; identity is matched by whole words. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getPlatform } from '../../../src/system/platform.js';
import { commandLineMatches } from '../../../src/system/processes.js';
import { executableOf, mlflowTarget, nginxTarget } from '../../../src/stack/targets.js';
import { pidLimit, readRecord, statePaths } from '../../../src/stack/state.js';

const valid = {
  version: 2,
  phase: 'running',
  supervisorPid: 4242,
  startedAt: '2026-01-01T00:00:00.000Z',
  url: 'http://127.0.0.1:5000',
  publicUrls: ['http://mlflow.example.com:5000', 'http://[fd00::1]:5000', 'http://*.example.org:5000'],
  user: 'admin',
  host: '127.0.0.1',
  port: 5000,
  mlflowPort: 40123,
  hash: 'bcrypt',
  backendStoreUri: 'postgresql://u:********@db/mlflow',
  registryStoreUri: 'sqlite:////x/mlflow.db',
  artifactsDestination: 'file:///x/mlartifacts',
  mlflow: { pid: 1234 },
  nginx: { pid: 1235 },
};

describe('readRecord', () => {
  let dir: string;
  const file = () => path.join(dir, 'stack.json');
  const read = async (value: unknown) => {
    await writeFile(file(), typeof value === 'string' ? value : JSON.stringify(value));
    return readRecord(file(), 'linux');
  };
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'mlflow-secure-state-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('accepts what up writes, and an old version-1 record without its commands and patterns', async () => {
    expect(await read(valid)).toMatchObject({ mlflow: { pid: 1234 }, nginx: { pid: 1235 }, port: 5000 });
    const old = await read({
      ...valid,
      version: 1,
      nginx: { pid: 1235, file: '/bin/sh', quitArgs: ['-c', 'x'], identity: [] },
    });
    expect(old?.nginx).toEqual({ pid: 1235 });
  });

  it('is undefined when there is no record', async () => {
    expect(await readRecord(path.join(dir, 'none.json'), 'linux')).toBeUndefined();
  });

  const bad: [string, unknown][] = [
    ['pid -1', { ...valid, mlflow: { pid: -1 } }],
    ['pid 0', { ...valid, nginx: { pid: 0 } }],
    ['pid 1', { ...valid, nginx: { pid: 1 } }],
    ['pid beyond the limit', { ...valid, nginx: { pid: 2 ** 40 } }],
    ['a string pid', { ...valid, nginx: { pid: '1235' } }],
    ['a fractional pid', { ...valid, nginx: { pid: 12.5 } }],
    ['supervisor pid -1', { ...valid, supervisorPid: -1 }],
    ['a user with a newline', { ...valid, user: 'admin\nrm -rf ~' }],
    ['a user with a quote', { ...valid, user: "admin'; x" }],
    ['a URL with a path', { ...valid, url: 'http://127.0.0.1:5000/x' }],
    ['a URL with credentials', { ...valid, url: 'http://a:b@127.0.0.1:5000' }],
    ['a file: URL', { ...valid, url: 'file:///etc/passwd' }],
    ['a port out of range', { ...valid, port: 70000 }],
    ['an unknown hash', { ...valid, hash: 'plain' }],
    ['an unknown phase', { ...valid, phase: 'owned' }],
    ['an unknown version', { ...valid, version: 3 }],
    ['a bare object', { pid: 2 }],
    ['an array', [1, 2]],
    ['null', null],
    ['not JSON', '{oops'],
  ];
  for (const [what, value] of bad) {
    it(`refuses ${what} with one clear line`, async () => {
      await expect(read(value)).rejects.toThrow(/is not one mlflow-secure wrote .*nothing was stopped or signalled/);
    });
  }

  it('knows the pid limit: /proc/sys/kernel/pid_max on Linux', async () => {
    const limit = await pidLimit('linux');
    expect(limit).toBeGreaterThan(2);
    expect(limit).toBeLessThanOrEqual(4_194_304);
    expect(await pidLimit('win32')).toBe(2 ** 32);
  });
});

describe('identity', () => {
  it('matches whole words only', () => {
    expect(
      commandLineMatches('/v/bin/python /v/bin/mlflow ui --port 5001 --host 127.0.0.1', ['ui', '--port 5001']),
    ).toBe(true);
    expect(commandLineMatches('/v/bin/mlflow ui --port 50011', ['ui', '--port 5001'])).toBe(false);
    expect(commandLineMatches('/v/bin/mlflow build --port 5001', ['ui', '--port 5001'])).toBe(false);
    expect(commandLineMatches('anything at all', [])).toBe(false);
    expect(
      commandLineMatches('nginx: master process /usr/sbin/nginx -p /s/nginx/ -c /s/nginx.conf -e /s/e.log', [
        '-c',
        '/s/nginx.conf',
      ]),
    ).toBe(true);
    expect(commandLineMatches('nginx: master process nginx -c /s/nginx.conf.evil', ['-c', '/s/nginx.conf'])).toBe(
      false,
    );
    // Windows quotes a path with spaces.
    expect(
      commandLineMatches('"C:\\nginx\\nginx.exe" -p "D:/My State/nginx/" -c "D:/My State/nginx.conf"', [
        '-c',
        'D:/My State/nginx.conf',
      ]),
    ).toBe(true);
  });

  it('derives the targets from the state folder, never from a record', () => {
    const linux = getPlatform('linux');
    const paths = statePaths('/home/ana/proj/.mlflow-secure', linux);
    expect(nginxTarget(10, paths, linux)).toMatchObject({
      pid: 10,
      group: true,
      identity: ['-c', '/home/ana/proj/.mlflow-secure/nginx.conf'],
    });
    const m = mlflowTarget(11, 40123, paths.stateDir, linux);
    expect(m).toMatchObject({
      identity: ['ui', '--port 40123'],
      marker: 'MLFLOW_SECURE_STATE_DIR=/home/ana/proj/.mlflow-secure',
    });
    // Orphaned workers count as ours only with this state's marker (or, unreadable, MLflow's shape).
    expect(
      m.isMember?.({ pid: 12, command: 'python', environ: ['MLFLOW_SECURE_STATE_DIR=/home/ana/proj/.mlflow-secure'] }),
    ).toBe(true);
    expect(
      m.isMember?.({ pid: 12, command: 'python -m uvicorn', environ: ['MLFLOW_SECURE_STATE_DIR=/elsewhere'] }),
    ).toBe(false);
    expect(nginxTarget(10, paths, linux).isMember?.({ pid: 13, command: 'nginx: worker process' })).toBe(true);
    expect(nginxTarget(10, paths, linux).isMember?.({ pid: 13, command: 'bash' })).toBe(false);
    const win = getPlatform('win32');
    expect(nginxTarget(10, statePaths('D:\\My State', win), win)).toMatchObject({
      group: false,
      identity: ['-c', 'D:/My State/nginx.conf'],
      images: ['nginx.exe'],
    });
  });

  it('reads the executable of a Windows command line, quoted or not', () => {
    expect(executableOf('"C:\\Program Files\\nginx\\nginx.exe" -p x')).toBe('C:\\Program Files\\nginx\\nginx.exe');
    expect(executableOf('C:\\nginx\\nginx.exe -c y')).toBe('C:\\nginx\\nginx.exe');
    expect(executableOf('')).toBeUndefined();
  });
});

describe('what up writes, readRecord accepts', () => {
  it('for IPv6, wildcard server names, a masked database password and Windows', async () => {
    const { buildPlan } = await import('../../../src/stack/plan.js');
    const { resolveSettings } = await import('../../../src/stack/settings.js');
    const { recordOf } = await import('../../../src/stack/lifecycle/record.js');
    const { writeRecord } = await import('../../../src/stack/state.js');
    const dir = await mkdtemp(path.join(os.tmpdir(), 'mlflow-secure-roundtrip-'));
    try {
      const cases = [
        {
          platform: getPlatform('linux'),
          cwd: '/home/ana/proj',
          o: {
            host: '::1',
            serverName: '*.example.com,fd00::1,mlflow',
            backendStoreUri: 'postgresql://ana:pw-secret@db/mlflow',
          },
        },
        { platform: getPlatform('linux'), cwd: '/home/ana/proj', o: { host: '0.0.0.0' } },
        { platform: getPlatform('win32'), cwd: 'C:\\Users\\Ana\\proj', o: { backendStoreUri: 'D:\\Work\\mlflow.db' } },
        { platform: getPlatform('linux'), cwd: '/home/ana/proj', o: { jobs: 'on' } },
      ];
      for (const c of cases) {
        const settings = resolveSettings(c.o, { cwd: c.cwd, platform: c.platform });
        const plan = buildPlan(
          settings,
          {
            mlflow: { file: 'mlflow', args: [] },
            nginx: 'nginx',
            nginxVersion: [1, 22, 1],
            mlflowPort: 40123,
            listenPort: 5000,
            who: { uid: 1000, username: 'ana' },
          },
          c.platform,
        );
        const file = path.join(dir, 'stack.json');
        await writeRecord(file, recordOf(plan, { pid: 4321 } as never, { pid: 4322 } as never, 'running', 4320));
        const back = await readRecord(file, 'linux');
        expect(back).toMatchObject({
          mlflow: { pid: 4321 },
          nginx: { pid: 4322 },
          port: 5000,
          mlflowPort: 40123,
          supervisorPid: 4320,
        });
        // Where status finds MLflow: its socket only on POSIX with jobs off.
        expect(back?.mlflowOnSocket).toBe(!c.platform.isWindows && !('jobs' in c.o));
        expect(JSON.stringify(back)).not.toContain('pw-secret');
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
