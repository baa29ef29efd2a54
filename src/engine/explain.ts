// `explain`: plain words for why a device sits in its group, built from the steps the
// grouping recorded and the quirks that touched the device.

import { slotKey } from '../pci/address';
import type { Machine } from './machine';
import { memberNames } from './machine';
import type { Device } from './types';

function hex4(n: number): string {
  return n.toString(16).padStart(4, '0');
}

function describe(d: Device): string {
  if (d.kind === 'platform') return `${d.name} (platform device, stream IDs ${d.spec.streamIds.map((s) => '0x' + s.toString(16)).join(', ') || 'none'})`;
  if (d.kind === 'mdev') return `${d.name} (mediated device of type ${d.type} on ${d.parent.name})`;
  const f = d.fn;
  const label = f.spec.label ? ` "${f.spec.label}"` : '';
  const vf = f.physfn ? `, VF ${f.vfIndex} of ${f.physfn.name}` : '';
  return `${d.name}${label} [${hex4(f.id.vendor)}:${hex4(f.id.device)}] class 0x${f.classCode.toString(16).padStart(6, '0')}, ${f.spec.type}${f.pcie ? '' : ' (conventional PCI)'}${vf}`;
}

function quirkLines(d: Device): string[] {
  if (d.kind !== 'pci') return [];
  const lines: string[] = [];
  if (d.aliasQuirks.length > 0) {
    const aliases = [...d.dmaAliasMask].map((devfn) => {
      const present = d.fn.bus.devices.some((f) => f.devfn === devfn);
      return `${slotKey(devfn)}${present ? '' : ' (no such function: a ghost alias, harmless)'}`;
    });
    lines.push(`DMA alias quirk ${d.aliasQuirks.join(', ')}: its DMA also appears as ${aliases.join(', ') || 'its bridge'}`);
  }
  return lines;
}

/** The reasons `explain` gives under "Why:" for a device: its quirks, then each grouping step. */
export function groupReasons(m: Machine, d: Device): string[] {
  return [...quirkLines(d), ...m.groupSteps(d).map((s) => s.text)];
}

export function explainDevice(m: Machine, name: string): string | undefined {
  const d = m.devices.get(name);
  if (!d) return undefined;
  const out: string[] = [describe(d)];
  if (d.kind === 'mdev') {
    out.push(`No IOMMU translates it: VFIO gave it an emulated (vfio-noiommu) group; its DMA is the parent's, which ${d.parent.group ? `is in group ${d.parent.group.id}` : 'has no group'}.`);
  } else if (!d.unit) {
    out.push(m.units.length === 0 ? 'No IOMMU on this machine: no device has a group.' : 'No active IOMMU unit translates this device: it has no group and no iommu_group link.');
  } else {
    out.push(`Translated by ${d.unit.name} (${d.unit.spec.type}).`);
  }
  const g = d.group;
  if (g) {
    const others = memberNames(g).filter((n) => n !== d.name);
    out.push(`IOMMU group ${g.id} (type ${g.defaultType})${others.length ? ` shared with ${others.join(' ')}` : ', alone: the device can be assigned by itself'}.`);
  }
  out.push('Why:');
  for (const line of groupReasons(m, d)) out.push(`  - ${line}`);
  if (g && g.devices.length > 1) {
    out.push('How the other members joined:');
    for (const other of g.devices) {
      if (other === d) continue;
      const why = m.groupSteps(other).filter((s) => s.joined || s.kind === 'acs' || s.kind === 'alias');
      out.push(`  ${other.name}: ${why.map((s) => s.text).join('; ') || 'created the group'}`);
    }
  }
  const relevant = m.warnings.filter((w) => w.startsWith('pcie_acs_override') || (d.unit === null && w.includes(':')));
  for (const w of relevant) out.push(`Note: ${w}`);
  return out.join('\n');
}
