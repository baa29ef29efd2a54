// Mediated devices (drivers/vfio/mdev/mdev_core.c, mdev_sysfs.c; Documentation/driver-api/
// vfio-mediated-device.rst). A parent is a PCI device whose topology declares `mdev` types and
// whose vendor driver is bound: the driver's probe registers the parent (mdev_register_parent)
// and its remove unregisters it, taking every mdev with it. Writing a UUID to a type's
// `create` makes an mdev; the vendor driver registers it with VFIO as an emulated-IOMMU device,
// so it gets a vfio-noiommu group of its own (Machine.addEmulatedDevice).
//
// Counting: `available_instances` is per type here (what drivers with get_available, such as
// i915's GVT-g, report); the core's per-parent count for drivers without it is not modelled.

import { DMA_MANAGING_DRIVERS } from './domains';
import { Errno } from './errno';
import type { Machine } from './machine';
import { parseUlong } from './driver-ops';
import { sysfsWord } from './sysfs-text';
import type { MdevTypeSpec } from '../topology/model';
import type { MdevDevice, PciDevice } from './types';

/** UUID_STRING_LEN in include/linux/uuid.h. */
const UUID_STRING_LEN = 36;

/** lib/uuid.c uuid_is_valid: 8-4-4-4-12 hex digits, either case. */
export function isUuid(s: string): boolean {
  return /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(s);
}

/**
 * mdev_type_create_store: the write must be 36 or 37 bytes (a UUID and one more byte,
 * normally the newline; uuid_parse reads only the first 36), else EINVAL.
 */
export function parseCreateUuid(raw: string): string {
  if (raw.length < UUID_STRING_LEN || raw.length > UUID_STRING_LEN + 1) throw new Errno('EINVAL', `create takes a UUID (36 characters), got ${raw.length} bytes`);
  const uuid = raw.slice(0, UUID_STRING_LEN);
  if (!isUuid(uuid)) throw new Errno('EINVAL', `not a UUID: ${JSON.stringify(uuid)}`);
  // The device is named with %pUl: lower case.
  return uuid.toLowerCase();
}

export class MdevRegistry {
  /** In creation order. */
  private readonly list: MdevDevice[] = [];
  /** The mdev bus's drivers_autoprobe (kept; every mdev is bound by its vendor driver at
   * creation here, so it decides nothing yet). */
  autoprobe = true;

  /** drivers_autoprobe_store of the mdev bus: kept, and reported (the change gateway). */
  setAutoprobe(on: boolean): void {
    this.autoprobe = on;
    this.m.changes.note();
  }

  constructor(private readonly m: Machine) {}

  /** Whether the device is a registered mdev parent now: it declares types and its vendor driver is bound. */
  isParent(d: PciDevice): boolean {
    return d.fn.spec.mdev.length > 0 && d.driver !== null && !DMA_MANAGING_DRIVERS.has(d.driver) && d.driver !== 'pci-pf-stub' && this.m.devices.get(d.name) === d;
  }

  /** The types a registered parent offers; none while it is not registered. */
  types(d: PciDevice): readonly MdevTypeSpec[] {
    return this.isParent(d) ? d.fn.spec.mdev : [];
  }

  /** Registered parents in the machine's add order (class/mdev_bus). */
  parents(): PciDevice[] {
    return this.m.pciDevicesInOrder().filter((d) => this.isParent(d));
  }

  all(): readonly MdevDevice[] {
    return this.list;
  }

  get(uuid: string): MdevDevice | undefined {
    return this.list.find((x) => x.name === uuid);
  }

  instances(parent: PciDevice, type: string): MdevDevice[] {
    return this.list.filter((x) => x.parent === parent && x.type === type);
  }

  /** ... of children of the parent, for its directory listing. */
  childrenOf(parent: PciDevice): MdevDevice[] {
    return this.list.filter((x) => x.parent === parent);
  }

  available(parent: PciDevice, type: string): number {
    const spec = this.types(parent).find((t) => t.type === type);
    return spec ? spec.available - this.instances(parent, type).length : 0;
  }

  /** `echo <uuid> > <parent>/mdev_supported_types/<type>/create` (mdev_device_create). */
  create(parent: PciDevice, type: string, raw: string): MdevDevice {
    const uuid = parseCreateUuid(raw);
    const spec = this.types(parent).find((t) => t.type === type);
    if (!spec) throw new Errno('ENODEV', `${parent.name} has no registered mdev type ${type}`);
    // mdev_device_create: the UUID is checked against every parent's mdevs first, then the count.
    if (this.get(uuid) || this.m.devices.has(uuid)) throw new Errno('EEXIST', `an mdev ${uuid} exists already`);
    if (this.available(parent, type) <= 0) throw new Errno('EUSERS', `no ${type} instance left on ${parent.name}`);
    const dev: MdevDevice = { kind: 'mdev', name: uuid, parent, type, unit: null, group: null, seq: 0, driver: parent.driver, steps: [] };
    dev.steps = [{ kind: 'new', text: `mediated device: VFIO registers it with an emulated IOMMU, so it gets a new vfio-noiommu group` }];
    this.list.push(dev);
    this.m.addEmulatedDevice(dev);
    return dev;
  }

  /** `<mdev>/remove` (remove_store): a number; 0 does nothing, anything else removes it. */
  removeStore(dev: MdevDevice, raw: string): void {
    const v = parseUlong(raw);
    if (v === undefined) throw new Errno('EINVAL', 'remove takes a number');
    if (v === 0) return;
    this.remove(dev);
  }

  remove(dev: MdevDevice): void {
    const i = this.list.indexOf(dev);
    if (i < 0) throw new Errno('ENODEV', `mdev ${dev.name} is gone`);
    this.list.splice(i, 1);
    this.m.removeEmulatedDevice(dev);
  }

  /** bind_store, unbind_store and drivers_probe_store on the mdev bus (drivers/base/bus.c):
   * ENODEV for a device the bus does not have, or (unbind) one not bound to `driver`; EBUSY
   * binding one that has a driver. Every mdev here is bound from its creation on and taking
   * its driver away is not simulated, so an unbind the kernel would take changes nothing. */
  busWrite(kind: 'bind' | 'unbind' | 'probe', driver: string, raw: string): void {
    const name = sysfsWord(raw);
    const dev = this.get(name);
    if (!dev) throw new Errno('ENODEV', `no mdev ${name}`);
    if (kind === 'bind' && dev.driver !== null) throw new Errno('EBUSY', `${name} has a driver`);
    if (kind === 'unbind' && dev.driver !== driver) throw new Errno('ENODEV', `${name} is not bound to ${driver}`);
  }

  /** mdev_unregister_parent: the parent's mdevs go, newest first. */
  parentGone(parent: PciDevice): void {
    for (const dev of this.childrenOf(parent).reverse()) this.remove(dev);
  }
}
