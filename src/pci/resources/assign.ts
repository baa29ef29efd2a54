// Firmware-like resource assignment, as SeaBIOS 1.16 (src/fw/pciinit.c) does it on the
// recorded QEMU machines, then what Linux 6.1 adds at boot (drivers/pci/setup-bus.c
// pci_assign_unassigned_root_bus_resources) for what firmware left unassigned.
//
// Firmware (pci_bios_check_devices, pci_bios_map_devices):
// - every BAR is a request of its size and alignment (memory BARs at least 4K,
//   PCI_DEVICE_MEM_MIN); the ROM is a non-prefetchable memory request;
// - each bus keeps one list per region type (I/O, memory, prefetchable memory), sorted by
//   alignment then size, largest first (pci_region_create_entry); bridges are sized from
//   the deepest bus up: alignment at least 4K for I/O and 2M for memory (PCI_BRIDGE_IO_MIN,
//   PCI_BRIDGE_MEM_MIN), the size the sum rounded up to it; an empty window of a hot-plug
//   bridge is reserved at that minimum (not I/O on a PCIe port), else left closed;
// - the root's 32-bit window ends at 0xfec00000: the region with the larger alignment
//   sits at the top, the other right below (pci_bios_init_root_regions_mem); I/O starts at
//   0xc000 when it fits in 16K, else at 0x1000 (pci_bios_init_root_regions_io); when the
//   32-bit window is too small, the 64-bit entries of the root bus move above 4G
//   (pci_region_migrate_64bit_entries);
// - each list is laid out from its base upwards in that order (pci_region_map_entries).
// Linux then gives a hot-plug bridge without an I/O window a 4K one (pci_hotplug_io_size,
// rounded to the bridge's granularity) and each SR-IOV BAR (VF BAR size x TotalVFs, aligned
// to the VF BAR size: pci_sriov_resource_alignment) the lowest free place in the window
// above (allocate_resource searches bottom up). Firmware sizes windows with room for them.
// What does not fit stays unassigned: its registers read 0 and the kernel shows zeros.

import type { BarSpec } from '../../topology/model';
import type { HostBridge, PciBus, PciFunction, PciTopology } from '../enumerate';
import type { Declared } from './declared';

export type RegionType = 'io' | 'mem' | 'pref';
const TYPES: RegionType[] = ['io', 'mem', 'pref'];

/** Host bridge windows, q35's as the recorded guests' _CRS gave them [rec: writes.json
 * dmesg "root bus resource"]: I/O from PCIBIOS_MIN_IO; SeaBIOS's 32-bit window up to the
 * IOAPIC at 0xfec00000; below it the hole above the guest's 768M of RAM, which only Linux
 * allocates from; 64-bit from 4G (no RAM above 4G), 32G long. */
export const HOST_WINDOWS = {
  io: { start: 0x1000, end: 0xffff },
  mem32: { start: 0xc0000000, end: 0xfebfffff },
  mem32Low: { start: 0x30000000, end: 0xafffffff },
  mem64: { start: 0x1_0000_0000, end: 0x8_ffff_ffff },
} as const;

export const IO_MIN = 0x1000;
const MEM_MIN = 0x200000;
const DEVICE_MEM_MIN = 0x1000;
/** ROM's resource index in `resource` (PCI_ROM_RESOURCE); SR-IOV BARs follow (PCI_IOV_RESOURCES). */
export const ROM_SLOT = 6;
export const IOV_SLOT = 7;

export interface Placed {
  start: number;
  size: number;
  /** In I/O space (else memory). */
  io?: boolean;
}

export interface FunctionResources {
  /** Resource index (0-5 BARs, 6 ROM, 7-12 SR-IOV BARs) → where it was placed. */
  slots: Map<number, Placed>;
  /** A bridge's windows that are open. */
  windows: Partial<Record<RegionType, Placed & { is64: boolean }>>;
}

export interface AssignInput {
  declared: (f: PciFunction) => Declared;
  /** Hot-plug capable bridge (slot capability HPC on PCIe, SHPC on conventional bridges). */
  hotplug: (f: PciFunction) => boolean;
}

interface Entry {
  fn: PciFunction;
  /** Resource index, or -1 for a bridge window. */
  slot: number;
  /** What it takes in the layout (memory BARs at least 4K). */
  size: number;
  /** The BAR's own size, what the kernel shows. */
  real: number;
  align: number;
  type: RegionType;
  is64: boolean;
  /** The bus behind a bridge window. */
  child?: BusNode;
}

interface BusNode {
  bus: PciBus;
  lists: Record<RegionType, Entry[]>;
  /** SR-IOV requests of PFs on this bus, left to Linux. */
  iov: Entry[];
  /** Sizes the window needs beyond its lists (the SR-IOV requests). */
  extra: Record<RegionType, { sum: number; align: number }>;
}

export const alignUp = (n: number, a: number): number => Math.ceil(n / a) * a;
const alignDown = (n: number, a: number): number => Math.floor(n / a) * a;
const sumOf = (list: Entry[]): number => list.reduce((s, e) => s + e.size, 0);
const alignOf = (list: Entry[]): number => list.reduce((a, e) => Math.max(a, e.align), 1);

export function typeOf(b: BarSpec): RegionType {
  return b.kind === 'io' ? 'io' : b.prefetch ? 'pref' : 'mem';
}

/** pci_region_create_entry's order: alignment, then size, largest first; ties keep their order. */
function sortEntries(list: Entry[]): void {
  list.sort((a, b) => b.align - a.align || b.size - a.size);
}

export function assignResources(pci: PciTopology, input: AssignInput): Map<PciFunction, FunctionResources> {
  const out = new Map<PciFunction, FunctionResources>();
  const get = (f: PciFunction): FunctionResources => {
    let r = out.get(f);
    if (!r) out.set(f, (r = { slots: new Map(), windows: {} }));
    return r;
  };
  const nodes: BusNode[] = [];
  const roots = pci.hostBridges.map((h: HostBridge) => collect(h.rootBus, input, nodes));
  // Bridges sized from the highest bus number down, as pci_bios_check_devices walks them;
  // each window joins its parent's list after the devices' BARs.
  const bridges = nodes.filter((n) => n.bus.bridge !== null).sort((a, b) => b.bus.number - a.bus.number);
  const parentOf = new Map<PciBus, BusNode>(nodes.map((n) => [n.bus, n]));
  for (const n of bridges) {
    const bridge = n.bus.bridge!;
    const parent = parentOf.get(n.bus.parent!)!;
    for (const type of TYPES) sortEntries(n.lists[type]);
    for (const type of TYPES) {
      const list = n.lists[type];
      const align = Math.max(type === 'io' ? IO_MIN : MEM_MIN, alignOf(list), n.extra[type].align);
      let sum = sumOf(list) + n.extra[type].sum;
      // A PCIe hot-plug port gets no I/O window for nothing (resource_optional).
      const optional = bridge.pcie && type === 'io';
      if (sum === 0 && input.hotplug(bridge) && !optional) sum = align;
      const size = alignUp(sum, align);
      if (size === 0) continue;
      // pci_bios_bridge_region_is64: a prefetchable window is 64-bit when all in it are.
      const is64 = type === 'pref' && list.every((e) => e.is64);
      parent.lists[type].push({ fn: bridge, slot: -1, size, real: size, align, type, is64, child: n });
    }
  }
  // One set of host windows for all root buses.
  const root: Record<RegionType, Entry[]> = { io: [], mem: [], pref: [] };
  for (const r of roots) for (const t of TYPES) root[t].push(...r.lists[t]);
  for (const t of TYPES) sortEntries(root[t]);

  /** Lays `list` out from `base` (pci_region_map_entries); what passes `limit` is left
   * unassigned. Returns the end of what was placed. */
  const place = (list: Entry[], base: number, limit: number): number => {
    let addr = base;
    for (const e of list) {
      const at = alignUp(addr, e.align);
      if (at + e.size - 1 > limit) continue;
      addr = at + e.size;
      if (e.slot >= 0) get(e.fn).slots.set(e.slot, { start: at, size: e.real, io: e.type === 'io' });
      else {
        get(e.fn).windows[e.type] = { start: at, size: e.size, is64: e.is64 };
        place(e.child!.lists[e.type], at, at + e.size - 1);
      }
    }
    return addr;
  };

  // pci_bios_init_root_regions_io
  const ioSum = sumOf(root.io);
  place(root.io, ioSum < 0x4000 ? 0xc000 : HOST_WINDOWS.io.start, HOST_WINDOWS.io.end);
  // pci_bios_init_root_regions_mem, then above 4G what did not fit.
  const high: Record<'mem' | 'pref', Entry[]> = { mem: [], pref: [] };
  let bases = rootMemBases(root.mem, root.pref);
  if (!bases) {
    for (const t of ['mem', 'pref'] as const) {
      high[t] = root[t].filter((e) => e.is64);
      root[t] = root[t].filter((e) => !e.is64);
    }
    bases = rootMemBases(root.mem, root.pref);
  }
  if (bases) {
    place(root.mem, bases.mem, HOST_WINDOWS.mem32.end);
    place(root.pref, bases.pref, HOST_WINDOWS.mem32.end);
  } else {
    // Still too much (SeaBIOS panics here): one region after the other from the bottom,
    // what passes the top stays unassigned.
    place(root.pref, place(root.mem, HOST_WINDOWS.mem32.start, HOST_WINDOWS.mem32.end), HOST_WINDOWS.mem32.end);
  }
  const gig = 2 ** 30;
  const memHigh = alignUp(alignUp(HOST_WINDOWS.mem64.start, alignOf(high.mem)), gig);
  place(high.mem, memHigh, HOST_WINDOWS.mem64.end);
  place(high.pref, alignUp(alignUp(memHigh + sumOf(high.mem), alignOf(high.pref)), gig), HOST_WINDOWS.mem64.end);

  ich9SmbusQuirk(pci, out);
  linuxPass(pci, input, nodes, out, get);
  return out;
}

/** Where the 32-bit memory and prefetchable regions start, or undefined if they do not fit. */
function rootMemBases(mem: Entry[], pref: Entry[]): { mem: number; pref: number } | undefined {
  // Prefetchable on top, unless memory needs the smaller alignment (pciinit.c: "Swap
  // regions to improve alignment").
  const memOnTop = alignOf(mem) < alignOf(pref);
  const [top, below] = memOnTop ? [mem, pref] : [pref, mem];
  const topBase = alignDown(HOST_WINDOWS.mem32.end + 1 - sumOf(top), alignOf(top));
  const belowBase = alignDown(topBase - sumOf(below), alignOf(below));
  if (belowBase < HOST_WINDOWS.mem32.start) return undefined;
  return memOnTop ? { mem: topBase, pref: belowBase } : { mem: belowBase, pref: topBase };
}

/** Requests of one bus and, recursively, the buses below it. */
function collect(bus: PciBus, input: AssignInput, nodes: BusNode[]): BusNode {
  const node: BusNode = {
    bus,
    lists: { io: [], mem: [], pref: [] },
    iov: [],
    extra: { io: { sum: 0, align: 0 }, mem: { sum: 0, align: 0 }, pref: { sum: 0, align: 0 } },
  };
  nodes.push(node);
  for (const f of bus.devices) {
    // A VF decodes inside its PF's SR-IOV BARs, placed with the PF below; and the VFs an
    // enable put on the bus must not change what boot placed.
    if (f.physfn) continue;
    const d = input.declared(f);
    for (const b of d.bars) {
      const type = typeOf(b);
      const size = type === 'io' ? b.size : Math.max(b.size, DEVICE_MEM_MIN);
      node.lists[type].push({ fn: f, slot: b.index, size, real: b.size, align: size, type, is64: b.kind === 'mem64' });
    }
    if (d.rom > 0) {
      const size = Math.max(d.rom, DEVICE_MEM_MIN);
      node.lists.mem.push({ fn: f, slot: ROM_SLOT, size, real: d.rom, align: size, type: 'mem', is64: false });
    }
    const total = f.spec.sriov?.total ?? 0;
    for (const b of d.vfBars) {
      const type = typeOf(b);
      const e: Entry = { fn: f, slot: IOV_SLOT + b.index, size: b.size * total, real: b.size * total, align: b.size, type, is64: b.kind === 'mem64' };
      node.iov.push(e);
      node.extra[type].sum += e.size;
      node.extra[type].align = Math.max(node.extra[type].align, e.align);
    }
  }
  for (const f of bus.devices) if (f.secondary) collect(f.secondary, input, nodes);
  return node;
}

/** SeaBIOS's ich9_smbus_setup moves the ICH9 SMBus I/O BAR to 0x700 after the layout
 * [rec: 1f.3 resource4 0x700-0x73f; the next I/O BAR starts 0x40 above 0xc000]. */
function ich9SmbusQuirk(pci: PciTopology, out: Map<PciFunction, FunctionResources>): void {
  for (const f of pci.addOrder) {
    if (f.id.vendor !== 0x8086 || f.id.device !== 0x2930 || f.bus.parent !== null || f.spec.bars) continue;
    const p = out.get(f)?.slots.get(4);
    if (p) p.start = 0x700;
  }
}

/** The range a bus decodes for a type: its bridge's window, or the host window. */
function rangeOf(bus: PciBus, type: RegionType, out: Map<PciFunction, FunctionResources>, high: boolean): { start: number; end: number } | undefined {
  if (bus.bridge === null) {
    if (type === 'io') return HOST_WINDOWS.io;
    return high ? HOST_WINDOWS.mem64 : HOST_WINDOWS.mem32;
  }
  const w = out.get(bus.bridge)?.windows[type];
  return w && { start: w.start, end: w.start + w.size - 1 };
}

/** Intervals taken on a bus in one address space (I/O, or memory: plain and prefetchable
 * share it): its present functions' BARs, ROMs, SR-IOV BARs and bridge windows. */
export function taken(bus: PciBus, io: boolean, out: Map<PciFunction, FunctionResources>, present: (f: PciFunction) => boolean = () => true): { start: number; end: number }[] {
  const used: { start: number; end: number }[] = [];
  for (const f of bus.devices) {
    const r = out.get(f);
    if (!r || !present(f)) continue;
    for (const p of r.slots.values()) if (p.io === io) used.push({ start: p.start, end: p.start + Math.max(p.size, io ? 1 : DEVICE_MEM_MIN) - 1 });
    for (const t of TYPES) {
      const w = r.windows[t];
      if (w && (t === 'io') === io) used.push({ start: w.start, end: w.start + w.size - 1 });
    }
  }
  return used.sort((a, b) => a.start - b.start);
}

/** allocate_resource: the lowest aligned gap of `size` in `range` between the `used` intervals. */
export function firstFit(range: { start: number; end: number }, used: { start: number; end: number }[], size: number, align: number): number | undefined {
  let at = alignUp(range.start, align);
  for (const u of used) {
    if (u.end < at) continue;
    if (at + size - 1 < u.start) break;
    at = alignUp(u.end + 1, align);
  }
  return at + size - 1 <= range.end ? at : undefined;
}

function linuxPass(pci: PciTopology, input: AssignInput, nodes: BusNode[], out: Map<PciFunction, FunctionResources>, get: (f: PciFunction) => FunctionResources): void {
  // Bus by bus from the top (__pci_bus_assign_resources): the bus's own requests in device
  // order, then the buses below.
  const byBus = new Map(nodes.map((n) => [n.bus, n]));
  const walk = (bus: PciBus): void => {
    for (const f of bus.devices) {
      if (!f.secondary || !input.hotplug(f) || out.get(f)?.windows.io) continue;
      const range = rangeOf(bus, 'io', out, false);
      if (!range) continue;
      const at = firstFit(range, taken(bus, true, out), IO_MIN, IO_MIN);
      if (at !== undefined) get(f).windows.io = { start: at, size: IO_MIN, is64: false };
    }
    for (const e of byBus.get(bus)?.iov ?? []) {
      // A prefetchable SR-IOV BAR goes to the prefetchable window when there is one.
      const type = e.type === 'pref' && !rangeOf(bus, 'pref', out, false) ? 'mem' : e.type;
      for (const high of bus.bridge === null && e.is64 ? [false, true] : [false]) {
        const range = rangeOf(bus, type, out, high);
        if (!range) continue;
        const at = firstFit(range, taken(bus, type === 'io', out), e.size, e.align);
        if (at === undefined) continue;
        get(e.fn).slots.set(e.slot, { start: at, size: e.size, io: e.type === 'io' });
        break;
      }
    }
    for (const f of bus.devices) if (f.secondary) walk(f.secondary);
  };
  for (const h of pci.hostBridges) walk(h.rootBus);
}
