// What booting a topology would trip on, found before boot and reported at the place in the
// file: the VFs a PF enables at boot (`sriov.num`) must fit its bus range, every VF it can
// ever enable must get a routing ID (bus, devfn) of its own, and no platform device may
// take a PCI device's name. It runs on a topology the
// loader accepted, over the very enumeration and VF arithmetic the engine boots from
// (enumerate.ts), so each rule lives in one place.

import type { Diagnostic, Topology } from '../topology/model';
import { pciName } from './address';
import { enumerate, vfBusLimit, vfBusOutOfRange, vfRoutingId } from './enumerate';
import type { PciBus, PciFunction } from './enumerate';

export function checkTopology(topology: Topology): Diagnostic[] {
  const out: Diagnostic[] = [];
  const { hostBridges } = enumerate(topology);
  /** Who holds each routing ID ("0000:01:00.0") and each bus number ("0000:01"). */
  const functions = new Map<string, string>();
  const buses = new Map<string, string>();
  const busKey = (segment: number, bus: number): string => `${segment}:${bus}`;
  const pfs: PciFunction[] = [];
  const walk = (bus: PciBus, what: string): void => {
    buses.set(busKey(bus.segment, bus.number), what);
    for (const f of bus.devices) {
      functions.set(f.name, `${f.spec.path} (line ${f.spec.pos.line})`);
      if (f.spec.sriov) pfs.push(f);
    }
    for (const f of bus.devices) if (f.secondary) walk(f.secondary, `the secondary bus of ${f.spec.path} (line ${f.spec.pos.line})`);
  };
  hostBridges.forEach((h) => walk(h.rootBus, `the root bus of pci[${h.index}]`));

  for (const pf of pfs) {
    const sriov = pf.spec.sriov!;
    const problem = (pos: { line: number; col: number }, path: string, message: string): void => {
      out.push({ file: topology.file, line: pos.line, col: pos.col, path, message });
    };
    const limit = vfBusLimit(pf);
    const hex2 = (n: number): string => n.toString(16).padStart(2, '0');
    if (sriov.num > 0) {
      const lastBus = vfBusOutOfRange(pf, sriov.num);
      if (lastBus !== undefined) {
        problem(
          sriov.numPos,
          `${pf.spec.path}.sriov.num`,
          `VF ${sriov.num - 1}, the last of the ${sriov.num} enabled at boot, would be on bus ${hex2(lastBus)}, past bus ${hex2(limit)} where the PF's bus range ends: Linux cannot enable them (iov.c sriov_enable, ENOMEM); lower num, offset or stride`,
        );
      }
    }
    // Every VF that sriov_numvfs could enable (those within the bus range) needs a free routing ID.
    for (let i = 0; i < sriov.total; i++) {
      const rid = vfRoutingId(pf, i);
      const bus = rid >> 8;
      if (bus > limit) break;
      const name = pciName(pf.segment, bus, rid & 0xff);
      const holder = functions.get(name) ?? (bus !== pf.bus.number ? buses.get(busKey(pf.segment, bus)) : undefined);
      if (holder) {
        const where = functions.has(name) ? `which is already ${holder}` : `whose bus ${hex2(bus)} is already ${holder}`;
        problem(
          sriov.pos,
          `${pf.spec.path}.sriov`,
          `VF ${i} (routing ID = PF + offset ${sriov.offset} + ${i} x stride ${sriov.stride}) would be ${name}, ${where}; choose an offset and stride that keep VFs clear of other functions`,
        );
        break;
      }
      functions.set(name, `VF ${i} of ${pf.spec.path} (line ${pf.spec.pos.line})`);
    }
  }
  // The engine keys every device by its name, so a platform device may not take a PCI name.
  topology.platform.forEach((d, i) => {
    const holder = functions.get(d.name);
    if (holder) {
      out.push({
        file: topology.file,
        line: d.pos.line,
        col: d.pos.col,
        path: `platform[${i}]`,
        message: `"${d.name}" is also the name of ${holder}; iommufs needs every device name to be unique`,
      });
    }
  });
  return out;
}
