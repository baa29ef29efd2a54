// The domain engine on its own (no FUSE): group states and their transitions, DMA ownership,
// viability, interrupt remapping, user domains with attach/detach/replace, PASIDs. Every
// refusal is checked for its errno and for leaving the machine exactly as it was.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bind, driversProbe, setDriverOverride, unbind } from '../../../src/engine/driver-ops';
import type { Domain } from '../../../src/engine/domains';
import { isErrno } from '../../../src/engine/errno';
import type { ErrnoCode } from '../../../src/engine/errno';
import { removeStore, rescanAll } from '../../../src/engine/hotplug';
import type { Machine } from '../../../src/engine/machine';
import type { IommuGroup } from '../../../src/engine/types';
import { DOMAINS_TOPOLOGY, GPU, NIC, NV_AUDIO, NV_GPU, PF, bootDomains, groupOf, pci } from './domains-fixture';
import { snapshot } from './domains-snapshot';

function refuses(m: Machine, op: () => void, code: ErrnoCode, what: string): void {
  const before = snapshot(m);
  assert.throws(op, (e: unknown) => isErrno(e) && e.code === code, `${what}: want ${code}`);
  assert.equal(snapshot(m), before, `${what}: the machine changed`);
}

/** The NIC's group taken from the host: e1000e unbound, claimed by "qemu". */
function ownedNic(m: Machine): IommuGroup {
  const g = groupOf(m, NIC);
  unbind(m, 'e1000e', NIC);
  m.dma.claim(g, 'qemu');
  return g;
}

function trace(m: Machine): string[] {
  const out: string[] = [];
  const name = (d: Domain): string => (d.kind === 'user' ? `user${d.id}` : d.kind);
  m.dma.onSwitch = (g, from, to) => out.push(`${g.id}:${name(from)}->${name(to)}`);
  return out;
}

describe('group states', () => {
  it('a group with a host driver is host and not viable; claiming it is EPERM', () => {
    const m = bootDomains();
    const g = groupOf(m, NIC);
    assert.equal(m.dma.state(g), 'host');
    assert.equal(m.dma.viable(g), false);
    assert.match(m.dma.whyNotUsable(g) ?? '', /0000:01:00\.0 \(e1000e\)/);
    refuses(m, () => m.dma.claim(g, 'qemu'), 'EPERM', 'claim with e1000e bound');
  });

  it('bridges (pcieport) and unbound devices keep a group viable', () => {
    const m = bootDomains();
    const port = groupOf(m, '0000:00:01.0');
    assert.equal(pci(m, '0000:00:01.0').driver, 'pcieport');
    assert.equal(m.dma.viable(port), true);
    assert.equal(m.dma.state(port), 'idle');
    assert.equal(m.dma.whyNotUsable(port), undefined);
  });

  it('host → leaving-host → idle → user → idle → host', () => {
    const m = bootDomains();
    const g = groupOf(m, NIC);
    m.dma.leaveHost(g);
    assert.equal(m.dma.state(g), 'leaving-host');
    // No new host driver while leaving; the bound one may go.
    unbind(m, 'e1000e', NIC);
    assert.equal(m.dma.state(g), 'idle');
    refuses(m, () => bind(m, 'e1000e', NIC), 'EBUSY', 'bind while leaving');
    refuses(m, () => driversProbe(m, NIC), 'EINVAL', 'drivers_probe while leaving');
    m.dma.claim(g, 'qemu');
    assert.equal(m.dma.state(g), 'user');
    assert.equal(m.dma.dma(g).owner, 'qemu');
    m.dma.release(g, 'qemu');
    assert.equal(m.dma.state(g), 'idle');
    bind(m, 'e1000e', NIC);
    assert.equal(m.dma.state(g), 'host');
  });

  it('leaving-host can be given up (return_host); refusals when not leaving or owned', () => {
    const m = bootDomains();
    const g = groupOf(m, NIC);
    refuses(m, () => m.dma.returnHost(g), 'EINVAL', 'return_host while not leaving');
    m.dma.leaveHost(g);
    m.dma.returnHost(g);
    assert.equal(m.dma.state(g), 'host');
    unbind(m, 'e1000e', NIC);
    m.dma.claim(g, 'qemu');
    refuses(m, () => m.dma.returnHost(g), 'EBUSY', 'return_host while owned');
    refuses(m, () => m.dma.leaveHost(g), 'EBUSY', 'leave_host while owned');
  });

  it('a user-owned group refuses host drivers: bind EBUSY, drivers_probe EINVAL; vfio-pci may bind', () => {
    const m = bootDomains();
    const g = ownedNic(m);
    refuses(m, () => bind(m, 'e1000e', NIC), 'EBUSY', 'bind e1000e to an owned group');
    refuses(m, () => driversProbe(m, NIC), 'EINVAL', 'drivers_probe into an owned group');
    setDriverOverride(m, pci(m, NIC), 'vfio-pci\n');
    bind(m, 'vfio-pci', NIC);
    assert.equal(pci(m, NIC).driver, 'vfio-pci');
    assert.equal(m.dma.state(g), 'user');
  });

  it('claim and release refusals', () => {
    const m = bootDomains();
    const g = groupOf(m, NIC);
    unbind(m, 'e1000e', NIC);
    refuses(m, () => m.dma.release(g, 'qemu'), 'EINVAL', 'release of an unowned group');
    refuses(m, () => m.dma.claim(g, ''), 'EINVAL', 'claim without an owner');
    m.dma.claim(g, 'qemu');
    refuses(m, () => m.dma.claim(g, 'other'), 'EPERM', 'second claim');
    refuses(m, () => m.dma.claim(g, 'qemu'), 'EPERM', 'same owner claims again');
    refuses(m, () => m.dma.release(g, 'other'), 'EPERM', 'release by another owner');
  });

  it('a unit without interrupt remapping makes its groups unusable unless allow_unsafe_interrupts=1', () => {
    const m = bootDomains();
    const g = groupOf(m, NV_GPU);
    assert.equal(groupOf(m, NV_AUDIO), g);
    unbind(m, 'snd_hda_intel', NV_AUDIO);
    assert.equal(m.dma.viable(g), true);
    assert.match(m.dma.whyNotUsable(g) ?? '', /dmar1 has no interrupt remapping/);
    refuses(m, () => m.dma.claim(g, 'qemu'), 'EPERM', 'claim without interrupt remapping');

    const unsafe = bootDomains(DOMAINS_TOPOLOGY.replace('cmdline: intel_iommu=on', 'cmdline: intel_iommu=on vfio_iommu_type1.allow_unsafe_interrupts=1'));
    const g2 = groupOf(unsafe, NV_GPU);
    unbind(unsafe, 'snd_hda_intel', NV_AUDIO);
    assert.equal(unsafe.dma.whyNotUsable(g2), undefined);
    unsafe.dma.claim(g2, 'qemu');
    assert.equal(unsafe.dma.state(g2), 'user');
  });

  it('a device hot-added into an owned group joins its domain and gets no host driver', () => {
    const m = bootDomains();
    const g = groupOf(m, '0000:00:1f.2');
    unbind(m, 'ahci', '0000:00:1f.2');
    m.dma.claim(g, 'qemu');
    const d = m.dma.allocate('dmar0', {});
    m.dma.attach(g, d.id);
    removeStore(m, pci(m, '0000:00:1f.2'), '1');
    rescanAll(m, '1');
    const back = pci(m, '0000:00:1f.2');
    assert.equal(back.group, g);
    assert.equal(back.driver, null, 'ahci must not bind into a user-owned group');
    assert.equal(m.dma.deviceDomain(back), d);
    assert.equal(m.dma.state(g), 'user');
  });
});

describe('user domains', () => {
  it('allocates with the unit capabilities and refuses what the unit lacks', () => {
    const m = bootDomains();
    const d = m.dma.allocate('dmar0', { pasid: true, nesting: true, dirtyTracking: true });
    assert.deepEqual(d.caps, { pasid: true, nesting: true, dirtyTracking: true });
    assert.equal(d.kind, 'user');
    const d2 = m.dma.allocate('dmar0', {});
    assert.ok(d2.id > d.id);
    refuses(m, () => m.dma.allocate('dmar1', { pasid: true }), 'EOPNOTSUPP', 'PASID on dmar1');
    refuses(m, () => m.dma.allocate('dmar1', { nesting: true }), 'EOPNOTSUPP', 'nesting on dmar1');
    refuses(m, () => m.dma.allocate('dmar1', { dirtyTracking: true }), 'EOPNOTSUPP', 'dirty tracking on dmar1');
    refuses(m, () => m.dma.allocate('dmar9', {}), 'ENODEV', 'unknown unit');
  });

  it('attach from blocking, detach back to blocking, release back to default', () => {
    const m = bootDomains();
    const g = groupOf(m, NIC);
    const d = m.dma.allocate('dmar0', {});
    unbind(m, 'e1000e', NIC);
    refuses(m, () => m.dma.attach(g, d.id), 'EPERM', 'attach to an unowned group');
    const log = trace(m);
    m.dma.claim(g, 'qemu');
    assert.equal(m.dma.currentDomain(g).kind, 'blocking');
    m.dma.attach(g, d.id);
    assert.equal(m.dma.currentDomain(g), d);
    assert.deepEqual(m.dma.groupsOn(d), [g]);
    refuses(m, () => m.dma.attach(g, d.id), 'EBUSY', 'attach over a user domain');
    refuses(m, () => m.dma.free(d.id), 'EBUSY', 'free while attached');
    m.dma.detach(g);
    assert.equal(m.dma.currentDomain(g).kind, 'blocking');
    refuses(m, () => m.dma.detach(g), 'EINVAL', 'detach while on blocking');
    m.dma.attach(g, d.id);
    m.dma.release(g, 'qemu');
    assert.equal(m.dma.currentDomain(g).kind, 'default');
    assert.deepEqual(log, [`${g.id}:default->blocking`, `${g.id}:blocking->user${d.id}`, `${g.id}:user${d.id}->blocking`, `${g.id}:blocking->user${d.id}`, `${g.id}:user${d.id}->default`]);
    m.dma.free(d.id);
    refuses(m, () => m.dma.free(d.id), 'ENOENT', 'double free');
    refuses(m, () => m.dma.attach(g, 999), 'ENOENT', 'attach an unknown domain');
  });

  it('a domain of another unit is refused with EINVAL and the group keeps its domain', () => {
    const unsafe = bootDomains(DOMAINS_TOPOLOGY.replace('cmdline: intel_iommu=on', 'cmdline: intel_iommu=on vfio_iommu_type1.allow_unsafe_interrupts=1'));
    const g = groupOf(unsafe, NV_GPU);
    unbind(unsafe, 'snd_hda_intel', NV_AUDIO);
    unsafe.dma.claim(g, 'qemu');
    const other = unsafe.dma.allocate('dmar0', {});
    refuses(unsafe, () => unsafe.dma.attach(g, other.id), 'EINVAL', 'attach a dmar0 domain to a dmar1 group');
    const own = unsafe.dma.allocate('dmar1', {});
    unsafe.dma.attach(g, own.id);
    refuses(unsafe, () => unsafe.dma.replace(g, other.id), 'EINVAL', 'replace with a dmar0 domain');
    assert.equal(unsafe.dma.currentDomain(g), own);
  });

  it('replace switches straight from one user domain to another, with no detour', () => {
    const m = bootDomains();
    const g = ownedNic(m);
    const a = m.dma.allocate('dmar0', {});
    const b = m.dma.allocate('dmar0', { dirtyTracking: true });
    refuses(m, () => m.dma.replace(g, b.id), 'EINVAL', 'replace before any attach');
    m.dma.attach(g, a.id);
    const log = trace(m);
    m.dma.replace(g, b.id);
    assert.deepEqual(log, [`${g.id}:user${a.id}->user${b.id}`]);
    assert.equal(m.dma.currentDomain(g), b);
    m.dma.replace(g, b.id);
    assert.equal(log.length, 1, 'replacing with the same domain is a no-op');
    refuses(m, () => m.dma.replace(g, null), 'EINVAL', 'replace with none');
    refuses(m, () => m.dma.replace(g, 4242), 'ENOENT', 'replace with an unknown domain');
    assert.equal(m.dma.currentDomain(g), b, 'a refused replace leaves the old domain');
    m.dma.release(g, 'qemu');
    refuses(m, () => m.dma.replace(g, a.id), 'EPERM', 'replace on a released group');
  });
});

describe('PASIDs', () => {
  it('attach, replace and detach a PASID; refusals in the kernel order', () => {
    const m = bootDomains();
    const nic = pci(m, NIC);
    const g = ownedNic(m);
    const p1 = m.dma.allocate('dmar0', { pasid: true });
    const p2 = m.dma.allocate('dmar0', { pasid: true });
    const plain = m.dma.allocate('dmar0', {});
    refuses(m, () => m.dma.attachPasid(nic, 5, plain.id), 'EOPNOTSUPP', 'a domain without PASID support');
    refuses(m, () => m.dma.attachPasid(nic, 0, p1.id), 'EINVAL', 'pasid 0');
    refuses(m, () => m.dma.attachPasid(nic, 2 ** 20, p1.id), 'EINVAL', 'pasid beyond the 20-bit width');
    m.dma.attachPasid(nic, 5, p1.id);
    assert.deepEqual(m.dma.pasidUsers(p1), [{ device: nic, pasid: 5 }]);
    refuses(m, () => m.dma.attachPasid(nic, 5, p2.id), 'EBUSY', 'the pasid is taken');
    refuses(m, () => m.dma.replacePasid(nic, 6, p2.id), 'EINVAL', 'replace an unattached pasid');
    refuses(m, () => m.dma.replacePasid(nic, 5, plain.id), 'EOPNOTSUPP', 'replace with a non-PASID domain');
    m.dma.replacePasid(nic, 5, p2.id);
    assert.deepEqual(m.dma.pasidUsers(p1), []);
    assert.deepEqual(m.dma.pasidUsers(p2), [{ device: nic, pasid: 5 }]);
    assert.equal(m.dma.currentDomain(g).kind, 'blocking', 'PASID attach leaves the group domain alone');
    refuses(m, () => m.dma.free(p2.id), 'EBUSY', 'free a domain a PASID uses');
    m.dma.detachPasid(nic, 5);
    refuses(m, () => m.dma.detachPasid(nic, 5), 'EINVAL', 'detach twice');
    m.dma.attachPasid(nic, 7, p1.id);
    m.dma.release(g, 'qemu');
    assert.deepEqual(m.dma.pasidUsers(p1), [], 'release drops the PASIDs');
  });

  it('PASIDs need an owned group and a PASID-capable device', () => {
    const m = bootDomains();
    const p = m.dma.allocate('dmar0', { pasid: true });
    refuses(m, () => m.dma.attachPasid(pci(m, NIC), 5, p.id), 'EPERM', 'pasid on an unowned group');
    const gpu = pci(m, GPU);
    unbind(m, 'i915', GPU);
    m.dma.claim(groupOf(m, GPU), 'qemu');
    refuses(m, () => m.dma.attachPasid(gpu, 5, p.id), 'EINVAL', 'a device without a PASID capability');
  });

  it('a removed device takes its PASIDs with it', () => {
    const m = bootDomains();
    const nic = pci(m, NIC);
    ownedNic(m);
    const p = m.dma.allocate('dmar0', { pasid: true });
    m.dma.attachPasid(nic, 9, p.id);
    removeStore(m, nic, '1');
    assert.deepEqual(m.dma.pasidUsers(p), []);
    m.dma.free(p.id);
  });
});

describe('SR-IOV and the domain engine', () => {
  it('VFs get groups of their own, bound to the VF driver; an owned VF group refuses it', async () => {
    const { numVfsStore } = await import('../../../src/engine/sriov');
    const m = bootDomains();
    const pf = pci(m, PF);
    numVfsStore(m, pf, '2');
    const vf = pci(m, '0000:02:00.1');
    const g = groupOf(m, vf.name);
    assert.notEqual(g, groupOf(m, PF));
    assert.equal(vf.driver, 'nvme');
    assert.equal(m.dma.state(g), 'host');
    refuses(m, () => m.dma.claim(g, 'qemu'), 'EPERM', 'claim of a VF group with nvme bound');
    unbind(m, 'nvme', vf.name);
    m.dma.claim(g, 'qemu');
    refuses(m, () => driversProbe(m, vf.name), 'EINVAL', 'drivers_probe of a VF in an owned group');
    numVfsStore(m, pf, '0');
    assert.equal(m.groups.get(g.id), undefined, 'the VF group went with the VF');
  });
});
