// The environment of a PCI device's uevent as lib/kobject_uevent.c kobject_uevent_env builds
// it: ACTION, DEVPATH, SUBSYSTEM, then the device's own (dev_uevent: DRIVER; pci_uevent:
// PCI_CLASS, PCI_ID, PCI_SUBSYS_ID, PCI_SLOT_NAME, MODALIAS). SEQNUM, which the kernel adds
// last, is left to the sender (see cli/run-uevents.ts).

import type { Uevent } from '../engine/group-events';
import { deviceDirPath } from './paths';
import { ueventVars } from './pci-device';

/** KEY=VALUE lines, in the kernel's order: a synthetic uevent's own variables come before
 * the device's (kobject_uevent_env adds envp_ext first). */
export function ueventEnv(e: Uevent): string[] {
  return [`ACTION=${e.action}`, `DEVPATH=/${deviceDirPath(e.device)}`, 'SUBSYSTEM=pci', ...(e.synth ?? []), ...ueventVars(e.device, e.driver)];
}
