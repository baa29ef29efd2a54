// The capabilities a topology gives (`msi`, `msix`, `pm`, a PCI bridge's `slot.chassis` and
// `slot.hotplug`) laid over a model's standard capability list: a changed one keeps its
// place, a removed one leaves the chain, an added one goes to the first free offset.

import type { StdCapsInput } from '../config-space';
import { MSIX_TABLE_OFFSET, msixPbaOffset } from './hardware-models';
import { bridgeHasShpc, nextFreeStd } from './layout';
import type { Shape } from './qemu-models';
import type { PlacedStdCap, StdCap } from './standard';

export function withTopologyCaps(base: PlacedStdCap[], f: StdCapsInput, shape: Shape): PlacedStdCap[] {
  let out = [...base];
  const set = (kind: StdCap['kind'], cap: StdCap | null): void => {
    const i = out.findIndex((c) => c.kind === kind);
    if (cap === null) out = out.filter((c) => c.kind !== kind);
    else if (i >= 0) out[i] = { ...cap, at: out[i]!.at } as PlacedStdCap;
    else out.push({ ...cap, at: nextFreeStd(out) } as PlacedStdCap);
  };
  const has = <K extends StdCap['kind']>(kind: K): Extract<PlacedStdCap, { kind: K }> | undefined =>
    out.find((c): c is Extract<PlacedStdCap, { kind: K }> => c.kind === kind);
  if (f.msi) {
    const old = has('msi');
    set('msi', f.msi.vectors === 0 ? null : { kind: 'msi', vectors: f.msi.vectors, is64: f.msi.is64 ?? old?.is64 ?? true, perVectorMask: f.msi.masking ?? old?.perVectorMask ?? false });
  }
  if (f.msixVectors !== undefined) {
    const old = has('msix');
    const n = f.msixVectors;
    const table = old ?? { bir: 0, tableOffset: MSIX_TABLE_OFFSET, pbaOffset: 0 };
    // A PBA placed after the table moves with its size; QEMU's own placements stay.
    const pba = table.tableOffset === MSIX_TABLE_OFFSET && table.bir === 0 ? msixPbaOffset(n) : table.pbaOffset;
    set('msix', n === 0 ? null : { kind: 'msix', tableSize: n, bir: table.bir, tableOffset: table.tableOffset, pbaOffset: pba });
  }
  if (f.pm !== undefined) {
    // PMC: b2:0 version, b9 D1, b10 D2, b15:11 PME_Support (D0, D1, D2, D3hot, D3cold).
    const p = f.pm;
    set('pm', p === null ? null : { kind: 'pm', pmc: p.version | (p.d1 ? 0x200 : 0) | (p.d2 ? 0x400 : 0) | (p.pme << 11), noSoftReset: p.noSoftReset ?? has('pm')?.noSoftReset ?? false });
  }
  if ((f.headerType === 1 && !f.pcie) || f.pcieType === 7) {
    // A bridge to conventional PCI: the slot numbering capability carries the chassis number
    // (QEMU's pci-bridge always has it; real bridges when the topology gives one), and SHPC
    // makes it hot-plug capable.
    if (shape.hardware && f.chassis !== undefined && !has('slotid')) set('slotid', { kind: 'slotid' });
    if (!bridgeHasShpc(shape, f.hotplug)) set('shpc', null);
    else if (!has('shpc')) set('shpc', { kind: 'shpc' });
  }
  return out;
}
