// The typed, validated model of a topology file (docs/topology-format.md, version 1).
// Everything here is plain immutable data; positions point back into the YAML for messages.

export interface SourcePos {
  line: number; // 1-based
  col: number; // 1-based
}

export type Arch = 'x86' | 'arm64' | 'power';

export type IommuType = 'intel-vtd' | 'amd-vi' | 'arm-smmu-v3' | 'arm-smmu' | 'virtio-iommu' | 'power-tce';

/** Kinds in the kernel's enum order (include/linux/iommu.h `iommu_resv_type`); sorting depends on it. */
export type RegionKind = 'direct' | 'direct-relaxable' | 'reserved' | 'msi';

export interface ReservedRegionSpec {
  start: bigint;
  end: bigint; // inclusive
  kind: RegionKind;
}

export interface IommuUnitSpec {
  name: string;
  type: IommuType;
  /** 'all', or device names ("0000:00:02.0"): that device and everything below it. */
  scope: 'all' | string[];
  interruptRemapping: boolean;
  reserved: ReservedRegionSpec[];
  pasidBits: number;
  dirtyTracking: boolean;
  nesting: boolean;
  pos: SourcePos;
}

export type PciType =
  | 'endpoint'
  | 'legacy-endpoint'
  | 'rc-endpoint'
  | 'root-port'
  | 'upstream-port'
  | 'downstream-port'
  | 'pcie-pci-bridge'
  | 'pci-bridge'
  | 'host-bridge'
  | 'rc-event-collector';

/** ACS capability bits, as in include/uapi/linux/pci_regs.h PCI_ACS_*. */
export const ACS = {
  sv: 0x01,
  tb: 0x02,
  rr: 0x04,
  cr: 0x08,
  uf: 0x10,
  ec: 0x20,
  dt: 0x40,
} as const;
export type AcsFlag = keyof typeof ACS;

export interface PciId {
  vendor: number;
  device: number;
}

/** A BAR as `lspci -vvv` describes it: `Region 1: Memory at ... (64-bit, prefetchable) [size=256M]`. */
export interface BarSpec {
  /** BAR number 0-5 (0-1 on a bridge); a 64-bit BAR also takes the next number. */
  index: number;
  /** Bytes, a power of two. */
  size: number;
  kind: 'mem32' | 'mem64' | 'io';
  prefetch: boolean;
}

export interface SriovSpec {
  total: number;
  offset: number;
  stride: number;
  vfId: PciId;
  vfDriver?: string;
  num: number;
  /** The SR-IOV capability's VF BARs (one VF's size each); default by class. */
  vfBars?: BarSpec[];
  /** Where the `sriov` mapping and its `num` (or the mapping, when num is left out) are written. */
  pos: SourcePos;
  numPos: SourcePos;
}

export interface MdevTypeSpec {
  type: string;
  name?: string;
  available: number;
  deviceApi: string;
}

/** One namespace of an NVMe controller: its size in bytes and LBA data size. */
export interface NamespaceSpec {
  bytes: number;
  lba: number;
}

/** Topology `nvme`: what an NVMe controller's Identify data reports (nvme-fields.ts). */
export interface NvmeSpec {
  namespaces?: NamespaceSpec[];
  model?: string;
  serial?: string;
  firmware?: string;
}

/** A PCIe link: speed as the LNKCAP/LNKSTA code (1 = 2.5 GT/s .. 6 = 64 GT/s), width in lanes. */
export interface LinkSpec {
  speed?: number;
  width?: number;
}

/** `msi`: the MSI capability (vectors 0 = none). Unset fields take the model's. */
export interface MsiSpec {
  vectors: number;
  is64?: boolean;
  masking?: boolean;
}

/** `pm`: the power management capability's PMC register, as lspci -vvv decodes it. */
export interface PmSpec {
  /** PCI PM spec version field: 1 (1.0), 2 (1.1), 3 (1.2). */
  version: number;
  d1: boolean;
  d2: boolean;
  /** PME_Support: bit 0 D0, 1 D1, 2 D2, 3 D3hot, 4 D3cold. */
  pme: number;
  noSoftReset?: boolean;
}

export interface DeviceSpec {
  /** The key as written ("01.0", or "00.a5" below an ARI port). */
  key: string;
  slot: number;
  fn: number;
  /** devfn = slot << 3 | fn (for ARI keys, the function number itself). */
  devfn: number;
  id: PciId;
  subsystem?: PciId;
  classCode: number;
  revision: number;
  type: PciType;
  pcie: boolean;
  /** The multifunction bit of the header type register as the topology sets it. */
  multifunctionBit: boolean;
  /** ACS capability bits offered, or null for no ACS extended capability. */
  acsCap: number | null;
  ari: boolean;
  pasidBits: number;
  /** Fixed secondary bus number (bridges only). */
  fixedSecondaryBus?: number;
  /** `slot.number`: the physical slot number of a root or downstream port (SLTCAP PSN). */
  slotNumber?: number;
  /** `slot.chassis`: a PCI bridge's chassis number (slot numbering capability). */
  chassis?: number;
  /** `slot.hotplug`: the slot is hot-plug capable (SLTCAP, or SHPC on a PCI bridge). */
  hotplug?: boolean;
  /** `link`: LNKCAP speed and width; `link-status`: LNKSTA, when not the trained link. */
  link?: LinkSpec;
  linkStatus?: LinkSpec;
  /** `port`: LNKCAP port number. */
  port?: number;
  msi?: MsiSpec;
  /** `msix`: MSI-X table size (0 = no MSI-X capability). */
  msix?: number;
  /** `pm`: the PM capability, or null for none. */
  pm?: PmSpec | null;
  devices: DeviceSpec[];
  /** Extra DMA alias devfns on the same bus (topology `dma-alias`). */
  dmaAlias: number[];
  driver?: string;
  sriov?: SriovSpec;
  mdev: MdevTypeSpec[];
  nvme?: NvmeSpec;
  numaNode: number;
  label?: string;
  /** BARs as the topology gives them (`bars`); default: the QEMU model's or the class's. */
  bars?: BarSpec[];
  /** Expansion ROM size in bytes, 0 for none (`rom`); default as for `bars`. */
  rom?: number;
  pos: SourcePos;
  /** The YAML path for messages, e.g. `pci[0].devices."01.0"`. */
  path: string;
}

export interface RootBusSpec {
  segment: number;
  bus: number;
  /** Unit name, 'none' (outside every unit), or undefined (units' scope decides). */
  iommu?: string;
  devices: DeviceSpec[];
  pos: SourcePos;
}

export interface PlatformDeviceSpec {
  name: string;
  iommu?: string;
  streamIds: number[];
  driver?: string;
  pos: SourcePos;
}

export interface DriverSpec {
  name: string;
  ids: PciId[];
}

export interface AcsOverride {
  downstream: boolean;
  multifunction: boolean;
  ids: PciId[];
}

/** The kernel command line, reduced to the parameters the engine honours. */
export interface BootOptions {
  raw: string;
  intelIommu?: 'on' | 'off';
  amdIommuOff: boolean;
  /** iommu.passthrough=1 or iommu=pt → true; iommu.passthrough=0 or iommu=nopt → false. */
  passthrough?: boolean;
  /** iommu.strict=1 (or intel_iommu=strict) → true; iommu.strict=0 → false. */
  strict?: boolean;
  acsOverride: AcsOverride;
  allowUnsafeInterrupts: boolean;
  /** pci=disable_acs_redir=<devs>: device matchers as the kernel writes them. */
  disableAcsRedir: string[];
  noats: boolean;
  /** Messages for parameters that look meaningful but are not (pci=noacs). */
  warnings: string[];
}

export interface Topology {
  version: 1;
  file: string;
  name: string;
  description: string;
  arch: Arch;
  cmdline: BootOptions;
  iommus: IommuUnitSpec[];
  pci: RootBusSpec[];
  platform: PlatformDeviceSpec[];
  drivers: DriverSpec[];
  /** Kernel the topology models; only 6.1 semantics are implemented so far. */
  kernel: '6.1';
}

export interface Diagnostic {
  file: string;
  line: number;
  col: number;
  /** YAML path of the offending node, e.g. `pci[0].devices."01.0".id` (may be empty). */
  path: string;
  message: string;
}

export function formatDiagnostic(d: Diagnostic): string {
  return `${d.file}:${d.line}:${d.col}: ${d.path ? d.path + ': ' : ''}${d.message}`;
}
