// Types for fuse-native 2.2.6, which ships none (clients.md §3 #20). Only what
// src/fuse/fuse-binding.ts uses is declared, and each shape follows index.js of
// that version: an op answers `cb(0 | -errno, value)`, except read/write which
// answer `cb(byteCountOrNegativeErrno)`.

declare module 'fuse-native' {
  namespace Fuse {
    interface Stat {
      mode: number;
      uid: number;
      gid: number;
      size: number;
      /** fuse-native turns an absent or 0 nlink into 1 (§3 #14), so always give it. */
      nlink: number;
      dev?: number;
      ino?: number;
      rdev?: number;
      blksize?: number;
      blocks?: number;
      atime: Date;
      mtime: Date;
      ctime: Date;
    }

    interface Statfs {
      bsize?: number;
      frsize?: number;
      blocks?: number;
      bfree?: number;
      bavail?: number;
      files?: number;
      ffree?: number;
      favail?: number;
      fsid?: number;
      flag?: number;
      namemax?: number;
    }

    type DoneCb = (code: number) => void;
    type ValueCb<T> = (code: number, value?: T) => void;

    interface Operations {
      init?(cb: DoneCb): void;
      statfs?(path: string, cb: ValueCb<Statfs>): void;
      getattr?(path: string, cb: ValueCb<Stat>): void;
      access?(path: string, mode: number, cb: DoneCb): void;
      readdir?(path: string, cb: (code: number, names?: string[], stats?: Stat[]) => void): void;
      opendir?(path: string, flags: number, cb: ValueCb<number>): void;
      releasedir?(path: string, fd: number, cb: DoneCb): void;
      readlink?(path: string, cb: ValueCb<string>): void;
      open?(path: string, flags: number, cb: ValueCb<number>): void;
      create?(path: string, mode: number, cb: ValueCb<number>): void;
      /** `buf` is native memory lent for the duration of the call only. */
      read?(path: string, fd: number, buf: Buffer, len: number, pos: number, cb: DoneCb): void;
      write?(path: string, fd: number, buf: Buffer, len: number, pos: number, cb: DoneCb): void;
      release?(path: string, fd: number, cb: DoneCb): void;
      flush?(path: string, fd: number, cb: DoneCb): void;
      fsync?(path: string, datasync: number, fd: number, cb: DoneCb): void;
      truncate?(path: string, size: number, cb: DoneCb): void;
      ftruncate?(path: string, fd: number, size: number, cb: DoneCb): void;
      utimens?(path: string, atime: number, mtime: number, cb: DoneCb): void;
      chmod?(path: string, mode: number, cb: DoneCb): void;
      chown?(path: string, uid: number, gid: number, cb: DoneCb): void;
      mknod?(path: string, mode: number, dev: number, cb: DoneCb): void;
      mkdir?(path: string, mode: number, cb: DoneCb): void;
      rmdir?(path: string, cb: DoneCb): void;
      unlink?(path: string, cb: DoneCb): void;
      rename?(src: string, dest: string, cb: DoneCb): void;
      link?(src: string, dest: string, cb: DoneCb): void;
      symlink?(src: string, dest: string, cb: DoneCb): void;
    }

    /** Per-op timeouts in ms; `false` disables one; `default` covers the rest (§3 #17). */
    type Timeouts = { default?: number } & { [op: string]: number | false | undefined };

    interface Options {
      force?: boolean;
      mkdir?: boolean;
      debug?: boolean;
      allowOther?: boolean;
      defaultPermissions?: boolean;
      /** Free text appended as `fsname=<text>`: the only way to pass options
       * fuse-native does not translate (§3 #6). */
      fsname?: string;
      subtype?: string;
      timeout?: number | false | Timeouts;
    }
  }

  class Fuse {
    constructor(mnt: string, ops: Fuse.Operations, opts?: Fuse.Options);
    readonly mnt: string;
    mount(cb: (err: Error | null) => void): void;
    unmount(cb: (err: Error | null) => void): void;
    static unmount(mnt: string, cb: (err: Error | null) => void): void;
  }

  export = Fuse;
}
