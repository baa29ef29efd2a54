// The BARs and expansion ROM a function decodes: what the topology says (`bars`, `rom`,
// `sriov.vf-bars`), else the QEMU 7.2 model's with that ID (the recorded machines), else a
// plausible default for the class, taken from real hardware of that class.

import type { BarSpec } from '../../topology/model';
import type { PciFunction } from '../enumerate';
import { memoize, memoizeById } from '../memo';

export interface Declared {
  bars: BarSpec[];
  /** Expansion ROM size, 0 for none. */
  rom: number;
  /** SR-IOV VF BARs (one VF's size each), for a PF; empty otherwise. */
  vfBars: BarSpec[];
}

const K = 1024;
const M = 1024 * K;

const bar = (index: number, size: number, kind: BarSpec['kind'], prefetch = false): BarSpec => ({ index, size, kind, prefetch });

interface QemuBars {
  source: string;
  vendor: number;
  devices: [number, number];
  bars: BarSpec[];
  rom: number;
  vfBars?: BarSpec[];
}

/** QEMU's models, checked against the recorded `resource` files (test/fixtures/reference). */
const QEMU_BARS: QemuBars[] = [
  { source: 'hw/net/e1000e.c (mmio, flash, io, msix; efi-e1000e.rom)', vendor: 0x8086, devices: [0x10d3, 0x10d3], bars: [bar(0, 128 * K, 'mem32'), bar(1, 128 * K, 'mem32'), bar(2, 32, 'io'), bar(3, 16 * K, 'mem32')], rom: 256 * K },
  { source: 'hw/net/e1000.c (mmio, io; efi-e1000.rom)', vendor: 0x8086, devices: [0x100e, 0x100e], bars: [bar(0, 128 * K, 'mem32'), bar(1, 64, 'io')], rom: 256 * K },
  { source: 'hw/net/rtl8139.c (io, mmio; efi-rtl8139.rom)', vendor: 0x10ec, devices: [0x8139, 0x8139], bars: [bar(0, 256, 'io'), bar(1, 256, 'mem32')], rom: 256 * K },
  { source: 'hw/nvme/ctrl.c (one 64-bit BAR: registers, MSI-X table at 0x2000, PBA at 0x3000)', vendor: 0x1b36, devices: [0x0010, 0x0010], bars: [bar(0, 16 * K, 'mem64')], rom: 0, vfBars: [bar(0, 16 * K, 'mem64')] },
  { source: 'hw/ide/ich.c (legacy io at BAR4, AHCI ABAR at BAR5)', vendor: 0x8086, devices: [0x2922, 0x2922], bars: [bar(4, 32, 'io'), bar(5, 4 * K, 'mem32')], rom: 0 },
  { source: 'hw/i2c/smbus_ich9.c (SMB_BASE, BAR4)', vendor: 0x8086, devices: [0x2930, 0x2930], bars: [bar(4, 64, 'io')], rom: 0 },
  { source: 'hw/pci-bridge/gen_pcie_root_port.c (MSI-X BAR)', vendor: 0x1b36, devices: [0x000c, 0x000c], bars: [bar(0, 4 * K, 'mem32')], rom: 0 },
  { source: 'hw/pci-bridge/pcie_pci_bridge.c, pci_bridge_dev.c (SHPC and MSI BAR)', vendor: 0x1b36, devices: [0x0001, 0x0001], bars: [bar(0, 256, 'mem64')], rom: 0 },
  { source: 'hw/pci-bridge/pcie_pci_bridge.c (SHPC BAR)', vendor: 0x1b36, devices: [0x000e, 0x000e], bars: [bar(0, 256, 'mem64')], rom: 0 },
  { source: 'hw/pci-bridge/xio3130_*.c, hw/pci-host/q35.c, hw/isa/lpc_ich9.c (no BARs)', vendor: 0x104c, devices: [0x8232, 0x8233], bars: [], rom: 0 },
  { source: 'hw/pci-host/q35.c (no BARs)', vendor: 0x8086, devices: [0x29c0, 0x29c0], bars: [], rom: 0 },
  { source: 'hw/isa/lpc_ich9.c (no BARs)', vendor: 0x8086, devices: [0x2918, 0x2918], bars: [], rom: 0 },
  // virtio_pci_realize: transitional devices (IDs 0x1000-0x103f, legacy enabled where the
  // bus is not a PCIe port) have the legacy I/O BAR0; all have the MSI-X BAR1 and the
  // modern 64-bit prefetchable BAR4; only virtio-net loads an option ROM (efi-virtio.rom).
  { source: 'hw/virtio/virtio-pci.c (virtio-net, transitional)', vendor: 0x1af4, devices: [0x1000, 0x1000], bars: [bar(0, 32, 'io'), bar(1, 4 * K, 'mem32'), bar(4, 16 * K, 'mem64', true)], rom: 256 * K },
  { source: 'hw/virtio/virtio-pci.c (transitional)', vendor: 0x1af4, devices: [0x1001, 0x103f], bars: [bar(0, 32, 'io'), bar(1, 4 * K, 'mem32'), bar(4, 16 * K, 'mem64', true)], rom: 0 },
  { source: 'hw/virtio/virtio-pci.c (virtio-net, modern)', vendor: 0x1af4, devices: [0x1041, 0x1041], bars: [bar(1, 4 * K, 'mem32'), bar(4, 16 * K, 'mem64', true)], rom: 256 * K },
  { source: 'hw/virtio/virtio-pci.c (modern)', vendor: 0x1af4, devices: [0x1040, 0x107f], bars: [bar(1, 4 * K, 'mem32'), bar(4, 16 * K, 'mem64', true)], rom: 0 },
];

interface ClassDefault {
  what: string;
  /** Matched against the class code's top `bits` bits. */
  code: number;
  bits: 8 | 16 | 24;
  bars: BarSpec[];
  rom: number;
  vfBars: BarSpec[];
}

const VF_DEFAULT = [bar(0, 16 * K, 'mem64')];

/**
 * Plausible defaults by class, most specific first. The MSI-X table of a class that has one
 * sits in a BAR named here: NVMe in BAR0 (table at 0x2000, PBA at 0x3000, as QEMU's nvme and
 * most controllers), a NIC in its own 16K BAR3 (as the 82574L, I210 and I350).
 */
const CLASS_DEFAULTS: ClassDefault[] = [
  { what: 'VGA or 3D controller (an RTX 3090: registers, VRAM aperture, second aperture, legacy I/O)', code: 0x0300, bits: 16, bars: [bar(0, 16 * M, 'mem32'), bar(1, 256 * M, 'mem64', true), bar(3, 32 * M, 'mem64', true), bar(5, 128, 'io')], rom: 512 * K, vfBars: VF_DEFAULT },
  { what: '3D controller', code: 0x0302, bits: 16, bars: [bar(0, 16 * M, 'mem32'), bar(1, 256 * M, 'mem64', true), bar(3, 32 * M, 'mem64', true), bar(5, 128, 'io')], rom: 512 * K, vfBars: VF_DEFAULT },
  { what: 'other display controller', code: 0x03, bits: 8, bars: [bar(0, 16 * M, 'mem32'), bar(2, 256 * M, 'mem64', true)], rom: 0, vfBars: VF_DEFAULT },
  { what: 'HD audio (a GPU\'s or a chipset\'s)', code: 0x04, bits: 8, bars: [bar(0, 16 * K, 'mem32')], rom: 0, vfBars: VF_DEFAULT },
  { what: 'NVMe controller', code: 0x0108, bits: 16, bars: [bar(0, 16 * K, 'mem64')], rom: 0, vfBars: [bar(0, 16 * K, 'mem64')] },
  { what: 'AHCI controller (legacy I/O BARs 0-4, ABAR at BAR5)', code: 0x0106, bits: 16, bars: [bar(0, 8, 'io'), bar(1, 4, 'io'), bar(2, 8, 'io'), bar(3, 4, 'io'), bar(4, 32, 'io'), bar(5, 2 * K, 'mem32')], rom: 0, vfBars: VF_DEFAULT },
  { what: 'SAS or RAID HBA (an LSI SAS3008)', code: 0x0107, bits: 16, bars: [bar(0, 256, 'io'), bar(1, 64 * K, 'mem64'), bar(3, 1 * M, 'mem64')], rom: 1 * M, vfBars: VF_DEFAULT },
  { what: 'RAID controller', code: 0x0104, bits: 16, bars: [bar(0, 256, 'io'), bar(1, 64 * K, 'mem64'), bar(3, 1 * M, 'mem64')], rom: 1 * M, vfBars: VF_DEFAULT },
  { what: 'other mass storage', code: 0x01, bits: 8, bars: [bar(0, 16 * K, 'mem64')], rom: 0, vfBars: VF_DEFAULT },
  { what: 'Ethernet controller (82574L/I350: registers, I/O window, MSI-X BAR; VFs as the I350\'s)', code: 0x0200, bits: 16, bars: [bar(0, 128 * K, 'mem32'), bar(2, 32, 'io'), bar(3, 16 * K, 'mem32')], rom: 0, vfBars: [bar(0, 16 * K, 'mem64', true), bar(3, 16 * K, 'mem64', true)] },
  { what: 'other network controller', code: 0x02, bits: 8, bars: [bar(0, 16 * K, 'mem64')], rom: 0, vfBars: VF_DEFAULT },
  { what: 'USB xHCI', code: 0x0c0330, bits: 24, bars: [bar(0, 64 * K, 'mem64')], rom: 0, vfBars: VF_DEFAULT },
  { what: 'SMBus controller', code: 0x0c05, bits: 16, bars: [bar(0, 256, 'mem64'), bar(4, 32, 'io')], rom: 0, vfBars: VF_DEFAULT },
  { what: 'root complex event collector (none)', code: 0x0807, bits: 16, bars: [], rom: 0, vfBars: VF_DEFAULT },
  { what: 'bridges (host, ISA, PCI-to-PCI: none of their own)', code: 0x06, bits: 8, bars: [], rom: 0, vfBars: VF_DEFAULT },
  { what: 'processing accelerator', code: 0x12, bits: 8, bars: [bar(0, 16 * M, 'mem64'), bar(2, 256 * M, 'mem64', true)], rom: 0, vfBars: [bar(0, 1 * M, 'mem64'), bar(2, 16 * M, 'mem64', true)] },
];

const FALLBACK: ClassDefault = { what: 'any other function', code: 0, bits: 8, bars: [bar(0, 16 * K, 'mem32')], rom: 0, vfBars: VF_DEFAULT };

// Every function's resources are worked out from these rows at boot, and again for each
// `resource` file and config image: the row found for an ID or a class is kept.
export const qemuBarsFor = memoizeById((vendor, device): QemuBars | undefined =>
  QEMU_BARS.find((r) => r.vendor === vendor && device >= r.devices[0] && device <= r.devices[1]),
);

export const classDefaultFor = memoize((classCode: number): ClassDefault => CLASS_DEFAULTS.find((c) => classCode >>> (24 - c.bits) === c.code) ?? FALLBACK);

/** What a function decodes. A VF's BARs are its PF's VF BARs; it has no ROM of its own. */
export function declaredOf(f: PciFunction): Declared {
  if (f.physfn) return { bars: declaredOf(f.physfn).vfBars, rom: 0, vfBars: [] };
  const spec = f.spec;
  const qemu = qemuBarsFor(f.id.vendor, f.id.device);
  const cls = classDefaultFor(f.classCode);
  // A bridge's header has BARs 0-1 only; a class default never gives it more.
  const fallbackBars = f.headerType === 1 ? (qemu?.bars ?? []) : (qemu?.bars ?? cls.bars);
  return {
    bars: spec.bars ?? fallbackBars,
    rom: spec.rom ?? (f.headerType === 1 ? 0 : (qemu?.rom ?? cls.rom)),
    vfBars: spec.sriov ? (spec.sriov.vfBars ?? qemu?.vfBars ?? cls.vfBars) : [],
  };
}
