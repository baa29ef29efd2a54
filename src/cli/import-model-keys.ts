// The device model's keys for `iommufs import` (docs/topology-format.md `link`, `link-status`,
// `port`, `msi`, `msix`, `pm`): each read the same way from the machine's config space and
// from the image the engine builds for the imported function, and written only where the
// two differ, so that what derives from them (link attributes, a VF's capabilities, msi_irqs
// sizes) is the machine's; `nvme.namespaces` likewise from the controller's block devices.

import { CAP } from '../pci/capabilities/standard';
import { CAP_ID, findCap } from '../pci/config-read';
import { PME_STATES, SPEED_TEXT, WIDTHS } from '../topology/hardware-fields';
import { LBA_SIZES } from '../topology/nvme-fields';
import type { NamespaceSpec } from '../topology/model';
import type { Out } from './import-build';


const u16 = (b: Uint8Array, o: number): number => (b[o] ?? 0) | ((b[o + 1] ?? 0) << 8);
const u32 = (b: Uint8Array, o: number): number => (u16(b, o) | (u16(b, o + 2) << 16)) >>> 0;

/** LnkCap (PCI_EXP_LNKCAP) or LnkSta (PCI_EXP_LNKSTA): speed code b3:0, width b9:4. */
function link(b: Uint8Array, status: boolean): { speed?: string; width: number } | undefined {
  const exp = findCap(b, CAP_ID.EXP);
  if (exp === undefined) return undefined;
  const reg = status ? u16(b, exp + 0x12) : u32(b, exp + 0x0c);
  const speed = SPEED_TEXT[reg & 0xf];
  const width = (reg >> 4) & 0x3f;
  if (status && width === 0) return { ...(speed ? { speed } : {}), width };
  return speed && WIDTHS.includes(width) ? { speed, width } : undefined;
}

interface Field {
  key: string;
  /** Only where the function has a link (not conventional, not a root-complex type). */
  linked: boolean;
  read(b: Uint8Array): unknown;
}

const FIELDS: Field[] = [
  { key: 'link', linked: true, read: (b) => link(b, false) },
  { key: 'link-status', linked: true, read: (b) => link(b, true) },
  {
    key: 'port',
    linked: true,
    read: (b) => {
      const exp = findCap(b, CAP_ID.EXP);
      return exp === undefined ? undefined : u32(b, exp + 0x0c) >>> 24;
    },
  },
  {
    // MSI Message Control: Multiple Message Capable b3:1, 64-bit b7, per-vector masking b8.
    key: 'msi',
    linked: false,
    read: (b) => {
      const at = findCap(b, CAP_ID.MSI);
      if (at === undefined) return 0;
      const ctrl = u16(b, at + 2);
      const mmc = (ctrl >> 1) & 7;
      return mmc > 5 ? undefined : { vectors: 1 << mmc, '64-bit': (ctrl & 0x80) !== 0, masking: (ctrl & 0x100) !== 0 };
    },
  },
  {
    // MSI-X Message Control: Table Size b10:0, N-1 encoded.
    key: 'msix',
    linked: false,
    read: (b) => {
      const at = findCap(b, CAP_ID.MSIX);
      return at === undefined ? 0 : (u16(b, at + 2) & 0x7ff) + 1;
    },
  },
  {
    // PMC: version b2:0, D1 b9, D2 b10, PME_Support b15:11; PMCSR No_Soft_Reset b3.
    key: 'pm',
    linked: false,
    read: (b) => {
      const at = findCap(b, CAP_ID.PM);
      if (at === undefined) return false;
      const pmc = u16(b, at + 2);
      const version = pmc & 7;
      if (version < 1 || version > 3) return undefined;
      return {
        version,
        d1: (pmc & 0x200) !== 0,
        d2: (pmc & 0x400) !== 0,
        pme: PME_STATES.filter((_, i) => (pmc >> (11 + i)) & 1),
        'no-soft-reset': (u16(b, at + 4) & 0x08) !== 0,
      };
    },
  },
];

/**
 * Adds to `out` each model key whose value in `machine` (the config space the tree showed,
 * 256 bytes or more) differs from `engine`'s (the function as booted without the key).
 * `linked`: the function has a PCIe link (pci.c pcie_cap_has_lnkctl).
 */
export function modelKeys(machine: Uint8Array, engine: Uint8Array, out: Out, linked: boolean): void {
  if (machine.length < 256) return;
  for (const f of FIELDS) {
    if (f.linked && !linked) continue;
    const theirs = f.read(machine);
    if (theirs === undefined || JSON.stringify(theirs) === JSON.stringify(f.read(engine))) continue;
    out[f.key] = theirs;
  }
  // A link trains at most at what both ends support (read-devices.ts refuses more).
  const cap = (out.link ?? link(engine, false)) as { speed?: string; width: number } | undefined;
  const st = out['link-status'] as { speed?: string; width: number } | undefined;
  const code = (s?: string): number => SPEED_TEXT.findIndex((t) => t === s);
  if (cap && st && (st.width > cap.width || code(st.speed) > code(cap.speed))) delete out['link-status'];
}

/** Slot numbering capability (PCI_CAP_ID_SLOTID): the chassis number at +3. */
const chassisOf = (b: Uint8Array): number | undefined => {
  const at = findCap(b, CAP.SLOTID);
  return at === undefined ? undefined : b[at + 3];
};

/** `slot.chassis` of a PCI bridge where the machine's differs from the engine's image. */
export function chassisKey(machine: Uint8Array, engine: Uint8Array, out: Out): void {
  const theirs = machine.length >= 256 ? chassisOf(machine) : undefined;
  if (theirs === undefined || theirs === chassisOf(engine)) return;
  out.slot = { ...(out.slot as Out | undefined), chassis: theirs };
}

/** A namespace size in the largest unit nvme-fields.ts reads that holds it exactly. */
function sizeText(bytes: number): string {
  for (const [unit, n] of [['PB', 1e15], ['TB', 1e12], ['GB', 1e9], ['MB', 1e6], ['PiB', 2 ** 50], ['TiB', 2 ** 40], ['GiB', 2 ** 30], ['MiB', 2 ** 20], ['kB', 1e3], ['KiB', 2 ** 10]] as const) {
    if (bytes % n === 0) return `${bytes / n}${unit}`;
  }
  return `${bytes}B`;
}

/** `nvme.namespaces` where the controller's differ from the engine's for the function
 * (engine/nvme.ts namespacesOf), when every one is a namespace the format takes. */
export function nvmeKey(machine: readonly NamespaceSpec[] | undefined, engine: readonly NamespaceSpec[], out: Out): void {
  if (!machine || machine.length > 1024 || JSON.stringify(machine) === JSON.stringify(engine)) return;
  const valid = (n: NamespaceSpec): boolean => (LBA_SIZES as readonly number[]).includes(n.lba) && n.bytes >= n.lba && n.bytes % n.lba === 0 && n.bytes <= 2 ** 53;
  if (!machine.every(valid)) return;
  out.nvme = { namespaces: machine.map((n) => (n.lba === 512 ? sizeText(n.bytes) : { size: sizeText(n.bytes), lba: n.lba })) };
}
