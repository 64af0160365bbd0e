/**
 * A second local account (a shared team box, a CI runner) must not read or write anything
 * without the password. The stack runs as this account; the probe runs as a real second Unix
 * account made with `useradd` and entered with `runuser`, and tries every way past nginx:
 * MLflow's socket, any loopback TCP port, the state folder's files.
 */
import { execa } from 'execa';
import { readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from '../../src/system/http.js';
import {
  cli,
  readStackRecord,
  removeDir,
  stackProcesses,
  tempDir,
  waitForNoStackProcesses,
  type StackRecordJson,
} from './helpers.js';

const OTHER = 'mlfsec-e2e-other';
const PASSWORD = 'other-user-test-Pw-1';
const isRoot = process.getuid?.() === 0;

/** Runs as the probe: every attempt, as JSON. Plain Node, no project code: the other user reads nothing of ours. */
const PROBE = `
const http = require('node:http');
const fs = require('node:fs');
const [socketPath, stateDir, nginxPort] = process.argv.slice(1);
const get = (o) => new Promise((resolve) => {
  const req = http.request({ ...o, path: '/api/2.0/mlflow/experiments/search?max_results=1', headers: { Host: '127.0.0.1' }, timeout: 3000 }, (res) => {
    let body = ''; res.on('data', (c) => (body += c)); res.on('end', () => resolve({ status: res.statusCode, body: body.slice(0, 80) }));
  });
  req.on('error', (e) => resolve({ error: e.code || e.message }));
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.end();
});
const listening = () => {
  const ports = new Set();
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try { text = fs.readFileSync(f, 'utf8'); } catch { continue; }
    for (const line of text.split('\\n').slice(1)) {
      const cols = line.trim().split(/\\s+/);
      if (cols[3] === '0A') ports.add(parseInt(cols[1].split(':').pop(), 16));
    }
  }
  return [...ports];
};
(async () => {
  const out = { socket: await get({ socketPath }), tcp: {}, files: {} };
  for (const port of listening()) out.tcp[port] = await get({ host: '127.0.0.1', port });
  for (const f of ['', 'htpasswd', 'stack.json', 'nginx.conf', 'mlflow.sock']) {
    try { fs.readdirSync(stateDir + '/' + f); out.files[f] = 'listed'; } catch (e) {
      try { fs.readFileSync(stateDir + '/' + f); out.files[f] = 'read'; } catch (e2) { out.files[f] = e2.code; }
    }
  }
  out.nginxPort = Number(nginxPort);
  console.log(JSON.stringify(out));
})();
`;

/** Loopback TCP ports listened on by the given processes (socket inodes matched to /proc/net/tcp*). */
async function listeningPorts(pids: number[]): Promise<number[]> {
  const inodes = new Set<string>();
  for (const pid of pids) {
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      const link = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
      const m = /^socket:\[(\d+)\]$/.exec(link);
      if (m) inodes.add(m[1]!);
    }
  }
  const ports: number[] = [];
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of (await readFile(f, 'utf8')).split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols[3] === '0A' && inodes.has(cols[9] ?? '')) ports.push(parseInt(cols[1]!.split(':').pop()!, 16));
    }
  }
  return ports;
}

describe.skipIf(!isRoot)('a second local account cannot get past nginx', () => {
  let cwd: string;
  let stateDir: string;
  let record: StackRecordJson;
  let groups: number[] = [];

  beforeAll(async () => {
    await execa('useradd', ['--no-create-home', '--shell', '/bin/sh', OTHER], { reject: false });
    cwd = await tempDir('mlflow-secure-other-user-');
    stateDir = path.join(cwd, '.mlflow-secure');
    const r = await cli(['up', '-d', '--port', 'auto'], { cwd, env: { MLFLOW_SECURE_PASSWORD: PASSWORD } });
    expect(r.exitCode, r.stderr).toBe(0);
    record = await readStackRecord(stateDir);
    groups = [record.mlflow.pid, record.nginx.pid];
  });

  afterAll(async () => {
    if (cwd) {
      await cli(['down'], { cwd });
      expect(await waitForNoStackProcesses(stateDir, groups)).toEqual([]);
      await removeDir(cwd);
    }
    await execa('userdel', [OTHER], { reject: false });
  });

  it('MLflow listens on no TCP port at all: only its owner-only Unix socket', async () => {
    const mlflowTree = (await stackProcesses(stateDir, [record.mlflow.pid])).map((p) => p.pid);
    expect(mlflowTree.length).toBeGreaterThan(0);
    expect(await listeningPorts(mlflowTree)).toEqual([]);
    // The owner still reaches MLflow through nginx with the password.
    const port = Number(new URL(record.url).port);
    expect(
      (
        await request({
          host: '127.0.0.1',
          port,
          path: '/api/2.0/mlflow/experiments/search?max_results=1',
          auth: { user: 'admin', password: PASSWORD },
        })
      ).status,
    ).toBe(200);
  });

  it('the other account gets 401 from nginx, no answer from MLflow on any port or socket, and cannot read the state folder', async () => {
    // The probe runs from a folder the other account can enter; it only needs node itself.
    const r = await execa(
      'runuser',
      [
        '-u',
        OTHER,
        '--',
        process.execPath,
        '-e',
        PROBE,
        path.join(stateDir, 'mlflow.sock'),
        stateDir,
        new URL(record.url).port,
      ],
      { cwd: '/', reject: false, timeout: 60_000 },
    );
    expect(r.exitCode, r.stderr).toBe(0);
    const seen = JSON.parse(r.stdout) as {
      socket: { error?: string; status?: number };
      tcp: Record<string, { status?: number; body?: string }>;
      files: Record<string, string>;
      nginxPort: number;
    };
    expect(seen.socket.error, JSON.stringify(seen.socket)).toBe('EACCES');
    // Whatever answers on loopback, nothing serves MLflow's API without the password.
    const nginx = seen.tcp[String(seen.nginxPort)];
    expect(nginx?.status).toBe(401);
    for (const [port, res] of Object.entries(seen.tcp))
      expect(res.status === 200 && /experiments/.test(res.body ?? ''), `port ${port}: ${JSON.stringify(res)}`).toBe(
        false,
      );
    expect(seen.files).toEqual({
      '': 'EACCES',
      htpasswd: 'EACCES',
      'stack.json': 'EACCES',
      'nginx.conf': 'EACCES',
      'mlflow.sock': 'EACCES',
    });
  });
});
