// The bits of a function's resource registers that software may write, per config byte:
// a BAR's address bits down to its size (writing all ones and reading back is how Linux sizes
// it: drivers/pci/probe.c __pci_read_base; the type bits and the bits below the size are
// hardwired), the expansion ROM BAR's address bits and enable bit (pci_read_bases,
// PCI_ROM_ADDRESS_MASK), and a bridge's window base and limit registers above their
// granularity (setup-bus.c pci_setup_bridge_io/_mmio/_mmio_pref write them; I/O decodes 16
// bits and the prefetchable window 64, as registers.ts reads them back). A VF's BARs are
// read-only zero (SR-IOV 1.1, 3.4.1.11). Bus numbers stay read-only here: the engine owns
// the bus tree.

import type { PciFunction } from '../enumerate';
import type { Declared } from './declared';

const setDword = (out: Map<number, number>, at: number, mask: number): void => {
  for (let i = 0; i < 4; i++) out.set(at + i, (mask >>> (8 * i)) & 0xff);
};

export function resourceWriteMask(f: PciFunction, declared: Declared): Map<number, number> {
  const out = new Map<number, number>();
  if (f.physfn) return out;
  const barCount = f.headerType === 0 ? 6 : 2;
  for (const b of declared.bars) {
    if (b.index >= barCount) continue;
    const addressBits = b.kind === 'io' ? 0xfffffffc : 0xfffffff0;
    setDword(out, 0x10 + 4 * b.index, (addressBits & ~(Math.min(b.size, 2 ** 32) - 1)) >>> 0);
    if (b.kind === 'mem64' && b.index + 1 < barCount) {
      const upper = b.size > 2 ** 32 ? ~(b.size / 2 ** 32 - 1) >>> 0 : 0xffffffff;
      setDword(out, 0x10 + 4 * (b.index + 1), upper);
    }
  }
  if (declared.rom > 0) setDword(out, f.headerType === 0 ? 0x30 : 0x38, ((0xfffff800 & ~(declared.rom - 1)) | 0x1) >>> 0);
  if (f.headerType === 1) {
    out.set(0x1c, 0xf0);
    out.set(0x1d, 0xf0);
    for (const at of [0x20, 0x22, 0x24, 0x26]) {
      out.set(at, 0xf0);
      out.set(at + 1, 0xff);
    }
    for (let at = 0x28; at < 0x30; at++) out.set(at, 0xff);
  }
  return out;
}
