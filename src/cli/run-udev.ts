// /run/udev of `iommufs run`: the database udevd would have written for the simulated PCI
// devices, so that libudev clients (udevadm info, driverctl -v, libvirt's node devices) find
// each device initialized with the properties Debian 12's rules give it:
//   50-udev-default.rules  ENV{MODALIAS}!="", IMPORT{builtin}="hwdb --subsystem=$env{SUBSYSTEM}"
//                          SUBSYSTEM=="pci|usb|platform", IMPORT{builtin}="path_id"
// i.e. ID_PCI_CLASS/SUBCLASS/INTERFACE_FROM_DATABASE, ID_VENDOR/MODEL_FROM_DATABASE (from
// the system's pci.ids, see pci-ids.ts; none when it is missing) and ID_PATH, ID_PATH_TAG.
// Properties that come from the kernel's uevent (DRIVER, PCI_ID, MODALIAS...) are not
// stored: sd-device reads them from the device's uevent file, which the mount serves.
//
// The file layout is systemd 252's device_update_db (src/libsystemd/sd-device/
// device-private.c): `I:` the CLOCK_MONOTONIC microseconds at which the device was
// initialized, `E:` lines, `V:1`; one file `data/+pci:<BDF>` per device, replaced by a
// rename as udevd does. The run keeps it in step after every write to the mount (binds,
// VFs, remove and rescan), as udevd does on each uevent.

import { mkdirSync, readdirSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Machine } from '../engine/machine';
import type { PciDevice } from '../engine/types';
import { subsystemIds } from '../sysfs/pci-device';
import { hwdbProperties, type PciIds } from './pci-ids';

/** The environment variable that makes sd-device accept a /sys that is not sysfs
 * (systemd's docs/ENVIRONMENT.md: SYSTEMD_DEVICE_VERIFY_SYSFS). */
export const VERIFY_SYSFS_ENV = { SYSTEMD_DEVICE_VERIFY_SYSFS: '0' };

/** path_id's tag: characters other than letters, digits and '-' become one '_', none
 * leading or trailing (src/udev/udev-builtin-path_id.c). */
export function pathTag(path: string): string {
  return path.replace(/[^0-9A-Za-z-]+/g, '_').replace(/^_+|_+$/g, '');
}

/** The properties the rules store for a PCI device, in the order they are imported. */
export function udevProperties(d: PciDevice, ids: PciIds | undefined): Array<[string, string]> {
  const s = subsystemIds(d);
  const hwdb = ids
    ? hwdbProperties(ids, { vendor: d.fn.id.vendor, device: d.fn.id.device, subvendor: s.vendor, subdevice: s.device, classCode: d.fn.classCode })
    : [];
  // path_id: a PCI device is `pci-<name>`, its PCI parents skipped (skip_subsystem).
  const path = `pci-${d.name}`;
  return [...hwdb, ['ID_PATH', path], ['ID_PATH_TAG', pathTag(path)]];
}

export function udevDbText(usecInitialized: bigint, props: Array<[string, string]>): string {
  return `I:${usecInitialized}\n${props.map(([k, v]) => `E:${k}=${v}\n`).join('')}V:1\n`;
}

const monotonicUsec = (): bigint => process.hrtime.bigint() / 1000n;

/** Keeps `<dir>/data` equal to the machine's PCI devices. Synchronous, like the /dev/vfio
 * directory: a write's effect must show before the writer's next command runs. */
export class UdevDb {
  private readonly data: string;
  private readonly ids: PciIds | undefined;
  /** What was written per file name, and when each device was first seen. */
  private readonly written = new Map<string, string>();
  private readonly initialized = new Map<string, bigint>();

  constructor(dir: string, ids: PciIds | undefined) {
    this.data = join(dir, 'data');
    this.ids = ids;
    mkdirSync(this.data, { recursive: true });
    mkdirSync(join(dir, 'tags'), { recursive: true });
    // udevd's control socket. sd-device-monitor disables a udev (group 2) monitor unless it
    // exists or /dev is devtmpfs ("The udev service seems not to be active"); the run's /dev
    // may be a tmpfs, and the run sends udev's messages itself (run-uevents.ts). A plain file:
    // `udevadm settle` and `control` find nothing listening and say so, as before.
    this.control = join(dir, 'control');
    writeFileSync(this.control, '', { mode: 0o600 });
  }

  private readonly control: string;

  private syncedAt = -1;

  sync(m: Machine): void {
    // Every change that adds, removes or rebinds a device bumps the generation.
    if (m.generation === this.syncedAt) return;
    this.syncedAt = m.generation;
    const want = new Map<string, string>();
    for (const d of m.pciDevicesInOrder()) {
      let usec = this.initialized.get(d.name);
      if (usec === undefined) {
        usec = monotonicUsec();
        this.initialized.set(d.name, usec);
      }
      want.set(`+pci:${d.name}`, udevDbText(usec, udevProperties(d, this.ids)));
    }
    for (const name of [...this.written.keys()]) {
      if (want.has(name)) continue;
      unlinkSync(join(this.data, name));
      this.written.delete(name);
      // A device that comes back (rescan) is initialized anew.
      this.initialized.delete(name.slice('+pci:'.length));
    }
    for (const [name, text] of want) {
      if (this.written.get(name) === text) continue;
      const tmp = join(this.data, `.#${name}`);
      writeFileSync(tmp, text, { mode: 0o644 });
      renameSync(tmp, join(this.data, name));
      this.written.set(name, text);
    }
  }

  /** Removes what sync made (the run directory is then removed without recursion). */
  clear(): void {
    for (const name of readdirSync(this.data)) unlinkSync(join(this.data, name));
    unlinkSync(this.control);
  }
}
