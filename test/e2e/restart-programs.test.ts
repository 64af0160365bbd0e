/**
 * `restart` runs again the MLflow and nginx the running stack runs (read from the verified
 * processes, not looked up again): a `./.venv/bin/mlflow` or an `nginx` on PATH planted after
 * `up --mlflow ... --nginx ...` is never started. What `up` would refuse (the running programs
 * gone, a wrong password, a bad option) is refused before `down`: one line, the stack still serving.
 */
import { chmod, copyFile, mkdir, readFile, readlink, realpath, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from '../../src/system/http.js';
import { cli, readStackRecord, removeDir, root, tempDir, type CliResult } from './helpers.js';

const PASSWORD = `restart-${Math.random().toString(36).slice(2)}-Pw`;
const auth = { user: 'admin', password: PASSWORD };
const systemNginx = ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx'].find((f) =>
  existsSync(f),
)!;
const realMlflow = path.join(root, '.venv', 'bin', 'mlflow');

async function argvOf(pid: number): Promise<string[]> {
  return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).replace(/\0$/, '').split('\0');
}

/** A program that leaves a marker file, then runs the real one: proof it was started. */
async function plant(file: string, marker: string, real: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, `#!/bin/sh\necho planted > '${marker}'\nexec '${real}' "$@"\n`);
  await chmod(file, 0o755);
}

async function serves(port: number): Promise<number> {
  const r = await request({ host: '127.0.0.1', port, path: '/api/2.0/mlflow/experiments/search?max_results=1', auth });
  return r.status;
}

function oneLine(r: CliResult): string {
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  return lines[0]!;
}

describe('restart keeps the programs the running stack runs', () => {
  let cwd: string;
  let stateDir: string;
  let tools: string;
  let env: Record<string, string>;
  const markers = () => ({
    mlflow: existsSync(path.join(cwd, 'planted-mlflow-ran')),
    nginx: existsSync(path.join(cwd, 'planted-nginx-ran')),
  });

  beforeAll(async () => {
    cwd = await tempDir();
    stateDir = path.join(cwd, '.mlflow-secure');
    tools = path.join(cwd, 'tools');
    await mkdir(tools);
    // MLflow by another path than any lookup would find; nginx a copy of the system's.
    await symlink(realMlflow, path.join(tools, 'mlflow'));
    await copyFile(systemNginx, path.join(tools, 'nginx'));
    await chmod(path.join(tools, 'nginx'), 0o755);
    const fakeBin = path.join(cwd, 'fake-bin');
    await plant(path.join(fakeBin, 'nginx'), path.join(cwd, 'planted-nginx-ran'), systemNginx);
    env = { PATH: `${fakeBin}:${process.env.PATH ?? ''}` };
    const up = await cli(
      [
        'up',
        '-d',
        '--port',
        'auto',
        '--workers',
        '1',
        '--mlflow',
        path.join(tools, 'mlflow'),
        '--nginx',
        path.join(tools, 'nginx'),
      ],
      { cwd, env: { ...env, MLFLOW_SECURE_PASSWORD: PASSWORD } },
    );
    expect(up.exitCode, up.stderr).toBe(0);
  });
  afterAll(async () => {
    await cli(['down'], { cwd });
    await removeDir(cwd);
  });

  it('a ./.venv/bin/mlflow and an nginx on PATH planted after up are not started; the same ones run again', async () => {
    await plant(path.join(cwd, '.venv', 'bin', 'mlflow'), path.join(cwd, 'planted-mlflow-ran'), realMlflow);
    const before = await readStackRecord(stateDir);
    const r = await cli(['restart', '--quiet'], { cwd, env });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(markers()).toEqual({ mlflow: false, nginx: false });
    const after = await readStackRecord(stateDir);
    expect(after.mlflow.pid).not.toBe(before.mlflow.pid);
    // The script's path as `up` ran it, and the very nginx binary.
    expect((await argvOf(after.mlflow.pid)).slice(1, 3)).toEqual([path.join(tools, 'mlflow'), 'ui']);
    expect(await readlink(`/proc/${after.nginx.pid}/exe`)).toBe(path.join(tools, 'nginx'));
    expect(await serves(after.port)).toBe(200);
  });

  it('a wrong password, an option up would refuse, a busy new port: one line before down, the stack keeps serving', async () => {
    const before = await readStackRecord(stateDir);
    const wrong = await cli(['restart', '--password-stdin'], { cwd, env, input: 'not-the-password\n' });
    expect(wrong.exitCode).toBe(1);
    expect(oneLine(wrong)).toMatch(/^error: user 'admin' already exists .* different password; nothing was stopped/);
    const bad = await cli(['restart', '--nginx-workers', 'lots'], { cwd, env });
    expect(bad.exitCode).toBe(1);
    expect(oneLine(bad)).toMatch(/^error: .*--nginx-workers/);
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const busyPort = (busy.address() as AddressInfo).port;
    const taken = await cli(['restart', '--port', String(busyPort)], { cwd, env });
    busy.close();
    expect(taken.exitCode).toBe(1);
    expect(oneLine(taken)).toMatch(new RegExp(`^error: port ${busyPort} on 127\\.0\\.0\\.1 is already in use`));
    const after = await readStackRecord(stateDir);
    expect([after.mlflow.pid, after.nginx.pid]).toEqual([before.mlflow.pid, before.nginx.pid]);
    expect(await serves(after.port)).toBe(200);
  });

  it('the running MLflow or nginx gone from its path: one line, nothing stopped; --mlflow/--nginx given now win', async () => {
    await removeDir(path.join(cwd, '.venv'));
    const before = await readStackRecord(stateDir);
    await rename(path.join(tools, 'mlflow'), path.join(tools, 'mlflow.moved'));
    const noMlflow = await cli(['restart'], { cwd, env });
    expect(noMlflow.exitCode).toBe(1);
    expect(oneLine(noMlflow)).toBe(
      `error: the running stack's MLflow, ${path.join(tools, 'mlflow')}, is no longer there (or no longer executable); nothing was stopped. Give the MLflow to run: node ${path.join(root, 'dist', 'cli.js')} restart --mlflow <path>`,
    );
    await rename(path.join(tools, 'mlflow.moved'), path.join(tools, 'mlflow'));
    // A renamed binary is still found (the kernel follows it); a deleted one is gone.
    await rm(path.join(tools, 'nginx'));
    const noNginx = await cli(['restart'], { cwd, env });
    expect(noNginx.exitCode).toBe(1);
    expect(oneLine(noNginx)).toMatch(/^error: the running stack's nginx, .*\/tools\/nginx, is no longer there/);
    let after = await readStackRecord(stateDir);
    expect([after.mlflow.pid, after.nginx.pid]).toEqual([before.mlflow.pid, before.nginx.pid]);
    expect(await serves(after.port)).toBe(200);
    expect(markers()).toEqual({ mlflow: false, nginx: false });

    await rename(path.join(tools, 'mlflow'), path.join(tools, 'mlflow.moved'));
    const given = await cli(['restart', '--quiet', '--mlflow', realMlflow, '--nginx', systemNginx], { cwd, env });
    expect(given.exitCode, given.stderr).toBe(0);
    after = await readStackRecord(stateDir);
    expect((await argvOf(after.mlflow.pid))[1]).toBe(realMlflow);
    expect(await readlink(`/proc/${after.nginx.pid}/exe`)).toBe(await realpath(systemNginx));
    expect(await serves(after.port)).toBe(200);
  });
});
