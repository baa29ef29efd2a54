// The PCI ID database (pci.ids, the pciutils format) as systemd's hwdb builtin uses it for
// PCI devices: the properties of hwdb/20-pci-vendor-model.hwdb and 20-pci-classes.hwdb,
// which systemd generates from the same file (hwdb.d/ids_parser.py), looked up by modalias.

import { readFileSync } from 'node:fs';

/** Where Debian's pci.ids package puts the file; hwdata's place on other distributions. */
export const PCI_IDS_PATHS = ['/usr/share/misc/pci.ids', '/usr/share/hwdata/pci.ids'];

interface Named<T> {
  name: string;
  sub: Map<T, string>;
}

export interface PciIds {
  vendors: Map<number, string>;
  /** `vvvvdddd` → device name and its subsystems (`ssssdddd` → name). */
  devices: Map<string, Named<string>>;
  /** class → name, subclasses (`ccss` → name), programming interfaces (`ccsspp` → name). */
  classes: Map<number, string>;
  subclasses: Map<number, string>;
  progIfs: Map<number, string>;
}

const key4 = (a: number, b: number): string => a.toString(16).padStart(4, '0') + b.toString(16).padStart(4, '0');

export function parsePciIds(text: string): PciIds {
  const ids: PciIds = { vendors: new Map(), devices: new Map(), classes: new Map(), subclasses: new Map(), progIfs: new Map() };
  let vendor = -1;
  let device: Named<string> | undefined;
  let cls = -1;
  let sub = -1;
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    let m: RegExpExecArray | null;
    if ((m = /^([0-9a-f]{4})\s+(.*)$/.exec(line))) {
      vendor = parseInt(m[1]!, 16);
      cls = -1;
      device = undefined;
      ids.vendors.set(vendor, m[2]!);
    } else if ((m = /^C ([0-9a-f]{2})\s+(.*)$/.exec(line))) {
      cls = parseInt(m[1]!, 16);
      vendor = -1;
      ids.classes.set(cls, m[2]!);
    } else if (/^[A-Z] /.test(line)) {
      // Other lists (device types, languages) follow the classes; nothing of them is used.
      vendor = -1;
      cls = -1;
    } else if ((m = /^\t([0-9a-f]{4})\s+(.*)$/.exec(line)) && vendor >= 0) {
      device = { name: m[2]!, sub: new Map() };
      ids.devices.set(key4(vendor, parseInt(m[1]!, 16)), device);
    } else if ((m = /^\t\t([0-9a-f]{4}) ([0-9a-f]{4})\s+(.*)$/.exec(line)) && device) {
      device.sub.set(m[1]! + m[2]!, m[3]!);
    } else if ((m = /^\t([0-9a-f]{2})\s+(.*)$/.exec(line)) && cls >= 0) {
      sub = (cls << 8) | parseInt(m[1]!, 16);
      ids.subclasses.set(sub, m[2]!);
    } else if ((m = /^\t\t([0-9a-f]{2})\s+(.*)$/.exec(line)) && cls >= 0) {
      ids.progIfs.set((sub << 8) | parseInt(m[1]!, 16), m[2]!);
    }
  }
  return ids;
}

const loaded = new Map<string, PciIds | undefined>();

/** The first readable pci.ids of `paths`, parsed once per process (the run's udev database
 * and its uevents both use it). */
export function loadPciIds(paths: string[] = PCI_IDS_PATHS): PciIds | undefined {
  const key = paths.join('\0');
  if (!loaded.has(key)) loaded.set(key, readPciIds(paths));
  return loaded.get(key);
}

function readPciIds(paths: string[]): PciIds | undefined {
  for (const p of paths) {
    try {
      return parsePciIds(readFileSync(p, 'utf8'));
    } catch {
      continue;
    }
  }
  return undefined;
}

export interface PciIdent {
  vendor: number;
  device: number;
  subvendor: number;
  subdevice: number;
  classCode: number;
}

/** The hwdb builtin's answer for a PCI modalias, in its order: class, subclass, interface,
 * vendor, model; a subsystem the file names gives the model as `device (subsystem)`. */
export function hwdbProperties(ids: PciIds, p: PciIdent): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const c = p.classCode;
  const cls = ids.classes.get(c >> 16);
  if (cls !== undefined) out.push(['ID_PCI_CLASS_FROM_DATABASE', cls]);
  const sub = ids.subclasses.get(c >> 8);
  if (sub !== undefined) out.push(['ID_PCI_SUBCLASS_FROM_DATABASE', sub]);
  const progIf = ids.progIfs.get(c);
  if (progIf !== undefined) out.push(['ID_PCI_INTERFACE_FROM_DATABASE', progIf]);
  const vendor = ids.vendors.get(p.vendor);
  if (vendor !== undefined) out.push(['ID_VENDOR_FROM_DATABASE', vendor]);
  const dev = ids.devices.get(key4(p.vendor, p.device));
  if (dev) {
    const subName = dev.sub.get(key4(p.subvendor, p.subdevice));
    out.push(['ID_MODEL_FROM_DATABASE', subName !== undefined ? `${dev.name} (${subName})` : dev.name]);
  }
  return out;
}
