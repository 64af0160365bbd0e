/** `logs` run in-process: `-f` follows until the injected signal source says stop (no global `process`). */
import { mkdir, mkdtemp, rm, writeFile, appendFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { logs } from '../../../src/commands/logs.js';
import type { Context } from '../../../src/context.js';
import { createOutput } from '../../../src/log.js';
import { getPlatform } from '../../../src/system/platform.js';
import { sink } from '../sink.js';
import { FakeSignals } from '../stack/lifecycle/fakes.js';

let tmp: string;
let state: string;
beforeEach(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'mlflow-secure-logs-'));
  state = path.join(tmp, 'state');
  await mkdir(path.join(state, 'logs'), { recursive: true, mode: 0o700 });
  await writeFile(path.join(state, 'logs', 'mlflow.log'), 'mlflow line one\n');
});
afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

function context(signals: FakeSignals) {
  const stdout = sink();
  const stderr = sink();
  const ctx: Context = {
    cwd: tmp,
    env: {},
    platform: getPlatform(process.platform),
    out: createOutput(stdout.stream, stderr.stream),
    stdin: Readable.from([]),
    stderr: stderr.stream,
    signals,
  };
  return { ctx, stdout };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it.each(['SIGINT', 'SIGTERM', 'SIGHUP'] as const)(
  '`logs -f` follows new lines and stops on the injected %s, leaving no listener',
  async (signal) => {
    const signals = new FakeSignals();
    const { ctx, stdout } = context(signals);
    const following = logs('mlflow', { stateDir: state, follow: true }, ctx);
    await signals.installed();
    expect(signals.listening()).toBe(3);
    await appendFile(path.join(state, 'logs', 'mlflow.log'), 'mlflow line two\n');
    for (let i = 0; i < 200 && !stdout.text().includes('line two'); i++) await sleep(10);
    signals.emit(signal, signal);
    expect(await following).toBe(0);
    expect(stdout.text()).toBe('mlflow line one\nmlflow line two\n');
    expect(signals.listening()).toBe(0);
  },
);

it('`logs` without -f listens for no signal', async () => {
  const signals = new FakeSignals();
  const { ctx, stdout } = context(signals);
  let most = 0;
  const count = setInterval(() => (most = Math.max(most, signals.listening())), 1);
  expect(await logs('mlflow', { stateDir: state }, ctx)).toBe(0);
  clearInterval(count);
  expect(most).toBe(0);
  expect(stdout.text()).toBe('mlflow line one\n');
});
