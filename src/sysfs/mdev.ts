// The mdev sysfs ABI (drivers/vfio/mdev/mdev_sysfs.c, mdev_driver.c; Documentation/ABI/
// testing/sysfs-bus-vfio-mdev): a registered parent's mdev_supported_types/<type>/, each mdev's
// directory under its parent, /sys/bus/mdev and /sys/class/mdev_bus.

import type { Machine } from '../engine/machine';
import type { MdevDevice, PciDevice } from '../engine/types';
import { dir, owned, relLink, ro, rw, uevent, ueventTrigger, wo } from './build';
import { setMdevAutoprobe } from '../engine/device-settings';
import type { Entries } from './build';
import { groupPath } from './iommu-groups';
import type { DirNode } from './node';
import { deviceDirPath, driverDirPath } from './paths';
import { plainPower } from '../engine/power';
import { powerDir } from './power';

export const BUS_MDEV = 'bus/mdev';
export const CLASS_MDEV_BUS = 'class/mdev_bus';

function typeDirPath(parent: PciDevice, type: string): string {
  return `${deviceDirPath(parent)}/mdev_supported_types/${type}`;
}

function typeDir(m: Machine, parent: PciDevice, type: string): DirNode {
  const here = typeDirPath(parent, type);
  const spec = () => parent.fn.spec.mdev.find((t) => t.type === type)!;
  return dir((): Entries => [
    ['available_instances', ro(() => String(m.mdev.available(parent, type)))],
    ['create', wo((raw) => void m.mdev.create(parent, type, raw))],
    ['device_api', ro(() => spec().deviceApi)],
    [
      'devices',
      dir(() => m.mdev.instances(parent, type).map((x): [string, ReturnType<typeof relLink>] => [x.name, relLink(`${here}/devices`, deviceDirPath(x))])),
    ],
    // name_show: the pretty name, else the type's own name.
    ['name', ro(() => spec().name ?? type)],
  ]);
}

/** `mdev_supported_types` for a registered parent; nothing otherwise. */
export function mdevParentEntries(m: Machine, d: PciDevice): Entries {
  if (!m.mdev.isParent(d)) return [];
  return [['mdev_supported_types', owned(m.binding(d), dir(() => m.mdev.types(d).map((t): [string, DirNode] => [t.type, typeDir(m, d, t.type)])))]];
}

/** The parent's mdevs, as subdirectories of its directory. */
export function mdevChildEntries(m: Machine, d: PciDevice): Entries {
  return m.mdev.childrenOf(d).map((x): [string, DirNode] => [x.name, mdevDeviceDir(m, x)]);
}

function mdevDeviceDir(m: Machine, x: MdevDevice): DirNode {
  const here = deviceDirPath(x);
  return owned(x, dir((): Entries => {
    const e: Entries = [];
    if (x.driver) e.push(['driver', relLink(here, driverDirPath('mdev', x.driver))]);
    if (x.group) e.push(['iommu_group', relLink(here, groupPath(x.group.id))]);
    e.push(['mdev_type', relLink(here, typeDirPath(x.parent, x.type))]);
    e.push(['power', powerDir(m, plainPower(m, x, '', {}, x))]);
    e.push(['remove', wo((raw) => m.mdev.removeStore(x, raw))]);
    e.push(['subsystem', relLink(here, BUS_MDEV)]);
    // mdev_uevent adds MDEV_TYPE to the driver core's DRIVER line.
    e.push(['uevent', uevent(() => [...(x.driver ? [`DRIVER=${x.driver}`] : []), `MDEV_TYPE=${x.type}`])]);
    return e;
  }));
}

/** Whether the mdev bus is there: the mdev core is loaded once a parent registers. */
export function mdevInUse(m: Machine): boolean {
  return m.mdev.parents().length > 0 || m.mdev.all().length > 0;
}

export function busMdevDir(m: Machine): DirNode {
  const drivers = (): string[] => [...new Set(m.mdev.all().map((x) => x.driver).filter((d): d is string => d !== null).concat(m.mdev.parents().map((p) => p.driver!)))].sort();
  return dir(() => [
    ['devices', dir(() => [...m.mdev.all()].sort((a, b) => (a.name < b.name ? -1 : 1)).map((x) => [x.name, relLink(`${BUS_MDEV}/devices`, deviceDirPath(x))]))],
    [
      'drivers',
      dir(() =>
        drivers().map((name): [string, DirNode] => [
          name,
          dir(() => {
            const here = driverDirPath('mdev', name);
            const e: Entries = m.mdev.all().filter((x) => x.driver === name).map((x) => [x.name, relLink(here, deviceDirPath(x))]);
            e.push(['bind', wo((t) => m.mdev.busWrite('bind', name, t))], ['uevent', ueventTrigger()], ['unbind', wo((t) => m.mdev.busWrite('unbind', name, t))]);
            return e;
          }),
        ]),
      ),
    ],
    ['drivers_autoprobe', rw(() => (m.mdev.autoprobe ? '1' : '0'), (t) => setMdevAutoprobe(m, t))],
    ['drivers_probe', wo((t) => m.mdev.busWrite('probe', '', t))],
    ['uevent', ueventTrigger()],
  ]);
}

export function classMdevBusDir(m: Machine): DirNode {
  return dir(() => m.mdev.parents().map((p) => [p.name, relLink(CLASS_MDEV_BUS, deviceDirPath(p))]));
}
