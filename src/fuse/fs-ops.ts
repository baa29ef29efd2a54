// What a file system served over FUSE implements, independent of the FUSE binding.
// Every method is synchronous and either returns its value or throws (an Errno to
// refuse; anything else is a bug and becomes EIO). The binding alone deals with
// callbacks, so "answer exactly once" and the errno conversion live in one place,
// like go-fuse's fs/api.go returning a syscall.Errno from each method.

export interface FsStat {
  /** Type bits included (S_IFDIR | 0o755, ...). */
  mode: number;
  nlink: number;
  size: number;
  uid: number;
  gid: number;
  blksize: number;
  blocks: number;
  atime: Date;
  mtime: Date;
  ctime: Date;
}

export interface FsStatfs {
  bsize: number;
  frsize: number;
  namemax: number;
}

export interface FsDirListing {
  names: string[];
  /** One per name, so that readdir carries each entry's type (d_type). */
  stats: FsStat[];
}

/** What the kernel must forget after a change: [directory, name] entries and directories
 * whose attributes changed, as paths relative to the root. */
export interface StaleNames {
  entries: Array<[string, string]>;
  inodes: string[];
}

export interface FsOps {
  /** After a write: the names and attributes the kernel caches that it made untrue. Without
   * it the kernel is told nothing, so such a file system must be mounted without caching. */
  readonly takeStaleNames?: (() => StaleNames) | undefined;
  /** Right after a write (done or refused): what makes the events it caused readable, to be
   * called once the kernel has forgotten what the write made untrue. Absent: no events. */
  readonly takePublisher?: (() => () => void) | undefined;
  /** The mount is going: waiting reads end. */
  shutdown?(): void;
  getattr(path: string): FsStat;
  readdir(path: string): FsDirListing;
  readlink(path: string): string;
  access(path: string, mode: number): void;
  statfs(path: string): FsStatfs;

  /** Returns a handle (> 0). */
  open(path: string, flags: number): number;
  /** Returns at most `len` bytes from `offset`; fewer (or none) at the end. */
  read(path: string, handle: number, len: number, offset: number): Buffer;
  /** For an open stream file (events): at most `len` bytes, now or, through the promise,
   * once there are some. Undefined for any other handle, which `read` serves. */
  streamRead?(handle: number, len: number): Buffer | Promise<Buffer> | undefined;
  /** `data` is owned by the callee. Returns the number of bytes taken. */
  write(path: string, handle: number, data: Buffer, offset: number): number;
  release(path: string, handle: number): void;
  truncate(path: string, size: number): void;
  ftruncate(path: string, handle: number, size: number): void;
  utimens(path: string): void;

  create(path: string, mode: number): number;
  mknod(path: string): void;
  mkdir(path: string): void;
  rmdir(path: string): void;
  unlink(path: string): void;
  rename(src: string, dest: string): void;
  link(src: string, dest: string): void;
  symlink(target: string, path: string): void;
  chmod(path: string, mode: number): void;
  chown(path: string, uid: number, gid: number): void;
}
