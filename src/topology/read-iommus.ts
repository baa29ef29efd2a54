// The `iommus` list: IOMMU units, their scope and extra reserved regions.

import type { Arch, IommuType, IommuUnitSpec, RegionKind, ReservedRegionSpec } from './model';
import { parseDeviceAddress } from './values';
import { describe } from './yaml-reader';
import type { At, YamlReader } from './yaml-reader';

export const IOMMU_KEYS = ['name', 'type', 'scope', 'interrupt-remapping', 'reserved', 'pasid', 'dirty-tracking', 'nesting'] as const;
export const RESERVED_KEYS = ['start', 'end', 'kind'] as const;

export const IOMMU_TYPES: readonly IommuType[] = ['intel-vtd', 'amd-vi', 'arm-smmu-v3', 'arm-smmu', 'virtio-iommu', 'power-tce'];
export const REGION_KINDS: readonly RegionKind[] = ['direct', 'direct-relaxable', 'reserved', 'msi'];

/** Which unit types each architecture has a driver for. */
export const ARCH_IOMMU_TYPES: Record<Arch, readonly IommuType[]> = {
  x86: ['intel-vtd', 'amd-vi', 'virtio-iommu'],
  arm64: ['arm-smmu-v3', 'arm-smmu', 'virtio-iommu'],
  power: ['power-tce'],
};

/** PCIe PASID widths go up to 20 bits (the PASID Extended Capability's Max PASID Width). */
export const MAX_PASID_BITS = 20;

const U64_MAX = (1n << 64n) - 1n;

export function readIommus(r: YamlReader, at: At, arch: Arch): IommuUnitSpec[] {
  const items = r.list(at);
  if (!items) return [];
  const units: IommuUnitSpec[] = [];
  const seen = new Map<string, number>();
  for (const item of items) {
    const m = r.map(item, IOMMU_KEYS);
    if (!m) continue;
    const unit: IommuUnitSpec = {
      name: '',
      type: 'intel-vtd',
      scope: 'all',
      interruptRemapping: true,
      reserved: [],
      pasidBits: 0,
      dirtyTracking: false,
      nesting: false,
      pos: r.pos(item.offset),
    };
    const nameAt = m.get('name');
    if (!nameAt) r.error(item.offset, item.path, 'missing required key "name"');
    else {
      const name = r.string(nameAt);
      if (name !== undefined) {
        if (!/^[A-Za-z0-9_.:-]+$/.test(name)) {
          r.error(nameAt.offset, nameAt.path, `"${name}" is not a usable unit name (letters, digits, . _ : - only)`);
        } else if (name === 'none') {
          r.error(nameAt.offset, nameAt.path, '"none" is reserved: a root bus uses `iommu: none` to mean no unit');
        } else if (seen.has(name)) {
          r.error(nameAt.offset, nameAt.path, `duplicate unit name "${name}" (first at line ${seen.get(name)})`);
        } else seen.set(name, r.pos(nameAt.offset).line);
        unit.name = name;
      }
    }
    const typeAt = m.get('type');
    if (!typeAt) r.error(item.offset, item.path, 'missing required key "type"');
    else {
      const type = r.oneOf(typeAt, IOMMU_TYPES, 'IOMMU type');
      if (type !== undefined) {
        unit.type = type;
        if (!ARCH_IOMMU_TYPES[arch].includes(type)) {
          r.error(typeAt.offset, typeAt.path, `${type} is not an IOMMU of arch ${arch} (${arch} has: ${ARCH_IOMMU_TYPES[arch].join(', ')})`);
        }
      }
    }
    const scopeAt = m.get('scope');
    if (scopeAt) unit.scope = readScope(r, scopeAt);
    const irAt = m.get('interrupt-remapping');
    if (irAt) unit.interruptRemapping = r.bool(irAt) ?? true;
    const reservedAt = m.get('reserved');
    if (reservedAt) unit.reserved = readReserved(r, reservedAt);
    const pasidAt = m.get('pasid');
    if (pasidAt) unit.pasidBits = r.int(pasidAt, 0, MAX_PASID_BITS) ?? 0;
    const dirtyAt = m.get('dirty-tracking');
    if (dirtyAt) unit.dirtyTracking = r.bool(dirtyAt) ?? false;
    const nestingAt = m.get('nesting');
    if (nestingAt) unit.nesting = r.bool(nestingAt) ?? false;
    units.push(unit);
  }
  return units;
}

function readScope(r: YamlReader, at: At): 'all' | string[] {
  if (at.node.kind === 'scalar') {
    if (at.node.value === 'all') return 'all';
    r.error(at.offset, at.path, `expected "all" or a list of device addresses, got ${describe(at.node)}`);
    return [];
  }
  const items = r.list(at);
  if (!items) return [];
  const out: string[] = [];
  for (const item of items) {
    const text = r.string(item);
    if (text === undefined) continue;
    const addr = parseDeviceAddress(text);
    if (!addr.ok) r.error(item.offset, item.path, `scope entry ${addr.message}`);
    else out.push(addr.value);
  }
  return out;
}

function readReserved(r: YamlReader, at: At): ReservedRegionSpec[] {
  const items = r.list(at);
  if (!items) return [];
  const out: ReservedRegionSpec[] = [];
  for (const item of items) {
    const m = r.map(item, RESERVED_KEYS);
    if (!m) continue;
    const field = (key: string): At | undefined => {
      const v = m.get(key);
      if (!v) r.error(item.offset, item.path, `missing required key "${key}"`);
      return v;
    };
    const startAt = field('start');
    const endAt = field('end');
    const kindAt = field('kind');
    const start = startAt && r.bigint(startAt, 0n, U64_MAX);
    const end = endAt && r.bigint(endAt, 0n, U64_MAX);
    const kind = kindAt && r.oneOf(kindAt, REGION_KINDS, 'region kind');
    if (start !== undefined && end !== undefined && start > end && endAt) {
      r.error(endAt.offset, endAt.path, `end 0x${end.toString(16)} is below start 0x${start.toString(16)} (end is inclusive)`);
      continue;
    }
    if (start !== undefined && end !== undefined && kind !== undefined) out.push({ start, end, kind });
  }
  return out;
}
