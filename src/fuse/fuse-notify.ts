// Telling the kernel what to forget, over the session's own /dev/fuse descriptor.
// fuse-native has no notify call, but the protocol needs none from libfuse: a notify is
// one write(2) on the session descriptor of a `struct fuse_out_header` whose `unique` is 0
// and whose `error` is the notify code, followed by the notify's struct
// (include/uapi/linux/fuse.h; fs/fuse/dev.c fuse_notify). Both messages used here exist
// since Linux 2.6.36, so Debian 12's 6.1 has them.
//
// Writes go through libuv's thread pool, never on the JS thread: FUSE_NOTIFY_INVAL_ENTRY
// takes the parent directory's inode lock, which a lookup waiting for this very thread to
// answer may hold (fs/fuse/dir.c fuse_reverse_inval_entry). The kernel's node id of a
// directory is what stat shows as st_ino: libfuse 2's high-level API sets st_ino to the
// node id when use_ino is off (lib/fuse.c set_stat), so it is read with an lstat through
// the mount, also off the JS thread.

import { readdirSync, readlinkSync, write } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import type { StaleNames } from './fs-ops';

const FUSE_NOTIFY_INVAL_INODE = 2;
const FUSE_NOTIFY_INVAL_ENTRY = 3;
const FUSE_ROOT_ID = 1n;
const OUT_HEADER = 16;

function header(len: number, code: number): Buffer {
  const b = Buffer.alloc(len);
  b.writeUInt32LE(len, 0);
  b.writeInt32LE(code, 4);
  b.writeBigUInt64LE(0n, 8); // unique 0: a notify, not a reply
  return b;
}

/** struct fuse_notify_inval_entry_out { u64 parent; u32 namelen; u32 flags; } + name + NUL. */
export function invalEntryMessage(parent: bigint, name: string): Buffer {
  const bytes = Buffer.from(name, 'utf8');
  const b = header(OUT_HEADER + 16 + bytes.length + 1, FUSE_NOTIFY_INVAL_ENTRY);
  b.writeBigUInt64LE(parent, OUT_HEADER);
  b.writeUInt32LE(bytes.length, OUT_HEADER + 8);
  b.writeUInt32LE(0, OUT_HEADER + 12);
  bytes.copy(b, OUT_HEADER + 16);
  return b;
}

/** struct fuse_notify_inval_inode_out { u64 ino; s64 off; s64 len; }: off 0 and len 0
 * drop the attributes and any cached pages of the whole inode. */
export function invalInodeMessage(ino: bigint): Buffer {
  const b = header(OUT_HEADER + 24, FUSE_NOTIFY_INVAL_INODE);
  b.writeBigUInt64LE(ino, OUT_HEADER);
  b.writeBigInt64LE(0n, OUT_HEADER + 8);
  b.writeBigInt64LE(0n, OUT_HEADER + 16);
  return b;
}

/** The descriptors of this process open on /dev/fuse. Reads /proc, never the mount. */
export function fuseDeviceFds(): Set<number> {
  const out = new Set<number>();
  for (const name of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${name}`) === '/dev/fuse') out.add(Number(name));
    } catch {
      // closed while listing
    }
  }
  return out;
}

function writeAll(fd: number, message: Buffer): Promise<NodeJS.ErrnoException | null> {
  return new Promise((resolve) => write(fd, message, (err) => resolve(err)));
}

export class FuseNotifier {
  private closed = false;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly fd: number,
    private readonly mountpoint: string,
    private readonly log: (line: string) => void,
  ) {}

  /** Makes the kernel forget `stale`; resolves once every message is written. */
  invalidate(stale: StaleNames): Promise<void> {
    if (this.closed || (stale.entries.length === 0 && stale.inodes.length === 0)) return Promise.resolve();
    const p = this.send(stale).finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
    return p;
  }

  /** No more messages: the descriptor is about to close with the session. Waits for
   * those under way, so that none can land on a reused descriptor number. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.inFlight]);
  }

  private async send(stale: StaleNames): Promise<void> {
    const ids = new Map<string, Promise<bigint | undefined>>();
    const idOf = (dirPath: string): Promise<bigint | undefined> => {
      let id = ids.get(dirPath);
      if (id === undefined) {
        id = dirPath === '' ? Promise.resolve(FUSE_ROOT_ID) : this.nodeId(dirPath);
        ids.set(dirPath, id);
      }
      return id;
    };
    // Node ids first, while every cached name still resolves, then the messages.
    const entries = await Promise.all(stale.entries.map(async ([dir, name]) => [await idOf(dir), name] as const));
    const inodes = await Promise.all(stale.inodes.map((dir) => idOf(dir)));
    const messages: Buffer[] = [];
    for (const [id, name] of entries) if (id !== undefined) messages.push(invalEntryMessage(id, name));
    for (const id of inodes) if (id !== undefined) messages.push(invalInodeMessage(id));
    const results = await Promise.all(messages.map((m) => writeAll(this.fd, m)));
    for (const err of results) {
      // ENOENT: the kernel had already dropped that name or inode, which is what we wanted.
      if (err !== null && err.code !== 'ENOENT' && !this.closed) this.log(`iommufs: notify on ${this.mountpoint}: ${err.message}`);
    }
  }

  /** The directory's node id, or undefined if it is gone (nothing below it is reachable). */
  private async nodeId(dirPath: string): Promise<bigint | undefined> {
    try {
      return (await lstat(join(this.mountpoint, dirPath), { bigint: true })).ino;
    } catch {
      return undefined;
    }
  }
}
