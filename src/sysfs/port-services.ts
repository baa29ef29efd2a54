// The port service devices pcieport creates below a port it binds
// (drivers/pci/pcie/portdrv_core.c get_port_device_capability, pcie_device_init:
// "<port>:pcie<(type-4)<<8 | service>").

import type { Machine } from '../engine/machine';
import type { PciDevice } from '../engine/types';
import { EXT_CAP_ID, findExtCap, findCap, CAP_ID } from '../pci/config-read';
import { PCI_EXP_TYPE } from '../pci/pcie-type';
import { dir, owned, relLink, uevent } from './build';
import type { Entries } from './build';
import { deviceDirPath } from './paths';
import { plainPower } from '../engine/power';
import { powerDir } from './power';

const SERVICE = { PME: 0x01, AER: 0x02, HP: 0x04, DPC: 0x08, BWNOTIF: 0x10 } as const;

function services(d: PciDevice, cfg: Uint8Array): number[] {
  const t = d.fn.pcieType;
  const out: number[] = [];
  if (t === PCI_EXP_TYPE.ROOT_PORT || t === PCI_EXP_TYPE.RC_EC) out.push(SERVICE.PME);
  if (findExtCap(cfg, EXT_CAP_ID.AER) !== undefined) out.push(SERVICE.AER);
  // Link bandwidth notification: root and downstream ports whose LNKCAP advertises it (bit 21).
  const exp = findCap(cfg, CAP_ID.EXP);
  if (exp !== undefined && (t === PCI_EXP_TYPE.ROOT_PORT || t === PCI_EXP_TYPE.DOWNSTREAM)) {
    const lnkcap = (cfg[exp + 0x0c]! | (cfg[exp + 0x0d]! << 8) | (cfg[exp + 0x0e]! << 16) | (cfg[exp + 0x0f]! << 24)) >>> 0;
    if (lnkcap & (1 << 21)) out.push(SERVICE.BWNOTIF);
  }
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
