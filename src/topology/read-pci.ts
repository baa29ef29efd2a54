// The `pci` list: root buses (host bridges) and the device tree below each.

import type { RootBusSpec } from './model';
import type { RootBusNotes } from './bus-numbers';
import { readDeviceMap } from './read-devices';
import type { DeviceNotes } from './read-devices';
import { namesHint } from './read-platform';
import type { At, YamlReader } from './yaml-reader';

export const ROOT_BUS_KEYS = ['segment', 'bus', 'iommu', 'devices'] as const;

export function readPci(r: YamlReader, at: At, unitNames: ReadonlySet<string>, notes: DeviceNotes): RootBusNotes[] {
  const items = r.list(at);
  if (!items) return [];
  const out: RootBusNotes[] = [];
  for (const item of items) {
    const m = r.map(item, ROOT_BUS_KEYS);
    if (!m) continue;
    const spec: RootBusSpec = { segment: 0, bus: 0, devices: [], pos: r.pos(item.offset) };
    const segmentAt = m.get('segment');
    if (segmentAt) spec.segment = r.int(segmentAt, 0, 0xffff) ?? 0;
    const busAt = m.get('bus');
    if (busAt) spec.bus = r.int(busAt, 0, 0xff) ?? 0;
    const iommuAt = m.get('iommu');
    if (iommuAt) {
      const unit = r.string(iommuAt);
      if (unit !== undefined && unit !== 'none' && !unitNames.has(unit)) {
        r.error(iommuAt.offset, iommuAt.path, `no IOMMU unit is named "${unit}"${namesHint(unitNames)}; use none for devices outside every unit`);
      } else if (unit !== undefined) spec.iommu = unit;
    }
    const devicesAt = m.get('devices');
    if (devicesAt) {
      spec.devices = readDeviceMap(r, devicesAt, { segment: spec.segment, rootBus: true, conventional: false, ari: false, oneChild: false }, notes);
    }
    out.push({ spec, path: item.path, busOffset: busAt?.offset ?? item.offset });
  }
  return out;
}
