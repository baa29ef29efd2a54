// PCI Express hot-plug slots of root and downstream ports: their physical slot numbers
// (SLTCAP PSN), who drives hot-plug (pciehp when the firmware hands the OS native control,
// else ACPI's acpiphp) and the names of bus/pci/slots/<name> (drivers/pci/slot.c).

import type { PciFunction } from '../pci/enumerate';
import { PCI_EXP_TYPE } from '../pci/pcie-type';
import type { Machine } from './machine';
import type { PciDevice } from './types';
import { positionAmong } from '../pci/add-order-index';

function isSlotPort(f: PciFunction): boolean {
  return f.pcieType === PCI_EXP_TYPE.ROOT_PORT || f.pcieType === PCI_EXP_TYPE.DOWNSTREAM;
}

/**
 * The physical slot number of a root or downstream port: the topology's `slot.number`, else
 * 1, 2, ... over the ports in the order Linux adds them, which is what QEMU gives root ports
 * created in address order (`slot=1..6` on the recorded rootports machines; the switch
 * machine's downstream ports, given 11-13 on QEMU's command line, say so in the topology).
 */
export function physicalSlot(m: Machine, f: PciFunction): number | undefined {
  if (!isSlotPort(f)) return undefined;
  if (f.spec.slotNumber !== undefined) return f.spec.slotNumber;
  const i = positionAmong(m.pci.addOrder, isSlotPort, f);
  return i < 0 ? undefined : i + 1;
}

/**
 * Whether the firmware gave the OS native PCIe hot-plug control of the port's host bridge
 * (ACPI _OSC; drivers/acpi/pci_root.c clears host_bridge->native_pcie_hotplug otherwise).
 * QEMU q35 keeps it for its main host bridge, where ACPI PCI hot-plug is on by default (QEMU
 * 7.2 build_q35_osc_method(!pcihp)), so no port there has pciehp [rec: no pcie004 on any
 * recorded port, hot-plug capable as they are]; it grants it to expander host bridges
 * (pxb-pcie: build_q35_osc_method(true)). Other firmware is taken to grant it, as boards with
 * PCIe hot-plug slots do.
 */
export function nativeHotplug(f: PciFunction): boolean {
  let bus = f.bus;
  while (bus.parent !== null) bus = bus.parent;
  return !bus.devices.some((x) => x.devfn === 0 && x.id.vendor === 0x8086 && x.id.device === 0x29c0);
}

/**
 * bus/pci/slots: the slot of every present root or downstream port with a bus behind it, in
 * the order the ports were added. pciehp names a slot by its physical slot number
 * (pciehp_core.c init_slot: "%u"); under ACPI hot-plug acpiphp names it by _SUN, which QEMU
 * reports as 0 for every root port. A name already taken gets "-2", "-3", ... (slot.c
 * make_slot_name) [rec: sriov.json, slots 0, 0-2 and 0-3 for three root ports].
 */
export function slotNames(m: Machine): Map<PciDevice, string> {
  const names = new Map<PciDevice, string>();
  const taken = new Set<string>();
  for (const d of m.pciDevicesInOrder()) {
    if (!isSlotPort(d.fn) || !d.fn.secondary) continue;
    const base = nativeHotplug(d.fn) ? String(physicalSlot(m, d.fn)) : '0';
    let name = base;
    for (let dup = 2; taken.has(name); dup++) name = `${base}-${dup}`;
    taken.add(name);
    names.set(d, name);
  }
  return names;
}
