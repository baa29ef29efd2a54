// A `devices` map (one bus) and the devices in it, recursively through bridges: field
// checks, defaults that depend on where a device sits, and the rules that tie the
// functions of one slot together as Linux's bus scan sees them (drivers/pci/probe.c).

import type { DeviceSpec, PciId, PciType } from './model';
import {
  PCI_TYPES,
  PCI_TYPE_NAMES,
  readAcs,
  readConfig,
  readDmaAlias,
  readDriverName,
  readMdev,
  readSlot,
  readSriov,
} from './device-fields';
import { readLink, readMsi, readMsix, readPm } from './hardware-fields';
import { readNvme } from './nvme-fields';
import { readBars, readRom } from './read-bars';
import { MAX_PASID_BITS } from './read-iommus';
import { hex2, parseDeviceKey, parsePciId } from './values';
import type { At, MapView, YamlReader } from './yaml-reader';

export const DEVICE_KEYS = [
  'id',
  'subsystem',
  'class',
  'revision',
  'type',
  'pcie',
  'multifunction',
  'acs',
  'ari',
  'pasid',
  'slot',
  'devices',
  'dma-alias',
  'driver',
  'sriov',
  'mdev',
  'numa-node',
  'label',
  'nvme',
  'link',
  'link-status',
  'port',
  'msi',
  'msix',
  'pm',
  'config',
  'bars',
  'rom',
] as const;

/** What a bus is, as far as the devices on it are concerned. */
export interface BusContext {
  segment: number;
  rootBus: boolean;
  /** Conventional PCI: below a pci-bridge, a pcie-pci-bridge or a conventional bridge. */
  conventional: boolean;
  /** The bridge above has `ari: true`: ARI keys allowed, the whole bus is one device. */
  ari: boolean;
  /** The bridge above is a PCIe root or downstream port, whose link has only device 00. */
  oneChild: boolean;
  parentType?: PciType;
}

/** Facts the later passes need that the model does not keep. */
export interface DeviceNotes {
  /** Devices whose key is invalid or repeats an address: left out of address rules and bus numbering. */
  badKey: Set<DeviceSpec>;
  fixedBusOffset: Map<DeviceSpec, number>;
  multifunctionAt: Map<DeviceSpec, At>;
}

export function readDeviceMap(r: YamlReader, at: At, ctx: BusContext, notes: DeviceNotes): DeviceSpec[] {
  const m = r.map(at, null);
  if (!m) return [];
  const devices: DeviceSpec[] = [];
  for (const e of m.all()) {
    let devfn = -1;
    if (!e.keyIsString) {
      r.error(e.keyOffset, e.value.path, `device key ${e.key} must be quoted ("${e.key}"): unquoted, YAML reads it as a number`);
    } else {
      const key = parseDeviceKey(e.key, ctx.ari);
      if (key.ok) devfn = key.value.devfn;
      else r.error(e.keyOffset, e.value.path, key.message);
    }
    const dev = readDevice(r, e.key, e.keyOffset, e.value, Math.max(devfn, 0), ctx, notes);
    if (devfn < 0) notes.badKey.add(dev);
    devices.push(dev);
  }
  checkAddresses(r, devices, ctx, notes);
  return devices;
}

/**
 * The empty list of every device that has no children, DMA aliases or mdev types (most of
 * a large machine): the model is not changed once loaded, and frozen, a change would throw
 * instead of reaching every device. (100 bytes a device the heap does not hold.)
 */
const NONE = Object.freeze([]) as unknown as never[];

function readDevice(r: YamlReader, key: string, keyOffset: number, at: At, devfn: number, ctx: BusContext, notes: DeviceNotes): DeviceSpec {
  const path = at.path;
  const dev: DeviceSpec = {
    key,
    // PCI_SLOT/PCI_FUNC of the devfn, also for ARI keys ("00.a5" is slot 0x14 function 5).
    slot: devfn >> 3,
    fn: devfn & 7,
    devfn,
    id: { vendor: 0, device: 0 },
    classCode: 0,
    revision: 0,
    type: 'endpoint',
    pcie: !ctx.conventional,
    multifunctionBit: false,
    acsCap: null,
    ari: false,
    pasidBits: 0,
    devices: NONE,
    dmaAlias: NONE,
    mdev: NONE,
    numaNode: -1,
    pos: r.pos(keyOffset),
    path,
  };
  const m = r.map(at, DEVICE_KEYS);
  if (!m) return dev;

  const idAt = m.get('id');
  if (!idAt) r.error(keyOffset, path, 'missing required key "id"');
  else dev.id = readId(r, idAt) ?? dev.id;
  const subsystemAt = m.get('subsystem');
  const subsystem = subsystemAt && readId(r, subsystemAt);
  if (subsystem) dev.subsystem = subsystem;

  // Type and PCI Express-ness decide each other's defaults: an explicit `pcie` wins, a
  // host or PCI-PCI bridge and anything below a conventional bus are conventional, the
  // rest PCIe; an endpoint without `type` is an RCiEP when it is PCIe on a root bus.
  const typeAt = m.get('type');
  const explicitType = typeAt && r.oneOf(typeAt, PCI_TYPE_NAMES, 'PCI type');
  const pcieAt = m.get('pcie');
  const explicitPcie = pcieAt && r.bool(pcieAt);
  if (explicitPcie !== undefined) dev.pcie = explicitPcie;
  else dev.pcie = explicitType === 'host-bridge' || explicitType === 'pci-bridge' ? false : !ctx.conventional;
  dev.type = explicitType ?? (dev.pcie && ctx.rootBus ? 'rc-endpoint' : 'endpoint');
  const info = PCI_TYPES[dev.type];
  if (ctx.conventional && (dev.pcie || info.pcieOnly)) {
    r.error(keyOffset, path, 'PCIe function below a conventional bus');
  } else if (!dev.pcie && info.pcieOnly && pcieAt) {
    r.error(pcieAt.offset, pcieAt.path, `pcie: false contradicts type ${dev.type}, which only exists in PCI Express`);
  }
  if (info.onRootBus && !ctx.rootBus && typeAt) {
    r.error(typeAt.offset, typeAt.path, `${article(dev.type)} is part of the root complex and sits on a root bus, not below a bridge`);
  }

  const classAt = m.get('class');
  if (classAt) dev.classCode = r.int(classAt, 0, 0xffffff) ?? 0;
  else if (info.defaultClass !== undefined) dev.classCode = info.defaultClass;
  else r.error(keyOffset, path, `missing required key "class" (${article(dev.type)} has no default class code)`);
  const revisionAt = m.get('revision');
  if (revisionAt) dev.revision = r.int(revisionAt, 0, 0xff) ?? 0;
  const mfAt = m.get('multifunction');
  if (mfAt) {
    const bit = r.bool(mfAt);
    if (bit !== undefined) {
      dev.multifunctionBit = bit;
      notes.multifunctionAt.set(dev, mfAt);
    }
  }

  const acsAt = m.get('acs');
  if (acsAt) {
    dev.acsCap = readAcs(r, acsAt) ?? null;
    if (dev.acsCap !== null) needPcie(r, dev, 'ACS', acsAt);
  }
  const ariAt = m.get('ari');
  if (ariAt) {
    dev.ari = r.bool(ariAt) ?? false;
    if (dev.ari) needPcie(r, dev, 'ARI', ariAt);
  }
  const pasidAt = m.get('pasid');
  if (pasidAt) {
    dev.pasidBits = r.int(pasidAt, 0, MAX_PASID_BITS) ?? 0;
    if (dev.pasidBits > 0) needPcie(r, dev, 'PASID', pasidAt);
  }
  const sriovAt = m.get('sriov');
  if (sriovAt) {
    if (info.bridge) r.error(sriovAt.offset, sriovAt.path, `SR-IOV needs an endpoint; this is ${article(dev.type)}`);
    needPcie(r, dev, 'SR-IOV', sriovAt);
    const sriov = readSriov(r, sriovAt);
    if (sriov) dev.sriov = sriov;
  }

  const aliasAt = m.get('dma-alias');
  if (aliasAt) dev.dmaAlias = readDmaAlias(r, aliasAt, ctx.ari);
  const driverAt = m.get('driver');
  const driver = driverAt && readDriverName(r, driverAt);
  if (driver !== undefined) dev.driver = driver;
  const mdevAt = m.get('mdev');
  if (mdevAt) dev.mdev = readMdev(r, mdevAt);
  const numaAt = m.get('numa-node');
  if (numaAt) dev.numaNode = r.int(numaAt, -1, 1023) ?? -1;
  const configAt = m.get('config');
  const config = configAt && readConfig(r, configAt, dev.pcie ? 4096 : 256);
  if (config) dev.config = config;
  const nvmeAt = m.get('nvme');
  const nvme = nvmeAt && readNvme(r, nvmeAt, dev.classCode);
  if (nvme) dev.nvme = nvme;
  const labelAt = m.get('label');
  const label = labelAt && r.string(labelAt);
  if (label !== undefined) dev.label = label;
  // A type 1 header has two BAR registers, a type 0 header six (PCI-to-PCI Bridge 1.2 3.2).
  const barsAt = m.get('bars');
  const bars = barsAt && readBars(r, barsAt, info.bridge ? 2 : 6);
  if (bars) dev.bars = bars;
  const romAt = m.get('rom');
  const rom = romAt && readRom(r, romAt);
  if (rom !== undefined) dev.rom = rom;

  readModelFields(r, m, dev);

  for (const k of BRIDGE_KEYS) {
    if (m.has(k) && !info.bridge) {
      r.error(m.keyOffset(k), `${path}.${k}`, `${k}: only a bridge has a secondary bus; this is ${article(dev.type)}`);
    }
  }
  if (!info.bridge) return dev;
  const slotAt = m.get('slot');
  const slot = slotAt && readSlot(r, slotAt, dev.type);
  if (slot?.bus !== undefined) {
    dev.fixedSecondaryBus = slot.bus;
    notes.fixedBusOffset.set(dev, slot.busOffset);
  }
  if (slot?.number !== undefined) dev.slotNumber = slot.number;
  if (slot?.chassis !== undefined) dev.chassis = slot.chassis;
  if (slot?.hotplug !== undefined) dev.hotplug = slot.hotplug;
  const devicesAt = m.get('devices');
  if (devicesAt) {
    const conventional = info.conventionalBelow || !dev.pcie;
    const child: BusContext = {
      segment: ctx.segment,
      rootBus: false,
      conventional,
      ari: dev.ari && !conventional,
      oneChild: dev.pcie && (dev.type === 'root-port' || dev.type === 'downstream-port'),
      parentType: dev.type,
    };
    dev.devices = readDeviceMap(r, devicesAt, child, notes);
  }
  return dev;
}

/** Keys only a bridge may have. */
const BRIDGE_KEYS = ['slot', 'devices'] as const;
const LINK_KEYS = ['link', 'link-status', 'port'] as const;

/**
 * ACS, ARI, PASID and SR-IOV are extended capabilities, which live in the 4 KiB
 * configuration space only PCI Express functions have.
 */
function needPcie(r: YamlReader, dev: DeviceSpec, what: string, a: At): void {
  if (!dev.pcie) r.error(a.offset, a.path, `${what} is a PCI Express extended capability; a conventional function cannot have it`);
}

/** `link`, `link-status`, `port` (PCIe functions with a link), `msi`, `msix`, `pm`. */
function readModelFields(r: YamlReader, m: MapView, dev: DeviceSpec): void {
  // Root Complex integrated endpoints and event collectors have no link (pci.c
  // pcie_cap_has_lnkctl); a conventional function has no PCI Express capability at all.
  const linkless = !dev.pcie || dev.type === 'rc-endpoint' || dev.type === 'rc-event-collector';
  for (const k of LINK_KEYS) {
    const a = m.get(k);
    if (!a) continue;
    if (linkless) {
      r.error(m.keyOffset(k), a.path, dev.pcie ? `${article(dev.type)} has no link` : 'a conventional function has no PCIe link');
      continue;
    }
    if (k === 'port') {
      const port = r.int(a, 0, 0xff);
      if (port !== undefined) dev.port = port;
      continue;
    }
    const link = readLink(r, a, k === 'link-status');
    if (link && k === 'link') dev.link = link;
    if (link && k === 'link-status') dev.linkStatus = link;
  }
  const cap = dev.link;
  const st = dev.linkStatus;
  const stAt = m.get('link-status');
  if (cap && st && stAt) {
    // A link trains at most at what both ends support (lspci flags more as "overdriven").
    if (cap.speed !== undefined && st.speed !== undefined && st.speed > cap.speed) r.error(stAt.offset, stAt.path, 'link-status speed is above the link capability\'s');
    if (cap.width !== undefined && st.width !== undefined && st.width > cap.width) r.error(stAt.offset, stAt.path, 'link-status width is above the link capability\'s');
  }
  const msiAt = m.get('msi');
  const msi = msiAt && readMsi(r, msiAt);
  if (msi) dev.msi = msi;
  const msixAt = m.get('msix');
  const msix = msixAt && readMsix(r, msixAt);
  if (msix !== undefined) dev.msix = msix;
  const pmAt = m.get('pm');
  const pm = pmAt && readPm(r, pmAt);
  if (pm !== undefined) dev.pm = pm;
}

function readId(r: YamlReader, at: At): PciId | undefined {
  const text = r.string(at);
  if (text === undefined) return undefined;
  const known = ids.get(text);
  if (known) return known;
  const id = parsePciId(text);
  if (!id.ok) r.error(at.offset, at.path, id.message);
  // Frozen and shared, like NONE: a large machine has many devices and few distinct IDs.
  if (id.ok && ids.size < 4096) ids.set(text, Object.freeze(id.value));
  return id.ok ? id.value : undefined;
}
const ids = new Map<string, PciId>();

/**
 * Rules across the functions of one bus: one device per address; function 0 present in
 * every slot (probe.c pci_scan_slot stops at a missing function 0); function 0 with the
 * multifunction bit when its slot has others (next_fn scans no further without it); below
 * a root or downstream port only device 00 (only_one_child) unless ARI makes the bus one
 * device of up to 256 functions (next_ari_fn), which needs ARI on function 0 as well
 * (pci_configure_ari enables ARI forwarding only then).
 */
function checkAddresses(r: YamlReader, devices: DeviceSpec[], ctx: BusContext, notes: DeviceNotes): void {
  // One device per address; a few devices a bus, so a search beats a map but on large ARI buses.
  const byDevfn = devices.length > 16 ? new Map<number, DeviceSpec>() : undefined;
  for (let i = 0; i < devices.length; i++) {
    const d = devices[i]!;
    if (notes.badKey.has(d)) continue;
    let other = byDevfn?.get(d.devfn);
    for (let j = 0; !byDevfn && !other && j < i; j++) {
      const o = devices[j]!;
      if (o.devfn === d.devfn && !notes.badKey.has(o)) other = o;
    }
    if (other) {
      r.errorAt(d.pos, d.path, `"${d.key}" is the same address as "${other.key}" (line ${other.pos.line})`);
      notes.badKey.add(d);
    } else byDevfn?.set(d.devfn, d);
  }
  // The slots in the order their first function is written; what the rules need of each.
  const slots: SlotFunctions[] = [];
  for (const d of devices) {
    if (notes.badKey.has(d)) continue;
    const slot = ctx.ari ? 0 : d.slot;
    if (ctx.oneChild && !ctx.ari && slot !== 0) {
      r.errorAt(d.pos, d.path, `Linux scans only device 00 below ${article(ctx.parentType ?? 'bridge')} (probe.c only_one_child), so it would not find this function`);
      continue;
    }
    let s = slots.find((x) => x.slot === slot);
    if (!s) slots.push((s = { slot, count: 0, first: d, fn0: undefined, beyond: undefined }));
    s.count++;
    if (!s.fn0 && d.devfn === slot << 3) s.fn0 = d;
    if (!s.beyond && ctx.ari && d.devfn > 7) s.beyond = d;
  }
  for (const { slot, count, first, fn0, beyond } of slots) {
    if (!fn0) {
      const where = ctx.ari ? 'this ARI bus' : `slot ${hex2(slot)}`;
      r.errorAt(first.pos, first.path, `${where} has no function 0, so Linux finds none of its functions (probe.c pci_scan_slot)`);
      continue;
    }
    const mfAt = notes.multifunctionAt.get(fn0);
    if (!mfAt) fn0.multifunctionBit = count > 1;
    else if (!ctx.ari && !fn0.multifunctionBit && count > 1) {
      const others = devices.filter((d) => d !== fn0 && d.slot === slot && !notes.badKey.has(d)).map((d) => `"${d.key}"`);
      r.error(
        mfAt.offset,
        mfAt.path,
        `multifunction: false on function 0 hides the other functions of slot ${hex2(slot)} (${others.join(', ')}): Linux scans no further (probe.c next_fn)`,
      );
    }
    if (beyond && !fn0.ari) {
      r.errorAt(
        beyond.pos,
        beyond.path,
        `function 0x${hex2(beyond.devfn)} needs ARI, but "${fn0.key}" lacks ari: true, so the port does not forward ARI (pci_configure_ari)`,
      );
    }
  }
}

interface SlotFunctions {
  slot: number;
  /** How many functions it has, the first one written, function 0, the first above 7 (ARI). */
  count: number;
  first: DeviceSpec;
  fn0: DeviceSpec | undefined;
  beyond: DeviceSpec | undefined;
}

/** "an rc-endpoint", "an upstream-port", "a root-port". */
export function article(word: string): string {
  return `${/^(?:[aeiou]|rc-)/.test(word) ? 'an' : 'a'} ${word}`;
}
