// The writable flags of a PCI device's directory (drivers/pci/pci-sysfs.c): what each
// store takes, refuses and keeps, and what the show then reads. Every store reports its
// change to the machine (m.changes.note, the one gateway).

import { hasFlr, hasPmReset } from '../pci/config-read';
import { parseBool, parseUlong } from './driver-ops';
import { Errno } from './errno';
import type { Machine } from './machine';
import { cString, sysfsWord } from './sysfs-text';
import type { PciDevice } from './types';

/** The reset methods a user may choose, as saved-state restore checks them. */
export const RESET_METHOD_NAMES: readonly string[] = ['flr', 'pm', 'bus'];

/** drivers/pci/pci.c pci_init_reset_methods, in the kernel's order (flr, pm, bus). */
export function supportedResetMethods(m: Machine, d: PciDevice): string[] {
  const cfg = m.configBytes(d);
  const out: string[] = [];
  if (hasFlr(cfg)) out.push('flr');
  if (hasPmReset(cfg)) out.push('pm');
  // pci_parent_bus_reset, as evaluated when the device is added (pci_init_reset_methods in
  // pci_device_add): not on a root bus nor a virtual bus, and no other device on its bus yet.
  // A bridge's subordinate bus does not exist yet at that point, so bridges qualify too.
  const f = d.fn;
  if (f.bus.parent !== null && f.bus.bridge !== null && f.bus.devices[0] === f) out.push('bus');
  return out;
}

/** kstrtoul(buf, 0) < 0 → EINVAL, as broken_parity_status_store, d3cold_allowed_store and
 * msi_bus_store answer; else whether the value is non-zero. */
function ulongFlag(raw: string, what: string): boolean {
  const v = parseUlong(raw);
  if (v === undefined) throw new Errno('EINVAL', `${what} takes a number`);
  return v !== 0;
}

/** broken_parity_status_store: pdev->broken_parity_status = !!val. */
export function storeBrokenParity(m: Machine, d: PciDevice, raw: string): void {
  d.brokenParity = ulongFlag(raw, 'broken_parity_status');
  m.changes.note({ device: d });
}

/** d3cold_allowed_store: pdev->d3cold_allowed = !!val. */
export function storeD3cold(m: Machine, d: PciDevice, raw: string): void {
  d.d3coldAllowed = ulongFlag(raw, 'd3cold_allowed');
  m.changes.note({ device: d });
}

/** msi_bus_store: a bridge's subordinate bus gets PCI_BUS_FLAGS_NO_MSI, another device
 * no_msi; msi_bus_show reads the flag back inverted. */
export function storeMsiBus(m: Machine, d: PciDevice, raw: string): void {
  d.noMsi = !ulongFlag(raw, 'msi_bus');
  m.changes.note({ device: d });
}

/** enable_cnt, what `enable` shows: a bridge is enabled at boot (pci_enable_bridges), a
 * device by its driver's probe where the driver enables it (DriverTraits.enablesDevice;
 * vfio-pci enables only when the device is opened [rec: sriov.json after_vfio_bind,
 * enable 0]); plus what `enable` writes did. */
export function enableCount(m: Machine, d: PciDevice): number {
  return m.driverEffects.enableCount(d);
}

/** enable_store: kstrtobool, then EBUSY while a driver is bound; "1" is pci_enable_device
 * (enable_cnt + 1), "0" pci_disable_device of an enabled device (enable_cnt - 1), EIO of
 * one that is not. */
export function storeEnable(m: Machine, d: PciDevice, raw: string): void {
  const on = parseBool(raw);
  if (on === undefined) throw new Errno('EINVAL', 'enable takes a boolean');
  if (d.driver !== null) throw new Errno('EBUSY', `${d.name} has a driver`);
  if (on) d.userEnables++;
  else if (enableCount(m, d) > 0) d.userEnables--;
  else throw new Errno('EIO', `${d.name} is not enabled`);
  m.changes.note({ device: d });
}

/** reset_method_show: the methods in use, space-separated, or nothing at all when the user
 * disabled every one. `supported` is what pci_init_reset_methods found, in its order. */
export function resetMethodText(d: PciDevice, supported: readonly string[]): string {
  const methods = d.resetMethods ?? supported;
  return methods.length === 0 ? '' : `${methods.join(' ')}\n`;
}

/** reset_method_store: "" disables every method, "default" brings back what the probe
 * found; otherwise a space-separated list of supported methods, none twice, in the order
 * given. Anything else is EINVAL and keeps the previous methods. */
export function storeResetMethod(m: Machine, d: PciDevice, raw: string): void {
  const word = sysfsWord(raw);
  if (word === '') {
    d.resetMethods = [];
    m.changes.note({ device: d });
    return;
  }
  if (word === 'default') {
    d.resetMethods = null;
    m.changes.note({ device: d });
    return;
  }
  const supported = supportedResetMethods(m, d);
  const chosen: string[] = [];
  // kstrndup stops at a NUL; strsep on spaces; empty pieces skipped; strim (C whitespace).
  for (const piece of cString(raw).split(' ')) {
    if (sysfsWord(piece) === '') continue;
    const name = piece.replace(/^[\t\n\v\f\r ]+|[\t\n\v\f\r ]+$/g, '');
    if (!supported.includes(name)) throw new Errno('EINVAL', `invalid reset method '${name}'`);
    if (chosen.includes(name)) throw new Errno('EINVAL', `duplicate reset method '${name}'`);
    chosen.push(name);
  }
  d.resetMethods = chosen;
  m.changes.note({ device: d });
}
