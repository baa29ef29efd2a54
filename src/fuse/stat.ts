// What stat(2) shows for a sysfs node, as kernfs fills it (fs/kernfs/inode.c
// kernfs_refresh_inode / kernfs_init_inode): root-owned (see OWNER); directories with size 0 and
// nlink = 2 + subdirectories (kernfs counts subdirs in `dir.subdirs`;
// virt-host-validate reads it, clients.md §0 #5); attributes with the size the
// attribute declares (4096 for text, the real size for `config`); symlinks 0777 and
// size 0. fuse-native would default nlink to 1 and needs the type bits and Dates
// (§3 #14), so every field is given. kernfs keeps no per-node times we could copy, so
// every node carries the mount's start time.

import { S_IFDIR, S_IFLNK, S_IFREG, type Node } from '../sysfs/node';
import type { FsStat } from './fs-ops';

const BLOCK = 4096;

/** The owner every node reports: root, as kernfs has it, when the daemon is root; else the
 * daemon's own user, which `iommufs run`'s user namespace (`unshare -Urm`) maps to root,
 * so that inside it the tree is root's as sysfs is and the modes let root write (a uid 0
 * the namespace does not map would show as nobody, and every 0200 file would refuse). */
const OWNER_UID = process.getuid?.() ?? 0;
const OWNER_GID = process.getgid?.() ?? 0;

/**
 * The stats of one mount, shared: nodes differ only in type, mode, link count and size, and
 * every node shows the mount's one time, so a few hundred objects serve a tree of a million
 * nodes (fuse-native only reads them). A listing of 70,000 entries allocated as many
 * objects per walk, which was most of the daemon's garbage.
 */
export class StatTable {
  private readonly shared = new Map<number | string, FsStat>();

  constructor(private readonly time: Date) {}

  /** What stat(2) shows for `node`. */
  of(node: Node): FsStat {
    switch (node.kind) {
      case 'dir':
        return this.get(S_IFDIR | node.mode, 2 + node.subdirCount(), 0);
      case 'attr':
        return this.get(S_IFREG | node.mode, 1, node.size);
      case 'link':
        return this.get(S_IFLNK | 0o777, 1, 0);
    }
  }

  /** What a directory listing carries per entry. libfuse 2.9's readdir filler passes on only
   * st_ino and the type bits of st_mode (lib/fuse.c fill_dir → fuse_add_direntry: d_type),
   * so a listing does not count each subdirectory's own subdirectories for nlink. */
  entry(node: Node): FsStat {
    return node.kind === 'dir' ? this.get(S_IFDIR | node.mode, 2, 0) : this.of(node);
  }

  private get(mode: number, nlink: number, size: number): FsStat {
    // mode < 2^16, size < 2^16 and nlink < 2^20 pack exactly into a double's 53 bits; BAR
    // files are larger, and a few sizes recur over thousands of devices.
    const key = size < 0x10000 && nlink < 0x100000 ? (mode * 0x10000 + size) * 0x100000 + nlink : `${mode} ${nlink} ${size}`;
    let st = this.shared.get(key);
    if (st === undefined) {
      st = this.make(mode, nlink, size);
      this.shared.set(key, st);
    }
    return st;
  }

  private make(mode: number, nlink: number, size: number): FsStat {
    const t = this.time;
    return Object.freeze({ mode, nlink, size, uid: OWNER_UID, gid: OWNER_GID, blksize: BLOCK, blocks: 0, atime: t, mtime: t, ctime: t });
  }
}
