// A topology's `config:` rows: the bytes of a function's config space as a machine showed
// them (docs/topology-format.md `config`). Written by `iommufs import` so that capabilities
// the model does not build (vendor-specific ones, link and slot registers) still read as
// they did on the machine. The engine keeps what it owns: the identity the topology's keys
// give, the bus numbers it assigns, the BARs and windows its resource assignment places, and
// the registers the kernel and drivers change at run time. Everything else is the rows' bytes.

import { CAP_ID, EXT_CAP_ID, findCap, findExtCap } from './config-read';

/** [offset, mask]: bits of the header the engine's image decides. */
const HEADER_OWNED: ReadonlyArray<readonly [number, number]> = [
  // Vendor and device ID (a VF reads 0xffff there), revision and class code.
  [0x00, 0xff], [0x01, 0xff], [0x02, 0xff], [0x03, 0xff],
  [0x08, 0xff], [0x09, 0xff], [0x0a, 0xff], [0x0b, 0xff],
  // Command: Bus Master (pci_set_master) and INTx Disable (pci_intx_for_msi).
  [0x04, 0x04], [0x05, 0x04],
  // Header type and its multifunction bit.
  [0x0e, 0xff],
];
const bytes = (from: number, to: number): Array<readonly [number, number]> => Array.from({ length: to - from }, (_, i) => [from + i, 0xff] as const);
/** Type 0: BARs 0-5 and the ROM BAR (the resource assignment writes them, so that config and
 * `resource` agree), subsystem vendor and device. */
const TYPE0_OWNED: ReadonlyArray<readonly [number, number]> = [...bytes(0x10, 0x28), ...bytes(0x2c, 0x34)];
/** Type 1: BARs 0-1; primary, secondary and subordinate bus numbers (pci_scan_bridge,
 * firmware); the I/O, memory and prefetchable windows and the ROM BAR (resource assignment). */
const TYPE1_OWNED: ReadonlyArray<readonly [number, number]> = [
  ...bytes(0x10, 0x1b),
  [0x1c, 0xff], [0x1d, 0xff],
  ...bytes(0x20, 0x34),
  ...bytes(0x38, 0x3c),
];

interface CapOwned {
  id: number;
  extended: boolean;
  /** [offset in the capability, mask]. */
  bits: ReadonlyArray<readonly [number, number]>;
}

/** Registers inside capabilities that the topology's keys or run-time state decide. */
const CAP_OWNED: readonly CapOwned[] = [
  // PMCSR PowerState (vfio-pci's idle D3hot).
  { id: CAP_ID.PM, extended: false, bits: [[4, 0x03]] },
  // MSI Enable; MSI-X Enable (control b15).
  { id: CAP_ID.MSI, extended: false, bits: [[2, 0x01]] },
  { id: CAP_ID.MSIX, extended: false, bits: [[3, 0x80]] },
  // PCIe Capabilities: the device/port type (`type`); DEVCTL2 ARI Forwarding Enable.
  { id: CAP_ID.EXP, extended: false, bits: [[2, 0xf0], [0x28, 0x20]] },
  // ACS capability flags (`acs`) and the control register the kernel enables.
  { id: EXT_CAP_ID.ACS, extended: true, bits: [[4, 0x7f], [6, 0xff], [7, 0xff]] },
  // SR-IOV control, InitialVFs, TotalVFs, NumVFs, First VF Offset, VF Stride, VF Device ID.
  {
    id: EXT_CAP_ID.SRIOV,
    extended: true,
    bits: [
      ...[8, 9, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x14, 0x15, 0x16, 0x17, 0x1a, 0x1b].map((o) => [o, 0xff] as const),
      // VF BARs 0-5 (`sriov.vf-bars`, placed by the resource assignment).
      ...bytes(0x24, 0x3c),
    ],
  },
  // PASID Max PASID Width (`pasid`).
  { id: EXT_CAP_ID.PASID, extended: true, bits: [[5, 0x1f]] },
];

function merge(out: Uint8Array, model: Uint8Array, at: number, modelAt: number, mask: number): void {
  out[at] = ((out[at] ?? 0) & ~mask) | ((model[modelAt] ?? 0) & mask);
}

/**
 * The config space of a function whose topology gives `raw`: the raw bytes, with the fields
 * the engine owns taken from `model` (the image built from the keys and the state now).
 * Capability fields are merged where both images have that capability.
 */
export function overlayRawConfig(model: Uint8Array, raw: Uint8Array): Uint8Array {
  const out = new Uint8Array(model.length);
  out.set(raw.subarray(0, model.length));
  for (const [at, mask] of HEADER_OWNED) merge(out, model, at, at, mask);
  const type1 = ((model[0x0e] ?? 0) & 0x7f) === 1;
  for (const [at, mask] of type1 ? TYPE1_OWNED : TYPE0_OWNED) merge(out, model, at, at, mask);
  for (const cap of CAP_OWNED) {
    const find = cap.extended ? findExtCap : findCap;
    const m = find(model, cap.id);
    const r = find(out, cap.id);
    if (m === undefined || r === undefined) continue;
    for (const [rel, mask] of cap.bits) merge(out, model, r + rel, m + rel, mask);
  }
  return out;
}

/** One row of 16 bytes as `lspci -x` prints it: `"10: 00 00 ..."` (offset in hex, 2+ digits). */
export function configRow(bytes: Uint8Array, off: number): string {
  const row = Array.from(bytes.subarray(off, off + 16), (b) => b.toString(16).padStart(2, '0')).join(' ');
  return `${off.toString(16).padStart(2, '0')}: ${row}`;
}

/** The rows of an image that are not all zero: the `config:` list. */
export function configRows(bytes: Uint8Array): string[] {
  const out: string[] = [];
  for (let off = 0; off < bytes.length; off += 16) {
    if (bytes.subarray(off, off + 16).some((b) => b !== 0)) out.push(configRow(bytes, off));
  }
  return out;
}

const ROW = /^([0-9a-f]{1,3}):((?: [0-9a-f]{2}){16})$/i;

/** Parses `config:` rows into an image of `size` bytes; a message for the first bad row. */
export function parseConfigRows(rows: readonly string[], size: number): { ok: true; bytes: Uint8Array } | { ok: false; index: number; message: string } {
  const bytes = new Uint8Array(size);
  const seen = new Set<number>();
  for (const [index, text] of rows.entries()) {
    const m = ROW.exec(text.trim());
    if (!m) return { ok: false, index, message: `"${text}" is not a config row ("OFF: " and 16 hex bytes, as lspci -x prints them)` };
    const off = parseInt(m[1]!, 16);
    if (off % 16 !== 0) return { ok: false, index, message: `row offset 0x${off.toString(16)} is not a multiple of 0x10` };
    if (off + 16 > size) return { ok: false, index, message: `row offset 0x${off.toString(16)} is beyond this function's ${size}-byte config space` };
    if (seen.has(off)) return { ok: false, index, message: `row offset 0x${off.toString(16)} given twice` };
    seen.add(off);
    m[2]!.trim().split(' ').forEach((h, i) => (bytes[off + i] = parseInt(h, 16)));
  }
  return { ok: true, bytes };
}
