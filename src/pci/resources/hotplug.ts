// Whether a bridge is hot-plug capable, as firmware reads it to reserve windows: PCIe root
// and downstream ports whose slot capability says Hot-Plug Capable, conventional bridges with
// an SHPC (SeaBIOS pciinit.c pci_bus_hotplug_support). The rule is the config image's own:
// standard.ts writeExp sets SLTCAP HPC on an implemented slot of a v2 capability when
// `slot.hotplug` says so, by default on QEMU's slots and not on real hardware's
// (config-space.ts expParams); capabilities/overrides.ts adds or drops the SHPC.

import { selectModel } from '../capabilities/layout';
import type { PciFunction } from '../enumerate';

export function hotplugBridge(f: PciFunction): boolean {
  if (f.headerType !== 1) return false;
  const { shape } = selectModel({ headerType: f.headerType, pcie: f.pcie, pcieType: f.pcieType, classCode: f.classCode, vendor: f.id.vendor, device: f.id.device });
  const declared = f.physfn ? undefined : f.spec.hotplug;
  if (f.pcie && (f.pcieType === 4 || f.pcieType === 6)) return (shape.expVersion ?? 2) === 2 && (declared ?? !shape.hardware);
  if (declared !== undefined) return declared;
  return shape.std.some((c) => c.kind === 'shpc');
}
