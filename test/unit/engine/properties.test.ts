// Property-based tests of the engine (fast-check): random sequences of every operation a
// user can do (bind, unbind, driver_override, drivers_probe, sriov_numvfs, remove, rescan,
// type, claim, release, leave/return host, alloc/free, attach, replace, detach, PASID
// attach/detach, mdev create/remove) on the domains-lab machine. After every step:
//   - every device is in exactly one group, and the group lists it once;
//   - the sysfs tree agrees both ways: each kernel/iommu_groups/N/devices/<d> link leads to a
//     device directory whose iommu_group link leads back to N, and every device directory
//     with an iommu_group link is listed there (walked after each operation that can add,
//     remove or rebind a device, and at the end of every sequence);
//   - no user-owned group has a device bound to a host (DMA API) driver;
//   - all devices of a group are on one domain, of their own unit (none for emulated groups);
//   - ownership, state and domain agree (owned ⇔ user ⇔ not on the default domain);
//   - a refused operation (an Errno) leaves the machine exactly as it was.
// FC_SEED=<n> replays a run; FC_RUNS=<n> changes the number of sequences (default 1000).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { bind, driversProbe, setDriverOverride, unbind } from '../../../src/engine/driver-ops';
import { managesDma } from '../../../src/engine/drivers';
import { isErrno } from '../../../src/engine/errno';
import { setGroupType } from '../../../src/engine/group-type';
import { removeStore, rescanAll } from '../../../src/engine/hotplug';
import { Machine } from '../../../src/engine/machine';
import { numVfsStore } from '../../../src/engine/sriov';
import type { IommuGroup, PciDevice } from '../../../src/engine/types';
import { sysfsTree } from '../../../src/sysfs/tree';
import type { DirNode, Node } from '../../../src/sysfs/node';
import { loadTopology } from '../../../src/topology/load';
import type { Topology } from '../../../src/topology/model';
import { DOMAINS_TOPOLOGY, GPU, PF } from './domains-fixture';
import { snapshot } from './domains-snapshot';

const loaded = loadTopology(DOMAINS_TOPOLOGY, 'domains-lab.yaml');
if (!loaded.ok) throw new Error('domains-lab does not load');
const TOPOLOGY: Topology = loaded.topology;

const DRIVERS = ['e1000e', 'nvme', 'i915', 'snd_hda_intel', 'ahci', 'vfio-pci', 'pci-stub', 'pcieport'];
const OWNERS = ['qemu', 'dpdk'];
const UUIDS = ['00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000002', '00000000-0000-4000-8000-000000000003', 'not-a-uuid'];
const MDEV_TYPES = ['i915-GVTg_V5_4', 'i915-GVTg_V5_8'];

type Op =
  | { op: 'bind'; dev: number; drv: number }
  | { op: 'unbind'; dev: number }
  | { op: 'override'; dev: number; drv: number }
  | { op: 'probe'; dev: number }
  | { op: 'numvfs'; n: number }
  | { op: 'remove'; dev: number }
  | { op: 'rescan' }
  | { op: 'type'; group: number; word: string }
  | { op: 'claim'; group: number; owner: number }
  | { op: 'release'; group: number; owner: number }
  | { op: 'leave'; group: number }
  | { op: 'return'; group: number }
  | { op: 'alloc'; unit: number; pasid: boolean; dirty: boolean }
  | { op: 'free'; dom: number }
  | { op: 'attach'; group: number; dom: number }
  | { op: 'replace'; group: number; dom: number }
  | { op: 'detach'; group: number }
  | { op: 'pasid'; dev: number; pasid: number; dom: number }
  | { op: 'unpasid'; dev: number; pasid: number }
  | { op: 'mdev'; type: number; uuid: number }
  | { op: 'unmdev'; idx: number; raw: string };

const n = fc.nat(40);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('bind' as const), dev: n, drv: n }),
  fc.record({ op: fc.constant('unbind' as const), dev: n }),
  fc.record({ op: fc.constant('override' as const), dev: n, drv: n }),
  fc.record({ op: fc.constant('probe' as const), dev: n }),
  fc.record({ op: fc.constant('numvfs' as const), n: fc.integer({ min: 0, max: 5 }) }),
  fc.record({ op: fc.constant('remove' as const), dev: n }),
  fc.record({ op: fc.constant('rescan' as const) }),
  fc.record({ op: fc.constant('type' as const), group: n, word: fc.constantFrom('DMA', 'DMA-FQ', 'identity', 'auto', 'bogus') }),
  fc.record({ op: fc.constant('claim' as const), group: n, owner: fc.nat(1) }),
  fc.record({ op: fc.constant('release' as const), group: n, owner: fc.nat(1) }),
  fc.record({ op: fc.constant('leave' as const), group: n }),
  fc.record({ op: fc.constant('return' as const), group: n }),
  fc.record({ op: fc.constant('alloc' as const), unit: fc.nat(2), pasid: fc.boolean(), dirty: fc.boolean() }),
  fc.record({ op: fc.constant('free' as const), dom: n }),
  fc.record({ op: fc.constant('attach' as const), group: n, dom: n }),
  fc.record({ op: fc.constant('replace' as const), group: n, dom: n }),
  fc.record({ op: fc.constant('detach' as const), group: n }),
  fc.record({ op: fc.constant('pasid' as const), dev: n, pasid: fc.integer({ min: 0, max: 3 }), dom: n }),
  fc.record({ op: fc.constant('unpasid' as const), dev: n, pasid: fc.integer({ min: 0, max: 3 }) }),
  fc.record({ op: fc.constant('mdev' as const), type: fc.nat(1), uuid: fc.nat(UUIDS.length - 1) }),
  fc.record({ op: fc.constant('unmdev' as const), idx: n, raw: fc.constantFrom('1', '0', 'x') }),
);

function pick<T>(list: readonly T[], i: number): T | undefined {
  return list.length === 0 ? undefined : list[i % list.length];
}

/** Applies one operation the way its sysfs or control file would. */
function apply(m: Machine, o: Op): void {
  const pcis = m.pciDevicesInOrder();
  const groups = m.sortedGroups();
  const dev = 'dev' in o ? pick(pcis, o.dev) : undefined;
  const group = 'group' in o ? pick(groups, o.group) : undefined;
  // A domain id that exists half of the time (and one that does not otherwise).
  const domId = (i: number): number => pick([...m.dma.domains.keys()], i) ?? 1000 + i;
  switch (o.op) {
    case 'bind':
      return bind(m, DRIVERS[o.drv % DRIVERS.length]!, dev?.name ?? 'none');
    case 'unbind':
      return unbind(m, dev?.driver ?? 'e1000e', dev?.name ?? 'none');
    case 'override':
      return dev && setDriverOverride(m, dev, o.drv % 3 === 0 ? '\n' : `${DRIVERS[o.drv % DRIVERS.length]!}\n`);
    case 'probe':
      return driversProbe(m, dev?.name ?? 'none');
    case 'numvfs': {
      const pf = m.devices.get(PF);
      return pf && pf.kind === 'pci' ? numVfsStore(m, pf, String(o.n)) : undefined;
    }
    case 'remove':
      // Leave the host bridge: without it nothing comes back on a rescan.
      return dev && dev.fn.bus.parent !== null ? removeStore(m, dev, '1') : undefined;
    case 'rescan':
      return rescanAll(m, '1');
    case 'type':
      return group && setGroupType(m, group, o.word);
    case 'claim':
      return group && m.dma.claim(group, OWNERS[o.owner]!);
    case 'release':
      return group && m.dma.release(group, OWNERS[o.owner]!);
    case 'leave':
      return group && m.dma.leaveHost(group);
    case 'return':
      return group && m.dma.returnHost(group);
    case 'alloc':
      return void m.dma.allocate(['dmar0', 'dmar1', 'dmar7'][o.unit]!, { pasid: o.pasid, dirtyTracking: o.dirty });
    case 'free':
      return m.dma.free(domId(o.dom));
    case 'attach':
      return group && m.dma.attach(group, domId(o.dom));
    case 'replace':
      return group && m.dma.replace(group, o.dom % 5 === 0 ? null : domId(o.dom));
    case 'detach':
      return group && m.dma.detach(group);
    case 'pasid':
      return dev && m.dma.attachPasid(dev, o.pasid, domId(o.dom));
    case 'unpasid':
      return dev && m.dma.detachPasid(dev, o.pasid);
    case 'mdev': {
      const gpu = m.devices.get(GPU);
      return gpu && gpu.kind === 'pci' ? void m.mdev.create(gpu, MDEV_TYPES[o.type]!, UUIDS[o.uuid]!) : undefined;
    }
    case 'unmdev': {
      const x = pick(m.mdev.all(), o.idx);
      return x && m.mdev.removeStore(x, o.raw);
    }
  }
}

// ---- invariants ----

function resolve(root: DirNode, path: string): Node | undefined {
  let node: Node = root;
  for (const part of path.split('/').filter(Boolean)) {
    if (node.kind !== 'dir') return undefined;
    const next = node.lookup(part);
    if (!next) return undefined;
    node = next;
  }
  return node;
}

function joinLink(fromDir: string, target: string): string {
  const out = fromDir.split('/').filter(Boolean);
  for (const part of target.split('/')) {
    if (part === '..') out.pop();
    else if (part !== '.' && part !== '') out.push(part);
  }
  return out.join('/');
}

function checkSysfs(m: Machine): void {
  const root = sysfsTree(m).root;
  const groupsDir = resolve(root, 'kernel/iommu_groups') as DirNode;
  const listed = new Set<string>();
  for (const id of groupsDir.list()) {
    const devDir = `kernel/iommu_groups/${id}/devices`;
    const devs = resolve(root, devDir) as DirNode;
    for (const name of devs.list()) {
      const link = devs.lookup(name);
      assert.ok(link && link.kind === 'link', `${devDir}/${name} is not a link`);
      const target = joinLink(devDir, link.target);
      const dir = resolve(root, target);
      assert.ok(dir && dir.kind === 'dir', `${devDir}/${name} → ${target} does not resolve`);
      const back = dir.lookup('iommu_group');
      assert.ok(back && back.kind === 'link', `${target} has no iommu_group link`);
      assert.equal(joinLink(target, back.target), `kernel/iommu_groups/${id}`, `${target}/iommu_group does not lead back to group ${id}`);
      listed.add(name);
    }
    const g = m.groups.get(Number(id))!;
    if (g.kind === 'vfio-noiommu') assert.ok(resolve(root, `kernel/iommu_groups/${id}/name`), `group ${id} has no name file`);
  }
  // Every device directory with an iommu_group link is listed (bus/pci/devices and bus/mdev/devices).
  for (const bus of ['bus/pci/devices', 'bus/mdev/devices']) {
    const dir = resolve(root, bus);
    if (!dir || dir.kind !== 'dir') continue;
    for (const name of dir.list()) {
      const link = dir.lookup(name);
      assert.ok(link && link.kind === 'link');
      const devDir = resolve(root, joinLink(bus, link.target));
      assert.ok(devDir && devDir.kind === 'dir', `${bus}/${name} does not resolve`);
      if (devDir.lookup('iommu_group')) assert.ok(listed.has(name), `${name} has an iommu_group link but no group lists it`);
    }
  }
}

function checkInvariants(m: Machine): void {
  const seen = new Map<string, IommuGroup>();
  for (const g of m.sortedGroups()) {
    assert.ok(g.devices.length > 0, `group ${g.id} is empty`);
    assert.equal((g.kind === 'vfio-noiommu') === (g.unit === null), true, `group ${g.id}: kind and unit disagree`);
    for (const d of g.devices) {
      assert.ok(!seen.has(d.name), `${d.name} is in groups ${seen.get(d.name)?.id} and ${g.id}`);
      seen.set(d.name, g);
      assert.equal(d.group, g, `${d.name} points at another group than ${g.id}`);
      assert.equal(m.devices.get(d.name), d, `${d.name} is in group ${g.id} but not on the machine`);
    }
    const s = m.dma.dma(g);
    const state = m.dma.state(g);
    const domains = new Set(g.devices.map((d) => m.dma.deviceDomain(d)));
    assert.equal(domains.size, 1, `group ${g.id} spans ${domains.size} domains`);
    const dom = m.dma.domainOf(g);
    if (g.unit === null) {
      assert.equal(dom, null);
      assert.equal(s.owner, null);
      continue;
    }
    assert.ok(dom && dom.unit === g.unit, `group ${g.id} is on a domain of another unit`);
    for (const d of g.devices) assert.equal(d.unit, g.unit, `${d.name} is not on its group's unit`);
    if (dom.kind === 'user') assert.ok(m.dma.domains.get(dom.id) === dom, `group ${g.id} is on freed domain ${dom.id}`);
    if (s.owner !== null) {
      assert.equal(state, 'user');
      assert.notEqual(dom.kind, 'default', `owned group ${g.id} is on its default domain`);
      const host = g.devices.filter((d) => d.kind === 'pci' && d.driver !== null && !managesDma(m, d.driver));
      assert.deepEqual(host.map((d) => d.name), [], `owned group ${g.id} has host drivers`);
    } else {
      assert.notEqual(state, 'user');
      assert.equal(dom.kind, 'default', `unowned group ${g.id} is on ${dom.kind}`);
      assert.equal(s.pasids.size === 0 || [...s.pasids.values()].every((p) => p.size === 0), true, `unowned group ${g.id} has PASIDs`);
    }
    for (const dev of s.pasids.keys()) assert.equal(dev.group, g, `${dev.name} has PASIDs in a group it left`);
  }
  for (const d of m.devices.values()) assert.ok(d.unit === null || seen.has(d.name), `${d.name} has a unit but no group`);
  for (const x of m.mdev.all()) {
    assert.ok(m.mdev.isParent(x.parent), `mdev ${x.name} outlived its parent's registration`);
    assert.ok(m.mdev.available(x.parent, x.type) >= 0);
  }
}

/** Operations that can change which devices and groups exist or how they link (the sysfs
 * walk is the slow check, so it runs after these and at the end of each sequence). */
const RESHAPING = new Set<Op['op']>(['bind', 'unbind', 'probe', 'numvfs', 'remove', 'rescan', 'mdev', 'unmdev']);

function runSequence(ops: Op[]): void {
  const m = Machine.boot(TOPOLOGY);
  checkInvariants(m);
  checkSysfs(m);
  for (const o of ops) {
    const before = snapshot(m);
    try {
      apply(m, o);
    } catch (e) {
      if (!isErrno(e)) throw e;
      assert.equal(snapshot(m), before, `refused ${JSON.stringify(o)} (${e.message}) changed the machine`);
    }
    checkInvariants(m);
    if (RESHAPING.has(o.op)) checkSysfs(m);
  }
  checkSysfs(m);
}

describe('engine properties over random operation sequences', () => {
  it('keep every invariant, and refusals change nothing', () => {
    const seed = process.env.FC_SEED !== undefined ? Number(process.env.FC_SEED) : Date.now() ^ (Math.random() * 0x7fffffff);
    const numRuns = process.env.FC_RUNS !== undefined ? Number(process.env.FC_RUNS) : 1000;
    try {
      fc.assert(fc.property(fc.array(opArb, { minLength: 1, maxLength: 30 }), runSequence), { seed, numRuns });
    } catch (e) {
      // fast-check's message names the seed too; this line says how to replay it.
      throw new Error(`property failed; replay with FC_SEED=${seed}\n${(e as Error).message}`);
    }
  });

  it('the checks catch a broken machine (a device listed in two groups)', () => {
    const m = Machine.boot(TOPOLOGY);
    const [a, b] = m.sortedGroups();
    b!.devices.push(a!.devices[0]!);
    assert.throws(() => checkInvariants(m), /is in groups/);
  });

  it('the checks catch a host driver in an owned group', () => {
    const m = Machine.boot(TOPOLOGY);
    const nic = m.devices.get('0000:01:00.0') as PciDevice;
    unbind(m, 'e1000e', nic.name);
    m.dma.claim(nic.group!, 'qemu');
    nic.driver = 'e1000e';
    assert.throws(() => checkInvariants(m), /has host drivers/);
  });

  it('the checks catch a group link that does not lead back', () => {
    const m = Machine.boot(TOPOLOGY);
    const [a, b] = m.sortedGroups();
    const moved = a!.devices[0]!;
    a!.devices = a!.devices.slice(1);
    b!.devices.push(moved);
    assert.throws(() => checkSysfs(m), /does not lead back|no group lists it/);
  });
});
