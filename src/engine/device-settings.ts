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

/** drivers/base/bus.c drivers_autoprobe_store: '0' turns it off, anything else on. */
function autoprobeOn(raw: string): boolean {
  return raw[0] !== '0';
}

export function setDriversAutoprobe(m: Machine, raw: string): void {
  m.driversAutoprobe = autoprobeOn(raw);
  m.changes.note();
}

/** The mdev bus's drivers_autoprobe, the same store. */
export function setMdevAutoprobe(m: Machine, raw: string): void {
  m.mdev.autoprobe = autoprobeOn(raw);
  m.changes.note();
}
