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
const OWNER = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };

export function statOf(node: Node, time: Date): FsStat {
  const common = { ...OWNER, blksize: BLOCK, blocks: 0, atime: time, mtime: time, ctime: time };
  switch (node.kind) {
    case 'dir':
      return { ...common, mode: S_IFDIR | node.mode, nlink: 2 + node.subdirCount(), size: 0 };
    case 'attr':
      return { ...common, mode: S_IFREG | node.mode, nlink: 1, size: node.size };
    case 'link':
      return { ...common, mode: S_IFLNK | 0o777, nlink: 1, size: 0 };
  }
}
