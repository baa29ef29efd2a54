// /sys/bus/pci (drivers/pci/pci-driver.c pci_bus_type, drivers/base/bus.c bus_attrs and
// driver_attrs): device links, driver directories with bind/unbind/new_id/remove_id.

import { bind, driversProbe, newId, removeId, unbind } from '../engine/driver-ops';
import { rescanAll } from '../engine/hotplug';
import { slotNames } from '../engine/slots';
import { setDriversAutoprobe } from '../engine/device-settings';
import type { Machine } from '../engine/machine';
import type { PciDevice } from '../engine/types';
import { dir, indexedDir, relLink, ro, rw, rwRaw, ueventTrigger, wo } from './build';
import { showResourceAlignment, storeResourceAlignment } from '../engine/resource-alignment';
import type { Entries } from './build';
import type { DirNode } from './node';
import { deviceDirPath } from './paths';

function pciDevices(m: Machine): PciDevice[] {
  return [...m.devices.values()].filter((d): d is PciDevice => d.kind === 'pci');
}

function devicesDir(m: Machine): DirNode {
  const here = 'bus/pci/devices';
  return indexedDir({
    names: () => pciDevices(m).map((d) => d.name).sort(),
    lookup: (name) => {
      const d = m.devices.get(name);
      return d && d.kind === 'pci' ? relLink(here, deviceDirPath(d)) : undefined;
    },
    subdirs: () => 0,
  });
}

function driverDir(m: Machine, name: string): DirNode {
  const here = `bus/pci/drivers/${name}`;
  return dir((): Entries => {
    const drv = m.drivers.get(name);
    if (!drv) return [];
    const e: Entries = pciDevices(m)
      .filter((d) => d.driver === name)
      .sort((a, b) => (a.name < b.name ? -1 : 1))
      .map((d) => [d.name, relLink(here, deviceDirPath(d))]);
    e.push(['bind', wo((t) => bind(m, name, t))]);
    if (drv.traits.module && m.moduleLoaded(drv.traits.module)) e.push(['module', relLink(here, `module/${drv.traits.module}`)]);
    e.push(['new_id', wo((t) => newId(m, name, t))]);
    e.push(['remove_id', wo((t) => removeId(m, name, t))]);
    e.push(['uevent', ueventTrigger()]);
    e.push(['unbind', wo((t) => unbind(m, name, t))]);
    return e;
  }, 0o755, () => m.generation);
}

function driversDir(m: Machine): DirNode {
  const nodes = new Map<string, DirNode>();
  const node = (name: string): DirNode => {
    let n = nodes.get(name);
    if (!n) {
      n = driverDir(m, name);
      nodes.set(name, n);
    }
    return n;
  };
  return indexedDir({
    names: () => [...m.drivers.keys()].sort(),
    lookup: (name) => (m.drivers.has(name) ? node(name) : undefined),
    subdirs: () => m.drivers.size,
  });
}

function slotsDir(m: Machine): DirNode {
  // drivers/pci/slot.c: one directory per hot-plug slot, with the address of the bus behind
  // it (engine/slots.ts names them).
  return dir(
    () =>
      [...slotNames(m)].map(([d, name]): [string, DirNode] => [
        name,
        dir(() => [['address', ro(() => `${d.fn.segment.toString(16).padStart(4, '0')}:${d.fn.secondary!.number.toString(16).padStart(2, '0')}:00`)]]),
      ]),
    0o755,
    // Listed once per change: each lookup below it would otherwise name every slot again.
    () => m.generation,
  );
}

export function busPciDir(m: Machine): DirNode {
  return dir(
    () => [
    ['devices', devicesDir(m)],
    ['drivers', driversDir(m)],
    ['drivers_autoprobe', rw(() => (m.driversAutoprobe ? '1' : '0'), (t) => setDriversAutoprobe(m, t))],
    ['drivers_probe', wo((t) => driversProbe(m, t))],
    ['rescan', wo((t) => rescanAll(m, t))],
    ['resource_alignment', rwRaw(() => showResourceAlignment(m), (t) => storeResourceAlignment(m, t))],
    ['slots', slotsDir(m)],
    ['uevent', ueventTrigger()],
    ],
    0o755,
    () => m.generation,
  );
}
