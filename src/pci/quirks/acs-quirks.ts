// The ACS quirk table `pci_dev_acs_enabled` (Linux 6.1.y drivers/pci/quirks.c) as data,
// and its scan (pci_dev_specific_acs_enabled): rows in order, the first whose quirk gives
// a verdict decides. Also which devices get ACS switched on by a quirk instead of the
// standard path (pci_dev_acs_ops / pci_dev_specific_enable_acs).
//
// Rows of the kernel table that are adjacent and share vendor and quirk function are
// merged into one row here; that keeps the scan order exact.

import { ACS } from '../../topology/model';
import { PCI_EXP_TYPE } from '../pcie-type';
import { INTEL_PCH_ACS_ROOT_PORTS, INTEL_SPT_ACS_ROOT_PORTS } from './acs-quirk-ids';
import { ACS_QUIRK_EVALUATORS, ACS_QUIRK_LABELS } from './acs-quirk-kinds';
import type { AcsContext, AcsQuirkKind, AcsSubject } from './acs-quirk-kinds';
import { idInList } from './id-list';
import { memoizeById } from '../memo';
import type { IdList } from './id-list';

export type { AcsContext, AcsQuirkKind, AcsSubject } from './acs-quirk-kinds';

export interface AcsQuirkRow {
  /** PCI vendor ID, or 'any' (PCI_ANY_ID). */
  vendor: number | 'any';
  /** Device IDs the row lists, or 'any'; the quirk function may narrow further. */
  devices: IdList;
  kind: AcsQuirkKind;
  /** Where the rule lives: file and function. */
  source: string;
  note: string;
  /** Not in v6.1.0; reached 6.1.y by a stable backport (detail doc †). */
  backport?: true;
  /** Not in any kernel.org tree: the pcie_acs_override patch of Arch/Zen/Proxmox kernels. */
  outOfTree?: true;
}

const Q = 'drivers/pci/quirks.c';
const INTEL = 0x8086;
const QCOM = 0x17cb;
const CAVIUM = 0x177d;
const BROADCOM = 0x14e4;
const ZHAOXIN = 0x1d17;

export const ACS_QUIRK_ROWS: readonly AcsQuirkRow[] = [
  { vendor: 0x1002, devices: [0x4385, 0x439c, 0x4383, 0x439d, 0x4384, 0x4399], kind: 'amd_sb', source: `${Q} pci_quirk_amd_sb_acs`, note: 'ATI SBx00/SB7x0-SB9x0 southbridge functions' },
  { vendor: 0x1022, devices: [0x780f, 0x7809], kind: 'amd_sb', source: `${Q} pci_quirk_amd_sb_acs`, note: 'AMD FCH PCI bridge and OHCI' },
  { vendor: 0x1924, devices: [0x0903, 0x0923, 0x0a03], kind: 'mf_endpoint', source: `${Q} pci_quirk_mf_endpoint_acs`, note: 'Solarflare' },
  {
    vendor: INTEL,
    devices: [0x10c6, 0x10db, 0x10dd, 0x10e1, 0x10f1, 0x10f7, 0x10f8, 0x10f9, 0x10fa, 0x10fb, 0x10fc, 0x1507, 0x1514, 0x151c, 0x1529, 0x152a, 0x154d, 0x154f, 0x1551, 0x1558],
    kind: 'mf_endpoint',
    source: `${Q} pci_quirk_mf_endpoint_acs`,
    note: 'Intel 82598/82599/X520 10GbE',
  },
  { vendor: INTEL, devices: [0x1509, 0x150e, 0x150f, 0x1510, 0x1511, 0x1516, 0x1527], kind: 'mf_endpoint', source: `${Q} pci_quirk_mf_endpoint_acs`, note: 'Intel 82580' },
  { vendor: INTEL, devices: [0x10c9, 0x10e6, 0x10e7, 0x10e8, 0x150a, 0x150d, 0x1518, 0x1526], kind: 'mf_endpoint', source: `${Q} pci_quirk_mf_endpoint_acs`, note: 'Intel 82576' },
  { vendor: INTEL, devices: [0x10a7, 0x10a9, 0x10d6], kind: 'mf_endpoint', source: `${Q} pci_quirk_mf_endpoint_acs`, note: 'Intel 82575' },
  { vendor: INTEL, devices: [0x1521, 0x1522, 0x1523, 0x1524], kind: 'mf_endpoint', source: `${Q} pci_quirk_mf_endpoint_acs`, note: 'Intel I350' },
  { vendor: INTEL, devices: [0x105e, 0x105f, 0x1060, 0x10d9], kind: 'mf_endpoint', source: `${Q} pci_quirk_mf_endpoint_acs`, note: 'Intel 82571 (quad-port parts left out: non-ACS switch inside)' },
  { vendor: INTEL, devices: [0x15b7, 0x15b8], kind: 'mf_endpoint', source: `${Q} pci_quirk_mf_endpoint_acs`, note: 'Intel I219' },
  { vendor: INTEL, devices: 'any', kind: 'rciep', source: `${Q} pci_quirk_rciep_acs`, note: 'every Intel Root Complex Integrated Endpoint' },
  { vendor: QCOM, devices: [0x0400, 0x0401], kind: 'qcom_rp', source: `${Q} pci_quirk_qcom_rp_acs`, note: 'QCOM QDF2xxx root ports' },
  { vendor: QCOM, devices: [0x0115], kind: 'qcom_rp', source: `${Q} pci_quirk_qcom_rp_acs`, note: 'QCOM SA8775P root port', backport: true },
  { vendor: QCOM, devices: [0x0111, 0x0120], kind: 'qcom_rp', source: `${Q} pci_quirk_qcom_rp_acs`, note: 'QCOM Hamoa and Glymur root ports (in Debian 6.1.192, not yet in 6.1.166)', backport: true },
  { vendor: 0x1dbf, devices: [0x0401], kind: 'qcom_rp', source: `${Q} pci_quirk_qcom_rp_acs`, note: 'HXT SD4800 root ports' },
  { vendor: INTEL, devices: 'any', kind: 'intel_pch', source: `${Q} pci_quirk_intel_pch_acs`, note: 'PCH root ports in INTEL_PCH_ACS_ROOT_PORTS' },
  { vendor: INTEL, devices: 'any', kind: 'intel_spt_pch', source: `${Q} pci_quirk_intel_spt_pch_acs`, note: 'root ports in INTEL_SPT_ACS_ROOT_PORTS with an ACS capability' },
  { vendor: 0x19a2, devices: [0x0710], kind: 'mf_endpoint', source: `${Q} pci_quirk_mf_endpoint_acs`, note: 'Emulex BE3-R' },
  { vendor: 0x10df, devices: [0x0720], kind: 'mf_endpoint', source: `${Q} pci_quirk_mf_endpoint_acs`, note: 'Emulex Skyhawk-R' },
  // The out-of-tree patch inserts its catch-all row right after the Emulex rows, so only
  // the rows above can decide before it (linux-iommu-reference-detail.md §1.6).
  { vendor: 'any', devices: 'any', kind: 'acs_override', source: 'pcie_acs_override patch (out of tree) pcie_acs_overrides', note: 'pcie_acs_override= id:/downstream/multifunction', outOfTree: true },
  { vendor: CAVIUM, devices: 'any', kind: 'cavium', source: `${Q} pci_quirk_cavium_acs`, note: 'ThunderX root ports in CAVIUM_ACS_ROOT_PORTS' },
  { vendor: CAVIUM, devices: [0xa026, 0xa059, 0xa060], kind: 'mf_endpoint', source: `${Q} pci_quirk_mf_endpoint_acs`, note: 'Cavium multifunction devices' },
  { vendor: 0x10e8, devices: [0xe004], kind: 'xgene', source: `${Q} pci_quirk_xgene_acs`, note: 'APM X-Gene' },
  { vendor: 0x1def, devices: [[0xe005, 0xe00c]], kind: 'xgene', source: `${Q} pci_quirk_xgene_acs`, note: 'Ampere Computing' },
  { vendor: BROADCOM, devices: [0x16d7], kind: 'mf_endpoint', source: `${Q} pci_quirk_mf_endpoint_acs`, note: 'Broadcom multifunction device' },
  { vendor: BROADCOM, devices: [0x1750, 0x1751, 0x1752, 0x1760, 0x1761, 0x1762, 0x1763], kind: 'mf_endpoint', source: `${Q} pci_quirk_mf_endpoint_acs`, note: 'Broadcom BCM5760X NICs', backport: true },
  { vendor: BROADCOM, devices: [0xd714], kind: 'brcm', source: `${Q} pci_quirk_brcm_acs`, note: 'Broadcom iProc PAXB root port' },
  {
    vendor: 0x0014,
    devices: [0x3c09, 0x3c19, 0x3c29, 0x7a09, 0x7a19, 0x7a29, 0x7a39, 0x7a49, 0x7a59, 0x7a69],
    kind: 'loongson',
    source: `${Q} pci_quirk_loongson_acs`,
    note: 'Loongson root ports',
  },
  { vendor: 0x1c36, devices: [0x0031], kind: 'al', source: `${Q} pci_quirk_al_acs`, note: 'Amazon Annapurna Labs' },
  { vendor: ZHAOXIN, devices: [0x3038, 0x3104, 0x9083], kind: 'mf_endpoint', source: `${Q} pci_quirk_mf_endpoint_acs`, note: 'Zhaoxin multifunction devices' },
  {
    vendor: 0x1957,
    devices: [[0x8d80, 0x8d83], [0x8d88, 0x8d8b], [0x8d90, 0x8d93], [0x8d98, 0x8d9b], 0x8da0, 0x8da1, 0x8da8, 0x8da9, 0x8db0, 0x8db1, 0x8db8, 0x8db9],
    kind: 'nxp_rp',
    source: `${Q} pci_quirk_nxp_rp_acs`,
    note: 'NXP LX2xx0/LX2xx2 root ports',
  },
  { vendor: ZHAOXIN, devices: 'any', kind: 'zhaoxin_ports', source: `${Q} pci_quirk_zhaoxin_pcie_ports_acs`, note: 'Zhaoxin root/downstream ports' },
  { vendor: 0x8088, devices: 'any', kind: 'wangxun', source: `${Q} pci_quirk_wangxun_nic_acs`, note: 'Wangxun NICs', backport: true },
];

export interface AcsQuirkDecision {
  verdict: 'pass' | 'fail';
  /** For `explain`: "Intel PCH root port quirk (drivers/pci/quirks.c pci_quirk_intel_pch_acs)". */
  name: string;
  row: AcsQuirkRow;
  /** Position of the row in ACS_QUIRK_ROWS. */
  index: number;
}

function rowMatches(row: AcsQuirkRow, vendor: number, device: number): boolean {
  return (row.vendor === 'any' || row.vendor === vendor) && idInList(device, row.devices);
}

export function acsQuirkRowName(row: AcsQuirkRow): string {
  return `${ACS_QUIRK_LABELS[row.kind]} (${row.source})`;
}

/** Grouping asks about every function and bridge, many times over: the rows an ID matches,
 * in table order, are found once per ID, and each row's two decisions are made once. */
const rowsMatching = memoizeById((vendor, device): readonly number[] => ACS_QUIRK_ROWS.flatMap((row, index) => (rowMatches(row, vendor, device) ? [index] : [])));
const DECISIONS: ReadonlyArray<Readonly<Record<'pass' | 'fail', AcsQuirkDecision>>> = ACS_QUIRK_ROWS.map((row, index) => {
  const name = acsQuirkRowName(row);
  return { pass: { verdict: 'pass', name, row, index }, fail: { verdict: 'fail', name, row, index } };
});

/**
 * pci_dev_specific_acs_enabled(dev, want): the verdict of the first matching row whose
 * quirk answers, or undefined when no quirk does (the standard ACS test applies then).
 */
export function acsQuirkVerdict(dev: AcsSubject, want: number, ctx: AcsContext): AcsQuirkDecision | undefined {
  for (const index of rowsMatching(dev.vendor, dev.device)) {
    const answer = ACS_QUIRK_EVALUATORS[ACS_QUIRK_ROWS[index]!.kind](dev, want, ctx);
    if (answer === undefined) continue;
    return DECISIONS[index]![answer ? 'pass' : 'fail'];
  }
  return undefined;
}

/** The name of the quirk that decides, or undefined. */
export function acsQuirkName(dev: AcsSubject, want: number, ctx: AcsContext): string | undefined {
  return acsQuirkVerdict(dev, want, ctx)?.name;
}

/**
 * pci_dev_specific_enable_acs: which quirk switches ACS on for this device instead of the
 * standard path (pci_std_enable_acs is then skipped).
 * - 'intel_pch': a listed PCH Root Port (no ACS capability). The quirk programs chipset
 *   registers; no ACS control changes. Whether it worked decides the intel_pch verdict
 *   (AcsContext.intelPchEnableFails). The standard path is skipped even when it fails.
 * - 'intel_spt': a listed SPT/UPT Root Port with an ACS capability. The quirk ORs
 *   cap & (SV|RR|CR|UF) (plus TB under pci=noats) into the dword at cap + 8 (see
 *   intelSptEnabledCtrl); the standard control word at cap + 6 keeps its firmware value.
 * Both run only when an IOMMU driver requested ACS (pci_acs_enable).
 */
export function acsEnableQuirk(
  dev: Pick<AcsSubject, 'vendor' | 'device' | 'pcieType' | 'acsCap'>,
): 'intel_pch' | 'intel_spt' | undefined {
  if (dev.vendor !== INTEL || dev.pcieType !== PCI_EXP_TYPE.ROOT_PORT) return undefined;
  if (idInList(dev.device, INTEL_PCH_ACS_ROOT_PORTS)) return 'intel_pch';
  if (idInList(dev.device, INTEL_SPT_ACS_ROOT_PORTS) && dev.acsCap !== null) return 'intel_spt';
  return undefined;
}

/**
 * pci_quirk_enable_intel_spt_pch_acs: the control dword at cap + 8 after the quirk ran,
 * from its firmware value. `addTb` is pci=noats (or an external-facing/untrusted port).
 */
export function intelSptEnabledCtrl(cap: number, firmwareCtrl: number, addTb: boolean): number {
  let ctrl = firmwareCtrl | (cap & (ACS.sv | ACS.rr | ACS.cr | ACS.uf));
  if (addTb) ctrl |= cap & ACS.tb;
  return ctrl;
}
