// Device power management as the kernel keeps it in `struct dev_pm_info` (include/linux/pm.h)
// and shows it under power/ (drivers/base/power/sysfs.c), with what the PCI core and the
// drivers set in it:
// - every device starts as pm_runtime_init leaves it: runtime_auto on, runtime PM disabled
//   (disable_depth 1), async suspend off;
// - a PCI device then gets pci_pm_init (drivers/pci/pci.c): pm_runtime_forbid (control
//   "on", usage 1), pm_runtime_set_active, pm_runtime_enable, device_enable_async_suspend;
//   whether it can wake, and its wakeup source, are the driver effects' (driver-effects.ts:
//   pcie_pme_mark_devices, device_wakeup_enable);
// - local_pci_probe (drivers/pci/pci-driver.c) holds one more usage reference while a driver
//   is bound, which vfio-pci gives back (vfio_pci_core_register_device: pm_runtime_allow,
//   pm_runtime_put; DriverTraits.idleD3hot), so an idle vfio-pci device suspends [rec:
//   sriov.json after_vfio_bind: control auto, runtime_status suspended, runtime_usage 0].
// Runtime and wakeup times and event counts are not simulated: they read 0.

import { sysfsWord } from './sysfs-text';
import { Errno } from './errno';
import type { DriverTraits } from './driver-traits';
import type { Machine } from './machine';
import type { Device, PciDevice } from './types';

/** What a write to power/ can change. */
export interface DevicePm {
  /** runtime_auto: power/control reads "auto" (true) or "on". */
  runtimeAuto: boolean;
  /** power.async_suspend: power/async. */
  asyncSuspend: boolean;
  /** device_may_wakeup: power/wakeup. Of a PCI device, the wakeup source its driver effects
   * hold (driver-effects.ts, kept in step there); here for what --state saves. */
  wakeupEnabled: boolean;
}

/** What power/ derives from the state: the runtime PM core's view. */
export interface RuntimePm {
  /** disable_depth == 0. */
  enabled: boolean;
  usage: number;
  activeKids: number;
  status: 'active' | 'suspended' | 'unsupported';
}

/** One device's power/ directory: its settings, the runtime view, and whether it can wake. */
export interface PowerSource {
  pm(): DevicePm;
  runtime(): RuntimePm;
  wakeupCapable: boolean;
  /** device_may_wakeup: a wakeup source is registered (power/wakeup reads enabled, its
   * statistics exist, and it shows as wakeup/wakeup<N> below the device). */
  wakeupEnabled(): boolean;
  /** wakeup_store's device_wakeup_enable / device_wakeup_disable. */
  setWakeup(on: boolean): void;
  /** pm_runtime_no_callbacks after registration removed the runtime group (rpm_sysfs_remove:
   * control, autosuspend_delay_ms and the runtime times). */
  noCallbacks: boolean;
  /** The device whose directory holds this power/, if it is an engine device. */
  device?: Device;
}

/** How a device other than a PCI function starts: device_enable_async_suspend and
 * pm_runtime_no_callbacks where its code calls them. */
export interface PlainPmOptions {
  asyncSuspend?: boolean;
  noCallbacks?: boolean;
}

interface PmEntry {
  pm: DevicePm;
  /** What the device would have now had nobody written to power/ (pm_runtime_init, pci_pm_init
   * and the drivers' effects); unknown for a state put back by a restore until the view that
   * shows it asks for it. */
  fresh?: () => DevicePm;
}

/** The PM state of every device, by the engine object the device is (a removed device's
 * state goes with it: a re-added device is a new `struct device`, with the defaults). A
 * device without an engine object of its own (a pci_bus, a port service) is keyed by its
 * owner's object and a name. */
export class PowerStates {
  private readonly states = new WeakMap<object, Map<string, PmEntry>>();

  private entry(owner: object, key: string): PmEntry | undefined {
    return this.states.get(owner)?.get(key);
  }

  private put(owner: object, key: string, e: PmEntry): PmEntry {
    let byKey = this.states.get(owner);
    if (!byKey) {
      byKey = new Map();
      this.states.set(owner, byKey);
    }
    byKey.set(key, e);
    return e;
  }

  of(owner: object, key: string, init: () => DevicePm): DevicePm {
    const e = this.entry(owner, key) ?? this.put(owner, key, { pm: init(), fresh: init });
    e.fresh ??= init;
    return e.pm;
  }

  /** The state if it was ever looked at; drivers' effects apply only to a state that exists
   * (one made later starts from the driver bound then). */
  peek(owner: object, key: string): DevicePm | undefined {
    return this.entry(owner, key)?.pm;
  }

  /** The owner's states that differ from what nobody's writes would give (what --state keeps). */
  written(owner: object): [string, DevicePm][] {
    const out: [string, DevicePm][] = [];
    for (const [key, e] of this.states.get(owner) ?? []) {
      const f = e.fresh?.();
      if (!f || f.runtimeAuto !== e.pm.runtimeAuto || f.asyncSuspend !== e.pm.asyncSuspend || f.wakeupEnabled !== e.pm.wakeupEnabled) out.push([key, { ...e.pm }]);
    }
    return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  }

  /** A state as a restore puts it back, before any view asked for it. */
  preset(owner: object, key: string, pm: DevicePm): void {
    this.put(owner, key, { pm: { ...pm } });
  }
}

/** A device the PCI core does not manage: pm_runtime_init's defaults, runtime PM disabled.
 * `device`: the engine device whose directory holds this power/ (changes are reported
 * under it). */
export function plainPower(m: Machine, owner: object, key: string, opts: PlainPmOptions = {}, device?: Device): PowerSource {
  const pm = (): DevicePm => m.power.of(owner, key, () => ({ runtimeAuto: true, asyncSuspend: opts.asyncSuspend ?? false, wakeupEnabled: false }));
  return {
    pm,
    // pm_runtime_forbid takes a usage reference even while runtime PM is disabled.
    runtime: () => ({ enabled: false, usage: pm().runtimeAuto ? 0 : 1, activeKids: 0, status: 'unsupported' }),
    wakeupCapable: false,
    wakeupEnabled: () => pm().wakeupEnabled,
    setWakeup: (on) => {
      pm().wakeupEnabled = on;
    },
    noCallbacks: opts.noCallbacks ?? false,
    device,
  };
}

/** A PCI device's runtime PM state after pci_pm_init and the bound driver's probe (`bound`:
 * the traits of the driver bound then, if any). */
export function pciPmInit(bound: DriverTraits | undefined, wakeupCapable: boolean): DevicePm {
  return { runtimeAuto: bound?.idleD3hot === true, asyncSuspend: true, wakeupEnabled: wakeupCapable && bound?.wakeupSource === true };
}

/** What binding or unbinding a driver does to an existing state: vfio-pci's register calls
 * pm_runtime_allow, its unregister pm_runtime_forbid. */
export function pciPmDriverChange(pm: DevicePm | undefined, driver: DriverTraits, bound: boolean): void {
  if (pm && driver.idleD3hot) pm.runtimeAuto = bound;
}

/** usage_count of a PCI device: one reference while forbidden, one while a driver that keeps
 * local_pci_probe's reference is bound. */
export function pciRuntimeUsage(pm: DevicePm, bound: DriverTraits | undefined): number {
  return (pm.runtimeAuto ? 0 : 1) + (bound !== undefined && !bound.idleD3hot ? 1 : 0);
}

/** rpm_idle → rpm_suspend: with no usage reference and no active child the device suspends
 * (pci_pm_runtime_suspend succeeds for an unbound device too, leaving it in D0). */
export function pciRuntimeStatus(usage: number, activeKids: number): 'active' | 'suspended' {
  return usage === 0 && activeKids === 0 ? 'suspended' : 'active';
}

/** power/runtime_enabled (runtime_enabled_show). */
export function runtimeEnabledText(pm: DevicePm, rt: RuntimePm): string {
  if (!rt.enabled) return pm.runtimeAuto ? 'disabled' : 'disabled & forbidden';
  return pm.runtimeAuto ? 'enabled' : 'forbidden';
}

/** Reports a power/ write (the one gateway, m.changes), under the device's directory. */
function noted(m: Machine, src: PowerSource): void {
  m.changes.note(src.device ? { device: src.device } : {});
}

/** control_store: "auto" → pm_runtime_allow, "on" → pm_runtime_forbid, else EINVAL. */
export function storeControl(m: Machine, src: PowerSource, raw: string): void {
  const w = sysfsWord(raw);
  if (w !== 'auto' && w !== 'on') throw new Errno('EINVAL', 'power/control takes auto or on');
  src.pm().runtimeAuto = w === 'auto';
  noted(m, src);
}

/** async_store: "enabled" or "disabled", else EINVAL. */
export function storeAsync(m: Machine, src: PowerSource, raw: string): void {
  src.pm().asyncSuspend = parseEnabled(raw, 'power/async');
  noted(m, src);
}

/** wakeup_store (the file exists only on wakeup-capable devices): "enabled" registers a
 * wakeup source (whose statistics then read 0), "disabled" drops it. */
export function storeWakeup(m: Machine, src: PowerSource, raw: string): void {
  src.setWakeup(parseEnabled(raw, 'power/wakeup'));
  noted(m, src);
}

/** autosuspend_delay_ms_show and _store answer EIO unless the driver called
 * pm_runtime_use_autosuspend, which no simulated driver does [rec: sriov.json, every device
 * including pcieport-bound ports: "Input/output error"]. */
export function autosuspendDelay(): never {
  throw new Errno('EIO', 'the driver does not use autosuspend');
}

function parseEnabled(raw: string, what: string): boolean {
  const w = sysfsWord(raw);
  if (w === 'enabled') return true;
  if (w === 'disabled') return false;
  throw new Errno('EINVAL', `${what} takes enabled or disabled`);
}

/** A PCI device's power/ source: pci_pm_init's state, the bound driver's runtime PM, and
 * the wake-up capability and source the driver effects keep. */
export function pciPower(m: Machine, d: PciDevice): PowerSource {
  const bound = (): DriverTraits | undefined => m.driverEffects.traitsOf(d);
  // What nobody's writes would give; the wakeup flag always reads the driver effects' source.
  const fresh = (): DevicePm => pciPmInit(bound(), m.driverEffects.wakeupCapable(d));
  const pm = (): DevicePm => {
    const p = m.power.of(d, '', fresh);
    p.wakeupEnabled = m.driverEffects.wakeupEnabled(d);
    return p;
  };
  // Reading the runtime view makes no state (the config image reads it, also while a restore
  // is still setting drivers directly): one made later starts from the driver bound then.
  const runtime = (): RuntimePm => {
    const usage = pciRuntimeUsage(m.power.peek(d, '') ?? fresh(), bound());
    let activeKids = 0;
    for (const child of m.childDevices(d.fn.sysfsPath)) if (pciPower(m, child).runtime().status === 'active') activeKids++;
    return { enabled: true, usage, activeKids, status: pciRuntimeStatus(usage, activeKids) };
  };
  return {
    pm,
    runtime,
    wakeupCapable: m.driverEffects.wakeupCapable(d),
    wakeupEnabled: () => m.driverEffects.wakeupEnabled(d),
    setWakeup: (on) => m.driverEffects.setWakeup(d, on),
    noCallbacks: false,
    device: d,
  };
}

/** The bound driver let the device runtime-suspend (pci_pm_runtime_suspend →
 * pci_finish_runtime_suspend: D3hot where the device has the PM capability). */
export function pciRuntimeSuspended(m: Machine, d: PciDevice): boolean {
  return d.driver !== null && pciPower(m, d).runtime().status === 'suspended';
}
