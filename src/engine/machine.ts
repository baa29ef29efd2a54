// The simulated machine: its PCI functions as Linux enumerated them, the IOMMU units that
// cover them, and the groups formed at boot in the kernel's order (platform bus first, then
// PCI in add order: drivers/iommu/iommu.c iommu_device_register → bus_iommu_probe).

import { enabledAcsCtrl } from '../pci/acs';
import type { AcsContext } from '../pci/acs';
import { enumerate } from '../pci/enumerate';
import type { PciFunction, PciTopology } from '../pci/enumerate';
import { dmaAliasQuirks } from '../pci/quirks/dma-alias-quirks';
import { matchesDeviceList } from '../pci/device-match';
import type { Topology } from '../topology/model';
import { coveringUnit, activeUnits } from './coverage';
import { defaultTypeFor } from './domain-type';
import { IdAllocator } from './id-allocator';
import { pciDeviceGroup } from './pci-device-group';
import { platformDeviceGroup } from './platform-device-group';
import { deviceRegions, formatRegion, mergeRegions } from './reserved-regions';
import { bootDriverFor } from './boot-drivers';
import type { Device, IommuGroup, IommuUnit, MdevDevice, PciDevice, PlatformDevice } from './types';
import { MdevRegistry } from './mdev';
import { buildDrivers, driverMatches, probeKeeps } from './drivers';
import { DomainRegistry } from './domains';
import { Errno } from './errno';
import { enableVfs } from './sriov';
import type { Driver } from './drivers';
import { canProbe } from './driver-ops';
import { configSpaceFor, applyConfigWrite } from './config';
import { parentPath } from './paths';
import { PowerStates, pciPmDriverChange } from './power';

export class Machine {
  readonly topology: Topology;
  readonly pci: PciTopology;
  readonly units: IommuUnit[];
  readonly groups = new Map<number, IommuGroup>();
  /** Present devices by name, in the order they were added. */
  readonly devices = new Map<string, Device>();
  readonly warnings: string[] = [];
  private readonly byFunction = new WeakMap<PciFunction, PciDevice>();
  private readonly ids = new IdAllocator();
  private seq = 0;
  readonly acs: AcsContext;
  /** DMA ownership and domains per group. */
  readonly dma: DomainRegistry = new DomainRegistry(this);
  /** Mediated devices and their parents' types. */
  readonly mdev: MdevRegistry = new MdevRegistry(this);
  readonly drivers: Map<string, Driver>;
  /** power/ settings of every device (drivers/base/power). */
  readonly power = new PowerStates();
  /** /sys/bus/pci/resource_alignment, null when unset. */
  resourceAlignment: string | null = null;
  /** /sys/bus/pci/drivers_autoprobe */
  driversAutoprobe = true;
  /** Device directories by the directory they sit in, for listing a bridge's children. */
  private readonly children = new Map<string, PciDevice[]>();
  private readonly config = new Map<PciDevice, Uint8Array>();
  /** Bumped on every change, so that caches and views can tell the machine moved on. */
  generation = 0;

  private constructor(topology: Topology) {
    this.topology = topology;
    this.units = activeUnits(topology, this.warnings);
    this.pci = enumerate(topology);
    const ivrsPresent = topology.iommus.some((u) => u.type === 'amd-vi');
    this.acs = {
      ivrsPresent,
      requested: this.units.some((u) => u.active),
      acsOverride: topology.cmdline.acsOverride,
      ctrlOf: (f) => this.byFunction.get(f)?.acsCtrl ?? 0,
    };
    this.drivers = buildDrivers(topology);
    this.warnings.push(...topology.cmdline.warnings);
    const o = topology.cmdline.acsOverride;
    if (o.downstream || o.multifunction || o.ids.length > 0) {
      this.warnings.push('pcie_acs_override is set: isolation of the overridden devices is assumed, not real');
    }
  }

  static boot(topology: Topology): Machine {
    const m = new Machine(topology);
    for (const spec of topology.platform) m.addPlatformDevice(spec);
    const pciDevices = m.pci.addOrder.map((f) => m.createPciDevice(f));
    // Platform devices are probed by the IOMMU before PCI (bus_iommu_probe order).
    for (const d of m.devices.values()) if (d.kind === 'platform') m.probePlatform(d);
    for (const d of pciDevices) m.probePci(d);
    // VFs enabled at start (topology sriov.num): the PF driver enabled them as it probed.
    for (const d of pciDevices) {
      const n = d.fn.spec.sriov?.num ?? 0;
      if (n > 0 && !d.fn.physfn) enableVfs(m, d, n);
    }
    return m;
  }

  deviceOf(f: PciFunction): PciDevice | undefined {
    return this.byFunction.get(f);
  }

  /** Creates the engine device for a function that appeared on a bus (boot, rescan, VF enable). */
  createPciDevice(f: PciFunction): PciDevice {
    const boot = this.topology.cmdline;
    const quirks = dmaAliasQuirks({
      vendor: f.id.vendor,
      device: f.id.device,
      ...(f.subsystem ? { subsystem: f.subsystem } : {}),
      classCode: f.classCode,
      devfn: f.devfn,
      headerType: f.headerType,
      pcie: f.pcie,
      onRootBus: f.bus.parent === null,
      parentIsPcieNonPcieBridge: parentIsPcieButNotPciBridge(f),
    });
    const mask = new Set<number>(quirks.aliasDevfns);
    if (!f.physfn) for (const a of f.spec.dmaAlias) mask.add(a);
    const unit = coveringUnit(this.units, f);
    const dev: PciDevice = {
      kind: 'pci',
      name: f.name,
      fn: f,
      unit,
      group: null,
      dmaAliasMask: mask,
      pcieBridgeAlias: quirks.pcieBridgeAlias,
      bridgeXlateRoot: quirks.bridgeXlateRoot,
      aliasQuirks: quirks.applied.map((q) => q.quirk),
      acsCtrl: enabledAcsCtrl(f.acsCap, {
        requested: this.units.some((u) => u.active),
        noats: boot.noats,
        redirDisabled: matchesDeviceList(boot.disableAcsRedir, f),
      }),
      seq: this.seq++,
      driver: f.physfn ? null : bootDriverFor(f),
      driverOverride: null,
      userEnables: 0,
      brokenParity: false,
      d3coldAllowed: null,
      noMsi: false,
      resetMethods: null,
      sriovAutoprobe: true,
      numaNode: f.spec.numaNode,
      steps: [],
    };
    this.byFunction.set(f, dev);
    this.devices.set(dev.name, dev);
    const parent = parentPath(f.sysfsPath);
    const siblings = this.children.get(parent) ?? [];
    siblings.push(dev);
    siblings.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    this.children.set(parent, siblings);
    this.generation++;
    return dev;
  }

  /** Takes a PCI device off the machine: out of its group, its driver released. */
  destroyPciDevice(dev: PciDevice): void {
    if (dev.driver !== null) this.detachDriver(dev);
    this.mdev.parentGone(dev);
    this.leaveGroup(dev);
    this.byFunction.delete(dev.fn);
    this.devices.delete(dev.name);
    this.config.delete(dev);
    const parent = parentPath(dev.fn.sysfsPath);
    const siblings = (this.children.get(parent) ?? []).filter((d) => d !== dev);
    if (siblings.length > 0) this.children.set(parent, siblings);
    else this.children.delete(parent);
    this.generation++;
  }

  private readonly vfs = new Map<PciDevice, PciDevice[]>();

  vfCount(pf: PciDevice): number {
    return this.vfs.get(pf)?.length ?? 0;
  }

  vfsOf(pf: PciDevice): readonly PciDevice[] {
    return this.vfs.get(pf) ?? [];
  }

  setVfs(pf: PciDevice, vfs: PciDevice[]): void {
    this.vfs.set(pf, vfs);
    this.config.delete(pf);
    this.generation++;
  }

  /** sriov_disable: VFs go in reverse order, with their groups. */
  disableVfs(pf: PciDevice): void {
    const vfs = this.vfs.get(pf);
    if (!vfs) return;
    for (const vf of [...vfs].reverse()) {
      const bus = vf.fn.bus;
      bus.devices = bus.devices.filter((f) => f !== vf.fn);
      this.destroyPciDevice(vf);
    }
    this.vfs.delete(pf);
    this.config.delete(pf);
    this.generation++;
  }

  /** A driver's module is loaded once the driver has bound a device, or was named in the topology. */
  moduleLoaded(module: string): boolean {
    for (const drv of this.drivers.values()) {
      if (drv.module !== module) continue;
      if (drv.ids.length > 0 || drv.dynIds.length > 0) return true;
      for (const d of this.devices.values()) if (d.driver === drv.name) return true;
    }
    return false;
  }

  /** /sys/module entries for the drivers in use (module names, underscores for dashes). */
  loadedModules(): string[] {
    const mods = new Set<string>();
    for (const drv of this.drivers.values()) if (drv.module && this.moduleLoaded(drv.module)) mods.add(drv.module);
    return [...mods].sort();
  }

  /** NUMA nodes that exist: 0, and every node the topology places a device on. */
  onlineNodes(): number[] {
    const nodes = new Set<number>([0]);
    for (const d of this.devices.values()) if (d.kind === 'pci' && d.fn.spec.numaNode >= 0) nodes.add(d.fn.spec.numaNode);
    return [...nodes];
  }

  childDevices(dirPath: string): readonly PciDevice[] {
    return this.children.get(dirPath) ?? [];
  }

  pciDevicesInOrder(): PciDevice[] {
    return [...this.devices.values()].filter((d): d is PciDevice => d.kind === 'pci').sort((a, b) => a.seq - b.seq);
  }

  private readonly bindings = new WeakMap<PciDevice, object>();

  /** What stands for the device's current driver binding: the kernel objects a driver's
   * probe makes (a port's service devices, an mdev parent's types) are new after every bind,
   * so files opened under the old ones answer ENODEV and their state starts afresh. */
  binding(d: PciDevice): object {
    let b = this.bindings.get(d);
    if (!b) {
      b = {};
      this.bindings.set(d, b);
    }
    return b;
  }

  /** Binds a driver; a host driver is refused (EBUSY) while a user owns or wants the group. */
  attachDriver(d: PciDevice, drv: Driver): void {
    this.dma.checkBind(d, drv.name);
    d.driver = drv.name;
    this.bindings.delete(d);
    pciPmDriverChange(this.power.peek(d, ''), drv.name, true);
    this.generation++;
  }

  detachDriver(d: PciDevice): void {
    // The vendor driver's remove unregisters the mdev parent, which removes its mdevs.
    this.mdev.parentGone(d);
    if (d.driver !== null) pciPmDriverChange(this.power.peek(d, ''), d.driver, false);
    d.driver = null;
    this.bindings.delete(d);
    this.generation++;
  }

  /** device_attach: bind the first matching driver (registration order), if none is bound. */
  autoBind(d: PciDevice, explicit: boolean): void {
    if (d.driver !== null) return;
    if (!explicit && !this.driversAutoprobe) return;
    if (!canProbe(this, d)) return;
    for (const drv of this.drivers.values()) {
      // __device_attach_driver: a driver whose probe fails lets the next one try.
      if (driverMatches(drv, d.fn, d.driverOverride) && probeKeeps(drv, d.fn)) {
        try {
          this.attachDriver(d, drv);
        } catch (e) {
          // really_probe returns dma_configure's error as is; drivers_probe_store turns any
          // error into EINVAL, and autoprobe after an add just leaves the device unbound.
          if (explicit && e instanceof Errno) throw new Errno('EINVAL', e.message);
          if (!(e instanceof Errno)) throw e;
        }
        return;
      }
    }
  }

  configBytes(d: PciDevice): Uint8Array {
    let bytes = this.config.get(d);
    if (!bytes) {
      bytes = configSpaceFor(this, d);
      this.config.set(d, bytes);
    }
    return bytes;
  }

  writeConfig(d: PciDevice, offset: number, data: Buffer): void {
    applyConfigWrite(this.configBytes(d), offset, data);
    this.generation++;
  }

  private addPlatformDevice(spec: Topology['platform'][number]): PlatformDevice {
    const unit = spec.iommu ? (this.units.find((u) => u.name === spec.iommu && u.active) ?? null) : null;
    const dev: PlatformDevice = {
      kind: 'platform',
      name: spec.name,
      spec,
      unit,
      group: null,
      seq: this.seq++,
      driver: spec.driver ?? null,
      driverOverride: null,
      steps: [],
    };
    this.devices.set(dev.name, dev);
    return dev;
  }

  /** iommu_probe_device for a PCI device: find or make its group and join it. */
  probePci(dev: PciDevice): void {
    if (!dev.unit) {
      dev.steps = [{ kind: 'new', text: 'no IOMMU translates this device: it has no group' }];
      return;
    }
    const decision = pciDeviceGroup(dev, { acs: this.acs, deviceOf: (f) => this.byFunction.get(f) });
    dev.steps = decision.steps;
    this.joinGroup(dev, decision.join ?? this.newGroup(dev.unit));
  }

  private probePlatform(dev: PlatformDevice): void {
    if (!dev.unit) {
      dev.steps = [{ kind: 'platform', text: 'no IOMMU translates this device: it has no group' }];
      return;
    }
    const others = [...this.devices.values()].filter((d): d is PlatformDevice => d.kind === 'platform' && d !== dev && d.group !== null);
    const decision = platformDeviceGroup(dev, others);
    dev.steps = decision.steps;
    if (decision.refused) return;
    this.joinGroup(dev, decision.join ?? this.newGroup(dev.unit));
  }

  /**
   * A device VFIO registers with an emulated IOMMU (an mdev): it joins a new vfio-noiommu
   * group with the lowest free number (vfio_noiommu_group_alloc → iommu_group_alloc).
   */
  addEmulatedDevice(dev: MdevDevice): void {
    dev.seq = this.seq++;
    this.devices.set(dev.name, dev);
    const g: IommuGroup = { id: this.ids.alloc(), kind: 'vfio-noiommu', unit: null, devices: [], defaultType: 'unknown' };
    this.groups.set(g.id, g);
    this.joinGroup(dev, g);
    this.generation++;
  }

  /** The mdev goes, and its group with it (vfio_unregister_group_dev → iommu_group_remove_device). */
  removeEmulatedDevice(dev: MdevDevice): void {
    this.leaveGroup(dev);
    this.devices.delete(dev.name);
    this.generation++;
  }

  private newGroup(unit: IommuUnit): IommuGroup {
    const id = this.ids.alloc();
    const g: IommuGroup = {
      id,
      kind: 'iommu',
      unit,
      devices: [],
      defaultType: defaultTypeFor(unit.spec.type, this.topology.arch, this.topology.cmdline),
    };
    this.groups.set(id, g);
    return g;
  }

  private joinGroup(dev: Device, g: IommuGroup): void {
    dev.group = g;
    g.devices.push(dev);
  }

  /** Takes a device out of its group; an empty group is freed and its number reused. */
  leaveGroup(dev: Device): void {
    const g = dev.group;
    if (!g) return;
    if (dev.kind === 'pci') this.dma.forget(g, dev);
    g.devices = g.devices.filter((d) => d !== dev);
    dev.group = null;
    if (g.devices.length === 0) {
      this.groups.delete(g.id);
      this.ids.free(g.id);
    }
  }

  sortedGroups(): IommuGroup[] {
    return [...this.groups.values()].sort((a, b) => a.id - b.id);
  }

  /** The `reserved_regions` lines of a group. */
  reservedRegionLines(g: IommuGroup): string[] {
    // An emulated group has no IOMMU to report regions (iommu_get_group_resv_regions finds no ops).
    const unit = g.unit;
    if (!unit) return [];
    const perDevice = g.devices.map((d) =>
      deviceRegions({
        unitType: unit.spec.type,
        classCode: d.kind === 'pci' ? d.fn.classCode : 0,
        extra: unit.spec.reserved,
      }),
    );
    return mergeRegions(perDevice).map(formatRegion);
  }
}

/** Group members sorted as `ls` lists a group's devices/ directory. */
export function memberNames(g: IommuGroup): string[] {
  return g.devices.map((d) => d.name).sort();
}

function parentIsPcieButNotPciBridge(f: PciFunction): boolean {
  const parent = f.bus.bridge;
  return parent !== null && parent.pcie && parent.pcieType !== 0x7;
}
