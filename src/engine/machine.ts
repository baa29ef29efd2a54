// The simulated machine: its PCI functions as Linux enumerated them, the IOMMU units that
// cover them, and the groups formed at boot in the kernel's order (platform bus first, then
// PCI in add order: drivers/iommu/iommu.c iommu_device_register → bus_iommu_probe).

import { enabledAcsCtrl } from '../pci/acs';
import type { AcsContext } from '../pci/acs';
import { enumerate } from '../pci/enumerate';
import type { PciBus, PciFunction, PciTopology } from '../pci/enumerate';
import { dmaAliasQuirks } from '../pci/quirks/dma-alias-quirks';
import { matchesDeviceList } from '../pci/device-match';
import type { Topology } from '../topology/model';
import { coveringUnit, activeUnits } from './coverage';
import { defaultTypeFor } from './domain-type';
import type { DomainType } from './domain-type';
import { IdAllocator } from './id-allocator';
import { pciDeviceGroup } from './pci-device-group';
import { platformDeviceGroup } from './platform-device-group';
import { deviceRegions, formatRegion, mergeRegions } from './reserved-regions';
import { bootDriverFor } from './boot-drivers';
import type { GroupingContext } from './pci-device-group';
import type { Device, GroupStep, IommuGroup, IommuUnit, MdevDevice, PciDevice, PlatformDevice } from './types';
import { MdevRegistry } from './mdev';
import { buildDrivers, driverMatches, probeKeeps } from './drivers';
import { DomainRegistry } from './domains';
import { Errno } from './errno';
import { enableVfs } from './sriov';
import type { Driver } from './drivers';
import { canProbe } from './driver-ops';
import { configInputFor, configInputKey, configWriteBytes, configWriteMask, DRIVER_OWNED_BITS } from './config';
import { buildConfigSpace } from '../pci/config-space';
import { MachineResources } from './resources';
import { DriverEffectsRegistry } from './driver-effects';
import type { DriverTraits } from './driver-traits';
import { ChangeLog } from './change-log';
import { driverEvent, membership, uevent } from './group-events';
import { ModuleRegistry } from './modules';
import { PowerStates, pciPmDriverChange } from './power';

export class Machine {
  readonly topology: Topology;
  readonly pci: PciTopology;
  /** BARs, ROMs and bridge windows as firmware and Linux assigned them. */
  readonly resources: MachineResources;
  readonly units: IommuUnit[];
  readonly groups = new Map<number, IommuGroup>();
  /** Present devices by name, in the order they were added. */
  readonly devices = new Map<string, Device>();
  readonly warnings: string[] = [];
  /** A Map, not a WeakMap: a device leaves it when it leaves the machine, and a WeakMap of
   * 100,000 keys costs the garbage collector more than the whole grouping. */
  private readonly byFunction = new Map<PciFunction, PciDevice>();
  private readonly ids = new IdAllocator();
  private seq = 0;
  /** The add sequence number after boot: devices with a lower one have been there since. */
  bootSeq = 0;
  readonly acs: AcsContext;
  /** DMA ownership and domains per group. */
  readonly dma: DomainRegistry = new DomainRegistry(this);
  /** Mediated devices and their parents' types. */
  readonly mdev: MdevRegistry = new MdevRegistry(this);
  /** What bound drivers left on their devices (DMA mask, power, vectors, class devices). */
  readonly driverEffects: DriverEffectsRegistry = new DriverEffectsRegistry(this);
  /** Registered PCI drivers, in registration order (drivers of unloaded modules are not). */
  readonly drivers: Map<string, Driver>;
  /** Loaded kernel modules and their parameters. */
  readonly modules: ModuleRegistry;
  /** power/ settings of every device (drivers/base/power). */
  readonly power = new PowerStates();
  /** /sys/bus/pci/resource_alignment, null when unset. */
  resourceAlignment: string | null = null;
  /** /sys/bus/pci/drivers_autoprobe */
  driversAutoprobe = true;
  /** Device directories by the directory they sit in, for listing a bridge's children. */
  private readonly children = new Map<string, PciDevice[]>();
  /** Present PCI devices with a DMA alias mask (pci-device-group.ts hasDmaAliasPeer). */
  private aliasMasked = 0;
  private readonly config = new Map<PciDevice, { generation: number; key: string; bytes: Uint8Array }>();
  private readonly configWrites = new Map<PciDevice, Map<number, number>>();
  /** Every change is reported here: the one gateway the views and caches above learn from. */
  readonly changes = new ChangeLog();

  /** Moves on with every change, so that caches and views can tell the machine moved on. */
  get generation(): number {
    return this.changes.generation;
  }

  private constructor(topology: Topology) {
    this.topology = topology;
    this.units = activeUnits(topology, this.warnings);
    this.pci = enumerate(topology);
    this.resources = new MachineResources(this.pci, (f) => this.deviceOf(f) !== undefined);
    const ivrsPresent = topology.iommus.some((u) => u.type === 'amd-vi');
    this.acs = {
      ivrsPresent,
      requested: this.units.some((u) => u.active),
      acsOverride: topology.cmdline.acsOverride,
      ctrlOf: (f) => this.byFunction.get(f)?.acsCtrl ?? 0,
    };
    this.drivers = buildDrivers(topology);
    this.modules = new ModuleRegistry(this);
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
    // Grouped without steps: `explain` asks for them (groupSteps), rarely, and making them for
    // every device was most of the grouping's time and memory.
    // Every device exists, with its ACS control, before the loop, and grouping changes no
    // control: a bridge's path answer holds for the whole loop.
    const now: GroupingContext = { ...m.groupingNow(), acsPaths: new Map() };
    pciDevices.forEach((d, i) => {
      d.bootIndex = i;
      d.steps = null;
      m.groupPci(d, now);
    });
    for (const d of pciDevices) if (d.driver !== null) m.driverProbed(d);
    m.modules.afterBoot();
    // VFs enabled at start (topology sriov.num): the PF driver enabled them as it probed.
    for (const d of pciDevices) {
      const n = d.fn.spec.sriov?.num ?? 0;
      if (n > 0 && !d.fn.physfn) enableVfs(m, d, n);
    }
    m.bootSeq = m.seq;
    // Boot is the baseline: nothing has read or cached the tree yet, so the first write must
    // not be told that every device changed.
    m.changes.booted();
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
    // Most devices have no alias: they share one empty mask and one empty quirk list.
    const aliases = f.physfn || f.spec.dmaAlias.length === 0 ? quirks.aliasDevfns : [...quirks.aliasDevfns, ...f.spec.dmaAlias];
    const mask = aliases.length === 0 ? NO_ALIASES : new Set<number>(aliases);
    if (mask.size > 0) this.aliasMasked++;
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
      aliasQuirks: quirks.applied.length === 0 ? NO_QUIRKS : quirks.applied.map((q) => q.quirk),
      acsCtrl: enabledAcsCtrl(f.acsCap, {
        requested: this.acs.requested,
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
      bootIndex: -1,
    };
    this.byFunction.set(f, dev);
    this.devices.set(dev.name, dev);
    const parent = f.parentDir;
    let siblings = this.children.get(parent);
    if (!siblings) this.children.set(parent, (siblings = []));
    siblings.push(dev);
    const before = siblings[siblings.length - 2];
    if (before !== undefined && before.name > dev.name) siblings.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    // device_add: KOBJ_ADD, before any driver probes it.
    this.changes.note({ device: dev, events: uevent('add', dev) });
    return dev;
  }

  /** Takes a PCI device off the machine: out of its group, its driver released. */
  destroyPciDevice(dev: PciDevice): void {
    if (dev.bootIndex >= 0) this.keepBootStepsBelow(dev.fn.bus);
    if (dev.driver !== null) this.detachDriver(dev);
    this.driverEffects.removed(dev);
    this.mdev.parentGone(dev);
    this.leaveGroup(dev);
    this.byFunction.delete(dev.fn);
    this.devices.delete(dev.name);
    if (dev.dmaAliasMask.size > 0) this.aliasMasked--;
    this.config.delete(dev);
    this.configWrites.delete(dev);
    const parent = dev.fn.parentDir;
    const siblings = (this.children.get(parent) ?? []).filter((d) => d !== dev);
    if (siblings.length > 0) this.children.set(parent, siblings);
    else this.children.delete(parent);
    // device_del: KOBJ_REMOVE, after its driver and its group are gone.
    this.changes.note({ device: dev, events: uevent('remove', dev) });
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
    this.changes.note({ device: pf });
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
    this.changes.note({ device: pf });
  }

  moduleLoaded(module: string): boolean {
    return this.modules.isLoaded(module);
  }

  /** /sys/module entries of the loadable modules that are loaded, sorted. */
  loadedModules(): string[] {
    return this.modules.list().map((mod) => mod.name).sort();
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

  /** Binds a driver whose probe took the device (driver_bound: BOUND_DRIVER, then KOBJ_BIND). */
  private attachDriver(d: PciDevice, drv: Driver): void {
    d.driver = drv.name;
    this.bindings.delete(d);
    pciPmDriverChange(this.power.peek(d, ''), drv.traits, true);
    this.driverProbed(d);
    this.changes.note({ device: d, events: [...driverEvent('bound-driver', d, drv.name), ...uevent('bind', d, drv.name)] });
  }

  /** The driver in d.driver has probed: what it sets up, and the registers it wrote. */
  private driverProbed(d: PciDevice): void {
    this.driverEffects.bound(d);
    // At boot no change is noted between a probe and the next read, so an image made before
    // the vectors existed must go.
    this.config.delete(d);
    const traits = this.driverEffects.traitsOf(d);
    if (traits) this.driverWroteConfig(d, traits);
  }

  /** __device_release_driver: UNBIND_DRIVER, the driver's remove, UNBOUND_DRIVER, KOBJ_UNBIND. */
  detachDriver(d: PciDevice): void {
    const was = d.driver;
    if (was !== null) this.changes.note({ events: driverEvent('unbind-driver', d, was) });
    // The vendor driver's remove unregisters the mdev parent, which removes its mdevs.
    this.mdev.parentGone(d);
    this.driverEffects.unbound(d);
    const traits = d.driver === null ? undefined : this.drivers.get(d.driver)?.traits;
    if (traits) pciPmDriverChange(this.power.peek(d, ''), traits, false);
    d.driver = null;
    this.bindings.delete(d);
    if (traits) this.driverWroteConfig(d, traits);
    this.changes.note({ device: d, events: was === null ? [] : [...driverEvent('unbound-driver', d, was), ...uevent('unbind', d)] });
  }

  /** pci_set_master, pci_intx and pci_disable_device read, modify and write the command
   * register: after a bind or unbind of a driver that enables the device or its MSI, the bits
   * it owns there take its values, over what a user wrote before (the other written bits
   * stay). A driver that touches neither (the stubs, vfio-pci until opened) leaves them. */
  private driverWroteConfig(d: PciDevice, t: DriverTraits): void {
    if (!t.enablesDevice && t.msiVectors === 0) return;
    const written = this.configWrites.get(d);
    if (!written) return;
    // The cached image holds the old written bytes (its input may not have changed).
    this.config.delete(d);
    const image = buildConfigSpace(configInputFor(this, d));
    for (const [at, mask] of DRIVER_OWNED_BITS) {
      const v = written.get(at);
      if (v !== undefined) written.set(at, (v & ~mask) | (image[at]! & mask));
    }
  }

  /** really_probe of a matching driver: false when its probe fails on this hardware (what it
   * did before giving up stays), else it binds (attachDriver's refusals are thrown). */
  probeWith(d: PciDevice, drv: Driver): boolean {
    // A host driver is refused (EBUSY) while a user owns or wants the group; refused here,
    // before BIND_DRIVER, since a refused write changes nothing.
    this.dma.checkBind(d, drv.name);
    this.changes.note({ events: driverEvent('bind-driver', d, drv.name) });
    if (!probeKeeps(drv, d.fn)) {
      this.driverEffects.probeFailed(d, drv.traits);
      this.changes.note({ device: d });
      return false;
    }
    this.attachDriver(d, drv);
    return true;
  }

  /** device_attach: bind the first matching driver (registration order), if none is bound.
   * A device just added (not `explicit`) then sends its uevent, on which udev loads the
   * module that claims it, if any (ModuleRegistry.loadFor). */
  autoBind(d: PciDevice, explicit: boolean): void {
    this.attachFirstMatching(d, explicit);
    if (!explicit) this.modules.loadFor(d);
  }

  private attachFirstMatching(d: PciDevice, explicit: boolean): void {
    if (d.driver !== null) return;
    if (!explicit && !this.driversAutoprobe) return;
    if (!canProbe(this, d)) return;
    for (const drv of this.drivers.values()) {
      // __device_attach_driver: a driver whose probe fails lets the next one try.
      if (!driverMatches(drv, d.fn, d.driverOverride)) continue;
      try {
        if (!this.probeWith(d, drv)) continue;
      } catch (e) {
        // really_probe returns dma_configure's error as is; drivers_probe_store turns any
        // error into EINVAL, and autoprobe after an add just leaves the device unbound.
        if (explicit && e instanceof Errno) throw new Errno('EINVAL', e.message);
        if (!(e instanceof Errno)) throw e;
      }
      return;
    }
  }

  /**
   * A device's config space: the image made from its state now (driver bound, VFs enabled...)
   * with the bytes users wrote laid over it, so that it reads the same whenever it was first
   * read and after a restart. Kept while the state it was made from is unchanged.
   */
  configBytes(d: PciDevice): Uint8Array {
    const cached = this.config.get(d);
    if (cached && cached.generation === this.generation) return cached.bytes;
    const input = configInputFor(this, d);
    const key = configInputKey(input);
    if (cached && cached.key === key) {
      cached.generation = this.generation;
      return cached.bytes;
    }
    const bytes = buildConfigSpace(input);
    for (const [at, v] of this.configWrites.get(d) ?? []) bytes[at] = v;
    this.config.delete(d);
    this.config.set(d, { generation: this.generation, key, bytes });
    // The images made last are kept: a walk reads every device's (4 KiB each), and one made
    // again from the same input is the same image, written bytes laid over it.
    if (this.config.size > CONFIG_IMAGES_KEPT) this.config.delete(this.config.keys().next().value as PciDevice);
    return bytes;
  }

  writeConfig(d: PciDevice, offset: number, data: Buffer): void {
    const bytes = this.configBytes(d);
    const written = this.configWrites.get(d) ?? new Map<number, number>();
    for (const [at, v] of configWriteBytes(configWriteMask(d.fn), bytes, offset, data)) {
      bytes[at] = v;
      written.set(at, v);
    }
    if (written.size > 0) this.configWrites.set(d, written);
    this.changes.note({ device: d });
  }

  /** The config bytes users wrote (offset → value), for the saved state. */
  writtenConfig(d: PciDevice): ReadonlyMap<number, number> {
    return this.configWrites.get(d) ?? new Map();
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

  /** iommu_probe_device for a PCI device: find or make its group and join it, with its steps. */
  probePci(dev: PciDevice): void {
    const steps: GroupStep[] = [];
    dev.steps = steps;
    this.groupPci(dev, { ...this.groupingNow(), steps });
  }

  private groupPci(dev: PciDevice, ctx: GroupingContext): void {
    const join = decidePciGroup(dev, ctx);
    if (join !== undefined) this.joinGroup(dev, join ?? this.newGroup(dev.unit!));
  }

  /** The machine as it is, for pci_device_group. */
  private groupingNow(): GroupingContext {
    return {
      acs: this.acs,
      deviceOf: (f) => this.byFunction.get(f),
      groupOf: (d) => d.group,
      order: (d) => d.seq,
      anyDmaAliasMask: () => this.aliasMasked > 0,
    };
  }

  /** Why the device sits in its group, as `explain` gives it: the steps its grouping took.
   * A device grouped at boot is grouped again with a recorder against the machine as it was
   * then: the devices of boot's probe loop are there, those before it in the loop grouped. A
   * removal changes what that replay would see, so it makes the steps it could change first
   * (destroyPciDevice → keepBootStepsBelow). */
  groupSteps(d: Device): readonly GroupStep[] {
    if (d.kind !== 'pci') return d.steps;
    if (d.steps !== null) return d.steps;
    const steps: GroupStep[] = [];
    const at = d.bootIndex;
    decidePciGroup(d, {
      acs: this.acs,
      deviceOf: (f) => {
        const x = this.byFunction.get(f);
        return x !== undefined && x.bootIndex >= 0 ? x : undefined;
      },
      groupOf: (x) => (x.bootIndex < at && x.unit !== null ? GROUPED_BEFORE : null),
      order: (x) => x.bootIndex,
      anyDmaAliasMask: () => this.aliasMasked > 0,
      steps,
    });
    d.steps = steps;
    return steps;
  }

  /** A device's grouping looks at its own bus and the buses above it: before a boot device
   * leaves, the boot devices whose replay would look at it get their steps made. */
  private keepBootStepsBelow(bus: PciBus): void {
    for (const f of bus.devices) {
      const d = this.byFunction.get(f);
      if (d?.steps === null) this.groupSteps(d);
      if (f.secondary) this.keepBootStepsBelow(f.secondary);
    }
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
    this.addGroup(g);
    this.joinGroup(dev, g);
  }

  /** The mdev goes, and its group with it (vfio_unregister_group_dev → iommu_group_remove_device). */
  removeEmulatedDevice(dev: MdevDevice): void {
    this.leaveGroup(dev);
    this.devices.delete(dev.name);
    this.changes.note({ device: dev });
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
    this.addGroup(g);
    return g;
  }

  /** iommu_group_alloc: the group exists (kernel/iommu_groups/<id>). */
  private addGroup(g: IommuGroup): void {
    this.groups.set(g.id, g);
    this.changes.note({ group: g.id, events: [{ kind: 'created', group: g.id, type: g.defaultType }] });
  }

  private joinGroup(dev: Device, g: IommuGroup): void {
    dev.group = g;
    g.devices.push(dev);
    // iommu_group_add_device: IOMMU_GROUP_NOTIFY_ADD_DEVICE once the device is in.
    this.changes.note({ device: dev, group: g.id, events: [membership('add-device', dev, g.id)] });
  }

  /** Takes a device out of its group; an empty group is freed and its number reused. */
  leaveGroup(dev: Device): void {
    const g = dev.group;
    if (!g) return;
    // Its PASIDs go first; then iommu_group_remove_device: "Pre-notify listeners that a
    // device is being removed" (IOMMU_GROUP_NOTIFY_DEL_DEVICE), and out it goes.
    if (dev.kind === 'pci') this.dma.forget(g, dev);
    this.changes.note({ events: [membership('del-device', dev, g.id)] });
    g.devices = g.devices.filter((d) => d !== dev);
    dev.group = null;
    this.changes.note({ device: dev, group: g.id });
    if (g.devices.length === 0) {
      this.groups.delete(g.id);
      this.ids.free(g.id);
      this.changes.note({ group: g.id, events: [{ kind: 'removed', group: g.id }] });
    }
  }

  /** The add sequence number the next device gets. */
  get nextSeq(): number {
    return this.seq;
  }

  /**
   * Saved state: every device grouped again from scratch in add order (platform first, as
   * at boot), to check a saved layout against the grouping rules; then `restoreGroups`.
   * Grouping steps are left as they were. Runs before any mdev exists (they come after).
   */
  regroupInAddOrder(): void {
    this.dropGroups([]);
    const all = [...this.devices.values()].sort((a, b) => a.seq - b.seq);
    for (const d of all) {
      if (d.kind !== 'platform') continue;
      const steps = d.steps;
      this.probePlatform(d);
      d.steps = steps;
    }
    for (const d of all) if (d.kind === 'pci') this.groupPci(d, this.groupingNow());
  }

  /**
   * Saved state: the groups exactly as they were served (numbers, members in join order,
   * types) and the add sequence. The IDA's lowest-free allocation depends only on the set of
   * numbers in use, so the allocator is restored by that set.
   */
  restoreGroups(nextSeq: number, layout: readonly { id: number; type: DomainType; members: readonly Device[] }[]): void {
    this.dropGroups(layout.map((l) => l.id));
    for (const l of layout) {
      const first = l.members[0]!;
      const g: IommuGroup = { id: l.id, kind: first.kind === 'mdev' ? 'vfio-noiommu' : 'iommu', unit: first.unit, devices: [], defaultType: l.type };
      this.addGroup(g);
      for (const d of l.members) this.joinGroup(d, g);
    }
    this.seq = nextSeq;
    this.changes.note();
  }

  private dropGroups(idsInUse: number[]): void {
    for (const g of this.groups.values()) for (const d of g.devices) d.group = null;
    this.groups.clear();
    this.ids.reset(idsInUse);
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

/** iommu_probe_device: a device no IOMMU translates is not probed and gets no group
 * (undefined); otherwise pci_device_group's answer. */
function decidePciGroup(dev: PciDevice, ctx: GroupingContext): IommuGroup | null | undefined {
  if (!dev.unit) {
    ctx.steps?.push({ kind: 'new', text: 'no IOMMU translates this device: it has no group' });
    return undefined;
  }
  return pciDeviceGroup(dev, ctx);
}

const CONFIG_IMAGES_KEPT = 1024;

const NO_ALIASES: ReadonlySet<number> = new Set();
const NO_QUIRKS: readonly string[] = [];

/** What a replay of boot's grouping is told of a device grouped before: that it had a group
 * (which one does not change the steps). */
const GROUPED_BEFORE: IommuGroup = { id: -1, kind: 'iommu', unit: null, devices: [], defaultType: 'unknown' };

function parentIsPcieButNotPciBridge(f: PciFunction): boolean {
  const parent = f.bus.bridge;
  return parent !== null && parent.pcie && parent.pcieType !== 0x7;
}
