// Reserved regions: what each IOMMU driver reports per device, merged per group and printed
// as the kernel prints them (drivers/iommu/iommu.c iommu_insert_resv_region,
// iommu_get_group_resv_regions, iommu_group_show_resv_regions).

import type { IommuType, RegionKind } from '../topology/model';

/** Kernel type numbers (include/linux/iommu.h enum iommu_resv_type); SW_MSI prints as "msi". */
export const RESV_TYPE = {
  direct: 0,
  'direct-relaxable': 1,
  reserved: 2,
  msi: 3,
  'sw-msi': 4,
} as const;
export type ResvKind = keyof typeof RESV_TYPE;

export interface ResvRegion {
  start: bigint;
  end: bigint; // inclusive
  kind: ResvKind;
}

const X86_MSI: ResvRegion = { start: 0xfee00000n, end: 0xfeefffffn, kind: 'msi' };
const AMD_HT: ResvRegion = { start: 0xfd00000000n, end: 0xffffffffffn, kind: 'reserved' };
const ARM_SW_MSI: ResvRegion = { start: 0x08000000n, end: 0x080fffffn, kind: 'sw-msi' };
/** CONFIG_INTEL_IOMMU_FLOPPY_WA (on in Debian): the ISA bridge keeps the low 16 MiB 1:1. */
const ISA_FLOPPY: ResvRegion = { start: 0n, end: 0xffffffn, kind: 'direct-relaxable' };

export interface ResvDeviceFacts {
  unitType: IommuType;
  classCode: number;
  /** The unit's extra regions from the topology. */
  extra: readonly { start: bigint; end: bigint; kind: RegionKind }[];
}

/** The regions one device contributes, as its IOMMU driver's get_resv_regions reports them. */
export function deviceRegions(d: ResvDeviceFacts): ResvRegion[] {
  const out: ResvRegion[] = [];
  const extra = d.extra.map((r): ResvRegion => ({ start: r.start, end: r.end, kind: r.kind }));
  switch (d.unitType) {
    case 'intel-vtd':
      // drivers/iommu/intel/iommu.c intel_iommu_get_resv_regions: RMRRs, the ISA range, then MSI.
      // RMRRs of USB and display devices are relaxable (device_rmrr_is_relaxable).
      for (const r of extra) out.push(relaxForClass(r, d.classCode));
      if (d.classCode >> 8 === 0x0601) out.push(ISA_FLOPPY);
      out.push(X86_MSI);
      break;
    case 'amd-vi':
      // drivers/iommu/amd/iommu.c amd_iommu_get_resv_regions: unity maps, MSI, HyperTransport.
      out.push(...extra, X86_MSI, AMD_HT);
      break;
    case 'arm-smmu':
    case 'arm-smmu-v3':
      // arm-smmu(-v3).c get_resv_regions: the software MSI window, then IORT RMRs.
      out.push(ARM_SW_MSI, ...extra);
      break;
    case 'virtio-iommu':
      // drivers/iommu/virtio-iommu.c viommu_get_resv_regions: the device's regions, SW_MSI if none is MSI.
      out.push(...extra);
      if (!extra.some((r) => r.kind === 'msi')) out.push(ARM_SW_MSI);
      break;
    case 'power-tce':
      // 6.1's POWER spapr groups report no reserved regions.
      out.push(...extra);
      break;
  }
  return out;
}

function relaxForClass(r: ResvRegion, classCode: number): ResvRegion {
  const isUsb = classCode >> 8 === 0x0c03;
  const isDisplay = classCode >> 16 === 0x03;
  if (r.kind === 'direct' && (isUsb || isDisplay)) return { ...r, kind: 'direct-relaxable' };
  return r;
}

/**
 * Insert one region into a sorted list as iommu_insert_resv_region does: ordered by start,
 * then by type; regions of the same type that overlap or touch are merged; different types
 * never merge.
 */
export function insertRegion(list: ResvRegion[], r: ResvRegion): ResvRegion[] {
  const t = RESV_TYPE[r.kind];
  let at = list.findIndex((e) => r.start < e.start || (r.start === e.start && t <= RESV_TYPE[e.kind]));
  if (at < 0) at = list.length;
  const withNew = [...list.slice(0, at), { ...r }, ...list.slice(at)];
  const out: ResvRegion[] = [];
  let top: ResvRegion | undefined;
  for (const e of withNew) {
    if (e.kind !== r.kind) {
      out.push(e);
      continue;
    }
    if (top && e.start <= top.end + 1n) {
      if (e.end > top.end) top.end = e.end;
      continue;
    }
    top = { ...e };
    out.push(top);
  }
  return out;
}

export function mergeRegions(perDevice: ResvRegion[][]): ResvRegion[] {
  let list: ResvRegion[] = [];
  for (const regions of perDevice) for (const r of regions) list = insertRegion(list, r);
  return list;
}

function hex16(n: bigint): string {
  return '0x' + n.toString(16).padStart(16, '0');
}

/** One line per region: "0x%016llx 0x%016llx %s" (iommu_group_show_resv_regions). */
export function formatRegion(r: ResvRegion): string {
  const name = r.kind === 'sw-msi' ? 'msi' : r.kind;
  return `${hex16(r.start)} ${hex16(r.end)} ${name}`;
}
