// Reading facts back out of a config space image, as the kernel does at probe time
// (drivers/pci/pci.c pci_find_capability / pci_find_ext_capability, probe.c, pci-sysfs.c).

export const CAP_ID = { PM: 0x01, MSI: 0x05, EXP: 0x10, MSIX: 0x11 } as const;
export const EXT_CAP_ID = { AER: 0x0001, DSN: 0x0003, ACS: 0x000d, ARI: 0x000e, SRIOV: 0x0010, PASID: 0x001b } as const;

function u16(b: Uint8Array, off: number): number {
  return (b[off] ?? 0) | ((b[off + 1] ?? 0) << 8);
}

function u32(b: Uint8Array, off: number): number {
  return (u16(b, off) | (u16(b, off + 2) << 16)) >>> 0;
}

export function findCap(b: Uint8Array, id: number): number | undefined {
  if (!(u16(b, 0x06) & 0x10)) return undefined;
  let ptr = (b[0x34] ?? 0) & 0xfc;
  for (let ttl = 48; ptr >= 0x40 && ttl > 0; ttl--) {
    if (b[ptr] === id) return ptr;
    ptr = (b[ptr + 1] ?? 0) & 0xfc;
  }
  return undefined;
}

export function findExtCap(b: Uint8Array, id: number): number | undefined {
  if (b.length <= 0x100) return undefined;
  let off = 0x100;
  for (let ttl = (4096 - 256) / 8; off >= 0x100 && ttl > 0; ttl--) {
    const header = u32(b, off);
    if (header === 0) return undefined;
    if ((header & 0xffff) === id) return off;
    off = (header >>> 20) & 0xffc;
  }
  return undefined;
}

const SPEEDS = ['Unknown', '2.5 GT/s PCIe', '5.0 GT/s PCIe', '8.0 GT/s PCIe', '16.0 GT/s PCIe', '32.0 GT/s PCIe', '64.0 GT/s PCIe'];

/**
 * pci.c pcie_get_speed_cap: the highest speed in LNKCAP2's Supported Link Speeds Vector when
 * the register is implemented (capability version 2) and not zero; otherwise LNKCAP, where
 * only 2.5 and 5.0 GT/s are understood (PCIe r2.x), anything else is unknown.
 */
function speedCap(b: Uint8Array, exp: number, lnkcap: number): number {
  const lnkcap2 = (u16(b, exp + 2) & 0xf) >= 2 ? u32(b, exp + 0x2c) : 0;
  if (lnkcap2 !== 0) {
    for (let code = 6; code >= 1; code--) if (lnkcap2 & (1 << code)) return code;
    return 0;
  }
  const sls = lnkcap & 0xf;
  return sls === 1 || sls === 2 ? sls : 0;
}

/**
 * pci-sysfs.c max_link_speed_show (pcie_get_speed_cap), max_link_width_show
 * (pcie_get_width_cap), current_link_speed_show and current_link_width_show (LNKSTA), with
 * pci_speed_string's words. Root Complex integrated endpoints and event collectors have no
 * link registers (pci.c pcie_cap_has_lnkctl), so they read as zero: the speeds print
 * "Unknown" and a zero LNKCAP gives PCIE_LNK_WIDTH_UNKNOWN (255).
 */
export function linkInfo(b: Uint8Array, pcieType: number | null): { maxSpeed: string; maxWidth: number; curSpeed: string; curWidth: number } | undefined {
  const exp = findCap(b, CAP_ID.EXP);
  if (exp === undefined) return undefined;
  const hasLink = pcieType !== 0x9 && pcieType !== 0xa;
  const lnkcap = hasLink ? u32(b, exp + 0x0c) : 0;
  const lnksta = hasLink ? u16(b, exp + 0x12) : 0;
  return {
    maxSpeed: SPEEDS[hasLink ? speedCap(b, exp, lnkcap) : 0] ?? 'Unknown',
    maxWidth: lnkcap === 0 ? 255 : (lnkcap >> 4) & 0x3f,
    curSpeed: SPEEDS[lnksta & 0xf] ?? 'Unknown',
    curWidth: (lnksta >> 4) & 0x3f,
  };
}

/** Device Capabilities: Function Level Reset (pcie_has_flr). */
export function hasFlr(b: Uint8Array): boolean {
  const exp = findCap(b, CAP_ID.EXP);
  return exp !== undefined && (u32(b, exp + 4) & (1 << 28)) !== 0;
}

/** pci_pm_reset is possible when the PM capability does not advertise No_Soft_Reset. */
export function hasPmReset(b: Uint8Array): boolean {
  const pm = findCap(b, CAP_ID.PM);
  return pm !== undefined && (u16(b, pm + 4) & 0x8) === 0;
}

export function hasMsiOrMsix(b: Uint8Array): boolean {
  return findCap(b, CAP_ID.MSI) !== undefined || findCap(b, CAP_ID.MSIX) !== undefined;
}

/** DEVCTL2 ARI Forwarding Enable (pci_configure_ari sets it with bridge->ari_enabled). */
export function ariForwardingEnabled(b: Uint8Array): boolean {
  const exp = findCap(b, CAP_ID.EXP);
  return exp !== undefined && (u16(b, exp + 0x28) & 0x20) !== 0;
}
