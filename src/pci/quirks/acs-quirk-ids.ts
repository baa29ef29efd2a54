// Device ID lists that ACS quirks check inside their match functions (the table rows
// for these quirks say PCI_ANY_ID). Read from Linux 6.1.y drivers/pci/quirks.c.

import type { IdList } from './id-list';

/**
 * pci_quirk_intel_pch_acs_ids: Intel PCH Root Ports without an ACS capability whose
 * peer-to-peer blocking Linux switches on by hand (Red Hat bugzilla 1037684).
 */
export const INTEL_PCH_ACS_ROOT_PORTS: IdList = [
  [0x3b42, 0x3b51], // Ibexpeak
  [0x1c10, 0x1c1f], // Cougarpoint
  [0x1e10, 0x1e1f], // Pantherpoint
  [0x8c10, 0x8c1f], // Lynxpoint-H
  [0x9c10, 0x9c1b], // Lynxpoint-LP
  [0x9c90, 0x9c9b], // Wildcat
  0x1d10, 0x1d12, 0x1d14, 0x1d16, 0x1d18, 0x1d1a, 0x1d1c, 0x1d1e, // Patsburg (X79)
  [0x8d10, 0x8d1e], // Wellsburg (X99)
  0x8c90, 0x8c92, 0x8c94, 0x8c96, 0x8c98, 0x8c9a, 0x8c9c, 0x8c9e, // Lynx Point 9 series
];

/**
 * pci_quirk_intel_spt_pch_acs_match: Root Ports whose ACS control register sits in a
 * dword at capability + 8 instead of the word at + 6 (100/200-series PCH errata).
 */
export const INTEL_SPT_ACS_ROOT_PORTS: IdList = [
  [0xa110, 0xa11f], // Sunrise Point-H
  [0xa167, 0xa16a], // Sunrise Point-H
  [0xa290, 0xa29f], // Union Point
  [0xa2e7, 0xa2ee], // Union Point
  [0x9d10, 0x9d1b], // 7th/8th generation mobile
];

/** pci_quirk_cavium_acs_match: ThunderX1 (all of them), ThunderX2 and ThunderX3 Root Ports. */
export const CAVIUM_ACS_ROOT_PORTS: IdList = [[0xa000, 0xa7ff], 0xaf84, 0xb884];

/**
 * pci_quirk_zhaoxin_pcie_ports_acs: Root and Downstream Ports that block peer-to-peer
 * without an ACS capability. Every other Zhaoxin port gets a FAIL from the quirk.
 */
export const ZHAOXIN_ACS_PORTS: IdList = [[0x0710, 0x071e], 0x0721, [0x0723, 0x0752]];

/**
 * pci_quirk_wangxun_nic_acs: NIC functions that route peer traffic upstream
 * (EM 1G, SP 10G, AML 25/40G). Every other Wangxun function gets a FAIL.
 */
export const WANGXUN_ACS_NICS: IdList = [
  [0x0100, 0x010f], // EM
  0x1001, 0x2001, // SP
  0x5010, 0x5025, 0x5040, 0x5110, 0x5125, 0x5140, // AML
];
