// /sys/bus/pci/resource_alignment (drivers/pci/pci.c resource_alignment_show/_store): the
// pci=resource_alignment= parameter, kept as written up to the first newline and applied
// at the next rescan (not simulated: BARs are not assigned here).

import { Errno } from './errno';
import type { Machine } from './machine';
import { cString } from './sysfs-text';

const PAGE_SIZE = 4096;

/** resource_alignment_store: EINVAL from PAGE_SIZE - 1 bytes on; an empty line clears it. */
export function storeResourceAlignment(m: Machine, raw: string): void {
  if (raw.length >= PAGE_SIZE - 1) throw new Errno('EINVAL', 'resource_alignment is too long');
  const s = cString(raw);
  const nl = s.indexOf('\n');
  const param = nl < 0 ? s : s.slice(0, nl);
  m.resourceAlignment = param.length > 0 ? param : null;
  m.changes.note();
}

/** resource_alignment_show: the parameter and a newline, or nothing at all when unset
 * [rec: sriov.json bus_pci_files, an empty file]. */
export function showResourceAlignment(m: Machine): string {
  return m.resourceAlignment === null ? '' : `${m.resourceAlignment}\n`;
}
