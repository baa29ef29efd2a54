// /sys/dev/block and /sys/dev/char (drivers/base/core.c device_create_sys_dev_entry): a
// MAJOR:MINOR link for every device with a devt, which libudev and util-linux use to go from
// a device number to its directory. Only the devices the tree shows are listed: the NVMe
// disks and the class devices of bound drivers (nvme, ng, ptp, DRM minors).

import type { Machine } from '../engine/machine';
import { allDisks, controllerPath, devt } from './block-devices';
import { dir, relLink } from './build';
import type { Entries } from './build';
import { classDevt } from './class-devices';
import type { DirNode } from './node';
import { genericName } from './nvme';
import { deviceDirPath } from './paths';
import { CHAR_MAJOR } from '../engine/nvme';

function byName(e: Entries): Entries {
  return e.sort((a, b) => (a[0] < b[0] ? -1 : 1));
}

export function sysDevDir(m: Machine): DirNode {
  const version = (): number => m.generation;
  return dir(() => [
    ['block', dir(() => byName(allDisks(m).map((k) => [devt(k.disk), relLink('dev/block', k.path)])), 0o755, version)],
    [
      'char',
      dir(() => {
        const e: Entries = [];
        for (const d of m.pciDevicesInOrder()) {
          for (const c of m.driverEffects.classDevices(d)) {
            const n = classDevt(c);
            if (n !== null) e.push([n, relLink('dev/char', `${deviceDirPath(d)}/${c.dir}/${c.name}`)]);
          }
        }
        for (const k of allDisks(m)) e.push([`${CHAR_MAJOR['nvme-generic']}:${k.disk.generic}`, relLink('dev/char', `${controllerPath(k.pci, k.ctrl)}/${genericName(k)}`)]);
        return byName(e);
      }, 0o755, version),
    ],
  ]);
}
