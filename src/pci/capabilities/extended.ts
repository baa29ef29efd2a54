// Extended capabilities (the chain from 0x100 in PCI Express config space). Register
// layouts from include/uapi/linux/pci_regs.h (PCI_ERR_*, PCI_ACS_*, PCI_ARI_*, PCI_SRIOV_*,
// PCI_PASID_*); sizes and defaults as QEMU 7.2 builds them (hw/pci/pcie_aer.c, pcie.c).

import { ConfigImage } from './image';

export const EXT_CAP = {
  AER: 0x0001,
  DSN: 0x0003,
  ACS: 0x000d,
  ARI: 0x000e,
  SRIOV: 0x0010,
  PASID: 0x001b,
} as const;

export type ExtKind = 'aer' | 'dsn' | 'acs' | 'ari' | 'sriov' | 'pasid';

/** Bytes each structure occupies, used when a layout does not place a capability itself. */
export const EXT_SIZE: Record<ExtKind, number> = {
  aer: 0x48, // QEMU's PCI_ERR_SIZEOF (root ports need 0x38 of it)
  dsn: 0x0c,
  acs: 0x08, // without egress control; see acsSize
  ari: 0x08,
  sriov: 0x40,
  pasid: 0x08,
};

export interface SriovRegs {
  total: number;
  initial: number;
  num: number;
  offset: number;
  stride: number;
  vfDevice: number;
  ariHierarchy: boolean;
  vfEnable: boolean;
}

export interface AerOptions {
  /** Multiple header recording capable (QEMU's root and switch ports have it). */
  multiHeader: boolean;
  /** Root error command enables: root ports and event collectors, once the AER service runs. */
  rootCommands: boolean;
}

export function writeAer(img: ConfigImage, at: number, o: AerOptions): void {
  img.extCap(at, EXT_CAP.AER, 2);
  // +0x0c uncorrectable severity: DLP, SDES, FCP, RxOF, MalfTLP fatal (the spec's default).
  img.u32(at + 0x0c, 0x00462030);
  // +0x14 correctable mask: Advisory Non-Fatal, Corrected Internal and Header Log Overflow
  // masked, the spec's defaults.
  img.u32(at + 0x14, 0x0000e000);
  // +0x18 capabilities and control: ECRC generation and check capable, b9 multiple headers.
  img.u32(at + 0x18, o.multiHeader ? 0x2a0 : 0xa0);
  // +0x2c root error command: the AER service enables all three reports (aer.c aer_enable_rootport).
  if (o.rootCommands) img.u32(at + 0x2c, 0x7);
}

export function writeDsn(img: ConfigImage, at: number, serial: bigint): void {
  img.extCap(at, EXT_CAP.DSN);
  img.u32(at + 4, Number(serial & 0xffffffffn));
  img.u32(at + 8, Number((serial >> 32n) & 0xffffffffn));
}

/** ACS with Egress Control carries a vector; size field 0 means 256 bits (32 bytes). */
export function acsSize(cap: number): number {
  return cap & 0x20 ? 0x08 + 0x20 : 0x08;
}

export function writeAcs(img: ConfigImage, at: number, cap: number, ctrl: number): void {
  img.extCap(at, EXT_CAP.ACS);
  // b6:0 are the defined ACS bits (SV TB RR CR UF EC DT); b15:8 (vector size) stays 0.
  img.u16(at + 4, cap & 0x7f);
  img.u16(at + 6, ctrl & cap & 0x7f);
}

export function writeAri(img: ConfigImage, at: number, nextFunction: number): void {
  img.extCap(at, EXT_CAP.ARI);
  img.u16(at + 4, (nextFunction & 0xff) << 8);
}

/** `vfBars`: the six VF BAR registers (+0x24), as firmware or Linux assigned them. */
export function writeSriov(img: ConfigImage, at: number, s: SriovRegs, vfBars: number[] = []): void {
  img.extCap(at, EXT_CAP.SRIOV);
  // +8 control: b0 VF Enable, b3 VF Memory Space Enable (set together by sriov_enable),
  // b4 ARI Capable Hierarchy (set by sriov_init when the bus forwards ARI).
  img.u16(at + 0x08, (s.vfEnable ? 0x9 : 0) | (s.ariHierarchy ? 0x10 : 0));
  img.u16(at + 0x0c, s.initial);
  img.u16(at + 0x0e, s.total);
  img.u16(at + 0x10, s.num);
  img.u16(at + 0x14, s.offset);
  img.u16(at + 0x16, s.stride);
  img.u16(at + 0x1a, s.vfDevice);
  // +0x1c supported page sizes (4K, 8K, 64K, 256K, 1M, 4M as QEMU offers), +0x20 system page size 4K.
  img.u32(at + 0x1c, 0x553);
  img.u32(at + 0x20, 0x1);
  vfBars.forEach((v, i) => img.u32(at + 0x24 + 4 * i, v));
}

export function writePasid(img: ConfigImage, at: number, bits: number): void {
  img.extCap(at, EXT_CAP.PASID);
  // +4 capability: b12:8 max PASID width; execute/privileged modes not offered.
  img.u16(at + 4, (bits & 0x1f) << 8);
}
