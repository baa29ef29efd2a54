// `iommufs groups <topology> [--json]` (docs/cli.md).

import type { Machine } from '../engine/machine';
import { memberNames } from '../engine/machine';

export interface GroupJson {
  id: number;
  type: string;
  devices: string[];
  reserved_regions: string[];
}

export function groupsJson(m: Machine): { groups: GroupJson[] } {
  return {
    groups: m.sortedGroups().map((g) => ({
      id: g.id,
      type: g.defaultType,
      devices: memberNames(g),
      reserved_regions: m.reservedRegionLines(g),
    })),
  };
}

export function groupsText(m: Machine): string {
  return m
    .sortedGroups()
    .map((g) => `group ${g.id}: ${memberNames(g).join(' ')}`)
    .join('\n');
}
