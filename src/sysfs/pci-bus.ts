// The pci_bus/<SSSS:BB>/ directory a host bridge or a bridge has for the bus behind it
// (drivers/pci/probe.c pci_register_host_bridge / pci_add_new_bus, class pci_bus).

import { dir, relLink, ro, uevent, wo } from './build';
import type { DirNode } from './node';
import type { Machine } from '../engine/machine';
import type { Device } from '../engine/types';
import { plainPower } from '../engine/power';
import { powerDir } from './power';

export { busName } from '../engine/paths';

/** `ownerDir` is the directory holding pci_bus/ (the bridge or host bridge), `owner` its
 * engine object (the pci_bus device's PM state goes with it). */
export function pciBusDir(m: Machine, owner: object, ownerDir: string, name: string, rescan: (text: string) => void, device?: Device): DirNode {
  const here = `${ownerDir}/pci_bus/${name}`;
  return dir(() => [
    [
      name,
      dir(() => [
        ['cpuaffinity', ro(() => '1')],
        ['cpulistaffinity', ro(() => '0')],
        ['device', relLink(here, ownerDir)],
        ['power', powerDir(m, plainPower(m, owner, `pci_bus/${name}`, {}, device))],
        ['rescan', wo(rescan)],
        ['subsystem', relLink(here, 'class/pci_bus')],
        ['uevent', uevent(() => [])],
      ]),
    ],
  ]);
}
