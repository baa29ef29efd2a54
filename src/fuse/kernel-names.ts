// The names the kernel holds in its caches over the mount: every path it looked up (a
// LOOKUP reaches libfuse's high-level API as a getattr of the path), what kind of node it
// was told that path is, the link target, and a directory's link count (its cached
// attributes). With long entry and attribute timeouts the kernel keeps these until told
// otherwise, so after each change the entries in the changed regions are checked against
// the tree as it is now, and the ones that no longer hold are handed to the notifier.
//
// Readdir does not create kernel entries in FUSE 2.9 (no READDIRPLUS), link targets are
// not cached (no FUSE_CACHE_SYMLINKS) and file data is not (direct_io), so names and
// directory attributes are all that can go stale. Entries that appear need nothing:
// negative lookups are not cached (negative_timeout=0).

import { regionOf, SPINE, type ChangedRegions } from '../sysfs/change-scope';
import type { Node } from '../sysfs/node';
import type { StaleNames } from './fs-ops';

/** What the kernel was told a name is, in as little memory as a machine of 10,000
 * devices (some 700,000 names) allows: a link by its target; a directory or attribute
 * by a number packing its type, mode and size. */
type CachedName = string | number;

/** A directory by its mode, negative; an attribute by mode and size, which fit a small
 * integer (a V8 Smi, stored in the map itself rather than as a boxed number) for every
 * size below 2^17 (text attributes are 4096 bytes, config at most 4096). */
function describe(node: Node): CachedName {
  if (node.kind === 'link') return node.target;
  if (node.kind === 'dir') return -1 - node.mode;
  // mode < 2^12: exact in a double either way.
  return node.size < 2 ** 17 ? node.mode * 2 ** 17 + node.size : node.mode * 2 ** 40 + node.size;
}

function same(was: CachedName, is: Node | undefined): boolean {
  return is !== undefined && describe(is) === was;
}

/** One copy of each name: a name cut from a request's path would keep the whole path alive,
 * and most names (vendor, power, ...) recur under every device. */
const names = new Map<string, string>();
function intern(name: string): string {
  let canonical = names.get(name);
  if (canonical === undefined) {
    canonical = Buffer.from(name, 'utf8').toString('utf8');
    names.set(canonical, canonical);
  }
  return canonical;
}

interface CachedDir {
  names: Map<string, CachedName>;
  /** The link count served for the directory itself, when its attributes were served. */
  nlink?: number;
}


/** Splits '/a/b/c' into ['a/b', 'c']; the root is ['', '']. */
export function splitPath(path: string): [string, string] {
  const trimmed = path.startsWith('/') ? path.slice(1) : path;
  const at = trimmed.lastIndexOf('/');
  return at < 0 ? ['', trimmed] : [trimmed.slice(0, at), trimmed.slice(at + 1)];
}

/** Whether a path lies under one of `roots` (checked by its ancestors: a path is a few
 * levels deep, while a rescan may report hundreds of devices). */
function isBelow(path: string, roots: Set<string>): boolean {
  for (let at = path.lastIndexOf('/'); at > 0; at = path.lastIndexOf('/', at - 1)) {
    if (roots.has(path.slice(0, at))) return true;
  }
  return false;
}

export class KernelNames {
  private readonly dirs = new Map<string, CachedDir>();
  private readonly byRegion = new Map<string, Set<string>>();

  /** A getattr was answered for `path` with `node`: the kernel now caches it. */
  served(path: string, node: Node, nlink: number): void {
    const [parent, name] = splitPath(path);
    if (name !== '') {
      this.dir(parent).names.set(intern(name), describe(node));
    }
    if (node.kind === 'dir') this.dir(name === '' ? '' : parent === '' ? name : `${parent}/${name}`).nlink = nlink;
  }

  /** The cached names in `regions` that `lookup` no longer
   * confirms; they are forgotten here too. `lookup` resolves a directory path of the tree
   * as it is now, undefined when it is gone. */
  stale(changed: ChangedRegions, lookup: (dirPath: string) => { node: Node | undefined; nlink: number }): StaleNames {
    const out: StaleNames = { entries: [], inodes: [] };
    const regions = new Set(changed.regions);
    if (changed.below.size > 0) {
      for (const r of this.byRegion.keys()) if (isBelow(r, changed.below)) regions.add(r);
    }
    const paths = [...regions].flatMap((r) => [...(this.byRegion.get(r) ?? [])]);
    for (const dirPath of paths) {
      const cached = this.dirs.get(dirPath);
      if (cached === undefined) continue;
      const now = lookup(dirPath);
      if (now.node === undefined || now.node.kind !== 'dir') {
        // Gone: its own name in its parent is checked there; nothing below can be reached.
        this.forgetDir(dirPath);
        continue;
      }
      const dir = now.node;
      for (const [name, was] of cached.names) {
        if (same(was, dir.lookup(name))) continue;
        out.entries.push([dirPath, name]);
        cached.names.delete(name);
      }
      if (cached.nlink !== undefined && cached.nlink !== now.nlink) {
        out.inodes.push(dirPath);
        delete cached.nlink;
      }
    }
    return out;
  }

  private dir(path: string): CachedDir {
    let d = this.dirs.get(path);
    if (d === undefined) {
      d = { names: new Map() };
      path = Buffer.from(path, 'utf8').toString('utf8'); // not a slice of a request's path
      this.dirs.set(path, d);
      const region = path === '' ? SPINE : regionOf(path);
      let set = this.byRegion.get(region);
      if (set === undefined) {
        set = new Set();
        this.byRegion.set(region, set);
      }
      set.add(path);
    }
    return d;
  }

  private forgetDir(path: string): void {
    this.dirs.delete(path);
    this.byRegion.get(path === '' ? SPINE : regionOf(path))?.delete(path);
  }
}
