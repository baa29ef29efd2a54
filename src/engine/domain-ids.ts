// VT-d domain ids in use on one unit, as intel-iommu/domains_used counts them
// (drivers/iommu/intel/iommu.c domains_used_show: the weight of iommu->domain_ids). An id is
// taken when a domain is first attached to a device behind the unit (domain_attach_iommu)
// and given back when the last one leaves (domain_detach_iommu):
// - id 0, reserved by iommu_init_domains (invalid translations are tagged with it);
// - one more id held from boot on every recorded QEMU machine, whatever the domain types
//   (flat: 6 DMA groups, 8 used; passthrough: 14 identity groups, 3 used) [rec]: counted as
//   a constant, its owner not identified;
// - the static identity domain (si_domain), once, while any group is on it;
// - each DMA or DMA-FQ default domain a group is on (one per group);
// - each user (unmanaged) domain attached to a group or a PASID of a device behind the unit.
// A claimed group on its blocking domain holds no id (6.1's blocking domain is not a
// dmar_domain).

import type { Machine } from './machine';
import type { IommuUnit } from './types';

/** Domain id 0 and the id held from boot [rec: groups + 2 with DMA domains, 3 in passthrough]. */
const RESERVED_AT_BOOT = 2;

export function domainIdsUsed(m: Machine, unit: IommuUnit): number {
  let identity = false;
  let dma = 0;
  const user = new Set<number>();
  for (const g of m.sortedGroups()) {
    if (g.unit !== unit) continue;
    const d = m.dma.currentDomain(g);
    if (d.kind === 'user') user.add(d.id);
    else if (d.kind === 'default') {
      if (g.defaultType === 'identity') identity = true;
      else if (g.defaultType === 'DMA' || g.defaultType === 'DMA-FQ') dma++;
    }
    for (const map of m.dma.dma(g).pasids.values()) for (const pd of map.values()) user.add(pd.id);
  }
  return RESERVED_AT_BOOT + (identity ? 1 : 0) + dma + user.size;
}
