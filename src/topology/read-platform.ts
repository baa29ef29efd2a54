// The `platform` list (non-PCI devices behind an IOMMU) and the `drivers` list.

import type { DriverSpec, PciId, PlatformDeviceSpec } from './model';
import { readDriverName } from './device-fields';
import { parsePciId } from './values';
import type { At, YamlReader } from './yaml-reader';

export const PLATFORM_KEYS = ['name', 'iommu', 'stream-ids', 'driver'] as const;
export const DRIVER_KEYS = ['name', 'ids'] as const;

export function readPlatform(r: YamlReader, at: At, unitNames: ReadonlySet<string>): PlatformDeviceSpec[] {
  const items = r.list(at);
  if (!items) return [];
  const out: PlatformDeviceSpec[] = [];
  const seen = new Map<string, number>();
  for (const item of items) {
    const m = r.map(item, PLATFORM_KEYS);
    if (!m) continue;
    const dev: PlatformDeviceSpec = { name: '', streamIds: [], pos: r.pos(item.offset) };
    const nameAt = m.get('name');
    if (!nameAt) r.error(item.offset, item.path, 'missing required key "name"');
    else {
      const name = r.string(nameAt);
      // The name is a directory under /sys/devices/platform.
      if (name !== undefined && !/^[^\s/]+$/.test(name)) {
        r.error(nameAt.offset, nameAt.path, `"${name}" is not a device name (no spaces or slashes)`);
      } else if (name !== undefined && seen.has(name)) {
        r.error(nameAt.offset, nameAt.path, `duplicate platform device "${name}" (first at line ${seen.get(name)})`);
      } else if (name !== undefined) {
        seen.set(name, r.pos(nameAt.offset).line);
        dev.name = name;
      }
    }
    const iommuAt = m.get('iommu');
    if (iommuAt) {
      const unit = r.string(iommuAt);
      if (unit !== undefined && !unitNames.has(unit)) {
        r.error(iommuAt.offset, iommuAt.path, `no IOMMU unit is named "${unit}"${namesHint(unitNames)}`);
      } else if (unit !== undefined) dev.iommu = unit;
    }
    const idsAt = m.get('stream-ids');
    if (idsAt) {
      for (const idAt of r.list(idsAt) ?? []) {
        const id = r.int(idAt, 0, 0xffffffff);
        if (id !== undefined) dev.streamIds.push(id);
      }
    }
    const driverAt = m.get('driver');
    const driver = driverAt && readDriverName(r, driverAt);
    if (driver !== undefined) dev.driver = driver;
    out.push(dev);
  }
  return out;
}

export function readDrivers(r: YamlReader, at: At): DriverSpec[] {
  const items = r.list(at);
  if (!items) return [];
  const out: DriverSpec[] = [];
  const seen = new Map<string, number>();
  for (const item of items) {
    const m = r.map(item, DRIVER_KEYS);
    if (!m) continue;
    const nameAt = m.get('name');
    const idsAt = m.get('ids');
    if (!nameAt) r.error(item.offset, item.path, 'missing required key "name"');
    if (!idsAt) r.error(item.offset, item.path, 'missing required key "ids"');
    const name = nameAt && readDriverName(r, nameAt);
    if (name !== undefined && nameAt && seen.has(name)) {
      r.error(nameAt.offset, nameAt.path, `driver "${name}" is declared twice (first at line ${seen.get(name)})`);
    } else if (name !== undefined && nameAt) seen.set(name, r.pos(nameAt.offset).line);
    const ids: PciId[] = [];
    for (const idAt of (idsAt && r.list(idsAt)) ?? []) {
      const text = r.string(idAt);
      if (text === undefined) continue;
      const id = parsePciId(text);
      if (id.ok) ids.push(id.value);
      else r.error(idAt.offset, idAt.path, id.message);
    }
    if (name !== undefined) out.push({ name, ids });
  }
  return out;
}

export function namesHint(names: ReadonlySet<string>): string {
  return names.size ? ` (units: ${[...names].join(', ')})` : ' (there are no units)';
}
