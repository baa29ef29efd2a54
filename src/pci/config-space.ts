// A function's config space as the `config` sysfs file shows it: 256 bytes for conventional
// functions, 4096 for PCI Express ones (pci-sysfs.c: the attribute's size is dev->cfg_size,
// which probe.c pci_cfg_space_size makes 4096 only when a PCIe capability is found).
// Layouts follow QEMU 7.2's device models (capabilities/qemu-models.ts), since the ground
// truth is a kernel booted under QEMU (test/fixtures/reference).

import { ConfigImage } from './capabilities/image';
import { EXT_CAP, writeAcs, writeAer, writeAri, writeDsn, writePasid, writeSriov } from './capabilities/extended';
import type { ExtKind, SriovRegs } from './capabilities/extended';
import { extSizeOf, nextFreeStd, placeExt, selectModel, slotHotplugCapable } from './capabilities/layout';
import type { ExtWant, RoleInput } from './capabilities/layout';
import { withTopologyCaps } from './capabilities/overrides';
import { MSIX_TABLE_SIZE_BY_ID } from './capabilities/qemu-models';
import type { Shape } from './capabilities/qemu-models';
import { CAP, writeStdCap } from './capabilities/standard';
import { ioWindowRegs, memWindowRegs, prefWindowRegs } from './resources/registers';
import type { RegisterView } from './resources/view';
import type { ExpParams, PlacedStdCap } from './capabilities/standard';
import type { LinkSpec, MsiSpec, PmSpec } from '../topology/model';
import { overlayRawConfig } from './config-raw';

export { CAP } from './capabilities/standard';
export { EXT_CAP } from './capabilities/extended';
export { roleOf, selectModel } from './capabilities/layout';

/** Everything the image encodes; facts Linux reads back from config space at probe time. */
export interface ConfigFunction {
  vendor: number;
  device: number;
  /** 24-bit class code: base class, subclass, programming interface. */
  classCode: number;
  revision: number;
  /** Type 0: bytes 0x2c/0x2e (default: vendor/device). Type 1: the SSVID capability (default 0/0). */
  subsystem?: { vendor: number; device: number };
  /** 1 for bridges (root/upstream/downstream ports, pci-bridge, pcie-pci-bridge). */
  headerType: 0 | 1;
  /** Header type bit 7. */
  multifunctionBit: boolean;
  pcie: boolean;
  /** PCI_EXP_TYPE_* (0 EP, 1 legacy EP, 4 RP, 5 USP, 6 DSP, 7 PCIe->PCI, 8 PCI->PCIe, 9 RCiEP, 0xa RC-EC). */
  pcieType: number | null;
  primaryBus?: number;
  secondaryBus?: number;
  subordinateBus?: number;
  /** LNKCAP port number (b31:24). */
  portNumber?: number;
  /** Default: true on root and downstream ports, false elsewhere. */
  slotImplemented?: boolean;
  physicalSlot?: number;
  /** Chassis number in a conventional bridge's slot numbering capability (a hardware
   * bridge has that capability only when given one). */
  chassis?: number;
  /** SLTCAP Hot-Plug Capable (or a PCI bridge's SHPC); default: the model's (QEMU's slots
   * are hot-plug capable, real hardware's are not). */
  hotplug?: boolean;
  /** LNKCAP speed and width; default: the model's. */
  linkCap?: LinkSpec;
  /** LNKSTA: the trained link (pci/link.ts); default: the model's (QEMU: 2.5 GT/s x1). */
  linkStatus?: LinkSpec;
  /** The topology's `msi`, `msix` (table size) and `pm` (null: no PM capability). */
  msi?: MsiSpec;
  msixVectors?: number;
  pm?: PmSpec | null;
  /** DEVCAP2 b5; default: the model's (QEMU root and downstream ports have it). */
  ariForwardingSupported?: boolean;
  /** DEVCTL2 b5: Linux turned ARI forwarding on (pci_configure_ari: fn 0 below has ARI). */
  ariForwardingEnabled?: boolean;
  /** ACS extended capability; ctrl is the control register after the kernel enabled bits. */
  acs?: { cap: number; ctrl: number };
  /** ARI extended capability. */
  ari?: { nextFunction: number };
  /** SR-IOV extended capability (ignored on VFs). */
  sriov?: SriovRegs;
  /** PASID extended capability with this max width; 0/undefined = none. */
  pasidBits?: number;
  /** A VF: vendor/device read 0xffff, command 0, no SR-IOV capability, not multifunction. */
  isVf?: boolean;
  /** Default: the model's (0 for host/ISA bridges and switch ports, else 1 = INTA). */
  interruptPin?: number;
  /** Byte 0x3c; default 0. */
  interruptLine?: number;
  /** Command b2, set once a driver enabled the device (pci_set_master). */
  busMaster?: boolean;
  /** A driver turned on MSI-X (or MSI if there is no MSI-X); legacy INTx is then disabled. */
  msiEnabled?: boolean;
  /** AER: default per model (QEMU ports and e1000e have it). */
  aer?: boolean;
  /** Device serial number capability; default per model (e1000e), with this serial. */
  dsn?: bigint;
  /** The serial a model that has the capability carries when `dsn` is not given (default:
   * what QEMU's first NIC gets). */
  modelSerial?: bigint;
  /** DEVCAP Function Level Reset; default per model. */
  flr?: boolean;
  /** PMCSR D-state (0 = D0, 3 = D3hot: vfio-pci suspends idle devices); default 0. */
  dState?: 0 | 1 | 2 | 3;
  /** The topology's `config:` bytes: the image is these, with what the engine owns laid over (config-raw.ts). */
  raw?: Uint8Array;
  /** BARs, ROM BAR and bridge windows as firmware assigned them (resources/assign.ts);
   * absent: all zero and every window closed. */
  resources?: RegisterView;
}

export interface CapabilityRef {
  id: number;
  offset: number;
  extended: boolean;
}

const PCI_EXP_TYPE = { ROOT_PORT: 4, UPSTREAM: 5, DOWNSTREAM: 6, RC_EC: 0xa } as const;
const PORT_TYPES = new Set([4, 5, 6, 7, 8]);
/** QEMU's e1000e derives its serial from the default MAC 52:54:00:12:34:56. */
const DEFAULT_DSN = 0x525400ffff123456n;

export function buildConfigSpace(f: ConfigFunction): Uint8Array {
  const img = new ConfigImage(f.pcie ? 4096 : 256);
  const { shape } = selectModel(f);
  const isVf = f.isVf === true;

  img.u16(0x00, isVf ? 0xffff : f.vendor);
  img.u16(0x02, isVf ? 0xffff : f.device);
  // Command: I/O and memory decode, SERR# (firmware's setting on every QEMU function);
  // a VF's command register is all zero (memory decode comes from the PF's VF MSE).
  const command = isVf ? 0 : 0x0103 | (f.busMaster ? 0x4 : 0) | (f.msiEnabled ? 0x400 : 0);
  img.u16(0x04, command);
  img.u16(0x06, shape.statusExtra ?? 0);
  img.u8(0x08, f.revision);
  img.u8(0x09, f.classCode & 0xff);
  img.u8(0x0a, (f.classCode >>> 8) & 0xff);
  img.u8(0x0b, (f.classCode >>> 16) & 0xff);
  img.u8(0x0e, f.headerType | (f.multifunctionBit && !isVf ? 0x80 : 0));

  const subsystem = subsystemOf(f);
  if (f.headerType === 0) {
    img.u16(0x2c, subsystem.vendor);
    img.u16(0x2e, subsystem.device);
  } else {
    img.u8(0x18, f.primaryBus ?? 0);
    img.u8(0x19, f.secondaryBus ?? 0);
    img.u8(0x1a, f.subordinateBus ?? 0);
    writeWindows(img, f.resources?.windows);
    // Secondary status mirrors the primary side's legacy 66 MHz / fast back-to-back bits.
    img.u16(0x1e, shape.statusExtra ?? 0);
    // Bridge control: SERR# forwarding on, as firmware leaves every QEMU bridge.
    img.u16(0x3e, 0x0002);
  }
  if (f.resources) {
    f.resources.bars.forEach((v, i) => img.u32(0x10 + 4 * i, v));
    img.u32(f.headerType === 0 ? 0x30 : 0x38, f.resources.rom);
  }
  const pin = f.interruptPin ?? shape.interruptPin;
  img.u8(0x3c, f.interruptLine ?? 0);
  img.u8(0x3d, pin);

  const std = stdCapsFor(f, shape);
  const exp = f.pcie ? expParams(f, shape) : null;
  for (const cap of std) writeStdCap(img, cap, { subsystem, chassis: f.chassis ?? 0, exp });
  if (f.msiEnabled) enableInterrupts(img, std);
  const pm = std.find((c) => c.kind === 'pm');
  if (pm && f.dState) img.u16(pm.at + 4, img.get16(pm.at + 4) | f.dState);
  if (f.pcie) writeExtended(img, f, shape, isVf);
  return f.raw ? overlayRawConfig(img.bytes, f.raw) : img.bytes;
}

/** I/O, memory and prefetchable windows (0x1c-0x2f, 0x30-0x33); a closed one reads base above limit. */
function writeWindows(img: ConfigImage, w: RegisterView['windows']): void {
  const io = ioWindowRegs(w?.io);
  img.u8(0x1c, io.base);
  img.u8(0x1d, io.limit);
  const mem = memWindowRegs(w?.mem);
  img.u16(0x20, mem.base);
  img.u16(0x22, mem.limit);
  const pref = prefWindowRegs(w?.pref);
  img.u16(0x24, pref.base);
  img.u16(0x26, pref.limit);
  img.u32(0x28, pref.baseUpper);
  img.u32(0x2c, pref.limitUpper);
}

/**
 * The subsystem IDs Linux reads (probe.c pci_setup_device): a type 0 header's own registers,
 * which default to the function's IDs; a bridge's SSVID capability, which reads 0000:0000 on
 * QEMU's bridges and, on real hardware, the bridge's own IDs unless the topology gives others.
 */
export function subsystemOf(f: RoleInput & { vendor: number; device: number; subsystem?: { vendor: number; device: number } }): { vendor: number; device: number } {
  if (f.subsystem) return f.subsystem;
  if (f.headerType === 0 || selectModel(f).shape.hardware) return { vendor: f.vendor, device: f.device };
  return { vendor: 0, device: 0 };
}

/** The interrupt capability a driver's pci_alloc_irq_vectors finds in the image, MSI-X when
 * there is one, else MSI, and the MSI-X table size the image shows (pci_msix_vec_count):
 * read from the capability list buildConfigSpace writes, without building the image (a
 * bound driver asks at every probe, boot's included). */
export function interruptCapability(f: StdCapsInput): { kind: 'msix' | 'msi' | null; tableSize: number } {
  const std = stdCapsFor(f, selectModel(f).shape);
  const msix = std.find((c) => c.kind === 'msix');
  if (msix) return { kind: 'msix', tableSize: ((msix.tableSize - 1) & 0x7ff) + 1 };
  return { kind: std.some((c) => c.kind === 'msi') ? 'msi' : null, tableSize: 0 };
}

/** What decides a function's standard capability list: enough for interruptCapability,
 * without the registers, resources and driver state a whole image needs. */
export type StdCapsInput = Pick<
  ConfigFunction,
  'vendor' | 'device' | 'classCode' | 'headerType' | 'pcie' | 'pcieType' | 'subsystem' | 'isVf' | 'msi' | 'msixVectors' | 'pm' | 'chassis' | 'hotplug'
>;

function stdCapsFor(f: StdCapsInput, shape: Shape): PlacedStdCap[] {
  const vf = f.isVf === true && shape.vfStd !== undefined;
  let out: PlacedStdCap[] = (vf ? shape.vfStd! : shape.std).map((c) => {
    if (c.kind !== 'msix') return c;
    const row = MSIX_TABLE_SIZE_BY_ID.find((r) => r.vendor === f.vendor && r.device === f.device);
    return row ? { ...c, tableSize: row.size } : c;
  });
  if (!vf) out = withTopologyCaps(out, f, shape);
  // A PCIe function must carry the PCIe capability (it is what makes Linux read 4096 bytes).
  if (f.pcie && !out.some((c) => c.kind === 'exp')) out.push({ kind: 'exp', at: nextFreeStd(out) });
  // Linux reads a bridge's subsystem IDs from the SSVID capability (probe.c pci_setup_device).
  if (f.headerType === 1 && f.subsystem && !out.some((c) => c.kind === 'ssvid')) out.push({ kind: 'ssvid', at: nextFreeStd(out) });
  return out;
}

function expParams(f: ConfigFunction, shape: Shape): ExpParams {
  const type = f.pcieType ?? (f.headerType === 1 ? PCI_EXP_TYPE.ROOT_PORT : 0);
  const isPort = PORT_TYPES.has(type);
  const slotDefault = type === PCI_EXP_TYPE.ROOT_PORT || type === PCI_EXP_TYPE.DOWNSTREAM;
  const link = shape.link ?? { speed: 1, width: 1, activeReporting: false };
  const speed = f.linkCap?.speed ?? link.speed;
  const width = f.linkCap?.width ?? link.width;
  // QEMU 7.2 trains every emulated link at 2.5 GT/s x1; hardware at what pci/link.ts worked out.
  const status = { speed: f.linkStatus?.speed ?? (shape.hardware ? speed : 1), width: f.linkStatus?.width ?? (shape.hardware ? width : 1) };
  const up = shape.hardware === true && status.width > 0;
  return {
    version: shape.expVersion ?? 2,
    type,
    slotImplemented: f.slotImplemented ?? slotDefault,
    physicalSlot: f.physicalSlot ?? 0,
    portNumber: f.portNumber ?? 0,
    flr: f.flr ?? shape.flr ?? false,
    linkSpeed: speed,
    linkWidth: width,
    linkActiveReporting: link.activeReporting,
    statusSpeed: status.speed,
    statusWidth: status.width,
    // Real hardware: the slot clock is the platform's (LnkSta SlotClk+), the data link layer
    // reports the link active on ports that can, and a slot with a card shows presence.
    slotClock: up,
    dlActive: up && link.activeReporting,
    presence: up,
    hotplug: slotHotplugCapable(shape, f.hotplug),
    hardware: shape.hardware === true,
    ariForwardingSupported: f.ariForwardingSupported ?? shape.ariForwarding ?? false,
    ariForwardingEnabled: f.ariForwardingEnabled === true,
    errorReportingEnabled: isPort && (f.aer ?? shape.aer ?? false),
  };
}

/** pci_msix_enable / pci_msi_enable leave the enable bit set (MSI-X preferred by pcieport). */
function enableInterrupts(img: ConfigImage, std: PlacedStdCap[]): void {
  const msix = std.find((c) => c.kind === 'msix');
  if (msix) {
    img.u16(msix.at + 2, img.get16(msix.at + 2) | 0x8000);
    return;
  }
  const msi = std.find((c) => c.kind === 'msi');
  if (msi) img.u16(msi.at + 2, img.get16(msi.at + 2) | 0x1);
}

function writeExtended(img: ConfigImage, f: ConfigFunction, shape: Shape, isVf: boolean): void {
  const type = f.pcieType ?? 0;
  const acsCap = f.acs?.cap ?? 0;
  const want = (kind: ExtKind): ExtWant => ({ kind, size: extSizeOf(kind, acsCap) });
  const wanted: ExtWant[] = [];
  // QEMU gives VFs no AER; a function asks for it explicitly or inherits its model's.
  if (f.aer ?? (shape.aer === true && !isVf)) wanted.push(want('aer'));
  if (f.acs) wanted.push(want('acs'));
  if (f.ari) wanted.push(want('ari'));
  if (f.sriov && !isVf) wanted.push(want('sriov'));
  if (f.pasidBits) wanted.push(want('pasid'));
  if (f.dsn !== undefined || (shape.dsn === true && !isVf)) wanted.push(want('dsn'));
  for (const { kind, at } of placeExt(shape, wanted)) {
    switch (kind) {
      case 'aer':
        writeAer(img, at, {
          multiHeader: type === PCI_EXP_TYPE.ROOT_PORT || type === PCI_EXP_TYPE.UPSTREAM || type === PCI_EXP_TYPE.DOWNSTREAM || type === PCI_EXP_TYPE.RC_EC,
          rootCommands: type === PCI_EXP_TYPE.ROOT_PORT || type === PCI_EXP_TYPE.RC_EC,
        });
        break;
      case 'dsn':
        writeDsn(img, at, f.dsn ?? f.modelSerial ?? DEFAULT_DSN);
        break;
      case 'acs':
        if (f.acs) writeAcs(img, at, f.acs.cap, f.acs.ctrl);
        break;
      case 'ari':
        if (f.ari) writeAri(img, at, f.ari.nextFunction);
        break;
      case 'sriov':
        if (f.sriov) writeSriov(img, at, f.sriov, f.resources?.vfBars);
        break;
      case 'pasid':
        writePasid(img, at, f.pasidBits ?? 0);
        break;
    }
  }
}

function u16(b: Uint8Array, off: number): number {
  return (b[off] ?? 0) | ((b[off + 1] ?? 0) << 8);
}

function u32(b: Uint8Array, off: number): number {
  return (u16(b, off) | (u16(b, off + 2) << 16)) >>> 0;
}

/**
 * Walks the standard chain (from 0x34, when status b4 says there is one) and the extended
 * chain (from 0x100 in 4096-byte images), as pci_find_capability and pci_find_ext_capability
 * do, with the same loop bounds (drivers/pci/pci.c: 48 standard hops, 480 extended).
 */
export function parseCapabilities(bytes: Uint8Array): CapabilityRef[] {
  const out: CapabilityRef[] = [];
  if (u16(bytes, 0x06) & 0x10) {
    let ptr = (bytes[0x34] ?? 0) & 0xfc;
    for (let ttl = 48; ptr >= 0x40 && ttl > 0; ttl--) {
      const id = bytes[ptr] ?? 0;
      if (id === 0xff) break;
      out.push({ id, offset: ptr, extended: false });
      ptr = (bytes[ptr + 1] ?? 0) & 0xfc;
    }
  }
  if (bytes.length > 0x100) {
    let off = 0x100;
    for (let ttl = (4096 - 256) / 8; ttl > 0; ttl--) {
      const header = u32(bytes, off);
      if (header === 0 || header === 0xffffffff) break;
      out.push({ id: header & 0xffff, offset: off, extended: true });
      off = (header >>> 20) & 0xffc;
      if (off < 0x100) break;
    }
  }
  return out;
}

/** The first capability with this id in one chain. */
export function findCapability(bytes: Uint8Array, id: number, extended: boolean): number | undefined {
  return parseCapabilities(bytes).find((c) => c.extended === extended && c.id === id)?.offset;
}

/**
 * `lspci -xxxx` output for one function, which `lspci -F <file>` reads back: a title line
 * (address, then class and IDs in lspci's words for unknown names), 16 bytes a line with the
 * offset in hex ("00:" .. "f0:", then "100:" .. "ff0:"), and a blank line.
 */
export function formatLspciDump(bdf: string, bytes: Uint8Array): string {
  const m = /^(?:([0-9a-f]{4}):)?([0-9a-f]{2}:[0-9a-f]{2}\.[0-7])$/i.exec(bdf);
  if (!m) throw new Error(`not a PCI address: ${bdf}`);
  const domain = m[1];
  const addr = domain && domain !== '0000' ? `${domain}:${m[2]}` : (m[2] ?? bdf);
  const cls = (u16(bytes, 0x0a)).toString(16).padStart(4, '0');
  const id = `${u16(bytes, 0).toString(16).padStart(4, '0')}:${u16(bytes, 2).toString(16).padStart(4, '0')}`;
  const lines = [`${addr.toLowerCase()} Class ${cls}: Device ${id}`];
  for (let off = 0; off < bytes.length; off += 16) {
    const row = Array.from(bytes.subarray(off, off + 16), (b) => b.toString(16).padStart(2, '0')).join(' ');
    lines.push(`${off.toString(16).padStart(2, '0')}: ${row}`);
  }
  return lines.join('\n') + '\n\n';
}

/** Key facts read back from an image; what tests compare against the recordings. */
export interface ConfigFacts {
  vendor: number;
  device: number;
  headerType: number;
  subsystem: { vendor: number; device: number } | null;
  buses: { primary: number; secondary: number; subordinate: number } | null;
  pcieType: number | null;
  acs: { cap: number; ctrl: number } | null;
  ariNextFunction: number | null;
  sriov: { total: number; initial: number; num: number; offset: number; stride: number; vfDevice: number; control: number } | null;
  pasidBits: number | null;
}

export function readConfigFacts(b: Uint8Array): ConfigFacts {
  const caps = parseCapabilities(b);
  const std = (id: number): number | undefined => caps.find((c) => !c.extended && c.id === id)?.offset;
  const ext = (id: number): number | undefined => caps.find((c) => c.extended && c.id === id)?.offset;
  const headerType = b[0x0e] ?? 0;
  const isBridge = (headerType & 0x7f) === 1;
  const ssvid = std(CAP.SSVID);
  const exp = std(CAP.EXP);
  const acs = ext(EXT_CAP.ACS);
  const ari = ext(EXT_CAP.ARI);
  const sriov = ext(EXT_CAP.SRIOV);
  const pasid = ext(EXT_CAP.PASID);
  return {
    vendor: u16(b, 0),
    device: u16(b, 2),
    headerType,
    subsystem: isBridge
      ? ssvid === undefined
        ? null
        : { vendor: u16(b, ssvid + 4), device: u16(b, ssvid + 6) }
      : { vendor: u16(b, 0x2c), device: u16(b, 0x2e) },
    buses: isBridge ? { primary: b[0x18] ?? 0, secondary: b[0x19] ?? 0, subordinate: b[0x1a] ?? 0 } : null,
    pcieType: exp === undefined ? null : (u16(b, exp + 2) >> 4) & 0xf,
    acs: acs === undefined ? null : { cap: u16(b, acs + 4), ctrl: u16(b, acs + 6) },
    ariNextFunction: ari === undefined ? null : (u16(b, ari + 4) >> 8) & 0xff,
    sriov:
      sriov === undefined
        ? null
        : {
            total: u16(b, sriov + 0x0e),
            initial: u16(b, sriov + 0x0c),
            num: u16(b, sriov + 0x10),
            offset: u16(b, sriov + 0x14),
            stride: u16(b, sriov + 0x16),
            vfDevice: u16(b, sriov + 0x1a),
            control: u16(b, sriov + 0x08),
          },
    pasidBits: pasid === undefined ? null : (u16(b, pasid + 4) >> 8) & 0x1f,
  };
}

