// Reads the recorded config files of test/fixtures/reference for the config-space tests,
// and derives from each recorded image the inputs our builder takes.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ConfigFunction } from '../../../src/pci/config-space';
import { CAP, EXT_CAP, parseCapabilities } from '../../../src/pci/config-space';

export interface RecordedFunction {
  machine: string;
  bdf: string;
  bytes: Uint8Array;
  attrs: Record<string, string>;
  /** The function has a physfn link: it is a VF. */
  isVf: boolean;
}

function repoRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('package.json not found above ' + __dirname);
    dir = up;
  }
  return dir;
}

export const REFERENCE_DIR = path.join(repoRoot(), 'test', 'fixtures', 'reference');

function hexBytes(s: string): Uint8Array {
  const clean = s.replace(/\s+/g, '');
  return Uint8Array.from(clean.match(/../g) ?? [], (h) => parseInt(h, 16));
}

function attrText(v: unknown): string {
  if (Array.isArray(v)) return v.map(String).join('\n').trim();
  return typeof v === 'string' ? v.trim() : '';
}

interface DeviceRecord {
  config_hex?: string;
  attrs?: Record<string, unknown>;
  links?: Record<string, unknown>;
  vendor?: string;
  device?: string;
  subsystem_vendor?: string;
  subsystem_device?: string;
  class?: string;
  revision?: string;
}

/** Every recorded function: each machine's boot phase, and every phase of sriov.json. */
export function recordedFunctions(): RecordedFunction[] {
  const out: RecordedFunction[] = [];
  for (const file of fs.readdirSync(REFERENCE_DIR).filter((f) => f.endsWith('.json')).sort()) {
    const machine = file.replace(/\.json$/, '');
    const doc = JSON.parse(fs.readFileSync(path.join(REFERENCE_DIR, file), 'utf8')) as {
      phases: Record<string, { devices?: Record<string, DeviceRecord>; pci_devices?: Record<string, DeviceRecord> }>;
    };
    const phases = machine === 'sriov' ? Object.keys(doc.phases) : ['boot'];
    for (const phase of phases) {
      const devices = doc.phases[phase]?.devices ?? doc.phases[phase]?.pci_devices ?? {};
      for (const [bdf, d] of Object.entries(devices)) {
        if (!d.config_hex) continue;
        const attrs: Record<string, string> = {};
        for (const [k, v] of Object.entries(d.attrs ?? {})) attrs[k] = attrText(v);
        // sriov.json keeps the ID attributes at the top level of the device record.
        for (const k of ['vendor', 'device', 'subsystem_vendor', 'subsystem_device', 'class', 'revision'] as const) {
          const v = d[k];
          if (v !== undefined) attrs[k] = v.trim();
        }
        out.push({
          machine: machine === 'sriov' ? `sriov/${phase}` : machine,
          bdf,
          bytes: hexBytes(d.config_hex),
          attrs,
          isVf: d.links !== undefined && 'physfn' in d.links,
        });
      }
    }
  }
  return out;
}

export function u16(b: Uint8Array, off: number): number {
  return (b[off] ?? 0) | ((b[off + 1] ?? 0) << 8);
}

export function u32(b: Uint8Array, off: number): number {
  return (u16(b, off) | (u16(b, off + 2) << 16)) >>> 0;
}

function num(s: string | undefined): number {
  if (s === undefined) throw new Error('missing attribute');
  return parseInt(s, 16);
}

/**
 * The builder's input for a recorded function: IDs from its sysfs attributes, and its role
 * and kernel-set state (ACS control, SR-IOV registers, bus numbers) from the recorded image.
 */
export function inputFromRecording(r: RecordedFunction): ConfigFunction {
  const b = r.bytes;
  const caps = parseCapabilities(b);
  const std = (id: number): number | undefined => caps.find((c) => !c.extended && c.id === id)?.offset;
  const ext = (id: number): number | undefined => caps.find((c) => c.extended && c.id === id)?.offset;
  const headerType = ((b[0x0e] ?? 0) & 0x7f) === 1 ? 1 : 0;
  const exp = std(CAP.EXP);
  const sub = { vendor: num(r.attrs['subsystem_vendor']), device: num(r.attrs['subsystem_device']) };
  const f: ConfigFunction = {
    vendor: num(r.attrs['vendor']),
    device: num(r.attrs['device']),
    classCode: num(r.attrs['class']),
    revision: num(r.attrs['revision']),
    headerType,
    multifunctionBit: ((b[0x0e] ?? 0) & 0x80) !== 0,
    pcie: b.length === 4096,
    pcieType: exp === undefined ? null : (u16(b, exp + 2) >> 4) & 0xf,
    interruptLine: b[0x3c] ?? 0,
    busMaster: (u16(b, 4) & 0x4) !== 0,
    isVf: r.isVf,
  };
  // A bridge without subsystem IDs in its topology entry: sysfs shows 0/0.
  if (headerType === 0 || sub.vendor !== 0 || sub.device !== 0) f.subsystem = sub;
  if (headerType === 1) {
    f.primaryBus = b[0x18] ?? 0;
    f.secondaryBus = b[0x19] ?? 0;
    f.subordinateBus = b[0x1a] ?? 0;
  }
  if (exp !== undefined) {
    const flags = u16(b, exp + 2);
    f.slotImplemented = (flags & 0x100) !== 0;
    f.physicalSlot = u32(b, exp + 0x14) >>> 19;
    f.portNumber = u32(b, exp + 0x0c) >>> 24;
    if ((flags & 0xf) >= 2) {
      f.ariForwardingSupported = (u32(b, exp + 0x24) & 0x20) !== 0;
      f.ariForwardingEnabled = (u16(b, exp + 0x28) & 0x20) !== 0;
    }
  }
  const msix = std(CAP.MSIX);
  const msi = std(CAP.MSI);
  f.msiEnabled = (msix !== undefined && (u16(b, msix + 2) & 0x8000) !== 0) || (msi !== undefined && (u16(b, msi + 2) & 1) !== 0);
  const pm = std(CAP.PM);
  if (pm !== undefined) f.dState = (u16(b, pm + 4) & 0x3) as 0 | 1 | 2 | 3;
  const slotid = std(CAP.SLOTID);
  if (slotid !== undefined) f.chassis = b[slotid + 3] ?? 0;
  const acs = ext(EXT_CAP.ACS);
  if (acs !== undefined) f.acs = { cap: u16(b, acs + 4), ctrl: u16(b, acs + 6) };
  const ari = ext(EXT_CAP.ARI);
  if (ari !== undefined) f.ari = { nextFunction: (u16(b, ari + 4) >> 8) & 0xff };
  const sriov = ext(EXT_CAP.SRIOV);
  if (sriov !== undefined) {
    const ctrl = u16(b, sriov + 8);
    f.sriov = {
      total: u16(b, sriov + 0x0e),
      initial: u16(b, sriov + 0x0c),
      num: u16(b, sriov + 0x10),
      offset: u16(b, sriov + 0x14),
      stride: u16(b, sriov + 0x16),
      vfDevice: u16(b, sriov + 0x1a),
      ariHierarchy: (ctrl & 0x10) !== 0,
      vfEnable: (ctrl & 0x1) !== 0,
    };
  }
  const dsn = ext(EXT_CAP.DSN);
  if (dsn !== undefined) f.dsn = (BigInt(u32(b, dsn + 8)) << 32n) | BigInt(u32(b, dsn + 4));
  return f;
}

/** QEMU's pcie-root-port at 00:02.0, function 0 of a multifunction slot, as the tests build it. */
export const QEMU_ROOT_PORT: ConfigFunction = {
  vendor: 0x1b36,
  device: 0x000c,
  classCode: 0x060400,
  revision: 0,
  subsystem: { vendor: 0x1b36, device: 0 },
  headerType: 1,
  multifunctionBit: true,
  pcie: true,
  pcieType: 4,
  primaryBus: 0,
  secondaryBus: 1,
  subordinateBus: 1,
  physicalSlot: 1,
  acs: { cap: 0x5f, ctrl: 0x1d },
  ariForwardingSupported: true,
};
