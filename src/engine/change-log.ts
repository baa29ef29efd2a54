// The one record of what changed in a machine. Every mutation of engine state reports
// here (Machine.changes.note), so that the layers above can tell what to recompute and
// what the kernel's caches over the mount must forget: the sysfs tree recomputes its
// directories when `generation` moves, and the FUSE layer invalidates exactly the cached
// names under the devices and groups reported since its last drain.

import type { Device } from './types';

export interface ChangeSet {
  /** Devices added, removed, rebound, regrouped, or whose VFs or mdevs changed. A removed
   * device is reported as the object it was, so that its place in the tree is known. */
  devices: Device[];
  /** Groups created, freed, or whose members changed. */
  groups: number[];
}

export interface ChangeNote {
  device?: Device;
  group?: number;
}

export class ChangeLog {
  private gen = 0;
  private readonly devices = new Set<Device>();
  private readonly groups = new Set<number>();

  /** Moves on with every change; views cache what they computed for one generation. */
  get generation(): number {
    return this.gen;
  }

  /** Records a change; what it names says where in the tree it shows (nothing: text only). */
  note(what: ChangeNote = {}): void {
    this.gen++;
    if (what.device !== undefined) this.devices.add(what.device);
    if (what.group !== undefined) this.groups.add(what.group);
  }

  /** What was reported since the previous drain, which starts a new record. */
  drain(): ChangeSet {
    const out: ChangeSet = { devices: [...this.devices], groups: [...this.groups] };
    this.devices.clear();
    this.groups.clear();
    return out;
  }
}
