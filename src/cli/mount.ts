// `iommufs mount <topology> <mountpoint>`: serve the machine in the foreground until
// SIGHUP/SIGINT/SIGTERM/SIGQUIT, then unmount and exit 0 (shared/docs/cli.md).

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { mountSysfs, unmountOnSignals } from '../fuse';
import { sysfsTree } from '../sysfs/tree';
import { CliError } from './errors';
import type { Io } from './io';
import { bootOrFail } from './load';
import { restoreFromFile, saveToFile } from './state-file';

export interface MountArgs {
  topology: string;
  mountpoint: string;
  allowOther: boolean;
  debug: boolean;
  state?: string;
}

export async function mountCommand(a: MountArgs, io: Io): Promise<number> {
  const { machine, warnings } = bootOrFail(a.topology);
  for (const w of warnings) io.err(`warning: ${w}`);
  const stateFile = a.state === undefined ? undefined : resolve(a.state);
  const topologyText = readFileSync(a.topology, 'utf8');
  if (stateFile) restoreFromFile(machine, stateFile, topologyText);
  const afterWrite = stateFile ? (): void => saveToFile(machine, stateFile, topologyText) : undefined;
  const mnt = resolve(a.mountpoint);
  let handle;
  try {
    handle = await mountSysfs(sysfsTree(machine), mnt, { allowOther: a.allowOther, debug: a.debug }, afterWrite ? { afterWrite } : {});
  } catch (e) {
    throw new CliError(`mount: ${mnt}: ${(e as Error).message}`, 1);
  }
  // The handlers are in place before `mounted` is said: whoever reads that line may
  // signal at once.
  const served = new Promise<number>((done) => {
    const stop = unmountOnSignals(handle, (outcome) => {
      if (outcome.error) io.err(`unmount ${mnt}: ${String(outcome.error)}`);
      done(outcome.error ? 1 : 0);
    });
    // Someone ran `fusermount -u` on us: nothing left to serve.
    void handle.whenGone().then(() => {
      stop();
      done(0);
    });
  });
  io.out(`mounted ${mnt}`);
  return served;
}
