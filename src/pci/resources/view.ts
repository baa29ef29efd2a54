// One function's resources as the kernel and its config space show them: the lines of
// sysfs `resource` (pci-sysfs.c resource_show), the BAR, ROM and window registers, and the
// sizes of the resourceN and rom files.

import type { BarSpec } from '../../topology/model';
import type { PciFunction } from '../enumerate';
import { IOV_SLOT, ROM_SLOT } from './assign';
import type { FunctionResources, Placed, RegionType } from './assign';
import type { Declared } from './declared';
import { barDwords, barFlags, ROM_FLAGS, WINDOW_FLAGS } from './registers';
import type { WindowRange } from './registers';

export interface ResourceLine {
  start: number;
  /** Inclusive. */
  end: number;
  flags: number;
}

/** PCI_STD_NUM_BARS + ROM + PCI_SRIOV_NUM_BARS = PCI_BRIDGE_RESOURCES (13); with the four
 * bridge windows DEVICE_COUNT_RESOURCE (17). */
const TYPE0_LINES = 13;
const BRIDGE_LINES = 17;
const WINDOW_ORDER: RegionType[] = ['io', 'mem', 'pref'];

export interface FunctionView {
  /** resource_show's lines: a device's (13) or, with a subordinate bus, a bridge's (17); null where unset. */
  lines: (ResourceLine | null)[];
  /** Assigned BARs 0-5: index, size, and whether prefetchable (resourceN_wc). */
  files: { index: number; size: number; prefetch: boolean }[];
  /** Assigned ROM size, 0 for none. */
  romSize: number;
}

const line = (p: Placed, flags: number): ResourceLine => ({ start: p.start, end: p.start + p.size - 1, flags });

/** A VF's BAR i is the i-th slice of its PF's SR-IOV BAR i (iov.c pci_iov_add_virtfn). */
function slotsOf(f: PciFunction, declared: Declared, placed: (f: PciFunction) => FunctionResources | undefined): Map<number, Placed> {
  if (!f.physfn) return placed(f)?.slots ?? new Map();
  const pf = placed(f.physfn)?.slots;
  const out = new Map<number, Placed>();
  for (const b of declared.bars) {
    const p = pf?.get(IOV_SLOT + b.index);
    if (p) out.set(b.index, { start: p.start + (f.vfIndex ?? 0) * b.size, size: b.size });
  }
  return out;
}

export function functionView(f: PciFunction, declared: Declared, placed: (f: PciFunction) => FunctionResources | undefined): FunctionView {
  const slots = slotsOf(f, declared, placed);
  const lines: (ResourceLine | null)[] = Array.from({ length: f.secondary ? BRIDGE_LINES : TYPE0_LINES }, () => null);
  const files: FunctionView['files'] = [];
  for (const b of declared.bars) {
    const p = slots.get(b.index);
    if (!p) continue;
    lines[b.index] = line(p, barFlags(b));
    files.push({ index: b.index, size: b.size, prefetch: b.prefetch });
  }
  const rom = slots.get(ROM_SLOT);
  if (rom) lines[ROM_SLOT] = line(rom, ROM_FLAGS);
  for (const b of declared.vfBars) {
    const p = slots.get(IOV_SLOT + b.index);
    if (p) lines[IOV_SLOT + b.index] = line(p, barFlags(b));
  }
  if (f.secondary) {
    const w = placed(f)?.windows ?? {};
    WINDOW_ORDER.forEach((t, i) => {
      const p = w[t];
      if (p) lines[TYPE0_LINES + i] = line(p, t === 'pref' ? WINDOW_FLAGS.pref(p.is64) : WINDOW_FLAGS[t]);
    });
  }
  return { lines, files, romSize: rom?.size ?? 0 };
}

/** Registers firmware wrote: every BAR (address and type bits; 0 address when unassigned),
 * the ROM BAR, a bridge's windows; for a PF, its SR-IOV VF BARs. A VF's BARs read 0. */
export interface RegisterView {
  /** Dword values of BAR registers 0..n-1 (n = 6, or 2 for a bridge). */
  bars: number[];
  rom: number;
  windows?: Partial<Record<RegionType, WindowRange>>;
  vfBars: number[];
}

export function registerView(f: PciFunction, declared: Declared, placed: FunctionResources | undefined): RegisterView {
  const count = f.headerType === 1 ? 2 : 6;
  const bars = new Array<number>(count).fill(0);
  const slots = placed?.slots ?? new Map<number, Placed>();
  const fill = (into: number[], list: BarSpec[], slotBase: number): void => {
    for (const b of list) barDwords(b, slots.get(slotBase + b.index)?.start).forEach((v, i) => (into[b.index + i] = v));
  };
  const vfBars = new Array<number>(6).fill(0);
  if (!f.physfn) {
    fill(bars, declared.bars, 0);
    fill(vfBars, declared.vfBars, IOV_SLOT);
  }
  const rom = slots.get(ROM_SLOT);
  const view: RegisterView = { bars, rom: rom ? rom.start >>> 0 : 0, vfBars };
  if (f.headerType === 1) {
    const w = placed?.windows ?? {};
    view.windows = {};
    for (const t of WINDOW_ORDER) {
      const p = w[t];
      if (p) view.windows[t] = { start: p.start, end: p.start + p.size - 1 };
    }
  }
  return view;
}
