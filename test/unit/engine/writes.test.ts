// The engine's write operations without FUSE: every refusal throws the kernel's errno and
// leaves the machine exactly as it was (a JSON dump of groups, drivers, dynamic IDs,
// overrides and SR-IOV state compared before and after), and every accepted write changes
// what Linux 6.1 changes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bind, driversProbe, newId, removeId, setDriverOverride, unbind } from '../../../src/engine/driver-ops';
import { isErrno } from '../../../src/engine/errno';
import type { ErrnoCode } from '../../../src/engine/errno';
import { setGroupType } from '../../../src/engine/group-type';
import { removeStore, rescanAll, rescanBridge, rescanDevice } from '../../../src/engine/hotplug';
import { Machine, memberNames } from '../../../src/engine/machine';
import { autoprobeStore, numVfsStore } from '../../../src/engine/sriov';
import type { IommuGroup, PciDevice } from '../../../src/engine/types';
import { bootShipped, pciDevice } from '../../helpers/machines';

const boot = bootShipped;

const dev = pciDevice;

function group(m: Machine, id: number): IommuGroup {
  const g = m.groups.get(id);
  assert.ok(g, `no group ${id}`);
  return g;
}

/** Everything a write could change, as plain data. */
function state(m: Machine): string {
  return JSON.stringify({
    autoprobe: m.driversAutoprobe,
    groups: m.sortedGroups().map((g) => [g.id, g.defaultType, memberNames(g)]),
    devices: [...m.devices.values()]
      .filter((d): d is PciDevice => d.kind === 'pci')
      .map((d) => [d.name, d.group?.id ?? null, d.driver, d.driverOverride, d.numaNode, d.sriovAutoprobe, m.vfsOf(d).map((v) => v.name)]),
    drivers: [...m.drivers.values()].map((d) => [d.name, d.ids, d.dynIds]),
  });
}

function refuses(m: Machine, op: () => void, code: ErrnoCode, what: string): void {
  const before = state(m);
  assert.throws(op, (e: unknown) => isErrno(e) && e.code === code, `${what}: want ${code}`);
  assert.equal(state(m), before, `${what}: the machine changed`);
}

const PF = '0000:01:00.0';

/** qemu-writes after `drivers_probe 0000:01:00.0`: e1000e on 01:00.0 (group 8). */
function writesMachine(): Machine {
  const m = boot('qemu-writes');
  driversProbe(m, '0000:01:00.0\n');
  assert.equal(dev(m, '0000:01:00.0').driver, 'e1000e');
  return m;
}

/** qemu-sriov with nvme on the PF. */
function sriovMachine(): Machine {
  const m = boot('qemu-sriov');
  driversProbe(m, `${PF}\n`);
  assert.equal(dev(m, PF).driver, 'nvme');
  return m;
}

describe('refused writes throw the kernel errno and change nothing', () => {
  const rows: Array<[string, (m: Machine) => void, ErrnoCode]> = [
    // iommu.c iommu_group_store_type
    ['type garbage', (m) => setGroupType(m, group(m, 8), 'garbage\n'), 'EINVAL'],
    ['type empty', (m) => setGroupType(m, group(m, 8), '\n'), 'EINVAL'],
    ['type wrong case', (m) => setGroupType(m, group(m, 9), 'IDENTITY\n'), 'EINVAL'],
    ['type blocked', (m) => setGroupType(m, group(m, 9), 'blocked\n'), 'EINVAL'],
    ['type unmanaged', (m) => setGroupType(m, group(m, 9), 'unmanaged'), 'EINVAL'],
    ['type identity while bound', (m) => setGroupType(m, group(m, 8), 'identity\n'), 'EBUSY'],
    ['type DMA while bound', (m) => setGroupType(m, group(m, 8), 'DMA\n'), 'EBUSY'],
    ['type same DMA-FQ while bound', (m) => setGroupType(m, group(m, 8), 'DMA-FQ\n'), 'EBUSY'],
    ['type auto while bound', (m) => setGroupType(m, group(m, 8), 'auto\n'), 'EBUSY'],
    ['type on a two-device group', (m) => setGroupType(m, group(m, 10), 'identity\n'), 'EINVAL'],
    // bus.c bind_store / unbind_store / drivers_probe_store
    ['bind garbage', (m) => bind(m, 'e1000e', 'garbage\n'), 'ENODEV'],
    ['bind empty', (m) => bind(m, 'e1000e', '\n'), 'ENODEV'],
    ['bind missing device', (m) => bind(m, 'e1000e', '0000:09:00.0\n'), 'ENODEV'],
    ['bind already bound', (m) => bind(m, 'e1000e', '0000:01:00.0\n'), 'EBUSY'],
    ['bind no match', (m) => bind(m, 'e1000e', '0000:03:00.0\n'), 'ENODEV'],
    ['bind vfio-pci without override', (m) => bind(m, 'vfio-pci', '0000:04:00.0\n'), 'ENODEV'],
    ['unbind not bound', (m) => unbind(m, 'e1000e', '0000:04:00.0\n'), 'ENODEV'],
    ['unbind bound elsewhere', (m) => unbind(m, 'vfio-pci', '0000:01:00.0\n'), 'ENODEV'],
    ['unbind missing device', (m) => unbind(m, 'e1000e', '0000:09:00.0\n'), 'ENODEV'],
    ['drivers_probe missing device', (m) => driversProbe(m, '0000:99:1f.7\n'), 'ENODEV'],
    // pci-driver.c new_id_store / remove_id_store
    ['new_id garbage', (m) => newId(m, 'vfio-pci', 'zz\n'), 'EINVAL'],
    ['new_id one field', (m) => newId(m, 'vfio-pci', '8086\n'), 'EINVAL'],
    ['new_id static ID', (m) => newId(m, 'e1000e', '8086 10d3\n'), 'EEXIST'],
    ['remove_id absent', (m) => removeId(m, 'vfio-pci', '1af4 1005\n'), 'ENODEV'],
    ['remove_id garbage', (m) => removeId(m, 'vfio-pci', 'zz\n'), 'EINVAL'],
    // driver.c driver_set_override
    ['driver_override PAGE_SIZE - 1 bytes', (m) => setDriverOverride(m, dev(m, '0000:04:00.0'), 'a'.repeat(4095)), 'EINVAL'],
    // pci-sysfs.c remove_store, rescan_store, dev_rescan_store
    ['remove garbage', (m) => removeStore(m, dev(m, '0000:02:00.0'), 'x\n'), 'EINVAL'],
    ['remove empty', (m) => removeStore(m, dev(m, '0000:02:00.0'), '\n'), 'EINVAL'],
    ['rescan garbage', (m) => rescanAll(m, 'x\n'), 'EINVAL'],
    ['device rescan garbage', (m) => rescanDevice(m, dev(m, '0000:02:00.0'), 'yes\n'), 'EINVAL'],
    ['bridge rescan garbage', (m) => rescanBridge(m, dev(m, '0000:00:03.0'), '-1\n'), 'EINVAL'],
  ];
  for (const [what, op, code] of rows) {
    it(`qemu-writes: ${what} → ${code}`, () => {
      const m = writesMachine();
      refuses(m, () => op(m), code, what);
    });
  }

  it('qemu-writes: bind with an override naming another driver → ENODEV', () => {
    const m = writesMachine();
    setDriverOverride(m, dev(m, '0000:04:00.0'), 'vfio-pci\n');
    refuses(m, () => bind(m, 'e1000e', '0000:04:00.0\n'), 'ENODEV', 'override');
  });

  const sriovRows: Array<[string, string, ErrnoCode]> = [
    ['more than totalvfs', '99\n', 'ERANGE'],
    ['totalvfs + 1', '5\n', 'ERANGE'],
    ['hex above totalvfs', '0x10\n', 'ERANGE'],
    ['garbage', 'abc\n', 'EINVAL'],
    ['negative', '-1\n', 'EINVAL'],
    ['empty', '\n', 'EINVAL'],
    ['above u16', '65536\n', 'EINVAL'],
  ];
  for (const [what, raw, code] of sriovRows) {
    it(`qemu-sriov: sriov_numvfs ${what} → ${code}`, () => {
      const m = sriovMachine();
      refuses(m, () => numVfsStore(m, dev(m, PF), raw), code, what);
    });
  }

  it('qemu-sriov: sriov_numvfs without a PF driver → ENOENT, the current count is still a no-op', () => {
    const m = boot('qemu-sriov');
    refuses(m, () => numVfsStore(m, dev(m, PF), '2\n'), 'ENOENT', 'no driver');
    const before = state(m);
    numVfsStore(m, dev(m, PF), '0\n');
    assert.equal(state(m), before);
  });

  it('qemu-sriov: sriov_numvfs with the PF bound to vfio-pci → ENOENT (no enable_sriov)', () => {
    const m = boot('qemu-sriov');
    setDriverOverride(m, dev(m, PF), 'vfio-pci\n');
    driversProbe(m, `${PF}\n`);
    assert.equal(dev(m, PF).driver, 'vfio-pci');
    refuses(m, () => numVfsStore(m, dev(m, PF), '1\n'), 'ENOENT', 'vfio-pci');
  });

  it('qemu-sriov: n → m with VFs enabled → EBUSY; sriov_drivers_autoprobe garbage → EINVAL', () => {
    const m = sriovMachine();
    numVfsStore(m, dev(m, PF), '2\n');
    refuses(m, () => numVfsStore(m, dev(m, PF), '3\n'), 'EBUSY', 'n to m');
    refuses(m, () => autoprobeStore(m, dev(m, PF), 'maybe\n'), 'EINVAL', 'autoprobe');
    // The same count again is accepted and changes nothing (sriov.json "numvfs=2 again").
    const before = state(m);
    numVfsStore(m, dev(m, PF), '2');
    assert.equal(state(m), before);
  });
});

describe('accepted writes change what Linux changes', () => {
  it('group type: identity, DMA, DMA-FQ, auto with no driver; DMA to DMA-FQ while bound', () => {
    const m = boot('qemu-writes');
    const g = group(m, 8);
    for (const [raw, want] of [['identity\n', 'identity'], ['DMA\n', 'DMA'], ['DMA-FQ\n', 'DMA-FQ'], ['auto\n', 'DMA-FQ'], ['identity', 'identity'], ['DMA\0', 'DMA']] as const) {
      setGroupType(m, g, raw);
      assert.equal(g.defaultType, want, raw);
    }
    bind(m, 'e1000e', '0000:01:00.0\n');
    setGroupType(m, g, 'DMA-FQ\n');
    assert.equal(g.defaultType, 'DMA-FQ');
  });

  it('bind, unbind, driver_override and drivers_probe (writes.json #19-#33)', () => {
    const m = writesMachine();
    const d = dev(m, '0000:01:00.0');
    setDriverOverride(m, d, 'vfio-pci\n');
    assert.equal(d.driverOverride, 'vfio-pci');
    unbind(m, 'e1000e', '0000:01:00.0\n');
    assert.equal(d.driver, null);
    driversProbe(m, '0000:01:00.0\n');
    assert.equal(d.driver, 'vfio-pci');
    for (const [raw, want] of [['\n', null], ['x\0', 'x'], ['\0', null], ['e1000e', 'e1000e']] as const) {
      setDriverOverride(m, d, raw);
      assert.equal(d.driverOverride, want, JSON.stringify(raw));
    }
    unbind(m, 'vfio-pci', '0000:01:00.0');
    driversProbe(m, '0000:01:00.0');
    assert.equal(d.driver, 'e1000e');
    // drivers_probe of a bound device succeeds and changes nothing (sriov.json "drivers_probe already bound").
    const before = state(m);
    driversProbe(m, '0000:01:00.0\n');
    assert.equal(state(m), before);
  });

  it('new_id binds matching unbound devices a generic driver takes, not foreign hardware; remove_id drops it', () => {
    const m = writesMachine();
    newId(m, 'vfio-pci', '1af4 1044\n');
    assert.equal(dev(m, '0000:03:00.1').driver, 'vfio-pci');
    assert.equal(dev(m, '0000:06:00.0').driver, 'vfio-pci');
    assert.throws(() => newId(m, 'vfio-pci', '1af4 1044\n'), (e: unknown) => isErrno(e) && e.code === 'EEXIST');
    removeId(m, 'vfio-pci', '1af4 1044\n');
    assert.deepEqual(m.drivers.get('vfio-pci')!.dynIds, []);
    // e1000e's probe does not keep a virtio device (sriov.json: new_id 1af4 1041 on e1000e left it unbound).
    newId(m, 'e1000e', '1af4 1041\n');
    assert.equal(dev(m, '0000:03:00.0').driver, null);
    assert.equal(m.drivers.get('e1000e')!.dynIds.length, 1);
  });

  it('remove frees groups (no group names the device) and rescan reuses the lowest free numbers', () => {
    const m = writesMachine();
    removeStore(m, dev(m, '0000:02:00.0'), '0\n');
    assert.ok(m.devices.has('0000:02:00.0'), 'remove 0 does nothing');
    removeStore(m, dev(m, '0000:00:05.1'), '1\n');
    assert.ok(!m.devices.has('0000:05:00.0') && !m.devices.has('0000:00:05.1'));
    for (const g of m.groups.values()) assert.ok(!memberNames(g).some((n) => n === '0000:05:00.0' || n === '0000:00:05.1'));
    assert.deepEqual(m.sortedGroups().map((g) => g.id), [0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 13]);
    removeStore(m, dev(m, '0000:01:00.0'), '1\n');
    assert.equal(m.drivers.get('e1000e') !== undefined, true);
    // Bus 00 is rescanned first: 00:05.1 takes 5, then 01:00.0 takes 8, 05:00.0 takes 12 (writes.json #46).
    rescanAll(m, '1\n');
    const groupOf = (n: string): number | undefined => dev(m, n).group?.id;
    assert.deepEqual(['0000:00:05.1', '0000:01:00.0', '0000:05:00.0'].map(groupOf), [5, 8, 12]);
    // Rescanned devices are probed: e1000e binds the ones it claims.
    assert.equal(dev(m, '0000:01:00.0').driver, 'e1000e');
    assert.equal(dev(m, '0000:00:05.1').driver, 'pcieport');
  });

  it('SR-IOV: enable makes VFs with groups and links, disable frees the groups, numbers reused; VFs bind only their vf-driver', () => {
    const m = sriovMachine();
    const pf = dev(m, PF);
    autoprobeStore(m, pf, '0\n');
    numVfsStore(m, pf, '2\n');
    assert.deepEqual(m.vfsOf(pf).map((v) => [v.name, v.group?.id, v.driver]), [['0000:01:00.1', 8, null], ['0000:01:00.2', 9, null]]);
    // With autoprobe off even an explicit drivers_probe leaves a VF alone (pci_device_can_probe).
    driversProbe(m, '0000:01:00.1\n');
    assert.equal(dev(m, '0000:01:00.1').driver, null);
    numVfsStore(m, pf, '0\n');
    assert.equal(m.vfCount(pf), 0);
    assert.ok(!m.devices.has('0000:01:00.1'));
    assert.deepEqual(m.sortedGroups().map((g) => g.id), [0, 1, 2, 3, 4, 5, 6, 7]);
    autoprobeStore(m, pf, 'y\n');
    assert.equal(pf.sriovAutoprobe, true);
    numVfsStore(m, pf, '1\n');
    // nvme claims the VF's ID but does not keep QEMU's VF (sriov.json "VF driver with autoprobe").
    assert.deepEqual(m.vfsOf(pf).map((v) => [v.name, v.group?.id, v.driver]), [['0000:01:00.1', 8, null]]);
    // A VF given to vfio-pci by override binds on probe.
    setDriverOverride(m, dev(m, '0000:01:00.1'), 'vfio-pci\n');
    driversProbe(m, '0000:01:00.1\n');
    assert.equal(dev(m, '0000:01:00.1').driver, 'vfio-pci');
  });

  it('SR-IOV: a VF binds its topology vf-driver on enable (sriov-nic)', () => {
    const m = boot('sriov-nic');
    const pf = [...m.devices.values()].find((d): d is PciDevice => d.kind === 'pci' && d.fn.spec.sriov?.vfDriver === 'iavf' && m.vfCount(d) === 0 && d.driver !== null);
    assert.ok(pf, 'a bound PF without VFs');
    numVfsStore(m, pf, '2\n');
    assert.deepEqual(m.vfsOf(pf).map((v) => v.driver), ['iavf', 'iavf']);
  });
});
