// The driver model for PCI: ID tables, driver_override, bind/unbind, drivers_probe,
// new_id/remove_id and autoprobe, as drivers/base/bus.c, drivers/base/dd.c and
// drivers/pci/pci-driver.c (pci_match_device, new_id_store, remove_id_store) do them.

import type { PciFunction } from '../pci/enumerate';
import type { PciId, Topology } from '../topology/model';
import { isPciePort, PORT_DRIVER } from './boot-drivers';

export interface DynId {
  vendor: number;
  device: number;
  subvendor: number;
  subdevice: number;
  classCode: number;
  classMask: number;
}

export const PCI_ANY_ID = 0xffffffff;

export interface Driver {
  name: string;
  /** Static ID table (vendor:device pairs). */
  ids: PciId[];
  dynIds: DynId[];
  /** pcieport matches by class and port type rather than by ID. */
  matchesPorts: boolean;
  /** vfio-pci's table is driver_override-only (PCI_DRIVER_OVERRIDE_DEVICE_VFIO). */
  overrideOnly: boolean;
  /** driver_managed_dma (VFIO viability): vfio-pci, pci-stub, pcieport. */
  managesDma: boolean;
  /** The kernel module that provides it; undefined for built-in drivers. */
  module?: string;
}

/**
 * PCI drivers a Debian 6.1 x86 kernel registers with no hardware present: built-in, so they
 * appear in /sys/bus/pci/drivers on every machine [rec: every recording's buspci section].
 */
export const X86_BUILTIN_DRIVERS = ['8250_mid', '8250_pericom', 'agpgart-intel', 'agpgart-sis', 'agpgart-via', 'iosf_mbi_pci', 'serial', 'shpchp', 'xen-platform-pci'];

/** Modules named differently from their driver (include/linux/module.h KBUILD_MODNAME). */
const MODULE_OF: Record<string, string> = {
  'vfio-pci': 'vfio_pci',
  'pci-stub': 'pci_stub',
};

export function buildDrivers(t: Topology): Map<string, Driver> {
  const drivers = new Map<string, Driver>();
  const ensure = (name: string): Driver => {
    let d = drivers.get(name);
    if (!d) {
      d = {
        name,
        ids: [],
        dynIds: [],
        matchesPorts: name === PORT_DRIVER,
        overrideOnly: name === 'vfio-pci',
        managesDma: name === 'vfio-pci' || name === 'pci-stub' || name === PORT_DRIVER,
        ...(name === PORT_DRIVER ? {} : { module: MODULE_OF[name] ?? name.replace(/-/g, '_') }),
      };
      drivers.set(name, d);
    }
    return d;
  };
  if (t.arch === 'x86') for (const n of X86_BUILTIN_DRIVERS) {
    const d = ensure(n);
    delete d.module;
  }
  ensure(PORT_DRIVER);
  ensure('pci-stub');
  ensure('vfio-pci');
  for (const spec of t.drivers) ensure(spec.name).ids.push(...spec.ids);
  const visit = (devices: Topology['pci'][number]['devices']): void => {
    for (const d of devices) {
      if (d.driver) addId(ensure(d.driver), d.id);
      if (d.sriov?.vfDriver) addId(ensure(d.sriov.vfDriver), d.sriov.vfId);
      visit(d.devices);
    }
  };
  for (const root of t.pci) visit(root.devices);
  return drivers;
}

function addId(d: Driver, id: PciId): void {
  if (!d.ids.some((x) => x.vendor === id.vendor && x.device === id.device)) d.ids.push(id);
}

function dynMatches(id: DynId, f: PciFunction): boolean {
  const any = (want: number, have: number | undefined): boolean => want === PCI_ANY_ID || want === have;
  return (
    any(id.vendor, f.id.vendor) &&
    any(id.device, f.id.device) &&
    any(id.subvendor, f.subsystem?.vendor ?? f.id.vendor) &&
    any(id.subdevice, f.subsystem?.device ?? f.id.device) &&
    (f.classCode & id.classMask) === (id.classCode & id.classMask)
  );
}

/** pci_match_device: driver_override first, then dynamic IDs, then the static table. */
export function driverMatches(drv: Driver, f: PciFunction, override: string | null): boolean {
  if (override !== null && override !== drv.name) return false;
  if (drv.dynIds.some((id) => dynMatches(id, f))) return true;
  if (drv.matchesPorts && isPciePort(f)) return true;
  if (!drv.overrideOnly && drv.ids.some((id) => id.vendor === f.id.vendor && id.device === f.id.device)) return true;
  // With an override naming this driver, pci_match_device falls back to pci_device_id_any.
  return override === drv.name;
}

/** Drivers that drive no hardware of their own and take any device they are matched with. */
const GENERIC_DRIVERS = new Set(['vfio-pci', 'pci-stub', 'pci-pf-stub']);

/**
 * Whether a driver's probe keeps a device it matched (drivers/base/dd.c really_probe: a
 * failed probe leaves the device unbound, and device_attach goes on to the next driver).
 * A hardware driver is known to work a device only when the topology says so: its static ID
 * table names the device (a `driver:` key or a `drivers:` entry) and, for a VF, it is the
 * PF's `vf-driver`. Matched any other way (a new_id entry naming foreign hardware, a PF
 * driver whose table also names the VF's ID) its probe fails, as recorded in sriov.json:
 * e1000e given `new_id 1af4 1041` left the virtio-net device unbound, and nvme did not keep
 * QEMU's nvme VFs with sriov_drivers_autoprobe on.
 */
export function probeKeeps(drv: Driver, f: PciFunction): boolean {
  if (GENERIC_DRIVERS.has(drv.name)) return true;
  if (drv.matchesPorts && isPciePort(f)) return true;
  if (f.physfn) return f.physfn.spec.sriov?.vfDriver === drv.name;
  return drv.ids.some((id) => id.vendor === f.id.vendor && id.device === f.id.device);
}

/** new_id / remove_id input: "vendor device [subvendor subdevice class class_mask driver_data]" in hex. */
export function parseIdFields(text: string): { fields: number[] } | undefined {
  const words = text.trim().split(/\s+/).filter((w) => w.length > 0);
  const fields: number[] = [];
  for (const w of words.slice(0, 7)) {
    const m = /^(?:0x)?([0-9a-fA-F]+)/.exec(w);
    if (!m) break;
    fields.push(parseInt(m[1]!, 16) >>> 0);
    if (m[0].length !== w.length) break; // sscanf stops at the first non-hex character
  }
  return fields.length >= 2 ? { fields } : undefined;
}

export function dynIdFrom(fields: number[]): DynId {
  return {
    vendor: fields[0]!,
    device: fields[1]!,
    subvendor: fields[2] ?? PCI_ANY_ID,
    subdevice: fields[3] ?? PCI_ANY_ID,
    classCode: fields[4] ?? 0,
    classMask: fields[5] ?? 0,
  };
}
