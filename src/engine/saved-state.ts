// What users wrote, kept across restarts (`iommufs mount --state FILE`): driver bindings and
// overrides, dynamic IDs, SR-IOV counts, removed devices, group types and autoprobe switches.
// The engine turns a machine into this plain value and back; reading and writing the file is
// the command line's job.

import { createHash } from 'node:crypto';
import type { DomainType } from './domain-type';
import type { DynId } from './drivers';
import { removeSubtree } from './hotplug';
import type { Machine } from './machine';
import { enableVfs } from './sriov';
import type { PciDevice } from './types';

export const STATE_VERSION = 1;

export interface SavedState {
  version: number;
  /** sha256 of the topology file's text: a state file only fits the machine it came from. */
  topology: string;
  driversAutoprobe: boolean;
  removed: string[];
  numvfs: Record<string, number>;
  sriovAutoprobe: Record<string, boolean>;
  drivers: Record<string, string | null>;
  overrides: Record<string, string>;
  numaNodes: Record<string, number>;
  dynIds: Record<string, DynId[]>;
  /** Group types, keyed by a member device (group numbers are not stable across removals). */
  types: Record<string, DomainType>;
}

export function topologyFingerprint(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function pciDevices(m: Machine): PciDevice[] {
  return m.pciDevicesInOrder();
}

export function captureState(m: Machine, fingerprint: string): SavedState {
  const present = new Set(pciDevices(m).map((d) => d.name));
  const removed = m.pci.addOrder.filter((f) => !present.has(f.name)).map((f) => f.name);
  const s: SavedState = {
    version: STATE_VERSION,
    topology: fingerprint,
    driversAutoprobe: m.driversAutoprobe,
    removed,
    numvfs: {},
    sriovAutoprobe: {},
    drivers: {},
    overrides: {},
    numaNodes: {},
    dynIds: {},
    types: {},
  };
  for (const d of pciDevices(m)) {
    if (d.fn.spec.sriov && !d.fn.physfn) {
      if (m.vfCount(d) > 0) s.numvfs[d.name] = m.vfCount(d);
      if (!d.sriovAutoprobe) s.sriovAutoprobe[d.name] = false;
    }
    s.drivers[d.name] = d.driver;
    if (d.driverOverride !== null) s.overrides[d.name] = d.driverOverride;
    if (d.numaNode !== d.fn.spec.numaNode) s.numaNodes[d.name] = d.numaNode;
  }
  for (const drv of m.drivers.values()) if (drv.dynIds.length > 0) s.dynIds[drv.name] = drv.dynIds.map((x) => ({ ...x }));
  for (const g of m.sortedGroups()) s.types[g.devices[0]!.name] = g.defaultType;
  return s;
}

export class StateError extends Error {}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Checks the shape of a parsed state file; throws StateError with what is wrong. */
export function checkState(v: unknown, fingerprint: string): SavedState {
  if (!isRecord(v)) throw new StateError('not a JSON object');
  if (v.version !== STATE_VERSION) throw new StateError(`version ${JSON.stringify(v.version)} is not ${STATE_VERSION}`);
  if (v.topology !== fingerprint) throw new StateError('it was written for a different topology file');
  for (const key of ['numvfs', 'sriovAutoprobe', 'drivers', 'overrides', 'numaNodes', 'dynIds', 'types']) {
    if (!isRecord(v[key])) throw new StateError(`"${key}" must be an object`);
  }
  if (!Array.isArray(v.removed) || !v.removed.every((x) => typeof x === 'string')) throw new StateError('"removed" must be a list of device names');
  if (typeof v.driversAutoprobe !== 'boolean') throw new StateError('"driversAutoprobe" must be true or false');
  return v as unknown as SavedState;
}

/** Replays a saved state on a freshly booted machine. Unknown names are reported, not fatal. */
export function restoreState(m: Machine, s: SavedState): string[] {
  const problems: string[] = [];
  const pci = (name: string): PciDevice | undefined => {
    const d = m.devices.get(name);
    if (d && d.kind === 'pci') return d;
    problems.push(`no device ${name}`);
    return undefined;
  };
  for (const name of s.removed) {
    const d = m.devices.get(name);
    if (d && d.kind === 'pci') removeSubtree(m, d);
  }
  for (const [name, dyn] of Object.entries(s.dynIds)) {
    const drv = m.drivers.get(name);
    if (drv) drv.dynIds.push(...dyn);
    else problems.push(`no driver ${name}`);
  }
  for (const [name, on] of Object.entries(s.sriovAutoprobe)) {
    const d = pci(name);
    if (d) d.sriovAutoprobe = on;
  }
  for (const [name, n] of Object.entries(s.numvfs)) {
    const d = pci(name);
    if (d && d.fn.spec.sriov && m.vfCount(d) === 0 && n > 0 && n <= d.fn.spec.sriov.total) enableVfs(m, d, n);
  }
  for (const [name, override] of Object.entries(s.overrides)) {
    const d = pci(name);
    if (d) d.driverOverride = override;
  }
  for (const [name, node] of Object.entries(s.numaNodes)) {
    const d = pci(name);
    if (d) d.numaNode = node;
  }
  for (const [name, driver] of Object.entries(s.drivers)) {
    const d = m.devices.get(name);
    if (!d || d.kind !== 'pci') continue;
    if (driver === null) {
      if (d.driver !== null) m.detachDriver(d);
    } else if (m.drivers.has(driver)) {
      if (d.driver !== driver) {
        if (d.driver !== null) m.detachDriver(d);
        m.attachDriver(d, m.drivers.get(driver)!);
      }
    } else problems.push(`no driver ${driver} for ${name}`);
  }
  for (const [name, type] of Object.entries(s.types)) {
    const g = m.devices.get(name)?.group;
    if (g) g.defaultType = type;
  }
  m.driversAutoprobe = s.driversAutoprobe;
  return problems;
}
