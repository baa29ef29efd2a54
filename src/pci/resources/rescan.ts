// What Linux does with functions a rescan finds again (drivers/pci/probe.c pci_rescan_bus,
// setup-bus.c pci_assign_unassigned_bus_resources): their BARs and a new bridge's windows
// are not claimed where firmware left them but sized and placed afresh. Bridge windows
// (pbus_size_io, pbus_size_mem): the sum of what is below, at least the hot-plug sizes on a
// hot-plug bridge (pci_hotplug_io_size 256, pci_hotplug_mmio_size and _pref_size 2M), in 4K
// (I/O) or 1M (memory) granules; a 64-bit prefetchable window holds the 64-bit prefetchable
// BARs, everything else memory (the ROM, 32-bit prefetchable BARs) goes in the memory
// window. Each bus's requests are placed largest alignment first
// (__assign_resources_sorted), each in the lowest free place (allocate_resource) of the
// window above; on a root bus the host windows in _CRS order, a 64-bit prefetchable window
// above 4G first [rec: writes.json, 00:05.1 removed and rescanned: windows at 0x30000000
// and 0x100000000, I/O at 0x4000].

import type { BarSpec } from '../../topology/model';
import type { PciBus, PciFunction } from '../enumerate';
import { alignUp, firstFit, HOST_WINDOWS, IO_MIN, IOV_SLOT, ROM_SLOT, taken } from './assign';
import type { AssignInput, FunctionResources, RegionType } from './assign';

const M = 0x100000;
const HOTPLUG_ADD: Record<RegionType, number> = { io: 0x100, mem: 2 * M, pref: 2 * M };
const GRANULE: Record<RegionType, number> = { io: IO_MIN, mem: M, pref: M };

interface Req {
  fn: PciFunction;
  /** Resource index, or -1 for a window. */
  slot: number;
  type: RegionType;
  size: number;
  align: number;
}

/** A BAR's window type below a bridge: only 64-bit prefetchable BARs go to the prefetchable one. */
function linuxType(b: BarSpec): RegionType {
  return b.kind === 'io' ? 'io' : b.prefetch && b.kind === 'mem64' ? 'pref' : 'mem';
}

function requests(f: PciFunction, input: AssignInput, present: (f: PciFunction) => boolean): Req[] {
  const d = input.declared(f);
  const out: Req[] = d.bars.map((b) => ({ fn: f, slot: b.index, type: linuxType(b), size: b.size, align: b.size }));
  if (d.rom > 0) out.push({ fn: f, slot: ROM_SLOT, type: 'mem', size: d.rom, align: d.rom });
  const total = f.spec.sriov?.total ?? 0;
  for (const b of d.vfBars) out.push({ fn: f, slot: IOV_SLOT + b.index, type: linuxType(b), size: b.size * total, align: b.size });
  if (f.secondary) out.push(...windows(f, input, present));
  return out;
}

function windows(bridge: PciFunction, input: AssignInput, present: (f: PciFunction) => boolean): Req[] {
  const below = bridge.secondary!.devices.filter((f) => !f.physfn && present(f)).flatMap((f) => requests(f, input, present));
  const out: Req[] = [];
  for (const type of ['io', 'mem', 'pref'] as const) {
    const list = below.filter((r) => r.type === type);
    const align = list.reduce((a, r) => Math.max(a, r.align), GRANULE[type]);
    const sum = list.reduce((s, r) => s + r.size, 0);
    const size = alignUp(Math.max(sum, input.hotplug(bridge) ? HOTPLUG_ADD[type] : 0), align);
    if (size > 0) out.push({ fn: bridge, slot: -1, type, size, align });
  }
  return out;
}

/** The ranges a request may go to on `bus`, in the order Linux tries them. */
function rangesFor(bus: PciBus, type: RegionType, out: Map<PciFunction, FunctionResources>): { start: number; end: number }[] {
  if (bus.bridge === null) {
    if (type === 'io') return [HOST_WINDOWS.io];
    const low = [HOST_WINDOWS.mem32Low, HOST_WINDOWS.mem32];
    return type === 'pref' ? [HOST_WINDOWS.mem64, ...low] : low;
  }
  const w = out.get(bus.bridge)?.windows;
  const own = w?.[type] ?? (type === 'pref' ? w?.mem : undefined);
  return own ? [{ start: own.start, end: own.start + own.size - 1 }] : [];
}

/**
 * Places the functions of `found` (all on `bus`, found again by a rescan) and everything
 * below them, over what `out` holds; `present` says which functions exist now (removed ones
 * have released their resources).
 */
export function assignRescanned(bus: PciBus, found: PciFunction[], input: AssignInput, out: Map<PciFunction, FunctionResources>, present: (f: PciFunction) => boolean): void {
  const clear = (f: PciFunction): void => {
    out.set(f, { slots: new Map(), windows: {} });
    for (const c of f.secondary?.devices ?? []) if (!c.physfn) clear(c);
  };
  for (const f of found) clear(f);
  place(bus, found.flatMap((f) => requests(f, input, present)), input, out, present);
}

function place(bus: PciBus, reqs: Req[], input: AssignInput, out: Map<PciFunction, FunctionResources>, present: (f: PciFunction) => boolean): void {
  const sorted = [...reqs].sort((a, b) => b.align - a.align);
  const bridges: PciFunction[] = [];
  for (const r of sorted) {
    for (const range of rangesFor(bus, r.type, out)) {
      const at = firstFit(range, taken(bus, r.type === 'io', out, present), r.size, r.align);
      if (at === undefined) continue;
      const res = out.get(r.fn)!;
      if (r.slot >= 0) res.slots.set(r.slot, { start: at, size: r.size, io: r.type === 'io' });
      else {
        res.windows[r.type] = { start: at, size: r.size, is64: r.type === 'pref' };
        if (!bridges.includes(r.fn)) bridges.push(r.fn);
      }
      break;
    }
  }
  for (const b of bridges) {
    const below = b.secondary!.devices.filter((f) => !f.physfn && present(f));
    place(b.secondary!, below.flatMap((f) => requests(f, input, present)), input, out, present);
  }
}
