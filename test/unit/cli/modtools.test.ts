// The module tools of `iommufs run` (run-modtools.ts): /proc/modules read back, lsmod's
// layout, modprobe.d options in kmod's order.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { lsmodText, modprobeOptions, parseProcModules } from '../../../src/cli/run-modtools';

describe('module tools', () => {
  it('lsmod prints /proc/modules as kmod does', () => {
    const mods = parseProcModules('vfio_pci 16384 0 - Live 0x0000000000000000\nvfio 57344 2 vfio_iommu_type1,vfio_pci, Live 0x0000000000000000\n');
    assert.deepEqual(mods[1], { name: 'vfio', size: 57344, refcnt: 2, holders: ['vfio_iommu_type1', 'vfio_pci'] });
    assert.equal(
      lsmodText(mods),
      'Module                  Size  Used by\nvfio_pci               16384  0\nvfio                   57344  2 vfio_iommu_type1,vfio_pci\n',
    );
  });

  it('modprobe.d: options of every .conf in name order, a name in an earlier directory hiding a later one', async () => {
    const root = await mkdtemp(join(tmpdir(), 'iommufs-modtools-test-'));
    try {
      const etc = join(root, 'etc');
      const lib = join(root, 'lib');
      await mkdir(etc);
      await mkdir(lib);
      await writeFile(join(etc, 'b.conf'), '# comment\noptions vfio-pci ids=8086:10d3 \\\n  nointxmask=1\nblacklist nouveau\n');
      await writeFile(join(lib, 'b.conf'), 'options vfio_pci ids=hidden\n');
      await writeFile(join(lib, 'a.conf'), 'options vfio_iommu_type1 allow_unsafe_interrupts=1\n');
      await writeFile(join(lib, 'c.txt'), 'options ignored x=1\n');
      assert.deepEqual(modprobeOptions([etc, join(root, 'missing'), lib]), [
        'vfio_iommu_type1.allow_unsafe_interrupts=1',
        'vfio_pci.ids=8086:10d3',
        'vfio_pci.nointxmask=1',
      ]);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
