// toNativeOps without a mount: each request answered once, errors as -errno, and
// the lent native buffers copied rather than kept.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Errno } from '../../../src/engine/errno';
import { toNativeOps } from '../../../src/fuse/fuse-binding';
import type { FsOps } from '../../../src/fuse/fs-ops';
import { ErrnoMapper } from '../../../src/fuse/to-errno';

const OPTIONAL = new Set(['takeStaleNames', 'takePublisher', 'streamRead', 'shutdown']);

function opsWith(overrides: Partial<FsOps>): FsOps {
  const missing = (): never => {
    throw new Errno('ENOSYS', 'not in this test');
  };
  return new Proxy(overrides as FsOps, {
    // The optional members: without them the binding tells the kernel nothing, publishes no
    // events and serves every read with read().
    get: (target, key: string) => (target as unknown as Record<string, unknown>)[key] ?? (OPTIONAL.has(key) ? undefined : missing),
  });
}

function calls(): { cb: (...args: unknown[]) => void; seen: unknown[][] } {
  const seen: unknown[][] = [];
  return { seen, cb: (...args: unknown[]) => void seen.push(args) };
}

describe('toNativeOps', () => {
  const log: string[] = [];
  const mapper = new ErrnoMapper((m) => log.push(m));

  it('answers a thrown Errno once with its negative number', () => {
    const native = toNativeOps(opsWith({ getattr: () => { throw new Errno('ENOENT', 'x'); } }), mapper, (m) => log.push(m));
    const { cb, seen } = calls();
    native.getattr?.('/x', cb);
    assert.deepEqual(seen, [[-2]]);
  });

  it('answers a bug once with -EIO', () => {
    const native = toNativeOps(opsWith({ readlink: () => { throw new RangeError('oops'); } }), mapper, (m) => log.push(m));
    const { cb, seen } = calls();
    native.readlink?.('/l', cb);
    assert.deepEqual(seen, [[-5]]);
    assert.ok(log.some((m) => m.includes('oops')));
  });

  it('read copies at most len bytes into the lent buffer and answers the count', () => {
    const native = toNativeOps(opsWith({ read: () => Buffer.from('abcdef') }), mapper, () => undefined);
    const buf = Buffer.alloc(4);
    const { cb, seen } = calls();
    native.read?.('/f', 1, buf, 4, 0, cb);
    assert.deepEqual(seen, [[4]]);
    assert.equal(buf.toString(), 'abcd');
  });

  it('write hands over a copy of the lent buffer and answers what FsOps took', () => {
    let got: Buffer | undefined;
    const native = toNativeOps(opsWith({ write: (_p, _h, data) => ((got = data), data.length) }), mapper, () => undefined);
    const buf = Buffer.from('vfio-pci??');
    const { cb, seen } = calls();
    native.write?.('/f', 1, buf, 8, 4096, cb);
    buf.fill(0);
    assert.deepEqual(seen, [[8]]);
    assert.equal(got?.toString(), 'vfio-pci');
  });

  it('readdir answers names with one stat each', () => {
    const t = new Date(0);
    const st = { mode: 0o040755, nlink: 2, size: 0, uid: 0, gid: 0, blksize: 4096, blocks: 0, atime: t, mtime: t, ctime: t };
    const native = toNativeOps(opsWith({ readdir: () => ({ names: ['.', '..'], stats: [st, st] }) }), mapper, () => undefined);
    const { cb, seen } = calls();
    native.readdir?.('/', cb);
    assert.equal(seen.length, 1);
    assert.deepEqual(seen[0]?.slice(0, 2), [0, ['.', '..']]);
    assert.equal((seen[0]?.[2] as unknown[]).length, 2);
  });

  it('a stream read is answered when its promise settles, with the bytes or the errno', async () => {
    let release!: (b: Buffer) => void;
    const later = new Promise<Buffer>((r) => (release = r));
    const native = toNativeOps(opsWith({ streamRead: () => later }), mapper, () => undefined);
    const buf = Buffer.alloc(8);
    const { cb, seen } = calls();
    native.read?.('/events', 1, buf, 8, 0, cb);
    assert.deepEqual(seen, []);
    release(Buffer.from('1 lost 1\n'));
    await later;
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(seen, [[8]]);
    const failing = toNativeOps(opsWith({ streamRead: () => Promise.reject(new Errno('EAGAIN', 'none yet')) }), mapper, () => undefined);
    const second = calls();
    failing.read?.('/events', 1, buf, 8, 0, second.cb);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(second.seen, [[-11]]);
  });

  it('a write publishes its events before it answers, also when it is refused', async () => {
    const order: string[] = [];
    const native = toNativeOps(
      opsWith({
        write: (_p, _h, data) => {
          if (data.toString() === 'bad') throw new Errno('EINVAL', 'no');
          return data.length;
        },
        takePublisher: () => () => void order.push('published'),
      }),
      mapper,
      () => undefined,
    );
    const answered = (code: unknown): void => void order.push(`answered ${String(code)}`);
    native.write?.('/f', 1, Buffer.from('ok'), 2, 0, answered);
    native.write?.('/f', 1, Buffer.from('bad'), 3, 0, answered);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(order, ['published', 'answered 2', 'published', 'answered -22']);
  });
});
