// Stores of plain settings that hold no rule beyond their parsing, kept in the engine so
// that every change of machine state goes through the change log.

import { Errno } from './errno';
import type { Machine } from './machine';
import { parseLong } from './driver-ops';
import type { PciDevice } from './types';

/** drivers/pci/pci-sysfs.c numa_node_store: a node that is not online is EINVAL. */
export function setNumaNode(m: Machine, d: PciDevice, raw: string): void {
  const v = parseLong(raw);
  if (v === undefined || (v !== -1 && !m.onlineNodes().includes(v))) throw new Errno('EINVAL', `node ${raw.trim()} is not online`);
  d.numaNode = v;
  m.changes.note({ device: d });
}

/** drivers/base/bus.c drivers_autoprobe_store (parsed by the attribute). */
export function setDriversAutoprobe(m: Machine, on: boolean): void {
  m.driversAutoprobe = on;
  m.changes.note();
}
