// A device's power/ directory (drivers/base/power/sysfs.c): the runtime PM attributes, and
// the wakeup ones only on devices marked wakeup-capable.

import { dir, ro, rw } from './build';
import type { Entries } from './build';
import type { AttrNode, DirNode } from './node';
import { Errno } from '../engine/errno';
import type { RuntimePm } from '../engine/driver-effects';

const RUNTIME: Array<[string, string, boolean]> = [
  ['async', 'disabled', true],
  ['autosuspend_delay_ms', '', true],
  ['control', 'on', true],
  ['runtime_active_kids', '0', false],
  ['runtime_active_time', '0', false],
  ['runtime_enabled', 'forbidden', false],
  ['runtime_status', 'unsupported', false],
  ['runtime_suspended_time', '0', false],
  ['runtime_usage', '0', false],
];

const WAKEUP: Array<[string, string, boolean]> = [
  ['wakeup', 'disabled', true],
  ['wakeup_abort_count', '', false],
  ['wakeup_active', '', false],
  ['wakeup_active_count', '', false],
  ['wakeup_count', '', false],
  ['wakeup_expire_count', '', false],
  ['wakeup_last_time_ms', '', false],
  ['wakeup_max_time_ms', '', false],
  ['wakeup_total_time_ms', '', false],
];

function entries(rows: Array<[string, string, boolean]>): Entries {
  return rows.map(([name, value, writable]) => [name, name === 'autosuspend_delay_ms' ? autosuspendDelay() : writable ? rw(() => value, () => undefined) : ro(() => value)]);
}

/** autosuspend_delay_ms_show and _store: EIO unless the device uses autosuspend, which none here does
 * [rec: sriov.json attr_errors, Input/output error]. */
function autosuspendDelay(): AttrNode {
  const refuse = (): never => {
    throw new Errno('EIO', 'the device does not use autosuspend');
  };
  return rw(refuse, refuse);
}

/** A registered wakeup source (device_wakeup_enable): `wakeup` reads enabled and the
 * statistics are its counters, all 0 until it fires [rec: sriov.json 02:00.0]. */
const WAKEUP_ENABLED: Array<[string, string, boolean]> = WAKEUP.map(([name, , writable]) => [name, name === 'wakeup' ? 'enabled' : '0', writable]);

/** The rows of a PCI device, whose runtime PM pci_pm_init sets up (the other devices here
 * have none). */
function runtimeRows(pci: RuntimePm | undefined): Array<[string, string, boolean]> {
  if (!pci) return RUNTIME;
  // device_enable_async_suspend in pci_pm_init.
  const values: Record<string, string> = {
    async: 'enabled',
    control: pci.control,
    runtime_active_kids: String(pci.activeKids),
    runtime_enabled: pci.enabled,
    runtime_status: pci.status,
    runtime_usage: String(pci.usage),
  };
  return RUNTIME.map(([name, value, writable]) => [name, values[name] ?? value, writable]);
}

export function powerDir(wakeupCapable: boolean, wakeupEnabled = false, pci?: () => RuntimePm): DirNode {
  return dir(() => [...entries(runtimeRows(pci?.())), ...(wakeupCapable ? entries(wakeupEnabled ? WAKEUP_ENABLED : WAKEUP) : [])]);
}
