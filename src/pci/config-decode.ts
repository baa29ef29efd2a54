// What a machine's config space says about a function in the topology's terms, for
// `iommufs import`: the PCIe device/port type, ACS, ARI, PASID and SR-IOV from their
// capabilities, as Linux reads them at probe time (probe.c set_pcie_port_type, pci.c
// pci_enable_acs, pci_configure_ari, iov.c sriov_init, ats.c pci_max_pasids).

import type { PciType } from '../topology/model';
import { readConfigFacts } from './config-space';
import { ariForwardingEnabled, CAP_ID, findCap } from './config-read';
import { PCI_EXP_TYPE } from './pcie-type';

/** The 7 ACS capability bits the topology's `acs` names (PCI_ACS_SV .. PCI_ACS_DT). */
const ACS_FLAG_BITS = 0x7f;

export interface DecodedConfig {
  /** Header type 0 (function), 1 (bridge) or 2 (CardBus). */
  layout: number;
  multifunctionBit: boolean;
  /** PCI_EXP_TYPE_* or null for a conventional function (no PCI Express capability). */
  pcieType: number | null;
  /** ACS capability flags, or null for no ACS capability. */
  acsCap: number | null;
  /** The function has the ARI capability. */
  ari: boolean;
  /** A bridge that forwards ARI (DEVCTL2): the kernel found ARI on function 0 below. */
  ariForwarding: boolean;
  pasidBits: number;
  sriov: { total: number; offset: number; stride: number; vfDevice: number; num: number } | null;
  /** SLTCAP of a port whose PCIe capability says Slot Implemented: number and hot-plug. */
  slot: { number: number; hotplug: boolean } | null;
  /** Capabilities were readable: the image holds more than the 64-byte header non-root users see. */
  complete: boolean;
}

function slotOf(b: Uint8Array, pcieType: number | null): Pick<DecodedConfig, 'slot'> {
  const exp = findCap(b, CAP_ID.EXP);
  if (exp === undefined || pcieType === null || pcieType === PCI_EXP_TYPE.RC_END || pcieType === PCI_EXP_TYPE.RC_EC) return { slot: null };
  const u32 = (o: number): number => ((b[o] ?? 0) | ((b[o + 1] ?? 0) << 8) | ((b[o + 2] ?? 0) << 16) | ((b[o + 3] ?? 0) << 24)) >>> 0;
  const port = pcieType === PCI_EXP_TYPE.ROOT_PORT || pcieType === PCI_EXP_TYPE.DOWNSTREAM;
  const sltcap = u32(exp + 0x14);
  const slot = port && ((b[exp + 3] ?? 0) & 0x01) !== 0 ? { number: sltcap >>> 19, hotplug: (sltcap & 0x40) !== 0 } : null;
  return { slot };
}

/** Decodes what the image holds; an image of 64 bytes (pci-sysfs.c: non-root) has no capabilities. */
export function decodeConfig(bytes: Uint8Array): DecodedConfig {
  const complete = bytes.length >= 256;
  const f = readConfigFacts(complete ? bytes : bytes.subarray(0, Math.min(bytes.length, 0x34)));
  // Extended capabilities exist only in a PCI Express function's 4 KiB space (probe.c
  // pci_cfg_space_size: 256 bytes without a PCIe capability).
  const ext = complete && f.pcieType !== null;
  return {
    layout: f.headerType & 0x7f,
    multifunctionBit: (f.headerType & 0x80) !== 0,
    pcieType: complete ? f.pcieType : null,
    acsCap: ext && f.acs ? f.acs.cap & ACS_FLAG_BITS : null,
    ari: ext && f.ariNextFunction !== null,
    ariForwarding: ext && ariForwardingEnabled(bytes),
    pasidBits: (ext && f.pasidBits) || 0,
    sriov: ext && f.sriov ? { total: f.sriov.total, offset: f.sriov.offset, stride: f.sriov.stride, vfDevice: f.sriov.vfDevice, num: f.sriov.num } : null,
    ...(complete ? slotOf(bytes, f.pcieType) : { slot: null }),
    complete,
  };
}

/**
 * The topology `type` of a function, from its header layout, PCIe type and class; or a
 * reason it has none (a CardBus bridge, a PCI-to-PCIe reverse bridge).
 */
export function topologyType(d: DecodedConfig, classCode: number): { type: PciType } | { reason: string } {
  if (d.layout === 2) return { reason: 'a CardBus bridge (header type 2), which topologies cannot describe' };
  if (d.layout === 1) {
    switch (d.pcieType) {
      case null:
        return { type: 'pci-bridge' };
      case PCI_EXP_TYPE.ROOT_PORT:
        return { type: 'root-port' };
      case PCI_EXP_TYPE.UPSTREAM:
        return { type: 'upstream-port' };
      case PCI_EXP_TYPE.DOWNSTREAM:
        return { type: 'downstream-port' };
      case PCI_EXP_TYPE.PCI_BRIDGE:
        return { type: 'pcie-pci-bridge' };
      default:
        return { reason: `a bridge of PCIe type ${d.pcieType}, which topologies cannot describe` };
    }
  }
  if (d.layout !== 0) return { reason: `header type ${d.layout} is not a PCI function` };
  // By class: a host bridge's own function, and the functions that carry its class (AMD's
  // dummy host bridges and data fabric), which Linux treats alike.
  if (classCode >> 8 === 0x0600) return { type: 'host-bridge' };
  switch (d.pcieType) {
    case null:
    case PCI_EXP_TYPE.ENDPOINT:
      return { type: 'endpoint' };
    case PCI_EXP_TYPE.LEG_END:
      return { type: 'legacy-endpoint' };
    case PCI_EXP_TYPE.RC_END:
      return { type: 'rc-endpoint' };
    case PCI_EXP_TYPE.RC_EC:
      return { type: 'rc-event-collector' };
    default:
      return { reason: `a type 0 function of PCIe port type ${d.pcieType}` };
  }
}
