// What binding and unbinding leaves on a device, read through the sysfs tree without FUSE:
// DMA masks that outlive the driver, enable and power state, MSI vectors with their
// capability bits, class devices named by the kernel's allocators (lowest free), wake-up
// capability from a root port's PME service, and d3cold_allowed from the PM capability.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { bind, driversProbe, setDriverOverride, unbind } from '../../../src/engine/driver-ops';
import { traitsFor } from '../../../src/engine/driver-traits';
import { removeSubtree, rescanAll } from '../../../src/engine/hotplug';
import { Machine } from '../../../src/engine/machine';
import type { PciDevice } from '../../../src/engine/types';
import type { DirNode, Node } from '../../../src/sysfs/node';
import { sysfsTree } from '../../../src/sysfs/tree';
import { loadTopology, loadTopologyFile } from '../../../src/topology/load';
import { TOPOLOGIES } from '../../helpers/paths';
import { bootDomains, GPU, NV_AUDIO, NV_GPU } from './domains-fixture';

function boot(name: string): Machine {
  const r = loadTopologyFile(join(TOPOLOGIES, `${name}.yaml`));
  if (!r.ok) assert.fail(r.errors.map((e) => `${e.line}:${e.col} ${e.message}`).join('\n'));
  return Machine.boot(r.topology);
}

function node(m: Machine, path: string): Node | undefined {
  let n: Node | undefined = sysfsTree(m).root;
  for (const part of path.split('/')) {
    if (!n || n.kind !== 'dir') return undefined;
    n = n.lookup(part);
  }
  return n;
}

function devPath(m: Machine, name: string): string {
  const d = m.devices.get(name) as PciDevice;
  return d.fn.sysfsPath;
}

function cat(m: Machine, dev: string, attr: string): string {
  const n = node(m, `${devPath(m, dev)}/${attr}`);
  assert.ok(n && n.kind === 'attr', `no ${dev}/${attr}`);
  return n.show().toString().trimEnd();
}

function ls(m: Machine, path: string): string[] {
  const n = node(m, path);
  return n && n.kind === 'dir' ? [...(n as DirNode).list()].sort() : [];
}

function config(m: Machine, dev: string): Uint8Array {
  return m.configBytes(m.devices.get(dev) as PciDevice);
}

const u16 = (b: Uint8Array, o: number): number => b[o]! | (b[o + 1]! << 8);

describe('driver traits and their effects on a device', () => {
  it('every driver name has one record; unknown hardware drivers get 64-bit DMA and one vector', () => {
    assert.equal(traitsFor('vfio-pci').managesDma, true);
    assert.equal(traitsFor('pcieport').module, null);
    assert.equal(traitsFor('vfio-pci').module, 'vfio_pci');
    const unknown = traitsFor('some_gpu_driver');
    assert.deepEqual([unknown.dmaMaskBits, unknown.msiVectors, unknown.enablesDevice, unknown.managesDma], [64, 1, true, false]);
  });

  it('e1000e: 64-bit masks, three MSI-X vectors with Enable+, eth/ptp/wakeup; unbind removes all but the mask and the wakeup source', () => {
    const m = boot('qemu-writes');
    const e = '0000:01:00.0';
    assert.deepEqual([cat(m, e, 'dma_mask_bits'), cat(m, e, 'enable'), cat(m, e, 'power_state')], ['32', '0', 'unknown']);
    driversProbe(m, e);
    assert.equal(cat(m, e, 'dma_mask_bits'), '64');
    assert.equal(cat(m, e, 'consistent_dma_mask_bits'), '64');
    assert.deepEqual([cat(m, e, 'enable'), cat(m, e, 'power_state')], ['1', 'D0']);
    // IRQs 0-23 legacy, 24 the DMAR fault interrupt, 25-30 the six ports.
    assert.deepEqual(ls(m, `${devPath(m, e)}/msi_irqs`), ['31', '32', '33']);
    assert.equal(cat(m, e, 'msi_irqs/31'), 'msix');
    const cfg = config(m, e);
    assert.equal(u16(cfg, 4) & 0x404, 0x404, 'bus master and INTx disable');
    assert.equal(u16(cfg, 0xa0 + 2) & 0x8000, 0x8000, 'MSI-X Enable+');
    assert.deepEqual(ls(m, `${devPath(m, e)}/net`), ['eth0']);
    assert.deepEqual(ls(m, `${devPath(m, e)}/ptp`), ['ptp0']);
    assert.deepEqual(ls(m, `${devPath(m, e)}/wakeup`), ['wakeup13']);
    assert.equal(cat(m, e, 'power/wakeup'), 'enabled');
    assert.equal(cat(m, e, 'net/eth0/uevent'), 'INTERFACE=eth0');
    const cls = node(m, 'class/net/eth0');
    assert.ok(cls && cls.kind === 'link' && cls.target.endsWith('/0000:00:02.0/0000:01:00.0/net/eth0'));

    unbind(m, 'e1000e', e);
    assert.equal(cat(m, e, 'dma_mask_bits'), '64', 'the mask outlives the driver');
    assert.deepEqual([cat(m, e, 'enable'), cat(m, e, 'power_state')], ['0', 'D0']);
    assert.equal(node(m, `${devPath(m, e)}/msi_irqs`), undefined);
    assert.equal(node(m, `${devPath(m, e)}/net`), undefined);
    assert.equal(node(m, 'class/net'), undefined);
    assert.deepEqual(ls(m, `${devPath(m, e)}/wakeup`), ['wakeup13'], 'the wakeup source stays until the device goes');
    assert.equal(u16(config(m, e), 4) & 0x404, 0);
    assert.equal(u16(config(m, e), 0xa0 + 2) & 0x8000, 0);
  });

  it('interface names are eth%d, lowest free first, in probe order', () => {
    const m = boot('qemu-writes');
    for (const d of ['0000:01:00.0', '0000:04:00.0', '0000:05:00.0']) driversProbe(m, d);
    assert.deepEqual(ls(m, 'class/net'), ['eth0', 'eth1', 'eth2']);
    unbind(m, 'e1000e', '0000:01:00.0');
    bind(m, 'e1000e', '0000:01:00.0');
    assert.deepEqual(ls(m, `${devPath(m, '0000:01:00.0')}/net`), ['eth0']);
    removeSubtree(m, m.devices.get('0000:04:00.0') as PciDevice);
    assert.deepEqual(ls(m, 'class/net'), ['eth0', 'eth2']);
    rescanAll(m, '1');
    assert.deepEqual(ls(m, `${devPath(m, '0000:04:00.0')}/net`), ['eth1']);
  });

  it('vfio-pci: no DMA mask of its own, enable 0, D3hot in power_state and PMCSR, vfio-dev/vfio0; D0 after unbind', () => {
    const m = boot('qemu-writes');
    const v = '0000:03:00.0';
    setDriverOverride(m, m.devices.get(v) as PciDevice, 'vfio-pci');
    driversProbe(m, v);
    assert.deepEqual([cat(m, v, 'dma_mask_bits'), cat(m, v, 'enable'), cat(m, v, 'power_state')], ['32', '0', 'D3hot']);
    assert.equal(u16(config(m, v), 0x7c + 4) & 3, 3);
    assert.equal(u16(config(m, v), 4) & 0x4, 0, 'vfio-pci does not set bus master at probe');
    assert.deepEqual(ls(m, `${devPath(m, v)}/vfio-dev`), ['vfio0']);
    assert.equal(node(m, `${devPath(m, v)}/msi_irqs`), undefined);
    unbind(m, 'vfio-pci', v);
    assert.deepEqual([cat(m, v, 'enable'), cat(m, v, 'power_state')], ['0', 'D0']);
    assert.equal(u16(config(m, v), 0x7c + 4) & 3, 0);
    assert.equal(node(m, `${devPath(m, v)}/vfio-dev`), undefined);
  });

  it('wake-up capability: marked by the root port PME service on what is below it then, not on devices rescanned later', () => {
    const m = boot('qemu-writes');
    assert.ok(ls(m, `${devPath(m, '0000:02:00.0')}/power`).includes('wakeup'));
    removeSubtree(m, m.devices.get('0000:02:00.0') as PciDevice);
    rescanAll(m, '1');
    assert.ok(!ls(m, `${devPath(m, '0000:02:00.0')}/power`).includes('wakeup'), 'rescanned below a bound port');
    // A port removed and rescanned probes again and marks what is below it.
    removeSubtree(m, m.devices.get('0000:00:05.1') as PciDevice);
    rescanAll(m, '1');
    assert.ok(ls(m, `${devPath(m, '0000:05:00.0')}/power`).includes('wakeup'));
  });

  it('d3cold_allowed follows the PM capability (pci_pm_init), whatever driver is bound', () => {
    const m = boot('qemu-writes');
    assert.equal(cat(m, '0000:00:02.0', 'd3cold_allowed'), '0', 'QEMU root ports have no PM capability');
    assert.equal(cat(m, '0000:01:00.0', 'd3cold_allowed'), '1');
    assert.equal(cat(m, '0000:00:1f.0', 'd3cold_allowed'), '0');
    unbind(m, 'pcieport', '0000:00:02.0');
    assert.equal(cat(m, '0000:00:02.0', 'd3cold_allowed'), '0', 'unbinding pcieport does not flip it');
    assert.equal(cat(m, '0000:00:02.0', 'enable'), '1', 'a bridge stays enabled (pci_enable_bridges)');
  });
});

describe('PCIe port services (get_port_device_capability)', () => {
  const services = (m: Machine, port: string): string[] =>
    ls(m, devPath(m, port))
      .filter((n) => n.startsWith(`${port}:pcie`))
      .map((n) => n.slice(port.length + 5));

  it('pciehp on every hot-plug capable root or downstream port of a host bridge with native hot-plug, none on q35 pcie.0', () => {
    const r = loadTopology(
      `version: 1
name: q35-pxb
cmdline: intel_iommu=on
iommus: [{ name: dmar0, type: intel-vtd, scope: all, interrupt-remapping: true }]
pci:
  - segment: 0x0000
    bus: 0x00
    devices:
      "00.0": { id: 8086:29c0, class: 0x060000, type: host-bridge }
      "02.0": { id: 1b36:000c, type: root-port, devices: { "00.0": { id: 8086:10d3, class: 0x020000 } } }
  - segment: 0x0000
    bus: 0x80
    devices:
      "00.0":
        id: 1b36:000c
        type: root-port
        devices:
          "00.0":
            id: 104c:8232
            type: upstream-port
            devices:
              "00.0": { id: 104c:8233, type: downstream-port }
`,
      'q35-pxb.yaml',
    );
    if (!r.ok) assert.fail(r.errors.map((e) => e.message).join('\n'));
    const m = Machine.boot(r.topology);
    assert.ok(!services(m, '0000:00:02.0').includes('004'), 'ACPI hot-plug keeps pcie.0');
    assert.ok(services(m, '0000:80:00.0').includes('004'), 'an expander host bridge has native hot-plug');
    assert.ok(services(m, '0000:82:00.0').includes('204'), 'a downstream port below a switch');
    assert.ok(!services(m, '0000:81:00.0').some((s) => s.endsWith('4')), 'no pciehp on an upstream port');
  });

  it('real hardware: pciehp exactly on the slots the topology makes hot-plug capable', () => {
    // x79-workstation: the switch's two drive bays have slot.hotplug; the CPU and PCH slots do not.
    const m = boot('x79-workstation');
    const ports = m.pciDevicesInOrder().filter((d) => (d.fn.pcieType === 4 || d.fn.pcieType === 6) && d.driver === 'pcieport');
    const hotplug = ports.filter((p) => services(m, p.name).some((s) => s.endsWith('04'))).map((p) => p.name);
    assert.deepEqual(hotplug, ['0000:03:08.0', '0000:03:10.0']);
    assert.equal(ports.length, 5);
  });
});

describe('slots, ARI forwarding and serial numbers as the recordings show them', () => {
  it('bus/pci/slots under QEMU ACPI hot-plug: 0, 0-2, 0-3 (sriov.json); physical slot numbers 1.. in SLTCAP', () => {
    const m = boot('qemu-sriov');
    assert.deepEqual(ls(m, 'bus/pci/slots'), ['0', '0-2', '0-3']);
    const address = node(m, 'bus/pci/slots/0-2/address');
    assert.ok(address && address.kind === 'attr');
    assert.equal(address.show().toString(), '0000:02:00\n');
    const psn = (dev: string): number => (config(m, dev)[0x54 + 0x16]! | (config(m, dev)[0x54 + 0x17]! << 8)) >> 3;
    assert.deepEqual(['0000:00:02.0', '0000:00:02.1', '0000:00:02.2'].map(psn), [1, 2, 3]);
  });

  it('pci_configure_ari: ARI forwarding enabled on the port above an ARI function 0; ari_enabled is the parent bridge\'s', () => {
    const m = boot('qemu-sriov');
    // [rec: sriov.json: 00:02.0 ari_enabled 0 (root bus), 01:00.0 ari_enabled 1, 02:00.0 0]
    assert.deepEqual(['0000:00:02.0', '0000:01:00.0', '0000:02:00.0'].map((d) => cat(m, d, 'ari_enabled')), ['0', '1', '0']);
    const exp = 0x54;
    assert.equal(u16(config(m, '0000:00:02.0'), exp + 0x28) & 0x20, 0x20, 'DevCtl2 ARIFwd+ above the nvme');
    assert.equal(u16(config(m, '0000:00:02.1'), exp + 0x28) & 0x20, 0, 'DevCtl2 ARIFwd- above the e1000e');
    assert.equal(config(m, '0000:00:02.1')[exp + 0x24]! & 0x20, 0x20, 'DevCap2 ARIFwd+ on every QEMU root port');
  });

  it('each NIC its own serial number, from QEMU default MACs in creation order', () => {
    const m = boot('qemu-writes');
    const serial = (dev: string): string => {
      const b = config(m, dev);
      for (let off = 0x100; off; ) {
        const h = (b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24)) >>> 0;
        if ((h & 0xffff) === 3) return Array.from(b.subarray(off + 4, off + 12)).reverse().map((x) => x.toString(16).padStart(2, '0')).join('-');
        off = (h >>> 20) & 0xffc;
      }
      return '(none)';
    };
    // [rec: writes.json: the virtio-net at 03:00.0 took ...:57]
    assert.deepEqual(['0000:01:00.0', '0000:03:00.0', '0000:04:00.0', '0000:05:00.0'].map(serial), [
      '52-54-00-ff-ff-12-34-56',
      '(none)',
      '52-54-00-ff-ff-12-34-58',
      '52-54-00-ff-ff-12-34-59',
    ]);
  });
});

describe('DRM and sound class devices, boot_vga', () => {
  it('i915: drm/card0 and drm/renderD128; snd_hda_intel: sound/card0; boot_vga on the first VGA device only', () => {
    const m = bootDomains();
    assert.deepEqual(ls(m, `${devPath(m, GPU)}/drm`), ['card0', 'renderD128']);
    assert.equal(cat(m, GPU, 'drm/card0/uevent'), 'MAJOR=226\nMINOR=0\nDEVNAME=dri/card0\nDEVTYPE=drm_minor');
    assert.deepEqual(ls(m, `${devPath(m, NV_AUDIO)}/sound`), ['card0']);
    assert.deepEqual(ls(m, 'class/drm'), ['card0', 'renderD128']);
    assert.equal(cat(m, GPU, 'boot_vga'), '1');
    assert.equal(cat(m, NV_GPU, 'boot_vga'), '0');
    assert.equal(node(m, `${devPath(m, NV_AUDIO)}/boot_vga`), undefined, 'only VGA-class devices have it');
    unbind(m, 'i915', GPU);
    assert.equal(node(m, `${devPath(m, GPU)}/drm`), undefined);
    assert.equal(node(m, 'class/drm'), undefined);
  });
});

describe('power/ of PCI devices (pci_pm_init, the driver core, vfio-pci runtime PM)', () => {
  it('as sriov.json shows them: unbound, bound, a port with a child, an idle vfio-pci device', () => {
    const m = boot('qemu-sriov');
    const power = (dev: string): string[] =>
      ['async', 'control', 'runtime_active_kids', 'runtime_enabled', 'runtime_status', 'runtime_usage'].map((a) => cat(m, dev, `power/${a}`));
    // [rec: boot: 00:02.0 pcieport with the nvme below, 01:00.0 unbound]
    assert.deepEqual(power('0000:00:02.0'), ['enabled', 'on', '1', 'forbidden', 'active', '2']);
    assert.deepEqual(power('0000:01:00.0'), ['enabled', 'on', '0', 'forbidden', 'active', '1']);
    driversProbe(m, '0000:02:00.0');
    setDriverOverride(m, m.devices.get('0000:02:00.0') as PciDevice, 'vfio-pci');
    unbind(m, 'e1000e', '0000:02:00.0');
    driversProbe(m, '0000:02:00.0');
    // [rec: after_vfio_bind 02:00.0: auto, enabled, suspended, usage 0; wakeup enabled from e1000e]
    assert.deepEqual(power('0000:02:00.0'), ['enabled', 'auto', '0', 'enabled', 'suspended', '0']);
    assert.equal(cat(m, '0000:02:00.0', 'power/wakeup'), 'enabled');
    assert.equal(cat(m, '0000:00:02.1', 'power/runtime_active_kids'), '0', 'its one child is suspended');
    const delay = node(m, `${devPath(m, '0000:02:00.0')}/power/autosuspend_delay_ms`);
    assert.ok(delay && delay.kind === 'attr');
    assert.throws(() => delay.show(), /autosuspend/);
  });
});
