// Small builders for sysfs nodes. Attributes follow fs/sysfs: text files stat as 4096 bytes;
// a store receives the whole write (Documentation/filesystems/sysfs.rst).

import { posix } from 'node:path';
import { checkSynthUevent } from '../engine/uevent';
import type { AttrNode, DirNode, LinkNode, Node } from './node';

export const PAGE_SIZE = 4096;

export type Entries = Array<[string, Node]>;

/**
 * A directory whose entries are computed from `build`. With `version` (the machine's
 * generation, bumped by every change that adds, removes or rebinds something), the entries
 * are computed once per version instead of on every lookup: a path walk touches each
 * ancestor, and `ls -lR` walks every entry. Entry contents stay live either way, since
 * attributes read the engine when they are shown.
 */
export function dir(build: () => Entries, mode = 0o755, version?: () => number): DirNode {
  let cachedAt = -1;
  let cached: Map<string, Node> | undefined;
  let subdirs = 0;
  const entries = (): Map<string, Node> => {
    if (version !== undefined && cached !== undefined && version() === cachedAt) return cached;
    const built = new Map(build());
    subdirs = 0;
    for (const node of built.values()) if (node.kind === 'dir') subdirs++;
    if (version !== undefined) {
      cached = built;
      cachedAt = version();
    }
    return built;
  };
  return {
    kind: 'dir',
    mode,
    list: () => [...entries().keys()],
    lookup: (name) => entries().get(name),
    subdirCount: () => {
      entries();
      return subdirs;
    },
  };
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
  return link(posix.relative(fromDir, to));
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
