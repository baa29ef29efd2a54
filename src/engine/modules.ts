// Kernel modules of the simulated machine: which are loaded, their parameters, what depends
// on what, and the PCI drivers a module registers while it is loaded (kernel/module/main.c
// load_module and delete_module, kernel/params.c, drivers/base/bus.c bus_add_driver and
// driver_detach).
//
// At boot the loaded modules are those of the drivers the topology names (a device's
// `driver:` key, a `drivers:` entry: udev's coldplug loaded them by modalias), plus vfio-pci
// and pci-stub with their dependencies (a passthrough host loads them early, from its
// modules-load.d or initramfs; `rmmod vfio_pci` takes it away). Every other driver the
// topology mentions (a PF's `vf-driver`) is registered only when its module is loaded: by
// the module tools of `iommufs run`, by the debugfs-like control file, or by udev when a
// device it claims is added (80-drivers.rules `RUN{builtin}+="kmod load $env{MODALIAS}"`),
// as when VFs appear. Module and parameter names treat '-' and '_' alike (kmod's
// modname_normalize, kernel/params.c parameq).

import type { PciFunction } from '../pci/enumerate';
import { kstrtobool, splitArgs } from '../topology/cmdline';
import type { Driver } from './drivers';
import { driverMatches, dynIdFrom, type DynId } from './drivers';
import { attachToNewDriver } from './driver-ops';
import { Errno } from './errno';
import type { Machine } from './machine';
import type { PciDevice } from './types';

export type ParamKind = 'bool' | 'uint' | 'charp';

export interface ParamSpec {
  kind: ParamKind;
  /** sysfs mode of parameters/<name>; 0 hides it (module_param(..., 0)). */
  mode: number;
  initial: string;
}

interface ModuleSpec {
  /** Modules whose symbols it uses (modules.dep), loaded first. */
  deps: string[];
  /** MODULE_SOFTDEP("post: ..."): loaded after it by modprobe. */
  post?: string[];
  params?: Record<string, ParamSpec>;
  /** Bytes, as /proc/modules and coresize report them. */
  size: number;
}

const bool = (mode: number): ParamSpec => ({ kind: 'bool', mode, initial: 'N' });
const hiddenIds: ParamSpec = { kind: 'charp', mode: 0, initial: '' };

/** What Debian 12's 6.1 kernel ships for VFIO and the stub drivers (modinfo; drivers/vfio/
 * pci/vfio_pci.c, vfio_iommu_type1.c, vfio_main.c, drivers/pci/pci-stub.c). */
const KNOWN: Record<string, ModuleSpec> = {
  irqbypass: { deps: [], size: 16384 },
  vfio: { deps: [], post: ['vfio_iommu_type1'], params: { enable_unsafe_noiommu_mode: bool(0o644) }, size: 57344 },
  vfio_iommu_type1: {
    deps: ['vfio'],
    params: {
      allow_unsafe_interrupts: bool(0o644),
      disable_hugepages: bool(0o644),
      dma_entry_limit: { kind: 'uint', mode: 0o644, initial: '65535' },
    },
    size: 45056,
  },
  vfio_virqfd: { deps: [], size: 16384 },
  vfio_pci_core: { deps: ['vfio', 'irqbypass', 'vfio_virqfd'], size: 94208 },
  vfio_pci: {
    deps: ['vfio_pci_core', 'vfio'],
    params: {
      ids: hiddenIds,
      nointxmask: bool(0o644),
      disable_vga: bool(0o444),
      disable_idle_d3: bool(0o644),
      enable_sriov: bool(0o644),
      disable_denylist: bool(0o444),
    },
    size: 16384,
  },
  pci_stub: { deps: [], params: { ids: hiddenIds }, size: 16384 },
};

const DEFAULT_SIZE = 16384;

/** kmod's modname_normalize: '-' and '_' are one character in module names. */
export function moduleName(name: string): string {
  return name.replace(/-/g, '_');
}

export interface LoadedModule {
  name: string;
  params: Map<string, string>;
}

export class ModuleRegistry {
  /** Loaded modules in load order. */
  private readonly loaded = new Map<string, LoadedModule>();
  /** Drivers of modules that are not loaded, by driver name. */
  private readonly parked = new Map<string, Driver>();
  /** Every driver a module provides, by module name (a module may register several). */
  private readonly driversOf = new Map<string, string[]>();
  private readonly m: Machine;

  constructor(m: Machine) {
    this.m = m;
    for (const drv of m.drivers.values()) {
      if (drv.traits.module === null) continue;
      const list = this.driversOf.get(drv.traits.module) ?? [];
      list.push(drv.name);
      this.driversOf.set(drv.traits.module, list);
    }
    const atBoot = new Set<string>(['vfio_pci', 'pci_stub']);
    for (const spec of m.topology.drivers) atBoot.add(moduleName(m.drivers.get(spec.name)?.traits.module ?? spec.name));
    const visit = (devices: Machine['topology']['pci'][number]['devices']): void => {
      for (const d of devices) {
        if (d.driver) atBoot.add(moduleName(m.drivers.get(d.driver)?.traits.module ?? d.driver));
        visit(d.devices);
      }
    };
    for (const root of m.topology.pci) visit(root.devices);
    for (const [mod, drivers] of this.driversOf) {
      if (atBoot.has(mod)) continue;
      for (const name of drivers) {
        this.parked.set(name, m.drivers.get(name)!);
        m.drivers.delete(name);
      }
    }
    // Loaded before any device is probed, with the command line's parameters; their
    // drivers are registered already (buildDrivers).
    for (const mod of atBoot) if (this.known(mod)) this.loadTree(mod, new Map(), false);
  }

  /** What --state keeps: the loaded modules in load order, with their parameters. */
  saved(): { name: string; params: Record<string, string> }[] {
    return [...this.loaded.values()].map((x) => ({ name: x.name, params: Object.fromEntries(x.params) }));
  }

  /**
   * Puts back the modules a --state file lists, in its load order, and the PCI drivers
   * registered in `order` (default: as now, those of newly loaded modules last), without
   * probing: the restore sets every binding itself. Each module's dependencies come before
   * it, and its parameters are every one it has, each as the kernel shows it. `fail` names
   * the bad entry by index and key.
   */
  restore(mods: readonly { name: string; params: Record<string, string> }[], order: readonly string[] | undefined, fail: (at: (string | number)[], what: string) => never): void {
    const want = new Map<string, Map<string, string>>();
    mods.forEach((x, i) => {
      if (!this.known(x.name)) fail([i, 'name'], `no module ${x.name} on this machine`);
      if (want.has(x.name)) fail([i, 'name'], `${x.name} is listed twice`);
      for (const dep of KNOWN[x.name]?.deps ?? []) if (!want.has(dep)) fail([i, 'name'], `${x.name} needs ${dep}, which is not loaded before it`);
      const specs = this.paramSpecs(x.name);
      for (const k of Object.keys(x.params)) if (!(k in specs)) fail([i, 'params', k], `${x.name} has no parameter ${k}`);
      const params = new Map<string, string>();
      for (const [k, spec] of Object.entries(specs)) {
        const v = x.params[k];
        if (v === undefined) fail([i, 'params'], `"${k}" is missing`);
        let shown: string;
        try {
          shown = checkedValue(spec, v, k);
        } catch (e) {
          if (e instanceof Errno) fail([i, 'params', k], e.message);
          throw e;
        }
        if (shown !== v) fail([i, 'params', k], `"${v}" is not what the kernel shows for it ("${shown}")`);
        params.set(k, v);
      }
      want.set(x.name, params);
    });
    const all = new Map<string, Driver>([...this.m.drivers, ...this.parked]);
    const registrable = (name: string): boolean => {
      const mod = all.get(name)?.traits.module;
      return mod === undefined || mod === null || want.has(mod);
    };
    const names = order ?? [...this.m.drivers.keys(), ...[...want.keys()].flatMap((mod) => this.drivers(mod))].filter((n, i, xs) => registrable(n) && xs.indexOf(n) === i);
    names.forEach((name, i) => {
      if (!all.has(name)) fail(['drivers', i], `no driver ${name} on this machine`);
      if (!registrable(name)) fail(['drivers', i], `${name}'s module ${all.get(name)!.traits.module} is not loaded`);
      if (names.indexOf(name) !== i) fail(['drivers', i], `${name} is listed twice`);
    });
    for (const name of all.keys()) if (registrable(name) && !names.includes(name)) fail(['drivers'], `${name} is registered by a loaded module but not listed`);
    this.loaded.clear();
    for (const [name, params] of want) this.loaded.set(name, { name, params });
    this.m.drivers.clear();
    this.parked.clear();
    for (const name of names) this.m.drivers.set(name, all.get(name)!);
    for (const [name, drv] of all) {
      if (names.includes(name)) continue;
      drv.dynIds = [];
      this.parked.set(name, drv);
    }
    this.m.changes.note();
  }

  /** After the boot probe: `ids=` of the modules loaded at boot add their dynamic IDs. */
  afterBoot(): void {
    for (const mod of this.loaded.values()) this.applyIds(mod);
  }

  isLoaded(name: string): boolean {
    return this.loaded.has(moduleName(name));
  }

  /** Loaded modules, most recent first (the order of /proc/modules and lsmod). */
  list(): LoadedModule[] {
    return [...this.loaded.values()].reverse();
  }

  get(name: string): LoadedModule | undefined {
    return this.loaded.get(moduleName(name));
  }

  /** Whether a module of this name could be loaded: a topology driver's or a known one. */
  known(name: string): boolean {
    const n = moduleName(name);
    return n in KNOWN || this.driversOf.has(n);
  }

  paramSpecs(name: string): Record<string, ParamSpec> {
    return KNOWN[moduleName(name)]?.params ?? {};
  }

  size(name: string): number {
    return KNOWN[moduleName(name)]?.size ?? DEFAULT_SIZE;
  }

  /** PCI drivers the module registers. */
  drivers(name: string): string[] {
    return this.driversOf.get(moduleName(name)) ?? [];
  }

  /** Loaded modules that use this one (holders/, the "Used by" of lsmod). */
  holders(name: string): string[] {
    const n = moduleName(name);
    return [...this.loaded.keys()].filter((h) => KNOWN[h]?.deps.includes(n)).sort();
  }

  /** module_refcount: one per holder, and one per open device of the module's drivers
   * (a VFIO device of an owned group is open). */
  refcount(name: string): number {
    const drivers = new Set(this.drivers(name));
    let open = 0;
    for (const d of this.m.pciDevicesInOrder()) {
      if (d.driver !== null && drivers.has(d.driver) && d.group !== null && this.m.dma.dma(d.group).owner !== null) open++;
    }
    return this.holders(name).length + open;
  }

  /** A module parameter's value as the kernel holds it; for a module not loaded, what it
   * would get from the command line at load. */
  param(module: string, param: string): string | undefined {
    const mod = this.get(module);
    if (mod) return mod.params.get(param);
    return this.cmdlineParams(moduleName(module)).get(param) ?? this.paramSpecs(module)[param]?.initial;
  }

  /** vfio_iommu_type1.allow_unsafe_interrupts, read by the VFIO group checks. */
  allowUnsafeInterrupts(): boolean {
    return kstrtobool(this.param('vfio_iommu_type1', 'allow_unsafe_interrupts') ?? 'N') === true;
  }

  /** A write to parameters/<name>: kernel/params.c param_attr_store with the type's set(). */
  setParam(module: string, param: string, raw: string): void {
    const mod = this.get(module);
    const spec = this.paramSpecs(module)[param];
    if (!mod || !spec) throw new Errno('ENOENT', `no parameter ${param} of ${module}`);
    mod.params.set(param, checkedValue(spec, raw.replace(/\n$/, ''), param));
    this.m.changes.note();
  }

  /**
   * modprobe: the module and what it needs, in dependency order, each with its defaults,
   * then `config` (modprobe.d options, as `module.param`), then the kernel command line,
   * then `args` (for the named module only): kmod's order, where a later value wins.
   * Throws ENOENT for an unknown module and EINVAL for a bad parameter value (nothing
   * loaded then); EEXIST when the module is loaded already (init_module's answer).
   */
  load(name: string, args: Map<string, string>, config: Map<string, string> = new Map()): void {
    const n = moduleName(name);
    if (!this.known(n)) throw new Errno('ENOENT', `Module ${name} not found`);
    if (this.loaded.has(n)) throw new Errno('EEXIST', `Module ${n} is already loaded`);
    // Check every value first, so that a refusal loads nothing.
    for (const mod of this.closure(n)) this.paramsFor(mod, mod === n ? args : new Map(), config);
    this.loadTree(n, args, true, config);
  }

  /**
   * rmmod: EBUSY while another module uses it or one of its devices is open; otherwise its
   * drivers are unregistered, which unbinds their devices (driver_detach), and it goes.
   */
  unload(name: string): void {
    const n = moduleName(name);
    if (!this.loaded.has(n)) throw new Errno('ENOENT', `Module ${n} is not currently loaded`);
    if (this.refcount(n) > 0) throw new Errno('EBUSY', `Module ${n} is in use`);
    for (const drvName of this.drivers(n)) {
      const drv = this.m.drivers.get(drvName);
      if (!drv) continue;
      for (const d of this.m.pciDevicesInOrder()) if (d.driver === drvName) this.m.detachDriver(d);
      drv.dynIds = [];
      this.m.drivers.delete(drvName);
      this.parked.set(drvName, drv);
    }
    this.loaded.delete(n);
    this.m.changes.note();
  }

  /** The uevent of an added device: udev loads the module whose drivers' ID tables (its
   * aliases) match the device, if it is not loaded yet. */
  loadFor(d: PciDevice): void {
    for (const drv of [...this.parked.values()]) {
      if (!drv.traits.module || this.loaded.has(drv.traits.module) || !aliasMatches(drv, d.fn)) continue;
      this.loadTree(drv.traits.module, new Map(), true);
      return;
    }
  }

  /** `pci:v...d...` modalias (as udev passes it) → the module whose aliases match it. */
  resolveAlias(alias: string): string | undefined {
    const m = /^pci:v([0-9A-Fa-f]{8})d([0-9A-Fa-f]{8})/.exec(alias);
    if (!m) return undefined;
    const vendor = parseInt(m[1]!, 16);
    const device = parseInt(m[2]!, 16);
    for (const drv of [...this.m.drivers.values(), ...this.parked.values()]) {
      if (drv.traits.module && !drv.traits.overrideOnly && drv.ids.some((id) => id.vendor === vendor && id.device === device)) return drv.traits.module;
    }
    return undefined;
  }

  /** Dependencies first (depth first, as modules.dep is walked), the module, its post softdeps. */
  private closure(n: string, seen = new Set<string>()): string[] {
    if (seen.has(n)) return [];
    seen.add(n);
    const spec = KNOWN[n];
    const before = (spec?.deps ?? []).flatMap((dep) => this.closure(dep, seen));
    const after = (spec?.post ?? []).flatMap((dep) => this.closure(dep, seen));
    return [...before, n, ...after];
  }

  private loadTree(n: string, args: Map<string, string>, attach: boolean, config: Map<string, string> = new Map()): void {
    for (const mod of this.closure(n)) {
      if (this.loaded.has(mod)) continue;
      const loaded: LoadedModule = { name: mod, params: this.paramsFor(mod, mod === n ? args : new Map(), config) };
      this.loaded.set(mod, loaded);
      for (const drvName of this.drivers(mod)) {
        const drv = this.parked.get(drvName);
        if (!drv) continue;
        this.parked.delete(drvName);
        this.m.drivers.set(drvName, drv);
        // bus_add_driver: driver_attach when the bus autoprobes.
        if (attach && this.m.driversAutoprobe) attachToNewDriver(this.m, drv);
      }
      if (attach) this.applyIds(loaded);
      this.m.changes.note();
    }
  }

  /** vfio_pci_fill_ids / pci_stub_init: each `ids=` entry becomes a dynamic ID, which
   * probes the unbound devices it matches (pci_add_dynid → driver_attach). */
  private applyIds(mod: LoadedModule): void {
    const ids = mod.params.get('ids');
    if (!ids) return;
    for (const drvName of this.drivers(mod.name)) {
      const drv = this.m.drivers.get(drvName);
      if (!drv) continue;
      for (const entry of ids.split(',')) {
        const id = parseIdsEntry(entry);
        if (!id) continue;
        drv.dynIds.push(id);
        attachToNewDriver(this.m, drv);
      }
    }
  }

  private cmdlineParams(n: string): Map<string, string> {
    const out = new Map<string, string>();
    for (const { param, value } of splitArgs(this.m.topology.cmdline.raw)) {
      const dot = param.indexOf('.');
      if (dot < 0 || moduleName(param.slice(0, dot)) !== n) continue;
      out.set(moduleName(param.slice(dot + 1)), value ?? '');
    }
    return out;
  }

  private paramsFor(n: string, args: Map<string, string>, config: Map<string, string>): Map<string, string> {
    const specs = KNOWN[n]?.params ?? {};
    const values = new Map<string, string>(Object.entries(specs).map(([k, s]) => [k, s.initial]));
    const fromConfig = new Map<string, string>();
    for (const [k, v] of config) {
      const dot = k.indexOf('.');
      if (dot > 0 && moduleName(k.slice(0, dot)) === n) fromConfig.set(moduleName(k.slice(dot + 1)), v);
    }
    for (const layer of [fromConfig, this.cmdlineParams(n), args]) {
      for (const [k, v] of layer) {
        const key = moduleName(k);
        const spec = specs[key];
        // parse_args → unknown_module_param_cb: an unknown parameter is ignored.
        if (spec) values.set(key, checkedValue(spec, v, key));
      }
    }
    return values;
  }
}

/** kernel/params.c: param_set_bool (a bare name is "Y"), param_set_uint (kstrtouint). */
function checkedValue(spec: ParamSpec, raw: string, name: string): string {
  if (spec.kind === 'bool') {
    const b = raw === '' ? true : kstrtobool(raw);
    if (b === undefined) throw new Errno('EINVAL', `${name}: '${raw}' is not a boolean`);
    return b ? 'Y' : 'N';
  }
  if (spec.kind === 'uint') {
    if (!/^(0x[0-9a-fA-F]+|[0-9]+)$/.test(raw) || Number(raw) > 0xffffffff) throw new Errno('EINVAL', `${name}: '${raw}' is not a number`);
    return String(Number(raw));
  }
  return raw;
}

/** vfio_pci_fill_ids: "vendor:device[:subvendor[:subdevice[:class[:class_mask]]]]" in hex. */
export function parseIdsEntry(entry: string): DynId | undefined {
  const f = entry.trim().split(':');
  if (f.length < 2 || f.length > 6 || f.some((x) => !/^[0-9a-fA-F]+$/.test(x))) return undefined;
  return dynIdFrom(f.map((x) => parseInt(x, 16) >>> 0));
}

/** A module alias matches the device's modalias: the static ID table, never an
 * override-only one (vfio-pci's `vfio_pci:` aliases match no plain modalias). */
function aliasMatches(drv: Driver, f: PciFunction): boolean {
  return !drv.traits.overrideOnly && drv.ids.length > 0 && driverMatches(drv, f, null);
}
