// `run --host-sys`'s plan (run-host-sys.ts) over a small fake host /sys: which host
// directories are shadowed and what they leave out, where the simulated parts go, which
// host links are left out of a view, and that a class view follows the simulation.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { HostSysViews, hostSysPlan, hostSysProbe, planText, type HostSysProbe } from '../../../src/cli/run-host-sys';
import { sysfsTree } from '../../../src/sysfs/tree';
import { bootShipped, pciDevice } from '../../helpers/machines';
import { Machine } from '../../../src/engine/machine';
import { loadTopology } from '../../../src/topology/load';

const base = mkdtempSync(join(tmpdir(), 'iommufs-hostsys-unit-'));
after(() => rmSync(base, { recursive: true, force: true }));

/** A host /sys: one host bridge pci0000:00 with a NIC and a disk, a virtual lo, no IOMMU. */
function fakeHost(): string {
  const root = join(base, 'sys');
  const d = (p: string): void => void mkdirSync(join(root, p), { recursive: true });
  const l = (p: string, target: string): void => symlinkSync(target, join(root, p));
  for (const p of ['bus/pci/devices', 'bus/virtio/devices', 'bus/cpu/devices', 'class/net', 'class/block', 'class/iommu', 'class/pci_bus', 'class/gpio', 'block', 'dev/block', 'dev/char', 'kernel/mm', 'module/kvm', 'firmware/acpi/tables', 'fs/cgroup', 'devices/system/cpu/cpu0', 'devices/virtual/net/lo', 'devices/pci0000:00/0000:00:03.0/virtio2/net/eth0', 'devices/pci0000:00/0000:00:05.0/virtio3/block/vda']) d(p);
  writeFileSync(join(root, 'firmware/acpi/tables/DMAR'), '');
  writeFileSync(join(root, 'firmware/acpi/tables/APIC'), '');
  writeFileSync(join(root, 'class/gpio/export'), '');
  d('bus/virtio/drivers/virtio_net');
  d('bus/cpu/drivers/processor');
  writeFileSync(join(root, 'bus/virtio/drivers/virtio_net/bind'), '');
  l('bus/virtio/drivers/virtio_net/virtio2', '../../../../devices/pci0000:00/0000:00:03.0/virtio2');
  l('bus/cpu/drivers/processor/cpu0', '../../../../devices/system/cpu/cpu0');
  l('class/gpio/gpiochip0', '../../devices/pci0000:00/0000:00:07.0/gpiochip0');
  l('class/net/eth0', '../../devices/pci0000:00/0000:00:03.0/virtio2/net/eth0');
  l('class/net/lo', '../../devices/virtual/net/lo');
  l('class/block/vda', '../../devices/pci0000:00/0000:00:05.0/virtio3/block/vda');
  l('block/vda', '../devices/pci0000:00/0000:00:05.0/virtio3/block/vda');
  l('dev/block/254:0', '../../devices/pci0000:00/0000:00:05.0/virtio3/block/vda');
  l('dev/char/1:3', '../../devices/virtual/mem/null');
  l('bus/virtio/devices/virtio2', '../../../devices/pci0000:00/0000:00:03.0/virtio2');
  l('bus/cpu/devices/cpu0', '../../../devices/system/cpu/cpu0');
  return root;
}

describe('run --host-sys: the plan', () => {
  const host = fakeHost();
  // Two host bridges (pci0000:00, pci0000:17), nvme bound to two disks, an Intel unit.
  const tree = sysfsTree(bootShipped('sriov-nic'));
  const plan = hostSysPlan(tree, hostSysProbe(host));

  it('binds the simulated parts; a host bridge and an IOMMU directory the host lacks get a shadowed parent', () => {
    assert.deepEqual(plan.sim, ['module', 'bus/pci', 'bus/pci_express', 'class/iommu', 'class/pci_bus', 'devices/pci0000:00', 'devices/pci0000:17', 'kernel/iommu_groups', 'devices/virtual/iommu', 'kernel/debug/iommufs', 'firmware/acpi/tables/DMAR']);
    const shadows = new Map(plan.shadows.map((s) => [s.rel, s.skip]));
    // The host has no pci0000:17, no bus/pci_express, no devices/virtual/iommu, no
    // kernel/iommu_groups: their parents are covered, leaving out what is placed there.
    assert.deepEqual(shadows.get('devices'), ['pci0000:00', 'pci0000:17']);
    assert.deepEqual(shadows.get('devices/virtual'), ['iommu']);
    // The host has no kernel/debug either: made in the shadow of kernel.
    assert.deepEqual(shadows.get('kernel'), ['debug', 'iommu_groups']);
    assert.deepEqual(plan.mkdirs, ['kernel/debug']);
    assert.deepEqual(shadows.get('bus'), ['pci', 'pci_express']);
    assert.ok(shadows.has('class'), 'the host lacks class/nvme, class/vfio-dev ...');
    assert.ok(!shadows.has('firmware/acpi/tables'), 'the host has a DMAR table to mount on');
    // Shadows shallowest first, so that a deeper one is not hidden by a later one above it.
    const depths = plan.shadows.map((s) => s.rel.split('/').length);
    assert.deepEqual(depths, [...depths].sort((a, b) => a - b));
  });

  it('views leave out the host links into a replaced host bridge and carry the other entries over', () => {
    const views = new Map(plan.views.map((v) => [v.rel, v]));
    assert.deepEqual([...views.get('class/net')!.host], [['lo', '../../devices/virtual/net/lo']]);
    assert.equal(views.get('class/net')!.live, true);
    for (const rel of ['bus/virtio/devices', 'class/gpio', 'bus/virtio/drivers/virtio_net']) {
      assert.equal(views.get(rel)?.host.size, 0, rel);
      assert.equal(views.get(rel)?.live, false, rel);
    }
    // The disks' index directories: the host's vda is left out, the simulation's disks follow.
    for (const rel of ['block', 'class/block', 'dev/block', 'dev/char', 'class/hwmon', 'class/nvme-generic']) {
      assert.equal(views.get(rel)?.live, true, rel);
      if (rel !== 'dev/char') assert.equal(views.get(rel)?.host.size, 0, rel);
    }
    assert.equal(views.get('dev/char')!.host.size, 1, 'the host\'s char device outside the replaced bridge stays');
    assert.deepEqual(views.get('class/gpio')!.carried, [{ name: 'export', dir: false }]);
    assert.deepEqual(views.get('bus/virtio/drivers/virtio_net')!.carried, [{ name: 'bind', dir: false }]);
    // Nothing of these leads into a simulated part: the host's own directory stays.
    for (const rel of ['bus/cpu/devices', 'bus/cpu/drivers/processor']) assert.ok(!views.has(rel), rel);
    // Simulated or placed whole: never a view.
    for (const rel of ['class/iommu', 'class/pci_bus', 'bus/pci/devices']) assert.ok(!views.has(rel), rel);
    const text = planText(plan);
    assert.match(text, /^shadow\tdevices\tpci0000:00\/pci0000:17$/m);
    const gpio = plan.views.findIndex((v) => v.rel === 'class/gpio');
    assert.match(text, new RegExp(`^view\tclass/gpio\t${gpio}\ncarry\tclass/gpio/export$`, 'm'));
  });

  it('platform devices: each placed in devices/platform, and bus/platform/devices merged', () => {
    mkdirSync(join(host, 'devices/platform/serial8250'), { recursive: true });
    mkdirSync(join(host, 'bus/platform/devices'), { recursive: true });
    symlinkSync('../../../devices/platform/serial8250', join(host, 'bus/platform/devices/serial8250'));
    const r = loadTopology('version: 1\narch: arm64\niommus: [{ name: smmu0, type: arm-smmu-v3 }]\nplatform:\n  - { name: 1c00000.gpu, iommu: smmu0, stream-ids: [0x10] }\n', 'inline.yaml');
    assert.ok(r.ok);
    const t = sysfsTree(Machine.boot(r.topology));
    const p = hostSysPlan(t, hostSysProbe(host));
    assert.ok(p.sim.includes('devices/platform/1c00000.gpu'));
    assert.deepEqual(p.shadows.find((x) => x.rel === 'devices/platform')?.skip, ['1c00000.gpu']);
    const bus = p.views.findIndex((v) => v.rel === 'bus/platform/devices');
    assert.ok(p.views[bus]!.live);
    const views = new HostSysViews(join(base, 'platform'), p, t);
    views.write();
    const dir = join(base, 'platform', 'views', String(bus));
    assert.deepEqual(readdirSync(dir).sort(), ['1c00000.gpu', 'serial8250']);
    assert.equal(readlinkSync(join(dir, '1c00000.gpu')), '../../../devices/platform/1c00000.gpu');
    views.clear();
  });

  it('refuses a host /sys without the top-level directory a part goes in (run exits 125)', () => {
    const bare: HostSysProbe = { kind: () => undefined, list: () => [], readlink: () => '' };
    assert.throws(() => hostSysPlan(tree, bare), /the host's \/sys has no devices to place devices\/pci0000:00 in/);
  });

  it('a class view holds the host links plus the simulation\'s, and follows binds', () => {
    const m = bootShipped('dual-socket-xeon');
    const t = sysfsTree(m);
    const p = hostSysPlan(t, hostSysProbe(host));
    const views = new HostSysViews(join(base, 'run'), p, t);
    views.write();
    const i = p.views.findIndex((v) => v.rel === 'class/nvme');
    const dir = join(base, 'run', 'views', String(i));
    assert.deepEqual(readdirSync(dir).sort(), ['nvme0', 'nvme1', 'nvme2', 'nvme3']);
    assert.equal(readlinkSync(join(dir, 'nvme0')), '../../devices/pci0000:17/0000:17:00.0/0000:18:00.0/nvme/nvme0');
    const net = join(base, 'run', 'views', String(p.views.findIndex((v) => v.rel === 'class/net')));
    assert.deepEqual(readdirSync(net), ['lo']);
    const block = join(base, 'run', 'views', String(p.views.findIndex((v) => v.rel === 'block')));
    assert.deepEqual(readdirSync(block).sort(), ['nvme0n1', 'nvme1n1', 'nvme2n1', 'nvme3n1']);
    assert.equal(readlinkSync(join(block, 'nvme0n1')), '../devices/pci0000:17/0000:17:00.0/0000:18:00.0/nvme/nvme0/nvme0n1');
    m.detachDriver(pciDevice(m, '0000:18:00.0'));
    views.sync();
    assert.deepEqual(readdirSync(dir).sort(), ['nvme1', 'nvme2', 'nvme3']);
    assert.deepEqual(readdirSync(block).sort(), ['nvme1n1', 'nvme2n1', 'nvme3n1']);
    views.clear();
    assert.deepEqual(readdirSync(base).sort(), ['sys']);
  });
});
