// The root of the simulated /sys: every directory a view over the machine.

import type { Machine } from '../engine/machine';
import type { IommuUnit, PciDevice, PlatformDevice } from '../engine/types';
import { busPciDir } from './bus-pci';
import { dir, relLink, ro, uevent } from './build';
import type { Entries } from './build';
import { iommuGroupsDir } from './iommu-groups';
import { debugIommufsDir } from './debug-iommufs';
import type { DirNode, SysfsTree } from './node';
import { deviceDirPath, iommuUnitPath } from './paths';
import { pciDeviceDir } from './pci-device';
import { platformDeviceDir } from './platform-device';
import { powerDir } from './power';
import { busName, pciBusDir } from './pci-bus';
import { rescanRoot } from '../engine/hotplug';
import { domainIdsUsed } from '../engine/domain-ids';
import { plainPower } from '../engine/power';
import { busMdevDir, classMdevBusDir, mdevInUse } from './mdev';
import { classDeviceClasses } from './class-devices';
import { regionsChanged } from './change-scope';
import { moduleDir } from './module';
import { systemDir } from './system';
import { EventGate } from './event-files';
import { allDisks, classBdiDir, classBlockDir, sysBlockDir, virtualBdiDir } from './block-devices';
import { sysDevDir } from './dev-links';
import { hasNvmeControllers, nvmeClassEntries, virtualNvmeSubsystemDir } from './nvme';

/** drivers/iommu/intel/iommu.c intel_iommu_groups: what QEMU's VT-d reports [rec]. */
function intelIommuDir(m: Machine, unit: IommuUnit): DirNode {
  const index = m.units.indexOf(unit);
  return dir(() => [
    ['address', ro(() => (0xfed90000 + index * 0x1000).toString(16))],
    ['cap', ro(() => 'd2008c22260206')],
    ['domains_supported', ro(() => '65536')],
    ['domains_used', ro(() => String(domainIdsUsed(m, unit)))],
    ['ecap', ro(() => (unit.spec.pasidBits > 0 ? 'f02f5e' : 'f00f4a'))],
    ['version', ro(() => '1:0')],
  ]);
}

function unitDir(m: Machine, unit: IommuUnit): DirNode {
  const here = iommuUnitPath(unit.name);
  const version = (): number => m.generation;
  return dir((): Entries => {
    const e: Entries = [
      [
        'devices',
        dir(
          () =>
            [...m.devices.values()]
              .filter((d) => d.unit === unit && d.group !== null)
              .map((d) => d.name)
              .sort()
              .map((name): [string, ReturnType<typeof relLink>] => [name, relLink(`${here}/devices`, deviceDirPath(m.devices.get(name)!))]),
          0o755,
          version,
        ),
      ],
    ];
    if (unit.spec.type === 'intel-vtd') e.push(['intel-iommu', intelIommuDir(m, unit)]);
    if (unit.spec.type === 'amd-vi') {
      e.push(['amd-iommu', dir(() => [['cap', ro(() => '0x00190063')], ['features', ro(() => '0x0000000000000000')]])]);
    }
    e.push(['power', powerDir(m, plainPower(m, unit, ''))]);
    e.push(['subsystem', relLink(here, 'class/iommu')]);
    e.push(['uevent', uevent(() => [])]);
    return e;
  }, 0o755, version);
}

function activeUnits(m: Machine): IommuUnit[] {
  return m.units.filter((u) => u.active);
}

function hostBridgeDir(m: Machine, index: number): DirNode {
  const host = m.pci.hostBridges[index]!;
  const here = `devices/${host.dirName}`;
  return dir((): Entries => {
    const e: Entries = m.childDevices(here).map((d: PciDevice) => [d.name, pciDeviceDir(m, d)]);
    e.push(['pci_bus', pciBusDir(m, host, here, busName(host.segment, host.busNumber), (t) => rescanRoot(m, index, t))]);
    // pci_register_host_bridge: device_enable_async_suspend(bus->bridge).
    e.push(['power', powerDir(m, plainPower(m, host, '', { asyncSuspend: true }))]);
    e.push(['uevent', uevent(() => [])]);
    return e;
  });
}

function devicesDir(m: Machine): DirNode {
  return dir((): Entries => {
    const e: Entries = m.pci.hostBridges.map((h, i): [string, DirNode] => [h.dirName, hostBridgeDir(m, i)]);
    const platform = [...m.devices.values()].filter((d): d is PlatformDevice => d.kind === 'platform');
    if (platform.length > 0) e.push(['platform', dir(() => platform.map((d): [string, DirNode] => [d.name, platformDeviceDir(m, d)]))]);
    e.push(['system', systemDir(m)]);
    const bdi = virtualBdiDir(m);
    const subsystems = virtualNvmeSubsystemDir(m);
    // One node per unit: a unit's directory caches its listing across lookups.
    const units = new Map(m.units.map((u) => [u, unitDir(m, u)]));
    e.push([
      'virtual',
      dir((): Entries => [
        ...(allDisks(m).length > 0 ? ([['bdi', bdi]] satisfies Entries) : []),
        ['iommu', dir(() => activeUnits(m).map((u): [string, DirNode] => [u.name, units.get(u)!]))],
        ...(hasNvmeControllers(m) ? ([['nvme-subsystem', subsystems]] satisfies Entries) : []),
      ], 0o755, () => m.generation),
    ]);
    return e;
  }, 0o755, () => m.generation);
}

function classDir(m: Machine): DirNode {
  const version = (): number => m.generation;
  return dir((): Entries => sortByName([
    ...classDeviceClasses(m),
    ...nvmeClassEntries(m),
    ...(allDisks(m).length > 0 ? ([['bdi', classBdiDir(m)]] satisfies Entries) : []),
    ['block', classBlockDir(m)],
    ['iommu', dir(() => activeUnits(m).map((u) => [u.name, relLink('class/iommu', iommuUnitPath(u.name))]))],
    ...(mdevInUse(m) ? ([['mdev_bus', classMdevBusDir(m)]] satisfies Entries) : []),
    [
      'pci_bus',
      dir(() => {
        const out: Entries = [];
        for (const h of m.pci.hostBridges) {
          const name = busName(h.segment, h.busNumber);
          out.push([name, relLink('class/pci_bus', `devices/${h.dirName}/pci_bus/${name}`)]);
        }
        for (const d of m.pciDevicesInOrder()) {
          const sec = d.fn.secondary;
          if (!sec) continue;
          const name = busName(d.fn.segment, sec.number);
          out.push([name, relLink('class/pci_bus', `${deviceDirPath(d)}/pci_bus/${name}`)]);
        }
        return out.sort((a, b) => (a[0] < b[0] ? -1 : 1));
      }, 0o755, version),
    ],
  ]), 0o755, version);
}

function sortByName(e: Entries): Entries {
  return e.sort((a, b) => (a[0] < b[0] ? -1 : 1));
}

/** /sys/firmware/acpi/tables: the DMAR (Intel) or IVRS (AMD) table when such a unit exists. */
function firmwareDir(m: Machine): DirNode {
  return dir(() => {
    const tables: Entries = [];
    const types = new Set(m.topology.iommus.map((u) => u.type));
    if (types.has('intel-vtd')) tables.push(['DMAR', { kind: 'attr', mode: 0o400, size: 152, show: () => Buffer.alloc(152) }]);
    if (types.has('amd-vi')) tables.push(['IVRS', { kind: 'attr', mode: 0o400, size: 208, show: () => Buffer.alloc(208) }]);
    return m.topology.arch === 'x86' || tables.length > 0 ? [['acpi', dir(() => [['tables', dir(() => tables)]])]] : [];
  });
}

function busDir(m: Machine): DirNode {
  return dir(() => {
    const e: Entries = [['pci', busPciDir(m)], ['pci_express', dir(() => [['devices', dir(() => [])], ['drivers', dir(() => [])]])]]; // target of the port services' `subsystem` links
    if (mdevInUse(m)) e.unshift(['mdev', busMdevDir(m)]);
    const platform = [...m.devices.values()].filter((d): d is PlatformDevice => d.kind === 'platform');
    if (platform.length > 0) {
      e.push([
        'platform',
        dir(() => [['devices', dir(() => platform.map((d) => [d.name, relLink('bus/platform/devices', deviceDirPath(d))]))]]),
      ]);
    }
    return e;
  }, 0o755, () => m.generation);
}

/** /sys/kernel of a Debian 6.1 x86 guest [rec: nlink 15]: iommu_groups is simulated, the other
 * directories are present (empty) so that the directory looks as it does on Linux. */
const KERNEL_SUBDIRS = ['boot_params', 'btf', 'cgroup', 'config', 'irq', 'mm', 'reboot', 'security', 'slab', 'software_nodes', 'tracing'];

function kernelDir(m: Machine, gate: EventGate): DirNode {
  return dir(() => {
    const e: Entries = KERNEL_SUBDIRS.map((n) => [n, dir(() => [])]);
    e.push(['iommu_groups', iommuGroupsDir(m)]);
    // debugfs' mount point; iommufs keeps its own diagnostic and control files there.
    e.push(['debug', dir(() => [['iommufs', debugIommufsDir(m, gate)]], 0o700)]);
    return e.sort((a, b) => (a[0] < b[0] ? -1 : 1));
  });
}

export function sysfsTree(m: Machine): SysfsTree {
  const gate = new EventGate(m);
  const root = dir(() => [
    ['block', sysBlockDir(m)],
    ['bus', busDir(m)],
    ['class', classDir(m)],
    ['dev', sysDevDir(m)],
    ['devices', devicesDir(m)],
    ['firmware', firmwareDir(m)],
    ['kernel', kernelDir(m, gate)],
    ['module', moduleDir(m)],
  ], 0o755, () => m.generation);
  let drainedAt = m.generation;
  return {
    root,
    version: () => m.generation,
    events: gate,
    drainChangedRegions: () => {
      if (m.generation === drainedAt) return undefined;
      drainedAt = m.generation;
      return regionsChanged(m.changes.drain());
    },
  };
}

