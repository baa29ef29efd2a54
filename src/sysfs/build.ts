// Small builders for sysfs nodes. Attributes follow fs/sysfs: text files stat as 4096 bytes;
// a store receives the whole write (Documentation/filesystems/sysfs.rst).

import { posix } from 'node:path';
import { checkSynthUevent } from '../engine/uevent';
import type { AttrNode, DirNode, LinkNode, Node } from './node';

export const PAGE_SIZE = 4096;

export type Entries = Array<[string, Node]>;

/**
 * A directory whose entries are computed from `build`. With `version` (the machine's
 * generation, bumped by every change that adds, removes or rebinds something), the names
 * are computed once per version instead of on every lookup: a path walk touches each
 * ancestor, and `ls -lR` walks every entry. The nodes themselves are kept only for the
 * directories used last (BUILT_KEPT): a walk of a machine of 10,000 devices lists some
 * 700,000 entries, and keeping a node for each was most of the daemon's memory, while a
 * walk looks up the entries of a directory right after listing it. Entry contents stay
 * live either way, since attributes read the engine when they are shown.
 */
export function dir(build: () => Entries, mode = 0o755, version?: () => number): DirNode {
  return new ComputedDir(build, mode, version);
}

const NONE: ReadonlyMap<string, Node> = new Map();

/** dir()'s node: a class, so that the many directories of a walk share their methods
 * instead of each holding closures. */
class ComputedDir implements DirNode {
  readonly kind = 'dir';
  owner?: object;
  private cachedAt = -1;
  private names: string[] | undefined;
  /** Every built node, while the directory is among the last used. */
  private nodes: Map<string, Node> | undefined;
  /** Its directories and links, kept for the version: small, and what a warm walk asks
   * for (readlink, a subdirectory's path); only attributes are built again. NONE when it
   * has neither, as most have (an empty Map is some 150 bytes, tens of thousands of them). */
  private others: ReadonlyMap<string, Node> | undefined;
  private attrs = 0;
  private subdirs = 0;

  constructor(
    private readonly build: () => Entries,
    readonly mode: number,
    private readonly version: (() => number) | undefined,
  ) {}

  list(): string[] {
    return this.current() ? this.names!.slice() : [...this.entries().keys()];
  }

  lookup(name: string): Node | undefined {
    if (this.nodes === undefined && this.current()) {
      const other = this.others!.get(name);
      // Not kept: an attribute of it, or nothing at all (a scan costs less than a build).
      if (other !== undefined || this.attrs === 0 || !this.names!.includes(name)) return other;
    }
    return this.entries().get(name);
  }

  subdirCount(): number {
    if (!this.current()) this.entries();
    return this.subdirs;
  }

  /** Drops the built attributes; names, directories and links stay for their version. */
  drop(): void {
    this.nodes = undefined;
  }

  private current(): boolean {
    return this.version !== undefined && this.names !== undefined && this.version() === this.cachedAt;
  }

  private entries(): Map<string, Node> {
    if (this.nodes !== undefined && this.current()) {
      keep(this);
      return this.nodes;
    }
    const built = new Map(this.build());
    this.subdirs = 0;
    for (const node of built.values()) if (node.kind === 'dir') this.subdirs++;
    if (this.version === undefined) return built;
    const version = this.version();
    // Built again for the same version (its attributes were dropped): the directories and
    // links kept are the ones already handed out (the path cache, the adapter's listings
    // hold them), so the new copies, and the build's closures they would keep alive, go.
    const kept = this.cachedAt === version ? this.others : undefined;
    this.attrs = 0;
    let others: Map<string, Node> | undefined;
    for (const [name, node] of built) {
      if (node.kind === 'attr') {
        this.attrs++;
        continue;
      }
      const same = kept?.get(name);
      const use = same !== undefined && same.kind === node.kind ? same : node;
      if (use !== node) built.set(name, use);
      (others ??= new Map()).set(name, use);
    }
    this.others = others ?? NONE;
    this.nodes = built;
    this.names = [...built.keys()];
    this.cachedAt = version;
    keep(this);
    return built;
  }
}

/** How many directories keep their built nodes. A walk needs the one it is in and, for
 * `find | xargs cat`, the few it came back up to; with 256 a cold walk of 10,000 devices
 * kept each directory's nodes long enough for V8 to move them to the old generation before
 * they were dropped, and that garbage made the heap grow by some 60 MB. */
const BUILT_KEPT = 32;

/** The directories holding built nodes, least recently used first (a Set keeps insertion
 * order; using one moves it to the end). */
const keptDirs = new Set<ComputedDir>();

let lastKept: ComputedDir | undefined;

function keep(d: ComputedDir): void {
  // A walk looks up the entries of one directory in a row: nothing to move then.
  if (d === lastKept) return;
  lastKept = d;
  keptDirs.delete(d);
  keptDirs.add(d);
  if (keptDirs.size > BUILT_KEPT) {
    const oldest = keptDirs.values().next().value as ComputedDir;
    keptDirs.delete(oldest);
    oldest.drop();
  }
}

/** `node` marked as the directory of the kernel object `owner` (a device, a group): files
 * opened in it stay bound to that object (DirNode.owner). */
export function owned(owner: object, node: DirNode): DirNode {
  node.owner = owner;
  return node;
}

/** A directory with a fast lookup, for large listings (bus/pci/devices, iommu_groups). */
export function indexedDir(spec: { names: () => string[]; lookup: (name: string) => Node | undefined; subdirs: () => number }, mode = 0o755): DirNode {
  return { kind: 'dir', mode, list: spec.names, lookup: spec.lookup, subdirCount: spec.subdirs };
}

export const emptyDir = (): DirNode => dir(() => []);

export function link(target: string): LinkNode {
  return { kind: 'link', target };
}

/** A link from the directory `fromDir` to `to`, both relative to the sysfs root. */
export function relLink(fromDir: string, to: string): LinkNode {
  return link(relativePath(fromDir, to));
}

/** Not a plain path ("a/b/c"): empty, '.' or '..' components, a leading or trailing slash. */
const UNUSUAL = /(^|\/)\.{1,2}(\/|$)|\/\/|^\/|\/$/;

/** posix.relative for two plain paths from the sysfs root, without resolving both against
 * the working directory first (a directory's links are made again whenever it is built). */
export function relativePath(from: string, to: string): string {
  if (UNUSUAL.test(from) || UNUSUAL.test(to)) return posix.relative(from, to);
  const a = from === '' ? [] : from.split('/');
  const b = to === '' ? [] : to.split('/');
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  const parts: string[] = [];
  for (let k = i; k < a.length; k++) parts.push('..');
  for (let k = i; k < b.length; k++) parts.push(b[k]!);
  return parts.join('/');
}

/** A read-only text attribute (0444 unless told). `show` returns the text without its newline. */
export function ro(show: () => string, mode = 0o444): AttrNode {
  return { kind: 'attr', mode, size: PAGE_SIZE, show: () => Buffer.from(show() + '\n') };
}

/** A text attribute whose show output is used exactly (no newline added). */
export function roRaw(show: () => string, mode = 0o444): AttrNode {
  return { kind: 'attr', mode, size: PAGE_SIZE, show: () => Buffer.from(show()) };
}

/** A read-write text attribute; `store` gets the written text and throws Errno to refuse. */
export function rw(show: () => string, store: (text: string) => void, mode = 0o644): AttrNode {
  return {
    kind: 'attr',
    mode,
    size: PAGE_SIZE,
    show: () => Buffer.from(show() + '\n'),
    store: (data) => store(data.toString('latin1')),
  };
}

/** A read-write text attribute whose show output is used exactly (no newline added). */
export function rwRaw(show: () => string, store: (text: string) => void, mode = 0o644): AttrNode {
  return { ...roRaw(show, mode), store: (data) => store(data.toString('latin1')) };
}

/** A write-only attribute (0200, or 0220 for `remove`). Reading it is EIO in sysfs; modes keep readers out. */
export function wo(store: (text: string) => void, mode = 0o200): AttrNode {
  return {
    kind: 'attr',
    mode,
    size: PAGE_SIZE,
    show: () => Buffer.alloc(0),
    store: (data) => store(data.toString('latin1')),
  };
}


/** A device's `uevent` (drivers/base/core.c uevent_show): one "KEY=value\n" line per variable
 * the device's kset adds (nothing at all for a device without a bus or a class, or one whose
 * bus and class add nothing: an empty file). A write is a synthetic uevent (uevent_store). */
export function uevent(vars: () => string[], synth: (raw: string) => void = checkSynthUevent): AttrNode {
  return rwRaw(() => vars().map((v) => v + '\n').join(''), synth);
}

/** The write-only `uevent` of a driver, a bus or a module (0200): a synthetic uevent. */
export function ueventTrigger(): AttrNode {
  return wo(checkSynthUevent);
}
