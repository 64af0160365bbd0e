/** `token` run in-process on a temp state folder: what it prints, what it keeps, what it refuses. */
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { token } from '../../../src/commands/token.js';
import { createOutput } from '../../../src/log.js';
import { getPlatform } from '../../../src/system/platform.js';
import { hashToken, TOKEN_PATTERN } from '../../../src/users/tokens.js';
import { sink } from '../sink.js';

let tmp: string;
let state: string;
beforeEach(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'mlflow-secure-token-'));
  state = path.join(tmp, '.mlflow-secure');
  await mkdir(state, { mode: 0o700 });
  await writeFile(path.join(state, 'htpasswd'), 'alice:$apr1$x$y\n', { mode: 0o600 });
  // What `up --permissions` leaves: MLflow's auth database.
  await writeFile(path.join(state, 'mlflow-auth.db'), '', { mode: 0o600 });
});
afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

function context(o: { tty?: boolean } = {}) {
  const stdout = sink();
  const stderr = sink();
  const err = Object.assign(stderr.stream, { isTTY: o.tty === true });
  const ctx = {
    cwd: tmp,
    env: {},
    platform: getPlatform(process.platform),
    out: createOutput(stdout.stream, err),
    stdin: Readable.from([]),
    stderr: err,
  };
  return { ctx, stdout: stdout.text, stderr: stderr.text };
}

describe('token create', () => {
  it('prints the token alone on stdout (nothing else when not on a terminal) and keeps its SHA-256', async () => {
    const { ctx, stdout, stderr } = context();
    expect(await token('create', 'ci', {}, ctx)).toBe(0);
    expect(stdout()).toMatch(/^mlfs_[A-Za-z0-9_-]{43}\n$/);
    expect(stderr()).toBe('');
    const secret = stdout().trim();
    expect(secret).toMatch(TOKEN_PATTERN);
    const file = path.join(state, 'tokens.json');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const kept = JSON.parse(await readFile(file, 'utf8')) as { tokens: Record<string, unknown>[] };
    expect(kept.tokens).toEqual([
      expect.objectContaining({ name: 'ci', user: 'alice', sha256: hashToken(secret), readOnly: false }),
    ]);
    expect(JSON.stringify(kept)).not.toContain(secret.slice(5));
    // The default expiry: 90 days.
    const t = kept.tokens[0] as { created: string; expires: string };
    expect(Date.parse(t.expires) - Date.parse(t.created)).toBe(90 * 86_400_000);
  });

  it('explains on a terminal, on stderr, without the token', async () => {
    const { ctx, stdout, stderr } = context({ tty: true });
    expect(await token('create', 'ci', { readOnly: true, expires: 'never' }, ctx)).toBe(0);
    expect(stdout().split('\n')).toHaveLength(2);
    expect(stderr()).toMatch(
      /Token 'ci' for alice \(read-only\), never expires\. Shown once: use it as MLFLOW_TRACKING_TOKEN/,
    );
    expect(stderr()).not.toContain(stdout().trim());
  });

  it('is refused without `up --permissions`, leaving nothing behind', async () => {
    await rm(path.join(state, 'mlflow-auth.db'));
    const { ctx, stdout } = context();
    await expect(token('create', 'ci', {}, ctx)).rejects.toThrow(/^tokens need `up --permissions`: .* has not run it$/);
    expect(stdout()).toBe('');
    await expect(stat(path.join(state, 'tokens.json'))).rejects.toThrow(/ENOENT/);
  });

  it('needs --user when there are several users', async () => {
    await writeFile(path.join(state, 'htpasswd'), 'alice:$apr1$x$y\nbob:$apr1$x$z\n', { mode: 0o600 });
    const { ctx } = context();
    await expect(token('create', 'ci', {}, ctx)).rejects.toThrow('--user is needed: there are 2 users');
    expect(await token('create', 'ci', { user: 'bob' }, ctx)).toBe(0);
  });
});

describe('token list and revoke', () => {
  it('lists without secrets or hashes, and revokes by name', async () => {
    const made = context();
    await token('create', 'ci', {}, made.ctx);
    const listed = context();
    expect(await token('list', undefined, { json: true }, listed.ctx)).toBe(0);
    expect(listed.stdout()).not.toContain('sha256');
    expect(JSON.parse(listed.stdout())).toEqual([
      expect.objectContaining({ name: 'ci', user: 'alice', expired: false }),
    ]);
    const revoked = context();
    expect(await token('revoke', 'ci', {}, revoked.ctx)).toBe(0);
    await expect(token('revoke', 'ci', {}, revoked.ctx)).rejects.toThrow(/^no token 'ci' in /);
    const empty = context();
    await token('list', undefined, {}, empty.ctx);
    expect(empty.stdout()).toMatch(/^No tokens/);
  });

  it('refuses create-only options elsewhere', async () => {
    const { ctx } = context();
    await expect(token('list', undefined, { readOnly: true }, ctx)).rejects.toThrow(/go with `token create`/);
  });
});
