// --state round trips at the engine level: restore(capture(m)) on a freshly booted machine
// serves exactly m's tree (every name, link target and readable attribute text), after
// directed sequences (VF removal, remove/rescan renumbering, new_id binding after a config
// read, mdevs) and after seeded random sequences of writes. The seeds are 1..STATE_RUNS (25)
// unless STATE_SEED_BASE=<n> moves them; STATE_SEED=<n> replays one seed.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Machine } from '../../../src/engine/machine';
import { captureState, checkStateShape, restoreState, topologyFingerprint } from '../../../src/engine/saved-state';
import { TOPOLOGIES } from '../../helpers/paths';
import { DOMAINS_TOPOLOGY, GPU } from './domains-fixture';
import { firstDifference, walkTree } from './state-tree-walk';
import { applyRandom, armPlatformTopology, bootText, randomWrite, read, rng, write } from './state-writes';

const SRIOV = readFileSync(join(TOPOLOGIES, 'qemu-sriov.yaml'), 'utf8');
const SRIOV_NIC = readFileSync(join(TOPOLOGIES, 'sriov-nic.yaml'), 'utf8');
const ARM_PLATFORM = armPlatformTopology();

/** What a restart does: the state through JSON, checked, put on a freshly booted machine. */
function restart(m: Machine, text: string): Machine {
  const saved = JSON.parse(JSON.stringify(captureState(m, topologyFingerprint(text)))) as unknown;
  const fresh = bootText(text);
  restoreState(fresh, checkStateShape(saved, topologyFingerprint(text)));
  return fresh;
}

function assertSameTree(before: Machine, after: Machine, what: string): void {
  const a = walkTree(before);
  const b = walkTree(after);
  const diff = firstDifference(a, b);
  assert.equal(diff, undefined, `${what}: the restored tree differs at ${diff}`);
}

function groupOf(m: Machine, name: string): number | undefined {
  return m.devices.get(name)?.group?.id;
}

describe('saved state: directed round trips', () => {
  it('a root port removed and rescanned keeps the resources Linux gave it afresh', () => {
    const text = readFileSync(join(TOPOLOGIES, 'qemu-writes.yaml'), 'utf8');
    const m = bootText(text);
    const before = read(m, 'bus/pci/devices/0000:00:05.1/resource');
    write(m, 'bus/pci/devices/0000:00:05.1/remove', '1\n');
    write(m, 'bus/pci/rescan', '1\n');
    assert.notEqual(read(m, 'bus/pci/devices/0000:00:05.1/resource'), before);
    assertSameTree(m, restart(m, text), 'after remove and rescan');
  });

  it('a removed VF stays removed, sriov_numvfs still counts it', () => {
    const m = bootText(SRIOV);
    write(m, 'bus/pci/drivers/nvme/bind', '0000:01:00.0\n');
    write(m, 'bus/pci/devices/0000:01:00.0/sriov_numvfs', '4\n');
    write(m, 'bus/pci/devices/0000:01:00.2/remove', '1\n');
    const r = restart(m, SRIOV);
    assert.equal(r.devices.has('0000:01:00.2'), false);
    assert.equal(read(r, 'bus/pci/devices/0000:01:00.0/sriov_numvfs'), '4\n');
    assertSameTree(m, r, 'VF removal');
  });

  it('group numbers after remove, VF enable and rescan are the ones served, and the next ones too', () => {
    const m = bootText(SRIOV);
    write(m, 'bus/pci/drivers/nvme/bind', '0000:01:00.0\n');
    write(m, 'bus/pci/devices/0000:02:00.0/remove', '1\n'); // frees group 6
    write(m, 'bus/pci/devices/0000:01:00.0/sriov_numvfs', '2\n'); // VFs take 6 and 8
    write(m, 'bus/pci/rescan', '1\n'); // 02:00.0 comes back as 9
    write(m, 'bus/pci/devices/0000:00:1f.3/remove', '1\n');
    assert.deepEqual([groupOf(m, '0000:01:00.1'), groupOf(m, '0000:01:00.2'), groupOf(m, '0000:02:00.0')], [6, 8, 9]);
    const r = restart(m, SRIOV);
    assert.deepEqual([groupOf(r, '0000:01:00.1'), groupOf(r, '0000:01:00.2'), groupOf(r, '0000:02:00.0')], [6, 8, 9]);
    assertSameTree(m, r, 'renumbered groups');
    // The allocator is where it was: the next numbers given are the same on both.
    for (const x of [m, r]) {
      write(x, 'bus/pci/devices/0000:01:00.0/sriov_numvfs', '0\n');
      write(x, 'bus/pci/devices/0000:01:00.0/sriov_numvfs', '3\n');
    }
    assertSameTree(m, r, 'groups allocated after the restart');
  });

  it('config of a device bound through new_id after its config was read is served the same', () => {
    const m = bootText(SRIOV);
    read(m, 'bus/pci/devices/0000:02:00.0/config'); // the image is made now, unbound
    write(m, 'bus/pci/drivers/pci-stub/new_id', '8086 10d3\n'); // binds 02:00.0
    write(m, 'bus/pci/devices/0000:03:00.0/config', Buffer.from([0x07]), 0x04);
    write(m, 'bus/pci/devices/0000:03:00.0/config', Buffer.from([0x0b]), 0x3c);
    // Bound now to pci-stub, whose probe enables nothing (pci_stub_probe): the image follows
    // the state (bus master still off, the driver bits as pci-stub left them), whenever it was
    // first read.
    assert.equal(read(m, 'bus/pci/devices/0000:02:00.0/config').charCodeAt(0x04) & 0x04, 0);
    assert.equal(m.devices.get('0000:02:00.0')?.driver, 'pci-stub');
    const r = restart(m, SRIOV);
    assert.equal(read(r, 'bus/pci/devices/0000:02:00.0/config'), read(m, 'bus/pci/devices/0000:02:00.0/config'));
    assert.equal(read(r, 'bus/pci/devices/0000:03:00.0/config').charCodeAt(0x3c), 0x0b);
    assertSameTree(m, r, 'new_id binding');
  });

  it('bind with a driver whose probe would not take the device fails (ENODEV), so no state can name it', () => {
    const m = bootText(SRIOV);
    write(m, 'bus/pci/devices/0000:00:1f.2/driver_override', 'nvme\n');
    assert.throws(() => write(m, 'bus/pci/drivers/nvme/bind', '0000:00:1f.2\n'), { code: 'ENODEV' });
    assert.equal(m.devices.get('0000:00:1f.2')?.driver, null);
  });

  it('mdevs come back with their uuids, types, parents and group numbers', () => {
    const m = bootText(DOMAINS_TOPOLOGY);
    const types = `bus/pci/devices/${GPU}/mdev_supported_types`;
    write(m, `${types}/i915-GVTg_V5_4/create`, '11111111-2222-4333-8444-555555555555\n');
    write(m, `${types}/i915-GVTg_V5_8/create`, '11111111-2222-4333-8444-666666666666\n');
    write(m, `${types}/i915-GVTg_V5_4/create`, 'a0a0a0a0-b1b1-4c2c-8d3d-e4e4e4e4e4e4\n');
    write(m, 'bus/mdev/devices/11111111-2222-4333-8444-555555555555/remove', '1\n');
    const r = restart(m, DOMAINS_TOPOLOGY);
    const mdevs = (x: Machine): string[] => x.mdev.all().map((d) => `${d.name} ${d.type} ${d.parent.name} group ${d.group?.id}`);
    assert.equal(mdevs(r).length, 2);
    assert.deepEqual(mdevs(r), mdevs(m));
    assertSameTree(m, r, 'mdevs');
  });

  it('the PCI flags, reset_method, power/ of every kind of device, resource_alignment and platform driver_override come back', () => {
    const m = bootText(ARM_PLATFORM);
    const port = m.pciDevicesInOrder().find((d) => d.driver === 'pcieport' && d.fn.secondary)!;
    const dev = 'bus/pci/devices/0000:01:00.0';
    write(m, 'bus/pci/drivers/nvme/unbind', '0000:01:00.0\n'); // enable takes no bound device
    write(m, `${dev}/broken_parity_status`, '1\n');
    write(m, `${dev}/d3cold_allowed`, '0\n');
    write(m, `${dev}/msi_bus`, '0\n');
    write(m, `${dev}/enable`, '1\n');
    write(m, `${dev}/reset_method`, '\n');
    write(m, `${dev}/power/control`, 'auto\n');
    const bus = `pci_bus/${port.fn.segment.toString(16).padStart(4, '0')}:${port.fn.secondary!.number.toString(16).padStart(2, '0')}`;
    write(m, `${port.fn.sysfsPath}/${bus}/power/async`, 'enabled\n');
    const host = m.pci.hostBridges[0]!;
    write(m, `devices/${host.dirName}/power/control`, 'on\n');
    write(m, 'devices/platform/1c00000.gpu/power/async', 'enabled\n');
    write(m, 'devices/platform/1c00000.gpu/driver_override', 'vfio-platform\n');
    write(m, 'bus/pci/resource_alignment', '20@0000:02:00.0\n');
    const r = restart(m, ARM_PLATFORM);
    assert.equal(read(r, `${dev}/broken_parity_status`), '1\n');
    assert.equal(read(r, `${dev}/d3cold_allowed`), '0\n');
    assert.equal(read(r, `${dev}/msi_bus`), '0\n');
    assert.equal(read(r, `${dev}/enable`), '1\n');
    assert.equal(read(r, `${dev}/reset_method`), '');
    assert.equal(read(r, `${dev}/power/control`), 'auto\n');
    assert.equal(read(r, `${port.fn.sysfsPath}/${bus}/power/async`), 'enabled\n');
    assert.equal(read(r, `devices/${host.dirName}/power/control`), 'on\n');
    assert.equal(read(r, 'devices/platform/1c00000.gpu/power/async'), 'enabled\n');
    assert.equal(read(r, 'devices/platform/1c00000.gpu/driver_override'), 'vfio-platform\n');
    assert.equal(read(r, 'bus/pci/resource_alignment'), '20@0000:02:00.0\n');
    assertSameTree(m, r, 'attribute writes');
  });

  it('module loads, unloads and parameters come back, and drivers keep their registration order', () => {
    const m = bootText(SRIOV_NIC);
    write(m, 'kernel/debug/iommufs/unload_module', 'vfio_pci\n');
    write(m, 'kernel/debug/iommufs/load_module', 'vfio_pci\n'); // vfio-pci is now registered last
    write(m, 'module/vfio_iommu_type1/parameters/dma_entry_limit', '100\n');
    write(m, 'kernel/debug/iommufs/unload_module', 'pci_stub\n');
    const r = restart(m, SRIOV_NIC);
    assert.deepEqual(r.modules.list().map((x) => x.name), m.modules.list().map((x) => x.name));
    assert.equal(r.modules.isLoaded('pci_stub'), false);
    assert.equal(read(r, 'module/vfio_iommu_type1/parameters/dma_entry_limit'), '100\n');
    assert.deepEqual([...r.drivers.keys()], [...m.drivers.keys()]);
    assertSameTree(m, r, 'modules');
  });

  it('a state saved twice in a row is the same (capture of a restored machine gives the file back)', () => {
    const m = bootText(SRIOV_NIC);
    const r0 = rng(7);
    for (let i = 0; i < 40; i++) applyRandom(m, randomWrite(m, r0));
    walkTree(m);
    const fp = topologyFingerprint(SRIOV_NIC);
    const first = captureState(m, fp);
    assert.deepEqual(captureState(restart(m, SRIOV_NIC), fp), first);
  });
});

const RUNS = Number(process.env.STATE_RUNS ?? 25);
const SEED = process.env.STATE_SEED === undefined ? undefined : Number(process.env.STATE_SEED);
const BASE = Number(process.env.STATE_SEED_BASE ?? 1);

describe('saved state: seeded random writes', () => {
  for (const [label, text] of [
    ['domains-lab', DOMAINS_TOPOLOGY],
    ['qemu-sriov', SRIOV],
    ['sriov-nic', SRIOV_NIC],
    ['arm-platform', ARM_PLATFORM],
  ] as const) {
    it(`${label}: restore(capture(m)) serves m's tree after random sequences (seeds ${SEED ?? `${BASE}..${BASE + RUNS - 1}`}), and both go on alike`, () => {
      const seeds = SEED === undefined ? Array.from({ length: RUNS }, (_, i) => BASE + i) : [SEED];
      for (const seed of seeds) {
        const r = rng(seed);
        const m = bootText(text);
        const log: string[] = [];
        const steps = 10 + Math.floor(r() * 50);
        for (let i = 0; i < steps; i++) log.push(applyRandom(m, randomWrite(m, r)));
        const where = `${label}, seed ${seed} (STATE_SEED=${seed} replays it):\n  ${log.join('\n  ')}`;
        let restored: Machine;
        try {
          restored = restart(m, text);
        } catch (e) {
          assert.fail(`${where}\nrestore refused the state it captured: ${(e as Error).message}`);
        }
        assertSameTree(m, restored, where);
        // Both machines take the same further writes and still serve the same tree.
        const more = rng(seed + 1_000_003);
        const more2 = rng(seed + 1_000_003);
        for (let i = 0; i < 15; i++) {
          log.push(`then ${applyRandom(m, randomWrite(m, more))}`);
          applyRandom(restored, randomWrite(restored, more2));
        }
        assertSameTree(m, restored, `${where}\n(after the restart)`);
      }
    });
  }
});

