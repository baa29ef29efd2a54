// The port service devices pcieport creates below a port it binds
// (drivers/pci/pcie/portdrv_core.c get_port_device_capability, pcie_device_init:
// "<port>:pcie<(type-4)<<8 | service>").

import type { Machine } from '../engine/machine';
import type { PciDevice } from '../engine/types';
import { nativeHotplug } from '../engine/slots';
import { EXT_CAP_ID, findExtCap, findCap, CAP_ID } from '../pci/config-read';
import { PCI_EXP_TYPE } from '../pci/pcie-type';
import { dir, owned, relLink, uevent } from './build';
import type { Entries } from './build';
import { deviceDirPath } from './paths';
import { plainPower } from '../engine/power';
import { powerDir } from './power';

const SERVICE = { PME: 0x01, AER: 0x02, HP: 0x04, DPC: 0x08, BWNOTIF: 0x10 } as const;

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

export function portServiceEntries(m: Machine, d: PciDevice, cfg: Uint8Array): Entries {
  const type = d.fn.pcieType ?? PCI_EXP_TYPE.ROOT_PORT;
  return services(d, cfg).map((svc) => {
    const id = (((type - 4) & 0xff) << 8) | svc;
    const name = `${d.name}:pcie${id.toString(16).padStart(3, '0')}`;
    const here = `${deviceDirPath(d)}/${name}`;
    return [
      name,
      owned(m.binding(d), dir(() => [
        // pcie_device_init: device_enable_async_suspend, and pm_runtime_no_callbacks once registered.
        ['power', powerDir(m, plainPower(m, m.binding(d), name, { asyncSuspend: true, noCallbacks: true }, d))],
        ['subsystem', relLink(here, 'bus/pci_express')],
        ['uevent', uevent(() => [])],
      ])),
    ];
  });
}
