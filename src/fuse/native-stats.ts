// The stats fuse-binding.ts hands to fuse-native, one array per stat object. fuse-native
// 2.2.6 passes every stat to its native side as a Uint32Array(18) made afresh per answer
// (index.js getStatArray): 72 bytes, more than V8 keeps inside its heap (64), so each is an
// ArrayBuffer with a store of its own outside the heap, freed only by a collection. A cold
// `ls -lR` of 10,000 devices answers about 1.4 million of them (a getattr per name, a stat
// per listed entry): 20-30 MB of malloc'd garbage still held at the end of the walk. The
// mount's stats are a few hundred shared frozen objects (stat.ts), so each gets its array once.

import type FuseNative from 'fuse-native';

const TWO_32 = 4294967296;

function setDouble(ints: Uint32Array, at: number, n: number): void {
  ints[at] = n % TWO_32;
  ints[at + 1] = (n - ints[at]!) / TWO_32;
}

const ms = (t: Date | number | undefined): number => (typeof t === 'number' ? t : t === undefined ? Date.now() : t.getTime());

/** getStatArray's layout and defaults (fuse-native.c populate_stat reads it): mode, uid,
 * gid, size (low, high word), dev, nlink (0 or absent: 1), ino, rdev, blksize, blocks (low,
 * high), then atime, mtime, ctime in milliseconds (low, high). */
export function encodeStat(st: FuseNative.Stat | undefined): Uint32Array {
  const ints = new Uint32Array(18);
  ints[0] = st?.mode ?? 0;
  ints[1] = st?.uid ?? 0;
  ints[2] = st?.gid ?? 0;
  setDouble(ints, 3, st?.size ?? 0);
  ints[5] = st?.dev ?? 0;
  ints[6] = st?.nlink || 1;
  ints[7] = st?.ino ?? 0;
  ints[8] = st?.rdev ?? 0;
  ints[9] = st?.blksize ?? 0;
  setDouble(ints, 10, st?.blocks ?? 0);
  setDouble(ints, 12, ms(st?.atime));
  setDouble(ints, 14, ms(st?.mtime));
  setDouble(ints, 16, ms(st?.ctime));
  return ints;
}

const arrays = new WeakMap<FuseNative.Stat, Uint32Array>();

/** The array for `st`: made once for a frozen stat (it cannot change), afresh otherwise. */
export function statArray(st: FuseNative.Stat): Uint32Array {
  if (!Object.isFrozen(st)) return encodeStat(st);
  let ints = arrays.get(st);
  if (ints === undefined) {
    ints = encodeStat(st);
    arrays.set(st, ints);
  }
  return ints;
}

/** What a failed getattr hands over with its errno (read by the native side, then ignored). */
const FAILED = encodeStat({ mode: 0, uid: 0, gid: 0, size: 0, nlink: 1, atime: new Date(0), mtime: new Date(0), ctime: new Date(0) });

type Signal = (code: number, ...values: unknown[]) => void;

/** fuse-native 2.2.6's own handlers of the two operations that answer stats. */
interface StatHandlers {
  ops: FuseNative.Operations;
  _op_getattr?: (signal: Signal, path: string) => void;
  _op_readdir?: (signal: Signal, path: string) => void;
}

/** Replaces `fuse`'s getattr and readdir handlers by ones that answer shared arrays, doing
 * otherwise what fuse-native's do. A fuse-native without those handlers is left as it is. */
export function shareStatArrays(fuse: FuseNative): void {
  const f = fuse as unknown as StatHandlers;
  const { getattr, readdir } = f.ops;
  if (typeof f._op_getattr === 'function' && getattr !== undefined) {
    f._op_getattr = (signal, path) => getattr(path, (err, st) => (err !== 0 || st === undefined ? signal(err, FAILED) : signal(0, statArray(st))));
  }
  if (typeof f._op_readdir === 'function' && readdir !== undefined) {
    f._op_readdir = (signal, path) =>
      readdir(path, (err, names, stats) => (err !== 0 ? signal(err) : signal(0, names, stats === undefined ? [] : stats.map(statArray))));
  }
}
