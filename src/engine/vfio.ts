// Which /dev/vfio/<group> nodes exist: VFIO registers a group when the first of its devices
// binds to vfio-pci and drops it when the last one leaves (drivers/vfio/group.c
// vfio_group_find_or_alloc / vfio_device_remove_group) [rec: writes.json, /dev/vfio/8 and 10].

import { isVfioDriver } from './driver-traits';
import type { Machine } from './machine';

export function vfioGroupIds(m: Machine): number[] {
  return m
    .sortedGroups()
    .filter((g) => g.devices.some((d) => d.kind === 'pci' && d.driver !== null && isVfioDriver(m.drivers.get(d.driver)?.traits)))
    .map((g) => g.id);
}
