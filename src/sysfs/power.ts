// A device's power/ directory (drivers/base/power/sysfs.c): the runtime PM attributes, and
// the wakeup ones only on wakeup-capable devices. Values and refusals come from the engine's
// PM state (engine/power.ts).

import { autosuspendDelay, runtimeEnabledText, storeAsync, storeControl, storeWakeup } from '../engine/power';
import type { PowerSource } from '../engine/power';
import type { Machine } from '../engine/machine';
import { dir, ro, rw } from './build';
import type { Entries } from './build';
import type { DirNode } from './node';

const WAKEUP_STATS = ['wakeup_abort_count', 'wakeup_active', 'wakeup_active_count', 'wakeup_count', 'wakeup_expire_count', 'wakeup_last_time_ms', 'wakeup_max_time_ms', 'wakeup_total_time_ms'];

/** dpm_sysfs_add's groups: pm_attr_group (async and the runtime_* debug files, as Debian
 * builds with CONFIG_PM_ADVANCED_DEBUG), pm_runtime_attr_group unless the device has no
 * runtime callbacks, pm_wakeup_attr_group on a wakeup-capable device. */
const RUNTIME_GROUP = new Set(['autosuspend_delay_ms', 'control', 'runtime_active_time', 'runtime_suspended_time']);

export function powerDir(m: Machine, src: PowerSource): DirNode {
  // The listing is fixed by `src` (the attributes read their values when shown): built once.
  return dir(() => {
    const all: Entries = [
      ['async', rw(() => (src.pm().asyncSuspend ? 'enabled' : 'disabled'), (t) => storeAsync(m, src, t))],
      ['autosuspend_delay_ms', rw(autosuspendDelay, autosuspendDelay)],
      ['control', rw(() => (src.pm().runtimeAuto ? 'auto' : 'on'), (t) => storeControl(m, src, t))],
      ['runtime_active_kids', ro(() => String(src.runtime().activeKids))],
      ['runtime_active_time', ro(() => '0')],
      ['runtime_enabled', ro(() => runtimeEnabledText(src.pm(), src.runtime()))],
      ['runtime_status', ro(() => src.runtime().status)],
      ['runtime_suspended_time', ro(() => '0')],
      ['runtime_usage', ro(() => String(src.runtime().usage))],
    ];
    const e = src.noCallbacks ? all.filter(([name]) => !RUNTIME_GROUP.has(name)) : all;
    if (src.wakeupCapable) {
      e.push(['wakeup', rw(() => (src.wakeupEnabled() ? 'enabled' : 'disabled'), (t) => storeWakeup(m, src, t))]);
      // wakeup_*_show: the wakeup source's figures once one is registered, else an empty line.
      for (const name of WAKEUP_STATS) e.push([name, ro(() => (src.wakeupEnabled() ? '0' : ''))]);
    }
    return e;
  }, 0o755, () => 0);
}
