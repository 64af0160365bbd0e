/** Each stop source on its own: a signal, the stop request, a child's exit; and racing work against them. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { anyStop, Interrupted, raceStop, reasonOf, whenStopped } from '../../../../src/stack/lifecycle/stop.js';
import { stopOnExit } from '../../../../src/stack/lifecycle/stop-on-exit.js';
import { stopOnRequest } from '../../../../src/stack/lifecycle/stop-request.js';
import { stopOnSignals } from '../../../../src/stack/lifecycle/stop-signals.js';
import { startProcess } from '../../../../src/system/processes.js';
import { getPlatform } from '../../../../src/system/platform.js';
import { fakeChild, FakeSignals, forever } from './fakes.js';

let tmp: string;
beforeEach(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'mlflow-secure-stop-'));
});
afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('stopOnSignals', () => {
  it('the first signal is the reason; dispose() removes every listener it installed', () => {
    const source = new FakeSignals();
    const stop = stopOnSignals(source, false);
    expect(source.listening()).toBe(3);
    expect(stop.signal.aborted).toBe(false);
    source.emit('SIGHUP', 'SIGHUP');
    source.emit('SIGINT', 'SIGINT');
    expect(reasonOf(stop.signal)).toEqual({ kind: 'signal', signal: 'SIGHUP' });
    stop.dispose();
    stop.dispose(); // twice is harmless
    expect(source.listening()).toBe(0);
  });

  it('on Windows SIGBREAK (Ctrl+Break, a closed console) stops too', () => {
    const source = new FakeSignals();
    const stop = stopOnSignals(source, true);
    source.emit('SIGBREAK', 'SIGBREAK');
    expect(reasonOf(stop.signal)).toEqual({ kind: 'signal', signal: 'SIGBREAK' });
    stop.dispose();
    expect(source.listening()).toBe(0);
  });
});

describe('stopOnRequest', () => {
  it('stops once the file appears', async () => {
    const file = path.join(tmp, 'stop-request');
    const stop = stopOnRequest(file, 10);
    await sleep(40);
    expect(stop.signal.aborted).toBe(false);
    await writeFile(file, '');
    for (let i = 0; i < 200 && !stop.signal.aborted; i++) await sleep(10);
    expect(reasonOf(stop.signal)).toEqual({ kind: 'request' });
    stop.dispose();
  });

  it('stops looking once disposed', async () => {
    const file = path.join(tmp, 'stop-request');
    const stop = stopOnRequest(file, 10);
    stop.dispose();
    await writeFile(file, '');
    await sleep(60);
    expect(stop.signal.aborted).toBe(false);
  });
});

describe('stopOnExit', () => {
  it('a child that exits is the reason, with how it exited', async () => {
    const mlflow = fakeChild('mlflow');
    const stop = stopOnExit([mlflow, fakeChild('nginx')]);
    mlflow.exit({ code: 2 });
    await sleep(0);
    expect(reasonOf(stop.signal)).toEqual({ kind: 'exit', exit: { name: 'mlflow', code: 2, signal: undefined } });
  });

  it('an exit after dispose() is no stop', async () => {
    const nginx = fakeChild('nginx');
    const stop = stopOnExit([nginx]);
    stop.dispose();
    nginx.exit();
    await sleep(0);
    expect(stop.signal.aborted).toBe(false);
  });

  it('a real program that exits (a fake MLflow) aborts the signal', async () => {
    const child = await startProcess({
      name: 'mlflow',
      file: process.execPath,
      args: [path.join(import.meta.dirname, '../../../fixtures/fake-mlflow-exits.mjs')],
      env: {},
      cwd: tmp,
      logFile: path.join(tmp, 'mlflow.log'),
      platform: getPlatform(process.platform),
    });
    const stop = stopOnExit([child]);
    const reason = await whenStopped(stop.signal).stopped;
    expect(reason).toEqual({ kind: 'exit', exit: { name: 'mlflow', code: 1, signal: undefined } });
  });
});

describe('anyStop, raceStop', () => {
  it('several sources are one signal: the first to stop gives the reason; dispose() disposes each', () => {
    const source = new FakeSignals();
    const a = stopOnSignals(source, false);
    const nginx = fakeChild('nginx');
    const both = anyStop([a, stopOnExit([nginx])]);
    source.emit('SIGTERM', 'SIGTERM');
    nginx.exit();
    expect(reasonOf(both.signal)).toEqual({ kind: 'signal', signal: 'SIGTERM' });
    both.dispose();
    expect(source.listening()).toBe(0);
  });

  it('work that finishes first wins', async () => {
    const controller = new AbortController();
    expect(await raceStop(Promise.resolve(7), controller.signal)).toBe(7);
  });

  it('a stop first is an Interrupted error naming it, even when it came before the race', async () => {
    const controller = new AbortController();
    const racing = raceStop(forever(), controller.signal);
    controller.abort({ kind: 'request' });
    const error = await racing.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Interrupted);
    expect((error as Interrupted).message).toBe('interrupted by mlflow-secure down');
    await expect(raceStop(forever(), controller.signal)).rejects.toBeInstanceOf(Interrupted);
  });
});
