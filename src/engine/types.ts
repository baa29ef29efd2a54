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
  dmaAliasMask: Set<number>;
  /** Quirk flags from drivers/pci/quirks.c: PCI_DEV_FLAGS_PCIE_BRIDGE_ALIAS / BRIDGE_XLATE_ROOT. */
  pcieBridgeAlias: boolean;
  bridgeXlateRoot: boolean;
  /** Names of the alias quirks that applied, for `explain`. */
  aliasQuirks: string[];
  acsCtrl: number;
  /** Global add sequence: the order Linux added the device to the bus. */
  seq: number;
  driver: string | null;
  driverOverride: string | null;
  /** PF only: sriov_drivers_autoprobe. */
  sriovAutoprobe: boolean;
  numaNode: number;
  steps: GroupStep[];
}

export interface PlatformDevice {
  kind: 'platform';
  name: string;
  spec: PlatformDeviceSpec;
  unit: IommuUnit | null;
  group: IommuGroup | null;
  seq: number;
  driver: string | null;
  steps: GroupStep[];
}

export type Device = PciDevice | PlatformDevice;

export interface IommuGroup {
  id: number;
  unit: IommuUnit;
  /** Members in the order they joined. */
  devices: Device[];
  /** The type of the current default domain, as the `type` file shows it. */
  defaultType: DomainType;
}
