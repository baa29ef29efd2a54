// /sys/kernel/iommu_groups (drivers/iommu/iommu.c iommu_group_alloc, iommu_group_add_device,
// iommu_group_attr_show; Documentation/ABI/testing/sysfs-kernel-iommu_groups).

import type { Machine } from '../engine/machine';
import { memberNames } from '../engine/machine';
import type { IommuGroup } from '../engine/types';
import { dir, indexedDir, owned, relLink, ro, roRaw, rw } from './build';
import type { Entries } from './build';
import type { DirNode } from './node';
import { deviceDirPath } from './paths';
import { setGroupType } from '../engine/group-type';

export const IOMMU_GROUPS_PATH = 'kernel/iommu_groups';

export function groupPath(id: number): string {
  return `${IOMMU_GROUPS_PATH}/${id}`;
}

function groupDir(m: Machine, g: IommuGroup): DirNode {
  const here = groupPath(g.id);
  const version = (): number => m.generation;
  return owned(g, dir((): Entries => [
    [
      'devices',
      dir(() => {
        const current = m.groups.get(g.id) === g ? g : undefined;
        if (!current) return [];
        return memberNames(current).map((name) => {
          const d = m.devices.get(name)!;
          return [name, relLink(`${here}/devices`, deviceDirPath(d))];
        });
      }, 0o755, version),
    ],
    // iommu_group_set_name adds `name` only to groups given one: VFIO's emulated groups.
    ...(g.kind === 'vfio-noiommu' ? ([['name', ro(() => 'vfio-noiommu')]] satisfies Entries) : []),
    ['reserved_regions', roRaw(() => m.reservedRegionLines(g).map((l) => l + '\n').join(''))],
    ['type', rw(() => g.defaultType, (text) => setGroupType(m, g, text))],
  ], 0o755, version));
}

export function iommuGroupsDir(m: Machine): DirNode {
  return indexedDir({
    names: () => m.sortedGroups().map((g) => String(g.id)),
    lookup: (name) => {
      if (!/^(0|[1-9][0-9]*)$/.test(name)) return undefined;
      const g = m.groups.get(Number(name));
      return g ? groupDir(m, g) : undefined;
    },
    subdirs: () => m.groups.size,
  });
}
