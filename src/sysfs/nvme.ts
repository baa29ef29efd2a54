// An NVMe controller's class device nvme<N> (drivers/nvme/host/core.c, Linux 6.1): the
// attributes of nvme_dev_attrs a PCIe controller shows (nvme_dev_attrs_are_visible hides
// delete_controller, which nvme-pci has no op for, and the fabrics-only hostnqn, hostid,
// ctrl_loss_tmo, reconnect_delay, fast_io_fail_tmo and dhchap secrets; pci.c's cmb and hmb
// group shows nothing without a CMB or an HMB request), its namespaces' disks and ng<N>n<M>
// generic char devices, and its subsystem devices/virtual/nvme-subsystem/nvme-subsys<N>.

import type { ClassDevice } from '../engine/driver-effects';
import type { Machine } from '../engine/machine';
import { CHAR_MAJOR, NVME_TEMPS, identityField, iopolicy, millicelsius, nvmeIdentity, setIopolicy, setTemperatureThreshold, temperatureThresholds } from '../engine/nvme';
import { plainPower } from '../engine/power';
import type { PciDevice } from '../engine/types';
import { allDisks, controllerPath, diskDir, disksOf, kernfsLink } from './block-devices';
import type { PlacedDisk } from './block-devices';
import { dir, relLink, ro, rw, uevent, wo } from './build';
import type { Entries } from './build';
import type { DirNode } from './node';
import { powerDir } from './power';

/** The controller's own attributes (besides device, power, subsystem, uevent, which every
 * class device has), and its namespaces' devices. */
export function nvmeControllerEntries(m: Machine, d: PciDevice, c: ClassDevice): Entries {
  const id = (): ReturnType<typeof nvmeIdentity> => nvmeIdentity(d.fn);
  const queues = (): number => m.driverEffects.vectors(d).length || 1;
  const e: Entries = [
    // nvme_pci_get_address: the PCI device's name.
    ['address', ro(() => d.name)],
    ['cntlid', ro(() => '0')],
    ['cntrltype', ro(() => id().cntrltype)],
    ['dctype', ro(() => 'none')],
    ['dev', ro(() => `${CHAR_MAJOR.nvme}:${c.index}`)],
    ['firmware_rev', ro(() => identityField(id(), 'firmware'))],
    ['kato', ro(() => '0')],
    ['model', ro(() => identityField(id(), 'model'))],
    ['numa_node', ro(() => String(d.numaNode))],
    // Admin queue plus one I/O queue per vector beyond the admin's.
    ['queue_count', ro(() => String(queues()))],
    // nvme_sysfs_rescan / nvme_sysfs_reset on a live controller: done, nothing changes.
    ['rescan_controller', wo(() => undefined)],
    ['reset_controller', wo(() => undefined)],
    ['serial', ro(() => identityField(id(), 'serial'))],
    // min(CAP.MQES + 1, io_queue_depth 1024) - 1.
    ['sqsize', ro(() => '1023')],
    ['state', ro(() => 'live')],
    ['subsysnqn', ro(() => id().subnqn)],
    ['transport', ro(() => 'pcie')],
  ];
  e.push([hwmonName(c), hwmonDir(m, d, c)]);
  for (const k of disksOf(m, d)) {
    e.push([k.name, diskDir(m, k)]);
    e.push([genericName(k), genericDir(m, k)]);
  }
  return e;
}

/** nvme_hwmon_init registers a hwmon device below the controller (CONFIG_NVME_HWMON, set in
 * Debian's 6.1: the recorded nvme0 has a second directory beside power/ [rec: sriov.json,
 * nlink 4]). hwmon_ida gives the lowest free number, and only nvme registers hwmon devices
 * here, at the same probes and removes as the controller numbers: hwmon<N> of nvme<N>. */
function hwmonName(c: ClassDevice): string {
  return `hwmon${c.index}`;
}

/** The composite sensor (channel 0): input, label, alarm, the warning threshold as max and
 * the under-temperature one as min (0644: Set Features), WCTEMP's sibling CCTEMP as crit. */
function hwmonDir(m: Machine, d: PciDevice, c: ClassDevice): DirNode {
  const ctrl = controllerPath(d, c);
  const here = `${ctrl}/${hwmonName(c)}`;
  const threshold = (which: 'max' | 'min'): ReturnType<typeof rw> =>
    rw(() => String(millicelsius(temperatureThresholds(c)[which])), (t) => {
      setTemperatureThreshold(c, which, t);
      m.changes.note();
    });
  return dir(() => [
    ['device', kernfsLink(here, ctrl)],
    ['name', ro(() => 'nvme')],
    ['power', powerDir(m, plainPower(m, c, 'hwmon', {}, d))],
    ['subsystem', relLink(here, 'class/hwmon')],
    ['temp1_alarm', ro(() => '0')],
    ['temp1_crit', ro(() => String(millicelsius(NVME_TEMPS.critical)))],
    ['temp1_input', ro(() => String(millicelsius(NVME_TEMPS.composite)))],
    ['temp1_label', ro(() => 'Composite')],
    ['temp1_max', threshold('max')],
    ['temp1_min', threshold('min')],
    ['uevent', uevent(() => [])],
  ]);
}

/** The controller's uevent: the char device, then nvme_class_uevent's transport. */
export function nvmeControllerUevent(c: ClassDevice): string[] {
  return [`MAJOR=${CHAR_MAJOR.nvme}`, `MINOR=${c.index}`, `DEVNAME=${c.name}`, 'NVME_TRTYPE=pcie'];
}

/** nvme_add_ns_cdev: ng<ctrl instance>n<ns head instance>. */
export function genericName(k: PlacedDisk): string {
  return `ng${k.ctrl.index}n${k.disk.nsid}`;
}

function genericDir(m: Machine, k: PlacedDisk): DirNode {
  const here = `${controllerPath(k.pci, k.ctrl)}/${genericName(k)}`;
  return dir(() => [
    ['dev', ro(() => `${CHAR_MAJOR['nvme-generic']}:${k.disk.generic}`)],
    ['device', kernfsLink(here, controllerPath(k.pci, k.ctrl))],
    ['power', powerDir(m, plainPower(m, k.disk, 'ng', {}, k.pci))],
    ['subsystem', relLink(here, 'class/nvme-generic')],
    ['uevent', uevent(() => [`MAJOR=${CHAR_MAJOR['nvme-generic']}`, `MINOR=${k.disk.generic}`, `DEVNAME=${genericName(k)}`])],
  ]);
}

/** Bound NVMe controllers and their class devices. */
function controllers(m: Machine): Array<{ d: PciDevice; c: ClassDevice }> {
  const out: Array<{ d: PciDevice; c: ClassDevice }> = [];
  for (const d of m.pciDevicesInOrder()) for (const c of m.driverEffects.classDevices(d)) if (c.kind === 'nvme') out.push({ d, c });
  return out.sort((a, b) => a.c.index - b.c.index);
}

/** nvme_init_subsystem: every controller here is the only one of its subsystem (its own
 * serial, so its own NQN; CMIC multi-controller clear, so no multipath head disk), named
 * after the controller's instance. */
function subsystemDir(m: Machine, d: PciDevice, c: ClassDevice): DirNode {
  const here = `devices/virtual/nvme-subsystem/nvme-subsys${c.index}`;
  const id = (): ReturnType<typeof nvmeIdentity> => nvmeIdentity(d.fn);
  return dir(() => [
    ['firmware_rev', ro(() => identityField(id(), 'firmware'))],
    // CONFIG_NVME_MULTIPATH: the I/O policy, numa by default; "numa" or "round-robin".
    ['iopolicy', rw(() => iopolicy(c), (t) => {
      setIopolicy(c, t);
      m.changes.note();
    })],
    ['model', ro(() => identityField(id(), 'model'))],
    [c.name, relLink(here, controllerPath(d, c))],
    ['power', powerDir(m, plainPower(m, c, 'subsys', {}, d))],
    ['serial', ro(() => identityField(id(), 'serial'))],
    ['subsysnqn', ro(() => id().subnqn)],
    ['subsystem', relLink(here, 'class/nvme-subsystem')],
    ['subsystype', ro(() => 'nvm')],
    ['uevent', uevent(() => [])],
  ]);
}

export function virtualNvmeSubsystemDir(m: Machine): DirNode {
  return dir(() => controllers(m).map(({ d, c }) => [`nvme-subsys${c.index}`, subsystemDir(m, d, c)]), 0o755, () => m.generation);
}

export function hasNvmeControllers(m: Machine): boolean {
  return controllers(m).length > 0;
}

/** /sys/class/nvme-subsystem and /sys/class/nvme-generic (registered by nvme_core at load:
 * present, maybe empty, while the module is loaded; shown here while a controller is bound). */
export function nvmeClassEntries(m: Machine): Entries {
  if (!hasNvmeControllers(m)) return [];
  const version = (): number => m.generation;
  return [
    [
      'hwmon',
      dir(() => controllers(m).map(({ d, c }) => [hwmonName(c), relLink('class/hwmon', `${controllerPath(d, c)}/${hwmonName(c)}`)]), 0o755, version),
    ],
    [
      'nvme-generic',
      dir(() => allDisks(m).map((k) => [genericName(k), relLink('class/nvme-generic', `${controllerPath(k.pci, k.ctrl)}/${genericName(k)}`)]), 0o755, version),
    ],
    [
      'nvme-subsystem',
      dir(() => controllers(m).map(({ c }) => [`nvme-subsys${c.index}`, relLink('class/nvme-subsystem', `devices/virtual/nvme-subsystem/nvme-subsys${c.index}`)]), 0o755, version),
    ],
  ];
}
