// What each ACS quirk function in Linux 6.1.y drivers/pci/quirks.c answers, one evaluator
// per function. An evaluator returns true (the kernel's 1: PASS), false (0: FAIL) or
// undefined (-ENOTTY/-ENODEV: "not mine", the table scan goes on).

import { ACS } from '../../topology/model';
import type { AcsOverride } from '../../topology/model';
import { PCI_EXP_TYPE } from '../pcie-type';
import {
  CAVIUM_ACS_ROOT_PORTS,
  INTEL_PCH_ACS_ROOT_PORTS,
  INTEL_SPT_ACS_ROOT_PORTS,
  WANGXUN_ACS_NICS,
  ZHAOXIN_ACS_PORTS,
} from './acs-quirk-ids';
import { idInList } from './id-list';

/** The facts about one PCI function that the ACS quirks look at. */
export interface AcsSubject {
  vendor: number;
  device: number;
  /**
   * PCI_EXP_TYPE_* code (0..0xa) from the PCI Express capability, or null when the
   * function has none (conventional PCI). null also stands for "not PCIe" in the quirks
   * that check pci_is_pcie().
   */
  pcieType: number | null;
  /** dev->multifunction: the header-type bit, or forced for fn > 0 (probe.c pci_scan_slot). */
  multifunction: boolean;
  /** pci_is_root_bus(dev->bus): the function sits on a host bridge's root bus. */
  onRootBus: boolean;
  /** ACS capability register (bits as in ACS from topology/model), or null for no ACS capability. */
  acsCap: number | null;
  /**
   * ACS control bits in force after boot. For an Intel SPT/UPT Root Port (see
   * acsEnableQuirk) this is the dword at capability + 8 that the quirks use, not the
   * standard word at + 6.
   */
  acsCtrl: number;
}

export interface AcsContext {
  /** An ACPI IVRS table exists (AMD IOMMU present); the AMD southbridge quirk needs it. */
  ivrsPresent: boolean;
  /**
   * The Intel PCH enable quirk did not mark the port (pci_quirk_enable_intel_pch_acs
   * failed, or never ran because no IOMMU driver requested ACS). The PCH verdict is then
   * FAIL. Default false: the enable quirk worked.
   */
  intelPchEnableFails?: boolean;
  /** pcie_acs_override= from the command line (out-of-tree patch). */
  acsOverride: AcsOverride;
}

export type AcsQuirkKind =
  | 'amd_sb'
  | 'mf_endpoint'
  | 'rciep'
  | 'qcom_rp'
  | 'intel_pch'
  | 'intel_spt_pch'
  | 'cavium'
  | 'xgene'
  | 'brcm'
  | 'loongson'
  | 'al'
  | 'nxp_rp'
  | 'zhaoxin_ports'
  | 'wangxun'
  | 'acs_override';

type Evaluator = (dev: AcsSubject, want: number, ctx: AcsContext) => boolean | undefined;

/** The ACS bits most of these quirks claim: SV, RR, CR and UF. */
const SV_RR_CR_UF = ACS.sv | ACS.rr | ACS.cr | ACS.uf;

/** pci_acs_ctrl_enabled: every requested bit is provided. */
export function ctrlEnabled(want: number, provided: number): boolean {
  return (want & provided) === want;
}

const isPort = (d: AcsSubject): boolean =>
  d.pcieType === PCI_EXP_TYPE.ROOT_PORT || d.pcieType === PCI_EXP_TYPE.DOWNSTREAM;

/** Quirks that claim SV|RR|CR|UF for every device their rows list. */
const claimsSvRrCrUf: Evaluator = (_d, want) => ctrlEnabled(want, SV_RR_CR_UF);

export const ACS_QUIRK_EVALUATORS: Record<AcsQuirkKind, Evaluator> = {
  // pci_quirk_amd_sb_acs: only multifunction devices on the root bus, only with IVRS.
  amd_sb: (d, want, ctx) => {
    if (!d.multifunction || !d.onRootBus || !ctx.ivrsPresent) return undefined;
    return ctrlEnabled(want & (ACS.rr | ACS.cr | ACS.ec | ACS.dt), ACS.rr | ACS.cr);
  },
  // pci_quirk_mf_endpoint_acs: vendor-verified no peer-to-peer between functions; no type check.
  mf_endpoint: (_d, want) =>
    ctrlEnabled(want, ACS.sv | ACS.tb | ACS.rr | ACS.cr | ACS.uf | ACS.dt),
  // pci_quirk_rciep_acs: Intel RCiEPs may only do peer-to-peer on translated addresses (VT-d 3.16).
  rciep: (d, want) => (d.pcieType === PCI_EXP_TYPE.RC_END ? ctrlEnabled(want, SV_RR_CR_UF) : undefined),
  qcom_rp: claimsSvRrCrUf,
  // pci_quirk_intel_pch_acs: the verdict depends on whether the enable quirk marked the port.
  intel_pch: (d, want, ctx) => {
    if (d.pcieType !== PCI_EXP_TYPE.ROOT_PORT || !idInList(d.device, INTEL_PCH_ACS_ROOT_PORTS)) return undefined;
    return ctrlEnabled(want, ctx.intelPchEnableFails ? 0 : SV_RR_CR_UF);
  },
  // pci_quirk_intel_spt_pch_acs: the standard test, but on the misplaced control dword.
  intel_spt_pch: (d, want) => {
    if (d.pcieType !== PCI_EXP_TYPE.ROOT_PORT || !idInList(d.device, INTEL_SPT_ACS_ROOT_PORTS)) return undefined;
    if (d.acsCap === null) return undefined;
    return ctrlEnabled(want & (d.acsCap | ACS.ec), d.acsCtrl);
  },
  cavium: (d, want) => {
    if (d.pcieType !== PCI_EXP_TYPE.ROOT_PORT || !idInList(d.device, CAVIUM_ACS_ROOT_PORTS)) return undefined;
    return ctrlEnabled(want, SV_RR_CR_UF);
  },
  xgene: claimsSvRrCrUf,
  brcm: claimsSvRrCrUf,
  loongson: claimsSvRrCrUf,
  // pci_quirk_al_acs: Root Ports only; SV|RR|CR|UF masked out, anything else requested fails.
  al: (d, want) => (d.pcieType === PCI_EXP_TYPE.ROOT_PORT ? (want & ~SV_RR_CR_UF) === 0 : undefined),
  nxp_rp: claimsSvRrCrUf,
  // pci_quirk_zhaoxin_pcie_ports_acs: unlisted ports FAIL even with a real ACS capability.
  zhaoxin_ports: (d, want) => {
    if (!isPort(d)) return undefined;
    return idInList(d.device, ZHAOXIN_ACS_PORTS) ? ctrlEnabled(want, SV_RR_CR_UF) : false;
  },
  // pci_quirk_wangxun_nic_acs: any function type; unlisted devices FAIL.
  wangxun: (d, want) => (idInList(d.device, WANGXUN_ACS_NICS) ? ctrlEnabled(want, SV_RR_CR_UF) : false),
  // pcie_acs_overrides (out-of-tree patch): never for conventional PCI or a real ACS capability.
  acs_override: (d, _want, ctx) => {
    if (d.pcieType === null || d.acsCap !== null) return undefined;
    const o = ctx.acsOverride;
    if (o.ids.some((id) => id.vendor === d.vendor && id.device === d.device)) return true;
    if (isPort(d)) return o.downstream ? true : undefined;
    switch (d.pcieType) {
      case PCI_EXP_TYPE.ENDPOINT:
      case PCI_EXP_TYPE.UPSTREAM:
      case PCI_EXP_TYPE.LEG_END:
      case PCI_EXP_TYPE.RC_END:
        return o.multifunction && d.multifunction ? true : undefined;
      default:
        return undefined;
    }
  },
};

/** Words for `explain`, one per kind. */
export const ACS_QUIRK_LABELS: Record<AcsQuirkKind, string> = {
  amd_sb: 'AMD/ATI southbridge multifunction quirk',
  mf_endpoint: 'multifunction device without internal peer-to-peer quirk',
  rciep: 'Intel RCiEP quirk',
  qcom_rp: 'QCOM/HXT root port quirk',
  intel_pch: 'Intel PCH root port quirk',
  intel_spt_pch: 'Intel Sunrise/Union Point root port quirk (ACS control at cap+8)',
  cavium: 'Cavium ThunderX root port quirk',
  xgene: 'APM X-Gene/Ampere root port quirk',
  brcm: 'Broadcom iProc root port quirk',
  loongson: 'Loongson root port quirk',
  al: 'Amazon Annapurna Labs root port quirk',
  nxp_rp: 'NXP LX2xxx root port quirk',
  zhaoxin_ports: 'Zhaoxin root/downstream port quirk',
  wangxun: 'Wangxun NIC quirk',
  acs_override: 'pcie_acs_override= override (out-of-tree patch; isolation assumed, not real)',
};
