// Standard capabilities (the chain from 0x34): their ids, sizes and register contents.
// Layouts follow include/uapi/linux/pci_regs.h; the values are what QEMU 7.2's models
// present before a driver touches them (hw/pci/pcie.c, msi.c, msix.c, pci_bridge.c,
// shpc.c, slotid_cap.c, hw/virtio/virtio-pci.c), as seen in test/fixtures/reference.

import { ConfigImage } from './image';

export const CAP = {
  PM: 0x01,
  SLOTID: 0x04,
  MSI: 0x05,
  VNDR: 0x09,
  SHPC: 0x0c,
  SSVID: 0x0d,
  EXP: 0x10,
  MSIX: 0x11,
  SATA: 0x12,
} as const;

/** What a PCI Express capability says about the function and its link. */
export interface ExpParams {
  /** 1 (a 0x14-byte structure, as QEMU's e1000e) or 2 (0x3c bytes). */
  version: 1 | 2;
  type: number;
  slotImplemented: boolean;
  physicalSlot: number;
  portNumber: number;
  flr: boolean;
  /** LNKCAP speed code (1 = 2.5 GT/s .. 4 = 16 GT/s; 0 leaves the field empty) and width. */
  linkSpeed: number;
  linkWidth: number;
  /** LNKCAP b20 (DLL Link Active reporting) and b21 (link bandwidth notification). */
  linkActiveReporting: boolean;
  /** LNKSTA: current speed code and negotiated width (0: the link is down). */
  statusSpeed: number;
  statusWidth: number;
  /** LNKSTA b12 Slot Clock Configuration, b13 Data Link Layer Link Active. */
  slotClock: boolean;
  dlActive: boolean;
  /** SLTSTA b6 Presence Detect State. */
  presence: boolean;
  /** SLTCAP hot-plug capable (with the controls and indicators a hot-plug slot has). */
  hotplug: boolean;
  /** Real hardware, not a QEMU model: LNKCAP2 always, a slot power limit, no interlock. */
  hardware: boolean;
  ariForwardingSupported: boolean;
  ariForwardingEnabled: boolean;
  /** DEVCTL error reporting enables (b3:0), which the AER service turns on for ports. */
  errorReportingEnabled: boolean;
}

export type StdCap =
  /** pmc: the PM Capabilities register (b2:0 version, b5 device-specific init, ...). */
  | { kind: 'pm'; noSoftReset: boolean; pmc: number }
  /** vectors: Multiple Message Capable (1, 2, 4 .. 32; default 1). */
  | { kind: 'msi'; is64: boolean; perVectorMask: boolean; vectors?: number }
  | { kind: 'msix'; tableSize: number; bir: number; tableOffset: number; pbaOffset: number }
  | { kind: 'exp' }
  | { kind: 'ssvid' }
  | { kind: 'shpc' }
  | { kind: 'slotid' }
  | { kind: 'sata' }
  /** virtio 1.0 "virtio_pci_cap": cfg type 1 common, 2 notify, 3 ISR, 4 device, 5 PCI cfg access. */
  | { kind: 'virtio'; cfgType: number; bar: number; offset: number; length: number };

export type PlacedStdCap = StdCap & { at: number };

const PCI_EXP_TYPE_ROOT_PORT = 4;
const PCI_EXP_TYPE_RC_EC = 0xa;

export interface StdContext {
  subsystem: { vendor: number; device: number };
  /** Chassis number for the slot numbering capability. */
  chassis: number;
  exp: ExpParams | null;
}

export function writeStdCap(img: ConfigImage, cap: PlacedStdCap, ctx: StdContext): void {
  const at = cap.at;
  switch (cap.kind) {
    case 'pm':
      img.stdCap(at, CAP.PM);
      img.u16(at + 2, cap.pmc);
      // PMCSR b3 No_Soft_Reset: the function keeps its state across D3hot->D0, so Linux
      // cannot use it for a PM reset (drivers/pci/pci.c pci_pm_reset).
      img.u16(at + 4, cap.noSoftReset ? 0x0008 : 0);
      return;
    case 'msi':
      img.stdCap(at, CAP.MSI);
      // +2 control: b3:1 Multiple Message Capable (log2 of the vectors), b7 64-bit, b8 per-vector masking.
      img.u16(at + 2, (Math.log2(cap.vectors ?? 1) << 1) | (cap.is64 ? 0x80 : 0) | (cap.perVectorMask ? 0x100 : 0));
      return;
    case 'msix':
      img.stdCap(at, CAP.MSIX);
      img.u16(at + 2, (cap.tableSize - 1) & 0x7ff);
      img.u32(at + 4, ((cap.tableOffset & ~0x7) | (cap.bir & 0x7)) >>> 0);
      img.u32(at + 8, ((cap.pbaOffset & ~0x7) | (cap.bir & 0x7)) >>> 0);
      return;
    case 'ssvid':
      img.stdCap(at, CAP.SSVID);
      img.u16(at + 4, ctx.subsystem.vendor);
      img.u16(at + 6, ctx.subsystem.device);
      return;
    case 'shpc':
      // SHPC: DWORD select at +2, pending at +3, the selected DWORD at +4 (shpc.c).
      img.stdCap(at, CAP.SHPC);
      return;
    case 'slotid':
      // Slot numbering: +2 expansion slot register (b4:0 slots, b5 first in chassis), +3 chassis.
      img.stdCap(at, CAP.SLOTID);
      img.u8(at + 2, 0x20);
      img.u8(at + 3, ctx.chassis);
      return;
    case 'sata':
      // SATA capability: revision 1.0, BAR offset/index register (b3:0 = 8: in-config access).
      img.stdCap(at, CAP.SATA);
      img.u16(at + 2, 0x0010);
      img.u32(at + 4, 0x48);
      return;
    case 'virtio': {
      img.stdCap(at, CAP.VNDR);
      const len = cap.cfgType === 2 ? 0x14 : 0x10;
      img.u8(at + 2, len);
      img.u8(at + 3, cap.cfgType);
      if (cap.cfgType === 5) {
        // The PCI configuration access window carries no BAR of its own.
        img.u8(at + 2, 0x14);
        return;
      }
      img.u8(at + 4, cap.bar);
      img.u32(at + 8, cap.offset);
      img.u32(at + 12, cap.length);
      if (cap.cfgType === 2) img.u32(at + 16, 4); // notify_off_multiplier
      return;
    }
    case 'exp':
      if (!ctx.exp) throw new Error('a PCI Express capability needs PCIe parameters');
      writeExp(img, at, ctx.exp);
      return;
  }
}

function writeExp(img: ConfigImage, at: number, e: ExpParams): void {
  img.stdCap(at, CAP.EXP);
  // +2 flags: b3:0 version, b7:4 device/port type, b8 slot implemented.
  img.u16(at + 2, (e.version & 0xf) | ((e.type & 0xf) << 4) | (e.slotImplemented ? 0x100 : 0));
  // +4 DEVCAP: 128-byte max payload, b15 role-based error reporting, b28 FLR.
  img.u32(at + 4, (0x8000 | (e.flr ? 1 << 28 : 0)) >>> 0);
  img.u16(at + 8, e.errorReportingEnabled ? 0x000f : 0);
  // +0xc LNKCAP: speed b3:0, width b9:4, ASPM L0s b10, b20/b21 as asked, port number b31:24.
  const lnkcap =
    (e.linkSpeed & 0xf) |
    ((e.linkWidth & 0x3f) << 4) |
    0x400 |
    (e.linkActiveReporting ? (1 << 20) | (1 << 21) : 0) |
    ((e.portNumber & 0xff) << 24);
  img.u32(at + 0x0c, lnkcap >>> 0);
  // +0x12 LNKSTA: speed b3:0, negotiated width b9:4, slot clock b12, DL active b13.
  img.u16(at + 0x12, (e.statusSpeed & 0xf) | ((e.statusWidth & 0x3f) << 4) | (e.slotClock ? 0x1000 : 0) | (e.dlActive ? 0x2000 : 0));
  if (e.version === 1) return;
  if (e.slotImplemented) img.u32(at + 0x14, sltcap(e));
  if (e.slotImplemented && e.hotplug) {
    // +0x18 SLTCTL: attention indicator off, power indicator on.
    img.u16(at + 0x18, 0x01c0);
  }
  // +0x1a SLTSTA b6: a card is present.
  if (e.slotImplemented && e.presence) img.u16(at + 0x1a, 0x0040);
  // +0x24 DEVCAP2: b5 ARI forwarding supported; b20/b21 extended fmt field and end-end TLP
  // prefix support, which QEMU sets on every v2 capability.
  img.u32(at + 0x24, ((e.ariForwardingSupported ? 0x20 : 0) | 0x300000) >>> 0);
  // +0x28 DEVCTL2 b5: ARI forwarding enabled (pci_configure_ari turns it on on the bridge).
  img.u16(at + 0x28, e.ariForwardingSupported && e.ariForwardingEnabled ? 0x20 : 0);
  if (e.hardware || e.type === PCI_EXP_TYPE_ROOT_PORT || e.type === PCI_EXP_TYPE_RC_EC || e.linkSpeed > 1) {
    // +0x2c LNKCAP2 supported speeds vector (b1 = 2.5 GT/s ..), +0x30 LNKCTL2 target speed.
    const top = Math.max(1, e.linkSpeed);
    img.u32(at + 0x2c, ((1 << (top + 1)) - 2) & 0xfe);
    img.u16(at + 0x30, top);
  }
}

/**
 * +0x14 SLTCAP, physical slot number in b31:19. QEMU's slots (always hot-plug capable):
 * attention button, power controller, attention/power indicators, hot-plug surprise and
 * capable (0x7b) and an electromechanical interlock (b17). Real hardware: a hot-plug slot
 * has power control, indicators, surprise and capable (0x7a), no interlock; every slot states
 * its power limit (b14:7 value, b16:15 scale 1.0x): 75 W for a x16 slot, 25 W below.
 */
function sltcap(e: ExpParams): number {
  const psn = (e.physicalSlot & 0x1fff) << 19;
  if (!e.hardware) return ((e.hotplug ? 0x7b | 0x20000 : 0) | psn) >>> 0;
  const watts = e.linkWidth >= 16 ? 75 : 25;
  return ((e.hotplug ? 0x7a : 0) | (watts << 7) | psn) >>> 0;
}
