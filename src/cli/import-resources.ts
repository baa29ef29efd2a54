// `bars`, `rom` and `sriov.vf-bars` for `iommufs import`: what the machine's `resource` file
// says each function decodes (sizes and flags; pci-sysfs.c resource_show), written only where
// it differs from what the engine declares for that function by default (resources/declared.ts).

import { declaredOf } from '../pci/resources/declared';
import { IORESOURCE } from '../pci/resources/registers';
import type { PciFunction } from '../pci/enumerate';
import { formatSize, parseBar } from '../topology/read-bars';
import type { BarSpec } from '../topology/model';
import type { Out } from './import-build';
import type { SysFunction } from './import-read';

/** PCI_ROM_RESOURCE and PCI_IOV_RESOURCES in the kernel's resource numbering. */
const ROM_LINE = 6;
const IOV_LINE = 7;

type Line = NonNullable<SysFunction['resources']>[number];

const sizeOf = (l: Line | undefined): number => (l && l.flags !== 0 && l.end > l.start ? Number(l.end - l.start + 1n) : 0);

/** A BAR from a resource line, `per` dividing its size (an SR-IOV line spans every VF's). */
function barOf(index: number, l: Line | undefined, per = 1): BarSpec | undefined {
  const size = sizeOf(l) / per;
  if (!l || size === 0 || !(l.flags & (IORESOURCE.IO | IORESOURCE.MEM))) return undefined;
  if (l.flags & IORESOURCE.IO) return { index, size, kind: 'io', prefetch: false };
  return { index, size, kind: l.flags & IORESOURCE.MEM_64 ? 'mem64' : 'mem32', prefetch: (l.flags & IORESOURCE.PREFETCH) !== 0 };
}

const barText = (b: BarSpec): string => `${formatSize(b.size)} ${b.kind}${b.prefetch ? ' prefetchable' : ''}`;
const same = (a: BarSpec[], b: BarSpec[]): boolean => a.map(barText).join() === b.map(barText).join();

/** The `bars` mapping, or a reason the loader would refuse it (checked as it reads them). */
function barsKey(bars: BarSpec[]): Out | string {
  const out: Out = {};
  for (const b of bars) {
    const checked = parseBar(b.index, barText(b));
    if (typeof checked === 'string') return `BAR ${b.index}: ${checked}`;
    out[String(b.index)] = barText(b);
  }
  return out;
}

/**
 * Adds `bars`, `rom` and `sriov.vf-bars` to `out` where the machine's `resource` lines differ
 * from what `engine` (the imported function as booted) declares. Returns notes for what the
 * format cannot take.
 */
export function resourceKeys(fn: SysFunction, out: Out, engine: PciFunction): string[] {
  const lines = fn.resources;
  if (!lines) return [];
  const notes: string[] = [];
  const dflt = declaredOf(engine);
  const count = engine.headerType === 1 ? 2 : 6;
  const bars = Array.from({ length: count }, (_, i) => barOf(i, lines[i])).filter((b): b is BarSpec => b !== undefined);
  if (!same(bars, dflt.bars)) {
    const key = barsKey(bars);
    if (typeof key === 'string') notes.push(`${fn.name}: bars left as the default (${key})`);
    else out.bars = key;
  }
  const rom = sizeOf(lines[ROM_LINE]);
  if (rom !== dflt.rom) {
    // readRom: a power of two from 2K to 16M (PCI 6.2.5.2), or none.
    if (rom === 0) out.rom = 'none';
    else if (rom >= 2048 && rom <= 16 << 20 && (rom & (rom - 1)) === 0) out.rom = formatSize(rom);
    else notes.push(`${fn.name}: rom left as the default (${rom} bytes is not a ROM size the format takes)`);
  }
  const sriov = out.sriov as Out | undefined;
  if (sriov && engine.headerType !== 1) {
    const total = Number(sriov.total);
    const vfBars = Array.from({ length: 6 }, (_, i) => barOf(i, lines[IOV_LINE + i], total)).filter((b): b is BarSpec => b !== undefined);
    if (!same(vfBars, dflt.vfBars)) {
      const key = barsKey(vfBars);
      if (typeof key === 'string') notes.push(`${fn.name}: sriov.vf-bars left as the default (${key})`);
      else sriov['vf-bars'] = key;
    }
  }
  return notes;
}
