// A device's power/ directory (drivers/base/power/sysfs.c): the runtime PM attributes, and
// the wakeup ones only on devices marked wakeup-capable.

import { dir, ro, rw } from './build';
import type { Entries } from './build';
import type { DirNode } from './node';

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
  return rows.map(([name, value, writable]) => [name, writable ? rw(() => value, () => undefined) : ro(() => value)]);
}

export function powerDir(wakeupCapable: boolean): DirNode {
  // The listing never changes (the attributes read their values when shown): built once.
  return dir(() => [...entries(RUNTIME), ...(wakeupCapable ? entries(WAKEUP) : [])], 0o755, () => 0);
}
