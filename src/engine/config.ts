// Each function's config space image, built from what the engine knows of it, and the
// writes a user may make to it (setpci): only registers software can change.

import type { ConfigFunction } from '../pci/config-space';
import { isPciePort } from './boot-drivers';
import type { Machine } from './machine';
import type { PciDevice } from './types';

export function configInputFor(m: Machine, d: PciDevice): ConfigFunction {
  const f = d.fn;
  const sriov = f.spec.sriov && !f.physfn ? f.spec.sriov : undefined;
  const bound = d.driver !== null;
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
    ...(isPciePort(f) ? { slotImplemented: f.pcieType !== 5, portNumber: 0 } : {}),
    ariForwardingSupported: f.headerType === 1 && f.ari,
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
            ariHierarchy: false,
            vfEnable: m.vfCount(d) > 0,
          },
        }
      : {}),
    ...(f.pasidBits > 0 ? { pasidBits: f.pasidBits } : {}),
    isVf: f.physfn !== undefined,
    ...(bound ? { busMaster: true } : {}),
    // pcieport enables MSI on the ports it binds, which sets INTx Disable in the command
    // register (drivers/pci/msi/msi.c pci_intx_for_msi) [rec: command 0x0507 on ports].
    ...(d.driver === 'pcieport' ? { msiEnabled: true } : {}),
  };
}

/** Registers a user may write (pci_write_config_* through the config file): the command
 * register, cache line size, latency timer and interrupt line. Other bytes are read-only in
 * the simulated hardware, as IDs and capability structures are on real devices. */
export const WRITABLE_CONFIG: ReadonlySet<number> = new Set([0x04, 0x05, 0x0c, 0x0d, 0x3c]);

/** The bytes a write at `offset` sets, as offset → value: writable registers within `size`. */
export function configWriteBytes(size: number, offset: number, data: Buffer): Map<number, number> {
  const out = new Map<number, number>();
  for (let i = 0; i < data.length; i++) {
    const at = offset + i;
    if (at >= size) break;
    if (WRITABLE_CONFIG.has(at)) out.set(at, data[i]!);
  }
  return out;
}
