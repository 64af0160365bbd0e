/** Ctrl+C, a closed terminal, `kill`: a stop. Listeners are installed once and removed by dispose(). */
import type { SignalSource } from '../../context.js';
import type { StopSource } from './stop.js';

export function stopSignals(windows: boolean): NodeJS.Signals[] {
  return windows ? ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK'] : ['SIGINT', 'SIGTERM', 'SIGHUP'];
}

export function stopOnSignals(source: SignalSource, windows: boolean): StopSource {
  const controller = new AbortController();
  // A second signal changes nothing: the first one is the reason.
  const onSignal = (signal: NodeJS.Signals) => controller.abort({ kind: 'signal', signal });
  const signals = stopSignals(windows);
  for (const s of signals) source.on(s, onSignal);
  return { signal: controller.signal, dispose: () => signals.forEach((s) => source.off(s, onSignal)) };
}
