// The machine's resource assignment (pci/resources/assign.ts), for the functions the topology
// describes, made when first asked; a rescan that finds functions again has
// Linux place them afresh (pci/resources/rescan.ts). The rescans are kept, in order, so a
// restart from saved state replays them.

import type { PciBus, PciFunction, PciTopology } from '../pci/enumerate';
import { assignResources } from '../pci/resources/assign';
import type { AssignInput, FunctionResources } from '../pci/resources/assign';
import { declaredOf } from '../pci/resources/declared';
import { hotplugBridge } from '../pci/resources/hotplug';
import { assignRescanned } from '../pci/resources/rescan';
import { functionView, registerView } from '../pci/resources/view';
import type { FunctionView, RegisterView } from '../pci/resources/view';
import type { Machine } from './machine';
import type { PciDevice } from './types';

const INPUT: AssignInput = { declared: declaredOf, hotplug: hotplugBridge };

export class MachineResources {
  private placedMap: Map<PciFunction, FunctionResources> | undefined;
  /** Each rescan that found functions again: their names (the first of each subtree). */
  private readonly rescanLog: string[][] = [];

  constructor(
    private readonly pci: PciTopology,
    private readonly present: (f: PciFunction) => boolean,
  ) {}

  /** The boot assignment (pcibios_assign_resources, after the scan), made the first time
   * anything asks: grouping needs none of it. It is the same whenever it is made: it walks
   * the functions the topology describes, which a removal leaves on their buses, and skips
   * the VFs an enable added (assign.ts collect). */
  private map(): Map<PciFunction, FunctionResources> {
    this.placedMap ??= assignResources(this.pci, INPUT);
    return this.placedMap;
  }

  private placed = (f: PciFunction): FunctionResources | undefined => this.map().get(f);

  /** `resource` lines and the resourceN / rom files. */
  view(f: PciFunction): FunctionView {
    return functionView(f, declaredOf(f), this.placed);
  }

  /** The BAR, ROM and window registers of the function's config space. */
  registers(f: PciFunction): RegisterView {
    return registerView(f, declaredOf(f), this.placed(f));
  }

  /** Functions a rescan added (in add order): each subtree whose parent stayed is placed
   * afresh on its bus, buses in the order their first function was added. */
  rescanned(added: PciFunction[]): void {
    const set = new Set(added);
    const tops = added.filter((f) => !f.physfn && !(f.bus.bridge && set.has(f.bus.bridge)));
    if (tops.length === 0) return;
    const byBus = new Map<PciBus, PciFunction[]>();
    for (const f of tops) byBus.set(f.bus, [...(byBus.get(f.bus) ?? []), f]);
    for (const [bus, fns] of byBus) assignRescanned(bus, fns, INPUT, this.map(), this.present);
    this.rescanLog.push(tops.map((f) => f.name));
  }

  /** The rescans so far, for the saved state. */
  rescans(): string[][] {
    return this.rescanLog.map((r) => [...r]);
  }

  /** Replays saved rescans over the boot assignment. */
  replay(rescans: string[][]): void {
    const byName = new Map(this.pci.addOrder.map((f) => [f.name, f]));
    for (const names of rescans) this.rescanned(names.map((n) => byName.get(n)).filter((f): f is PciFunction => f !== undefined));
  }
}

/** pci_write_rom: "0" makes `rom` unreadable again, anything else readable. */
export function storeRomEnabled(m: Machine, d: PciDevice, data: Buffer): void {
  d.romEnabled = data[0] !== 0x30;
  m.changes.note({ device: d });
}
