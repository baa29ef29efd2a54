// The machine's resource assignment (pci/resources/assign.ts), made once for the functions
// the topology describes, the first time anything asks: BARs stay where firmware put them
// across remove and rescan, as the hardware's registers keep them.

import type { PciFunction, PciTopology } from '../pci/enumerate';
import type { Machine } from './machine';
import type { PciDevice } from './types';
import { assignResources } from '../pci/resources/assign';
import type { FunctionResources } from '../pci/resources/assign';
import { declaredOf } from '../pci/resources/declared';
import { hotplugBridge } from '../pci/resources/hotplug';
import { functionView, registerView } from '../pci/resources/view';
import type { FunctionView, RegisterView } from '../pci/resources/view';

export class MachineResources {
  private placedMap: Map<PciFunction, FunctionResources> | undefined;

  constructor(private readonly pci: PciTopology) {}

  private placed = (f: PciFunction): FunctionResources | undefined => {
    this.placedMap ??= assignResources(this.pci, { declared: declaredOf, hotplug: hotplugBridge });
    return this.placedMap.get(f);
  };

  /** `resource` lines and the resourceN / rom files. */
  view(f: PciFunction): FunctionView {
    return functionView(f, declaredOf(f), this.placed);
  }

  /** The BAR, ROM and window registers of the function's config space. */
  registers(f: PciFunction): RegisterView {
    return registerView(f, declaredOf(f), this.placed(f));
  }
}

/** pci_write_rom: "0" makes `rom` unreadable again, anything else readable. */
export function storeRomEnabled(m: Machine, d: PciDevice, data: Buffer): void {
  d.romEnabled = data[0] !== 0x30;
  m.changes.note({ device: d });
}
