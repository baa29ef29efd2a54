// The sysfs tree as nodes. A directory is a view computed from the engine on every
// lookup; an attribute is a show()/store() pair over the engine, as the kernel's
// `struct device_attribute` is (include/linux/device.h). Nothing here holds a copy of state.

import type { ChangedRegions } from './change-scope';
import type { EventGate } from './event-files';

export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;

export interface DirNode {
  kind: 'dir';
  /** Permission bits only (0755 for sysfs dirs). */
  mode: number;
  /** Names in the order `ls -f` would give; the adapter sorts if it needs to. */
  list(): string[];
  lookup(name: string): Node | undefined;
  /** Number of subdirectories, for nlink = 2 + subdirs (virt-host-validate reads it). */
  subdirCount(): number;
  /** The kernel object this directory stands for (a device, a group), where one can go
   * and another take its name: kernfs nodes belong to their kobject, so a file opened
   * under one owner stays bound to it (see fuse/open-files.ts). */
  owner?: object;
}

export interface AttrNode {
  kind: 'attr';
  /** Permission bits only (0444, 0644, 0200, ...). */
  mode: number;
  /** What stat reports: 4096 for text attributes, the real size for binary ones (`config`). */
  size: number;
  /** A `bin_attribute` (include/linux/sysfs.h): writes honour the offset and stop at
   * `size` instead of being one whole text of at most a page. */
  binary?: boolean;
  /** The current content; taken once at open so that a reader sees one consistent text. */
  show(): Buffer;
  /** Absent for read-only attributes. Throws Errno on refusal and changes nothing then.
   * `offset` matters only for binary attributes (config); text attributes ignore it. */
  store?(data: Buffer, offset: number): void;
  /** A file read as a stream (trace_pipe-like): each open gets a stream of its own, and
   * reads take from it instead of show(). */
  stream?(): LineStream;
}

/** What one open of a stream file reads (sysfs/event-files.ts). */
export interface LineStream {
  /** What is readable now, at most `maxBytes` (whole lines when they fit); empty: nothing yet. */
  read(maxBytes: number): Buffer;
  /** Whether a read would give something now. */
  ready(): boolean;
  /** The open is gone: stop following. */
  close(): void;
}

export interface LinkNode {
  kind: 'link';
  target: string;
}

export type Node = DirNode | AttrNode | LinkNode;

/** The root of a simulated /sys. */
export interface SysfsTree {
  root: DirNode;
  /** Moves on with every change of what the tree shows; a node found by path stays the
   * node at that path while it does not move. */
  version(): number;
  /** The regions (change-scope.ts) whose names may have changed since the previous call,
   * or undefined when nothing changed. Absent when no change log tracks the tree: then
   * the kernel may cache nothing. */
  drainChangedRegions?(): ChangedRegions | undefined;
  /** The horizon of the event files, moved by the FUSE layer after each write. */
  events?: EventGate;
}

/** A tree over state that no change log tracks (hand-built trees in tests): nothing is
 * kept by path, and the mount gives the kernel timeouts of 0. */
export function untrackedTree(root: DirNode): SysfsTree {
  let v = 0;
  return { root, version: () => v++ };
}
