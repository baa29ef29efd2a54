// Which driver is bound when the machine comes up: the topology's `driver`, and the built-in
// port driver on every PCIe port (drivers/pci/pcie/portdrv_pci.c pcie_portdriver binds
// root ports, upstream and downstream ports, and event collectors).

import type { PciFunction } from '../pci/enumerate';
import { PCI_EXP_TYPE } from '../pci/pcie-type';

export const PORT_DRIVER = 'pcieport';

export function isPciePort(f: PciFunction): boolean {
  return (
    f.pcieType === PCI_EXP_TYPE.ROOT_PORT ||
    f.pcieType === PCI_EXP_TYPE.UPSTREAM ||
    f.pcieType === PCI_EXP_TYPE.DOWNSTREAM ||
    f.pcieType === PCI_EXP_TYPE.RC_EC
  );
}

export function bootDriverFor(f: PciFunction): string | null {
  if (f.spec.driver) return f.spec.driver;
  return isPciePort(f) ? PORT_DRIVER : null;
}
