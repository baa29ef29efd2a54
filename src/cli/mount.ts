// `iommufs mount <topology> <mountpoint>`: serve the machine in the foreground until
// SIGHUP/SIGINT/SIGTERM/SIGQUIT, then unmount and exit 0 (docs/cli.md).

import { readFileSync } from 'node:fs';
import { mkdir, rmdir, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { mountSysfs, unmountOnSignals } from '../fuse';
import { isFuseMounted } from '../fuse/mount-table';
import { sysfsTree } from '../sysfs/tree';
import { CliError } from './errors';
import type { Io } from './io';
import { bootOrFail } from './load';
import { tuneHeapForServing } from './heap';
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
  tuneHeapForServing();
  for (const w of warnings) io.err(`warning: ${w}`);
  const stateFile = a.state === undefined ? undefined : resolve(a.state);
  const topologyText = readFileSync(a.topology, 'utf8');
  if (stateFile) restoreFromFile(machine, stateFile, topologyText);
  const afterWrite = stateFile ? (): void => saveToFile(machine, stateFile, topologyText) : undefined;
  const mnt = resolve(a.mountpoint);
  const created = await prepareMountpoint(mnt, io);
  let handle;
  try {
    handle = await mountSysfs(sysfsTree(machine), mnt, { allowOther: a.allowOther, debug: a.debug }, afterWrite ? { afterWrite } : {});
  } catch (e) {
    if (created) await rmdir(mnt).catch(() => undefined);
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
  const code = await served;
  if (created) await rmdir(mnt).catch(() => undefined);
  return code;
}

/**
 * A missing mountpoint is created (its parent must exist) and removed again at exit, and
 * the user is told so; a file is refused; a mountpoint another iommufs (or any FUSE
 * server) still serves is refused with what to do. A stale mount (its server killed) is
 * left to the mount, which cleans it up. Returns whether the directory was created.
 */
async function prepareMountpoint(mnt: string, io: Io): Promise<boolean> {
  const st = await stat(mnt).catch((e: NodeJS.ErrnoException) => e);
  if (st instanceof Error) {
    if (st.code === 'ENOENT') {
      await mkdir(mnt).catch((e: NodeJS.ErrnoException) => {
        throw new CliError(`mount: ${mnt} does not exist and cannot be created: ${e.code === 'ENOENT' ? 'its parent directory does not exist' : e.message}`, 1);
      });
      io.err(`mount: ${mnt} did not exist: created it; it is removed again when the mount stops`);
      return true;
    }
    if (st.code === 'ENOTCONN' || st.code === 'ENXIO') return false;
    throw new CliError(`mount: ${mnt}: ${st.message}`, 1);
  }
  if (!st.isDirectory()) throw new CliError(`mount: ${mnt} is not a directory`, 1);
  if (await isFuseMounted(mnt)) {
    throw new CliError(
      `mount: ${mnt} is already mounted and answering (another iommufs mount?). Stop that one first ` +
        `(Ctrl-C in its terminal, or kill its PID; 'fusermount -u ${mnt}' if its server is gone), or choose another mountpoint.`,
      1,
    );
  }
  return false;
}
