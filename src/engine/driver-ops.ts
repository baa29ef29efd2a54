// Writes that change which driver a device has. Each checks everything first and changes
// state only when it succeeds, with the kernel's errno on refusal.

import { Errno } from './errno';
import { dynIdFrom, driverMatches, parseIdFields } from './drivers';
import type { Driver } from './drivers';
import type { Machine } from './machine';
import { cString, sysfsWord } from './sysfs-text';
import type { PciDevice, PlatformDevice } from './types';

function driverOrThrow(m: Machine, name: string): Driver {
  const d = m.drivers.get(name);
  if (!d) throw new Errno('ENODEV', `no driver ${name}`);
  return d;
}

function pciDeviceByName(m: Machine, raw: string): PciDevice | undefined {
  const d = m.devices.get(sysfsWord(raw));
  return d && d.kind === 'pci' ? d : undefined;
}

/** pci_device_can_probe: a VF is probed only with autoprobe on or an override set (iov.c). */
export function canProbe(m: Machine, d: PciDevice): boolean {
  const pf = d.fn.physfn;
  if (!pf) return true;
  return d.driverOverride !== null || (m.deviceOf(pf)?.sriovAutoprobe ?? true);
}

/** drivers/base/bus.c bind_store. */
export function bind(m: Machine, driverName: string, raw: string): void {
  const drv = driverOrThrow(m, driverName);
  const d = pciDeviceByName(m, raw);
  if (!d || !driverMatches(drv, d.fn, d.driverOverride)) throw new Errno('ENODEV', `${sysfsWord(raw)}: no such device for ${drv.name}`);
  if (d.driver !== null) throw new Errno('EBUSY', `${d.name} already has a driver`);
  if (!canProbe(m, d)) throw new Errno('ENODEV', `${d.name}: VF probing is disabled by sriov_drivers_autoprobe`);
  // really_probe: dma_configure first (probeWith's checkBind), then the driver's probe,
  // whose failure bind_store returns (device_driver_attach) and which leaves it unbound.
  if (!m.probeWith(d, drv)) throw new Errno('ENODEV', `${drv.name}'s probe does not take ${d.name}`);
}

/** drivers/base/bus.c unbind_store. */
export function unbind(m: Machine, driverName: string, raw: string): void {
  const drv = driverOrThrow(m, driverName);
  const d = pciDeviceByName(m, raw);
  if (!d || d.driver !== drv.name) throw new Errno('ENODEV', `${sysfsWord(raw)} is not bound to ${drv.name}`);
  m.detachDriver(d);
}

/** drivers/base/driver.c driver_set_override: a trailing newline is dropped; empty clears. */
export function setDriverOverride(m: Machine, d: PciDevice | PlatformDevice, raw: string): void {
  if (raw.length >= 4096 - 1) throw new Errno('EINVAL', 'override too long');
  let s = cString(raw);
  if (s.endsWith('\n')) s = s.slice(0, -1);
  d.driverOverride = s.length === 0 ? null : s;
  m.changes.note({ device: d });
}

/** drivers/base/bus.c drivers_probe_store → device_attach: the first matching driver binds. */
export function driversProbe(m: Machine, raw: string): void {
  const d = pciDeviceByName(m, raw);
  if (!d) throw new Errno('ENODEV', `no device ${sysfsWord(raw)}`);
  m.autoBind(d, true);
}

/** drivers/pci/pci-driver.c new_id_store. */
export function newId(m: Machine, driverName: string, raw: string): void {
  const drv = driverOrThrow(m, driverName);
  const parsed = parseIdFields(cString(raw));
  if (!parsed) throw new Errno('EINVAL', 'new_id needs at least "vendor device" in hex');
  const id = dynIdFrom(parsed.fields);
  if (parsed.fields.length !== 7) {
    const probe = {
      id: { vendor: id.vendor, device: id.device },
      subsystem: { vendor: id.subvendor, device: id.subdevice },
      classCode: id.classCode,
    };
    const dup =
      drv.dynIds.some((x) => x.vendor === id.vendor && x.device === id.device) ||
      (!drv.traits.overrideOnly && drv.ids.some((x) => x.vendor === probe.id.vendor && x.device === probe.id.device));
    if (dup) throw new Errno('EEXIST', `${drv.name} already has ${id.vendor.toString(16)}:${id.device.toString(16)}`);
  }
  drv.dynIds.push(id);
  // The driver's module now counts as loaded (/sys/module, the driver's `module` link).
  m.changes.note();
  attachToNewDriver(m, drv);
}

/** drivers/base/dd.c driver_attach, after a new ID or a driver's registration: every
 * unbound device the driver matches gets probed. */
export function attachToNewDriver(m: Machine, drv: Driver): void {
  for (const d of m.pciDevicesInOrder()) {
    if (d.driver === null && canProbe(m, d) && driverMatches(drv, d.fn, d.driverOverride)) {
      try {
        m.probeWith(d, drv);
      } catch (e) {
        if (!(e instanceof Errno)) throw e; // a refused probe leaves that device unbound
      }
    }
  }
}

/** drivers/pci/pci-driver.c remove_id_store: the first matching dynamic ID goes. */
export function removeId(m: Machine, driverName: string, raw: string): void {
  const drv = driverOrThrow(m, driverName);
  const parsed = parseIdFields(cString(raw));
  if (!parsed) throw new Errno('EINVAL', 'remove_id needs at least "vendor device" in hex');
  const want = dynIdFrom(parsed.fields);
  const at = drv.dynIds.findIndex(
    (x) =>
      x.vendor === want.vendor &&
      x.device === want.device &&
      (parsed.fields.length < 3 || x.subvendor === want.subvendor) &&
      (parsed.fields.length < 4 || x.subdevice === want.subdevice),
  );
  if (at < 0) throw new Errno('ENODEV', `${drv.name} has no dynamic ID ${want.vendor.toString(16)}:${want.device.toString(16)}`);
  drv.dynIds.splice(at, 1);
  m.changes.note();
}

/** kstrtobool (lib/kstrtox.c): only the first character counts (y, t, 1 / n, f, 0), or the
 * first two for "on"/"of"; so "yes", "1x" and "0x5" are read too. */
export function parseBool(raw: string): boolean | undefined {
  const s = cString(raw).toLowerCase();
  if ('yt1'.includes(s[0] ?? '-')) return true;
  if ('nf0'.includes(s[0] ?? '-')) return false;
  if (s[0] === 'o' && s[1] === 'n') return true;
  if (s[0] === 'o' && s[1] === 'f') return false;
  return undefined;
}

/** kstrtoul(buf, 0): decimal, 0x hex or 0 octal, one trailing newline allowed. */
export function parseUlong(raw: string): number | undefined {
  const s = cString(raw).replace(/\n$/, '');
  if (/^0x[0-9a-f]+$/i.test(s)) return parseInt(s.slice(2), 16);
  if (/^0[0-7]*$/.test(s)) return parseInt(s, 8);
  if (/^[1-9][0-9]*$/.test(s)) return parseInt(s, 10);
  if (/^\+[0-9]+$/.test(s)) return parseInt(s.slice(1), 10);
  return undefined;
}

export function parseLong(raw: string): number | undefined {
  const s = cString(raw).replace(/\n$/, '');
  if (s.startsWith('-')) {
    const v = parseUlong(s.slice(1));
    return v === undefined ? undefined : -v;
  }
  return parseUlong(s);
}
