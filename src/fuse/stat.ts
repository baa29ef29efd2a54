// What stat(2) shows for a sysfs node, as kernfs fills it (fs/kernfs/inode.c
// kernfs_refresh_inode / kernfs_init_inode): root-owned; directories with size 0 and
// nlink = 2 + subdirectories (kernfs counts subdirs in `dir.subdirs`;
// virt-host-validate reads it, clients.md §0 #5); attributes with the size the
// attribute declares (4096 for text, the real size for `config`); symlinks 0777 and
// size 0. fuse-native would default nlink to 1 and needs the type bits and Dates
// (§3 #14), so every field is given. kernfs keeps no per-node times we could copy, so
// every node carries the mount's start time.

import { S_IFDIR, S_IFLNK, S_IFREG, type Node } from '../sysfs/node';
import type { FsStat } from './fs-ops';

const BLOCK = 4096;

/** What a directory listing carries per entry. libfuse 2.9's readdir filler passes on only
 * st_ino and the type bits of st_mode (lib/fuse.c fill_dir → fuse_add_direntry: d_type),
 * so a listing does not count each subdirectory's own subdirectories for nlink. */
export function entryStatOf(node: Node, time: Date): FsStat {
  return node.kind === 'dir' ? stat(S_IFDIR | node.mode, 2, 0, time) : statOf(node, time);
}

function stat(mode: number, nlink: number, size: number, time: Date): FsStat {
  return { mode, nlink, size, uid: 0, gid: 0, blksize: BLOCK, blocks: 0, atime: time, mtime: time, ctime: time };
}

export function statOf(node: Node, time: Date): FsStat {
  switch (node.kind) {
    case 'dir':
      return stat(S_IFDIR | node.mode, 2 + node.subdirCount(), 0, time);
    case 'attr':
      return stat(S_IFREG | node.mode, 1, node.size, time);
    case 'link':
      return stat(S_IFLNK | 0o777, 1, 0, time);
  }
}
