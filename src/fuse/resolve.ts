// The one path walker: from the root, `lookup` each component on every call and keep
// nothing, since a directory is a view of the engine's state and may have changed
// since the previous request (style.md "sysfs/": computed on every lookup).
// The kernel resolves symlinks itself before asking FUSE, so every component but the
// last is a directory in a well-formed request; anything else is ENOTDIR, as
// link_path_walk (fs/namei.c) answers for a file used as a directory.

import { Errno } from '../engine/errno';
import type { AttrNode, DirNode, LinkNode, Node, SysfsTree } from '../sysfs/node';

export function resolve(tree: SysfsTree, path: string): Node {
  return resolveOwned(tree, path).node;
}

/** The node at `path` and the owner of the deepest owned directory on the way: the
 * kernel object the node belongs to (undefined for nodes outside any owned directory). */
export function resolveOwned(tree: SysfsTree, path: string): { node: Node; owner: object | undefined } {
  let node: Node = tree.root;
  let owner: object | undefined;
  for (const name of path.split('/')) {
    if (name === '') continue;
    if (node.kind !== 'dir') throw new Errno('ENOTDIR', `${path}: not a directory on the way`);
    const next: Node | undefined = node.lookup(name);
    if (next === undefined) throw new Errno('ENOENT', `${path}: no such entry`);
    node = next;
    if (node.kind === 'dir' && node.owner !== undefined) owner = node.owner;
  }
  return { node, owner };
}

export function resolveDir(tree: SysfsTree, path: string): DirNode {
  const node = resolve(tree, path);
  if (node.kind !== 'dir') throw new Errno('ENOTDIR', `${path}: not a directory`);
  return node;
}

export function resolveLink(tree: SysfsTree, path: string): LinkNode {
  const node = resolve(tree, path);
  // readlink(2) on something that is not a symlink gives EINVAL.
  if (node.kind !== 'link') throw new Errno('EINVAL', `${path}: not a symlink`);
  return node;
}

/** The attribute behind an open handle. A node removed since open answers ENODEV,
 * as kernfs does when kernfs_get_active() fails on a removed node (fs/kernfs/file.c).
 * The open file is bound to the node it opened, not to the name: once its owner is
 * gone, a new device or group under the same path (a rescan, VFs enabled again) is
 * another kernfs node, and the old handle keeps answering ENODEV. */
export function resolveOpenAttr(tree: SysfsTree, path: string, openedOwner: object | undefined): AttrNode {
  let found: { node: Node; owner: object | undefined };
  try {
    found = resolveOwned(tree, path);
  } catch {
    throw new Errno('ENODEV', `${path}: removed while open`);
  }
  if (found.node.kind !== 'attr' || found.owner !== openedOwner) throw new Errno('ENODEV', `${path}: removed while open`);
  return found.node;
}
