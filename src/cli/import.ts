// `iommufs import [--sysfs DIR] [--cmdline STR]`: a machine's /sys in, a topology out that
// makes iommufs show that machine (docs/cli.md). The tree is read (import-read.ts), turned
// into a topology (import-build.ts), then booted in the engine to settle what only the
// engine can tell: which bridges need a fixed bus number, which functions need their
// config bytes kept (`config:`), and whether the groups come out as the machine's.

import { readFileSync } from 'node:fs';
import { hostname, release } from 'node:os';
import { resolve } from 'node:path';
import { Machine, memberNames } from '../engine/machine';
import { namespacesOf } from '../engine/nvme';
import type { PciDevice } from '../engine/types';
import { checkTopology } from '../pci/check';
import { configRows, overlayRawConfig } from '../pci/config-raw';
import { loadTopology } from '../topology/load';
import { formatDiagnostic } from '../topology/model';
import { CliError } from './errors';
import { buildTopology } from './import-build';
import type { Built, Out } from './import-build';
import { readSysfs } from './import-read';
import { chassisKey, modelKeys, nvmeKey } from './import-model-keys';
import { resourceKeys } from './import-resources';
import type { SysMachine } from './import-read';
import { topologyYaml } from './import-yaml';
import type { Io } from './io';

export const IMPORT_USAGE = 'iommufs import [--sysfs DIR] [--cmdline STR] > machine.yaml';

export interface ImportOptions {
  sysfs?: string;
  cmdline?: string;
  /** The time written in the header (tests fix it). */
  now?: Date;
}

/** When the tree is not the running system's there is no /proc/cmdline: what the tree itself
 * shows of the command line (groups exist on a VT-d unit: intel_iommu=on; every group's
 * default domain identity or DMA: passthrough or strict). */
function inferCmdline(sys: SysMachine, built: Built): string {
  const parts: string[] = [];
  const units = (built.topo.iommus as Out[] | undefined) ?? [];
  if (sys.groups.length > 0 && units.some((u) => u.type === 'intel-vtd')) parts.push('intel_iommu=on');
  const types = new Set(sys.groups.map((g) => g.type));
  if (types.size === 1 && types.has('identity')) parts.push('iommu.passthrough=1');
  if (types.size === 1 && types.has('DMA')) parts.push('iommu.strict=1');
  return parts.join(' ');
}

function boot(text: string): Machine {
  const r = loadTopology(text, '<import>');
  const errors = r.ok ? checkTopology(r.topology) : r.errors;
  if (!r.ok || errors.length > 0) {
    throw new CliError(`import: the topology made from this tree does not validate (a bug in import; please report it):\n${errors.map(formatDiagnostic).join('\n')}\n${text}`, 1);
  }
  return Machine.boot(r.topology);
}

function pciDevice(m: Machine, name: string): PciDevice | undefined {
  const d = m.devices.get(name);
  return d?.kind === 'pci' ? d : undefined;
}

/** Fixes (`slot: { bus }`) the secondary bus of every bridge the engine numbers otherwise,
 * from the top down: a bridge's own name depends on the buses above it. */
function settleBusNumbers(built: Built, render: () => string): void {
  for (let round = 0; round < 16; round++) {
    const m = boot(render());
    let changed = false;
    for (const { fn, out } of built.devices.values()) {
      const slot = out.slot as Out | undefined;
      if (fn.secondaryBus === undefined || slot?.bus !== undefined) continue;
      const d = pciDevice(m, fn.name);
      if (d === undefined) continue;
      if (d.fn.secondary && d.fn.secondary.number !== fn.secondaryBus) {
        out.slot = { bus: fn.secondaryBus, ...slot };
        changed = true;
      }
    }
    if (!changed) return;
  }
}

/** The keys the engine derives a default for (device model, NVMe namespaces: import-model-keys.ts;
 * `bars`, `rom`, `sriov.vf-bars`: import-resources.ts), each written where the machine
 * differs from what the engine built for the function; whether any was written. */
function keepModel(built: Built, m: Machine, notes: string[]): boolean {
  let wrote = false;
  for (const { fn, out, type } of built.devices.values()) {
    const d = pciDevice(m, fn.name);
    if (d === undefined) continue;
    const before = JSON.stringify(out);
    const linked = d.fn.spec.pcie && type !== 'rc-endpoint' && type !== 'rc-event-collector';
    modelKeys(fn.config, m.configBytes(d), out, linked);
    if (type === 'pci-bridge' || type === 'pcie-pci-bridge') chassisKey(fn.config, m.configBytes(d), out);
    notes.push(...resourceKeys(fn, out, d.fn));
    if (fn.classCode === 0x010802) nvmeKey(fn.namespaces, namespacesOf(d.fn), out);
    wrote ||= JSON.stringify(out) !== before;
  }
  return wrote;
}

/** `config:` for every function whose bytes the model does not build as the machine had them
 * (outside what the engine owns, config-raw.ts). */
function keepConfig(built: Built, m: Machine): number {
  let kept = 0;
  for (const { fn, out } of built.devices.values()) {
    if (fn.config.length < 256) continue;
    const d = pciDevice(m, fn.name);
    if (d === undefined) continue;
    const model = m.configBytes(d);
    if (fn.config.length > model.length) continue;
    const raw = new Uint8Array(model.length);
    raw.set(fn.config);
    const merged = overlayRawConfig(model, raw);
    if (merged.every((b, i) => b === model[i])) continue;
    // Keep the key last, after devices below, so the entry still reads from the top.
    out.config = configRows(raw);
    kept++;
  }
  return kept;
}

/** How the engine's groups differ from the tree's kernel/iommu_groups (members, default
 * domain type, reserved regions where the tree has them), one line each. */
function groupDifferences(sys: SysMachine, m: Machine): string[] {
  const show = (type: string, devices: string[], regions: string[] | undefined): string =>
    `${type}: ${[...devices].sort().join(' ')}${regions ? ` [${regions.join(', ')}]` : ''}`;
  const theirs = new Map(sys.groups.map((g) => [g.id, g]));
  const mine = new Map(m.sortedGroups().map((g) => [g.id, g]));
  const out: string[] = [];
  for (const id of [...new Set([...mine.keys(), ...theirs.keys()])].sort((a, b) => a - b)) {
    const t = theirs.get(id);
    const g = mine.get(id);
    const a = t && show(t.type ?? '?', t.devices, t.reservedRegions);
    const b = g && show(g.defaultType, memberNames(g), t?.reservedRegions && m.reservedRegionLines(g));
    if (a !== b) out.push(`group ${id}: machine ${a ?? '(none)'}; iommufs ${b ?? '(none)'}`);
  }
  return out;
}

export function importTopology(o: ImportOptions): { text: string; notes: string[] } {
  const dir = o.sysfs ?? '/sys';
  const real = resolve(dir) === '/sys';
  const sys = readSysfs(dir);
  const built = buildTopology(sys);
  let cmdline: string;
  let cmdlineFrom: string;
  if (o.cmdline !== undefined) {
    cmdline = o.cmdline;
    cmdlineFrom = 'given with --cmdline';
  } else if (real) {
    cmdline = readFileSync('/proc/cmdline', 'utf8').trim();
    cmdlineFrom = 'from /proc/cmdline';
  } else {
    cmdline = inferCmdline(sys, built);
    cmdlineFrom = 'inferred from the tree (IOMMU units, group types): a tree other than /sys has no /proc/cmdline; give --cmdline';
  }
  // Top-level keys in the format's order.
  const { version, name, arch, iommus, pci, drivers } = built.topo;
  const topo: Out = {
    version,
    name,
    description: `imported from ${resolve(dir)}`,
    ...(arch !== undefined ? { arch } : {}),
    cmdline,
    ...(iommus !== undefined ? { iommus } : {}),
    pci,
    ...(drivers !== undefined ? { drivers } : {}),
  };
  const date = (o.now ?? new Date()).toISOString().replace(/\.\d+Z$/, 'Z');
  const header = [
    real
      ? `iommufs import of /sys on ${hostname()} (kernel ${release()}), ${date}`
      : `iommufs import of ${resolve(dir)}, run on ${hostname()} (kernel ${release()}) at ${date}; the tree's own host and kernel are not recorded in it`,
    `cmdline: ${cmdlineFrom}`,
  ];
  const notes = [...built.caveats];
  const render = (): string => topologyYaml(topo, [...header, ...notes], built.notes);
  settleBusNumbers(built, render);
  let machine = boot(render());
  if (keepModel(built, machine, notes)) machine = boot(render());
  const kept = keepConfig(built, machine);
  if (kept > 0) header.push(`config: the bytes of ${kept} function(s) whose config space the model does not build as the machine had it`);
  if (sys.groups.length > 0 || machine.groups.size > 0) {
    const diff = groupDifferences(sys, machine);
    if (diff.length > 0) notes.push('warning: these groups differ from the machine\'s kernel/iommu_groups:', ...diff);
  }
  for (const u of sys.units) if (!(((topo.iommus as Out[] | undefined) ?? []).some((x) => x.name === u.name))) notes.push(`IOMMU unit ${u.name} left out: its type is not recognised`);
  const text = render();
  boot(text);
  return { text, notes };
}

export function importCommand(o: ImportOptions, io: Io): number {
  const { text, notes } = importTopology(o);
  io.out(text.replace(/\n$/, ''));
  for (const n of notes) io.err(`import: ${n}`);
  return 0;
}
