// The engine's runtime objects: devices with their IOMMU unit, group and driver, and groups.

import type { PciFunction } from '../pci/enumerate';
import type { IommuUnitSpec, PlatformDeviceSpec } from '../topology/model';
import type { DomainType } from './domain-type';

export interface IommuUnit {
  spec: IommuUnitSpec;
  name: string;
  /** False when the command line switched the driver off (intel_iommu=off, amd_iommu=off). */
  active: boolean;
}

/** One step of the reasoning that put a device in its group, for `explain`. */
export interface GroupStep {
  kind: 'alias' | 'acs' | 'alias-quirk' | 'slot' | 'new' | 'platform' | 'override';
  text: string;
  /** The device whose group was joined, when one was. */
  joined?: string;
}

export interface PciDevice {
  kind: 'pci';
  name: string;
  fn: PciFunction;
  unit: IommuUnit | null;
  group: IommuGroup | null;
  /** Devfns on the device's own bus that its DMA also uses (quirks and topology `dma-alias`). */
  dmaAliasMask: ReadonlySet<number>;
  /** Quirk flags from drivers/pci/quirks.c: PCI_DEV_FLAGS_PCIE_BRIDGE_ALIAS / BRIDGE_XLATE_ROOT. */
  pcieBridgeAlias: boolean;
  bridgeXlateRoot: boolean;
  /** Names of the alias quirks that applied, for `explain`. */
  aliasQuirks: readonly string[];
  acsCtrl: number;
  /** Global add sequence: the order Linux added the device to the bus. */
  seq: number;
  driver: string | null;
  driverOverride: string | null;
  /** pci_enable_device calls made through the `enable` file (enable_cnt beyond a bridge's own). */
  userEnables: number;
  /** broken_parity_status, as written. */
  brokenParity: boolean;
  /** `rom` made readable by writing 1 (pci-sysfs.c pdev->rom_attr_enabled). */
  romEnabled?: boolean;
  /** d3cold_allowed as written; null until then (the default rule applies). */
  d3coldAllowed: boolean | null;
  /** msi_bus written 0: no MSI for future drivers (a bridge: for its subordinate bus). */
  noMsi: boolean;
  /** reset_method as written; null for what the probe found ("default"). */
  resetMethods: string[] | null;
  /** PF only: sriov_drivers_autoprobe. */
  sriovAutoprobe: boolean;
  numaNode: number;
  /** Why it sits in its group, for `explain`; null for a device grouped in boot's probe loop,
   * whose steps are made when asked (Machine.groupSteps). */
  steps: GroupStep[] | null;
  /** Its place in boot's probe loop (the add order), -1 for a device added after it. */
  bootIndex: number;
}

export interface PlatformDevice {
  kind: 'platform';
  name: string;
  spec: PlatformDeviceSpec;
  unit: IommuUnit | null;
  group: IommuGroup | null;
  seq: number;
  driver: string | null;
  /** driver_override (drivers/base/platform.c uses driver_set_override too). */
  driverOverride: string | null;
  steps: GroupStep[];
}

/**
 * A mediated device (drivers/vfio/mdev): a slice of its parent made by writing a UUID to the
 * parent's mdev_supported_types/<type>/create. It has no IOMMU unit of its own; VFIO gives it
 * an emulated group (vfio_register_emulated_iommu_dev → vfio_noiommu_group_alloc).
 */
export interface MdevDevice {
  kind: 'mdev';
  /** The UUID, lower case: the directory name under the parent and in bus/mdev/devices. */
  name: string;
  parent: PciDevice;
  /** The type's directory name under mdev_supported_types (topology `mdev[].type`). */
  type: string;
  unit: null;
  group: IommuGroup | null;
  seq: number;
  /** The vendor's mdev driver; named after the parent's driver here. */
  driver: string | null;
  steps: GroupStep[];
}

export type Device = PciDevice | PlatformDevice | MdevDevice;

/**
 * `iommu`: a group of an IOMMU unit. `vfio-noiommu`: a group VFIO made itself for a device
 * without one (iommu_group_alloc + iommu_group_set_name(g, "vfio-noiommu") in
 * drivers/vfio/vfio_main.c): no unit, no default domain, no reserved regions, a `name` file.
 */
export type GroupKind = 'iommu' | 'vfio-noiommu';

export interface IommuGroup {
  id: number;
  kind: GroupKind;
  /** Null exactly for `vfio-noiommu` groups. */
  unit: IommuUnit | null;
  /** Members in the order they joined. */
  devices: Device[];
  /** The type of the current default domain, as the `type` file shows it. */
  defaultType: DomainType;
}
