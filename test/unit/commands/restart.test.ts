import { describe, expect, it } from 'vitest';
import { restartOptions } from '../../../src/commands/restart.js';
import { mlflowFileOf, nginxFileOf, splitWindowsCommandLine } from '../../../src/stack/running.js';
import type { StackRecord } from '../../../src/stack/state.js';
import { userErrorFrom } from '../user-error.js';

const record: StackRecord = {
  version: 2,
  phase: 'running',
  supervisorPid: null,
  startedAt: '2026-11-23T10:00:00.000Z',
  url: 'http://127.0.0.1:5123',
  publicUrls: ['http://mlflow.example.com:5123'],
  user: 'alice',
  host: '0.0.0.0',
  port: 5123,
  mlflowPort: 40000,
  hash: 'apr1',
  backendStoreUri: 'sqlite:////srv/ml/mlflow.db',
  registryStoreUri: 'sqlite:////srv/ml/mlflow.db',
  artifactsDestination: '/srv/ml/artifacts',
  mlflow: { pid: 100 },
  nginx: { pid: 101 },
  options: { serverNames: ['mlflow.example.com', '*.ml.example.com'], nginxWorkers: 'auto', timeoutSeconds: 90 },
};

describe('restartOptions', () => {
  it('gives up the recorded options', () => {
    expect(restartOptions(record, {})).toEqual({
      host: '0.0.0.0',
      port: '5123',
      user: 'alice',
      hash: 'apr1',
      serverName: 'mlflow.example.com,*.ml.example.com',
      nginxWorkers: 'auto',
      timeout: '90',
      backendStoreUri: 'sqlite:////srv/ml/mlflow.db',
      registryStoreUri: 'sqlite:////srv/ml/mlflow.db',
      artifactsDestination: '/srv/ml/artifacts',
    });
  });

  it("keeps MLflow's worker count and job execution", () => {
    const o = restartOptions({ ...record, options: { ...record.options!, workers: 1, jobs: true } }, {});
    expect(o).toMatchObject({ workers: '1', jobs: 'on' });
    expect(
      restartOptions({ ...record, options: { ...record.options!, workers: 1, jobs: true } }, { jobs: 'off' }).jobs,
    ).toBe('off');
  });

  it('options typed now win; undefined ones do not erase the record', () => {
    const o = restartOptions(record, { port: '6000', nginxWorkers: '1', host: undefined });
    expect(o.port).toBe('6000');
    expect(o.nginxWorkers).toBe('1');
    expect(o.host).toBe('0.0.0.0');
  });

  it('a record from before options were kept: server names from the public URLs, defaults for the rest', () => {
    const { options: _options, ...old } = record;
    const o = restartOptions(old, {});
    expect(o.serverName).toBe('mlflow.example.com');
    expect(o.nginxWorkers).toBeUndefined();
    expect(o.timeout).toBeUndefined();
  });

  it('a store URI whose password was masked must be given again, and can be', () => {
    const withSecret = { ...record, backendStoreUri: 'postgresql://ml:********@db/ml' };
    const e = userErrorFrom(() => restartOptions(withSecret, {}));
    expect(e.message).toMatch(/recorded --backend-store-uri has a password/);
    expect(e.hint).toMatch(/restart --backend-store-uri <uri>/);
    expect(restartOptions(withSecret, { backendStoreUri: 'postgresql://ml:pw@db/ml' }).backendStoreUri).toBe(
      'postgresql://ml:pw@db/ml',
    );
  });
});

describe('mlflowFileOf: the MLflow a verified leader was started from', () => {
  const ours = ['ui', '--serve-artifacts', '--host', '127.0.0.1', '--port', '40000'];
  it('a console script: the kernel runs <interpreter> <script> ui ...; the script is what up ran', () => {
    expect(
      mlflowFileOf(
        { argv: ['/p/.venv/bin/python', '/p/tools/mlflow', ...ours], executable: '/usr/bin/python3.11' },
        false,
      ),
    ).toBe('/p/tools/mlflow');
    // `#!/usr/bin/env python3` and pip's `#!/bin/sh` trampoline for long paths end the same way.
    expect(mlflowFileOf({ argv: ['python3', 'venv/bin/mlflow', ...ours] }, false)).toBe('venv/bin/mlflow');
  });
  it('a lone program: the executable the system ran', () => {
    expect(mlflowFileOf({ argv: ['mlflow', ...ours], executable: '/opt/mlflow/bin/mlflow' }, false)).toBe(
      '/opt/mlflow/bin/mlflow',
    );
    expect(
      mlflowFileOf({ argv: ['C:\\v\\Scripts\\mlflow.exe', ...ours], executable: 'C:\\v\\Scripts\\mlflow.exe' }, true),
    ).toBe('C:\\v\\Scripts\\mlflow.exe');
  });
  it('nothing that --mlflow could take: undefined', () => {
    expect(
      mlflowFileOf({ argv: ['C:\\Windows\\py.exe', '-m', 'mlflow', ...ours], executable: 'C:\\Windows\\py.exe' }, true),
    ).toBeUndefined();
    expect(mlflowFileOf({ argv: ['/usr/bin/python3', '-m', 'mlflow', ...ours] }, false)).toBeUndefined();
    // Not started by up: no `ui --serve-artifacts`, or `ui` first.
    expect(mlflowFileOf({ argv: ['/x/mlflow', 'ui', '--port', '40000'] }, false)).toBeUndefined();
    expect(mlflowFileOf({ argv: ours }, false)).toBeUndefined();
    expect(mlflowFileOf({}, false)).toBeUndefined();
  });
});

describe('splitWindowsCommandLine', () => {
  it('splits as the C runtime does', () => {
    expect(splitWindowsCommandLine('"C:\\Program Files\\ml\\Scripts\\mlflow.exe" ui --serve-artifacts')).toEqual([
      'C:\\Program Files\\ml\\Scripts\\mlflow.exe',
      'ui',
      '--serve-artifacts',
    ]);
    expect(splitWindowsCommandLine('C:\\v\\mlflow.exe  ui "a b" a\\\\"b c" d\\"e f\\\\g ""')).toEqual([
      'C:\\v\\mlflow.exe',
      'ui',
      'a b',
      'a\\b c',
      'd"e',
      'f\\\\g',
      '',
    ]);
    expect(splitWindowsCommandLine('   ')).toEqual([]);
  });
});

describe('nginxFileOf', () => {
  it("the system's executable path; else (macOS) the file in the master's title", () => {
    const title = ['nginx:', 'master', 'process', '/opt/homebrew/bin/nginx', '-p', '/s/nginx/', '-c', '/s/nginx.conf'];
    expect(nginxFileOf({ argv: title, executable: '/usr/sbin/nginx' })).toBe('/usr/sbin/nginx');
    expect(nginxFileOf({ argv: title })).toBe('/opt/homebrew/bin/nginx');
    expect(nginxFileOf({ argv: ['nginx: worker process'] })).toBeUndefined();
    expect(nginxFileOf({})).toBeUndefined();
  });
});
