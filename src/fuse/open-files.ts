// The table of open attribute files: what kernfs keeps in `struct kernfs_open_file`
// (fs/kernfs/file.c), reduced to the snapshot of show() a reader is being served from.
// Handles are small positive int32s because fuse-native passes `fh` through an int32
// and treats 0 as "no handle".

import { Errno } from '../engine/errno';
import type { LineStream } from '../sysfs/node';

export interface OpenFile {
  path: string;
  flags: number;
  /** The kernel object the opened node belonged to (PathCache.resolveOwned): a
   * kernfs_open_file is bound to its kernfs_node, so a handle whose owner has left the
   * path answers ENODEV even after a new owner took the same name. */
  owner: object | undefined;
  /** The text show() gave at the last read from offset 0; pieces read later come
   * from it, so a reader reading in pieces sees one text (seq_file semantics). */
  snapshot: Buffer | undefined;
  /** For a stream file (events): what this open reads. */
  stream?: LineStream;
}

const MAX_HANDLE = 0x7fffffff;

export class OpenFiles {
  private readonly files = new Map<number, OpenFile>();
  private next = 1;

  add(path: string, flags: number, owner?: object, stream?: LineStream): number {
    if (this.files.size >= MAX_HANDLE - 1) throw new Errno('ENOMEM', 'too many open files');
    while (this.files.has(this.next)) this.advance();
    const handle = this.next;
    this.advance();
    this.files.set(handle, stream === undefined ? { path, flags, owner, snapshot: undefined } : { path, flags, owner, snapshot: undefined, stream });
    return handle;
  }

  get(handle: number): OpenFile {
    const file = this.files.get(handle);
    // The kernel only sends handles we gave out; a miss is a bug, hence EIO.
    if (file === undefined) throw new Errno('EIO', `unknown file handle ${handle}`);
    return file;
  }

  remove(handle: number): void {
    this.files.delete(handle);
  }

  get size(): number {
    return this.files.size;
  }

  private advance(): void {
    this.next = this.next >= MAX_HANDLE ? 1 : this.next + 1;
  }
}
