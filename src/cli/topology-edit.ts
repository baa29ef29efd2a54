// `whatif`'s edits: a copy of a topology with a longer command line, a device's ACS
// capability changed, or a card moved behind another port; booted afresh by the caller.
// The original topology is never changed. Every copied device keeps its YAML `path`, which
// is how `whatif` knows a moved device again under its new address.

import { parseCmdline } from '../topology/cmdline';
import { PCI_TYPES } from '../topology/device-fields';
import { article } from '../topology/read-devices';
import { formatDiagnostic } from '../topology/model';
import type { DeviceSpec, RootBusSpec, Topology } from '../topology/model';
import { ACS_ALL, acsBit, hex2, parseDeviceAddress } from '../topology/values';
import { devfnOf, fnOf, slotOf } from '../pci/address';
import { checkTopology } from '../pci/check';
import { enumerate } from '../pci/enumerate';
import type { PciBus, PciFunction } from '../pci/enumerate';
import { CliError } from './errors';

export type Edit = { kind: 'cmdline'; text: string } | { kind: 'acs'; device: string; flags: string } | { kind: 'move'; device: string; to: string };

/** `--set DEVICE.acs=FLAGS`; a malformed one is refused (CliError, exit 2). */
export function parseSet(text: string): Edit {
  const m = /^(.+)\.([a-z-]+)=(.*)$/.exec(text);
  if (!m) throw bad(`--set ${text}: expected DEVICE.acs=FLAGS (e.g. 0000:00:1c.0.acs=sv,rr,cr,uf)`);
  if (m[2] !== 'acs') throw bad(`--set ${text}: only "acs" can be set (got "${m[2]}")`);
  parseAcsFlags(m[3]!, `--set ${text}`); // refused here already, before any loading
  return { kind: 'acs', device: address(m[1]!, `--set ${text}`), flags: m[3]! };
}

export function parseMove(text: string): Edit {
  const parts = text.split('=');
  if (parts.length !== 2) throw bad(`--move ${text}: expected DEVICE=PORT (e.g. 0000:05:00.0=0000:00:01.0)`);
  return { kind: 'move', device: address(parts[0]!, `--move ${text}`), to: address(parts[1]!, `--move ${text}`) };
}

function address(text: string, what: string): string {
  const a = parseDeviceAddress(text);
  if (!a.ok) throw bad(`${what}: ${a.message}`);
  return a.value;
}

function bad(message: string): CliError {
  return new CliError(`whatif: ${message}`, 2);
}

/** "sv,rr,cr,uf" → bits; "none" → no ACS capability (null); "all" → every bit (as `acs: true`). */
export function parseAcsFlags(text: string, what: string): number | null {
  const t = text.trim().toLowerCase();
  if (t === 'none' || t === 'false') return null;
  if (t === 'all' || t === 'true') return ACS_ALL;
  let mask = 0;
  for (const flag of t.split(',')) {
    const bit = acsBit(flag.trim());
    if (bit === undefined) throw bad(`${what}: "${flag}" is not an ACS flag (sv, tb, rr, cr, uf, ec, dt, or all, none)`);
    mask |= bit;
  }
  return mask;
}

/** Each device of the copy by its YAML path, with the list that holds it. */
type ByPath = Map<string, { spec: DeviceSpec; siblings: DeviceSpec[] }>;

/** A deep copy of the device tree, with every device indexed by its YAML path. */
function copyTree(t: Topology): { pci: RootBusSpec[]; byPath: ByPath } {
  const byPath: ByPath = new Map();
  const copyList = (list: readonly DeviceSpec[]): DeviceSpec[] => {
    const out: DeviceSpec[] = [];
    for (const d of list) {
      const c: DeviceSpec = { ...d, devices: copyList(d.devices) };
      out.push(c);
      byPath.set(c.path, { spec: c, siblings: out });
    }
    return out;
  };
  return { pci: t.pci.map((r) => ({ ...r, devices: copyList(r.devices) })), byPath };
}

/** The function named `name` at boot (not a VF: a VF has no entry of its own to edit). */
function functionNamed(fns: Map<string, PciFunction>, name: string, what: string): PciFunction {
  const f = fns.get(name);
  if (!f) throw bad(`${what}: no PCI device ${name} in the topology`);
  return f;
}

function isOnPath(f: PciFunction, ancestor: PciFunction): boolean {
  for (let bus: PciBus | null = f.bus; bus; bus = bus.parent) if (bus.bridge === ancestor) return true;
  return false;
}

/**
 * The topology with the edits applied in order. `--cmdline` text is appended to the
 * topology's command line (later parameters win, as in the kernel); `--set` replaces a
 * function's ACS capability; `--move A=B` takes the card A is on (every function of A's
 * slot, with whatever sits below them) out of its slot and plugs it into the first free
 * slot on B's secondary bus (slot 0 behind a PCIe root or downstream port, whose link has
 * one device); when that one slot is taken, the two cards swap places. Devices keep their
 * YAML path; addresses follow the new place. Addresses in edits are the machine's as written.
 */
export function applyEdits(t: Topology, edits: readonly Edit[]): Topology {
  const { pci, byPath } = copyTree(t);
  const fns = new Map(enumerate(t).addOrder.map((f) => [f.name, f]));
  let cmdline = t.cmdline.raw;
  for (const e of edits) {
    if (e.kind === 'cmdline') {
      cmdline = [cmdline, e.text].filter((s) => s.trim() !== '').join(' ');
    } else if (e.kind === 'acs') {
      const what = `--set ${e.device}.acs=${e.flags}`;
      const f = functionNamed(fns, e.device, what);
      byPath.get(f.spec.path)!.spec.acsCap = parseAcsFlags(e.flags, what);
    } else {
      move(fns, byPath, e.device, e.to);
    }
  }
  const out: Topology = { ...t, cmdline: parseCmdline(cmdline), pci };
  checkBuses(out);
  // What boot would trip on (VFs that no longer fit their new bus range, and so on).
  const problems = checkTopology(out);
  if (problems.length > 0) throw bad(`after the edits the machine would not boot:\n${problems.map(formatDiagnostic).join('\n')}`);
  return out;
}

/** Whether a bus takes only conventional PCI functions: behind a PCI bridge or a conventional function. */
function conventionalBelow(bridge: PciFunction | null): boolean {
  return bridge !== null && (PCI_TYPES[bridge.spec.type].conventionalBelow || !bridge.spec.pcie);
}

/** The specs go from their list into `to` at `slot`, keeping their function numbers and paths. */
function plug(byPath: ByPath, specs: readonly DeviceSpec[], to: DeviceSpec[], slot: number): void {
  for (const spec of specs) {
    const entry = byPath.get(spec.path)!;
    entry.siblings.splice(entry.siblings.indexOf(entry.spec), 1);
    const fn = fnOf(spec.devfn);
    const moved: DeviceSpec = { ...entry.spec, slot, devfn: devfnOf(slot, fn), key: `${hex2(slot)}.${fn}` };
    to.push(moved);
    byPath.set(moved.path, { spec: moved, siblings: to });
  }
}

function move(fns: Map<string, PciFunction>, byPath: ByPath, from: string, to: string): void {
  const what = `--move ${from}=${to}`;
  const a = functionNamed(fns, from, what);
  const b = functionNamed(fns, to, what);
  if (PCI_TYPES[a.spec.type].onRootBus || a.spec.type === 'host-bridge') throw bad(`${what}: ${from} is ${article(a.spec.type)}, part of the root complex: it cannot be moved`);
  if (a.bus.bridge?.ari) throw bad(`${what}: ${from} sits behind an ARI port (function numbers past 7); moving it is not supported`);
  if (!PCI_TYPES[b.spec.type].bridge || b.spec.type === 'upstream-port') {
    throw bad(`${what}: ${to} is ${article(b.spec.type)}; a card goes behind a root port, a downstream port or a PCI bridge`);
  }
  const slot = slotOf(a.devfn);
  const card = a.bus.devices.filter((f) => slotOf(f.devfn) === slot);
  if (card.some((f) => f === b || isOnPath(b, f))) throw bad(`${what}: ${to} is on the card being moved`);
  if (b.secondary === a.bus) throw bad(`${what}: ${from} is already behind ${to}`);
  const pcieIn = (specs: readonly DeviceSpec[]): DeviceSpec | undefined => specs.find((d) => d.pcie || PCI_TYPES[d.type].pcieOnly);
  const cardSpecs = card.map((f) => byPath.get(f.spec.path)!.spec);
  const pcieFn = pcieIn(cardSpecs);
  if (conventionalBelow(b) && pcieFn) throw bad(`${what}: ${pcieFn.path} is a PCI Express function and the bus behind ${to} is conventional PCI`);
  const target = byPath.get(b.spec.path)!.spec;
  const home = byPath.get(a.spec.path)!.siblings;
  // A PCIe link carries one device (probe.c pci_scan_slot, only_one_child): slot 0 only.
  const oneChild = b.spec.pcie && (b.spec.type === 'root-port' || b.spec.type === 'downstream-port');
  const used = new Set(target.devices.map((d) => slotOf(d.devfn)));
  if (!oneChild || !used.has(0)) {
    const free = oneChild ? 0 : [...Array(32).keys()].find((s) => !used.has(s));
    if (free === undefined) throw bad(`${what}: no free slot behind ${to}`);
    plug(byPath, cardSpecs, target.devices, free);
    return;
  }
  // The port's one slot is taken: the two cards swap places.
  const occupant = target.devices.filter((d) => slotOf(d.devfn) === 0);
  if (a.bus.parent === null) throw bad(`${what}: the slot behind ${to} is taken, and ${from} is on a root bus, where the card there cannot go in its place`);
  if (occupant.some((d) => isOnPath(a, fns.get(pciNameOf(fns, d))!))) throw bad(`${what}: ${from} sits below the card behind ${to}`);
  const occupantPcie = pcieIn(occupant);
  if (conventionalBelow(a.bus.bridge) && occupantPcie) {
    throw bad(`${what}: the slot behind ${to} is taken and ${occupantPcie.path}, a PCI Express function, cannot take ${from}'s place on a conventional bus`);
  }
  if (home.some((d) => slotOf(d.devfn) === slot && !cardSpecs.includes(d))) throw bad(`${what}: ${from}'s slot is no longer free for a swap`);
  plug(byPath, cardSpecs, target.devices, 0);
  plug(byPath, occupant, home, slot);
}

/** The boot name of the function a (possibly copied) spec stands for. */
function pciNameOf(fns: Map<string, PciFunction>, spec: DeviceSpec): string {
  for (const f of fns.values()) if (f.spec.path === spec.path) return f.name;
  throw new Error(`no function for ${spec.path}`);
}

/** Bus numbers are handed out again depth first: a fixed one (`slot.bus`) may now collide. */
function checkBuses(t: Topology): void {
  const seen = new Map<string, string>();
  const walk = (bus: PciBus): void => {
    const k = `${bus.segment}:${bus.number}`;
    const holder = bus.bridge ? `the secondary bus of ${bus.bridge.spec.path}` : `a root bus`;
    if (bus.number > 0xff) throw bad(`the edits leave no bus number for ${holder}`);
    const other = seen.get(k);
    if (other) throw bad(`after the edits bus 0x${hex2(bus.number)} would be both ${other} and ${holder}; the topology fixes bus numbers (slot: { bus: N }) that the move collides with`);
    seen.set(k, holder);
    for (const f of bus.devices) if (f.secondary) walk(f.secondary);
  };
  for (const h of enumerate(t).hostBridges) walk(h.rootBus);
}
