// Bus numbers must be unique within a segment. Fixed numbers (`slot.bus`, a root bus's
// `bus`) can collide with each other and with the ones firmware would hand out depth
// first in address order. secondaryBusNumber is that numbering, used both here and by
// src/pci/enumerate.ts, so the engine never sees two buses with one number.

import { PCI_TYPES } from './device-fields';
import type { DeviceSpec, RootBusSpec } from './model';
import type { DeviceNotes } from './read-devices';
import { hex2, hex4 } from './values';
import type { YamlReader } from './yaml-reader';

export interface RootBusNotes {
  spec: RootBusSpec;
  path: string;
  /** Where the `bus` key's value (or the entry) is written. */
  busOffset: number;
}

/** The next number firmware would hand out below a root bus (root bus + 1 at first). */
export interface BusCounter {
  value: number;
}

/**
 * The secondary bus number firmware gives a bridge met depth first in devfn order: its
 * fixed one (`slot.bus`) or the next free one; the next free one is then past it.
 */
export function secondaryBusNumber(bridge: DeviceSpec, next: BusCounter): number {
  const number = bridge.fixedSecondaryBus ?? next.value;
  next.value = Math.max(next.value, number + 1);
  return number;
}

export function checkBusNumbers(r: YamlReader, roots: readonly RootBusNotes[], notes: DeviceNotes): void {
  // Who has each number: a root bus's description, or the bridge whose secondary bus it is
  // (described only when a message needs it).
  const used = new Map<number, string | DeviceSpec>();
  const key = (segment: number, bus: number): number => segment * 0x100 + bus;
  const name = (segment: number, bus: number): string => `bus 0x${hex2(bus)} of segment ${hex4(segment)}`;
  const owner = (o: string | DeviceSpec): string => (typeof o === 'string' ? o : `the secondary bus of ${o.path} (line ${o.pos.line})`);
  for (const root of roots) {
    const k = key(root.spec.segment, root.spec.bus);
    const other = used.get(k);
    if (other) r.error(root.busOffset, `${root.path}.bus`, `${name(root.spec.segment, root.spec.bus)} is already ${owner(other)}`);
    else used.set(k, `the root bus of ${root.path}`);
  }

  const walk = (devices: readonly DeviceSpec[], segment: number, next: BusCounter): void => {
    if (devices.length === 0) return; // most devices are endpoints
    // Usually written in address order and all valid: then no copy is needed.
    let inOrder = true;
    const anyBad = notes.badKey.size > 0;
    for (let i = 1; i < devices.length && inOrder; i++) inOrder = devices[i - 1]!.devfn < devices[i]!.devfn;
    for (let i = 0; i < devices.length && inOrder && anyBad; i++) inOrder = !notes.badKey.has(devices[i]!);
    const sorted = inOrder ? devices : devices.filter((d) => !notes.badKey.has(d)).sort((a, b) => a.devfn - b.devfn);
    for (const d of sorted) {
      if (!PCI_TYPES[d.type].bridge) continue;
      const fixed = d.fixedSecondaryBus;
      const number = secondaryBusNumber(d, next);
      if (number > 0xff) {
        r.errorAt(d.pos, d.path, 'no bus number left for its secondary bus (numbering depth first went past 0xff)');
        continue;
      }
      const k = key(segment, number);
      const other = used.get(k);
      const fixedOffset = notes.fixedBusOffset.get(d);
      if (other && fixed !== undefined && fixedOffset !== undefined) {
        r.error(fixedOffset, `${d.path}.slot.bus`, `${name(segment, number)} is already ${owner(other)}`);
      } else if (other) {
        r.errorAt(d.pos, d.path, `its secondary bus, numbered 0x${hex2(number)} depth first, is already ${owner(other)}; choose a free one with slot: { bus: N }`);
      } else {
        used.set(k, d);
      }
      walk(d.devices, segment, next);
    }
  };
  for (const root of roots) walk(root.spec.devices, root.spec.segment, { value: root.spec.bus + 1 });
}
