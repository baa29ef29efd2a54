// Where things live in the simulated /sys (all paths relative to its root).

import type { Device } from '../engine/types';

export function deviceDirPath(d: Device): string {
  if (d.kind === 'pci') return d.fn.sysfsPath;
  // An mdev sits in its parent's directory (mdev_device_create: dev.parent = parent->dev).
  if (d.kind === 'mdev') return `${d.parent.fn.sysfsPath}/${d.name}`;
  return `devices/platform/${d.name}`;
}

export const BUS_PCI = 'bus/pci';
export const PCI_DRIVERS = 'bus/pci/drivers';

export function driverDirPath(bus: 'pci' | 'platform' | 'mdev', driver: string): string {
  return `bus/${bus}/drivers/${driver}`;
}

export function iommuUnitPath(unit: string): string {
  return `devices/virtual/iommu/${unit}`;
}
