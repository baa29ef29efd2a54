// SIGINT/SIGTERM must unmount before the process ends, or the mount point is left
// "Transport endpoint is not connected" (clients.md §3 #16). Exiting is the caller's
// decision (only the CLI's main exits), so this only unmounts and reports.

import type { MountHandle } from './fuse-binding';

export type SignalOutcome = { signal: NodeJS.Signals; error?: unknown };

/** On the first SIGINT or SIGTERM: unmount, then call `done`. Returns a function that
 * removes the handlers again. A second signal while unmounting is ignored. */
export function unmountOnSignals(handle: MountHandle, done: (outcome: SignalOutcome) => void): () => void {
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];
  let started = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (started) return;
    started = true;
    handle.unmount().then(
      () => done({ signal }),
      (error: unknown) => done({ signal, error }),
    );
  };
  for (const s of signals) process.on(s, onSignal);
  return () => {
    for (const s of signals) process.off(s, onSignal);
  };
}
