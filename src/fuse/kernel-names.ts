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
import { S_IFDIR, S_IFREG } from '../sysfs/node';
import type { FsDirListing, FsStat, StaleNames } from './fs-ops';

/** What the kernel was told a name is: a link by its target; a directory or attribute
 * by a number packing its type, mode and size. */
type CachedName = string | number;

/** A directory by its mode, negative; an attribute by mode and size, which fit a small
 * integer (a V8 Smi, stored in the map itself rather than as a boxed number) for every
 * size below 2^17 (text attributes are 4096 bytes, config at most 4096). */
function describe(node: Node): CachedName {
  if (node.kind === 'link') return node.target;
  return node.kind === 'dir' ? dirName(node.mode) : attrName(node.mode, node.size);
}

const dirName = (mode: number): number => -1 - mode;
// mode < 2^12: exact in a double either way.
const attrName = (mode: number, size: number): number => (size < 2 ** 17 ? mode * 2 ** 17 + size : mode * 2 ** 40 + size);

/** The same number for an entry of a listing (its stat); undefined for a link, whose
 * listing entry does not carry its target. */
function describeStat(st: FsStat): number | undefined {
  const type = st.mode & 0o170000;
  if (type === S_IFDIR) return dirName(st.mode & 0o7777);
  if (type === S_IFREG) return attrName(st.mode & 0o7777, st.size);
  return undefined;
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

/**
 * The names the kernel holds in one directory. After a walk it holds nearly every name of
 * the directory's listing, so those are counted as bits over the listing served (the
 * adapter's, kept for the directory's version anyway): which entries, each as the listing
 * describes it. Names the listing does not describe (links, whose target it does not
 * carry; a name served otherwise than listed) are kept by name. A machine of 10,000
 * devices has some 700,000 names: a map entry and a value each was 50 MB.
 */
interface CachedDir {
  listing: FsDirListing | undefined;
  /** Bits over listing.names: 30 per element (small integers). */
  held: number[];
  /** Where the last name was found in the listing: a walk asks for them in order. */
  cursor: number;
  other: Map<string, CachedName> | undefined;
  /** The link count served for the directory itself, when its attributes were served. */
  nlink: number | undefined;
}

const BITS = 30;
const isHeld = (held: readonly number[], i: number): boolean => ((held[(i / BITS) | 0] ?? 0) & (1 << i % BITS)) !== 0;
function setHeld(d: CachedDir, i: number, on: boolean): void {
  const w = (i / BITS) | 0;
  // Grown to the exact size: push gives an empty array room for 16 words, and there are
  // tens of thousands of directories, most holding one word.
  if (d.held.length <= w) d.held = Array.from({ length: w + 1 }, (_, k) => d.held[k] ?? 0);
  d.held[w] = on ? d.held[w]! | (1 << i % BITS) : d.held[w]! & ~(1 << i % BITS);
}

/** Listings of many names get an index; in the others a name is found by a short scan. */
const INDEXED = 64;
const indexes = new WeakMap<FsDirListing, Map<string, number>>();

function indexOf(d: CachedDir, listing: FsDirListing, name: string): number {
  const names = listing.names;
  if (names[d.cursor] === name) return d.cursor;
  if (names.length > INDEXED) {
    let index = indexes.get(listing);
    if (index === undefined) {
      index = new Map(names.map((n, i) => [n, i]));
      indexes.set(listing, index);
    }
    return index.get(name) ?? -1;
  }
  return names.indexOf(name);
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

  /** A getattr was answered for `path` with `node`: the kernel now caches it. `listingOf`
   * gives the parent's listing as readdir serves it now, if one is kept. */
  served(path: string, node: Node, nlink: number, listingOf: (dirPath: string) => FsDirListing | undefined): void {
    const [parent, name] = splitPath(path);
    if (name !== '') this.hold(this.dir(parent), name, describe(node), listingOf(parent));
    if (node.kind === 'dir') this.dir(name === '' ? '' : parent === '' ? name : `${parent}/${name}`).nlink = nlink;
  }

  private hold(d: CachedDir, name: string, what: CachedName, listing: FsDirListing | undefined): void {
    if (listing !== undefined && typeof what === 'number') {
      const i = indexOf(d, listing, name);
      if (i >= 0 && describeStat(listing.stats[i]!) === what) {
        if (d.listing !== listing) this.moveTo(d, listing);
        setHeld(d, i, true);
        d.cursor = i + 1;
        d.other?.delete(name);
        return;
      }
    }
    if (d.listing !== undefined) {
      const i = indexOf(d, d.listing, name);
      if (i >= 0) setHeld(d, i, false);
    }
    (d.other ??= new Map()).set(intern(name), what);
  }

  /** Counts the names held over another listing (the directory's next version): a name the
   * new one describes alike is a bit there, any other goes by name. */
  private moveTo(d: CachedDir, listing: FsDirListing): void {
    const old = d.listing;
    const oldHeld = d.held;
    d.listing = listing;
    d.held = [];
    d.cursor = 0;
    if (old === undefined) return;
    for (let i = 0; i < old.names.length; i++) {
      if (!isHeld(oldHeld, i)) continue;
      const name = old.names[i]!;
      const was = describeStat(old.stats[i]!)!;
      const j = indexOf(d, listing, name);
      if (j >= 0 && describeStat(listing.stats[j]!) === was) setHeld(d, j, true);
      else (d.other ??= new Map()).set(intern(name), was);
    }
    d.cursor = 0;
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
      const listing = cached.listing;
      if (listing !== undefined) {
        for (let i = 0; i < listing.names.length; i++) {
          if (!isHeld(cached.held, i)) continue;
          const name = listing.names[i]!;
          if (same(describeStat(listing.stats[i]!)!, dir.lookup(name))) continue;
          out.entries.push([dirPath, name]);
          setHeld(cached, i, false);
        }
      }
      for (const [name, was] of cached.other ?? []) {
        if (same(was, dir.lookup(name))) continue;
        out.entries.push([dirPath, name]);
        cached.other!.delete(name);
      }
      if (cached.nlink !== undefined && cached.nlink !== now.nlink) {
        out.inodes.push(dirPath);
        cached.nlink = undefined;
      }
    }
    return out;
  }

  private dir(path: string): CachedDir {
    let d = this.dirs.get(path);
    if (d === undefined) {
      // Every field from the start: one added later goes to a separate property array.
      d = { listing: undefined, held: [], cursor: 0, other: undefined, nlink: undefined };
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
