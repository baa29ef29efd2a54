// The simulator's own diagnostic and control files, kept apart from the kernel-faithful tree
// in a debugfs-like kernel/debug/iommufs/ (real debugfs is where the kernel puts such things).
// Per group: state, owner, domain, viable, why. Per domain: type, unit, caps, groups, pasids.
// Control files take one line each and answer with the kernel's errno on refusal.

import { explainDevice } from '../engine/explain';
import { Errno } from '../engine/errno';
import type { Machine } from '../engine/machine';
import { sysfsWord } from '../engine/sysfs-text';
import type { IommuGroup, PciDevice } from '../engine/types';
import type { Domain } from '../engine/domains';
import { dir, indexedDir, ro, roRaw, wo } from './build';
import type { Entries } from './build';
import type { DirNode } from './node';
import { loadModuleStore } from './module-control';
import { procModulesText } from './module';
import { EventGate, groupEventsFile } from './event-files';

function words(raw: string): string[] {
  return sysfsWord(raw).trim().split(/\s+/).filter(Boolean);
}

function groupArg(m: Machine, w: string | undefined): IommuGroup {
  const g = w !== undefined && /^\d+$/.test(w) ? m.groups.get(Number(w)) : undefined;
  if (!g) throw new Errno('ENOENT', `no group ${w ?? ''}`);
  return g;
}

function idArg(w: string | undefined): number {
  if (w === undefined || !/^\d+$/.test(w)) throw new Errno('EINVAL', `not a domain id: ${w ?? ''}`);
  return Number(w);
}

function pciArg(m: Machine, w: string | undefined): PciDevice {
  const d = w === undefined ? undefined : m.devices.get(w);
  if (!d || d.kind !== 'pci') throw new Errno('ENODEV', `no PCI device ${w ?? ''}`);
  return d;
}

/** A user domain by its id; the group's own core domains by their kind. */
function describeDomain(d: Domain): string {
  return d.kind === 'user' ? String(d.id) : d.kind;
}

function groupDir(m: Machine, g: IommuGroup): DirNode {
  const reg = m.dma;
  return dir((): Entries => [
    // An emulated (vfio-noiommu) group has no IOMMU domain at all.
    [
      'domain',
      ro(() => {
        const d = reg.domainOf(g);
        return d ? describeDomain(d) : 'none';
      }),
    ],
    ['owner', ro(() => reg.dma(g).owner ?? '(none)')],
    ['state', ro(() => reg.state(g))],
    ['viable', ro(() => (reg.viable(g) ? '1' : '0'))],
    [
      'why',
      ro(() => {
        const lines = g.devices.map((d) => explainDevice(m, d.name) ?? '').join('\n\n');
        const usable = reg.whyNotUsable(g);
        return `${lines}\n\nAssignable to a user: ${usable === undefined ? 'yes' : `no, ${usable}`}`;
      }),
    ],
  ]);
}

function domainDir(m: Machine, d: Domain): DirNode {
  const reg = m.dma;
  return dir((): Entries => [
    ['caps', ro(() => ['pasid', 'nesting', 'dirtyTracking'].filter((k) => d.caps[k as keyof Domain['caps']]).join(' '))],
    ['groups', ro(() => reg.groupsOn(d).map((g) => g.id).join(' '))],
    ['pasids', ro(() => reg.pasidUsers(d).map((p) => `${p.device.name}:${p.pasid}`).join(' '))],
    ['type', ro(() => (d.kind === 'user' ? 'unmanaged' : d.kind === 'blocking' ? 'blocked' : (d.group?.defaultType ?? 'unknown')))],
    ['unit', ro(() => d.unit.name)],
  ]);
}

export function debugIommufsDir(m: Machine, gate: EventGate = new EventGate(m)): DirNode {
  const reg = m.dma;
  const control = (fn: (w: string[]) => void) => wo((raw) => fn(words(raw)));
  return dir((): Entries => [
    [
      'alloc_domain',
      control((w) => {
        const caps = new Set(w.slice(1));
        for (const c of caps) if (!['pasid', 'nesting', 'dirty'].includes(c)) throw new Errno('EINVAL', `unknown capability ${c}`);
        reg.allocate(w[0] ?? '', { pasid: caps.has('pasid'), nesting: caps.has('nesting'), dirtyTracking: caps.has('dirty') });
      }),
    ],
    ['attach', control((w) => reg.attach(groupArg(m, w[0]), idArg(w[1])))],
    ['claim', control((w) => reg.claim(groupArg(m, w[0]), w[1] ?? ''))],
    ['detach', control((w) => reg.detach(groupArg(m, w[0])))],
    // The group events, one line each, from the open on (event-files.ts).
    ['events', groupEventsFile(m, gate)],
    [
      'domains',
      indexedDir({
        names: () => [...reg.domains.values()].filter((d) => d.kind === 'user').map((d) => String(d.id)),
        lookup: (name) => {
          const d = /^\d+$/.test(name) ? reg.domains.get(Number(name)) : undefined;
          return d && d.kind === 'user' ? domainDir(m, d) : undefined;
        },
        subdirs: () => [...reg.domains.values()].filter((d) => d.kind === 'user').length,
      }),
    ],
    ['free_domain', control((w) => reg.free(idArg(w[0])))],
    [
      'groups',
      indexedDir({
        names: () => m.sortedGroups().map((g) => String(g.id)),
        lookup: (name) => {
          const g = /^\d+$/.test(name) ? m.groups.get(Number(name)) : undefined;
          return g ? groupDir(m, g) : undefined;
        },
        subdirs: () => m.groups.size,
      }),
    ],
    // Kept by the registry: this directory is rebuilt on every lookup.
    ['last_allocated', ro(() => (reg.lastAllocated === 0 ? '' : String(reg.lastAllocated)))],
    ['leave_host', control((w) => reg.leaveHost(groupArg(m, w[0])))],
    // The module tools of `iommufs run` (modprobe, rmmod) write these: see module-control.ts.
    ['load_module', wo((raw) => loadModuleStore(m, raw))],
    // The simulated /proc/modules.
    ['modules', roRaw(() => procModulesText(m))],
    ['pasid_attach', control((w) => reg.attachPasid(pciArg(m, w[0]), idArg(w[1]), idArg(w[2])))],
    ['pasid_detach', control((w) => reg.detachPasid(pciArg(m, w[0]), idArg(w[1])))],
    ['pasid_replace', control((w) => reg.replacePasid(pciArg(m, w[0]), idArg(w[1]), idArg(w[2])))],
    ['release', control((w) => reg.release(groupArg(m, w[0]), w[1] ?? ''))],
    ['replace', control((w) => reg.replace(groupArg(m, w[0]), w[1] === 'none' ? null : idArg(w[1])))],
    ['return_host', control((w) => reg.returnHost(groupArg(m, w[0])))],
    ['unload_module', control((w) => m.modules.unload(w[0] ?? ''))],
  ]);
}
