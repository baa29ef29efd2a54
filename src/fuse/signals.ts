// Every signal that asks a daemon to end (HUP when its terminal goes, INT, TERM, QUIT)
// must unmount before the process ends, or the mount point is left "Transport endpoint
// is not connected" (clients.md §3 #16). Exiting is the caller's decision (only the
// CLI's main exits), so this only unmounts and reports.
//
// SIGUSR1 would make Node open its inspector, unauthenticated, on 127.0.0.1:9229: in a
// root daemon that is a root shell for any local user. A listener of our own replaces
// Node's, so the signal is ignored (Node 20 has no --disable-sigusr1).

import type { MountHandle } from './fuse-binding';

export type SignalOutcome = { signal: NodeJS.Signals; error?: unknown };

export const TERMINATING_SIGNALS: readonly NodeJS.Signals[] = ['SIGHUP', 'SIGINT', 'SIGTERM', 'SIGQUIT'];

const ignoreInspectorSignal = (): void => undefined;

/** On the first terminating signal: unmount, then call `done`. Returns a function that
 * removes the handlers again. A second signal while unmounting is ignored. */
export function unmountOnSignals(handle: MountHandle, done: (outcome: SignalOutcome) => void): () => void {
  let started = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (started) return;
    started = true;
    handle.unmount().then(
      () => done({ signal }),
      (error: unknown) => done({ signal, error }),
    );
  };
  for (const s of TERMINATING_SIGNALS) process.on(s, onSignal);
  process.on('SIGUSR1', ignoreInspectorSignal);
  return () => {
    for (const s of TERMINATING_SIGNALS) process.off(s, onSignal);
    process.off('SIGUSR1', ignoreInspectorSignal);
  };
}
