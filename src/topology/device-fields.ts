// The compound fields of a device entry: `acs`, `sriov`, `mdev`, `dma-alias`, `slot`,
// and the PCI type table that decides defaults (class code, PCI Express, bridge or not).

import type { MdevTypeSpec, PciType, SriovSpec } from './model';
import { ACS_ALL, ACS_FLAGS, acsBit, parseDeviceKey, parsePciId } from './values';
import { readBars } from './read-bars';
import type { At, YamlReader } from './yaml-reader';

export const SRIOV_KEYS = ['total', 'offset', 'stride', 'vf-id', 'vf-driver', 'num', 'vf-bars'] as const;
export const MDEV_KEYS = ['type', 'name', 'available', 'device-api'] as const;
export const SLOT_KEYS = ['bus', 'number', 'chassis', 'hotplug'] as const;

interface TypeInfo {
  /** Has a secondary bus (type 1 header): may have `devices` and `slot`. */
  bridge: boolean;
  /** Only exists as a PCI Express function (has a PCIe port type of its own). */
  pcieOnly: boolean;
  /** Must sit on a root bus (part of the root complex). */
  onRootBus: boolean;
  /** Its secondary bus is conventional PCI. */
  conventionalBelow: boolean;
  defaultClass?: number;
}

export const PCI_TYPES: Record<PciType, TypeInfo> = {
  endpoint: { bridge: false, pcieOnly: false, onRootBus: false, conventionalBelow: false },
  'legacy-endpoint': { bridge: false, pcieOnly: true, onRootBus: false, conventionalBelow: false },
  'rc-endpoint': { bridge: false, pcieOnly: true, onRootBus: true, conventionalBelow: false },
  'root-port': { bridge: true, pcieOnly: true, onRootBus: true, conventionalBelow: false, defaultClass: 0x060400 },
  'upstream-port': { bridge: true, pcieOnly: true, onRootBus: false, conventionalBelow: false, defaultClass: 0x060400 },
  'downstream-port': { bridge: true, pcieOnly: true, onRootBus: false, conventionalBelow: false, defaultClass: 0x060400 },
  'pcie-pci-bridge': { bridge: true, pcieOnly: true, onRootBus: false, conventionalBelow: true, defaultClass: 0x060400 },
  'pci-bridge': { bridge: true, pcieOnly: false, onRootBus: false, conventionalBelow: true, defaultClass: 0x060400 },
  'host-bridge': { bridge: false, pcieOnly: false, onRootBus: false, conventionalBelow: false, defaultClass: 0x060000 },
  'rc-event-collector': { bridge: false, pcieOnly: true, onRootBus: true, conventionalBelow: false, defaultClass: 0x080700 },
};

export const PCI_TYPE_NAMES = Object.keys(PCI_TYPES) as PciType[];

/** `acs`: true (all seven bits), false (no capability), or a list of flags. */
export function readAcs(r: YamlReader, at: At): number | null | undefined {
  if (at.node.kind === 'scalar' && typeof at.node.value === 'boolean') return at.node.value ? ACS_ALL : null;
  if (at.node.kind === 'scalar') {
    r.error(at.offset, at.path, `expected true, false or a list of ACS flags (${ACS_FLAGS.join(', ')})`);
    return undefined;
  }
  const items = r.list(at);
  if (!items) return undefined;
  let mask = 0;
  let ok = true;
  for (const item of items) {
    const flag = r.string(item);
    if (flag === undefined) {
      ok = false;
      continue;
    }
    const bit = acsBit(flag);
    if (bit === undefined) {
      r.error(item.offset, item.path, `unknown ACS flag "${flag}" (one of: ${ACS_FLAGS.join(', ')})`);
      ok = false;
    } else mask |= bit;
  }
  return ok ? mask : undefined;
}

export function readDriverName(r: YamlReader, at: At): string | undefined {
  const name = r.string(at);
  if (name === undefined) return undefined;
  // A driver is a directory under /sys/bus/pci/drivers: no slash, no blanks, not empty.
  if (!/^[^\s/]+$/.test(name)) {
    r.error(at.offset, at.path, `"${name}" is not a driver name (no spaces or slashes)`);
    return undefined;
  }
  return name;
}

export function readSriov(r: YamlReader, at: At): SriovSpec | undefined {
  const m = r.map(at, SRIOV_KEYS);
  if (!m) return undefined;
  const need = (key: string): At | undefined => {
    const v = m.get(key);
    if (!v) r.error(at.offset, at.path, `missing required key "${key}"`);
    return v;
  };
  const totalAt = need('total');
  const offsetAt = need('offset');
  const strideAt = need('stride');
  const vfIdAt = need('vf-id');
  // TotalVFs, First VF Offset and VF Stride are 16-bit registers (PCIe SR-IOV capability).
  const total = totalAt && r.int(totalAt, 1, 0xffff);
  const offset = offsetAt && r.int(offsetAt, 1, 0xffff);
  const stride = strideAt && r.int(strideAt, 0, 0xffff);
  let vfId;
  if (vfIdAt) {
    const text = r.string(vfIdAt);
    if (text !== undefined) {
      const parsed = parsePciId(text);
      if (parsed.ok) vfId = parsed.value;
      else r.error(vfIdAt.offset, vfIdAt.path, parsed.message);
    }
  }
  const vfDriverAt = m.get('vf-driver');
  const vfDriver = vfDriverAt && readDriverName(r, vfDriverAt);
  const numAt = m.get('num');
  const num = numAt ? r.int(numAt, 0, 0xffff) : 0;
  if (stride === 0 && total !== undefined && total > 1 && strideAt) {
    r.error(strideAt.offset, strideAt.path, `stride 0 puts all ${total} VFs at one address`);
  }
  if (num !== undefined && total !== undefined && num > total && numAt) {
    r.error(numAt.offset, numAt.path, `num ${num} is above total ${total}`);
  }
  // The SR-IOV capability has six VF BAR registers (PCIe 6.0 9.3.3.14).
  const vfBarsAt = m.get('vf-bars');
  const vfBars = vfBarsAt && readBars(r, vfBarsAt, 6);
  if (total === undefined || offset === undefined || stride === undefined || vfId === undefined || num === undefined) return undefined;
  const pos = r.pos(at.offset);
  return {
    total,
    offset,
    stride,
    vfId,
    ...(vfDriver !== undefined ? { vfDriver } : {}),
    num,
    ...(vfBars ? { vfBars } : {}),
    pos,
    numPos: numAt ? r.pos(numAt.offset) : pos,
  };
}

export function readMdev(r: YamlReader, at: At): MdevTypeSpec[] {
  const items = r.list(at);
  if (!items) return [];
  const out: MdevTypeSpec[] = [];
  for (const item of items) {
    const m = r.map(item, MDEV_KEYS);
    if (!m) continue;
    const typeAt = m.get('type');
    const availableAt = m.get('available');
    if (!typeAt) r.error(item.offset, item.path, 'missing required key "type"');
    if (!availableAt) r.error(item.offset, item.path, 'missing required key "available"');
    const type = typeAt && r.string(typeAt);
    if (type !== undefined && !/^[^\s/]+$/.test(type) && typeAt) {
      r.error(typeAt.offset, typeAt.path, `"${type}" is not an mdev type name (no spaces or slashes)`);
    }
    const available = availableAt && r.int(availableAt, 0, 0xffff);
    const nameAt = m.get('name');
    const name = nameAt && r.string(nameAt);
    const apiAt = m.get('device-api');
    const deviceApi = apiAt ? r.string(apiAt) : 'vfio-pci';
    if (type === undefined || available === undefined || deviceApi === undefined) continue;
    out.push({ type, ...(name !== undefined ? { name } : {}), available, deviceApi });
  }
  return out;
}

/** `dma-alias`: "DD.F" keys of functions on the same bus; returns their devfns. */
export function readDmaAlias(r: YamlReader, at: At, ariBus: boolean): number[] {
  const items = r.list(at);
  if (!items) return [];
  const out: number[] = [];
  for (const item of items) {
    const text = r.string(item);
    if (text === undefined) continue;
    const key = parseDeviceKey(text, ariBus);
    if (!key.ok) r.error(item.offset, item.path, key.message.replace('device key', 'dma-alias'));
    else out.push(key.value.devfn);
  }
  return out;
}

export interface SlotFields {
  bus?: number;
  busOffset: number;
  number?: number;
  chassis?: number;
  hotplug?: boolean;
}

/** Which slot keys a bridge type takes: `number` is a PCIe slot's (root and downstream ports,
 * SLTCAP), `chassis` a PCI bridge's (slot numbering capability), `hotplug` either's (SLTCAP
 * Hot-Plug Capable, or the SHPC capability of a bridge to conventional PCI). */
const SLOT_KEYS_OF: Partial<Record<PciType, readonly string[]>> = {
  'root-port': ['bus', 'number', 'hotplug'],
  'downstream-port': ['bus', 'number', 'hotplug'],
  'pci-bridge': ['bus', 'chassis', 'hotplug'],
  'pcie-pci-bridge': ['bus', 'chassis', 'hotplug'],
};

/** `slot: { bus: N, number: N, chassis: N, hotplug: bool }`, each optional. */
export function readSlot(r: YamlReader, at: At, type: PciType): SlotFields | undefined {
  const m = r.map(at, SLOT_KEYS);
  if (!m) return undefined;
  const allowed = SLOT_KEYS_OF[type] ?? ['bus'];
  for (const k of SLOT_KEYS) {
    if (m.has(k) && !allowed.includes(k)) r.error(m.keyOffset(k), `${at.path}.${k}`, `slot.${k} does not apply to type ${type} (it takes: ${allowed.join(', ')})`);
  }
  const out: SlotFields = { busOffset: at.offset };
  const busAt = m.get('bus');
  // A secondary bus is always above its primary, so never 0.
  if (busAt) {
    const bus = r.int(busAt, 1, 0xff);
    if (bus !== undefined) out.bus = bus;
    out.busOffset = busAt.offset;
  }
  const numberAt = m.get('number');
  // SLTCAP Physical Slot Number: 13 bits.
  const number = numberAt && allowed.includes('number') ? r.int(numberAt, 0, 0x1fff) : undefined;
  if (number !== undefined) out.number = number;
  const chassisAt = m.get('chassis');
  const chassis = chassisAt && allowed.includes('chassis') ? r.int(chassisAt, 0, 0xff) : undefined;
  if (chassis !== undefined) out.chassis = chassis;
  const hotplugAt = m.get('hotplug');
  const hotplug = hotplugAt && allowed.includes('hotplug') ? r.bool(hotplugAt) : undefined;
  if (hotplug !== undefined) out.hotplug = hotplug;
  return out;
}
