// Default domain types (drivers/iommu/iommu.c iommu_subsys_init, iommu_set_default_passthrough,
// iommu_set_dma_strict; iommu_group_show_type for the names).

import type { Arch, BootOptions, IommuType } from '../topology/model';

/** The names the `type` file prints. `unknown` is a group without a default domain. */
export type DomainType = 'identity' | 'DMA' | 'DMA-FQ' | 'unmanaged' | 'blocked' | 'unknown';

/**
 * The global default: Debian builds x86 with CONFIG_IOMMU_DEFAULT_DMA_LAZY (the Kconfig default
 * there); elsewhere the Kconfig default is DMA_STRICT. The command line then overrides it:
 * iommu.passthrough / iommu=pt for identity, iommu.strict for strict vs lazy.
 */
export function globalDefaultType(arch: Arch, boot: BootOptions): DomainType {
  if (boot.passthrough === true) return 'identity';
  const lazyByDefault = arch === 'x86';
  const strict = boot.strict ?? !lazyByDefault;
  return strict ? 'DMA' : 'DMA-FQ';
}

/** The default domain a group behind this unit gets. POWER's spapr TCE groups have none in 6.1. */
export function defaultTypeFor(unitType: IommuType, arch: Arch, boot: BootOptions): DomainType {
  if (unitType === 'power-tce') return 'unknown';
  return globalDefaultType(arch, boot);
}
