// The one place where a thrown value becomes the negative errno a FUSE op answers
// with (go-fuse fs/constants.go `ToErrno` does the same at its boundary). An Errno
// from the engine or the sysfs layer passes through unchanged, so a writer sees
// exactly what the kernel's store would have returned; anything else is a bug in
// the simulator, answered with EIO and logged once per distinct message so that a
// client retrying in a loop does not flood the log.

import { ERRNO, isErrno } from '../engine/errno';

export type Logger = (message: string) => void;

export const stderrLogger: Logger = (message) => {
  process.stderr.write(message.endsWith('\n') ? message : message + '\n');
};

export class ErrnoMapper {
  private readonly seen = new Set<string>();

  constructor(private readonly log: Logger = stderrLogger) {}

  /** `op` and `path` only give the log line its context. */
  toErrno(e: unknown, op: string, path: string): number {
    if (isErrno(e)) return -e.errno;
    const text = e instanceof Error ? (e.stack ?? `${e.name}: ${e.message}`) : String(e);
    const key = `${op} ${path} ${e instanceof Error ? e.message : text}`;
    if (!this.seen.has(key)) {
      this.seen.add(key);
      this.log(`iommufs: internal error in ${op} ${path} (answered EIO): ${text}`);
    }
    return -ERRNO.EIO;
  }
}
