/** `user add` run in-process on a temp state folder: what it tells the person adding a user. */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { user } from '../../../src/commands/user.js';
import { createOutput } from '../../../src/log.js';
import { getPlatform } from '../../../src/system/platform.js';
import { sink } from '../sink.js';

let tmp: string;
beforeEach(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'mlflow-secure-user-'));
});
afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

it('`user add` says that every signed-in user is a full MLflow administrator', async () => {
  const stdout = sink();
  const stderr = sink();
  const ctx = {
    cwd: tmp,
    env: { MLFLOW_SECURE_PASSWORD: 'a-long-password-1' },
    platform: getPlatform(process.platform),
    out: createOutput(stdout.stream, stderr.stream),
    stdin: Readable.from([]),
    stderr: stderr.stream,
  };
  expect(await user('add', 'bob', { bcryptCost: '4' }, ctx)).toBe(0);
  expect(stdout.text()).toContain(
    'Every signed-in user is a full MLflow administrator: bob can create experiments with any artifact_location, change or delete every experiment, run and model, and store gateway keys',
  );
  expect(stdout.text() + stderr.text()).not.toContain('a-long-password-1');
});
