// A platform device's directory (drivers/base/platform.c platform_dev_attrs).

import type { Machine } from '../engine/machine';
import type { PlatformDevice } from '../engine/types';
import { dir, relLink, ro, rw, uevent } from './build';
import type { Entries } from './build';
import { groupPath } from './iommu-groups';
import type { DirNode } from './node';
import { deviceDirPath, driverDirPath, iommuUnitPath } from './paths';
import { plainPower } from '../engine/power';
import { setDriverOverride } from '../engine/driver-ops';
import { powerDir } from './power';

export function platformDeviceDir(m: Machine, d: PlatformDevice): DirNode {
  const here = deviceDirPath(d);
  return dir((): Entries => {
    const e: Entries = [];
    if (d.driver) e.push(['driver', relLink(here, driverDirPath('platform', d.driver))]);
    e.push(['driver_override', rw(() => d.driverOverride ?? '(null)', (t) => setDriverOverride(m, d, t))]);
    if (d.group && d.unit) {
      e.push(['iommu', relLink(here, iommuUnitPath(d.unit.name))]);
      e.push(['iommu_group', relLink(here, groupPath(d.group.id))]);
    }
    e.push(['modalias', ro(() => `of:N${d.name.replace(/^[0-9a-f]+\./, '')}T(null)`)]);
    e.push(['power', powerDir(m, plainPower(m, d, '', {}, d))]);
    e.push(['subsystem', relLink(here, 'bus/platform')]);
    e.push(['uevent', uevent(() => [`OF_NAME=${d.name}`])]);
    return e;
  });
}
