// The one path walker, with the directories it found kept by path for one version of the
// tree (SysfsTree.version: every change moves it on). A walk from the root through
// computed directories on every request was most of a lookup's cost; now a path costs a
// map lookup for its directory and one lookup in it.
// The kernel resolves symlinks itself before asking FUSE, so every component but the
// last is a directory in a well-formed request; anything else is ENOTDIR, as
// link_path_walk (fs/namei.c) answers for a file used as a directory.

import { Errno } from '../engine/errno';
import type { AttrNode, DirNode, LinkNode, Node, SysfsTree } from '../sysfs/node';

/** Cached paths above this are dropped wholesale rather than grown without bound. */
const MAX_PATHS = 1 << 20;

function trim(path: string): string {
  let p = path.startsWith('/') ? path.slice(1) : path;
  if (p.endsWith('/')) p = p.slice(0, -1);
  return p;
}

export class PathCache {
  private nodes = new Map<string, Node>();
  private at = Number.NaN;

  constructor(private readonly tree: SysfsTree) {}

  /** The node at `path` (relative or absolute), or undefined; ENOTDIR when a file stands
   * where a directory should. */
  find(path: string): Node | undefined {
    const v = this.tree.version();
    if (v !== this.at || this.nodes.size > MAX_PATHS) {
      this.nodes = new Map();
      this.at = v;
    }
    return this.walk(trim(path), path);
  }

  resolve(path: string): Node {
    const node = this.find(path);
    if (node === undefined) throw new Errno('ENOENT', `${path}: no such entry`);
    return node;
  }

  resolveDir(path: string): DirNode {
    const node = this.resolve(path);
    if (node.kind !== 'dir') throw new Errno('ENOTDIR', `${path}: not a directory`);
    return node;
  }

  resolveLink(path: string): LinkNode {
    const node = this.resolve(path);
    // readlink(2) on something that is not a symlink gives EINVAL.
    if (node.kind !== 'link') throw new Errno('EINVAL', `${path}: not a symlink`);
    return node;
  }

  /** The node at `path` and the owner of the deepest owned directory on the way
   * (DirNode.owner: the device or group the node belongs to), undefined outside any. */
  resolveOwned(path: string): { node: Node; owner: object | undefined } {
    const node = this.resolve(path);
    const full = trim(path);
    // Every directory on the way is in the cache now that the path resolved.
    let owner: object | undefined;
    for (let rel = full; owner === undefined && rel !== ''; rel = rel.slice(0, Math.max(0, rel.lastIndexOf('/')))) {
      const at = rel === full ? node : this.nodes.get(rel);
      if (at !== undefined && at.kind === 'dir') owner = at.owner;
    }
    return { node, owner };
  }

  /** The attribute behind an open handle. A node removed since open answers ENODEV,
   * as kernfs does when kernfs_get_active() fails on a removed node (fs/kernfs/file.c).
   * The open file is bound to the node it opened, not to the name: once its owner is
   * gone, a new device or group under the same path (a rescan, VFs enabled again) is
   * another kernfs node, and the old handle keeps answering ENODEV. */
  resolveOpenAttr(path: string, openedOwner: object | undefined): AttrNode {
    let found: { node: Node; owner: object | undefined };
    try {
      found = this.resolveOwned(path);
    } catch {
      throw new Errno('ENODEV', `${path}: removed while open`);
    }
    if (found.node.kind !== 'attr' || found.owner !== openedOwner) throw new Errno('ENODEV', `${path}: removed while open`);
    return found.node;
  }

  private walk(rel: string, asked: string): Node | undefined {
    if (rel === '') return this.tree.root;
    const hit = this.nodes.get(rel);
    if (hit !== undefined) return hit;
    const at = rel.lastIndexOf('/');
    const parent = at < 0 ? this.tree.root : this.walk(rel.slice(0, at), asked);
    if (parent === undefined) return undefined;
    if (parent.kind !== 'dir') throw new Errno('ENOTDIR', `${asked}: not a directory on the way`);
    const node = parent.lookup(at < 0 ? rel : rel.slice(at + 1));
    // Directories only: a file or link costs one lookup in its cached parent, and keeping
    // every node of a large machine by path would double the daemon's memory.
    if (node !== undefined && node.kind === 'dir') this.nodes.set(rel, node);
    return node;
  }
}
