// SR-IOV files (drivers/pci/iov.c sriov_pf_dev_attrs, sriov_vf_dev_attrs, pci_iov_sysfs_link):
// on a PF the sriov_* attributes and virtfnN links, on a VF the physfn link.

import type { Machine } from '../engine/machine';
import { autoprobeStore, numVfsStore } from '../engine/sriov';
import type { PciDevice } from '../engine/types';
import { relLink, ro, rw } from './build';
import type { Entries } from './build';
import { deviceDirPath } from './paths';

export function sriovEntries(m: Machine, d: PciDevice, here: string): Entries {
  const f = d.fn;
  if (f.physfn) {
    const pf = m.deviceOf(f.physfn);
    return pf ? [['physfn', relLink(here, deviceDirPath(pf))]] : [];
  }
  const sriov = f.spec.sriov;
  if (!sriov) return [];
  const e: Entries = [
    ['sriov_drivers_autoprobe', rw(() => (d.sriovAutoprobe ? '1' : '0'), (t) => autoprobeStore(m, d, t))],
    ['sriov_numvfs', rw(() => String(m.vfCount(d)), (t) => numVfsStore(m, d, t))],
    ['sriov_offset', ro(() => String(sriov.offset))],
    ['sriov_stride', ro(() => String(sriov.stride))],
    ['sriov_totalvfs', ro(() => String(sriov.total))],
    ['sriov_vf_device', ro(() => sriov.vfId.device.toString(16))],
    ['sriov_vf_total_msix', ro(() => '0')],
  ];
  m.vfsOf(d).forEach((vf, i) => e.push([`virtfn${i}`, relLink(here, deviceDirPath(vf))]));
  return e;
}
