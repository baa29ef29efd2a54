// PCI Express device/port types: the 4-bit field in bits 7:4 of the PCI Express
// Capabilities register (include/uapi/linux/pci_regs.h PCI_EXP_TYPE_*), which Linux reads
// with pci_pcie_type(). Conventional PCI functions have no such field.

import type { PciType } from '../topology/model';

export const PCI_EXP_TYPE = {
  /** PCI Express Endpoint. */
  ENDPOINT: 0x0,
  /** Legacy PCI Express Endpoint. */
  LEG_END: 0x1,
  /** Root Port of a Root Complex. */
  ROOT_PORT: 0x4,
  /** Upstream Port of a switch. */
  UPSTREAM: 0x5,
  /** Downstream Port of a switch. */
  DOWNSTREAM: 0x6,
  /** PCI Express to PCI/PCI-X bridge. */
  PCI_BRIDGE: 0x7,
  /** PCI/PCI-X to PCI Express bridge (reverse bridge). */
  PCIE_BRIDGE: 0x8,
  /** Root Complex Integrated Endpoint. */
  RC_END: 0x9,
  /** Root Complex Event Collector. */
  RC_EC: 0xa,
} as const;

export type PcieTypeCode = (typeof PCI_EXP_TYPE)[keyof typeof PCI_EXP_TYPE];

/**
 * The PCI_EXP_TYPE_* code a topology `type` stands for, for a function that has a PCI
 * Express capability. Returns null for the two types that are conventional by default
 * (topology-format.md `pcie` default): 'host-bridge' (a host bridge function such as
 * QEMU q35's 00:00.0 carries no PCIe capability) and 'pci-bridge' (a conventional
 * PCI-to-PCI bridge). Callers use null as "no PCIe type": the ACS test then treats the
 * function like conventional PCI.
 *
 * The PCI/PCI-X to PCIe reverse bridge (0x8) has no topology type name, so nothing maps
 * to it.
 */
export function pcieTypeCode(t: PciType): number | null {
  switch (t) {
    case 'endpoint':
      return PCI_EXP_TYPE.ENDPOINT;
    case 'legacy-endpoint':
      return PCI_EXP_TYPE.LEG_END;
    case 'rc-endpoint':
      return PCI_EXP_TYPE.RC_END;
    case 'root-port':
      return PCI_EXP_TYPE.ROOT_PORT;
    case 'upstream-port':
      return PCI_EXP_TYPE.UPSTREAM;
    case 'downstream-port':
      return PCI_EXP_TYPE.DOWNSTREAM;
    case 'pcie-pci-bridge':
      return PCI_EXP_TYPE.PCI_BRIDGE;
    case 'rc-event-collector':
      return PCI_EXP_TYPE.RC_EC;
    case 'host-bridge':
    case 'pci-bridge':
      return null;
  }
}

const NAMES: Record<number, string> = {
  [PCI_EXP_TYPE.ENDPOINT]: 'Endpoint',
  [PCI_EXP_TYPE.LEG_END]: 'Legacy Endpoint',
  [PCI_EXP_TYPE.ROOT_PORT]: 'Root Port',
  [PCI_EXP_TYPE.UPSTREAM]: 'Upstream Port',
  [PCI_EXP_TYPE.DOWNSTREAM]: 'Downstream Port',
  [PCI_EXP_TYPE.PCI_BRIDGE]: 'PCI Express to PCI/PCI-X Bridge',
  [PCI_EXP_TYPE.PCIE_BRIDGE]: 'PCI/PCI-X to PCI Express Bridge',
  [PCI_EXP_TYPE.RC_END]: 'Root Complex Integrated Endpoint',
  [PCI_EXP_TYPE.RC_EC]: 'Root Complex Event Collector',
};

/** A readable name for a type code (the words lspci uses), for `explain`. */
export function pcieTypeName(code: number | null): string {
  if (code === null) return 'conventional PCI';
  return NAMES[code] ?? `unknown PCIe type ${code}`;
}
