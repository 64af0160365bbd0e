/**
 * The lifecycle's order and its stops, with fake phases and a fake signal source: what a signal,
 * a stop request or a child's exit does at each phase, that clean-up runs once, and that no
 * listener is left behind.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ExitCode, StackError } from '../../../../src/errors.js';
import { runLifecycle, type LifecycleOptions } from '../../../../src/stack/lifecycle/run.js';
import { startProcess } from '../../../../src/system/processes.js';
import { getPlatform } from '../../../../src/system/platform.js';
import { fakeChild, fakePhases, FakeSignals, forever, type Calls } from './fakes.js';

let tmp: string;
let signals: FakeSignals;
let notes: string[];
let calls: Calls;
let options: LifecycleOptions;

beforeEach(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'mlflow-secure-lifecycle-'));
  signals = new FakeSignals();
  notes = [];
  calls = [];
  options = {
    detach: false,
    signals,
    windows: false,
    paths: {
      stopRequest: path.join(tmp, 'stop-request'),
      record: path.join(tmp, 'stack.json'),
      mlflowLog: path.join(tmp, 'mlflow.log'),
      nginxErrorLog: path.join(tmp, 'nginx-error.log'),
    },
    out: { note: (line) => notes.push(line) },
    progress: { done: () => calls.push('progress.done') },
  };
  await writeFile(options.paths.record, '{}');
});
afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** Waits until `calls` holds `name` (a phase was entered). */
async function reached(name: string): Promise<void> {
  for (let i = 0; i < 500 && !calls.includes(name); i++) await new Promise((r) => setTimeout(r, 2));
  expect(calls).toContain(name);
}

const count = (name: string) => calls.filter((c) => c === name).length;

describe('starting', () => {
  it('a SIGINT while waiting for readiness stops everything and gives exit 130', async () => {
    const run = runLifecycle(fakePhases(calls, { waitReady: forever }), options);
    await reached('waitReady');
    signals.emit('SIGINT', 'SIGINT');
    expect(await run).toBe(ExitCode.interrupted);
    expect(calls).not.toContain('prove');
    expect(count('cleanUp')).toBe(1);
    expect(notes).toEqual(['Interrupted (SIGINT) while starting: stopped everything.']);
    expect(signals.listening()).toBe(0);
  });

  it('a SIGTERM during the claim: nothing starts, the claim is cleaned up, exit 130', async () => {
    const run = runLifecycle(
      fakePhases(calls, {
        claim: async () => {
          signals.emit('SIGTERM', 'SIGTERM');
          return {};
        },
      }),
      options,
    );
    expect(await run).toBe(ExitCode.interrupted);
    expect(calls).not.toContain('start');
    expect(count('cleanUp')).toBe(1);
    expect(notes).toEqual(['Interrupted (SIGTERM) while starting: stopped everything.']);
  });

  it('a SIGHUP while proving stops before the proof is accepted', async () => {
    const run = runLifecycle(fakePhases(calls, { prove: forever }), options);
    await reached('prove');
    signals.emit('SIGHUP', 'SIGHUP');
    expect(await run).toBe(ExitCode.interrupted);
    expect(calls).not.toContain('accept');
    expect(count('cleanUp')).toBe(1);
  });

  it('the stop request `down` leaves while starting stops it too', async () => {
    const run = runLifecycle(fakePhases(calls, { waitReady: forever }), options);
    await reached('waitReady');
    await writeFile(options.paths.stopRequest, '');
    expect(await run).toBe(ExitCode.interrupted);
    expect(notes).toEqual(['Interrupted (mlflow-secure down) while starting: stopped everything.']);
    expect(count('cleanUp')).toBe(1);
  });

  it('a failed claim is not cleaned up (it may be another stack’s folder) and removes the listeners', async () => {
    const failure = new Error('a stack is already running');
    const run = runLifecycle(fakePhases(calls, { claim: () => Promise.reject(failure) }), options);
    await expect(run).rejects.toBe(failure);
    expect(calls).not.toContain('cleanUp');
    expect(signals.listening()).toBe(0);
  });

  it('a phase that fails is cleaned up once, and its error goes on', async () => {
    const failure = new StackError('MLflow did not answer');
    const run = runLifecycle(fakePhases(calls, { waitReady: () => Promise.reject(failure) }), options);
    await expect(run).rejects.toBe(failure);
    expect(count('cleanUp')).toBe(1);
    expect(signals.listening()).toBe(0);
  });

  it('listens for SIGBREAK too on Windows, and for nothing once done', async () => {
    const run = runLifecycle(fakePhases(calls, { waitReady: forever }), { ...options, windows: true });
    await reached('waitReady');
    expect(signals.listenerCount('SIGBREAK')).toBe(1);
    expect(signals.listening()).toBe(4);
    signals.emit('SIGBREAK', 'SIGBREAK');
    expect(await run).toBe(ExitCode.interrupted);
    expect(signals.listening()).toBe(0);
  });
});

describe('detached', () => {
  it('runs the phases in order, leaves the stack running, and removes its listeners', async () => {
    expect(await runLifecycle(fakePhases(calls), { ...options, detach: true })).toBe(ExitCode.ok);
    expect(calls).toEqual([
      'claim',
      'start',
      'waitReady',
      'prove',
      'accept',
      'progress.done',
      'proven',
      'detach',
      'announce',
      'detached',
    ]);
    expect(signals.listening()).toBe(0);
  });

  it('a detach that fails is cleaned up', async () => {
    const run = runLifecycle(fakePhases(calls, { detach: () => Promise.reject(new Error('disk full')) }), {
      ...options,
      detach: true,
    });
    await expect(run).rejects.toThrow('disk full');
    expect(count('cleanUp')).toBe(1);
  });
});

describe('supervised', () => {
  it('a SIGINT stops the stack: exit 0, cleaned up once, watching stopped, no listener left', async () => {
    const run = runLifecycle(fakePhases(calls), options);
    await reached('watch');
    expect(signals.listening()).toBe(3);
    signals.emit('SIGINT', 'SIGINT');
    signals.emit('SIGINT', 'SIGINT'); // a second Ctrl+C while stopping changes nothing
    expect(await run).toBe(ExitCode.ok);
    expect(notes).toEqual(['Stopping (SIGINT)...', 'Stopped MLflow and nginx.']);
    expect(calls.slice(calls.indexOf('superviseBegin'))).toEqual([
      'superviseBegin',
      'announce',
      'supervised',
      'watch',
      'unwatch',
      'cleanUp',
    ]);
    expect(signals.listening()).toBe(0);
  });

  it('a child that exits ends supervision with a StackError (exit 3) carrying its log', async () => {
    const nginx = fakeChild('nginx');
    await writeFile(options.paths.nginxErrorLog, '[emerg] bind() failed\n');
    const run = runLifecycle(fakePhases(calls, {}, [fakeChild('mlflow'), nginx]), options);
    await reached('watch');
    nginx.exit({ code: 1 });
    const error = (await run.catch((e: unknown) => e)) as StackError;
    expect(error).toBeInstanceOf(StackError);
    expect(error.exitCode).toBe(ExitCode.stackFailed);
    expect(error.message).toBe('nginx exited with code 1 while the stack was running; stopped the rest');
    expect(error.hint).toBe('Read its log: mlflow-secure logs nginx');
    expect(error.details).toContain('[emerg] bind() failed');
    expect(count('cleanUp')).toBe(1);
    expect(signals.listening()).toBe(0);
  });

  it('a real child (a fake MLflow that exits) ends supervision with exit 3 and the end of its log', async () => {
    const mlflow = await startProcess({
      name: 'mlflow',
      file: process.execPath,
      args: [path.join(import.meta.dirname, '../../../fixtures/fake-mlflow-exits.mjs')],
      env: {},
      cwd: tmp,
      logFile: options.paths.mlflowLog,
      platform: getPlatform(process.platform),
    });
    const run = runLifecycle(fakePhases(calls, {}, [mlflow, fakeChild('nginx')]), options);
    const error = (await run.catch((e: unknown) => e)) as StackError;
    expect(error.exitCode).toBe(ExitCode.stackFailed);
    expect(error.message).toBe('mlflow exited with code 1 while the stack was running; stopped the rest');
    expect(error.details).toContain('fake-mlflow: sqlalchemy.exc.OperationalError');
    expect(count('cleanUp')).toBe(1);
    expect(signals.listening()).toBe(0);
  });

  it('a child killed by a signal is said so', async () => {
    const mlflow = fakeChild('mlflow');
    const run = runLifecycle(fakePhases(calls, {}, [mlflow, fakeChild('nginx')]), options);
    await reached('watch');
    mlflow.exit({ code: undefined, signal: 'SIGKILL' });
    await expect(run).rejects.toThrow('mlflow was killed by SIGKILL while the stack was running; stopped the rest');
  });

  it('a child that exits after `down` left its stop request is a stop, not a failure', async () => {
    const nginx = fakeChild('nginx');
    const run = runLifecycle(fakePhases(calls, {}, [fakeChild('mlflow'), nginx]), options);
    await reached('watch');
    await writeFile(options.paths.stopRequest, '');
    nginx.exit();
    expect(await run).toBe(ExitCode.ok);
    expect(notes).toEqual(['Stopped by `mlflow-secure down`.']);
    expect(count('cleanUp')).toBe(1);
  });

  it('a child that exits once the record is gone (`down` removes it last) is a stop too', async () => {
    const mlflow = fakeChild('mlflow');
    const run = runLifecycle(fakePhases(calls, {}, [mlflow, fakeChild('nginx')]), options);
    await reached('watch');
    await rm(options.paths.record);
    mlflow.exit();
    expect(await run).toBe(ExitCode.ok);
    expect(notes).toEqual(['Stopped by `mlflow-secure down`.']);
  });

  it('a stop request seen while starting, after the proof, stops the supervised stack at once', async () => {
    const run = runLifecycle(
      fakePhases(calls, {
        accept: async () => {
          await writeFile(options.paths.stopRequest, '');
          await new Promise((r) => setTimeout(r, 1000)); // several of its 200 ms polls
        },
      }),
      options,
    );
    expect(await run).toBe(ExitCode.ok);
    expect(notes).toEqual(['Stopping (mlflow-secure down)...', 'Stopped MLflow and nginx.']);
  });

  it('the signal listeners stay while it cleans up: a second Ctrl+C cannot kill it midway', async () => {
    let listeningWhileCleaning = -1;
    const run = runLifecycle(
      fakePhases(calls, {
        cleanUp: async () => {
          listeningWhileCleaning = signals.listening();
        },
      }),
      options,
    );
    await reached('watch');
    signals.emit('SIGINT', 'SIGINT');
    expect(await run).toBe(ExitCode.ok);
    expect(listeningWhileCleaning).toBe(3);
    expect(signals.listening()).toBe(0);
  });

  it('while starting too: listening while it cleans up after an interrupt', async () => {
    let listeningWhileCleaning = -1;
    const run = runLifecycle(
      fakePhases(calls, {
        waitReady: forever,
        cleanUp: async () => {
          listeningWhileCleaning = signals.listening();
        },
      }),
      options,
    );
    await reached('waitReady');
    signals.emit('SIGINT', 'SIGINT');
    expect(await run).toBe(ExitCode.interrupted);
    expect(listeningWhileCleaning).toBe(3);
  });

  it('clean-up is asked for twice (stop, then the final guard) and runs once', async () => {
    let running = 0;
    const run = runLifecycle(
      fakePhases(calls, {
        cleanUp: async () => {
          running++;
          await new Promise((r) => setTimeout(r, 20));
        },
      }),
      options,
    );
    await reached('watch');
    signals.emit('SIGTERM', 'SIGTERM');
    expect(await run).toBe(ExitCode.ok);
    expect(running).toBe(1);
  });
});
