// Kernel modules of the simulated machine (engine/modules.ts): what is loaded at boot, load
// and unload with their dependencies, parameters, `ids=`, and udev's load of a VF driver.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { driversProbe, setDriverOverride } from '../../../src/engine/driver-ops';
import { isErrno, type ErrnoCode } from '../../../src/engine/errno';
import { Machine } from '../../../src/engine/machine';
import { numVfsStore } from '../../../src/engine/sriov';
import type { PciDevice } from '../../../src/engine/types';
import { loadTopology } from '../../../src/topology/load';
import { TOPOLOGIES } from '../../helpers/paths';
import { pciDevice } from '../../helpers/machines';

/** A topology file of the repository, with its `cmdline:` line replaced when given. */
function boot(name: string, cmdline?: string): Machine {
  let text = readFileSync(join(TOPOLOGIES, `${name}.yaml`), 'utf8');
  if (cmdline !== undefined) text = text.replace(/^cmdline:.*$/m, `cmdline: ${JSON.stringify(cmdline)}`);
  const r = loadTopology(text, `${name}.yaml`);
  if (!r.ok) assert.fail(r.errors.map((e) => `${e.line}:${e.col} ${e.message}`).join('\n'));
  return Machine.boot(r.topology);
}

const dev = pciDevice;

function refused(code: ErrnoCode, fn: () => void): void {
  assert.throws(fn, (e: unknown) => isErrno(e) && e.code === code);
}

const VFIO_CHAIN = ['irqbypass', 'vfio', 'vfio_iommu_type1', 'vfio_pci', 'vfio_pci_core', 'vfio_virqfd'];

describe('kernel modules', () => {
  it('boot: the topology drivers, vfio-pci and pci-stub with their dependencies; a VF driver only with VFs', () => {
    const m = boot('qemu-writes');
    assert.deepEqual(m.loadedModules(), ['e1000e', 'irqbypass', 'nvme', 'pci_stub', 'vfio', 'vfio_iommu_type1', 'vfio_pci', 'vfio_pci_core', 'vfio_virqfd']);
    assert.deepEqual(m.modules.holders('vfio'), ['vfio_iommu_type1', 'vfio_pci', 'vfio_pci_core']);
    assert.equal(m.modules.refcount('vfio'), 3);
    // sriov-nic: the PF at 00.1 has no VFs, the one at 00.0 has four, so iavf is loaded.
    assert.ok(boot('sriov-nic').modules.isLoaded('iavf'));
  });

  it('rmmod: EBUSY while used; otherwise the driver goes and its devices are unbound', () => {
    const m = boot('qemu-writes');
    refused('EBUSY', () => m.modules.unload('vfio'));
    driversProbe(m, '0000:01:00.0');
    assert.equal(dev(m, '0000:01:00.0').driver, 'e1000e');
    m.modules.unload('e1000e');
    assert.equal(dev(m, '0000:01:00.0').driver, null);
    assert.ok(!m.drivers.has('e1000e'));
    assert.ok(!m.modules.isLoaded('e1000e'));
    refused('ENOENT', () => m.modules.unload('e1000e'));
    // Loaded again, its driver registers last and binds the unbound devices it claims.
    m.modules.load('e1000e', new Map());
    assert.equal(dev(m, '0000:01:00.0').driver, 'e1000e');
    assert.equal([...m.drivers.keys()].at(-1), 'e1000e');
  });

  it('rmmod vfio_pci: EBUSY while a user owns a group of its devices (the device is open)', () => {
    const m = boot('qemu-writes');
    const d = dev(m, '0000:01:00.0');
    setDriverOverride(m, d, 'vfio-pci');
    driversProbe(m, d.name);
    assert.equal(d.driver, 'vfio-pci');
    m.dma.claim(d.group!, 'qemu');
    assert.equal(m.modules.refcount('vfio_pci'), 1);
    refused('EBUSY', () => m.modules.unload('vfio_pci'));
    assert.equal(d.driver, 'vfio-pci');
    m.dma.release(d.group!, 'qemu');
    m.modules.unload('vfio_pci');
    assert.equal(d.driver, null);
  });

  it('modprobe: dependencies first, EEXIST when loaded, ENOENT for an unknown name, EINVAL loads nothing', () => {
    const m = boot('qemu-writes');
    for (const mod of ['vfio_pci', 'vfio_pci_core', 'vfio_virqfd', 'irqbypass', 'vfio_iommu_type1', 'vfio']) m.modules.unload(mod);
    assert.ok(!m.drivers.has('vfio-pci'));
    refused('EINVAL', () => m.modules.load('vfio-pci', new Map([['nointxmask', 'maybe']])));
    assert.ok(!m.modules.isLoaded('vfio'));
    m.modules.load('vfio-pci', new Map([['nointxmask', '1'], ['no_such_param', 'x']]));
    assert.deepEqual(m.loadedModules().filter((n) => n.startsWith('vfio') || n === 'irqbypass'), VFIO_CHAIN);
    assert.equal(m.modules.param('vfio_pci', 'nointxmask'), 'Y');
    assert.ok(m.drivers.has('vfio-pci'));
    refused('EEXIST', () => m.modules.load('vfio_pci', new Map()));
    refused('ENOENT', () => m.modules.load('no-such-module', new Map()));
  });

  it('vfio-pci.ids= on the command line binds at load; modprobe.d options apply to dependencies', () => {
    const m = boot('qemu-writes', 'intel_iommu=on vfio-pci.ids=8086:10d3,1af4:1041 vfio_iommu_type1.allow_unsafe_interrupts=1');
    // Loaded at boot: the unbound devices matching the IDs are bound by it.
    assert.equal(dev(m, '0000:01:00.0').driver, 'vfio-pci');
    assert.equal(dev(m, '0000:03:00.0').driver, 'vfio-pci');
    assert.equal(m.modules.param('vfio_iommu_type1', 'allow_unsafe_interrupts'), 'Y');
    m.modules.unload('vfio_pci');
    assert.equal(dev(m, '0000:01:00.0').driver, null);
    m.modules.load('vfio_pci', new Map());
    assert.equal(dev(m, '0000:01:00.0').driver, 'vfio-pci');
    // A modprobe.d option (module.param) is overridden by the command line's.
    m.modules.unload('vfio_iommu_type1');
    m.modules.load('vfio_iommu_type1', new Map(), new Map([['vfio_iommu_type1.allow_unsafe_interrupts', '0'], ['vfio_iommu_type1.disable_hugepages', 'y']]));
    assert.equal(m.modules.param('vfio_iommu_type1', 'allow_unsafe_interrupts'), 'Y');
    assert.equal(m.modules.param('vfio_iommu_type1', 'disable_hugepages'), 'Y');
  });

  it('allow_unsafe_interrupts written at run time is what the group checks read', () => {
    const m = boot('qemu-writes');
    assert.equal(m.modules.allowUnsafeInterrupts(), false);
    m.modules.setParam('vfio_iommu_type1', 'allow_unsafe_interrupts', '1\n');
    assert.equal(m.modules.allowUnsafeInterrupts(), true);
    refused('EINVAL', () => m.modules.setParam('vfio_iommu_type1', 'allow_unsafe_interrupts', 'maybe'));
    refused('ENOENT', () => m.modules.setParam('vfio_iommu_type1', 'ids', '1'));
  });

  it('a VF driver is loaded by udev when the first VF appears, and binds it', () => {
    const m = boot('sriov-nic');
    m.modules.unload('iavf');
    assert.ok(!m.drivers.has('iavf'));
    const pf = [...m.devices.values()].find((d): d is PciDevice => d.kind === 'pci' && d.fn.spec.sriov?.vfDriver === 'iavf' && m.vfCount(d) === 0);
    assert.ok(pf, 'a PF without VFs');
    numVfsStore(m, pf, '2\n');
    assert.ok(m.modules.isLoaded('iavf'));
    assert.deepEqual(m.vfsOf(pf).map((v) => v.driver), ['iavf', 'iavf']);
    assert.equal(m.modules.resolveAlias('pci:v00008086d0000154Csv00008086sd00000000bc02sc00i00'), 'iavf');
  });
});
