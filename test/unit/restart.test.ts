import { describe, expect, it } from 'vitest';
import { restartOptions } from '../../src/commands/restart.js';
import type { StackRecord } from '../../src/state.js';
import { userErrorFrom } from './user-error.js';

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
