// SR-IOV: sriov_numvfs (drivers/pci/iov.c sriov_numvfs_store, sriov_enable, sriov_disable,
// pci_iov_add_virtfn) and sriov_drivers_autoprobe. Checks run in the kernel's order.

import { makeVf, vfBus, vfBusOutOfRange, vfRoutingId } from '../pci/enumerate';
import type { PciBus } from '../pci/enumerate';
import { parseBool, parseUlong } from './driver-ops';
import { Errno } from './errno';
import type { Machine } from './machine';
import type { PciDevice } from './types';

/**
 * Whether the bound driver implements sriov_configure (its DriverTraits): pci-pf-stub for any
 * PF; a PF driver for hardware its static ID table claims (a `driver:` key or a `drivers:`
 * entry of the topology; the writes and sriov recordings load nvme with modprobe, and nvme's
 * sriov_configure enables VFs). vfio-pci configures SR-IOV only with its enable_sriov=1
 * parameter, which is not simulated; pci-stub and pcieport never do.
 */
function driverConfiguresSriov(m: Machine, pf: PciDevice): boolean {
  const drv = pf.driver === null ? undefined : m.drivers.get(pf.driver);
  if (!drv) return false;
  switch (drv.traits.sriovConfigure) {
    case 'any':
      return true;
    case 'own':
      return drv.ids.some((id) => id.vendor === pf.fn.id.vendor && id.device === pf.fn.id.device);
    case 'none':
      return false;
  }
}

export function numVfsStore(m: Machine, pf: PciDevice, raw: string): void {
  const sriov = pf.fn.spec.sriov!;
  const n = parseUlong(raw);
  if (n === undefined || n > 0xffff) throw new Errno('EINVAL', 'sriov_numvfs takes a number');
  if (n > sriov.total) throw new Errno('ERANGE', `${n} is more than sriov_totalvfs (${sriov.total})`);
  const current = m.vfCount(pf);
  if (n === current) return;
  if (pf.driver === null) throw new Errno('ENOENT', 'no driver bound to device; cannot configure SR-IOV');
  if (!driverConfiguresSriov(m, pf)) throw new Errno('ENOENT', `driver ${pf.driver} does not support SR-IOV configuration via sysfs`);
  if (n === 0) {
    m.disableVfs(pf);
    return;
  }
  if (current !== 0) throw new Errno('EBUSY', `${current} VFs already enabled. Disable before enabling ${n} VFs`);
  enableVfs(m, pf, n);
}

export function enableVfs(m: Machine, pf: PciDevice, n: number): void {
  const lastBus = vfBusOutOfRange(pf.fn, n);
  if (lastBus !== undefined) throw new Errno('ENOMEM', `can't enable ${n} VFs (bus ${lastBus.toString(16).padStart(2, '0')} out of range)`);
  const buses = new Map<number, PciBus>();
  const vfs: PciDevice[] = [];
  for (let i = 0; i < n; i++) {
    const busNumber = vfRoutingId(pf.fn, i) >> 8;
    let bus = buses.get(busNumber);
    if (!bus) {
      bus = vfBus(pf.fn, busNumber);
      buses.set(busNumber, bus);
    }
    const f = makeVf(pf.fn, i, bus);
    bus.devices.push(f);
    bus.devices.sort((a, b) => a.devfn - b.devfn);
    const vf = m.createPciDevice(f);
    vf.driver = null;
    m.probePci(vf);
    vfs.push(vf);
  }
  m.setVfs(pf, vfs);
  for (const vf of vfs) m.autoBind(vf, false);
}

export function autoprobeStore(m: Machine, pf: PciDevice, raw: string): void {
  const v = parseBool(raw);
  if (v === undefined) throw new Errno('EINVAL', 'sriov_drivers_autoprobe takes a boolean');
  pf.sriovAutoprobe = v;
  m.changes.note({ device: pf });
}
