/**
 * `down` from another terminal while this `up` is still starting leaves a stop request: a stop
 * once the file exists (polled: the same on every OS), until dispose().
 */
import { exists } from '../../system/files.js';
import type { StopSource } from './stop.js';

export function stopOnRequest(file: string, intervalMs = 200): StopSource {
  const controller = new AbortController();
  const timer = setInterval(() => {
    void exists(file).then((yes) => {
      if (yes) controller.abort({ kind: 'request' });
    });
  }, intervalMs);
  return { signal: controller.signal, dispose: () => clearInterval(timer) };
}
