// `iommufs ctl <mnt> watch [--json]`: the mount's group events as they happen, one line each
// (`42 group 7 bound-driver 0000:01:00.0 vfio-pci`), or one JSON object per line with
// --json. It reads kernel/debug/iommufs/events, which follows the engine's log from the
// open on (sysfs/event-files.ts). The file is opened O_NONBLOCK: a read then waits at most
// a quarter second before EAGAIN (fuse/streams.ts), so that SIGINT or SIGTERM ends the
// watch within that time; a blocking read could not be left before the next event. The
// watch ends with status 0 on those signals and when the mount goes (end of file).

import { open, read, close, constants } from 'node:fs';
import { join } from 'node:path';
import { parseGroupLine } from '../engine/group-events';
import { CliError } from './errors';
import type { Io } from './io';

export const EVENTS_FILE = 'kernel/debug/iommufs/events';

function opened(path: string): Promise<number> {
  return new Promise((resolve, reject) => open(path, constants.O_RDONLY | constants.O_NONBLOCK, (e, fd) => (e ? reject(e) : resolve(fd))));
}

/** The next piece of the stream: bytes, 'again' (nothing yet) or 'end'. */
function next(fd: number, buf: Buffer): Promise<Buffer | 'again' | 'end'> {
  return new Promise((resolve, reject) =>
    read(fd, buf, 0, buf.length, null, (e, n) => {
      if (e) {
        if (e.code === 'EAGAIN') resolve('again');
        else reject(e);
      } else resolve(n === 0 ? 'end' : Buffer.from(buf.subarray(0, n)));
    }),
  );
}

export async function watchCommand(mnt: string, args: string[], io: Io, errText: (e: unknown) => string): Promise<number> {
  const json = args.includes('--json');
  if (args.some((a) => a !== '--json')) throw new CliError('ctl: watch [--json]', 2);
  let fd: number;
  try {
    fd = await opened(join(mnt, EVENTS_FILE));
  } catch (e) {
    throw new CliError(`iommufs ctl: watch: ${errText(e)}`, 1);
  }
  let stopping = false;
  const stop = (): void => {
    stopping = true;
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, stop);
  const buf = Buffer.alloc(1 << 16);
  let partial = '';
  try {
    while (!stopping) {
      const got = await next(fd, buf);
      if (got === 'end') break;
      if (got === 'again') continue;
      const lines = (partial + got.toString('latin1')).split('\n');
      partial = lines.pop()!;
      for (const line of lines) io.out(json ? JSON.stringify(parseGroupLine(line) ?? { line }) : line);
    }
    return 0;
  } catch (e) {
    throw new CliError(`iommufs ctl: watch: ${errText(e)}`, 1);
  } finally {
    for (const s of signals) process.off(s, stop);
    close(fd, () => undefined);
  }
}
