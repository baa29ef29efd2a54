// Which group a PCI device joins: drivers/iommu/iommu.c pci_device_group() with its helpers
// get_pci_alias_or_group, get_pci_alias_group and get_pci_function_alias_group, over the DMA
// alias walk of drivers/pci/search.c pci_for_each_dma_alias. Given a recorder, every decision
// is recorded as a step so that `explain` can say why; without one nothing is built (boot
// groups without it and `explain` runs the same code again with one: Machine.groupSteps).

import { firstAcsFailureOnPath, pciAcsEnabled, REQ_ACS_FLAGS } from '../pci/acs';
import type { AcsContext } from '../pci/acs';
import type { PciBus, PciFunction } from '../pci/enumerate';
import { PCI_EXP_TYPE } from '../pci/pcie-type';
import { slotOf } from '../pci/address';
import type { GroupStep, IommuGroup, PciDevice } from './types';

export interface GroupingContext {
  acs: AcsContext;
  /** The engine's device for a function present on the bus (grouped or not yet). */
  deviceOf(f: PciFunction): PciDevice | undefined;
  /** The group a device is in (null: none yet). */
  groupOf(d: PciDevice): IommuGroup | null;
  /** The device's place in the bus's device list (the order Linux added them). */
  order(d: PciDevice): number;
  /** Whether any device present has a DMA alias mask (most machines: none, so no bus needs
   * a look for alias peers). */
  anyDmaAliasMask(): boolean;
  /** Where the steps go; without it no step is built. */
  steps?: GroupStep[];
  /** Answers of pci_acs_path_enabled by bridge, for a run in which no ACS control changes
   * (boot's probe loop asks the same bridges for every device below them). */
  acsPaths?: Map<PciFunction, PciFunction | null>;
}

/** pci_acs_path_enabled(b, NULL, REQ_ACS_FLAGS): the first function on b's path to the root
 * that fails, kept in ctx.acsPaths when the caller gave one. */
function acsPathFailure(b: PciFunction, ctx: GroupingContext): PciFunction | undefined {
  const memo = ctx.acsPaths;
  if (!memo) return firstAcsFailureOnPath(b, REQ_ACS_FLAGS, ctx.acs);
  let failing = memo.get(b);
  if (failing === undefined) {
    failing = firstAcsFailureOnPath(b, REQ_ACS_FLAGS, ctx.acs) ?? null;
    memo.set(b, failing);
  }
  return failing ?? undefined;
}

interface AliasHop {
  owner: PciFunction;
  why(): string;
}

/** The devices whose requester ID the IOMMU sees for `f`, nearest first (search.c). */
function dmaAliasOwners(dev: PciDevice, ctx: GroupingContext): AliasHop[] {
  const hops: AliasHop[] = [];
  let bus: PciBus = dev.fn.bus;
  while (bus.parent !== null) {
    const b = bus.bridge;
    if (!b) {
      bus = bus.parent; // a VF's virtual bus has no bridge
      continue;
    }
    const bdev = ctx.deviceOf(b);
    if (bdev?.bridgeXlateRoot) break;
    if (b.pcie) {
      if (b.pcieType === PCI_EXP_TYPE.PCI_BRIDGE) {
        hops.push({ owner: b, why: () => `${b.name} is a PCIe-to-PCI bridge: it issues DMA for everything below it with its own requester ID` });
      } else if (b.pcieType === PCI_EXP_TYPE.PCIE_BRIDGE) {
        hops.push({ owner: b, why: () => `${b.name} is a PCI-to-PCIe bridge and takes ownership of the transactions it forwards` });
      }
    } else {
      hops.push({ owner: b, why: () => `${b.name} is a conventional PCI bridge: devices below it cannot be told apart from it` });
    }
    bus = bus.parent;
  }
  return hops;
}

/** The group `dev` joins, or null when a new group must be allocated. */
export function pciDeviceGroup(dev: PciDevice, ctx: GroupingContext): IommuGroup | null {
  const steps = ctx.steps;
  // (1) DMA alias walk: the last device reached becomes the anchor for what follows.
  let anchor: PciFunction = dev.fn;
  for (const hop of dmaAliasOwners(dev, ctx)) {
    anchor = hop.owner;
    const owner = ctx.deviceOf(hop.owner);
    steps?.push({ kind: 'alias', text: hop.why() });
    const g = owner ? ctx.groupOf(owner) : null;
    if (g) {
      steps?.push({ kind: 'alias', text: `joins the group of ${hop.owner.name}`, joined: hop.owner.name });
      return g;
    }
  }

  // (2) Walk up to the first bridge whose whole path to the root has ACS.
  let bus: PciBus = anchor.bus;
  while (bus.parent !== null) {
    const b = bus.bridge;
    if (!b) {
      bus = bus.parent;
      continue;
    }
    const failing = acsPathFailure(b, ctx);
    if (!failing) {
      steps?.push({ kind: 'acs', text: `${b.name} and every bridge above it isolate with ACS (${describeAcs(b, ctx)})` });
      break;
    }
    if (steps) {
      const verdict = pciAcsEnabled(failing, REQ_ACS_FLAGS, ctx.acs);
      steps.push({
        kind: 'acs',
        text:
          failing === b
            ? `${b.name} does not isolate its downstream devices: ${verdict.why}`
            : `${b.name} sits below ${failing.name}, which does not isolate: ${verdict.why}`,
      });
    }
    anchor = b;
    const bdev = ctx.deviceOf(b);
    const g = bdev ? ctx.groupOf(bdev) : null;
    if (g) {
      steps?.push({ kind: 'acs', text: `joins the group of ${b.name}`, joined: b.name });
      return g;
    }
    bus = bus.parent;
  }

  // (3) and (4): quirk aliases on the anchor's bus, then non-isolated functions of its slot.
  const anchorDev = ctx.deviceOf(anchor);
  if (anchorDev) {
    const seen = new Set<number>();
    const viaAlias = aliasGroup(anchorDev, seen, ctx);
    if (viaAlias) return viaAlias;
    const viaSlot = slotGroup(anchorDev, seen, ctx);
    if (viaSlot) return viaSlot;
  }
  steps?.push({ kind: 'new', text: 'no alias, bridge or slot ties it to an existing group: a new group' });
  return null;
}

function describeAcs(b: PciFunction, ctx: GroupingContext): string {
  return pciAcsEnabled(b, REQ_ACS_FLAGS, ctx.acs).why;
}

/** The other devices on p's bus (only those of its slot, with `sameSlot`), in the order
 * Linux added them (the bus's device list). */
function busPeers(p: PciDevice, ctx: GroupingContext, sameSlot = false): PciDevice[] {
  const out: PciDevice[] = [];
  const slot = slotOf(p.fn.devfn);
  for (const f of p.fn.bus.devices) {
    if (f === p.fn || (sameSlot && slotOf(f.devfn) !== slot)) continue;
    const d = ctx.deviceOf(f);
    if (d) out.push(d);
  }
  // Usually added in devfn order already: sort only when not.
  for (let i = 1; i < out.length; i++) if (ctx.order(out[i - 1]!) > ctx.order(out[i]!)) return out.sort((a, b) => ctx.order(a) - ctx.order(b));
  return out;
}

/** pci_devs_are_dma_aliases: either one's alias mask names the other. */
function areDmaAliases(a: PciDevice, b: PciDevice): boolean {
  return a.dmaAliasMask.has(b.fn.devfn) || b.dmaAliasMask.has(a.fn.devfn);
}

/** Whether any device on p's bus is a DMA alias of p (most buses have none: no list to sort). */
function hasDmaAliasPeer(p: PciDevice, ctx: GroupingContext): boolean {
  if (!ctx.anyDmaAliasMask()) return false;
  for (const f of p.fn.bus.devices) {
    if (f === p.fn) continue;
    const q = ctx.deviceOf(f);
    if (q && areDmaAliases(p, q)) return true;
  }
  return false;
}

/** get_pci_alias_group */
function aliasGroup(p: PciDevice, seen: Set<number>, ctx: GroupingContext): IommuGroup | null {
  if (seen.has(p.fn.devfn)) return null;
  seen.add(p.fn.devfn);
  const own = ctx.groupOf(p);
  if (own) return own;
  if (!hasDmaAliasPeer(p, ctx)) return null;
  for (const q of busPeers(p, ctx)) {
    if (!areDmaAliases(p, q)) continue;
    const g = aliasGroup(q, seen, ctx) ?? slotGroup(q, seen, ctx);
    if (g) {
      if (ctx.steps) {
        const quirk = [...p.aliasQuirks, ...q.aliasQuirks].join(', ') || 'dma-alias';
        ctx.steps.push({ kind: 'alias-quirk', text: `${p.name} and ${q.name} are DMA aliases of each other (${quirk}): joins ${q.name}'s group`, joined: q.name });
      }
      return g;
    }
  }
  return null;
}

/** get_pci_function_alias_group: functions of one slot that both fail ACS share a group. */
function slotGroup(p: PciDevice, seen: Set<number>, ctx: GroupingContext): IommuGroup | null {
  if (!p.fn.multifunction) return null;
  const own = pciAcsEnabled(p.fn, REQ_ACS_FLAGS, ctx.acs);
  if (own.ok) return null;
  for (const q of busPeers(p, ctx, true)) {
    const theirs = pciAcsEnabled(q.fn, REQ_ACS_FLAGS, ctx.acs);
    if (theirs.ok) continue;
    const g = aliasGroup(q, seen, ctx);
    if (g) {
      ctx.steps?.push({
        kind: 'slot',
        text: `${p.name} is a function of a multifunction slot and does not isolate (${own.why}); ${q.name} in the same slot does not either (${theirs.why}): joins its group`,
        joined: q.name,
      });
      return g;
    }
  }
  return null;
}
