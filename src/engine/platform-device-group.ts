// Groups for non-PCI (platform) devices. SMMUv3 gives each device its own group and refuses a
// stream ID another device already uses (arm-smmu-v3.c arm_smmu_insert_master → -EINVAL);
// SMMU v2 shares a group between masters whose stream IDs share a Stream Match Register
// (arm-smmu.c arm_smmu_device_group); everything else gets one group per device
// (iommu.c generic_device_group).

import type { GroupStep, IommuGroup, PlatformDevice } from './types';

export interface PlatformDecision {
  join: IommuGroup | null;
  /** The probe failed: the device gets no group. */
  refused: boolean;
  steps: GroupStep[];
}

function sharedIds(a: PlatformDevice, b: PlatformDevice): number[] {
  return a.spec.streamIds.filter((id) => b.spec.streamIds.includes(id));
}

export function platformDeviceGroup(dev: PlatformDevice, grouped: PlatformDevice[]): PlatformDecision {
  const unit = dev.unit!;
  const peers = grouped.filter((d) => d.unit === unit);
  const hex = (ids: number[]): string => ids.map((i) => '0x' + i.toString(16)).join(', ');
  switch (unit.spec.type) {
    case 'arm-smmu-v3': {
      const clash = peers.find((d) => sharedIds(dev, d).length > 0);
      if (clash) {
        return {
          join: null,
          refused: true,
          steps: [{ kind: 'platform', text: `stream ID ${hex(sharedIds(dev, clash))} is already used by ${clash.name}: SMMUv3 refuses the device (EINVAL), so it has no group` }],
        };
      }
      return { join: null, refused: false, steps: [{ kind: 'platform', text: 'SMMUv3 gives every platform device a group of its own' }] };
    }
    case 'arm-smmu': {
      const groups = new Set<IommuGroup>();
      let via: PlatformDevice | undefined;
      for (const d of peers) {
        if (sharedIds(dev, d).length > 0 && d.group) {
          groups.add(d.group);
          via = via ?? d;
        }
      }
      if (groups.size > 1) {
        return { join: null, refused: true, steps: [{ kind: 'platform', text: 'its stream IDs match entries of two different groups: the SMMU refuses it (EINVAL)' }] };
      }
      if (via && via.group) {
        return {
          join: via.group,
          refused: false,
          steps: [{ kind: 'platform', text: `shares stream ID ${hex(sharedIds(dev, via))} with ${via.name}: one stream match entry, one group`, joined: via.name }],
        };
      }
      return { join: null, refused: false, steps: [{ kind: 'platform', text: 'its stream IDs match no other master: a new group' }] };
    }
    default:
      return { join: null, refused: false, steps: [{ kind: 'platform', text: 'one group per platform device (generic_device_group)' }] };
  }
}
