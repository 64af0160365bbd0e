/**
 * `restart`: down, then up -d with the options the running stack was started with. Same URL,
 * same server names and data, new processes, nothing of the old stack left; options typed now
 * win; nothing to restart is one clear line.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from '../../src/system/http.js';
import { cli, readStackRecord, removeDir, stackProcesses, tempDir, waitForNoStackProcesses } from './helpers.js';

const PASSWORD = `restart-${Math.random().toString(36).slice(2)}-Pw`;

describe('restart', () => {
  let cwd: string;
  let stateDir: string;
  beforeAll(async () => {
    cwd = await tempDir();
    stateDir = path.join(cwd, '.mlflow-secure');
  });
  afterAll(async () => {
    await cli(['down'], { cwd });
    await removeDir(cwd);
  });

  it('with no running stack: one line, exit 1, nothing started', async () => {
    const r = await cli(['restart'], { cwd });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/^error: no stack is running from .*nothing to restart\. Start one with: .* up /);
    expect(await stackProcesses(stateDir)).toEqual([]);
  });

  it('keeps the URL, the server names, the data and the options; replaces every process', async () => {
    const store = path.join(cwd, 'data', 'tracking.db');
    const up = await cli(
      [
        'up',
        '-d',
        '--port',
        'auto',
        '--server-name',
        'mlflow.test',
        '--nginx-workers',
        '1',
        '--backend-store-uri',
        store,
      ],
      { cwd, env: { MLFLOW_SECURE_PASSWORD: PASSWORD } },
    );
    expect(up.exitCode, up.stderr).toBe(0);
    const before = await readStackRecord(stateDir);
    const port = before.port;
    const auth = { user: 'admin', password: PASSWORD };
    const created = await request({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path: '/api/2.0/mlflow/experiments/create',
      body: JSON.stringify({ name: 'survives-restart' }),
      headers: { 'Content-Type': 'application/json' },
      auth,
    });
    expect(created.status).toBe(200);

    // No password is given: the user exists, restart does not need it.
    const r = await cli(['restart'], { cwd });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Stopped mlflow \(pid \d+\)/);
    expect(r.stdout).toContain(`URL:       http://127.0.0.1:${port}`);
    expect(r.stdout).toContain(`also:      http://mlflow.test:${port}`);
    const after = await readStackRecord(stateDir);
    expect(after.port).toBe(port);
    expect(after.mlflow.pid).not.toBe(before.mlflow.pid);
    expect(after.nginx.pid).not.toBe(before.nginx.pid);
    // Nothing of the old stack is left: its process groups are empty.
    // (A marker no process carries: only the old groups are looked at.)
    expect(
      await waitForNoStackProcesses(path.join(cwd, 'no-such-state'), [before.mlflow.pid, before.nginx.pid]),
    ).toEqual([]);
    const raw = JSON.parse(JSON.stringify(after)) as {
      backendStoreUri: string;
      options: { serverNames: string[]; nginxWorkers: number };
    };
    expect(raw.backendStoreUri).toBe(`sqlite:///${store}`);
    expect(raw.options).toMatchObject({ serverNames: ['mlflow.test'], nginxWorkers: 1 });
    const found = await request({
      host: '127.0.0.1',
      port,
      path: '/api/2.0/mlflow/experiments/get-by-name?experiment_name=survives-restart',
      headers: { Host: 'mlflow.test' },
      auth,
    });
    expect(found.status).toBe(200);
    expect(found.body).toContain('survives-restart');
  });

  it('options typed now win over the recorded ones', async () => {
    const r = await cli(['restart', '--nginx-workers', '2'], { cwd });
    expect(r.exitCode, r.stderr).toBe(0);
    const record = JSON.parse(JSON.stringify(await readStackRecord(stateDir))) as {
      options: { nginxWorkers: number; serverNames: string[] };
    };
    expect(record.options).toMatchObject({ nginxWorkers: 2, serverNames: ['mlflow.test'] });
    const nginxPid = (await readStackRecord(stateDir)).nginx.pid;
    const workers = (await stackProcesses(path.join(cwd, 'no-such-state'), [nginxPid])).filter((p) =>
      p.cmdline.startsWith('nginx: worker'),
    );
    expect(workers).toHaveLength(2);
  });
});
