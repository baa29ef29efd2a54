// The driver model for PCI: ID tables, driver_override, bind/unbind, drivers_probe,
// new_id/remove_id and autoprobe, as drivers/base/bus.c, drivers/base/dd.c and
// drivers/pci/pci-driver.c (pci_match_device, new_id_store, remove_id_store) do them.

import type { PciFunction } from '../pci/enumerate';
import type { PciId, Topology } from '../topology/model';
import { isPciePort } from './boot-drivers';
import { ALWAYS_REGISTERED, traitsFor } from './driver-traits';
import type { DriverTraits } from './driver-traits';

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
  /** What the driver does to the devices it binds (driver-traits.ts). */
  traits: DriverTraits;
}

/**
 * PCI drivers a Debian 6.1 x86 kernel registers with no hardware present: built-in, so they
 * appear in /sys/bus/pci/drivers on every machine [rec: every recording's buspci section].
 */
export const X86_BUILTIN_DRIVERS = ['8250_mid', '8250_pericom', 'agpgart-intel', 'agpgart-sis', 'agpgart-via', 'iosf_mbi_pci', 'serial', 'shpchp', 'xen-platform-pci'];

export function buildDrivers(t: Topology): Map<string, Driver> {
  const drivers = new Map<string, Driver>();
  const ensure = (name: string, builtin = false): Driver => {
    let d = drivers.get(name);
    if (!d) {
      d = { name, ids: [], dynIds: [], traits: traitsFor(name, builtin) };
      drivers.set(name, d);
    }
    return d;
  };
  if (t.arch === 'x86') for (const n of X86_BUILTIN_DRIVERS) ensure(n, true);
  for (const n of ALWAYS_REGISTERED) ensure(n);
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

/** driver_managed_dma of a registered driver: the kernel does not own its devices' DMA. */
export function managesDma(m: { drivers: ReadonlyMap<string, Driver> }, driver: string): boolean {
  return m.drivers.get(driver)?.traits.managesDma ?? false;
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
  if (drv.traits.matchesPorts && isPciePort(f)) return true;
  if (!drv.traits.overrideOnly && drv.ids.some((id) => id.vendor === f.id.vendor && id.device === f.id.device)) return true;
  // With an override naming this driver, pci_match_device falls back to pci_device_id_any.
  return override === drv.name;
}

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
  if (drv.traits.generic) return true;
  if (drv.traits.matchesPorts && isPciePort(f)) return true;
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
