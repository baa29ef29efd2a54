// The class devices a bound driver creates as children of its PCI device (net/eth0,
// ptp/ptp0, vfio-dev/vfio0, nvme/nvme0, wakeup/wakeup13: device_add with the PCI device as
// parent puts them in a directory named for the class, drivers/base/core.c
// get_device_parent), and their /sys/class/<class>/<name> links. Each holds the driver
// core's own entries (device, power, subsystem, uevent) and, for wakeup sources, the
// statistics of drivers/base/power/wakeup_stats.c.

import type { ClassDevice } from '../engine/driver-effects';
import type { Machine } from '../engine/machine';
import type { PciDevice } from '../engine/types';
import { dir, relLink, ro, uevent } from './build';
import { plainPower } from '../engine/power';
import type { Entries } from './build';
import type { DirNode } from './node';
import { deviceDirPath } from './paths';
import { powerDir } from './power';
import { CHAR_MAJOR } from '../engine/nvme';
import { nvmeControllerEntries, nvmeControllerUevent } from './nvme';
import { kernfsLink } from './block-devices';

/** drivers/base/power/wakeup_stats.c: the counters of a source that has not fired yet. */
const WAKEUP_STATS = [
  'active_count',
  'active_time_ms',
  'event_count',
  'expire_count',
  'last_change_ms',
  'max_time_ms',
  'prevent_suspend_time_ms',
  'total_time_ms',
  'wakeup_count',
];

/** MAJOR:MINOR of a class device's char device: ptp, nvme and DRM minors are character
 * devices (DRM's major 226, a render node's minor 128 + N); network interfaces, a 6.1
 * vfio_device, a sound card and a wakeup source have no devt. */
export function classDevt(c: ClassDevice): string | null {
  switch (c.kind) {
    case 'ptp':
      return `${CHAR_MAJOR.ptp}:${c.index}`;
    case 'nvme':
      return `${CHAR_MAJOR.nvme}:${c.index}`;
    case 'drm-card':
    case 'drm-render':
      return `${CHAR_MAJOR.drm}:${c.index}`;
    default:
      return null;
  }
}

/** dev_uevent: MAJOR, MINOR and DEVNAME for a device node, then what the class adds. */
function ueventOf(c: ClassDevice): string[] {
  const devt = classDevt(c);
  const node = devt === null ? [] : [`MAJOR=${devt.split(':')[0]}`, `MINOR=${devt.split(':')[1]}`];
  switch (c.kind) {
    case 'net':
      return [`INTERFACE=${c.name}`];
    case 'ptp':
      return [...node, `DEVNAME=${c.name}`];
    case 'nvme':
      return nvmeControllerUevent(c);
    case 'drm-card':
    case 'drm-render':
      return [...node, `DEVNAME=dri/${c.name}`, 'DEVTYPE=drm_minor'];
    default:
      return [];
  }
}

function classDeviceDir(m: Machine, d: PciDevice, c: ClassDevice): DirNode {
  const here = `${deviceDirPath(d)}/${c.dir}/${c.name}`;
  return dir((): Entries => {
    const e: Entries = [['device', kernfsLink(here, deviceDirPath(d))]];
    const devt = classDevt(c);
    if (c.kind === 'nvme') e.push(...nvmeControllerEntries(m, d, c));
    else if (devt !== null) e.push(['dev', ro(() => devt)]);
    if (c.kind === 'wakeup') {
      for (const s of WAKEUP_STATS) e.push([s, ro(() => '0')]);
      e.push(['name', ro(() => d.name)]);
    }
    e.push(['power', powerDir(m, plainPower(m, c, '', {}, d))]);
    e.push(['subsystem', relLink(here, `class/${c.dir}`)]);
    e.push(['uevent', uevent(() => ueventOf(c))]);
    return e.sort((a, b) => (a[0] < b[0] ? -1 : 1));
  }, 0o755, () => m.generation);
}

/** The `<class>/<name>` directories below a PCI device. */
export function classDeviceEntries(m: Machine, d: PciDevice): Entries {
  const byKind = new Map<string, ClassDevice[]>();
  for (const c of m.driverEffects.classDevices(d)) byKind.set(c.dir, [...(byKind.get(c.dir) ?? []), c]);
  return [...byKind].map(([kind, list]) => [kind, dir(() => list.map((c) => [c.name, classDeviceDir(m, d, c)]))]);
}

/** /sys/class/<class> for every class a bound driver has a device in: links to the devices. */
export function classDeviceClasses(m: Machine): Entries {
  const byClass = new Map<string, Array<[string, string]>>();
  for (const d of m.pciDevicesInOrder()) {
    for (const c of m.driverEffects.classDevices(d)) {
      byClass.set(c.dir, [...(byClass.get(c.dir) ?? []), [c.name, `${deviceDirPath(d)}/${c.dir}/${c.name}`]]);
    }
  }
  return [...byClass].map(([cls, list]) => [
    cls,
    dir(() => list.sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([name, target]) => [name, relLink(`class/${cls}`, target)])),
  ]);
}
