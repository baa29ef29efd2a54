// Where in the tree a set of engine changes can show. The tree is cut into regions: each
// device's own directory (up to the next device below it), each group's directory, and
// the rest (the spine: bus/, class/, module/, host bridges, kernel/iommu_groups itself...).
// A change reported for a device can alter its own region, its parent's listing, and the
// regions of every device below it (a root port's pcieport driver makes the devices below
// it wake-up capable: drivers/pci/pcie/pme.c pcie_pme_mark_devices); a change for a group,
// that group's region; the spine lists devices, drivers and groups from everywhere, so it
// is always in scope. The FUSE layer re-checks the names the kernel caches in the regions
// in scope, and nothing else.

import type { ChangeSet } from '../engine/change-log';
import { deviceDirPath } from './paths';

/** The spine's region key. */
export const SPINE = '';

const PCI_DEVICE_NAME = /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/;
const GROUPS = 'kernel/iommu_groups/';
const PLATFORM = 'devices/platform/';

/** The region a directory path (relative to the root, no leading slash) belongs to: the
 * path of the deepest device directory on it, or of its group directory, or the spine. */
export function regionOf(path: string): string {
  if (path.startsWith(GROUPS)) {
    const end = path.indexOf('/', GROUPS.length);
    return end < 0 ? path : path.slice(0, end);
  }
  const parts = path.split('/');
  for (let i = parts.length - 1; i >= 0; i--) {
    if (PCI_DEVICE_NAME.test(parts[i]!)) return parts.slice(0, i + 1).join('/');
  }
  if (path.startsWith(PLATFORM)) {
    const end = path.indexOf('/', PLATFORM.length);
    return end < 0 ? path : path.slice(0, end);
  }
  return SPINE;
}

function parentOf(path: string): string {
  const at = path.lastIndexOf('/');
  return at < 0 ? '' : path.slice(0, at);
}

export interface ChangedRegions {
  /** Regions in scope themselves (the spine always). */
  regions: Set<string>;
  /** Device directories every region below which is in scope too. */
  below: Set<string>;
}

/** The regions whose cached names may be out of date after `changes`. */
export function regionsChanged(changes: ChangeSet): ChangedRegions {
  const regions = new Set<string>([SPINE]);
  const below = new Set<string>();
  for (const d of changes.devices) {
    const path = deviceDirPath(d);
    regions.add(regionOf(path));
    regions.add(regionOf(parentOf(path)));
    below.add(path);
  }
  for (const g of changes.groups) regions.add(`${GROUPS}${g}`);
  return { regions, below };
}
