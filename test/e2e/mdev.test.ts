// Mediated devices through a real mount: the mdev sysfs ABI on a parent that declares types
// (mdev_supported_types/<type>/{name, device_api, available_instances, create, devices/}),
// the device and its vfio-noiommu group, bus/mdev and class/mdev_bus, and the errnos.

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLI_MAIN, assertNothingMounted, q, run, sh, withDaemon } from './harness';
import { DOMAINS_TOPOLOGY } from '../unit/engine/domains-fixture';

after(assertNothingMounted);

let dir = '';
let topo = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'iommufs-mdev-'));
  topo = join(dir, 'domains-lab.yaml');
  await writeFile(topo, DOMAINS_TOPOLOGY);
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const GPU = '0000:03:00.0';
const T4 = 'i915-GVTg_V5_4';
const U1 = '8e3f5a0c-1d2b-4c3a-9f00-0123456789ab';
const U2 = 'c0ffee00-0000-4000-8000-000000000002';
const U3 = 'c0ffee00-0000-4000-8000-000000000003';

describe('mdev on a mount', () => {
  it('types, create, the device and its group, remove, and the errnos', async () => {
    await withDaemon(topo, async (mnt) => {
      const P = `${mnt}/bus/pci/devices/${GPU}`;
      const T = `${P}/mdev_supported_types/${T4}`;
      let r = await sh(`ls ${q(P)}/mdev_supported_types && ls ${q(T)} && cat ${q(T)}/name ${q(T)}/device_api ${q(T)}/available_instances ${q(P)}/mdev_supported_types/i915-GVTg_V5_8/name && stat -c %a ${q(T)}/create && readlink ${q(mnt)}/class/mdev_bus/${GPU}`);
      assert.equal(
        r.stdout,
        `${T4}\ni915-GVTg_V5_8\navailable_instances\ncreate\ndevice_api\ndevices\nname\nGVTg_V5_4\nvfio-pci\n2\ni915-GVTg_V5_8\n200\n../../devices/pci0000:00/0000:00:02.1/${GPU}\n`,
        r.stderr,
      );
      r = await sh(`echo ${U1} > ${q(T)}/create`);
      assert.equal(r.code, 0, r.stderr);
      r = await sh(`cd ${q(mnt)} && readlink bus/mdev/devices/${U1} && ls ${q(T)}/devices && cat ${q(T)}/available_instances && readlink ${q(P)}/${U1}/mdev_type && basename "$(readlink ${q(P)}/${U1}/iommu_group)"`);
      const lines = r.stdout.trim().split('\n');
      assert.deepEqual(lines.slice(0, 4), [`../../../devices/pci0000:00/0000:00:02.1/${GPU}/${U1}`, U1, '1', `../mdev_supported_types/${T4}`], r.stderr);
      const gid = lines[4]!;
      assert.match(gid, /^\d+$/);
      r = await sh(`cd ${q(mnt)}/kernel/iommu_groups/${gid} && cat name type && wc -c < reserved_regions && ls devices && echo DMA > type`);
      assert.equal(r.stdout, `vfio-noiommu\nunknown\n0\n${U1}\n`);
      assert.match(r.stderr, /write error: Invalid argument/);
      // Groups of IOMMU units have no name file.
      r = await sh(`test -e ${q(mnt)}/kernel/iommu_groups/0/name; echo $?`);
      assert.equal(r.stdout, '1\n');

      r = await sh(`echo 0123 > ${q(T)}/create`);
      assert.match(r.stderr, /write error: Invalid argument/);
      r = await sh(`echo ${U1} > ${q(T)}/create`);
      assert.match(r.stderr, /write error: File exists/);
      r = await sh(`echo ${U2} > ${q(T)}/create && echo ${U3} > ${q(T)}/create`);
      assert.match(r.stderr, /write error: Too many users/);
      r = await sh(`cat ${q(T)}/available_instances`);
      assert.equal(r.stdout, '0\n');

      r = await sh(`echo bogus > ${q(P)}/${U1}/remove`);
      assert.match(r.stderr, /write error: Invalid argument/);
      r = await sh(`echo 0 > ${q(P)}/${U1}/remove && test -d ${q(P)}/${U1} && echo 1 > ${q(P)}/${U1}/remove && cat ${q(T)}/available_instances; test -e ${q(mnt)}/bus/mdev/devices/${U1}; echo $?; test -e ${q(mnt)}/kernel/iommu_groups/${gid}; echo $?`);
      assert.equal(r.stdout, '1\n1\n1\n', r.stderr);
    });
  });

  it('ctl mdev-create, status and mdev-remove; unbinding the parent driver takes the mdevs', async () => {
    await withDaemon(topo, async (mnt) => {
      const ctl = (...a: string[]) => run(process.execPath, [CLI_MAIN, 'ctl', mnt, ...a]);
      let r = await ctl('mdev-create', GPU, T4, U2);
      assert.equal(r.code, 0, r.stderr);
      r = await ctl('status');
      const line = r.stdout.split('\n').find((l) => l.includes('domain=none'));
      assert.match(line ?? '', /^group \d+: state=idle owner=none domain=none viable=1$/);
      const gid = /^group (\d+)/.exec(line!)![1]!;
      r = await ctl('claim', gid, 'qemu');
      assert.equal(r.stderr, 'iommufs ctl: claim: Invalid argument\n');
      r = await ctl('mdev-create', GPU, T4, U2);
      assert.equal(r.stderr, 'iommufs ctl: mdev-create: File exists\n');
      r = await ctl('mdev-remove', U2);
      assert.equal(r.code, 0, r.stderr);
      r = await ctl('mdev-create', GPU, T4, U3);
      assert.equal(r.code, 0, r.stderr);
      r = await sh(`echo ${GPU} > ${q(mnt)}/bus/pci/drivers/i915/unbind; ls ${q(mnt)}/bus; test -e ${q(mnt)}/bus/pci/devices/${GPU}/mdev_supported_types; echo $?`);
      assert.equal(r.stdout, 'pci\npci_express\n1\n', 'no mdev parent left: no bus/mdev, no types');
    });
  });
});
