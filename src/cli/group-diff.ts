// How the groups of one booted machine differ from another's, for `whatif` and `diff`:
// which devices become isolated or lose it, which change company, which groups only change
// number, and why (the reasons `explain` gives, before and after).
//
// Isolated, precisely: a device is isolated when it has an IOMMU group and every other
// member of that group is either another function of the same card (same segment, bus and
// slot; with ARI forwarding on the bus, any function of the bus) or a bridge or port on its
// own path up to the root bus. Such a group can be handed to a guest as a whole without
// anything else: in 6.1 the port driver (pcieport) is `driver_managed_dma`, so a bridge in
// the group does not make it non-viable (drivers/pci/pcie/portdrv.c; reference §6.1).
// Isolation is judged for endpoints and platform devices: bridges, ports and host bridges
// are never assigned. Mediated devices have emulated groups and are left out.

import { groupReasons } from '../engine/explain';
import type { Machine } from '../engine/machine';
import { memberNames } from '../engine/machine';
import type { Device, IommuGroup, PciDevice } from '../engine/types';
import { slotOf } from '../pci/address';
import type { PciBus } from '../pci/enumerate';

export interface DeviceState {
  name: string;
  group: number | null;
  shared_with: string[];
  /** null for bridges and ports, whose isolation is not judged. */
  isolated: boolean | null;
  reasons: string[];
}

export interface DeviceChange {
  device: string;
  before: DeviceState;
  after: DeviceState;
}

export interface GroupDiff {
  moved: { before: string; after: string }[];
  added: string[];
  removed: string[];
  became_isolated: DeviceChange[];
  lost_isolation: DeviceChange[];
  /** The group's other members changed, its isolation did not. */
  regrouped: DeviceChange[];
  /** Same members (as matched), another number. */
  renumbered: { before: number; after: number; devices: string[] }[];
  /** Same members (as matched), another default domain type (the group's `type` file). */
  retyped: { group: number; before: string; after: string; devices: string[] }[];
  /** A group whose members (those on both machines) went to more than one group. */
  split: { group: number; into: GroupPart[] }[];
  /** A group whose members (those on both machines) came from more than one group. */
  merged: { group: number; from: GroupPart[] }[];
}

/** Some members of a group: the group's number on the other machine and their names there. */
export interface GroupPart {
  group: number | null;
  devices: string[];
}

/** Which device of the other machine a device is: a key equal on both sides. */
export type DeviceKey = (d: Device) => string;

function sameCard(a: PciDevice, b: PciDevice): boolean {
  if (a.fn.bus !== b.fn.bus) return false;
  // With ARI forwarding the whole devfn is a function number of the one device on the bus.
  return (a.fn.bus.bridge?.ari ?? false) || slotOf(a.fn.devfn) === slotOf(b.fn.devfn);
}

function isUpstreamOf(bridge: PciDevice, d: PciDevice): boolean {
  for (let bus: PciBus | null = d.fn.bus; bus; bus = bus.parent) if (bus.bridge === bridge.fn) return true;
  return false;
}

/** The definition in the header comment; null when not judged (bridges, mdevs). */
export function isIsolated(d: Device): boolean | null {
  if (d.kind === 'mdev') return null;
  if (d.kind === 'pci' && (d.fn.headerType === 1 || d.fn.spec.type === 'host-bridge')) return null;
  const g = d.group;
  if (!g) return false;
  return g.devices.every((o) => o === d || (d.kind === 'pci' && o.kind === 'pci' && (sameCard(o, d) || isUpstreamOf(o, d))));
}

function stateOf(m: Machine, d: Device): DeviceState {
  return {
    name: d.name,
    group: d.group?.id ?? null,
    shared_with: d.group ? memberNames(d.group).filter((n) => n !== d.name) : [],
    isolated: isIsolated(d),
    reasons: groupReasons(m, d),
  };
}

function byKey(m: Machine, key: DeviceKey): Map<string, Device> {
  const out = new Map<string, Device>();
  for (const d of m.devices.values()) if (d.kind !== 'mdev') out.set(key(d), d);
  return out;
}

const byName = (a: { device: string }, b: { device: string }): number => (a.device < b.device ? -1 : a.device > b.device ? 1 : 0);

export function diffGroups(before: Machine, after: Machine, key: DeviceKey): GroupDiff {
  const b = byKey(before, key);
  const a = byKey(after, key);
  const out: GroupDiff = { moved: [], added: [], removed: [], became_isolated: [], lost_isolation: [], regrouped: [], renumbered: [], retyped: [], split: [], merged: [] };
  const others = (d: Device): string => (d.group ? d.group.devices.filter((o) => o !== d).map(key).sort().join(' ') : '-');
  for (const [k, db] of b) {
    const da = a.get(k);
    if (!da) {
      out.removed.push(db.name);
      continue;
    }
    if (da.name !== db.name) out.moved.push({ before: db.name, after: da.name });
    const change = { device: da.name, before: stateOf(before, db), after: stateOf(after, da) };
    if (change.before.isolated === false && change.after.isolated === true) out.became_isolated.push(change);
    else if (change.before.isolated === true && change.after.isolated === false) out.lost_isolation.push(change);
    else if (others(db) !== others(da)) out.regrouped.push(change);
  }
  for (const [k, da] of a) if (!b.has(k)) out.added.push(da.name);
  // A group whose members all match one group of the other machine, under another number.
  const afterGroupOf = new Map<string, IommuGroup>();
  for (const g of after.sortedGroups()) afterGroupOf.set(g.devices.map(key).sort().join(' '), g);
  for (const g of before.sortedGroups()) {
    const ga = afterGroupOf.get(g.devices.map(key).sort().join(' '));
    if (!ga) continue;
    const names = g.devices.map((d) => a.get(key(d))!.name).sort();
    if (ga.id !== g.id) out.renumbered.push({ before: g.id, after: ga.id, devices: names });
    if (ga.defaultType !== g.defaultType) out.retyped.push({ group: ga.id, before: g.defaultType, after: ga.defaultType, devices: names });
  }
  out.split = partsOf(before, a, key, true).map(([group, parts]) => ({ group, into: parts }));
  out.merged = partsOf(after, b, key, false).map(([group, parts]) => ({ group, from: parts }));
  out.moved.sort((x, y) => (x.before < y.before ? -1 : 1));
  out.added.sort();
  out.removed.sort();
  out.became_isolated.sort(byName);
  out.lost_isolation.sort(byName);
  out.regrouped.sort(byName);
  return out;
}

/**
 * The groups of `m` whose members (those the other machine has too) are in more than one
 * group there, each with those parts. Names are always the after machine's: `otherIsAfter`
 * says which side that is.
 */
function partsOf(m: Machine, other: Map<string, Device>, key: DeviceKey, otherIsAfter: boolean): [number, GroupPart[]][] {
  const out: [number, GroupPart[]][] = [];
  for (const g of m.sortedGroups()) {
    const parts = new Map<number | null, string[]>();
    for (const d of g.devices) {
      const o = other.get(key(d));
      if (!o || o.kind === 'mdev') continue;
      const id = o.group?.id ?? null;
      const list = parts.get(id) ?? [];
      list.push(otherIsAfter ? o.name : d.name);
      parts.set(id, list);
    }
    if (parts.size > 1) {
      const list = [...parts].map(([group, devices]) => ({ group, devices: devices.sort() }));
      list.sort((x, y) => (x.group ?? -1) - (y.group ?? -1));
      out.push([g.id, list]);
    }
  }
  return out;
}

function groupWords(s: DeviceState): string {
  if (s.group === null) return 'no group';
  return `group ${s.group} ${s.shared_with.length ? `with ${s.shared_with.join(' ')}` : 'alone'}`;
}

function changeLine(verb: string, c: DeviceChange): string {
  const why = (s: DeviceState): string => s.reasons.join('; ') || 'no reason recorded';
  return `${c.device} ${verb}: ${groupWords(c.before)} → ${groupWords(c.after)} (before: ${why(c.before)}. after: ${why(c.after)})`;
}

/** One line per change, in plain words, with the reasons before and after. */
export function diffText(d: GroupDiff): string {
  const lines: string[] = [];
  for (const m of d.moved) lines.push(`${m.before} moves to ${m.after}`);
  for (const n of d.added) lines.push(`${n} is new`);
  for (const n of d.removed) lines.push(`${n} is gone`);
  for (const c of d.became_isolated) lines.push(changeLine('becomes isolated', c));
  for (const c of d.lost_isolation) lines.push(changeLine('loses isolation', c));
  for (const c of d.regrouped) lines.push(changeLine('changes group', c));
  const parts = (ps: GroupPart[]): string => ps.map((p) => `${p.group === null ? 'no group' : `group ${p.group}`} (${p.devices.join(' ')})`).join(', ');
  for (const x of d.split) lines.push(`group ${x.group} splits into ${parts(x.into)}`);
  for (const x of d.merged) lines.push(`group ${x.group} merges ${parts(x.from)}`);
  for (const r of d.renumbered) lines.push(`group ${r.before} becomes group ${r.after}: ${r.devices.join(' ')}`);
  for (const r of d.retyped) lines.push(`group ${r.group} type ${r.before} becomes ${r.after}: ${r.devices.join(' ')}`);
  return lines.length ? lines.join('\n') : 'no change in the groups';
}
