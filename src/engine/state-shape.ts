// The shape of a --state file (schema/state.schema.json says the same for editors and is
// checked against this code by test/unit/engine/state-schema.test.ts). Only types, keys and
// ranges are checked here; whether the names and values fit the machine is saved-state.ts's
// business. Every refusal names the place with a JSON path: $.devices["0000:01:00.0"].seq.

import type { DomainType } from './domain-type';
import type { DynId } from './drivers';
import type { GroupStep } from './types';
import type { DevicePm } from './power';
import { CLASS_DEVICE_NAMING } from './driver-traits';
import type { ClassDeviceKind } from './driver-traits';
import { RESET_METHOD_NAMES } from './pci-attrs';

export const STATE_VERSION = 2;

/** What a present PCI device carries. */
export interface SavedDevice {
  /** Add sequence: the order Linux added it to the bus (boot, rescan or VF enable). */
  seq: number;
  driver: string | null;
  /** driver_override, when one is set. */
  override?: string;
  /** numa_node, when it was written to something other than the topology's. */
  numaNode?: number;
  /** SR-IOV PFs: sriov_numvfs (VFs removed one by one still count, as in Linux). */
  numvfs?: number;
  /** SR-IOV PFs: sriov_drivers_autoprobe. */
  sriovAutoprobe?: boolean;
  /** Config bytes users wrote (offset → value): the rest of the image follows from the state. */
  config?: Record<string, number>;
  /**
   * Devices added after boot (rescan, VF enable): the grouping steps `explain` shows, which
   * were worked out over the devices present then, some maybe removed since.
   */
  steps?: GroupStep[];
  /** broken_parity_status, when written to 1. */
  brokenParity?: boolean;
  /** `rom` made readable (1 written). */
  romEnabled?: boolean;
  /** d3cold_allowed, once written. */
  d3coldAllowed?: boolean;
  /** msi_bus written to 0 (no_msi, or PCI_BUS_FLAGS_NO_MSI of a bridge's bus). */
  noMsi?: boolean;
  /** What `enable` writes added to enable_cnt (-1 for a bridge disabled once). */
  enables?: number;
  /** reset_method as written (null, the default, is left out). */
  resetMethods?: string[];
  /** What drivers left on the device (driver-effects.ts): it depends on the history of binds,
   * so it is kept as served. */
  effects?: SavedEffects;
}

/** A device's driver effects as served (DriverEffectsRegistry.snapshot). */
export interface SavedEffects {
  dmaMaskBits: number;
  powerKnown: boolean;
  wakeupCapable: boolean;
  /** The wakeup source's number (wakeup/wakeup<N>), if one is registered. */
  wakeup: number | null;
  vectors: Array<{ irq: number; kind: 'msi' | 'msix' }>;
  classDevices: Array<{ kind: Exclude<ClassDeviceKind, 'wakeup'>; index: number }>;
  /** An NVMe controller's namespace disks (driver-effects.ts BlockDisk). */
  disks?: Array<{ nsid: number; minor: number; generic: number; diskseq: number; settings?: Record<string, string | number> }>;
  /** An NVMe controller's written iopolicy and temperature thresholds (kelvins). */
  controller?: Record<string, string | number>;
}

export interface SavedGroup {
  id: number;
  type: DomainType;
  /** Members in the order they joined. */
  devices: string[];
}

export interface SavedMdev {
  uuid: string;
  parent: string;
  type: string;
  seq: number;
}

export interface SavedModule {
  name: string;
  params: Record<string, string>;
}

export interface SavedState {
  version: number;
  /** sha256 of the topology file's text: a state file only fits the machine it came from. */
  topology: string;
  driversAutoprobe: boolean;
  /** The add sequence number the next device gets. */
  nextSeq: number;
  /** Every present PCI device, by name; a topology device missing here was removed. */
  devices: Record<string, SavedDevice>;
  groups: SavedGroup[];
  dynIds: Record<string, DynId[]>;
  /** In creation order. */
  mdevs: SavedMdev[];
  /** /sys/bus/mdev/drivers_autoprobe, when written to 0. */
  mdevAutoprobe?: boolean;
  /** /sys/bus/pci/resource_alignment, when set. */
  resourceAlignment?: string;
  /** Functions rescans found again, one list per rescan, in order (their resources were
   * placed afresh). */
  rescans?: string[][];
  /** driver_override of platform devices, when set. */
  platformOverrides?: Record<string, string>;
  /** power/ settings that differ from what nobody's writes would give: by the kernel name of
   * the device (a PCI or platform device, an mdev, an IOMMU unit, a host bridge), then by
   * "" for its own power/, "pci_bus/SSSS:BB" for its bus, a port service's name. */
  power?: Record<string, Record<string, DevicePm>>;
  /** Loaded kernel modules in load order, with their parameters. */
  modules?: SavedModule[];
  /** Registered PCI drivers in registration order (the order probing tries them). */
  drivers?: string[];
  /** The last disk sequence number handed out (block/genhd.c diskseq never goes back). */
  diskseq?: number;
}

export class StateError extends Error {}

export const PCI_NAME = /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/;
export const LOWER_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SHA256 = /^[0-9a-f]{64}$/;
/** Things a driver or mdev type may be called (a module name, a directory name). */
const NAME = /^[A-Za-z0-9_.:+-]{1,64}$/;
const TYPES: readonly DomainType[] = ['identity', 'DMA', 'DMA-FQ', 'unknown'];
const STEP_KINDS: readonly GroupStep['kind'][] = ['alias', 'acs', 'alias-quirk', 'slot', 'new', 'platform', 'override'];
/** One line of `explain`: printable text, no line breaks. */
const STEP_TEXT = /^[^\0-\x1f\x7f]{1,2000}$/;
/** Group numbers are an IDA's: a non-negative int. */
const MAX_GROUP = 0x7fffffff;
const MAX_SEQ = Number.MAX_SAFE_INTEGER;
const U32 = 0xffffffff;
/** driver_set_override: at most PAGE_SIZE - 2 characters are kept. */
const MAX_OVERRIDE = 4094;
/** enable_cnt is an atomic_t. */
const MAX_INT = 0x7fffffff;
/** A module or parameter name (kmod normalizes '-' to '_'). */
const MODULE_NAME = /^[A-Za-z0-9_]{1,64}$/;
/** A power/ key: the device's own, its pci_bus's, or a port service's. */
const POWER_KEY = /^(|pci_bus\/[0-9a-f]{4}:[0-9a-f]{2}|[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]:pcie[0-9a-f]{3})$/;
/** A kernel device name the power map may name. */
const DEVICE_NAME = /^[^\0/]{1,64}$/;

/** `$` followed by `.key` or `["key"]` and `[3]`: the JSON path of a place in the file. */
export function jsonPath(base: string, key: string | number): string {
  if (typeof key === 'number') return `${base}[${key}]`;
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? `${base}.${key}` : `${base}[${JSON.stringify(key)}]`;
}

function fail(path: string, what: string): never {
  throw new StateError(`${path}: ${what}`);
}

function shown(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function object(v: unknown, path: string, required: readonly string[], optional: readonly string[] = []): Record<string, unknown> {
  if (!isRecord(v)) fail(path, `must be an object, got ${shown(v)}`);
  for (const k of Object.keys(v)) if (!required.includes(k) && !optional.includes(k)) fail(jsonPath(path, k), 'unknown key');
  for (const k of required) if (!(k in v)) fail(path, `"${k}" is missing`);
  return v;
}

function record(v: unknown, path: string, keyPattern: RegExp, what: string): Record<string, unknown> {
  if (!isRecord(v)) fail(path, `must be an object, got ${shown(v)}`);
  for (const k of Object.keys(v)) if (!keyPattern.test(k)) fail(jsonPath(path, k), `not ${what}`);
  return v;
}

function list(v: unknown, path: string): unknown[] {
  if (!Array.isArray(v)) fail(path, `must be a list, got ${shown(v)}`);
  return v;
}

function integer(v: unknown, path: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) fail(path, `must be an integer, got ${shown(v)}`);
  if (v < min || v > max) fail(path, `${v} is outside ${min}..${max}`);
  return v;
}

function boolean(v: unknown, path: string): boolean {
  if (typeof v !== 'boolean') fail(path, `must be true or false, got ${shown(v)}`);
  return v;
}

function string(v: unknown, path: string, pattern: RegExp, what: string): string {
  if (typeof v !== 'string') fail(path, `must be a string, got ${shown(v)}`);
  if (!pattern.test(v)) fail(path, `${shown(v)} is not ${what}`);
  return v;
}

/** driver_override as driver_set_override keeps it: no NUL, no trailing newline, not empty. */
function checkOverride(v: unknown, at: string): void {
  const s = string(v, at, /^[^\0]+$/, 'a driver_override (no NUL, not empty)');
  if (s.endsWith('\n')) fail(at, 'ends with a newline, which driver_override drops');
  if (s.length > MAX_OVERRIDE) fail(at, `longer than ${MAX_OVERRIDE} characters`);
}

function checkDevice(v: unknown, path: string): void {
  const o = object(v, path, ['seq', 'driver'], ['override', 'numaNode', 'numvfs', 'sriovAutoprobe', 'config', 'steps', 'brokenParity', 'romEnabled', 'd3coldAllowed', 'noMsi', 'enables', 'resetMethods', 'effects']);
  integer(o.seq, jsonPath(path, 'seq'), 0, MAX_SEQ);
  if (o.driver !== null) string(o.driver, jsonPath(path, 'driver'), NAME, 'a driver name');
  if ('override' in o) checkOverride(o.override, jsonPath(path, 'override'));
  if ('numaNode' in o) integer(o.numaNode, jsonPath(path, 'numaNode'), -1, MAX_GROUP);
  if ('numvfs' in o) integer(o.numvfs, jsonPath(path, 'numvfs'), 0, 0xffff);
  if ('sriovAutoprobe' in o) boolean(o.sriovAutoprobe, jsonPath(path, 'sriovAutoprobe'));
  if ('config' in o) {
    const at = jsonPath(path, 'config');
    const c = record(o.config, at, /^(0|[1-9][0-9]{0,2}|[1-3][0-9]{3}|40[0-8][0-9]|409[0-5])$/, 'a config offset (decimal, 0..4095)');
    for (const [k, b] of Object.entries(c)) integer(b, jsonPath(at, k), 0, 255);
  }
  if ('steps' in o) list(o.steps, jsonPath(path, 'steps')).forEach((step, i) => checkStep(step, jsonPath(jsonPath(path, 'steps'), i)));
  for (const k of ['brokenParity', 'romEnabled', 'd3coldAllowed', 'noMsi']) if (k in o) boolean(o[k], jsonPath(path, k));
  if ('enables' in o) integer(o.enables, jsonPath(path, 'enables'), -1, MAX_INT);
  if ('resetMethods' in o) {
    const at = jsonPath(path, 'resetMethods');
    const seen = new Set<string>();
    list(o.resetMethods, at).forEach((x, i) => {
      // reset_method_store refuses a name twice.
      const name = string(x, jsonPath(at, i), new RegExp(`^(${RESET_METHOD_NAMES.join('|')})$`), `a reset method (${RESET_METHOD_NAMES.join(', ')})`);
      if (seen.has(name)) fail(jsonPath(at, i), `${name} is listed twice`);
      seen.add(name);
    });
  }
  if ('effects' in o) checkEffects(o.effects, jsonPath(path, 'effects'));
}

function checkEffects(v: unknown, path: string): void {
  const o = object(v, path, ['dmaMaskBits', 'powerKnown', 'wakeupCapable', 'wakeup', 'vectors', 'classDevices'], ['disks', 'controller']);
  integer(o.dmaMaskBits, jsonPath(path, 'dmaMaskBits'), 24, 64);
  boolean(o.powerKnown, jsonPath(path, 'powerKnown'));
  boolean(o.wakeupCapable, jsonPath(path, 'wakeupCapable'));
  if (o.wakeup !== null) integer(o.wakeup, jsonPath(path, 'wakeup'), 0, MAX_GROUP);
  list(o.vectors, jsonPath(path, 'vectors')).forEach((x, i) => {
    const at = jsonPath(jsonPath(path, 'vectors'), i);
    const vec = object(x, at, ['irq', 'kind']);
    integer(vec.irq, jsonPath(at, 'irq'), 0, MAX_GROUP);
    string(vec.kind, jsonPath(at, 'kind'), /^msix?$/, 'msi or msix');
  });
  const kinds = Object.keys(CLASS_DEVICE_NAMING).filter((k) => k !== 'wakeup');
  list(o.classDevices, jsonPath(path, 'classDevices')).forEach((x, i) => {
    const at = jsonPath(jsonPath(path, 'classDevices'), i);
    const c = object(x, at, ['kind', 'index']);
    string(c.kind, jsonPath(at, 'kind'), new RegExp(`^(${kinds.join('|')})$`), `a class device kind (${kinds.join(', ')})`);
    integer(c.index, jsonPath(at, 'index'), 0, MAX_GROUP);
  });
  if ('controller' in o) {
    const at = jsonPath(path, 'controller');
    const c = object(o.controller, at, [], ['iopolicy', 'temp1_max', 'temp1_min']);
    if ('iopolicy' in c) string(c.iopolicy, jsonPath(at, 'iopolicy'), /^(numa|round-robin)$/, 'numa or round-robin');
    for (const k of ['temp1_max', 'temp1_min']) if (k in c) integer(c[k], jsonPath(at, k), 0, 0xffff);
  }
  if ('disks' in o) {
    list(o.disks, jsonPath(path, 'disks')).forEach((x, i) => {
      const at = jsonPath(jsonPath(path, 'disks'), i);
      const k = object(x, at, ['nsid', 'minor', 'generic', 'diskseq'], ['settings']);
      if ('settings' in k) settingValues(k.settings, jsonPath(at, 'settings'), /^[a-z_]{1,32}$/);
      integer(k.nsid, jsonPath(at, 'nsid'), i + 1, i + 1);
      // MINORMASK: 20-bit minors.
      integer(k.minor, jsonPath(at, 'minor'), 0, 0xfffff);
      integer(k.generic, jsonPath(at, 'generic'), 0, 0xfffff);
      integer(k.diskseq, jsonPath(at, 'diskseq'), 1, Number.MAX_SAFE_INTEGER);
    });
  }
}

/** Written attribute values by name: short text or integers (their stores check them again). */
function settingValues(v: unknown, path: string, key: RegExp): void {
  for (const [name, x] of Object.entries(record(v, path, key, 'an attribute name'))) {
    const ok = (typeof x === 'number' && Number.isSafeInteger(x)) || (typeof x === 'string' && x.length <= 64);
    if (!ok) fail(jsonPath(path, name), `must be an integer or a short text, got ${shown(x)}`);
  }
}

function checkPower(v: unknown, path: string): void {
  const byDevice = record(v, path, DEVICE_NAME, 'a device name');
  for (const [name, keys] of Object.entries(byDevice)) {
    const at = jsonPath(path, name);
    for (const [key, pm] of Object.entries(record(keys, at, POWER_KEY, 'a power/ key ("", "pci_bus/SSSS:BB" or a port service name)'))) {
      const o = object(pm, jsonPath(at, key), ['runtimeAuto', 'asyncSuspend', 'wakeupEnabled']);
      for (const k of Object.keys(o)) boolean(o[k], jsonPath(jsonPath(at, key), k));
    }
  }
}

function checkModule(v: unknown, path: string): void {
  const o = object(v, path, ['name', 'params']);
  string(o.name, jsonPath(path, 'name'), MODULE_NAME, 'a module name (with _, not -)');
  const params = record(o.params, jsonPath(path, 'params'), MODULE_NAME, 'a parameter name');
  // param_attr_store takes at most a page.
  for (const [k, p] of Object.entries(params)) string(p, jsonPath(jsonPath(path, 'params'), k), /^[^\0\n]{0,4095}$/, 'a parameter value (one line, no NUL)');
}

function checkStep(v: unknown, path: string): void {
  const o = object(v, path, ['kind', 'text'], ['joined']);
  if (!STEP_KINDS.includes(o.kind as GroupStep['kind'])) fail(jsonPath(path, 'kind'), `${shown(o.kind)} is not one of ${STEP_KINDS.join(', ')}`);
  string(o.text, jsonPath(path, 'text'), STEP_TEXT, 'one line of text (at most 2000 characters)');
  if ('joined' in o) string(o.joined, jsonPath(path, 'joined'), PCI_NAME, 'a PCI device name');
}

function checkGroup(v: unknown, path: string): void {
  const o = object(v, path, ['id', 'type', 'devices']);
  integer(o.id, jsonPath(path, 'id'), 0, MAX_GROUP);
  if (!TYPES.includes(o.type as DomainType)) fail(jsonPath(path, 'type'), `${shown(o.type)} is not one of ${TYPES.join(', ')}`);
  const members = list(o.devices, jsonPath(path, 'devices'));
  if (members.length === 0) fail(jsonPath(path, 'devices'), 'a group has at least one device');
  members.forEach((d, i) => string(d, jsonPath(jsonPath(path, 'devices'), i), /^[^\0/]{1,64}$/, 'a device name'));
}

function checkDynId(v: unknown, path: string): void {
  const o = object(v, path, ['vendor', 'device', 'subvendor', 'subdevice', 'classCode', 'classMask']);
  for (const k of Object.keys(o)) integer(o[k], jsonPath(path, k), 0, U32);
}

function checkMdev(v: unknown, path: string): void {
  const o = object(v, path, ['uuid', 'parent', 'type', 'seq']);
  string(o.uuid, jsonPath(path, 'uuid'), LOWER_UUID, 'a UUID in lower case');
  string(o.parent, jsonPath(path, 'parent'), PCI_NAME, 'a PCI device name');
  string(o.type, jsonPath(path, 'type'), NAME, 'an mdev type name');
  integer(o.seq, jsonPath(path, 'seq'), 0, MAX_SEQ);
}

/**
 * Checks the shape of a parsed state file and that it was written for this topology;
 * throws StateError saying what is wrong and where.
 */
export function checkStateShape(v: unknown, fingerprint: string): SavedState {
  const $ = '$';
  if (isRecord(v) && v.version !== STATE_VERSION) {
    fail(jsonPath($, 'version'), `${shown(v.version)} is not ${STATE_VERSION}${v.version === 1 ? ' (written by an older iommufs, which did not keep group numbers: remove the file)' : ''}`);
  }
  const o = object(v, $, ['version', 'topology', 'driversAutoprobe', 'nextSeq', 'devices', 'groups', 'dynIds', 'mdevs'], ['mdevAutoprobe', 'resourceAlignment', 'rescans', 'platformOverrides', 'power', 'modules', 'drivers', 'diskseq']);
  if ('diskseq' in o) integer(o.diskseq, jsonPath($, 'diskseq'), 0, Number.MAX_SAFE_INTEGER);
  string(o.topology, jsonPath($, 'topology'), SHA256, 'a sha256 in hex');
  if (o.topology !== fingerprint) fail(jsonPath($, 'topology'), 'it was written for a different topology file');
  boolean(o.driversAutoprobe, jsonPath($, 'driversAutoprobe'));
  integer(o.nextSeq, jsonPath($, 'nextSeq'), 0, MAX_SEQ);
  const devices = record(o.devices, jsonPath($, 'devices'), PCI_NAME, 'a PCI device name (0000:00:00.0)');
  for (const [name, d] of Object.entries(devices)) checkDevice(d, jsonPath(jsonPath($, 'devices'), name));
  list(o.groups, jsonPath($, 'groups')).forEach((g, i) => checkGroup(g, jsonPath(jsonPath($, 'groups'), i)));
  const dyn = record(o.dynIds, jsonPath($, 'dynIds'), NAME, 'a driver name');
  for (const [name, ids] of Object.entries(dyn)) {
    const at = jsonPath(jsonPath($, 'dynIds'), name);
    list(ids, at).forEach((id, i) => checkDynId(id, jsonPath(at, i)));
  }
  list(o.mdevs, jsonPath($, 'mdevs')).forEach((x, i) => checkMdev(x, jsonPath(jsonPath($, 'mdevs'), i)));
  if ('mdevAutoprobe' in o) boolean(o.mdevAutoprobe, jsonPath($, 'mdevAutoprobe'));
  if ('resourceAlignment' in o) {
    // resource_alignment_store keeps up to the first newline, less than PAGE_SIZE - 1 bytes.
    string(o.resourceAlignment, jsonPath($, 'resourceAlignment'), /^[^\0\n]{1,4094}$/, 'a resource_alignment (one line, no NUL, not empty)');
  }
  if ('rescans' in o) {
    list(o.rescans, jsonPath($, 'rescans')).forEach((r, i) => list(r, jsonPath(jsonPath($, 'rescans'), i)).forEach((n, k) => string(n, jsonPath(jsonPath(jsonPath($, 'rescans'), i), k), PCI_NAME, 'a PCI device name (0000:00:00.0)')));
  }
  if ('platformOverrides' in o) {
    const at = jsonPath($, 'platformOverrides');
    for (const [name, x] of Object.entries(record(o.platformOverrides, at, DEVICE_NAME, 'a device name'))) checkOverride(x, jsonPath(at, name));
  }
  if ('power' in o) checkPower(o.power, jsonPath($, 'power'));
  if ('modules' in o) list(o.modules, jsonPath($, 'modules')).forEach((x, i) => checkModule(x, jsonPath(jsonPath($, 'modules'), i)));
  if ('drivers' in o) list(o.drivers, jsonPath($, 'drivers')).forEach((x, i) => string(x, jsonPath(jsonPath($, 'drivers'), i), NAME, 'a driver name'));
  return o as unknown as SavedState;
}
