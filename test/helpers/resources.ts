// Checks every machine's assignment must pass, whatever its topology: each BAR, ROM and
// SR-IOV BAR inside the window of its type that the bus above decodes (the host windows on
// a root bus), each bridge window inside its parent's, nothing on a bus overlapping, every
// placement aligned to its size.

import type { Machine } from '../../src/engine/machine';
import type { PciBus } from '../../src/pci/enumerate';
import { HOST_WINDOWS } from '../../src/pci/resources/assign';
import type { RegionType } from '../../src/pci/resources/assign';
import type { ResourceLine } from '../../src/pci/resources/view';

interface Item {
  what: string;
  type: RegionType;
  start: number;
  end: number;
}

/** What a line decodes: I/O, prefetchable or plain memory (IORESOURCE_IO, _PREFETCH). */
export function typeOfLine(l: ResourceLine): RegionType {
  return l.flags & 0x100 ? 'io' : l.flags & 0x2000 ? 'pref' : 'mem';
}

const hex = (n: number): string => n.toString(16);

export function resourceProblems(m: Machine): string[] {
  const problems: string[] = [];
  const walk = (bus: PciBus, windows: Partial<Record<RegionType, { start: number; end: number }[]>>): void => {
    const items: Item[] = [];
    for (const f of bus.devices) {
      const lines = m.resources.view(f).lines;
      if (f.physfn) {
        // A VF's BARs are slices of its PF's SR-IOV BARs.
        const pf = m.resources.view(f.physfn).lines;
        lines.forEach((l, i) => {
          const iov = pf[7 + i];
          if (l && i < 6 && !(iov && iov.start <= l.start && l.end <= iov.end)) problems.push(`${f.name} resource ${i} is outside its PF's SR-IOV BAR ${i}`);
        });
        continue;
      }
      lines.forEach((l, i) => {
        if (!l || i >= 13) return;
        const size = l.end - l.start + 1;
        // The ROM and BARs are naturally aligned; an SR-IOV BAR to one VF's size (checked by
        // the VFs' own lines).
        if (i < 7 && l.start % size !== 0) problems.push(`${f.name} resource ${i} at ${hex(l.start)} is not aligned to its size ${hex(size)}`);
        items.push({ what: `${f.name} resource ${i}`, type: i === 6 ? 'mem' : typeOfLine(l), start: l.start, end: l.end });
      });
      const own: Partial<Record<RegionType, { start: number; end: number }[]>> = {};
      if (f.secondary) {
        lines.slice(13, 16).forEach((l, k) => {
          if (!l) return;
          const type = (['io', 'mem', 'pref'] as const)[k]!;
          items.push({ what: `${f.name} ${type} window`, type, start: l.start, end: l.end });
          own[type] = [{ start: l.start, end: l.end }];
        });
        walk(f.secondary, own);
      }
    }
    for (const it of items) {
      // A prefetchable BAR may sit in the plain memory window when the bridge has no
      // prefetchable one; on a root bus, 64-bit ones may sit above 4G.
      const ranges = [...(windows[it.type] ?? []), ...(it.type === 'pref' && !windows.pref ? (windows.mem ?? []) : [])];
      if (!ranges.some((r) => r.start <= it.start && it.end <= r.end)) problems.push(`${it.what} [${hex(it.start)}-${hex(it.end)}] is outside the ${it.type} window above it`);
    }
    // I/O and memory are two address spaces; within each, nothing on a bus may overlap.
    for (const io of [true, false]) {
      const sorted = items.filter((x) => (x.type === 'io') === io).sort((a, b) => a.start - b.start);
      for (let i = 1; i < sorted.length; i++) {
        const a = sorted[i - 1]!;
        const b = sorted[i]!;
        if (b.start <= a.end) problems.push(`${a.what} [${hex(a.start)}-${hex(a.end)}] overlaps ${b.what} [${hex(b.start)}-${hex(b.end)}]`);
      }
    }
  };
  const mem = [HOST_WINDOWS.mem32Low, HOST_WINDOWS.mem32, HOST_WINDOWS.mem64];
  const host = { io: [HOST_WINDOWS.io, { start: 0, end: 0xfff }], mem, pref: mem };
  for (const h of m.pci.hostBridges) walk(h.rootBus, host);
  return problems;
}


/** A desktop: an RTX 3090 (+ its audio function) behind a root port, two NVMe drives behind
 * a PLX switch, a NIC on the root bus. */
export const CONSUMER = `version: 1
pci:
  - devices:
      "00.0": { id: 8086:3e30, type: host-bridge }
      "01.0":
        id: 8086:1901
        type: root-port
        devices:
          "00.0": { id: 10de:2204, class: 0x030000, multifunction: true }
          "00.1": { id: 10de:1aef, class: 0x040300 }
      "1b.0":
        id: 8086:a340
        type: root-port
        slot: { hotplug: true }
        devices:
          "00.0":
            id: 10b5:8747
            type: upstream-port
            devices:
              "08.0":
                id: 10b5:8747
                type: downstream-port
                devices:
                  "00.0": { id: 144d:a808, class: 0x010802 }
              "10.0":
                id: 10b5:8747
                type: downstream-port
                devices:
                  "00.0": { id: 144d:a808, class: 0x010802 }
      "1f.0": { id: 8086:a305, class: 0x060100, pcie: false }
      "1f.6": { id: 8086:15bc, class: 0x020000, pcie: false }
`;
