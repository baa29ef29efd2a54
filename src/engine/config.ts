// Each function's config space image, built from what the engine knows of it, and the
// writes a user may make to it (setpci): only registers software can change.

import type { ConfigFunction, StdCapsInput } from '../pci/config-space';
import { isPciePort } from './boot-drivers';
import { physicalSlot } from './slots';
import type { PciFunction } from '../pci/enumerate';
import type { Machine } from './machine';
import type { PciDevice } from './types';
import { positionAmong } from '../pci/add-order-index';
import { linkCapOf, linkStatusOf, portNumberOf } from '../pci/link';
import { declaredOf } from '../pci/resources/declared';
import { resourceWriteMask } from '../pci/resources/write-mask';

export function configInputFor(m: Machine, d: PciDevice): ConfigFunction {
  const f = d.fn;
  const sriov = f.spec.sriov && !f.physfn ? f.spec.sriov : undefined;
  return {
    vendor: f.id.vendor,
    device: f.id.device,
    classCode: f.classCode,
    revision: f.revision,
    ...(f.subsystem ? { subsystem: f.subsystem } : {}),
    headerType: f.headerType,
    multifunctionBit: f.multifunctionBit,
    pcie: f.pcie,
    pcieType: f.pcieType,
    ...(f.secondary ? { primaryBus: f.bus.number, secondaryBus: f.secondary.number, subordinateBus: f.secondary.subordinate } : {}),
    ...(isPciePort(f) ? { slotImplemented: f.pcieType !== 5 } : {}),
    ...(physicalSlot(m, f) !== undefined ? { physicalSlot: physicalSlot(m, f)! } : {}),
    ...modelInput(f),
    // A topology port with `ari: true` supports ARI forwarding; otherwise its model says.
    ...(f.headerType === 1 && f.ari ? { ariForwardingSupported: true } : {}),
    ...(f.headerType === 1 ? { ariForwardingEnabled: functionZeroHasAri(f) } : {}),
    // QEMU gives each NIC without mac= the next default MAC, and e1000e derives its serial
    // number from it (e1000e_init_dsn) [rec: 52-54-00-ff-ff-12-34-56, -58, -59 ...].
    ...(f.classCode >> 16 === 0x02 && !f.physfn ? { modelSerial: nicSerial(m, f) } : {}),
    ...(f.acsCap !== null ? { acs: { cap: f.acsCap, ctrl: d.acsCtrl } } : {}),
    ...(f.ari && f.headerType === 0 ? { ari: { nextFunction: 0 } } : {}),
    ...(sriov
      ? {
          sriov: {
            total: sriov.total,
            initial: sriov.total,
            num: m.vfCount(d),
            offset: sriov.offset,
            stride: sriov.stride,
            vfDevice: sriov.vfId.device,
            // iov.c sriov_init: ARI Capable Hierarchy when the bus above forwards ARI
            // (pci_ari_enabled) [rec: sriov.json 01:00.0 IOVCtl ARIHierarchy+].
            ariHierarchy: f.bus.bridge !== null && functionZeroHasAri(f.bus.bridge),
            vfEnable: m.vfCount(d) > 0,
          },
        }
      : {}),
    ...(f.pasidBits > 0 ? { pasidBits: f.pasidBits } : {}),
    isVf: f.physfn !== undefined,
    // What the bound driver set (driver-effects.ts): pci_set_master; MSI or MSI-X enabled,
    // which sets INTx Disable in the command register (drivers/pci/msi/msi.c
    // pci_intx_for_msi) [rec: command 0x0507 on ports and on a bound e1000e]; D3hot in PMCSR
    // while vfio-pci keeps an idle device suspended [rec: writes.json 03:00.0, PMCSR 0x0003].
    ...(busMaster(m, d) ? { busMaster: true } : {}),
    ...(m.driverEffects.vectors(d).length > 0 ? { msiEnabled: true } : {}),
    ...(m.driverEffects.idleSuspended(d) ? { dState: 3 as const } : {}),
    // The topology's `config:` bytes belong to the function itself, not to its VFs.
    ...(f.spec.config && !f.physfn ? { raw: f.spec.config } : {}),
    resources: m.resources.registers(f),
  };
}

/** The topology's device model (pci/link.ts for the link): link capability and the trained
 * link, port number, and the capabilities below. */
function modelInput(f: PciFunction): Partial<ConfigFunction> {
  const cap = linkCapOf(f);
  const status = linkStatusOf(f);
  return {
    ...(cap ? { linkCap: cap } : {}),
    ...(status ? { linkStatus: status } : {}),
    ...(f.pcie ? { portNumber: portNumberOf(f) } : {}),
    ...capabilityModel(f),
  };
}

/** The topology's slot hot-plug and chassis, and its MSI, MSI-X and PM capabilities (a VF's
 * come from its model, not from the PF's keys). */
function capabilityModel(f: PciFunction): Pick<ConfigFunction, 'hotplug' | 'chassis' | 'msi' | 'msixVectors' | 'pm'> {
  const s = f.spec;
  if (f.physfn) return {};
  return {
    ...(s.hotplug !== undefined ? { hotplug: s.hotplug } : {}),
    ...(s.chassis !== undefined ? { chassis: s.chassis } : {}),
    ...(s.msi ? { msi: s.msi } : {}),
    ...(s.msix !== undefined ? { msixVectors: s.msix } : {}),
    ...(s.pm !== undefined ? { pm: s.pm } : {}),
  };
}

/** What the function's capability list depends on (config-space.ts interruptCapability), for
 * a driver's probe: the same fields configInputFor gives, without the registers, resources and
 * driver state, so that boot's probes place no resources and build no image. */
export function stdCapsInputFor(f: PciFunction): StdCapsInput {
  return {
    vendor: f.id.vendor,
    device: f.id.device,
    classCode: f.classCode,
    headerType: f.headerType,
    pcie: f.pcie,
    pcieType: f.pcieType,
    ...(f.subsystem ? { subsystem: f.subsystem } : {}),
    isVf: f.physfn !== undefined,
    ...capabilityModel(f),
  };
}

/** The cache key of an input (its bigint serial number as hex, which JSON cannot hold; the
 * `config:` bytes left out: they never change for a device). */
export function configInputKey(input: ConfigFunction): string {
  return JSON.stringify(input, (k, v: unknown) => (k === 'raw' ? undefined : typeof v === 'bigint' ? `0x${v.toString(16)}` : v));
}

/** Command Bus Master: pci_enable_bridges enables every bridge and sets it bus master
 * (drivers/pci/setup-bus.c) [rec: 0x0107 on unbound bridges], and it stays when pcieport
 * unbinds (the bridge's enable count does not drop to 0); other devices while a driver that
 * enables them is bound (pci_set_master at probe, cleared by pci_disable_device). */
function busMaster(m: Machine, d: PciDevice): boolean {
  if (d.fn.headerType === 1) return true;
  return d.driver !== null && m.driverEffects.enabled(d);
}

/** Bits of the user-writable registers that a driver's probe and remove set or clear:
 * command Bus Master (pci_set_master, pci_disable_device) and INTx Disable (pci_intx_for_msi).
 * The driver's other registers (MSI/MSI-X enable, PMCSR) are read-only to users here. */
export const DRIVER_OWNED_BITS: ReadonlyArray<readonly [offset: number, mask: number]> = [
  [0x04, 0x04],
  [0x05, 0x04],
];

/**
 * pci_configure_ari, run as function 0 below a bridge is added: ARI forwarding is enabled on
 * the bridge (if it supports it) when that function has the ARI capability.
 */
function functionZeroHasAri(f: PciFunction): boolean {
  const fn0 = f.secondary?.devices.find((x) => x.devfn === 0 && !x.physfn);
  return fn0 !== undefined && fn0.ari && fn0.headerType === 0 && fn0.pcie;
}

/** QEMU's default MACs, 52:54:00:12:34:56 on, one per network function in creation (here:
 * boot add) order (net/net.c qemu_macaddr_default_if_unset), as the serial number
 * 52-54-00-ff-ff-12-34-xx. */
const isNic = (x: PciFunction): boolean => x.classCode >> 16 === 0x02;

function nicSerial(m: Machine, f: PciFunction): bigint {
  const index = positionAmong(m.pci.addOrder, isNic, f);
  return 0x525400ffff123400n | BigInt((0x56 + Math.max(0, index)) & 0xff);
}

/**
 * Registers a user may write (pci_write_config_* through the config file), each with the bits
 * the hardware lets software change; other bytes are read-only in the simulated hardware, as
 * IDs and capability structures are on real devices. Command: I/O, memory, bus master, parity
 * error response, SERR# and INTx disable (0x0547, QEMU's pci_init_wmask and what PCIe keeps
 * writable: special cycles, MWI, VGA snoop and fast back-to-back are hardwired 0 there, b11-15
 * reserved); cache line size, latency timer and interrupt line are whole read-write bytes.
 */
const WRITE_MASK: ReadonlyMap<number, number> = new Map([
  [0x04, 0x47],
  [0x05, 0x05],
  [0x0c, 0xff],
  [0x0d, 0xff],
  [0x3c, 0xff],
]);

/** Every register a user may write in `f`'s config space, byte offset → writable bits: the
 * fixed ones above and the resource registers of its BARs, ROM and bridge windows. */
export function configWriteMask(f: PciFunction): ReadonlyMap<number, number> {
  const out = resourceWriteMask(f, declaredOf(f));
  for (const [at, mask] of WRITE_MASK) out.set(at, mask);
  for (const [at, mask] of out) if (mask === 0) out.delete(at);
  return out;
}

/** The bytes a write at `offset` sets, as offset → value: the writable bits from `data`, the
 * others as `current` (the image) has them. */
export function configWriteBytes(mask: ReadonlyMap<number, number>, current: Uint8Array, offset: number, data: Buffer): Map<number, number> {
  const out = new Map<number, number>();
  for (let i = 0; i < data.length; i++) {
    const at = offset + i;
    if (at >= current.length) break;
    const bits = mask.get(at);
    if (bits !== undefined) out.set(at, (data[i]! & bits) | (current[at]! & ~bits & 0xff));
  }
  return out;
}
