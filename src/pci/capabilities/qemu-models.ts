// Capability layouts of the QEMU 7.2 device models the reference machines use, as data.
// Each row names the QEMU source that builds the layout; offsets, chain order and register
// defaults were checked against the config files recorded in test/fixtures/reference
// (`config_hex`). A row applies to functions with its vendor/device ID in its role; other
// IDs get the real hardware of their class (hardware-models.ts), which these recorded
// machines never see.

import type { ExtKind } from './extended';
import type { PlacedStdCap } from './standard';

/** Where a function sits, from header type, PCIe type and class (see roleOf in layout.ts). */
export type Role =
  | 'root-port'
  | 'upstream-port'
  | 'downstream-port'
  | 'pcie-pci-bridge'
  | 'pci-bridge'
  | 'pcie-endpoint'
  | 'pci-endpoint'
  /** Conventional functions of the bridge class that are not PCI-PCI bridges (host, ISA). */
  | 'pci-plain';

export interface Shape {
  /** Standard capabilities in chain order (the first is what 0x34 points to). */
  std: PlacedStdCap[];
  /** Where extended capabilities go when the function has them; others are appended. */
  ext: Partial<Record<ExtKind, number>>;
  /** The model always has these extended capabilities. */
  aer?: boolean;
  dsn?: boolean;
  expVersion?: 1 | 2;
  flr?: boolean;
  link?: { speed: number; width: number; activeReporting: boolean };
  interruptPin: number;
  /** Status bits besides the capability list (66 MHz b5, fast back-to-back b7 on old bridges). */
  statusExtra?: number;
  /** DEVCAP2 ARI Forwarding Supported (QEMU's pcie_cap_arifwd_init). */
  ariForwarding?: boolean;
  /**
   * Real hardware (hardware-models.ts), not a QEMU model: its link trains with its partner's
   * (QEMU 7.2's emulated links all train at 2.5 GT/s x1), LNKCAP2 is always filled, its slot
   * is hot-plug capable only when the topology says so, a bridge's subsystem defaults to its
   * own IDs, and a PCI bridge has the slot numbering capability only with a chassis number.
   */
  hardware?: boolean;
  /** A root or downstream port as wide as the card below it (`link.width` when empty). */
  fitsChild?: boolean;
  /** A VF's standard capabilities, where they differ from its PF's (hardware VFs: MSI-X only). */
  vfStd?: PlacedStdCap[];
}

export interface QemuModel {
  name: string;
  source: string;
  role: Role;
  /** null: any vendor and device (hardware rows, chosen by role and class). */
  vendor: number | null;
  devices: [number, number] | null;
  /** Hardware rows: the class codes the row is for (absent: any). */
  classMatch?: (classCode: number) => boolean;
  pcie?: Shape;
  conventional?: Shape;
}

const LINK_X1 = { speed: 1, width: 1, activeReporting: false };

const virtioCaps = (first: number): PlacedStdCap[] => {
  // virtio_pci_modern_regions_init: common, ISR, device, notify in BAR 4, 0x1000 apart,
  // plus the PCI cfg access window; each added in front of the chain.
  const step = [0x10, 0x10, 0x10, 0x14, 0x14];
  const kinds = [1, 3, 4, 2, 5];
  const offsets = [0x0, 0x1000, 0x2000, 0x3000, 0];
  const out: PlacedStdCap[] = [];
  let at = first;
  kinds.forEach((cfgType, i) => {
    out.unshift({ kind: 'virtio', at, cfgType, bar: cfgType === 5 ? 0 : 4, offset: offsets[i] ?? 0, length: cfgType === 5 ? 0 : 0x1000 });
    at += step[i] ?? 0x10;
  });
  return out;
};

export const QEMU_MODELS: QemuModel[] = [
  {
    name: 'pcie-root-port',
    source: 'hw/pci-bridge/pcie_root_port.c, gen_pcie_root_port.c (x-speed=16, x-width=32)',
    role: 'root-port',
    vendor: 0x1b36,
    devices: [0x000c, 0x000c],
    pcie: {
      std: [
        { kind: 'exp', at: 0x54 },
        { kind: 'msix', at: 0x48, tableSize: 1, bir: 0, tableOffset: 0, pbaOffset: 0x800 },
        { kind: 'ssvid', at: 0x40 },
      ],
      ext: { aer: 0x100, acs: 0x148 },
      aer: true,
      flr: false,
      link: { speed: 4, width: 32, activeReporting: true },
      interruptPin: 1,
      // rp_realize calls pcie_cap_arifwd_init [rec: DevCap2 ARIFwd+ on every root port].
      ariForwarding: true,
    },
  },
  {
    name: 'x3130-upstream',
    source: 'hw/pci-bridge/xio3130_upstream.c',
    role: 'upstream-port',
    vendor: 0x104c,
    devices: [0x8232, 0x8232],
    pcie: {
      std: [
        { kind: 'exp', at: 0x90 },
        { kind: 'ssvid', at: 0x80 },
        { kind: 'msi', at: 0x70, is64: true, perVectorMask: false },
      ],
      ext: { aer: 0x100 },
      aer: true,
      flr: true,
      link: LINK_X1,
      interruptPin: 0,
    },
  },
  {
    name: 'xio3130-downstream',
    source: 'hw/pci-bridge/xio3130_downstream.c (link capability left empty)',
    role: 'downstream-port',
    vendor: 0x104c,
    devices: [0x8233, 0x8233],
    pcie: {
      std: [
        { kind: 'exp', at: 0x90 },
        { kind: 'ssvid', at: 0x80 },
        { kind: 'msi', at: 0x70, is64: true, perVectorMask: false },
      ],
      ext: { aer: 0x100 },
      aer: true,
      flr: true,
      link: { speed: 0, width: 0, activeReporting: false },
      interruptPin: 0,
      // xio3130_downstream_realize calls pcie_cap_arifwd_init [rec: switch.json DevCap2].
      ariForwarding: true,
    },
  },
  {
    name: 'pcie-pci-bridge',
    source: 'hw/pci-bridge/pcie_pci_bridge.c',
    role: 'pcie-pci-bridge',
    vendor: 0x1b36,
    devices: [0x000e, 0x000e],
    pcie: {
      std: [
        { kind: 'msi', at: 0x8c, is64: true, perVectorMask: true },
        { kind: 'pm', at: 0x84, pmc: 0x3, noSoftReset: false },
        { kind: 'exp', at: 0x48 },
        { kind: 'shpc', at: 0x40 },
      ],
      ext: { aer: 0x100 },
      aer: true,
      flr: false,
      link: LINK_X1,
      interruptPin: 1,
      statusExtra: 0xa0,
    },
  },
  {
    name: 'pci-bridge',
    source: 'hw/pci-bridge/pci_bridge_dev.c',
    role: 'pci-bridge',
    vendor: 0x1b36,
    devices: [0x0001, 0x0001],
    conventional: {
      std: [
        { kind: 'msi', at: 0x4c, is64: true, perVectorMask: true },
        { kind: 'slotid', at: 0x48 },
        { kind: 'shpc', at: 0x40 },
      ],
      ext: {},
      interruptPin: 1,
      statusExtra: 0xa0,
    },
  },
  {
    name: 'nvme',
    source: 'hw/nvme/ctrl.c (nvme_init_pci; ARI and SR-IOV with sriov_max_vfs)',
    role: 'pcie-endpoint',
    vendor: 0x1b36,
    devices: [0x0010, 0x0010],
    pcie: {
      std: [
        { kind: 'msix', at: 0x40, tableSize: 65, bir: 0, tableOffset: 0x2000, pbaOffset: 0x3000 },
        { kind: 'exp', at: 0x80 },
        { kind: 'pm', at: 0x60, pmc: 0x3, noSoftReset: true },
      ],
      ext: { ari: 0x100, sriov: 0x120 },
      flr: true,
      link: LINK_X1,
      interruptPin: 1,
    },
  },
  {
    name: 'generic conventional function (PM, 64-bit MSI)',
    source: 'no one QEMU model; the common PCI 2.3 pattern',
    role: 'pci-endpoint',
    vendor: null,
    devices: null,
    conventional: {
      std: [
        { kind: 'pm', at: 0x40, pmc: 0x3, noSoftReset: false },
        { kind: 'msi', at: 0x48, is64: true, perVectorMask: false },
      ],
      ext: {},
      interruptPin: 1,
    },
  },
  {
    name: 'host or ISA bridge function',
    source: 'hw/pci-host/q35.c, hw/isa/lpc_ich9.c (no capabilities)',
    role: 'pci-plain',
    vendor: null,
    devices: null,
    conventional: { std: [], ext: {}, interruptPin: 0 },
  },
  // Rows for specific QEMU devices found in the reference machines.
  {
    name: 'e1000e',
    source: 'hw/net/e1000e.c (e1000e_add_pm_capability, pcie_endpoint_cap_v1_init, AER at 0x100, DSN at 0x140)',
    role: 'pcie-endpoint',
    vendor: 0x8086,
    devices: [0x10d3, 0x10d3],
    pcie: {
      std: [
        { kind: 'pm', at: 0xc8, pmc: 0x22, noSoftReset: false },
        { kind: 'msi', at: 0xd0, is64: true, perVectorMask: false },
        { kind: 'exp', at: 0xe0 },
        { kind: 'msix', at: 0xa0, tableSize: 5, bir: 3, tableOffset: 0, pbaOffset: 0x2000 },
      ],
      ext: { aer: 0x100, dsn: 0x140 },
      aer: true,
      dsn: true,
      expVersion: 1,
      flr: false,
      link: LINK_X1,
      interruptPin: 1,
    },
  },
  {
    name: 'virtio-pci (modern and transitional)',
    source: 'hw/virtio/virtio-pci.c (virtio_pci_realize, virtio_pci_device_plugged)',
    role: 'pcie-endpoint',
    vendor: 0x1af4,
    devices: [0x1000, 0x107f],
    pcie: {
      std: [
        { kind: 'msix', at: 0xdc, tableSize: 2, bir: 1, tableOffset: 0, pbaOffset: 0x800 },
        ...virtioCaps(0x84),
        { kind: 'pm', at: 0x7c, pmc: 0x3, noSoftReset: false },
        { kind: 'exp', at: 0x40 },
      ],
      ext: {},
      flr: true,
      link: LINK_X1,
      interruptPin: 1,
    },
  },
  {
    name: 'virtio-pci (modern and transitional)',
    source: 'hw/virtio/virtio-pci.c (on a conventional bus: no PM, no PCIe capability)',
    role: 'pci-endpoint',
    vendor: 0x1af4,
    devices: [0x1000, 0x107f],
    conventional: {
      std: [{ kind: 'msix', at: 0x98, tableSize: 2, bir: 1, tableOffset: 0, pbaOffset: 0x800 }, ...virtioCaps(0x40)],
      ext: {},
      interruptPin: 1,
    },
  },
  {
    name: 'ich9-ahci',
    source: 'hw/ide/ich.c (MSI at 0x80, SATA at 0xa8)',
    role: 'pci-endpoint',
    vendor: 0x8086,
    devices: [0x2922, 0x2922],
    conventional: {
      std: [
        { kind: 'msi', at: 0x80, is64: true, perVectorMask: false },
        { kind: 'sata', at: 0xa8 },
      ],
      ext: {},
      interruptPin: 1,
    },
  },
  {
    name: 'e1000',
    source: 'hw/net/e1000.c (no capabilities)',
    role: 'pci-endpoint',
    vendor: 0x8086,
    devices: [0x100e, 0x100e],
    conventional: { std: [], ext: {}, interruptPin: 1 },
  },
  {
    name: 'rtl8139',
    source: 'hw/net/rtl8139.c (no capabilities)',
    role: 'pci-endpoint',
    vendor: 0x10ec,
    devices: [0x8139, 0x8139],
    conventional: { std: [], ext: {}, interruptPin: 1 },
  },
  {
    name: 'ich9-smbus',
    source: 'hw/i2c/smbus_ich9.c (no capabilities)',
    role: 'pci-endpoint',
    vendor: 0x8086,
    devices: [0x2930, 0x2930],
    conventional: { std: [], ext: {}, interruptPin: 1 },
  },
];

/** Per-device MSI-X table sizes where one row covers several devices (virtio-net: 3 vectors + config). */
export const MSIX_TABLE_SIZE_BY_ID: { vendor: number; device: number; size: number; source: string }[] = [
  { vendor: 0x1af4, device: 0x1000, size: 4, source: 'hw/net/virtio-net.c (2 queues + config: vectors=3)' },
  { vendor: 0x1af4, device: 0x1041, size: 4, source: 'hw/net/virtio-net.c (2 queues + config: vectors=3)' },
];
