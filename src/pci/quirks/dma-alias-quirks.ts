// DMA alias quirks of Linux 6.1.y drivers/pci/quirks.c as data rows: header fixups that
// add devfns to dev->dma_alias_mask (pci_add_dma_alias) or set the PCIE_BRIDGE_ALIAS /
// BRIDGE_XLATE_ROOT flags that change the alias walk (drivers/pci/search.c
// pci_for_each_dma_alias). All aliases are devfns on the device's own bus.

import type { PciId } from '../../topology/model';
import { idInList } from './id-list';
import { memoizeById } from '../memo';
import type { IdEntry, IdList } from './id-list';

export type DmaAliasKind =
  | 'func0'
  | 'func1'
  | 'fixed'
  | 'pcie_bridge'
  | 'mic_x200'
  | 'vca'
  | 'bridge_xlate_root'
  | 'switchtec_ntb'
  | 'plx_ntb';

export interface DmaAliasQuirkRow {
  vendor: number;
  devices: IdList;
  /** Subsystem vendor:device the row also requires (pci_match_id with PCI_DEVICE_SUB). */
  subsystem?: PciId;
  /** Class code >> 8 the row also requires (DECLARE_PCI_FIXUP_CLASS_*, shift 8). */
  classCodeHigh?: number;
  kind: DmaAliasKind;
  /** The alias a 'fixed' row adds. */
  devfn?: number;
  /** Fixup pass: 'header' (at scan) or 'final' (before drivers bind). */
  stage: 'header' | 'final';
  source: string;
  note: string;
  /** Not in v6.1.0; reached 6.1.y by a stable backport (detail doc †). */
  backport?: true;
}

const Q = 'drivers/pci/quirks.c';
const FUNC1 = `${Q} quirk_dma_func1_alias`;
const BRIDGE = `${Q} quirk_use_pcie_bridge_dma_alias`;
const SWITCHTEC = `${Q} quirk_switchtec_ntb_dma_alias`;

/** Switchtec Gen3 parts: 0x85x1-0x85x6 for x = 3..7 (PFX, PSX, PAX, PFXL, PFXI). */
const SWITCHTEC_G3: IdEntry[] = [3, 4, 5, 6, 7].map((x): IdEntry => [0x8501 | (x << 4), 0x8506 | (x << 4)]);
/** Gen4 (0x4x..) and Gen5 (0x5x..) parts: families x, each in the listed port-count codes. */
function switchtecFamily(gen: number, families: number[], codes: number[]): number[] {
  return families.flatMap((x) => codes.map((c) => (gen << 12) | (x << 8) | c));
}
const SWITCHTEC_G4 = [
  ...switchtecFamily(4, [0, 1, 2], [0x00, 0x84, 0x68, 0x52, 0x36, 0x28]),
  ...switchtecFamily(4, [3, 4, 5], [0x52, 0x36, 0x28]),
];
const SWITCHTEC_G5 = switchtecFamily(5, [0, 1, 2, 3, 4, 5], [0x00, 0x84, 0x68, 0x52, 0x36, 0x28]);

export const DMA_ALIAS_QUIRK_ROWS: readonly DmaAliasQuirkRow[] = [
  { vendor: 0x1180, devices: [0xe832, 0xe476], kind: 'func0', stage: 'header', source: `${Q} quirk_dma_func0_alias`, note: 'Ricoh card readers use function 0 as requester ID' },
  { vendor: 0x6766, devices: [0x3d40, 0x3d41], kind: 'func0', stage: 'header', source: `${Q} quirk_dma_func0_alias`, note: 'Glenfly chips use function 0 as requester ID', backport: true },
  {
    vendor: 0x1b4b,
    devices: [0x9120, 0x9123, 0x9125, 0x9128, 0x9130, 0x9170, 0x9172, 0x917a, 0x9182, 0x9183, 0x91a0, 0x9215, 0x9220, 0x9230, 0x9235],
    kind: 'func1',
    stage: 'header',
    source: FUNC1,
    note: 'Marvell SATA controllers use function 1, often a ghost function (kernel bugzilla 42679)',
  },
  { vendor: 0x1103, devices: [0x0642, 0x0645], kind: 'func1', stage: 'header', source: FUNC1, note: 'HighPoint (TTI) RocketRAID' },
  { vendor: 0x197b, devices: [0x2392], kind: 'func1', stage: 'header', source: FUNC1, note: 'JMicron JMB388 ESD' },
  { vendor: 0x1c28, devices: [0x0122], kind: 'func1', stage: 'header', source: FUNC1, note: 'Lite-On Plextor M6E (Marvell 88SS9183)' },
  { vendor: 0x9005, devices: [0x0285], subsystem: { vendor: 0x9005, device: 0x02bb }, kind: 'fixed', devfn: 0x08, stage: 'header', source: `${Q} quirk_fixed_dma_alias`, note: 'Adaptec 3405: hidden DMA engine at 01.0' },
  { vendor: 0x9005, devices: [0x0285], subsystem: { vendor: 0x9005, device: 0x02bc }, kind: 'fixed', devfn: 0x08, stage: 'header', source: `${Q} quirk_fixed_dma_alias`, note: 'Adaptec 3805: hidden DMA engine at 01.0' },
  { vendor: 0x1b21, devices: [0x1080], kind: 'pcie_bridge', stage: 'header', source: BRIDGE, note: 'ASMedia ASM1083/1085' },
  { vendor: 0x10e3, devices: [0x8113], kind: 'pcie_bridge', stage: 'header', source: BRIDGE, note: 'Tundra 8113' },
  { vendor: 0x1283, devices: [0x8892, 0x8893], kind: 'pcie_bridge', stage: 'header', source: BRIDGE, note: 'ITE 8892/8893' },
  { vendor: 0x8086, devices: [0x244e], kind: 'pcie_bridge', stage: 'header', source: BRIDGE, note: 'Intel 82801 PCI bridge' },
  { vendor: 0x8086, devices: [0x2260, 0x2264], kind: 'mic_x200', stage: 'header', source: `${Q} quirk_mic_x200_dma_alias`, note: 'Intel MIC x200 NTB: RIT-LUT requester IDs 10.0, 11.0, 12.3' },
  { vendor: 0x8086, devices: [0x2954, 0x2955, 0x2956, 0x2958, 0x2959, 0x295a], kind: 'vca', stage: 'header', source: `${Q} quirk_pex_vca_alias`, note: 'Intel VCA: functions 0-4 of every slot' },
  { vendor: 0x14e4, devices: [0x9000, 0x9084], kind: 'bridge_xlate_root', stage: 'header', source: `${Q} quirk_bridge_cavm_thrx2_pcie_root`, note: 'Broadcom Vulcan / Cavium ThunderX2: the IOMMU sits at this bridge' },
  { vendor: 0x11f8, devices: [...SWITCHTEC_G3, ...SWITCHTEC_G4, ...SWITCHTEC_G5], classCodeHigh: 0x0680, kind: 'switchtec_ntb', stage: 'final', source: SWITCHTEC, note: 'Microsemi Switchtec NTB' },
  { vendor: 0x1055, devices: [[0x1001, 0x1006]], classCodeHigh: 0x0680, kind: 'switchtec_ntb', stage: 'final', source: SWITCHTEC, note: 'Switchtec PCI100x (EFAR vendor ID)' },
  { vendor: 0x10b5, devices: [0x87b0, 0x87b1], kind: 'plx_ntb', stage: 'header', source: `${Q} quirk_plx_ntb_dma_alias`, note: 'PLX NTB: any devfn can be a proxy ID' },
];

const LABELS: Record<DmaAliasKind, string> = {
  func0: 'DMA as function 0 quirk',
  func1: 'DMA as function 1 quirk',
  fixed: 'fixed DMA alias quirk (devfn 01.0)',
  pcie_bridge: 'PCIe-to-PCI bridge without a PCIe capability quirk',
  mic_x200: 'Intel MIC x200 NTB alias quirk',
  vca: 'Intel VCA NTB alias quirk',
  bridge_xlate_root: 'Broadcom/Cavium translating bridge quirk (alias walk stops here)',
  switchtec_ntb: 'Switchtec NTB proxy ID quirk (IDs come from the switch at run time; list them under dma-alias)',
  plx_ntb: 'PLX NTB proxy ID quirk (all 256 devfns)',
};

export interface DmaAliasSubject {
  vendor: number;
  device: number;
  subsystem?: PciId;
  /** 24-bit class code (class, subclass, prog-if). */
  classCode: number;
  devfn: number;
  /** Header type without the multifunction bit: 1 for a PCI-to-PCI bridge. */
  headerType: 0 | 1;
  /** The function has a PCI Express capability. */
  pcie: boolean;
  onRootBus: boolean;
  /**
   * The bridge above (bus->self) has a PCIe capability and is not a PCIe-to-PCI/PCI-X
   * bridge (type 7). False or absent on a root bus.
   */
  parentIsPcieNonPcieBridge?: boolean;
}

export interface DmaAliasResult {
  /** Devfns on the device's own bus added to its dma_alias_mask, ascending. */
  aliasDevfns: number[];
  /** PCI_DEV_FLAG_PCIE_BRIDGE_ALIAS: alias as (secondary bus, 00.0), like a PCIe-to-PCI bridge. */
  pcieBridgeAlias: boolean;
  /** PCI_DEV_FLAGS_BRIDGE_XLATE_ROOT: the alias walk stops at this bridge. */
  bridgeXlateRoot: boolean;
  /** The quirks that changed something, in fixup order, for `explain`. */
  applied: { quirk: string; source: string }[];
}

const devfn = (slot: number, fn: number): number => (slot << 3) | fn;

function rowMatches(row: DmaAliasQuirkRow, dev: DmaAliasSubject): boolean {
  if (row.vendor !== dev.vendor || !idInList(dev.device, row.devices)) return false;
  if (row.subsystem && (dev.subsystem?.vendor !== row.subsystem.vendor || dev.subsystem?.device !== row.subsystem.device)) return false;
  if (row.classCodeHigh !== undefined && dev.classCode >> 8 !== row.classCodeHigh) return false;
  return true;
}

/** What one matching row does; returns false when its own condition leaves the device alone. */
function applyRow(row: DmaAliasQuirkRow, dev: DmaAliasSubject, out: DmaAliasResult, mask: Set<number>): boolean {
  const slot = dev.devfn >> 3;
  switch (row.kind) {
    case 'func0':
      if ((dev.devfn & 7) === 0) return false;
      mask.add(devfn(slot, 0));
      return true;
    case 'func1':
      if ((dev.devfn & 7) === 1) return false;
      mask.add(devfn(slot, 1));
      return true;
    case 'fixed':
      mask.add(row.devfn!);
      return true;
    case 'pcie_bridge':
      // A conventional-looking bridge below a PCIe port is really a PCIe-to-PCI bridge.
      if (dev.onRootBus || dev.headerType !== 1 || dev.pcie || !dev.parentIsPcieNonPcieBridge) return false;
      out.pcieBridgeAlias = true;
      return true;
    case 'mic_x200':
      for (const a of [devfn(0x10, 0), devfn(0x11, 0), devfn(0x12, 3)]) mask.add(a);
      return true;
    case 'vca':
      for (let s = 0; s < 32; s++) for (let f = 0; f < 5; f++) mask.add(devfn(s, f));
      return true;
    case 'bridge_xlate_root':
      out.bridgeXlateRoot = true;
      return true;
    case 'switchtec_ntb':
      // The kernel reads the proxy devfns from the NTB's request ID tables; nothing to add here.
      return true;
    case 'plx_ntb':
      for (let d = 0; d < 256; d++) mask.add(d);
      return true;
  }
}

/** Every device is asked about at its creation, and nearly none has a row: the rows naming
 * an ID (vendor and device; subsystem and class are checked per device) are found once. */
const rowsNaming = memoizeById((vendor, device): readonly DmaAliasQuirkRow[] => DMA_ALIAS_QUIRK_ROWS.filter((row) => row.vendor === vendor && idInList(device, row.devices)));

/** What a device no quirk names gets (shared: callers only read results). */
const NO_QUIRK: DmaAliasResult = Object.freeze({ aliasDevfns: [], pcieBridgeAlias: false, bridgeXlateRoot: false, applied: [] });

/** The DMA alias quirks that apply to a device and their combined effect. */
export function dmaAliasQuirks(dev: DmaAliasSubject): DmaAliasResult {
  const rows = rowsNaming(dev.vendor, dev.device);
  if (rows.length === 0) return NO_QUIRK;
  const out: DmaAliasResult = { aliasDevfns: [], pcieBridgeAlias: false, bridgeXlateRoot: false, applied: [] };
  const mask = new Set<number>();
  for (const stage of ['header', 'final'] as const) {
    for (const row of rows) {
      if (row.stage !== stage || !rowMatches(row, dev)) continue;
      if (applyRow(row, dev, out, mask)) out.applied.push({ quirk: LABELS[row.kind], source: row.source });
    }
  }
  out.aliasDevfns = [...mask].sort((a, b) => a - b);
  return out;
}
