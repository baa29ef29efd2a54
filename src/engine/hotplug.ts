// remove and rescan (drivers/pci/pci-sysfs.c remove_store, dev_rescan_store, rescan_store;
// drivers/pci/remove.c pci_stop_and_remove_bus_device; probe.c pci_rescan_bus): removing a
// device takes everything below it first; a rescan brings back what the firmware describes
// and adds it in the kernel's order, each device getting the lowest free group number.

import type { PciBus, PciFunction } from '../pci/enumerate';
import { parseUlong } from './driver-ops';
import { Errno } from './errno';
import type { Machine } from './machine';
import type { PciDevice } from './types';

export function removeStore(m: Machine, d: PciDevice, raw: string): void {
  const v = parseUlong(raw);
  if (v === undefined) throw new Errno('EINVAL', 'remove takes a number');
  if (v === 0) return;
  removeSubtree(m, d);
}

export function removeSubtree(m: Machine, d: PciDevice): void {
  if (!m.devices.has(d.name)) return;
  m.disableVfs(d);
  const sec = d.fn.secondary;
  if (sec) {
    // pci_stop_and_remove_bus_device: children in reverse order, deepest first.
    for (const f of [...sec.devices].reverse()) {
      const child = m.deviceOf(f);
      if (child) removeSubtree(m, child);
    }
  }
  m.destroyPciDevice(d);
}

function parseRescan(raw: string): boolean {
  const v = parseUlong(raw);
  if (v === undefined) throw new Errno('EINVAL', 'rescan takes a number');
  return v !== 0;
}

/** /sys/bus/pci/rescan: every root bus. */
export function rescanAll(m: Machine, raw: string): void {
  if (!parseRescan(raw)) return;
  for (const host of m.pci.hostBridges) rescanBus(m, host.rootBus);
}

/** pci_bus/<root bus>/rescan under a host bridge: that root bus and everything below it. */
export function rescanRoot(m: Machine, hostIndex: number, raw: string): void {
  if (!parseRescan(raw)) return;
  const host = m.pci.hostBridges[hostIndex];
  if (host) rescanBus(m, host.rootBus);
}

/** <dev>/rescan: the bus the device sits on. */
export function rescanDevice(m: Machine, d: PciDevice, raw: string): void {
  if (!parseRescan(raw)) return;
  rescanBus(m, d.fn.bus);
}

/** pci_bus/<bus>/rescan of a bridge: its secondary bus. */
export function rescanBridge(m: Machine, d: PciDevice, raw: string): void {
  if (!parseRescan(raw)) return;
  if (d.fn.secondary) rescanBus(m, d.fn.secondary);
}

function rescanBus(m: Machine, bus: PciBus): void {
  const added: PciDevice[] = [];
  collectMissing(m, bus, added);
  m.resources.rescanned(added.map((d) => d.fn));
  for (const d of added) m.probePci(d);
  for (const d of added) m.autoBind(d, false);
}

/** pci_scan_child_bus + pci_bus_add_devices: a bus's devices, then each bridge's bus. */
function collectMissing(m: Machine, bus: PciBus, out: PciDevice[]): void {
  const fns: PciFunction[] = bus.devices.filter((f) => !f.physfn);
  for (const f of fns) {
    if (!m.deviceOf(f)) {
      const d = m.createPciDevice(f);
      d.driver = null;
      out.push(d);
    }
  }
  for (const f of fns) if (f.secondary) collectMissing(m, f.secondary, out);
}
