// The stats the binding hands to fuse-native: the same 18 words fuse-native's own encoding
// gives, one array per shared (frozen) stat, and getattr and readdir of a real fuse-native
// instance (not mounted) answering those arrays.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type FuseNative from 'fuse-native';
import { encodeStat, shareStatArrays, statArray } from '../../../src/fuse/native-stats';

type Signal = (code: number, ...values: unknown[]) => void;
interface Handlers {
  _op_getattr(signal: Signal, path: string): void;
  _op_readdir(signal: Signal, path: string): void;
}
type FuseClass = new (mnt: string, ops: FuseNative.Operations, opts?: FuseNative.Options) => FuseNative;

const Fuse = require('fuse-native') as FuseClass & { prototype: Handlers };

/** What fuse-native 2.2.6's own getattr handler hands to its native side for `st`. */
function nativeEncoding(st: FuseNative.Stat): Uint32Array {
  let got: unknown;
  const self = { ops: { getattr: (_p: string, cb: FuseNative.ValueCb<FuseNative.Stat>) => cb(0, st) } };
  Fuse.prototype._op_getattr.call(self, (_code, ints) => (got = ints), '/x');
  assert.ok(got instanceof Uint32Array);
  return got;
}

const t = new Date(1_700_000_000_123);
const dirStat = Object.freeze({ mode: 0o040755, nlink: 7, size: 0, uid: 0, gid: 0, blksize: 4096, blocks: 0, atime: t, mtime: t, ctime: t });
const bigFile = { mode: 0o100600, nlink: 0, size: 2 ** 33 + 5, uid: 1000, gid: 1000, blksize: 4096, blocks: 2 ** 32 + 1, atime: t, mtime: new Date(5), ctime: t };

describe('native stats', () => {
  it('encode a stat as fuse-native does (sizes over 32 bits, nlink 0 shown as 1, times in ms)', () => {
    for (const st of [dirStat, bigFile]) assert.deepEqual(encodeStat(st), nativeEncoding(st));
  });

  it('give a frozen stat one array, and an unfrozen one a fresh array each time', () => {
    assert.equal(statArray(dirStat), statArray(dirStat));
    assert.notEqual(statArray(bigFile), statArray(bigFile));
    assert.deepEqual(statArray(bigFile), encodeStat(bigFile));
  });

  it('getattr and readdir of a fuse-native instance answer the shared arrays', () => {
    const ops: FuseNative.Operations = {
      getattr: (path, cb) => (path === '/gone' ? cb(-2) : cb(0, dirStat)),
      readdir: (path, cb) => (path === '/gone' ? cb(-2) : cb(0, ['.', '..'], [dirStat, dirStat])),
    };
    const fuse = new Fuse('/nonexistent-mountpoint', ops, { timeout: false }) as unknown as Handlers;
    const own = fuse._op_getattr;
    shareStatArrays(fuse as unknown as FuseNative);
    assert.notEqual(fuse._op_getattr, own, 'fuse-native 2.2.6 has the handlers replaced');
    const seen: unknown[][] = [];
    const signal: Signal = (...args) => void seen.push(args);
    fuse._op_getattr(signal, '/');
    fuse._op_getattr(signal, '/gone');
    fuse._op_readdir(signal, '/');
    fuse._op_readdir(signal, '/gone');
    assert.deepEqual(seen[0], [0, statArray(dirStat)]);
    assert.equal(seen[0]![1], statArray(dirStat));
    assert.equal(seen[1]![0], -2);
    assert.ok(seen[1]![1] instanceof Uint32Array, 'the native side reads a stat even with an error');
    assert.deepEqual(seen[2], [0, ['.', '..'], [statArray(dirStat), statArray(dirStat)]]);
    assert.deepEqual(seen[3], [-2]);
  });
});
