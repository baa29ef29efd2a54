// The directory builder keeps names, subdirectories and links per version and built
// attributes only for the directories used last; links are made relative without the
// working directory.

import assert from 'node:assert/strict';
import { posix } from 'node:path';
import { describe, it } from 'node:test';
import { dir, link, relativePath, ro } from '../../../src/sysfs/build';
import type { DirNode } from '../../../src/sysfs/node';

describe('dir(): what a directory keeps', () => {
  it('after 300 other directories were used, an attribute is built again, while names, links and subdirectories are not', () => {
    let builds = 0;
    let version = 1;
    const sub = dir(() => []);
    const first = dir(
      () => {
        builds++;
        return [
          ['a', ro(() => 'x')],
          ['l', link('../b')],
          ['s', sub],
        ];
      },
      0o755,
      () => version,
    );
    assert.equal(first.lookup('a')?.kind, 'attr');
    assert.equal(builds, 1);
    const others: DirNode[] = Array.from({ length: 300 }, () => dir(() => [['f', ro(() => 'y')]], 0o755, () => version));
    for (const d of others) d.lookup('f');
    assert.deepEqual(first.list(), ['a', 'l', 's']);
    assert.equal(first.subdirCount(), 1);
    assert.deepEqual(first.lookup('l'), link('../b'));
    assert.equal(first.lookup('s'), sub);
    assert.equal(first.lookup('missing'), undefined);
    assert.equal(builds, 1, 'names, links and subdirectories come from what was kept');
    assert.equal(first.lookup('a')?.kind, 'attr');
    assert.equal(builds, 2, 'the attribute was built again');
    version++;
    assert.deepEqual(first.list(), ['a', 'l', 's']);
    assert.equal(builds, 3, 'a new version builds again');
  });
});

describe('dir(): built again for the same version', () => {
  it('answers the subdirectories and links it handed out before, not the new copies', () => {
    let version = 1;
    let builds = 0;
    const d = dir(
      () => {
        builds++;
        return [
          ['a', ro(() => 'x')],
          ['l', link('../b')],
          ['s', dir(() => [['f', ro(() => 'y')]])],
        ];
      },
      0o755,
      () => version,
    );
    const l = d.lookup('l');
    const s = d.lookup('s');
    for (let i = 0; i < 40; i++) dir(() => [['f', ro(() => 'y')]], 0o755, () => version).lookup('f');
    assert.equal(d.lookup('a')?.kind, 'attr');
    assert.equal(builds, 2, 'the attributes were dropped and built again');
    assert.equal(d.lookup('l'), l);
    assert.equal(d.lookup('s'), s);
    version++;
    assert.equal(d.lookup('a')?.kind, 'attr');
    assert.equal(builds, 3);
    assert.notEqual(d.lookup('s'), s, 'a new version has its own nodes');
  });
});

describe('relativePath', () => {
  it('answers as posix.relative for paths from the sysfs root', () => {
    const cases: [string, string][] = [
      ['devices/pci0000:00/0000:00:01.0', 'kernel/iommu_groups/3'],
      ['devices/pci0000:00/0000:00:01.0', 'devices/pci0000:00/0000:00:01.0/0000:01:00.0'],
      ['bus/pci/drivers/vfio-pci', 'devices/pci0000:00/0000:00:02.0'],
      ['a/b', 'a/b'],
      ['', 'bus/pci'],
      ['class/net', ''],
      ['a/./b', 'a/../c'],
      ['/abs', 'rel'],
    ];
    for (const [from, to] of cases) assert.equal(relativePath(from, to), posix.relative(from, to), `${from} -> ${to}`);
  });
});
