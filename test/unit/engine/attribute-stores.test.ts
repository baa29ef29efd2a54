// The stores behind power/, uevent, enable, reset_method, the PCI flags, resource_alignment
// and driver_override, each against the kernel function it copies; and open files bound to
// the node they opened (fs/kernfs/file.c).

import assert from 'node:assert/strict';
import { constants } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { bind, parseBool, unbind } from '../../../src/engine/driver-ops';
import { Errno } from '../../../src/engine/errno';
import { removeStore, rescanAll } from '../../../src/engine/hotplug';
import { Machine } from '../../../src/engine/machine';
import { enableCount, resetMethodText, storeEnable, storeResetMethod, supportedResetMethods } from '../../../src/engine/pci-attrs';
import { pciPower, storeControl } from '../../../src/engine/power';
import { showResourceAlignment, storeResourceAlignment } from '../../../src/engine/resource-alignment';
import type { PciDevice } from '../../../src/engine/types';
import { checkSynthUevent } from '../../../src/engine/uevent';
import { SysfsFs } from '../../../src/fuse/adapter';
import { PathCache } from '../../../src/fuse/path-cache';
import { sysfsTree } from '../../../src/sysfs/tree';
import { loadTopology, loadTopologyFile } from '../../../src/topology/load';
import { TOPOLOGIES } from '../../helpers/paths';
import { GPU, bootDomains, pci as pciOf } from './domains-fixture';

function boot(name: string): Machine {
  const r = loadTopologyFile(join(TOPOLOGIES, `${name}.yaml`));
  if (!r.ok) throw new Error(`${name} does not load`);
  return Machine.boot(r.topology);
}

function pci(m: Machine, name: string): PciDevice {
  const d = m.devices.get(name);
  if (!d || d.kind !== 'pci') throw new Error(`no PCI device ${name}`);
  return d;
}

function refuses(fn: () => void, code: string): void {
  assert.throws(fn, (e: unknown) => e instanceof Errno && e.code === code);
}

describe('synthetic uevents (lib/kobject_uevent.c kobject_synth_uevent)', () => {
  const uuid = '2b5a7c3e-1f4d-4e6a-9b8c-0d1e2f3a4b5c';
  it('takes an action, alone or with a UUID and KEY=VALUE pairs, with one trailing newline or NUL', () => {
    for (const ok of ['add', 'remove\n', 'change\0', 'move', 'online', 'offline', 'bind', 'unbind', `add ${uuid}`, `change ${uuid} A=1 bB2=x9\n`]) checkSynthUevent(ok);
  });
  it('refuses anything else with EINVAL', () => {
    for (const bad of ['', '\n', 'ad', 'adds', 'Add', 'add ', `add ${uuid.toUpperCase().slice(0, 35)}`, `add ${uuid}x`, `add ${uuid} `, `add ${uuid} A`, `add ${uuid} A=`, `add ${uuid} =1`, `add ${uuid} A-B=1`, `add ${uuid} A=1\n\n`]) {
      refuses(() => checkSynthUevent(bad), 'EINVAL');
    }
  });
});

describe('kstrtobool (lib/kstrtox.c)', () => {
  it('reads the first character, or two for on/off', () => {
    assert.deepEqual(['1', 'y', 'Yes', 't', 'true', '1x', 'on', 'ON\n'].map(parseBool), Array(8).fill(true));
    assert.deepEqual(['0', 'n', 'No', 'f', 'false', '0x5', 'off', 'of'].map(parseBool), Array(8).fill(false));
    assert.deepEqual(['', '\n', 'o', 'maybe', '2', ' 1'].map(parseBool), Array(6).fill(undefined));
  });
});

describe('runtime PM of a PCI device (pci_pm_init, local_pci_probe, vfio_pci_core)', () => {
  it('unbound: forbidden with one usage reference; auto lets it suspend; a host driver keeps one more', () => {
    const m = boot('qemu-sriov');
    const nic = pci(m, '0000:02:00.0');
    const power = pciPower(m, nic);
    assert.deepEqual(power.runtime(), { enabled: true, usage: 1, activeKids: 0, status: 'active' });
    storeControl(m, power, 'auto\n');
    assert.deepEqual(power.runtime(), { enabled: true, usage: 0, activeKids: 0, status: 'suspended' });
    const port = pciPower(m, pci(m, '0000:00:02.1'));
    assert.equal(port.runtime().activeKids, 0);
    bind(m, 'e1000e', '0000:02:00.0');
    assert.deepEqual(power.runtime(), { enabled: true, usage: 1, activeKids: 0, status: 'active' });
    assert.equal(port.runtime().activeKids, 1);
    refuses(() => storeControl(m, power, 'automatic'), 'EINVAL');
    assert.equal(power.pm().runtimeAuto, true);
  });

  it('vfio-pci allows runtime PM on bind and forbids it again on unbind', () => {
    const m = boot('qemu-sriov');
    const nic = pci(m, '0000:02:00.0');
    const power = pciPower(m, nic);
    assert.equal(power.pm().runtimeAuto, false);
    nic.driverOverride = 'vfio-pci';
    bind(m, 'vfio-pci', '0000:02:00.0');
    assert.deepEqual([power.pm().runtimeAuto, power.runtime().status, enableCount(m, nic)], [true, 'suspended', 0]);
    unbind(m, 'vfio-pci', '0000:02:00.0');
    assert.deepEqual([power.pm().runtimeAuto, power.runtime().status], [false, 'active']);
  });

  it('a removed and rescanned device starts again from the defaults (a new struct device)', () => {
    const m = boot('qemu-sriov');
    storeControl(m, pciPower(m, pci(m, '0000:02:00.0')), 'auto');
    removeStore(m, pci(m, '0000:02:00.0'), '1');
    rescanAll(m, '1');
    assert.equal(pciPower(m, pci(m, '0000:02:00.0')).pm().runtimeAuto, false);
  });
});

describe('enable, reset_method and resource_alignment', () => {
  it('enable (enable_store): EBUSY with a driver, EIO disabling what is not enabled, counts enables', () => {
    const m = boot('qemu-sriov');
    const nic = pci(m, '0000:02:00.0');
    refuses(() => storeEnable(m, nic, '0'), 'EIO');
    refuses(() => storeEnable(m, nic, 'x'), 'EINVAL');
    storeEnable(m, nic, '1');
    storeEnable(m, nic, 'y');
    assert.equal(enableCount(m, nic), 2);
    const port = pci(m, '0000:00:02.1');
    refuses(() => storeEnable(m, port, '0'), 'EBUSY');
  });

  it('reset_method (reset_method_store): subsets in order, "" none, "default" back; bad lists keep the old methods', () => {
    const m = boot('qemu-sriov');
    const d = pci(m, '0000:03:00.0');
    const supported = supportedResetMethods(m, d);
    assert.deepEqual(supported, ['flr', 'pm', 'bus']);
    storeResetMethod(m, d, 'bus flr\n');
    assert.equal(resetMethodText(d, supported), 'bus flr\n');
    for (const bad of ['flr flr', 'flr acpi', 'flr default', 'FLR', 'flr\tpm']) refuses(() => storeResetMethod(m, d, bad), 'EINVAL');
    assert.equal(resetMethodText(d, supported), 'bus flr\n');
    storeResetMethod(m, d, '  pm \n');
    assert.equal(resetMethodText(d, supported), 'pm\n');
    storeResetMethod(m, d, '\n');
    assert.equal(resetMethodText(d, supported), '');
    storeResetMethod(m, d, 'default');
    assert.equal(resetMethodText(d, supported), 'flr pm bus\n');
  });

  it('resource_alignment (resource_alignment_store): first line kept, empty clears, a page is EINVAL', () => {
    const m = boot('qemu-sriov');
    assert.equal(showResourceAlignment(m), '');
    storeResourceAlignment(m, '20@0000:02:00.0\nrest');
    assert.equal(showResourceAlignment(m), '20@0000:02:00.0\n');
    refuses(() => storeResourceAlignment(m, 'a'.repeat(4095)), 'EINVAL');
    assert.equal(showResourceAlignment(m), '20@0000:02:00.0\n');
    storeResourceAlignment(m, '\n');
    assert.equal(showResourceAlignment(m), '');
  });
});

describe('a platform device keeps its driver_override (drivers/base/platform.c)', () => {
  it('reads back what was written, (null) once cleared', () => {
    const r = loadTopology(`version: 1
arch: arm64
iommus: [{ name: smmu0, type: arm-smmu-v3 }]
platform:
  - { name: 1c00000.gpu, iommu: smmu0, stream-ids: [0x10] }
`, 'inline.yaml');
    if (!r.ok) throw new Error('inline topology does not load');
    const tree = sysfsTree(Machine.boot(r.topology));
    const node = new PathCache(tree).resolve('/devices/platform/1c00000.gpu/driver_override');
    assert.ok(node.kind === 'attr' && node.store);
    node.store(Buffer.from('vfio-platform\n'), 0);
    assert.equal(node.show().toString(), 'vfio-platform\n');
    node.store(Buffer.from('\n'), 0);
    assert.equal(node.show().toString(), '(null)\n');
  });
});

describe('an open file is bound to the node it opened (fs/kernfs/file.c)', () => {
  it('answers ENODEV after remove, and still after rescan brings a device of the same name back', () => {
    const m = boot('qemu-sriov');
    const fs = new SysfsFs(sysfsTree(m));
    const path = '/devices/pci0000:00/0000:00:02.1/0000:02:00.0/numa_node';
    const fh = fs.open(path, constants.O_RDWR);
    assert.equal(fs.read(path, fh, 64, 0).toString(), '-1\n');
    removeStore(m, pci(m, '0000:02:00.0'), '1');
    refuses(() => fs.read(path, fh, 64, 0), 'ENODEV');
    rescanAll(m, '1');
    refuses(() => fs.read(path, fh, 64, 0), 'ENODEV');
    refuses(() => fs.write(path, fh, Buffer.from('0'), 0), 'ENODEV');
    const fresh = fs.open(path, constants.O_RDONLY);
    assert.equal(fs.read(path, fresh, 64, 0).toString(), '-1\n');
    fs.release(path, fh);
    fs.release(path, fresh);
  });

  it("a port service's file opened before pcieport is unbound and bound again answers ENODEV (a new service device)", () => {
    const m = boot('qemu-sriov');
    const fs = new SysfsFs(sysfsTree(m));
    const path = '/devices/pci0000:00/0000:00:02.0/0000:00:02.0:pcie001/power/async';
    const fh = fs.open(path, constants.O_RDWR);
    fs.write(path, fh, Buffer.from('disabled'), 0);
    const other = fs.open('/devices/pci0000:00/0000:00:02.0/power/control', constants.O_RDONLY);
    unbind(m, 'pcieport', '0000:00:02.0');
    bind(m, 'pcieport', '0000:00:02.0');
    refuses(() => fs.read(path, fh, 64, 0), 'ENODEV');
    assert.equal(fs.read('/devices/pci0000:00/0000:00:02.0/power/control', other, 64, 0).toString(), 'on\n');
    const fresh = fs.open(path, constants.O_RDONLY);
    assert.equal(fs.read(path, fresh, 64, 0).toString(), 'enabled\n');
    // pm_runtime_no_callbacks took the runtime group away: no control file.
    refuses(() => fs.open('/devices/pci0000:00/0000:00:02.0/0000:00:02.0:pcie001/power/control', constants.O_RDONLY), 'ENOENT');
  });
});

describe('the mdev bus bind, unbind and drivers_probe (drivers/base/bus.c)', () => {
  it('ENODEV for an unknown device or a driver it is not bound to, EBUSY binding a bound one', () => {
    const m = bootDomains();
    const gpu = pciOf(m, GPU);
    const x = m.mdev.create(gpu, 'i915-GVTg_V5_4', '8e3f5a0c-1d2b-4c3a-9f00-0123456789ab\n');
    const drv = x.driver!;
    refuses(() => m.mdev.busWrite('bind', drv, 'nonsense'), 'ENODEV');
    refuses(() => m.mdev.busWrite('bind', drv, `${x.name}\n`), 'EBUSY');
    refuses(() => m.mdev.busWrite('unbind', 'vfio_mdev', x.name), 'ENODEV');
    refuses(() => m.mdev.busWrite('probe', '', '00000000-0000-4000-8000-000000000009'), 'ENODEV');
    m.mdev.busWrite('probe', '', x.name);
    m.mdev.busWrite('unbind', drv, x.name);
  });
});
