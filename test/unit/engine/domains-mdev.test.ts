// Mediated devices in the engine: parents, create/remove with the mdev core's errnos, the
// emulated (vfio-noiommu) group each mdev gets, and the domain engine keeping out of it.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bind, setDriverOverride, unbind } from '../../../src/engine/driver-ops';
import { isErrno } from '../../../src/engine/errno';
import type { ErrnoCode } from '../../../src/engine/errno';
import { setGroupType } from '../../../src/engine/group-type';
import { removeStore } from '../../../src/engine/hotplug';
import type { Machine } from '../../../src/engine/machine';
import { parseCreateUuid } from '../../../src/engine/mdev';
import { GPU, bootDomains, pci } from './domains-fixture';
import { snapshot } from './domains-snapshot';

const T4 = 'i915-GVTg_V5_4';
const T8 = 'i915-GVTg_V5_8';
const U1 = '8e3f5a0c-1d2b-4c3a-9f00-0123456789ab';
const U2 = 'c0ffee00-0000-4000-8000-000000000002';
const U3 = 'c0ffee00-0000-4000-8000-000000000003';

function refuses(m: Machine, op: () => void, code: ErrnoCode, what: string): void {
  const before = snapshot(m);
  assert.throws(op, (e: unknown) => isErrno(e) && e.code === code, `${what}: want ${code}`);
  assert.equal(snapshot(m), before, `${what}: the machine changed`);
}

describe('mdev parents and types', () => {
  it('a device declaring types is a parent while its vendor driver is bound', () => {
    const m = bootDomains();
    const gpu = pci(m, GPU);
    assert.equal(m.mdev.isParent(gpu), true);
    assert.deepEqual(m.mdev.types(gpu).map((t) => t.type), [T4, T8]);
    assert.deepEqual(m.mdev.parents(), [gpu]);
    assert.equal(m.mdev.isParent(pci(m, '0000:01:00.0')), false, 'no types declared');
    unbind(m, 'i915', GPU);
    assert.equal(m.mdev.isParent(gpu), false);
    setDriverOverride(m, gpu, 'vfio-pci');
    bind(m, 'vfio-pci', GPU);
    assert.equal(m.mdev.isParent(gpu), false, 'vfio-pci is not the vendor driver');
  });
});

describe('mdev create and remove', () => {
  it('create makes a device with a vfio-noiommu group of its own; available_instances counts down', () => {
    const m = bootDomains();
    const gpu = pci(m, GPU);
    const free = Math.max(...m.groups.keys()) + 1;
    assert.equal(m.mdev.available(gpu, T4), 2);
    const x = m.mdev.create(gpu, T4, `${U1}\n`);
    assert.equal(x.name, U1);
    assert.equal(m.devices.get(U1), x);
    const g = x.group!;
    assert.equal(g.id, free, 'the lowest free group number');
    assert.equal(g.kind, 'vfio-noiommu');
    assert.equal(g.unit, null);
    assert.equal(g.defaultType, 'unknown');
    assert.deepEqual(g.devices, [x]);
    assert.deepEqual(m.reservedRegionLines(g), []);
    assert.equal(m.mdev.available(gpu, T4), 1);
    assert.equal(m.mdev.available(gpu, T8), 1, 'types count separately');
  });

  it('create refusals: EINVAL for anything but a 36-37 byte UUID, EEXIST for a UUID in use, EUSERS when none is left', () => {
    const m = bootDomains();
    const gpu = pci(m, GPU);
    refuses(m, () => m.mdev.create(gpu, T4, U1.slice(0, 35)), 'EINVAL', '35 bytes');
    refuses(m, () => m.mdev.create(gpu, T4, `${U1}\n\n`), 'EINVAL', '38 bytes');
    refuses(m, () => m.mdev.create(gpu, T4, U1.replace('-', 'x')), 'EINVAL', 'not a UUID');
    refuses(m, () => m.mdev.create(gpu, T4, 'z'.repeat(36)), 'EINVAL', 'not hex');
    m.mdev.create(gpu, T4, U1);
    refuses(m, () => m.mdev.create(gpu, T4, `${U1}\n`), 'EEXIST', 'same UUID');
    refuses(m, () => m.mdev.create(gpu, T8, U1.toUpperCase()), 'EEXIST', 'same UUID in upper case, other type');
    m.mdev.create(gpu, T4, U2);
    assert.equal(m.mdev.available(gpu, T4), 0);
    refuses(m, () => m.mdev.create(gpu, T4, U3), 'EUSERS', 'no instance left');
    refuses(m, () => m.mdev.create(gpu, 'i915-nope', U3), 'ENODEV', 'no such type');
  });

  it('names are lower case; the 37th byte may be anything (uuid_parse reads 36)', () => {
    assert.equal(parseCreateUuid(U1.toUpperCase()), U1);
    assert.equal(parseCreateUuid(`${U1}x`), U1);
  });

  it('remove: garbage EINVAL, 0 a no-op, 1 removes the mdev and its group; the count goes back up', () => {
    const m = bootDomains();
    const gpu = pci(m, GPU);
    const x = m.mdev.create(gpu, T4, U1);
    const gid = x.group!.id;
    refuses(m, () => m.mdev.removeStore(x, 'yes'), 'EINVAL', 'garbage');
    const before = snapshot(m);
    m.mdev.removeStore(x, '0\n');
    assert.equal(snapshot(m), before, '0 changes nothing');
    m.mdev.removeStore(x, '1\n');
    assert.equal(m.devices.get(U1), undefined);
    assert.equal(m.groups.get(gid), undefined);
    assert.equal(x.group, null);
    assert.equal(m.mdev.available(gpu, T4), 2);
    const y = m.mdev.create(gpu, T8, U2);
    assert.equal(y.group!.id, gid, 'the freed group number is reused');
  });

  it('unbinding the vendor driver or removing the parent takes its mdevs and groups', () => {
    const m = bootDomains();
    const gpu = pci(m, GPU);
    m.mdev.create(gpu, T4, U1);
    m.mdev.create(gpu, T8, U2);
    const groups = m.groups.size;
    unbind(m, 'i915', GPU);
    assert.deepEqual(m.mdev.all(), []);
    assert.equal(m.groups.size, groups - 2);
    refuses(m, () => m.mdev.create(gpu, T4, U3), 'ENODEV', 'create on an unregistered parent');
    bind(m, 'i915', GPU);
    m.mdev.create(gpu, T4, U3);
    removeStore(m, gpu, '1');
    assert.deepEqual(m.mdev.all(), []);
    assert.equal(m.devices.get(U3), undefined);
  });
});

describe('emulated groups and the domain engine', () => {
  it('claim, attach and the rest are EINVAL; type writes are EINVAL; the group reads no domain', () => {
    const m = bootDomains();
    const x = m.mdev.create(pci(m, GPU), T4, U1);
    const g = x.group!;
    const d = m.dma.allocate('dmar0', {});
    assert.equal(m.dma.domainOf(g), null);
    assert.equal(m.dma.deviceDomain(x), null);
    assert.equal(m.dma.viable(g), true);
    assert.equal(m.dma.state(g), 'idle');
    assert.match(m.dma.whyNotUsable(g) ?? '', /emulated/);
    refuses(m, () => m.dma.claim(g, 'qemu'), 'EINVAL', 'claim');
    refuses(m, () => m.dma.leaveHost(g), 'EINVAL', 'leave_host');
    refuses(m, () => m.dma.release(g, 'qemu'), 'EINVAL', 'release');
    refuses(m, () => m.dma.attach(g, d.id), 'EINVAL', 'attach');
    refuses(m, () => m.dma.detach(g), 'EINVAL', 'detach');
    refuses(m, () => m.dma.replace(g, d.id), 'EINVAL', 'replace');
    refuses(m, () => setGroupType(m, g, 'DMA'), 'EINVAL', 'type');
  });
});
