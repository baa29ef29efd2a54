// Capability layouts of real hardware, by role and class: what a function whose ID is not
// one of QEMU's models (qemu-models.ts) presents. Each row is one common part of its kind,
// named in `source` with the `lspci -vvv` it follows; values a topology gives (`link`,
// `port`, `slot`, `msi`, `msix`, `pm`, `subsystem`) replace the row's.
//
// MSI-X tables of these rows sit in BAR 0 at 0x2000, the PBA after the table (0x3000 for
// up to 256 vectors): the BAR helper sizes BAR 0 to hold them.

import type { QemuModel } from './qemu-models';
import type { PlacedStdCap } from './standard';

/** PMC: version 3 (PCI PM 1.2), no D1/D2, PME from D0, D3hot and D3cold. */
const PMC_PORT = 0xc803;
/** PMC: version 3, device-specific init (DSI), PME from D0, D3hot, D3cold (Intel NICs). */
const PMC_NIC = 0xc823;
/** PMC: version 3, no D1/D2, no PME (NVIDIA GPUs, NVMe drives). */
const PMC_PLAIN = 0x0003;

export const MSIX_TABLE_OFFSET = 0x2000;

/** The PBA follows the table, page aligned (16 bytes per table entry). */
export function msixPbaOffset(vectors: number): number {
  return MSIX_TABLE_OFFSET + Math.max(0x1000, Math.ceil((vectors * 16) / 0x1000) * 0x1000);
}

const msix = (at: number, tableSize: number) =>
  ({ kind: 'msix', at, tableSize, bir: 0, tableOffset: MSIX_TABLE_OFFSET, pbaOffset: msixPbaOffset(tableSize) }) as const;

/** A VF of any hardware row: MSI-X (3 vectors, as Intel's igbvf/iavf functions) and the PCIe capability. */
const VF_STD = [msix(0x70, 3), { kind: 'exp', at: 0xa0 } as const];

/** PEX 8747 ports, upstream and downstream alike. */
const PLX_STD: PlacedStdCap[] = [
  { kind: 'pm', at: 0x40, pmc: PMC_PORT, noSoftReset: false },
  { kind: 'msi', at: 0x48, is64: true, perVectorMask: true, vectors: 4 },
  { kind: 'exp', at: 0x68 },
  { kind: 'ssvid', at: 0xa4 },
];

const base = (code: number): number => code >>> 16;
const sub = (code: number): number => code >>> 8;

export const HARDWARE_MODELS: QemuModel[] = [
  {
    name: 'PCH root port',
    source: 'Intel 300-series PCH root port (8086:a33x): Express v2 Root Port (Slot+) at 40, MSI at 80, SSVID at 90, PM at a0',
    role: 'root-port',
    vendor: null,
    devices: null,
    pcie: {
      std: [
        { kind: 'exp', at: 0x40 },
        { kind: 'msi', at: 0x80, is64: false, perVectorMask: false },
        { kind: 'ssvid', at: 0x90 },
        { kind: 'pm', at: 0xa0, pmc: PMC_PORT, noSoftReset: false },
      ],
      ext: {},
      aer: true,
      flr: false,
      // PCIe 3.0; as wide as the card below it, x4 when the slot is empty.
      link: { speed: 3, width: 4, activeReporting: true },
      fitsChild: true,
      interruptPin: 1,
      ariForwarding: true,
      hardware: true,
    },
  },
  {
    name: 'PCIe switch upstream port',
    source: 'Broadcom/PLX PEX 8747 upstream port: PM at 40, MSI at 48, Express v2 Upstream Port at 68, SSVID at a4',
    role: 'upstream-port',
    vendor: null,
    devices: null,
    pcie: {
      std: PLX_STD,
      ext: {},
      aer: true,
      flr: false,
      link: { speed: 3, width: 16, activeReporting: false },
      interruptPin: 1,
      hardware: true,
    },
  },
  {
    name: 'PCIe switch downstream port',
    source: 'Broadcom/PLX PEX 8747 downstream port: as its upstream port, Downstream Port (Slot+)',
    role: 'downstream-port',
    vendor: null,
    devices: null,
    pcie: {
      std: PLX_STD,
      ext: {},
      aer: true,
      flr: false,
      link: { speed: 3, width: 8, activeReporting: true },
      fitsChild: true,
      interruptPin: 1,
      ariForwarding: true,
      hardware: true,
    },
  },
  {
    name: 'PCIe to PCI bridge',
    source: 'ASMedia ASM1083 (1b21:1080): MSI at 50, PM at 78, Express PCI-Express to PCI/PCI-X Bridge at 80, SSVID at c0',
    role: 'pcie-pci-bridge',
    vendor: null,
    devices: null,
    pcie: {
      std: [
        { kind: 'msi', at: 0x50, is64: true, perVectorMask: false },
        { kind: 'pm', at: 0x78, pmc: PMC_PORT, noSoftReset: false },
        { kind: 'exp', at: 0x80 },
        { kind: 'ssvid', at: 0xc0 },
      ],
      ext: {},
      flr: false,
      link: { speed: 1, width: 1, activeReporting: false },
      interruptPin: 0,
      hardware: true,
    },
  },
  {
    name: 'PCI bridge',
    source: 'Intel 82801 PCI Bridge (8086:244e): only SSVID at 50; no slot numbering, no SHPC',
    role: 'pci-bridge',
    vendor: null,
    devices: null,
    conventional: {
      std: [{ kind: 'ssvid', at: 0x50 }],
      ext: {},
      interruptPin: 0,
      hardware: true,
    },
  },
  {
    name: 'GPU',
    source: 'NVIDIA GA102 (RTX 3090, 10de:2204): PM at 60 (NoSoftRst+), MSI at 68, Express v2 Endpoint at 78; no FLR; PCIe 4.0 x16',
    role: 'pcie-endpoint',
    vendor: null,
    devices: null,
    classMatch: (c) => base(c) === 0x03,
    pcie: {
      std: [
        { kind: 'pm', at: 0x60, pmc: PMC_PLAIN, noSoftReset: true },
        { kind: 'msi', at: 0x68, is64: true, perVectorMask: false },
        { kind: 'exp', at: 0x78 },
      ],
      ext: {},
      aer: true,
      flr: false,
      link: { speed: 4, width: 16, activeReporting: false },
      interruptPin: 1,
      hardware: true,
      vfStd: VF_STD,
    },
  },
  {
    name: 'NVMe drive',
    source: 'Samsung 970 EVO Plus (144d:a808): PM at 40 (NoSoftRst+), MSI at 50 (32 vectors, maskable), Express v2 at 70, MSI-X at b0 (33 vectors); FLR; PCIe 3.0 x4',
    role: 'pcie-endpoint',
    vendor: null,
    devices: null,
    classMatch: (c) => sub(c) === 0x0108,
    pcie: {
      std: [
        { kind: 'pm', at: 0x40, pmc: PMC_PLAIN, noSoftReset: true },
        { kind: 'msi', at: 0x50, is64: true, perVectorMask: true, vectors: 32 },
        { kind: 'exp', at: 0x70 },
        msix(0xb0, 33),
      ],
      ext: {},
      aer: true,
      flr: true,
      link: { speed: 3, width: 4, activeReporting: false },
      interruptPin: 1,
      hardware: true,
      vfStd: VF_STD,
    },
  },
  {
    name: 'Ethernet controller',
    source: 'Intel X710/I350 family: PM at 40, MSI at 50 (maskable), MSI-X at 70, Express v2 at a0; FLR; PCIe 3.0 x8',
    role: 'pcie-endpoint',
    vendor: null,
    devices: null,
    classMatch: (c) => base(c) === 0x02,
    pcie: {
      std: [
        { kind: 'pm', at: 0x40, pmc: PMC_NIC, noSoftReset: false },
        { kind: 'msi', at: 0x50, is64: true, perVectorMask: true },
        msix(0x70, 64),
        { kind: 'exp', at: 0xa0 },
      ],
      ext: {},
      aer: true,
      dsn: true,
      flr: true,
      link: { speed: 3, width: 8, activeReporting: false },
      interruptPin: 1,
      hardware: true,
      vfStd: VF_STD,
    },
  },
  {
    name: 'PCIe endpoint',
    source: 'the common pattern (USB, SATA, audio cards): PM at 40, MSI at 50, Express v2 Endpoint at 70; PCIe 3.0 x1',
    role: 'pcie-endpoint',
    vendor: null,
    devices: null,
    pcie: {
      std: [
        { kind: 'pm', at: 0x40, pmc: PMC_PLAIN, noSoftReset: false },
        { kind: 'msi', at: 0x50, is64: true, perVectorMask: false },
        { kind: 'exp', at: 0x70 },
      ],
      ext: {},
      flr: false,
      link: { speed: 3, width: 1, activeReporting: false },
      interruptPin: 1,
      hardware: true,
      vfStd: VF_STD,
    },
  },
];
