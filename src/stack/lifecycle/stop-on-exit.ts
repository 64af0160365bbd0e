/** A supervised child that exits is a stop: the reason carries how it exited. */
import type { StartedProcess } from '../../system/processes.js';
import type { StopSource } from './stop.js';

export function stopOnExit(children: readonly Pick<StartedProcess, 'exited'>[]): StopSource {
  const controller = new AbortController();
  let listening = true;
  for (const child of children)
    void child.exited.then((exit) => {
      if (listening) controller.abort({ kind: 'exit', exit });
    });
  return {
    signal: controller.signal,
    dispose: () => {
      listening = false;
    },
  };
}
