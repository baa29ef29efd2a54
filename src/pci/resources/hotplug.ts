// Whether a bridge is hot-plug capable, as firmware reads it to reserve windows: PCIe root
// and downstream ports whose slot capability says Hot-Plug Capable, conventional bridges with
// an SHPC (SeaBIOS pciinit.c pci_bus_hotplug_support). The rules are the config image's own
// (capabilities/layout.ts slotHotplugCapable, bridgeHasShpc); the image itself cannot be
// asked, since it holds the windows this decides.

import { bridgeHasShpc, selectModel, slotHotplugCapable } from '../capabilities/layout';
import type { PciFunction } from '../enumerate';

export function hotplugBridge(f: PciFunction): boolean {
  if (f.headerType !== 1) return false;
  const { shape } = selectModel({ headerType: f.headerType, pcie: f.pcie, pcieType: f.pcieType, classCode: f.classCode, vendor: f.id.vendor, device: f.id.device });
  const declared = f.physfn ? undefined : f.spec.hotplug;
  // standard.ts writeExp sets HPC only on a v2 capability's implemented slot.
  if (f.pcie && (f.pcieType === 4 || f.pcieType === 6)) return (shape.expVersion ?? 2) === 2 && slotHotplugCapable(shape, declared);
  return bridgeHasShpc(shape, declared);
}
