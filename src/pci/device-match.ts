// Device lists on the command line, as drivers/pci/pci.c pci_dev_str_match reads them:
// "[<domain>:]<bus>:<dev>.<fn>[/<dev>.<fn>]*" (a path from a root-bus device down through
// bridges) or "pci:<vendor>:<device>[:<subvendor>:<subdevice>]" (0 matches any).

import { devfnOf } from './address';
import type { PciFunction } from './enumerate';

export function matchesDevice(entry: string, f: PciFunction): boolean {
  const e = entry.trim().toLowerCase();
  if (e.startsWith('pci:')) return matchesIds(e.slice(4), f);
  return matchesPath(e, f);
}

export function matchesDeviceList(entries: readonly string[], f: PciFunction): boolean {
  return entries.some((e) => matchesDevice(e, f));
}

function matchesIds(rest: string, f: PciFunction): boolean {
  const parts = rest.split(':').map((p) => parseInt(p, 16));
  if (parts.length < 2 || parts.some((n) => Number.isNaN(n))) return false;
  const [vendor, device, subVendor = 0, subDevice = 0] = parts as [number, number, number?, number?];
  const ok = (want: number, have: number | undefined): boolean => want === 0 || want === have;
  return ok(vendor, f.id.vendor) && ok(device, f.id.device) && ok(subVendor, f.subsystem?.vendor) && ok(subDevice, f.subsystem?.device);
}

const HEAD_RE = /^(?:([0-9a-f]+):)?([0-9a-f]+):([0-9a-f]+)\.([0-7])$/;
const STEP_RE = /^([0-9a-f]+)\.([0-7])$/;

function matchesPath(text: string, f: PciFunction): boolean {
  const [head, ...steps] = text.split('/');
  const m = HEAD_RE.exec(head ?? '');
  if (!m) return false;
  const path: { bus?: number; segment?: number; devfn: number }[] = [
    { segment: m[1] ? parseInt(m[1], 16) : 0, bus: parseInt(m[2]!, 16), devfn: devfnOf(parseInt(m[3]!, 16), parseInt(m[4]!, 10)) },
  ];
  for (const s of steps) {
    const sm = STEP_RE.exec(s);
    if (!sm) return false;
    path.push({ devfn: devfnOf(parseInt(sm[1]!, 16), parseInt(sm[2]!, 10)) });
  }
  // Walk up from f: each path element, last first, must be the function at that level.
  let cur: PciFunction | null = f;
  for (let i = path.length - 1; i >= 0; i--) {
    if (!cur) return false;
    const want = path[i]!;
    if (cur.devfn !== want.devfn) return false;
    if (i === 0) return cur.segment === want.segment && cur.bus.number === want.bus;
    cur = cur.bus.bridge;
  }
  return false;
}
