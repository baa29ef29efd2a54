// Writing a group's `type` file, Linux 6.1 (drivers/iommu/iommu.c iommu_group_store_type and
// iommu_change_dev_def_domain). Checked in the kernel's order; nothing changes on refusal.

import { Errno } from './errno';
import { globalDefaultType } from './domain-type';
import type { DomainType } from './domain-type';
import type { Machine } from './machine';
import { sysfsWord } from './sysfs-text';
import type { IommuGroup } from './types';

const ACCEPTED: Record<string, DomainType | 'auto'> = {
  identity: 'identity',
  DMA: 'DMA',
  'DMA-FQ': 'DMA-FQ',
  auto: 'auto',
};

export function setGroupType(m: Machine, g: IommuGroup, raw: string): void {
  if (g.defaultType === 'unknown') throw new Errno('EINVAL', `group ${g.id} has no default domain`);
  const req = ACCEPTED[sysfsWord(raw)];
  if (req === undefined) throw new Errno('EINVAL', `not a default domain type: ${JSON.stringify(raw)}`);
  if (g.devices.length !== 1) throw new Errno('EINVAL', 'Cannot change default domain: Group has more than one device');
  // The group must be on its default domain (iommu_change_dev_def_domain: "Group not in
  // default domain"), which a user's claim ends.
  if (m.dma.currentDomain(g).kind !== 'default') throw new Errno('EBUSY', `group ${g.id} is not on its default domain`);
  const dev = g.devices[0]!;
  // DMA to DMA-FQ only adds a flush queue to the live domain, so a bound driver does not matter.
  const fqUpgrade = req === 'DMA-FQ' && g.defaultType === 'DMA';
  if (dev.driver !== null && !fqUpgrade) throw new Errno('EBUSY', 'Device is still bound to driver');
  const next = req === 'auto' ? globalDefaultType(m.topology.arch, m.topology.cmdline) : req;
  const from = g.defaultType;
  g.defaultType = next;
  m.changes.note({ group: g.id, events: [{ kind: 'type', group: g.id, from, to: next }] });
}
