// The port service devices pcieport creates below a port it binds
// (drivers/pci/pcie/portdrv_core.c get_port_device_capability, pcie_device_init:
// "<port>:pcie<(type-4)<<8 | service>").

import type { Machine } from '../engine/machine';
import type { PciDevice } from '../engine/types';
import type { PciFunction } from '../pci/enumerate';
import { EXT_CAP_ID, findExtCap, findCap, CAP_ID } from '../pci/config-read';
import { PCI_EXP_TYPE } from '../pci/pcie-type';
import { dir, relLink, rw } from './build';
import type { Entries } from './build';
import { deviceDirPath } from './paths';
import { powerDir } from './power';

const SERVICE = { PME: 0x01, AER: 0x02, HP: 0x04, DPC: 0x08, BWNOTIF: 0x10 } as const;

/**
 * Whether the firmware gave the OS native PCIe hot-plug control of a host bridge (ACPI _OSC;
 * drivers/acpi/pci_root.c clears host_bridge->native_pcie_hotplug otherwise). QEMU q35 keeps
 * it for its main host bridge, where ACPI PCI hot-plug is on by default (QEMU 7.2
 * build_q35_osc_method(!pcihp)), so no port there has pciehp [rec: no pcie004 on any
 * recorded port, hot-plug capable as they are]; it grants it to expander host bridges
 * (pxb-pcie: build_q35_osc_method(true)). Other firmware is taken to grant it, as boards
 * with PCIe hot-plug slots do.
 */
function nativeHotplug(f: PciFunction): boolean {
  let bus = f.bus;
  while (bus.parent !== null) bus = bus.parent;
  const q35Main = bus.devices.some((x) => x.devfn === 0 && x.id.vendor === 0x8086 && x.id.device === 0x29c0);
  return !q35Main;
}

/** drivers/pci/pcie/portdrv_core.c get_port_device_capability (6.1). */
function services(d: PciDevice, cfg: Uint8Array): number[] {
  const t = d.fn.pcieType;
  const out: number[] = [];
  const rootOrDownstream = t === PCI_EXP_TYPE.ROOT_PORT || t === PCI_EXP_TYPE.DOWNSTREAM;
  const exp = findCap(cfg, CAP_ID.EXP);
  const u32 = (at: number): number => (cfg[at]! | (cfg[at + 1]! << 8) | (cfg[at + 2]! << 16) | (cfg[at + 3]! << 24)) >>> 0;
  // pciehp: a hot-plug bridge (set_pcie_hotplug_bridge: SLTCAP Hot-Plug Capable) that is a
  // root or downstream port, wherever it sits, when its host bridge has native hot-plug.
  const slotImplemented = exp !== undefined && (cfg[exp + 3]! & 0x01) !== 0;
  if (rootOrDownstream && slotImplemented && (u32(exp + 0x14) & 0x40) !== 0 && nativeHotplug(d.fn)) out.push(SERVICE.HP);
  if (t === PCI_EXP_TYPE.ROOT_PORT || t === PCI_EXP_TYPE.RC_EC) out.push(SERVICE.PME);
  if (findExtCap(cfg, EXT_CAP_ID.AER) !== undefined) out.push(SERVICE.AER);
  // Link bandwidth notification: root and downstream ports whose LNKCAP advertises it (bit 21).
  if (exp !== undefined && rootOrDownstream && u32(exp + 0x0c) & (1 << 21)) out.push(SERVICE.BWNOTIF);
  return out.sort((a, b) => a - b);
}

export function portServiceEntries(_m: Machine, d: PciDevice, cfg: Uint8Array): Entries {
  const type = d.fn.pcieType ?? PCI_EXP_TYPE.ROOT_PORT;
  return services(d, cfg).map((svc) => {
    const id = (((type - 4) & 0xff) << 8) | svc;
    const name = `${d.name}:pcie${id.toString(16).padStart(3, '0')}`;
    const here = `${deviceDirPath(d)}/${name}`;
    return [
      name,
      dir(() => [
        ['power', powerDir(false)],
        ['subsystem', relLink(here, 'bus/pci_express')],
        ['uevent', rw(() => '', () => undefined)],
      ]),
    ];
  });
}
