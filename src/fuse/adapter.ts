// Serves a SysfsTree as FsOps, with the behaviour sysfs (kernfs) has for each
// operation. Every method is synchronous: handlers run one at a time on the JS thread
// (clients.md §3 #18), so a store's checks and its effect happen with nothing in
// between, which is the serialisation the kernel gets from its kernfs locks.

import { constants } from 'node:fs';
import { Errno } from '../engine/errno';
import { PAGE_SIZE } from '../sysfs/build';
import type { SysfsTree } from '../sysfs/node';
import type { FsDirListing, FsOps, FsStat, FsStatfs, StaleNames } from './fs-ops';
import { KernelNames } from './kernel-names';
import { OpenFiles } from './open-files';
import { PathCache } from './path-cache';
import { hashNames, hashStats, SharedArrays } from './shared-arrays';
import { StreamReads } from './streams';
import { StatTable } from './stat';

// O_ACCMODE is not in node's fs.constants; it is 3 on Linux (include/uapi/asm-generic/fcntl.h).
const O_ACCMODE = 0o3;
const S_IRUGO = 0o444;
const S_IWUGO = 0o222;

export interface SysfsFsOptions {
  /** What every node's atime/mtime/ctime shows; the mount's start time by default. */
  time?: Date;
  /** Called after every successful store (the daemon saves its --state file there). */
  afterWrite?: () => void;
  /** Called whenever a write's events became readable (`iommufs run` sends its uevents then). */
  afterPublish?: () => void;
}

export class SysfsFs implements FsOps {
  readonly time: Date;
  readonly openFiles = new OpenFiles();
  /** What the kernel caches of the tree, so that a change can tell it what to forget. */
  private readonly kernelNames = new KernelNames();

  private readonly afterWrite: (() => void) | undefined;
  private readonly streams = new StreamReads();
  private readonly paths: PathCache;
  private readonly stats: StatTable;
  private readonly version: () => number;
  /** Listings by directory node (a node that goes takes its listing with it), each with
   * the version of the tree it was made for. */
  private readonly listings = new WeakMap<object, FsDirListing & { version: number }>();
  /** The listings' arrays, one for all directories that list alike. */
  private readonly names = new SharedArrays<string>();
  private readonly statLists = new SharedArrays<FsStat>();

  constructor(tree: SysfsTree, opts: SysfsFsOptions = {}) {
    this.time = opts.time ?? new Date();
    this.afterWrite = opts.afterWrite;
    this.paths = new PathCache(tree);
    this.stats = new StatTable(this.time);
    this.version = (): number => tree.version();
    const gate = tree.events;
    const afterPublish = opts.afterPublish;
    this.takePublisher =
      gate === undefined
        ? undefined
        : (): (() => void) => {
            const mark = gate.mark();
            return () => {
              gate.publish(mark);
              this.streams.wake();
              afterPublish?.();
            };
          };
    const drain = tree.drainChangedRegions?.bind(tree);
    this.takeStaleNames =
      drain === undefined
        ? undefined
        : (): StaleNames => {
            const regions = drain();
            if (regions === undefined) return { entries: [], inodes: [] };
            return this.kernelNames.stale(regions, (dirPath) => {
              const node = this.paths.find(dirPath);
              return { node, nlink: node?.kind === 'dir' ? 2 + node.subdirCount() : 0 };
            });
          };
  }

  getattr(path: string): FsStat {
    const node = this.paths.resolve(path);
    const stat = this.stats.of(node);
    this.kernelNames.served(path, node, stat.nlink, this.listingOf);
    return stat;
  }

  /** The listing readdir serves now for a directory, if one is kept. */
  private readonly listingOf = (dirPath: string): FsDirListing | undefined => {
    const dir = this.paths.find(dirPath);
    const cached = dir === undefined ? undefined : this.listings.get(dir);
    return cached !== undefined && cached.version === this.version() ? cached : undefined;
  };

  /** The cached names and directory attributes that the changes since the last call
   * made untrue (none when nothing changed). Called after every write; absent for a
   * tree that tracks no changes, which is then mounted without kernel caching. */
  readonly takeStaleNames: (() => StaleNames) | undefined;

  readonly takePublisher: (() => () => void) | undefined;

  /** The mount goes: waiting stream reads read end of file. */
  shutdown(): void {
    this.streams.end();
  }

  /** Entries with their stats so readdir gives each its d_type (`find -type l`, §3 #15).
   * kernfs_fop_readdir emits '.' and '..' first (dir_emit_dots); libfuse 2.9's
   * high-level API adds nothing, so they are listed here. */
  readdir(path: string): FsDirListing {
    const dir = this.paths.resolveDir(path);
    // One listing per directory node and version: a walk lists every directory, and a
    // warm walk lists them all again while nothing changed.
    const version = this.version();
    const cached = this.listings.get(dir);
    if (cached !== undefined && cached.version === version) return cached;
    // Arrays of the exact size: grown by push, a kept listing held up to twice its entries.
    const list = dir.list();
    const names = new Array<string>(list.length + 2);
    const stats = new Array<FsStat>(list.length + 2);
    names[0] = '.';
    names[1] = '..';
    stats[0] = stats[1] = this.stats.entry(dir);
    let n = 2;
    for (const name of list) {
      const node = dir.lookup(name);
      if (node === undefined) continue; // listed but gone: nothing to show
      names[n] = name;
      stats[n++] = this.stats.entry(node);
    }
    names.length = stats.length = n;
    const listing = { version, names: this.names.share(version, names, hashNames(names)), stats: this.statLists.share(version, stats, hashStats(stats)) };
    this.listings.set(dir, listing);
    return listing;
  }

  readlink(path: string): string {
    return this.paths.resolveLink(path).target;
  }

  /** Only reached without default_permissions; existence is then all we check. */
  access(path: string): void {
    this.paths.resolve(path);
  }

  statfs(): FsStatfs {
    return { bsize: 4096, frsize: 4096, namemax: 255 };
  }

  /** kernfs_fop_open (fs/kernfs/file.c) refuses with EACCES, for root too, a read-open
   * of a file without any read bit and a write-open of one without any write bit or
   * without a store; the DAC check (default_permissions) cannot do that for root.
   * show() is not called here: as in sysfs, its errors belong to read(). */
  open(path: string, flags: number): number {
    const { node, owner } = this.paths.resolveOwned(path);
    if (node.kind === 'dir') throw new Errno('EISDIR', `${path}: is a directory`);
    if (node.kind === 'link') throw new Errno('EINVAL', `${path}: open of a symlink itself`);
    const access = flags & O_ACCMODE;
    const wantsRead = access === constants.O_RDONLY || access === constants.O_RDWR;
    const wantsWrite = access === constants.O_WRONLY || access === constants.O_RDWR;
    if (wantsRead && (node.mode & S_IRUGO) === 0) throw new Errno('EACCES', `${path}: not readable`);
    if (wantsWrite && ((node.mode & S_IWUGO) === 0 || node.store === undefined)) {
      throw new Errno('EACCES', `${path}: not writable`);
    }
    return this.openFiles.add(path, flags, owner, node.stream?.());
  }

  /** A read from offset 0 calls show() afresh (as seq_file does after a seek to 0:
   * "lseek to 0 and read" is how sysfs readers refresh); later offsets are served from
   * that snapshot. Clamped to the content, as libfuse's hello.c does. */
  /** A stream has no offsets (trace_pipe is not seekable): every read takes what is next. */
  streamRead(handle: number, len: number): Buffer | Promise<Buffer> | undefined {
    const file = this.openFiles.get(handle);
    if (file.stream === undefined) return undefined;
    return this.streams.read(file.stream, len, (file.flags & constants.O_NONBLOCK) !== 0);
  }

  read(path: string, handle: number, len: number, offset: number): Buffer {
    const file = this.openFiles.get(handle);
    if (offset === 0 || file.snapshot === undefined) {
      file.snapshot = this.paths.resolveOpenAttr(path, file.owner).show();
    }
    const text = file.snapshot;
    const start = Math.min(offset, text.length);
    return text.subarray(start, Math.min(start + len, text.length));
  }

  /** The answer is the byte count, as sysfs_kf_write returns it. Nothing awaits between
   * store's checks and its effect: it is one synchronous call.
   *
   * kernfs_fop_write_iter (fs/kernfs/file.c): a text attribute takes one whole write of
   * at most a page (its atomic_write_len) and refuses a longer one with E2BIG before
   * store() sees any of it. FUSE hands a long write(2) over in chunks of up to 128 KiB,
   * and the first is already over a page, so nothing of it is applied. Text attributes
   * ignore the offset, so an O_APPEND write arriving at offset 4096 works.
   * A binary attribute (`config`) takes at most a page per call, from its offset, and
   * sysfs_kf_bin_write (fs/sysfs/file.c) answers EFBIG at or past its end and shortens
   * a write that runs over it. */
  write(path: string, handle: number, data: Buffer, offset: number): number {
    const file = this.openFiles.get(handle);
    // sysfs_kf_write returns 0 for an empty write without calling store.
    if (data.length === 0) return 0;
    const node = this.paths.resolveOpenAttr(path, file.owner);
    if (node.store === undefined) throw new Errno('EACCES', `${path}: not writable`);
    let taken = data;
    if (node.binary === true) {
      if (offset >= node.size) throw new Errno('EFBIG', `${path}: write at ${offset}, past the end (${node.size})`);
      taken = data.subarray(0, Math.min(data.length, PAGE_SIZE, node.size - offset));
    } else if (data.length > PAGE_SIZE) {
      throw new Errno('E2BIG', `${path}: a write of ${data.length} bytes is over a page`);
    }
    node.store(taken, offset);
    file.snapshot = undefined; // the next read shows the new state
    this.afterWrite?.();
    return taken.length;
  }

  release(_path: string, handle: number): void {
    const stream = this.openFiles.get(handle).stream;
    if (stream !== undefined) {
      this.streams.closed(stream);
      stream.close();
    }
    this.openFiles.remove(handle);
  }

  /** `echo 1 > attr` and Python's "w" open with O_TRUNC, which FUSE 2.9 sends as a
   * separate truncate (§3 #10); kernfs_iop_setattr accepts and ignores a size change. */
  truncate(path: string): void {
    this.truncatable(path);
  }

  ftruncate(path: string): void {
    this.truncatable(path);
  }

  /** `touch` on sysfs succeeds for root; the times are not kept (one constant time). */
  utimens(path: string): void {
    this.paths.resolve(path);
  }

  /** Creating a file in a sysfs directory: kernfs dirs have no ->create, and
   * lookup_open (fs/namei.c) answers EACCES ("can't create …: Permission denied" in
   * the recordings). mknod(2) of a regular file ends here too, with the same answer:
   * do_mknodat sends S_IFREG to vfs_create (EACCES without ->create), and libfuse 2.9's
   * fuse_lib_mknod tries create() first for S_ISREG. */
  create(path: string): number {
    throw new Errno('EACCES', `${path}: sysfs directories take no new files`);
  }

  /** vfs_mknod (FIFOs, sockets, devices), vfs_unlink, vfs_symlink, vfs_link (fs/namei.c)
   * give EPERM when the directory has no such inode op, which kernfs dirs do not have;
   * kernfs_iop_mkdir, kernfs_iop_rmdir and kernfs_iop_rename (fs/kernfs/dir.c) give EPERM
   * without the syscall_ops that only cgroupfs provides. */
  mknod(path: string): void {
    throw new Errno('EPERM', `${path}: sysfs refuses mknod`);
  }

  mkdir(path: string): void {
    throw new Errno('EPERM', `${path}: sysfs refuses mkdir`);
  }

  rmdir(path: string): void {
    throw new Errno('EPERM', `${path}: sysfs refuses rmdir`);
  }

  unlink(path: string): void {
    throw new Errno('EPERM', `${path}: sysfs refuses unlink`);
  }

  rename(src: string): void {
    throw new Errno('EPERM', `${src}: sysfs refuses rename`);
  }

  link(_src: string, dest: string): void {
    throw new Errno('EPERM', `${dest}: sysfs refuses hard links`);
  }

  symlink(_target: string, path: string): void {
    throw new Errno('EPERM', `${path}: sysfs refuses symlink`);
  }

  /** Real kernfs lets root change modes and owners and keeps them; the simulator does
   * not keep per-node attributes, so it refuses rather than pretend. */
  chmod(path: string): void {
    throw new Errno('EPERM', `${path}: mode changes are not simulated`);
  }

  chown(path: string): void {
    throw new Errno('EPERM', `${path}: owner changes are not simulated`);
  }

  private truncatable(path: string): void {
    const node = this.paths.resolve(path);
    if (node.kind === 'dir') throw new Errno('EISDIR', `${path}: is a directory`);
  }
}
