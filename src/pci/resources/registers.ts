// How an assigned resource reads back: the kernel's `struct resource` flags
// (include/linux/ioport.h; drivers/pci/probe.c decode_bar, __pci_read_base,
// pci_read_bridge_io/mmio/mmio_pref) and the config space registers that hold it
// (include/uapi/linux/pci_regs.h).

import type { BarSpec } from '../../topology/model';

export const IORESOURCE = {
  IO: 0x100,
  MEM: 0x200,
  PREFETCH: 0x2000,
  READONLY: 0x4000,
  SIZEALIGN: 0x40000,
  MEM_64: 0x100000,
} as const;

/** Low bits of a BAR register: I/O space b0; memory type b2:1 (2 = 64-bit), prefetchable b3. */
export function barTypeBits(b: BarSpec): number {
  if (b.kind === 'io') return 0x1;
  return (b.kind === 'mem64' ? 0x4 : 0) | (b.prefetch ? 0x8 : 0);
}

/** decode_bar keeps the register's low bits and adds the type; __pci_read_base adds SIZEALIGN
 * [rec: 0x40200 mem32, 0x14220c mem64 prefetchable, 0x40101 I/O]. SR-IOV BARs (iov.c
 * sriov_init) and a VF's copies of them (pci_iov_add_virtfn) read the same. */
export function barFlags(b: BarSpec): number {
  if (b.kind === 'io') return IORESOURCE.IO | IORESOURCE.SIZEALIGN | barTypeBits(b);
  return (
    IORESOURCE.MEM |
    IORESOURCE.SIZEALIGN |
    barTypeBits(b) |
    (b.prefetch ? IORESOURCE.PREFETCH : 0) |
    (b.kind === 'mem64' ? IORESOURCE.MEM_64 : 0)
  );
}

/** pci_read_bases for the ROM: MEM | PREFETCH | READONLY | SIZEALIGN, enable bit clear as
 * firmware leaves it [rec: 0x46200]. */
export const ROM_FLAGS = IORESOURCE.MEM | IORESOURCE.PREFETCH | IORESOURCE.READONLY | IORESOURCE.SIZEALIGN;

/** Bridge windows: pci_read_bridge_io (16-bit decode), _mmio, _mmio_pref (64-bit decode:
 * PCI_PREF_RANGE_TYPE_64 in the low bits and MEM_64) [rec: 0x100, 0x200, 0x102201]. */
export const WINDOW_FLAGS = {
  io: IORESOURCE.IO,
  mem: IORESOURCE.MEM,
  pref: (is64: boolean): number => IORESOURCE.MEM | IORESOURCE.PREFETCH | (is64 ? 0x1 | IORESOURCE.MEM_64 : 0),
} as const;

/** The dwords a BAR's registers hold: its address (0 when unassigned) with the type bits; a
 * 64-bit BAR fills two. */
export function barDwords(b: BarSpec, start: number | undefined): number[] {
  const addr = start ?? 0;
  const low = ((addr % 2 ** 32) | barTypeBits(b)) >>> 0;
  return b.kind === 'mem64' ? [low, Math.floor(addr / 2 ** 32) >>> 0] : [low];
}

export interface WindowRange {
  start: number;
  /** Inclusive. */
  end: number;
}

/** PCI_IO_BASE/LIMIT (0x1c/0x1d, 4K granularity, 16-bit decode) and the upper 16 bits
 * (0x30/0x32); a closed window reads base 0xf0 above limit 0x00, as Linux leaves it
 * (setup-bus.c pci_setup_bridge_io) [rec: switch.json 02:01.0 "f0 00"]. */
export function ioWindowRegs(w: WindowRange | undefined): { base: number; limit: number } {
  if (!w) return { base: 0xf0, limit: 0x00 };
  return { base: (w.start >>> 8) & 0xf0, limit: (w.end >>> 8) & 0xf0 };
}

/** PCI_MEMORY_BASE/LIMIT (0x20/0x22, 1M granularity); closed: 0xfff0 above 0x0000. */
export function memWindowRegs(w: WindowRange | undefined): { base: number; limit: number } {
  if (!w) return { base: 0xfff0, limit: 0x0000 };
  return { base: (w.start >>> 16) & 0xfff0, limit: (w.end >>> 16) & 0xfff0 };
}

/** PCI_PREF_MEMORY_BASE/LIMIT (0x24/0x26, type 1 = 64-bit) and the upper 32 bits
 * (0x28/0x2c); closed: 0xfff1 above 0x0001. */
export function prefWindowRegs(w: WindowRange | undefined): { base: number; limit: number; baseUpper: number; limitUpper: number } {
  if (!w) return { base: 0xfff1, limit: 0x0001, baseUpper: 0, limitUpper: 0 };
  const lo = (n: number): number => (Math.floor(n / 2 ** 16) & 0xfff0) | 0x1;
  return { base: lo(w.start), limit: lo(w.end), baseUpper: Math.floor(w.start / 2 ** 32) >>> 0, limitUpper: Math.floor(w.end / 2 ** 32) >>> 0 };
}
