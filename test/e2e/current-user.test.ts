/**
 * `GET /ajax-api/2.0/mlflow/users/current` (and its /api/ twin) on a real stack: nginx answers it
 * with the signed-in user in the shape of MLflow's basic-auth app, only after auth, with the
 * headers every other answer carries; a user added while the stack runs is named at once, and a
 * name from a hand-edited password file that could break the JSON gets the placeholder.
 */
import { appendFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request, type HttpResponse } from '../../src/system/http.js';
import { CURRENT_USER_PATHS, UNNAMED_USER } from '../../src/nginx/current-user.js';
import { hashPassword } from '../../src/users/htpasswd.js';
import { cli, readStackRecord, removeDir, tempDir, waitForNoStackProcesses } from './helpers.js';

const PASSWORD = `e2e-${Math.random().toString(36).slice(2)}-Cur'"$x`;

const shape = (username: string) => ({ user: { id: 0, username, is_admin: false }, is_basic_auth: false });

describe('users/current answered by nginx on real MLflow and nginx', () => {
  let cwd: string;
  let stateDir: string;
  let host: string;
  let port: number;
  let groups: number[] = [];
  let instance: string;
  const get = (p: string, auth?: { user: string; password: string }, method = 'GET'): Promise<HttpResponse> =>
    request({ host, port, path: p, method, auth });

  beforeAll(async () => {
    cwd = await tempDir();
    stateDir = path.join(cwd, '.mlflow-secure');
    const r = await cli(['up', '-d', '--port', 'auto'], { cwd, env: { MLFLOW_SECURE_PASSWORD: PASSWORD } });
    expect(r.exitCode, r.stderr).toBe(0);
    const record = await readStackRecord(stateDir);
    groups = [record.mlflow.pid, record.nginx.pid];
    host = new URL(record.url).hostname;
    port = Number(new URL(record.url).port);
    // The header every answer of this stack's nginx carries, taken from an ordinary proxied page.
    instance = String(
      (await get('/', { user: 'admin', password: PASSWORD })).headers['x-mlflow-secure-instance'] ?? '',
    );
    expect(instance).toMatch(/^\S{8,}$/);
  });

  afterAll(async () => {
    if (cwd) {
      await cli(['down'], { cwd });
      expect(await waitForNoStackProcesses(stateDir, groups)).toEqual([]);
      await removeDir(cwd);
    }
  });

  it('asks for the password first: 401 without credentials, with a wrong password, or for an unknown user', async () => {
    for (const p of CURRENT_USER_PATHS) {
      for (const auth of [
        undefined,
        { user: 'admin', password: 'wrong-password' },
        { user: 'nobody', password: PASSWORD },
      ]) {
        const r = await get(p, auth);
        expect(r.status, `${p} as ${auth?.user ?? 'anonymous'}`).toBe(401);
        expect(r.headers['www-authenticate']).toBe('Basic realm="MLflow"');
        expect(r.headers['x-mlflow-secure-instance']).toBe(instance);
        expect(r.body).not.toContain('is_basic_auth');
      }
    }
  });

  it("names the signed-in user in the basic-auth app's JSON, on both paths, with the stack's headers", async () => {
    for (const p of CURRENT_USER_PATHS) {
      const r = await get(p, { user: 'admin', password: PASSWORD });
      expect(r.status, p).toBe(200);
      expect(r.headers['content-type']).toBe('application/json');
      expect(r.headers['x-mlflow-secure-instance']).toBe(instance);
      expect(JSON.parse(r.body)).toEqual(shape('admin'));
      expect((await get(p, { user: 'admin', password: PASSWORD }, 'HEAD')).status).toBe(200);
      // MLflow's route takes GET only; nothing else is answered with the user.
      const post = await get(p, { user: 'admin', password: PASSWORD }, 'POST');
      expect(post.status).toBe(403);
      expect(post.body).not.toContain('admin');
    }
  });

  it('names a second user added with `user add` while the stack runs, without a restart', async () => {
    const bobPassword = 'bob-Secret-123';
    const add = await cli(['user', 'add', 'bob.smith+ml@example.com', '--password-stdin'], {
      cwd,
      input: `${bobPassword}\n`,
    });
    expect(add.exitCode, add.stderr).toBe(0);
    const bob = { user: 'bob.smith+ml@example.com', password: bobPassword };
    for (const p of CURRENT_USER_PATHS) {
      const r = await get(p, bob);
      expect(r.status, p).toBe(200);
      expect(JSON.parse(r.body)).toEqual(shape('bob.smith+ml@example.com'));
    }
    // Each request is named by its own credentials: admin is still admin.
    expect(JSON.parse((await get(CURRENT_USER_PATHS[0], { user: 'admin', password: PASSWORD })).body)).toEqual(
      shape('admin'),
    );
  });

  it('sends the placeholder, in valid JSON, for a hand-edited name with a quote or backslash', async () => {
    // No colon: Basic auth and the password file both end the name at the first one.
    const evil = 'ev"il\\name';
    const evilPassword = 'evil-Secret-123';
    // What a person could write with an editor; `user add` refuses such a name.
    await appendFile(path.join(stateDir, 'htpasswd'), `${evil}:${hashPassword(evilPassword, 'apr1')}\n`);
    const r = await get(CURRENT_USER_PATHS[0], { user: evil, password: evilPassword });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual(shape(UNNAMED_USER));
    expect(r.body).not.toContain('ev"il');
  });
});
