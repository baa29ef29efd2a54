// Who may drive a group's DMA, and through which domain (drivers/iommu/iommu.c, Linux 6.1
// with the 6.12 additions the issue asks for: replace and PASID attach). Per group: its
// default domain, a blocking domain made on first claim, and user (unmanaged) domains a
// user allocates; DMA ownership is either the kernel's DMA API users or one user owner.
// Every operation checks everything first and changes nothing when it refuses.
//
// VFIO's emulated (vfio-noiommu) groups, which mdevs get, have no unit and no default domain:
// VFIO never claims them through the IOMMU core (vfio_group_set_container skips
// iommu_group_claim_dma_owner for VFIO_EMULATED_IOMMU), so every domain operation on them is
// EINVAL here, and their domain reads as none.

import { managesDma } from './drivers';
import { Errno } from './errno';
import type { GroupEventBody } from './group-events';
import type { Machine } from './machine';
import type { Device, IommuGroup, IommuUnit, PciDevice } from './types';

export type DomainKind = 'default' | 'blocking' | 'user';

export interface DomainCaps {
  pasid: boolean;
  nesting: boolean;
  dirtyTracking: boolean;
}

export interface Domain {
  /** User domains: 1, 2, ... in allocation order, never reused. Core domains (default and
   * blocking, one each per group, made by the kernel itself): 0, and not in `domains`. */
  id: number;
  kind: DomainKind;
  unit: IommuUnit;
  caps: DomainCaps;
  /** For default and blocking domains: the group they belong to. */
  group?: IommuGroup;
}

export type GroupState = 'host' | 'leaving-host' | 'idle' | 'user';

export interface GroupDma {
  /** The user that owns the group (iommu_group_claim_dma_owner's cookie), or null. */
  owner: string | null;
  /** A user asked for the group: no new host driver may bind until it is released. */
  leaving: boolean;
  /** The domain the group is attached to now; undefined means its default domain. */
  current?: Domain;
  blocking?: Domain;
  /** PASID → domain, per device. */
  pasids: Map<PciDevice, Map<number, Domain>>;
}

export class DomainRegistry {
  private readonly byGroup = new WeakMap<IommuGroup, GroupDma>();
  /** User domains by id. */
  readonly domains = new Map<number, Domain>();
  /** The id the last allocate() gave, for the `last_allocated` file (0: none yet). */
  lastAllocated = 0;
  private nextId = 1;
  private readonly defaults = new WeakMap<IommuGroup, Domain>();

  /** Told of every domain switch of a group, for tests and traces (replace must be one switch). */
  onSwitch: ((g: IommuGroup, from: Domain, to: Domain) => void) | undefined;

  constructor(private readonly m: Machine) {}

  /** The one place a group changes domain; `to` undefined means its default domain. */
  private switchTo(g: IommuGroup, s: GroupDma, to: Domain | undefined): void {
    const from = this.currentDomain(g);
    s.current = to;
    this.m.changes.note({ group: g.id });
    const now = this.currentDomain(g);
    if (now !== from) this.onSwitch?.(g, from, now);
  }

  /** The group's unit, or EINVAL for an emulated group (nothing of the IOMMU core applies). */
  private unitOf(g: IommuGroup): IommuUnit {
    if (!g.unit) throw new Errno('EINVAL', `group ${g.id} is an emulated (vfio-noiommu) group: it has no IOMMU domain`);
    return g.unit;
  }

  dma(g: IommuGroup): GroupDma {
    let s = this.byGroup.get(g);
    if (!s) {
      s = { owner: null, leaving: false, pasids: new Map() };
      this.byGroup.set(g, s);
    }
    return s;
  }

  defaultDomain(g: IommuGroup): Domain {
    const existing = this.defaults.get(g);
    if (existing) return existing;
    const unit = this.unitOf(g);
    const d: Domain = { id: 0, kind: 'default', unit, caps: unitCaps(unit), group: g };
    this.defaults.set(g, d);
    return d;
  }

  /** The domain the group is on; EINVAL for an emulated group, which has none. */
  currentDomain(g: IommuGroup): Domain {
    return this.dma(g).current ?? this.defaultDomain(g);
  }

  /** The domain the group is on, or null for an emulated group. */
  domainOf(g: IommuGroup): Domain | null {
    return g.unit ? this.currentDomain(g) : null;
  }

  /** The domain a device's DMA goes through: its group's (group-wide in the IOMMU core). */
  deviceDomain(d: Device): Domain | null {
    return d.group ? this.domainOf(d.group) : null;
  }

  /** Devices of the group bound to a driver that uses the DMA API (owner_cnt in 6.1). */
  hostDrivers(g: IommuGroup): PciDevice[] {
    return g.devices.filter((d): d is PciDevice => d.kind === 'pci' && d.driver !== null && !managesDma(this.m, d.driver));
  }

  state(g: IommuGroup): GroupState {
    const s = this.dma(g);
    if (s.owner !== null) return 'user';
    const host = this.hostDrivers(g).length > 0;
    if (s.leaving) return host ? 'leaving-host' : 'idle';
    return host ? 'host' : 'idle';
  }

  /** vfio/group.c: every device bound to a DMA-managing driver or to nothing. */
  viable(g: IommuGroup): boolean {
    return this.hostDrivers(g).length === 0;
  }

  /** Why the group cannot go to a user, or undefined when it can. */
  whyNotUsable(g: IommuGroup): string | undefined {
    const host = this.hostDrivers(g);
    if (host.length > 0) return `bound to host drivers: ${host.map((d) => `${d.name} (${d.driver})`).join(', ')}`;
    if (!g.unit) return 'an emulated (vfio-noiommu) group: VFIO drives it through the mdev parent, not through an IOMMU domain';
    if (!g.unit.spec.interruptRemapping && !this.m.modules.allowUnsafeInterrupts()) {
      return `${g.unit.name} has no interrupt remapping and vfio_iommu_type1.allow_unsafe_interrupts is not set`;
    }
    return undefined;
  }

  /**
   * Whether a driver may bind to a device now (really_probe → pci_dma_configure →
   * iommu_device_use_default_domain): a host driver is refused while a user owns the group
   * or has asked for it.
   */
  checkBind(d: PciDevice, driver: string): void {
    const g = d.group;
    if (!g || managesDma(this.m, driver)) return;
    const s = this.dma(g);
    if (s.owner !== null) throw new Errno('EBUSY', `group ${g.id} is owned by ${s.owner}: no host driver may bind`);
    if (s.leaving) throw new Errno('EBUSY', `group ${g.id} is leaving the host: no new host driver may bind`);
  }

  /** A user asks for the group: host drivers may no longer bind (state leaving-host or idle). */
  leaveHost(g: IommuGroup): void {
    this.unitOf(g);
    if (this.dma(g).owner !== null) throw new Errno('EBUSY', `group ${g.id} is already owned`);
    this.dma(g).leaving = true;
    this.m.changes.note({ group: g.id, events: [{ kind: 'leave-host', group: g.id }] });
  }

  /** The user gave up before claiming: host drivers may bind again (state host or idle). */
  returnHost(g: IommuGroup): void {
    this.unitOf(g);
    const s = this.dma(g);
    if (s.owner !== null) throw new Errno('EBUSY', `group ${g.id} is owned by ${s.owner}; release it instead`);
    if (!s.leaving) throw new Errno('EINVAL', `group ${g.id} is not leaving the host`);
    s.leaving = false;
    this.m.changes.note({ group: g.id, events: [{ kind: 'return-host', group: g.id }] });
  }

  /** iommu_group_claim_dma_owner (6.1). */
  claim(g: IommuGroup, owner: string): void {
    if (owner.length === 0) throw new Errno('EINVAL', 'an owner needs a name');
    const unit = this.unitOf(g);
    const s = this.dma(g);
    if (s.owner !== null) throw new Errno('EPERM', `group ${g.id} is owned by ${s.owner}`);
    if (this.hostDrivers(g).length > 0) throw new Errno('EPERM', `group ${g.id}: ${this.whyNotUsable(g)}`);
    if (s.current && s.current.kind !== 'default') throw new Errno('EBUSY', `group ${g.id} is not on its default domain`);
    if (!unit.spec.interruptRemapping && !this.m.modules.allowUnsafeInterrupts()) {
      throw new Errno('EPERM', `No interrupt remapping support on ${unit.name}. Use the module param "allow_unsafe_interrupts" to enable VFIO IOMMU support on this platform`);
    }
    let blocking = s.blocking;
    if (!blocking) {
      blocking = { id: 0, kind: 'blocking', unit, caps: unitCaps(unit), group: g };
      s.blocking = blocking;
    }
    s.owner = owner;
    s.leaving = false;
    this.m.changes.note({ group: g.id, events: [{ kind: 'claim', group: g.id, owner }] });
    this.switchTo(g, s, blocking);
  }

  /** iommu_group_release_dma_owner: back to the default domain. */
  release(g: IommuGroup, owner: string): void {
    this.unitOf(g);
    const s = this.dma(g);
    if (s.owner === null) throw new Errno('EINVAL', `group ${g.id} is not owned`);
    if (s.owner !== owner) throw new Errno('EPERM', `group ${g.id} is owned by ${s.owner}, not ${owner}`);
    // The owner's PASIDs go before the group does (an iommufd detaches them on close).
    for (const dev of [...s.pasids.keys()]) this.forget(g, dev);
    s.owner = null;
    s.leaving = false;
    this.m.changes.note({ group: g.id, events: [{ kind: 'release', group: g.id, owner }] });
    this.switchTo(g, s, undefined);
  }

  allocate(unitName: string, caps: Partial<DomainCaps>): Domain {
    const unit = this.m.units.find((u) => u.name === unitName && u.active);
    if (!unit) throw new Errno('ENODEV', `no active IOMMU unit ${unitName}`);
    const have = unitCaps(unit);
    for (const k of ['pasid', 'nesting', 'dirtyTracking'] as const) {
      if (caps[k] && !have[k]) throw new Errno('EOPNOTSUPP', `${unitName} does not support ${k}`);
    }
    const d: Domain = { id: this.nextId++, kind: 'user', unit, caps: { pasid: !!caps.pasid, nesting: !!caps.nesting, dirtyTracking: !!caps.dirtyTracking } };
    this.domains.set(d.id, d);
    this.lastAllocated = d.id;
    this.m.changes.note();
    return d;
  }

  userDomain(id: number): Domain {
    const d = this.domains.get(id);
    if (!d || d.kind !== 'user') throw new Errno('ENOENT', `no user domain ${id}`);
    return d;
  }

  groupsOn(d: Domain): IommuGroup[] {
    return this.m.sortedGroups().filter((g) => this.dma(g).current === d);
  }

  pasidUsers(d: Domain): { device: PciDevice; pasid: number }[] {
    const out: { device: PciDevice; pasid: number }[] = [];
    for (const g of this.m.sortedGroups()) {
      for (const [device, map] of this.dma(g).pasids) for (const [pasid, dom] of map) if (dom === d) out.push({ device, pasid });
    }
    return out;
  }

  free(id: number): void {
    const d = this.userDomain(id);
    if (this.groupsOn(d).length > 0 || this.pasidUsers(d).length > 0) throw new Errno('EBUSY', `domain ${id} is in use`);
    this.domains.delete(id);
    this.m.changes.note();
  }

  private checkCompatible(g: IommuGroup, d: Domain): void {
    const unit = this.unitOf(g);
    if (d.unit !== unit) throw new Errno('EINVAL', `domain ${d.id} belongs to ${d.unit.name}, group ${g.id} to ${unit.name}`);
  }

  private checkOwned(g: IommuGroup): GroupDma {
    this.unitOf(g);
    const s = this.dma(g);
    if (s.owner === null) throw new Errno('EPERM', `group ${g.id} is not owned by a user`);
    return s;
  }

  /** __iommu_attach_group: only from the default or blocking domain. */
  attach(g: IommuGroup, id: number): void {
    const d = this.userDomain(id);
    const s = this.checkOwned(g);
    const cur = this.currentDomain(g);
    if (cur.kind === 'user') throw new Errno('EBUSY', `group ${g.id} is attached to domain ${cur.id}; replace it instead`);
    this.checkCompatible(g, d);
    this.switchTo(g, s, d);
    this.m.changes.note({ group: g.id, events: [{ kind: 'attach', group: g.id, domain: d.id }] });
  }

  /** Back to the core domain: blocking while owned. */
  detach(g: IommuGroup): void {
    const s = this.checkOwned(g);
    const cur = this.currentDomain(g);
    if (cur.kind !== 'user') throw new Errno('EINVAL', `group ${g.id} is not attached to a user domain`);
    this.switchTo(g, s, s.blocking);
    this.m.changes.note({ group: g.id, events: [{ kind: 'detach', group: g.id, domain: cur.id }] });
  }

  /** iommu_group_replace_domain: straight from one user domain to another; refused → unchanged. */
  replace(g: IommuGroup, id: number | null): void {
    if (id === null) throw new Errno('EINVAL', 'replace needs a domain ("none" is not one)');
    const s = this.checkOwned(g);
    const cur = this.currentDomain(g);
    if (cur.kind !== 'user') throw new Errno('EINVAL', `group ${g.id} is not attached to a user domain yet; attach first`);
    const d = this.userDomain(id);
    if (d === cur) return;
    this.checkCompatible(g, d);
    this.switchTo(g, s, d);
    this.m.changes.note({ group: g.id, events: [{ kind: 'replace', group: g.id, from: cur.id, to: d.id }] });
  }

  /** iommu_attach_device_pasid (6.12 order of checks). */
  attachPasid(dev: PciDevice, pasid: number, id: number): void {
    const d = this.userDomain(id);
    const g = dev.group;
    if (!g) throw new Errno('ENODEV', `${dev.name} has no group`);
    const s = this.checkOwned(g);
    if (!d.caps.pasid) throw new Errno('EOPNOTSUPP', `domain ${id} was not allocated for PASID use`);
    this.checkCompatible(g, d);
    const max = maxPasids(dev, this.unitOf(g));
    if (pasid <= 0 || pasid >= max) throw new Errno('EINVAL', `pasid ${pasid} is outside 1..${max - 1} for ${dev.name}`);
    const map = s.pasids.get(dev) ?? new Map<number, Domain>();
    if (map.has(pasid)) throw new Errno('EBUSY', `pasid ${pasid} of ${dev.name} is attached to domain ${map.get(pasid)!.id}`);
    map.set(pasid, d);
    s.pasids.set(dev, map);
    this.m.changes.note({ device: dev, events: [{ kind: 'pasid-attach', group: g.id, device: dev.name, pasid, domain: d.id }] });
  }

  /** PASID replace: an attached PASID moves to another domain without a detour. */
  replacePasid(dev: PciDevice, pasid: number, id: number): void {
    const g = dev.group;
    if (!g) throw new Errno('ENODEV', `${dev.name} has no group`);
    const s = this.checkOwned(g);
    const map = s.pasids.get(dev);
    if (!map?.has(pasid)) throw new Errno('EINVAL', `pasid ${pasid} of ${dev.name} is not attached`);
    const d = this.userDomain(id);
    if (!d.caps.pasid) throw new Errno('EOPNOTSUPP', `domain ${id} was not allocated for PASID use`);
    this.checkCompatible(g, d);
    const from = map.get(pasid)!;
    map.set(pasid, d);
    this.m.changes.note({ device: dev, events: [{ kind: 'pasid-replace', group: g.id, device: dev.name, pasid, from: from.id, to: d.id }] });
  }

  detachPasid(dev: PciDevice, pasid: number): void {
    const g = dev.group;
    if (!g) throw new Errno('ENODEV', `${dev.name} has no group`);
    const map = this.dma(g).pasids.get(dev);
    const d = map?.get(pasid);
    if (!map || !d) throw new Errno('EINVAL', `pasid ${pasid} of ${dev.name} is not attached`);
    map.delete(pasid);
    this.m.changes.note({ device: dev, events: [pasidDetached(g, dev, pasid, d)] });
  }

  /** A device left its group (remove, VF disable) or the owner released it: its PASIDs go. */
  forget(g: IommuGroup, dev: PciDevice): void {
    const map = this.dma(g).pasids.get(dev);
    if (!map) return;
    this.dma(g).pasids.delete(dev);
    this.m.changes.note({ device: dev, events: [...map].map(([pasid, d]) => pasidDetached(g, dev, pasid, d)) });
  }
}

function pasidDetached(g: IommuGroup, dev: PciDevice, pasid: number, d: Domain): GroupEventBody {
  return { kind: 'pasid-detach', group: g.id, device: dev.name, pasid, domain: d.id };
}

export function unitCaps(u: IommuUnit): DomainCaps {
  return { pasid: u.spec.pasidBits > 0, nesting: u.spec.nesting, dirtyTracking: u.spec.dirtyTracking };
}

/** max_pasids = 1 << width of the device's PASID capability, capped by the unit. */
export function maxPasids(dev: PciDevice, unit: IommuUnit): number {
  const bits = Math.min(dev.fn.pasidBits, unit.spec.pasidBits);
  return bits > 0 ? 2 ** bits : 0;
}
