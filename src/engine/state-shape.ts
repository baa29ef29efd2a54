// The shape of a --state file (schema/state.schema.json says the same for editors and is
// checked against this code by test/unit/engine/state-schema.test.ts). Only types, keys and
// ranges are checked here; whether the names and values fit the machine is saved-state.ts's
// business. Every refusal names the place with a JSON path: $.devices["0000:01:00.0"].seq.

import type { DomainType } from './domain-type';
import type { DynId } from './drivers';
import type { GroupStep } from './types';

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

function checkDevice(v: unknown, path: string): void {
  const o = object(v, path, ['seq', 'driver'], ['override', 'numaNode', 'numvfs', 'sriovAutoprobe', 'config', 'steps']);
  integer(o.seq, jsonPath(path, 'seq'), 0, MAX_SEQ);
  if (o.driver !== null) string(o.driver, jsonPath(path, 'driver'), NAME, 'a driver name');
  if ('override' in o) {
    const at = jsonPath(path, 'override');
    // What driver_override keeps: no NUL, no trailing newline, not empty (empty clears it).
    const s = string(o.override, at, /^[^\0]+$/, 'a driver_override (no NUL, not empty)');
    if (s.endsWith('\n')) fail(at, 'ends with a newline, which driver_override drops');
    if (s.length > MAX_OVERRIDE) fail(at, `longer than ${MAX_OVERRIDE} characters`);
  }
  if ('numaNode' in o) integer(o.numaNode, jsonPath(path, 'numaNode'), -1, MAX_GROUP);
  if ('numvfs' in o) integer(o.numvfs, jsonPath(path, 'numvfs'), 0, 0xffff);
  if ('sriovAutoprobe' in o) boolean(o.sriovAutoprobe, jsonPath(path, 'sriovAutoprobe'));
  if ('config' in o) {
    const at = jsonPath(path, 'config');
    const c = record(o.config, at, /^(0|[1-9][0-9]{0,2}|[1-3][0-9]{3}|40[0-8][0-9]|409[0-5])$/, 'a config offset (decimal, 0..4095)');
    for (const [k, b] of Object.entries(c)) integer(b, jsonPath(at, k), 0, 255);
  }
  if ('steps' in o) list(o.steps, jsonPath(path, 'steps')).forEach((step, i) => checkStep(step, jsonPath(jsonPath(path, 'steps'), i)));
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
  const o = object(v, $, ['version', 'topology', 'driversAutoprobe', 'nextSeq', 'devices', 'groups', 'dynIds', 'mdevs']);
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
  return o as unknown as SavedState;
}
