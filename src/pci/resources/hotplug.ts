// Whether a bridge is hot-plug capable, as firmware reads it to reserve windows: PCIe root
// and downstream ports whose slot capability says Hot-Plug Capable (the capability layout
// writes SLTCAP HPC on every implemented slot of a v2 PCIe capability: standard.ts
// writeExp), conventional bridges with an SHPC (pciinit.c pci_bus_hotplug_support).

import { selectModel } from '../capabilities/layout';
import type { PciFunction } from '../enumerate';

export function hotplugBridge(f: PciFunction): boolean {
  if (f.headerType !== 1) return false;
  const { shape } = selectModel({ headerType: f.headerType, pcie: f.pcie, pcieType: f.pcieType, classCode: f.classCode, vendor: f.id.vendor, device: f.id.device });
  if (f.pcie && (f.pcieType === 4 || f.pcieType === 6)) return (shape.expVersion ?? 2) === 2;
  return shape.std.some((c) => c.kind === 'shpc');
}
