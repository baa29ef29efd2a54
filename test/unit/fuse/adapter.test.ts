// SysfsFs without a mount: the errno of every refusal and the snapshot rules.

import assert from 'node:assert/strict';
import { constants } from 'node:fs';
import { describe, it } from 'node:test';
import { Errno } from '../../../src/engine/errno';
import { SysfsFs } from '../../../src/fuse/adapter';
import { S_IFDIR, S_IFLNK, S_IFREG, untrackedTree, type AttrNode, type DirNode } from '../../../src/sysfs/node';
import { buildFixture, DEVICE_DIR } from '../../e2e/fixtures-tree';

const dev = (name: string): string => `/${DEVICE_DIR}/${name}`;

function setup(): { fs: SysfsFs; state: ReturnType<typeof buildFixture>['state'] } {
  const { tree, state } = buildFixture();
  return { fs: new SysfsFs(tree, { time: new Date(1_700_000_000_000) }), state };
}

function errnoOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof Errno) return e.code;
    throw e;
  }
  return 'no error';
}

describe('SysfsFs', () => {
  it('getattr gives type bits, sysfs sizes and nlink = 2 + subdirs', () => {
    const { fs } = setup();
    const root = fs.getattr('/');
    assert.equal(root.mode, S_IFDIR | 0o755);
    assert.equal(root.nlink, 5);
    assert.equal(fs.getattr('/kernel/iommu_groups').nlink, 4);
    assert.deepEqual([fs.getattr(dev('vendor')).mode, fs.getattr(dev('vendor')).size], [S_IFREG | 0o444, 4096]);
    assert.equal(fs.getattr(dev('config')).size, 256);
    assert.deepEqual([fs.getattr(dev('driver')).mode, fs.getattr(dev('driver')).size], [S_IFLNK | 0o777, 0]);
    assert.equal(fs.getattr(dev('vendor')).mtime.getTime(), 1_700_000_000_000);
  });

  it('path errors: ENOENT for a missing name, ENOTDIR through a file, EINVAL for readlink of a file', () => {
    const { fs } = setup();
    assert.equal(errnoOf(() => fs.getattr(dev('nope'))), 'ENOENT');
    assert.equal(errnoOf(() => fs.getattr(dev('vendor/x'))), 'ENOTDIR');
    assert.equal(errnoOf(() => fs.readlink(dev('vendor'))), 'EINVAL');
    assert.equal(errnoOf(() => fs.readdir(dev('vendor'))), 'ENOTDIR');
  });

  it('readdir starts with . and .., and carries a stat per name', () => {
    const { fs } = setup();
    const { names, stats } = fs.readdir('/kernel/iommu_groups');
    assert.deepEqual(names, ['.', '..', '0', '1']);
    assert.equal(stats.length, names.length);
  });

  it('open refuses, for everyone, a read of a 0200 file and a write of a 0444 file or one without store', () => {
    const { fs } = setup();
    assert.equal(errnoOf(() => fs.open(dev('remove'), constants.O_RDONLY)), 'EACCES');
    assert.equal(errnoOf(() => fs.open(dev('remove'), constants.O_RDWR)), 'EACCES');
    assert.equal(errnoOf(() => fs.open(dev('vendor'), constants.O_WRONLY)), 'EACCES');
    assert.equal(errnoOf(() => fs.open(dev('power'), constants.O_RDONLY)), 'EISDIR');
    assert.ok(fs.open(dev('remove'), constants.O_WRONLY | constants.O_APPEND) > 0);
    assert.ok(fs.open(dev('config'), constants.O_RDWR) > 0);
  });

  it('reads in pieces come from one show(); a read at offset 0 shows afresh', () => {
    const { fs, state } = setup();
    const h = fs.open(dev('counter'), constants.O_RDONLY);
    const a = Buffer.concat([fs.read(dev('counter'), h, 3, 0), fs.read(dev('counter'), h, 3, 3), fs.read(dev('counter'), h, 100, 6)]);
    assert.equal(a.toString(), 'show-0001\n');
    assert.equal(fs.read(dev('counter'), h, 100, 10).length, 0);
    assert.equal(state.shows, 1);
    assert.equal(fs.read(dev('counter'), h, 100, 0).toString(), 'show-0002\n');
    fs.release(dev('counter'), h);
    assert.equal(fs.openFiles.size, 0);
  });

  it('write hands the whole buffer and offset to store and answers the byte count', () => {
    const { fs, state } = setup();
    const h = fs.open(dev('driver_override'), constants.O_WRONLY | constants.O_APPEND);
    assert.equal(fs.write(dev('driver_override'), h, Buffer.from('vfio-pci'), 4096), 8);
    assert.deepEqual(state.writes.at(-1), { attr: 'driver_override', value: 'vfio-pci', offset: 4096 });
    assert.equal(fs.write(dev('driver_override'), h, Buffer.alloc(0), 0), 0);
    assert.equal(state.writes.length, 1);
    assert.equal(errnoOf(() => fs.write(dev('driver_override'), h, Buffer.from('bad\n'), 0)), 'EINVAL');
  });

  it('a write or fresh read after the file was removed is ENODEV, as kernfs answers for a removed node', () => {
    let present = true;
    const attr: AttrNode = { kind: 'attr', mode: 0o644, size: 4096, show: () => Buffer.from('1\n'), store: () => undefined };
    const root: DirNode = {
      kind: 'dir',
      mode: 0o755,
      list: () => (present ? ['sriov_numvfs'] : []),
      lookup: (name) => (present && name === 'sriov_numvfs' ? attr : undefined),
      subdirCount: () => 0,
    };
    const fs = new SysfsFs(untrackedTree(root));
    const h = fs.open('/sriov_numvfs', constants.O_RDWR);
    present = false;
    assert.equal(errnoOf(() => fs.write('/sriov_numvfs', h, Buffer.from('2'), 0)), 'ENODEV');
    assert.equal(errnoOf(() => fs.read('/sriov_numvfs', h, 10, 0)), 'ENODEV');
  });

  it('a write on a read-write handle makes the next read show the new content', () => {
    const { fs } = setup();
    const h = fs.open(dev('config'), constants.O_RDWR);
    assert.equal(fs.read(dev('config'), h, 8, 0).toString('hex'), '0001020304050607');
    fs.write(dev('config'), h, Buffer.from([0xaa]), 2);
    assert.equal(fs.read(dev('config'), h, 4, 1).toString('hex'), '01aa0304');
  });

  it('truncate is a no-op on attributes and EISDIR on directories', () => {
    const { fs } = setup();
    fs.truncate(dev('vendor'));
    fs.ftruncate(dev('driver_override'));
    assert.equal(errnoOf(() => fs.truncate(dev('power'))), 'EISDIR');
  });

  it('refuses to change the tree as sysfs does: create EACCES, the rest EPERM', () => {
    const { fs } = setup();
    assert.equal(errnoOf(() => fs.create(dev('new'))), 'EACCES');
    for (const op of [
      () => fs.mkdir(dev('d')),
      () => fs.mknod(dev('n')),
      () => fs.rmdir(dev('power')),
      () => fs.unlink(dev('vendor')),
      () => fs.rename(dev('vendor')),
      () => fs.link('', dev('h')),
      () => fs.symlink('x', dev('l')),
      () => fs.chmod(dev('vendor')),
      () => fs.chown(dev('vendor')),
    ]) {
      assert.equal(errnoOf(op), 'EPERM');
    }
  });
});
