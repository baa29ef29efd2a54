// What binding and unbinding a driver leaves on a PCI device, from its DriverTraits: the DMA
// mask, `enable` and the power state, MSI/MSI-X vectors (msi_irqs/<irq>), wake-up capability
// and wakeup sources, and the class devices the driver creates (net/eth0, ptp/ptp0,
// vfio-dev/vfio0, nvme/nvme0). Numbers come from the kernel's allocators, lowest free first.

import { CAP_ID, findCap } from '../pci/config-read';
import { interruptCapability } from '../pci/config-space';
import { stdCapsInputFor } from './config';
import type { PciFunction } from '../pci/enumerate';
import { PCI_EXP_TYPE } from '../pci/pcie-type';
import { CLASS_DEVICE_NAMING } from './driver-traits';
import type { ClassDeviceKind, DriverTraits } from './driver-traits';
import { IdAllocator } from './id-allocator';
import type { Machine } from './machine';
import type { SavedEffects } from './state-shape';
import { queueSettings, restoreQueueSettings } from './block-queue';
import type { QueueSettings } from './block-queue';
import { controllerSettings, namespacesOf, restoreControllerSettings } from './nvme';
import { pciRuntimeSuspended } from './power';
import type { PciDevice } from './types';

export interface ClassDevice {
  kind: ClassDeviceKind;
  /** The number its allocator gave. */
  index: number;
  /** The directory under the PCI device and the class (`net`, `drm`, `wakeup` ...). */
  dir: string;
  /** The class device's name (`eth0`, `ptp0`, `vfio0`, `nvme0`, `card0`, `wakeup13`). */
  name: string;
}

/** A namespace's block device (nvme<C>n<N>) and generic char device (ng<C>n<N>), registered by
 * nvme_alloc_ns below the controller's class device. */
export interface BlockDisk {
  /** Namespace ID (also the ns head's instance: a private namespace's ns_ida gives 1, 2 ...). */
  nsid: number;
  /** Minor of 259 from the ext devt IDA (blk_alloc_ext_minor, lowest free). */
  minor: number;
  /** Minor of the nvme-generic char device (nvme_ns_chr_minor_ida). */
  generic: number;
  /** disk->diskseq: a global counter, one more for every disk ever allocated (inc_diskseq). */
  diskseq: number;
}

export interface MsiVector {
  irq: number;
  kind: 'msi' | 'msix';
}

interface DeviceEffects {
  /** dev->dma_mask: 32 bits from pci_setup_device until a driver sets it; never reset on unbind. */
  dmaMaskBits: number;
  /** pci_dev->current_state is known once a driver enabled or suspended the device. */
  powerKnown: boolean;
  /** The wakeup source device_wakeup_enable registered; it stays until the device goes. */
  wakeup: ClassDevice | null;
  vectors: MsiVector[];
  /** Class devices of the bound driver, unregistered by its remove. */
  classDevices: ClassDevice[];
  /** Its namespaces' disks (nvme), removed with the controller. */
  disks: BlockDisk[];
}

/** A disk's written queue settings, for --state. */
function settingsOf(k: BlockDisk): { settings?: QueueSettings } {
  const settings = queueSettings(k);
  return settings ? { settings } : {};
}

/** The NVMe controller's written settings (iopolicy, temperature thresholds), for --state. */
function controllerSettingsOf(list: readonly ClassDevice[]): { controller?: Record<string, string | number> } {
  const ctrl = list.find((c) => c.kind === 'nvme');
  const settings = ctrl && controllerSettings(ctrl);
  return settings ? { controller: settings } : {};
}

const NONE: never[] = [];

/** The effects of a device no driver touched (what of() starts a record with). */
const UNTOUCHED: Readonly<DeviceEffects> = { dmaMaskBits: 32, powerKnown: false, wakeup: null, vectors: NONE, classDevices: NONE, disks: NONE };

/** Legacy IOAPIC interrupts 0-23 come first on x86 (arch/x86/kernel/apic/io_apic.c gsi_top). */
const FIRST_DYNAMIC_IRQ = 24;
function reserved(n: number): IdAllocator {
  const ids = new IdAllocator();
  for (let i = 0; i < n; i++) ids.alloc();
  return ids;
}

export class DriverEffectsRegistry {
  /** A Map: removed() takes a device out, and WeakMaps of many keys slow the collector. */
  private state = new Map<PciDevice, DeviceEffects>();
  /** pcie_pme_mark_devices marks a port and every device present below it: kept as the port
   * and the add sequence number the next device would have got then (devices below with a
   * lower one were present), rather than a flag on nearly every device of the machine. */
  private marks = new Map<PciFunction, number>();
  /** Wake-up capability restored from a state file, device by device. */
  private restoredCapable = new Set<PciDevice>();
  private readonly names = new Map<ClassDeviceKind, IdAllocator>();
  private irqAllocator: IdAllocator | undefined;
  private readonly blockMinors = new IdAllocator();
  private readonly genericMinors = new IdAllocator();
  /** The last diskseq handed out (block/genhd.c diskseq, starting at 1). */
  private diskseq = 0;

  constructor(private readonly m: Machine) {}

  private of(d: PciDevice): DeviceEffects {
    let s = this.state.get(d);
    if (!s) {
      // The empty lists are shared until a driver fills them (bound makes new ones).
      s = { ...UNTOUCHED };
      this.state.set(d, s);
    }
    return s;
  }

  /** Linux IRQ numbers: after the legacy ones, each active IOMMU unit's fault interrupt
   * (dmar_set_interrupt, amd_iommu_init_irq) is allocated at boot [rec: ports from 25 with
   * one VT-d unit, from 24 without]. */
  private irqs(): IdAllocator {
    this.irqAllocator ??= reserved(FIRST_DYNAMIC_IRQ + this.m.units.filter((u) => u.active).length);
    return this.irqAllocator;
  }

  private ids(kind: ClassDeviceKind): IdAllocator {
    let a = this.names.get(kind);
    if (!a) {
      a = reserved(CLASS_DEVICE_NAMING[kind].first);
      this.names.set(kind, a);
    }
    return a;
  }

  private newClassDevice(kind: ClassDeviceKind): ClassDevice {
    const { dir, prefix } = CLASS_DEVICE_NAMING[kind];
    const index = this.ids(kind).alloc();
    return { kind, index, dir, name: `${prefix}${index}` };
  }

  /** The traits of the driver bound to the device, if any. */
  traitsOf(d: PciDevice): DriverTraits | undefined {
    return d.driver === null ? undefined : this.m.drivers.get(d.driver)?.traits;
  }

  /** The driver named in d.driver has just probed the device. */
  bound(d: PciDevice): void {
    const t = this.traitsOf(d);
    if (!t) return;
    const s = this.of(d);
    if (t.dmaMaskBits !== null) s.dmaMaskBits = t.dmaMaskBits;
    if (t.enablesDevice || t.idleD3hot) s.powerKnown = true;
    if (t.matchesPorts && (d.fn.pcieType === PCI_EXP_TYPE.ROOT_PORT || d.fn.pcieType === PCI_EXP_TYPE.RC_EC)) this.markWakeupCapable(d.fn);
    if (t.msiVectors > 0) {
      const { kind, tableSize } = interruptCapability(stdCapsInputFor(d.fn));
      // A driver gets at most the MSI-X table's entries (pci_msix_vec_count); plain MSI gives
      // one vector here (multiple-message MSI is not modelled).
      const n = kind === 'msix' ? Math.min(t.msiVectors, tableSize) : kind === 'msi' ? 1 : 0;
      if (n > 0) s.vectors = [...s.vectors];
      for (let i = 0; i < n; i++) s.vectors.push({ irq: this.irqs().alloc(), kind: kind! });
    }
    if (t.classDevices.length > 0) s.classDevices = [...s.classDevices, ...t.classDevices.map((kind) => this.newClassDevice(kind))];
    // nvme_scan_work → nvme_alloc_ns, namespace by namespace in NSID order.
    if (t.classDevices.includes('nvme')) {
      s.disks = namespacesOf(d.fn).map((_, i) => ({ nsid: i + 1, minor: this.blockMinors.alloc(), generic: this.genericMinors.alloc(), diskseq: ++this.diskseq }));
    }
    // device_wakeup_enable fails on a device that is not wakeup-capable.
    if (t.wakeupSource && this.wakeupCapable(d) && s.wakeup === null) {
      s.wakeup = this.newClassDevice('wakeup');
      this.wakeupChanged(d, s);
    }
  }

  /** The PM state's device_may_wakeup follows the source (power.ts DevicePm.wakeupEnabled). */
  private wakeupChanged(d: PciDevice, s: DeviceEffects): void {
    const pm = this.m.power.peek(d, '');
    if (pm) pm.wakeupEnabled = s.wakeup !== null;
  }

  /** A state file without saved effects: those of the drivers bound now, made again in add
   * order. */
  rebuild(): void {
    this.clearNumbers();
    for (const d of this.m.pciDevicesInOrder()) if (d.driver !== null) this.bound(d);
  }

  /** The last diskseq handed out (kept by --state: it never goes back). */
  get lastDiskseq(): number {
    return this.diskseq;
  }

  private clearNumbers(): void {
    this.state = new Map();
    this.marks = new Map();
    this.restoredCapable = new Set();
    this.names.clear();
    this.irqAllocator = undefined;
    this.blockMinors.reset([]);
    this.genericMinors.reset([]);
    this.diskseq = 0;
  }

  /** What --state keeps of a device (nothing while no driver ever touched it). */
  snapshot(d: PciDevice): SavedEffects | undefined {
    const wakeupCapable = this.wakeupCapable(d);
    const s = this.state.get(d) ?? (wakeupCapable ? UNTOUCHED : undefined);
    if (!s) return undefined;
    return {
      dmaMaskBits: s.dmaMaskBits,
      powerKnown: s.powerKnown,
      wakeupCapable,
      wakeup: s.wakeup?.index ?? null,
      vectors: s.vectors.map((v) => ({ ...v })),
      classDevices: s.classDevices.map((c) => ({ kind: c.kind as Exclude<ClassDeviceKind, 'wakeup'>, index: c.index })),
      ...(s.disks.length > 0 ? { disks: s.disks.map((k) => ({ ...k, ...settingsOf(k) })) } : {}),
      ...controllerSettingsOf(s.classDevices),
    };
  }

  /** Puts saved effects back as served; the allocators then hold exactly the numbers in use.
   * Throws a message naming a number two devices claim. */
  restore(saved: ReadonlyMap<PciDevice, SavedEffects>, diskseq = 0): void {
    this.clearNumbers();
    this.diskseq = diskseq;
    const irqs = new Set<number>();
    const minors = new Set<number>();
    const generics = new Set<number>();
    const ids = new Map<ClassDeviceKind, Set<number>>();
    const take = (set: Set<number>, n: number, what: string): void => {
      if (set.has(n)) throw new Error(`${what} ${n} is used twice`);
      set.add(n);
    };
    for (const [d, e] of saved) {
      const cls = (kind: ClassDeviceKind, index: number): ClassDevice => {
        const set = ids.get(kind) ?? new Set<number>();
        ids.set(kind, set);
        take(set, index, `${CLASS_DEVICE_NAMING[kind].prefix} number`);
        const { dir, prefix } = CLASS_DEVICE_NAMING[kind];
        return { kind, index, dir, name: `${prefix}${index}` };
      };
      for (const v of e.vectors) take(irqs, v.irq, 'IRQ');
      for (const k of e.disks ?? []) {
        take(minors, k.minor, 'block minor');
        take(generics, k.generic, 'nvme-generic minor');
        this.diskseq = Math.max(this.diskseq, k.diskseq);
      }
      if (e.wakeupCapable) this.restoredCapable.add(d);
      this.state.set(d, {
        dmaMaskBits: e.dmaMaskBits,
        powerKnown: e.powerKnown,
        wakeup: e.wakeup === null ? null : cls('wakeup', e.wakeup),
        vectors: e.vectors.map((v) => ({ ...v })),
        classDevices: e.classDevices.map((c) => cls(c.kind, c.index)),
        disks: (e.disks ?? []).map(({ settings, ...k }) => {
          const disk = { ...k };
          if (settings) restoreQueueSettings(disk, settings);
          return disk;
        }),
      });
      const ctrl = this.state.get(d)!.classDevices.find((c) => c.kind === 'nvme');
      if (ctrl && e.controller) restoreControllerSettings(ctrl, e.controller);
    }
    const first = FIRST_DYNAMIC_IRQ + this.m.units.filter((u) => u.active).length;
    this.irqs().reset([...Array(first).keys(), ...irqs]);
    this.blockMinors.reset(minors);
    this.genericMinors.reset(generics);
    for (const [kind, used] of ids) this.ids(kind).reset([...Array(CLASS_DEVICE_NAMING[kind].first).keys(), ...used]);
  }

  /** The driver's probe ran and failed (drivers.ts probeKeeps): what it did before giving
   * up stays (DriverTraits.failedProbeLeavesMask). */
  probeFailed(d: PciDevice, t: DriverTraits): void {
    if (!t.failedProbeLeavesMask) return;
    const s = this.of(d);
    if (t.dmaMaskBits !== null) s.dmaMaskBits = t.dmaMaskBits;
    if (t.enablesDevice) s.powerKnown = true;
  }

  /** The bound driver's remove has run (d.driver still names it). */
  unbound(d: PciDevice): void {
    const s = this.state.get(d);
    if (!s) return;
    for (const v of s.vectors) this.irqs().free(v.irq);
    s.vectors = [];
    for (const c of s.classDevices) this.ids(c.kind).free(c.index);
    s.classDevices = [];
    for (const k of s.disks) {
      this.blockMinors.free(k.minor);
      this.genericMinors.free(k.generic);
    }
    s.disks = [];
  }

  /** The device left the machine: its wakeup source goes with it (device_del → device_wakeup_disable). */
  removed(d: PciDevice): void {
    const s = this.state.get(d);
    if (s?.wakeup) this.ids('wakeup').free(s.wakeup.index);
    this.state.delete(d);
    this.restoredCapable.delete(d);
  }

  /** pcie_pme_mark_devices: the port and every device present below it. Devices added later
   * are not marked (a rescan below a bound port gives no wakeup attributes) [rec: writes.json
   * 02:00.0 after remove and rescan]. */
  private markWakeupCapable(port: PciFunction): void {
    this.marks.set(port, this.m.nextSeq);
  }

  dmaMaskBits(d: PciDevice): number {
    return this.state.get(d)?.dmaMaskBits ?? 32;
  }

  /** `enable` (enable_cnt): bridges are enabled by pci_enable_bridges once resources are
   * assigned; other devices while a driver that enables them is bound. */
  enabled(d: PciDevice): boolean {
    return d.fn.headerType === 1 || this.traitsOf(d)?.enablesDevice === true;
  }

  /** enable_cnt, what `enable` shows: the bound driver's (or pci_enable_bridges') enable plus
   * what `enable` writes did (pci-attrs.ts storeEnable). */
  enableCount(d: PciDevice): number {
    return (this.enabled(d) ? 1 : 0) + d.userEnables;
  }

  /** The bound driver let the unused device runtime-suspend (vfio-pci, unless power/control
   * was set to "on"): D3hot in PMCSR. */
  idleSuspended(d: PciDevice): boolean {
    return pciRuntimeSuspended(this.m, d);
  }

  /** `power_state` (pci_power_name(current_state)). */
  powerState(d: PciDevice): 'D0' | 'D3hot' | 'unknown' {
    // pci_target_state: a device without the PM capability stays in D0.
    if (this.idleSuspended(d) && findCap(this.m.configBytes(d), CAP_ID.PM) !== undefined) return 'D3hot';
    // pci_enable_device (a driver's, a failed probe's, or an `enable` write) powers it up.
    if (this.enableCount(d) > 0 || this.state.get(d)?.powerKnown) return 'D0';
    return 'unknown';
  }

  /** device_can_wakeup: marked by a port above it (or the device itself, a port) while it was
   * present, the way pcie_pme_mark_devices walks down: through each bridge's secondary bus,
   * so not into a VF's virtual bus. */
  wakeupCapable(d: PciDevice): boolean {
    if (this.restoredCapable.has(d)) return true;
    for (let f: PciFunction | null = d.fn; f !== null; f = f.bus.bridge) {
      const mark = this.marks.get(f);
      if (mark !== undefined && d.seq < mark) return true;
    }
    return false;
  }

  /** device_may_wakeup: a wakeup source is registered (power/wakeup reads enabled). */
  wakeupEnabled(d: PciDevice): boolean {
    return (this.state.get(d)?.wakeup ?? null) !== null;
  }

  /** power/wakeup of a wakeup-capable device: device_wakeup_enable registers a wakeup source
   * (wakeup/wakeup<N> appears below the device), device_wakeup_disable unregisters it
   * (drivers/base/power/wakeup.c). */
  setWakeup(d: PciDevice, on: boolean): void {
    const s = this.of(d);
    if (on && s.wakeup === null) s.wakeup = this.newClassDevice('wakeup');
    else if (!on && s.wakeup !== null) {
      this.ids('wakeup').free(s.wakeup.index);
      s.wakeup = null;
    } else return;
    this.wakeupChanged(d, s);
    this.m.changes.note({ device: d });
  }

  vectors(d: PciDevice): readonly MsiVector[] {
    return this.state.get(d)?.vectors ?? [];
  }

  /** The disks of the NVMe controller bound to the device, in NSID order. */
  disks(d: PciDevice): readonly BlockDisk[] {
    return this.state.get(d)?.disks ?? [];
  }

  /** The class devices below the device, wakeup source included, by directory name. */
  classDevices(d: PciDevice): ClassDevice[] {
    const s = this.state.get(d);
    if (!s) return [];
    return s.wakeup ? [...s.classDevices, s.wakeup] : [...s.classDevices];
  }
}
