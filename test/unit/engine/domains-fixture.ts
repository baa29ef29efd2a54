// A machine for the domain engine's tests: two VT-d units (dmar0 with interrupt remapping,
// PASID, nesting and dirty tracking; dmar1 without remapping or PASID), an SR-IOV PF, a GPU that
// is an mdev parent (two types), a shared multifunction group and a PASID-capable NIC.

import assert from 'node:assert/strict';
import { Machine } from '../../../src/engine/machine';
import type { IommuGroup, PciDevice } from '../../../src/engine/types';
import { loadTopology } from '../../../src/topology/load';

export const DOMAINS_TOPOLOGY = `version: 1
name: domains-lab
cmdline: intel_iommu=on
iommus:
  - { name: dmar1, type: intel-vtd, scope: ["0000:00:03.0"], interrupt-remapping: false }
  - { name: dmar0, type: intel-vtd, scope: all, interrupt-remapping: true, pasid: 20, nesting: true, dirty-tracking: true }
pci:
  - segment: 0x0000
    bus: 0x00
    devices:
      "00.0": { id: 8086:29c0, class: 0x060000, type: host-bridge }
      "01.0":
        id: 1b36:000c
        type: root-port
        acs: [sv, rr, cr, uf]
        devices:
          "00.0": { id: 8086:10d3, class: 0x020000, driver: e1000e, pasid: 20 }
      "02.0":
        id: 1b36:000c
        type: root-port
        acs: [sv, rr, cr, uf]
        devices:
          "00.0":
            id: 1b36:0010
            class: 0x010802
            driver: nvme
            sriov: { total: 4, offset: 1, stride: 1, vf-id: 1b36:0010, vf-driver: nvme, num: 0 }
      "02.1":
        id: 1b36:000c
        type: root-port
        acs: [sv, rr, cr, uf]
        devices:
          "00.0":
            id: 8086:3e92
            class: 0x030000
            driver: i915
            mdev:
              - { type: i915-GVTg_V5_4, name: GVTg_V5_4, available: 2 }
              - { type: i915-GVTg_V5_8, available: 1 }
      "03.0":
        id: 1b36:000c
        type: root-port
        acs: [sv, rr, cr, uf]
        devices:
          "00.0": { id: 10de:1b80, class: 0x030000, multifunction: true }
          "00.1": { id: 10de:10f0, class: 0x040300, driver: snd_hda_intel }
      "1f.0": { id: 8086:2918, class: 0x060100, pcie: false, multifunction: true }
      "1f.2": { id: 8086:2922, class: 0x010601, pcie: false, driver: ahci }
      "1f.3": { id: 8086:2930, class: 0x0c0500, pcie: false }
drivers:
  - { name: nvme, ids: [1b36:0010] }
  - { name: e1000e, ids: [8086:10d3] }
  - { name: i915, ids: [8086:3e92] }
  - { name: snd_hda_intel, ids: [10de:10f0] }
`;

export const NIC = '0000:01:00.0';
export const PF = '0000:02:00.0';
export const GPU = '0000:03:00.0';
export const NV_GPU = '0000:04:00.0';
export const NV_AUDIO = '0000:04:00.1';

export function bootDomains(text = DOMAINS_TOPOLOGY): Machine {
  const r = loadTopology(text, 'domains-lab.yaml');
  if (!r.ok) assert.fail(r.errors.map((e) => `${e.line}:${e.col} ${e.message}`).join('\n'));
  return Machine.boot(r.topology);
}

export function pci(m: Machine, name: string): PciDevice {
  const d = m.devices.get(name);
  assert.ok(d && d.kind === 'pci', `no PCI device ${name}`);
  return d;
}

export function groupOf(m: Machine, name: string): IommuGroup {
  const g = m.devices.get(name)?.group;
  assert.ok(g, `${name} has no group`);
  return g;
}
