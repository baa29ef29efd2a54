// The options that make the mount behave like sysfs, and the errno boundary.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Errno } from '../../../src/engine/errno';
import { allowOtherProblem, nativeMountOptions } from '../../../src/fuse/mount-options';
import { parseMounts } from '../../../src/fuse/mount-table';
import { ErrnoMapper } from '../../../src/fuse/to-errno';

describe('nativeMountOptions', () => {
  it('injects direct_io, zero timeouts and default_permissions through fsname', () => {
    const o = nativeMountOptions();
    assert.deepEqual(o.fsname.split(','), ['iommufs', 'direct_io', 'entry_timeout=0', 'attr_timeout=0', 'negative_timeout=0', 'default_permissions']);
    // A file system that reports what changed lets the kernel cache names for hours.
    const cached = nativeMountOptions({ kernelCache: true });
    assert.deepEqual(cached.fsname.split(','), ['iommufs', 'direct_io', 'entry_timeout=14400', 'attr_timeout=14400', 'negative_timeout=0', 'default_permissions']);
    assert.equal(o.force, false); // never fuse-native's shell unmount (fusermount.ts)
    assert.equal(o.mkdir, true);
    assert.equal(o.allowOther, false);
    // Only a write (which waits for the kernel's invalidations) has a timer; synchronous ops none.
    assert.equal(o.timeout.default, 10_000);
    assert.equal(o.timeout.getattr, false);
    assert.equal(o.timeout.read, false);
    assert.equal((o.timeout as Record<string, unknown>).write, undefined);
  });

  it('passes allowOther and an explicit timeout, and refuses a name that would inject options', () => {
    const o = nativeMountOptions({ allowOther: true, timeoutMs: 2000, name: 'sim' });
    assert.equal(o.allowOther, true);
    assert.equal(o.timeout.default, 2000);
    assert.match(o.fsname, /^sim,direct_io,/);
    assert.throws(() => nativeMountOptions({ name: 'x,allow_other' }), /plain word/);
  });
});

describe('allowOtherProblem', () => {
  it('is fine for root and for users when fuse.conf has user_allow_other', () => {
    assert.equal(allowOtherProblem(0, undefined), undefined);
    assert.equal(allowOtherProblem(1000, '# comment\nuser_allow_other\n'), undefined);
  });
  it('explains the missing user_allow_other otherwise (a commented line does not count)', () => {
    assert.match(allowOtherProblem(1000, '#user_allow_other\n') ?? '', /user_allow_other/);
    assert.match(allowOtherProblem(1000, undefined) ?? '', /\/etc\/fuse.conf/);
  });
});

describe('ErrnoMapper', () => {
  it('maps an Errno to its negative number and anything else to -EIO, logging each distinct bug once', () => {
    const log: string[] = [];
    const m = new ErrnoMapper((s) => log.push(s));
    assert.equal(m.toErrno(new Errno('EBUSY', 'x'), 'write', '/a'), -16);
    assert.equal(m.toErrno(new Errno('ENODEV', 'x'), 'write', '/a'), -19);
    assert.equal(log.length, 0);
    assert.equal(m.toErrno(new TypeError('boom'), 'write', '/a'), -5);
    assert.equal(m.toErrno(new TypeError('boom'), 'write', '/a'), -5);
    assert.equal(m.toErrno('odd', 'read', '/b'), -5);
    assert.equal(log.length, 2);
    assert.match(log[0] ?? '', /write \/a .*boom/);
  });
});

describe('parseMounts', () => {
  it('reads fields and undoes the octal escapes of /proc/mounts', () => {
    const [m] = parseMounts('iommufs /tmp/a\\040b fuse.iommufs rw,default_permissions 0 0\n');
    assert.deepEqual(m, { source: 'iommufs', mountpoint: '/tmp/a b', fstype: 'fuse.iommufs', options: 'rw,default_permissions' });
  });
});
