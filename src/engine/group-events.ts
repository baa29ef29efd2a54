// What happened to groups and devices, as an ordered log of typed events, reported with the
// changes that made them (ChangeLog.note, the one gateway).
//
// Group events are those the 2012 IOMMU groups design gave each group's notifier chain
// (include/linux/iommu.h of 3.5-5.x: IOMMU_GROUP_NOTIFY_ADD_DEVICE, DEL_DEVICE, BIND_DRIVER,
// BOUND_DRIVER, UNBIND_DRIVER, UNBOUND_DRIVER, sent from iommu_group_add_device,
// iommu_group_remove_device and iommu_bus_notifier), in the order of 5.x: a device joins its
// group before a driver can bind it, and leaves it after its driver is gone
// (BUS_NOTIFY_REMOVED_DEVICE). A probe that fails is a bind-driver with no bound-driver: the
// chain was never told BUS_NOTIFY_DRIVER_NOT_BOUND. To those the simulator adds what the
// chain never carried: a group made, freed or given another default domain type, and DMA
// ownership and domain changes (claim, release, leave-host, return-host, attach, replace,
// detach, PASID attach/replace/detach).
//
// Device events are the kernel's uevents for PCI devices (lib/kobject_uevent.c): add and
// remove (device_add, device_del), bind and unbind (driver_bound, __device_release_driver).
// They have their own sequence, as the kernel's uevent_seqnum is its own counter.

import type { Device, PciDevice } from './types';

export type GroupEventBody =
  | { kind: 'created'; group: number; type: string }
  | { kind: 'removed'; group: number }
  | { kind: 'add-device' | 'del-device'; group: number; device: string }
  | { kind: 'bind-driver' | 'bound-driver' | 'unbind-driver' | 'unbound-driver'; group: number; device: string; driver: string }
  | { kind: 'type'; group: number; from: string; to: string }
  | { kind: 'leave-host' | 'return-host'; group: number }
  | { kind: 'claim' | 'release'; group: number; owner: string }
  | { kind: 'attach' | 'detach'; group: number; domain: number }
  | { kind: 'replace'; group: number; from: number; to: number }
  | { kind: 'pasid-attach' | 'pasid-detach'; group: number; device: string; pasid: number; domain: number }
  | { kind: 'pasid-replace'; group: number; device: string; pasid: number; from: number; to: number };

export type GroupEventKind = GroupEventBody['kind'];

/** kobject_actions[] (lib/kobject_uevent.c). */
export type UeventAction = 'add' | 'remove' | 'change' | 'move' | 'online' | 'offline' | 'bind' | 'unbind';

/** A kernel uevent of a PCI device. `driver` is what DRIVER= shows: the driver bound when
 * the event was sent (none at add, unbind and remove: dev->driver is NULL then). */
export interface UeventBody {
  kind: 'uevent';
  action: UeventAction;
  device: PciDevice;
  driver: string | null;
  /** A synthetic uevent's SYNTH_UUID and SYNTH_ARG_* (a write to `uevent`). */
  synth?: readonly string[];
}

/** What a change note may carry. */
export type EngineEvent = GroupEventBody | UeventBody;

/** Events a reader lost to overflow: the `count` events up to and including `seq`. */
export interface LostRecord {
  kind: 'lost';
  seq: number;
  count: number;
}

export type GroupEvent = GroupEventBody & { seq: number };
export type Uevent = UeventBody & { seq: number };

/** What a group-event reader takes: events, and the gaps overflow left. */
export type GroupRecord = GroupEvent | LostRecord;
export type UeventRecord = Uevent | LostRecord;

/** The group event of a device joining or leaving, when it has a group. */
export function membership(kind: 'add-device' | 'del-device', d: Device, group: number): GroupEventBody {
  return { kind, group, device: d.name };
}

/** bind-driver/bound-driver/unbind-driver/unbound-driver of a device, if it has a group. */
export function driverEvent(kind: 'bind-driver' | 'bound-driver' | 'unbind-driver' | 'unbound-driver', d: Device, driver: string): GroupEventBody[] {
  return d.group ? [{ kind, group: d.group.id, device: d.name, driver }] : [];
}

/** The uevent of a device, for PCI devices (others send none here). */
export function uevent(action: UeventBody['action'], d: Device, driver: string | null = null): UeventBody[] {
  return d.kind === 'pci' ? [{ kind: 'uevent', action, device: d, driver }] : [];
}

// The fields after `<seq> group <id> <kind>`, per kind, in line order. One table serves
// both the text line and its parse, so that `ctl watch --json` reads what the file wrote.
const FIELDS: Record<GroupEventKind, readonly string[]> = {
  created: ['type'],
  removed: [],
  'add-device': ['device'],
  'del-device': ['device'],
  'bind-driver': ['device', 'driver'],
  'bound-driver': ['device', 'driver'],
  'unbind-driver': ['device', 'driver'],
  'unbound-driver': ['device', 'driver'],
  type: ['from', 'to'],
  'leave-host': [],
  'return-host': [],
  claim: ['owner'],
  release: ['owner'],
  attach: ['domain'],
  detach: ['domain'],
  replace: ['from', 'to'],
  'pasid-attach': ['device', 'pasid', 'domain'],
  'pasid-detach': ['device', 'pasid', 'domain'],
  'pasid-replace': ['device', 'pasid', 'from', 'to'],
};

/** Fields that are numbers in JSON. */
const NUMERIC = new Set(['pasid', 'domain']);
const NUMERIC_IN: Partial<Record<GroupEventKind, readonly string[]>> = { replace: ['from', 'to'], 'pasid-replace': ['from', 'to'] };

/** One line, without its newline: `42 group 7 bound-driver 0000:01:00.0 vfio-pci`, or
 * `117 lost 17` (events 101 to 117 were lost). */
export function formatGroupRecord(r: GroupRecord): string {
  if (r.kind === 'lost') return `${r.seq} lost ${r.count}`;
  const fields = FIELDS[r.kind].map((f) => String((r as unknown as Record<string, unknown>)[f]));
  return [String(r.seq), 'group', String(r.group), r.kind, ...fields].join(' ');
}

/** The JSON object of a line formatGroupRecord wrote (undefined for any other line):
 * `{"seq":42,"group":7,"event":"bound-driver","device":"0000:01:00.0","driver":"vfio-pci"}`,
 * `{"seq":117,"event":"lost","count":17}`. */
export function parseGroupLine(line: string): Record<string, string | number> | undefined {
  const w = line.split(' ');
  const seq = Number(w[0]);
  if (!/^\d+$/.test(w[0] ?? '')) return undefined;
  if (w[1] === 'lost' && w.length === 3 && /^\d+$/.test(w[2]!)) return { seq, event: 'lost', count: Number(w[2]) };
  const kind = w[3] as GroupEventKind;
  if (w[1] !== 'group' || !/^\d+$/.test(w[2] ?? '') || !Object.hasOwn(FIELDS, kind)) return undefined;
  const names = FIELDS[kind];
  if (w.length !== 4 + names.length) return undefined;
  const out: Record<string, string | number> = { seq, group: Number(w[2]), event: kind };
  const numeric = new Set([...NUMERIC, ...(NUMERIC_IN[kind] ?? [])]);
  names.forEach((name, i) => {
    const v = w[4 + i]!;
    out[name] = numeric.has(name) && /^\d+$/.test(v) ? Number(v) : v;
  });
  return out;
}
