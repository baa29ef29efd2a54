// Which IOMMU unit translates a device. Intel: drivers/iommu/intel/dmar.c device_to_iommu
// (a VF is looked up as its PF; a scope entry covers the device and everything below it);
// AMD: the IVRS device ranges. A device outside every unit gets no group at all.

import type { PciFunction } from '../pci/enumerate';
import type { Topology } from '../topology/model';
import type { IommuUnit } from './types';

/**
 * The units whose drivers run. VT-d needs intel_iommu=on: Debian's 6.1 kernels are built
 * without CONFIG_INTEL_IOMMU_DEFAULT_ON, and every reference recording boots with it.
 * AMD-Vi is on unless amd_iommu=off.
 */
export function activeUnits(t: Topology, warnings: string[]): IommuUnit[] {
  return t.iommus.map((spec) => {
    let active = true;
    if (spec.type === 'intel-vtd' && t.cmdline.intelIommu !== 'on') {
      active = false;
      warnings.push(
        t.cmdline.intelIommu === 'off'
          ? `${spec.name}: intel_iommu=off, VT-d is disabled: no groups for its devices`
          : `${spec.name}: VT-d stays off without intel_iommu=on (Debian 6.1 is built without CONFIG_INTEL_IOMMU_DEFAULT_ON)`,
      );
    }
    if (spec.type === 'amd-vi' && t.cmdline.amdIommuOff) {
      active = false;
      warnings.push(`${spec.name}: amd_iommu=off, AMD-Vi is disabled: no groups for its devices`);
    }
    return { spec, name: spec.name, active };
  });
}

export function coveringUnit(units: IommuUnit[], f: PciFunction): IommuUnit | null {
  const target = f.physfn ?? f;
  const rootChoice = target.bus.hostBridge.spec.iommu;
  let unit: IommuUnit | undefined;
  if (rootChoice === 'none') return null;
  if (rootChoice !== undefined) {
    unit = units.find((u) => u.name === rootChoice);
  } else {
    unit = units.find((u) => inScope(u, target));
  }
  return unit && unit.active ? unit : null;
}

function inScope(u: IommuUnit, f: PciFunction): boolean {
  const scope = u.spec.scope;
  if (scope === 'all') return true;
  let cur: PciFunction | null = f;
  while (cur) {
    if (scope.includes(cur.name)) return true;
    cur = cur.bus.bridge;
  }
  return false;
}
