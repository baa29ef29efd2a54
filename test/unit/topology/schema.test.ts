// schema/topology.schema.json and the loader stay in step: every topology under
// topologies/ passes both, the structural bad fixtures fail both, and both know the
// same keys and words at every level.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import Ajv from 'ajv';
import { parseDocument } from 'yaml';
import { MDEV_KEYS, PCI_TYPE_NAMES, SLOT_KEYS, SRIOV_KEYS } from '../../../src/topology/device-fields';
import { ARCHES, TOP_KEYS, loadTopology } from '../../../src/topology/load';
import { formatDiagnostic } from '../../../src/topology/model';
import { DEVICE_KEYS } from '../../../src/topology/read-devices';
import { ARCH_IOMMU_TYPES, IOMMU_KEYS, IOMMU_TYPES, REGION_KINDS, RESERVED_KEYS } from '../../../src/topology/read-iommus';
import { ROOT_BUS_KEYS } from '../../../src/topology/read-pci';
import { DRIVER_KEYS, PLATFORM_KEYS } from '../../../src/topology/read-platform';
import { ACS_FLAGS } from '../../../src/topology/values';

const ROOT = resolve(__dirname, '../../../..');
const schema: unknown = JSON.parse(readFileSync(join(ROOT, 'schema/topology.schema.json'), 'utf8'));
const ajv = new Ajv({ allErrors: true });
const validate = ajv.compile(schema as object);

/** Bad fixtures whose problem only the loader can see (addresses, bus numbers, cross references, YAML syntax). */
const LOADER_ONLY = new Set([
  '01-yaml-syntax.yaml',
  '02-duplicate-key.yaml',
  '07-same-address.yaml',
  '08-bus-fixed-twice.yaml',
  '09-bus-root-collision.yaml',
  '10-no-function-0.yaml',
  '11-multifunction-false.yaml',
  '13-pcie-below-conventional.yaml',
  '17-root-iommu-unknown.yaml',
  '28-only-one-child.yaml',
  '34-yaml-multidoc.yaml',
  // Refused by what boot would trip on (src/pci/check.ts), after the loader accepted them.
  '35-sriov-vfs-beyond-bus-range.yaml',
  '36-sriov-vf-collides.yaml',
  '37-sriov-vf-on-bridge-bus.yaml',
  '38-platform-pci-name.yaml',
]);

function at(value: unknown, ...path: string[]): Record<string, unknown> {
  let cur = value;
  for (const p of path) {
    assert.ok(cur !== null && typeof cur === 'object', `no ${p} in schema`);
    cur = (cur as Record<string, unknown>)[p];
  }
  assert.ok(cur !== null && typeof cur === 'object', `schema path ${path.join('/')} is not an object`);
  return cur as Record<string, unknown>;
}

function keys(...path: string[]): string[] {
  return Object.keys(at(schema, ...path)).sort();
}

function schemaErrors(): string {
  return (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ''}`).join('; ');
}

const topologies = readdirSync(join(ROOT, 'topologies')).filter((f) => f.endsWith('.yaml'));

test('there are topologies to check', () => {
  assert.ok(topologies.length > 0);
});

for (const f of topologies) {
  test(`topologies/${f} passes the loader and the schema`, () => {
    const text = readFileSync(join(ROOT, 'topologies', f), 'utf8');
    const r = loadTopology(text, `topologies/${f}`);
    assert.ok(r.ok, r.ok ? '' : r.errors.map(formatDiagnostic).join('\n'));
    assert.ok(validate(parseDocument(text).toJS()), schemaErrors());
  });
}

const badDir = join(ROOT, 'test/fixtures/bad-topologies');
for (const f of readdirSync(badDir).filter((n) => n.endsWith('.yaml') && !LOADER_ONLY.has(n))) {
  test(`bad-topologies/${f} is refused by the schema too`, () => {
    const text = readFileSync(join(badDir, f), 'utf8');
    const doc = parseDocument(text, { uniqueKeys: false });
    assert.equal(doc.errors.length, 0, 'fixture should be valid YAML');
    assert.equal(validate(doc.toJS()), false);
    assert.equal(loadTopology(text, f).ok, false);
  });
}

test('the schema and the loader accept the same keys at every level', () => {
  const sorted = (xs: readonly string[]): string[] => [...xs].sort();
  assert.deepEqual(keys('properties'), sorted(TOP_KEYS));
  assert.deepEqual(keys('definitions', 'iommu', 'properties'), sorted(IOMMU_KEYS));
  assert.deepEqual(keys('definitions', 'iommu', 'properties', 'reserved', 'items', 'properties'), sorted(RESERVED_KEYS));
  assert.deepEqual(keys('definitions', 'rootBus', 'properties'), sorted(ROOT_BUS_KEYS));
  assert.deepEqual(keys('definitions', 'device', 'properties'), sorted(DEVICE_KEYS));
  assert.deepEqual(keys('definitions', 'device', 'properties', 'sriov', 'properties'), sorted(SRIOV_KEYS));
  assert.deepEqual(keys('definitions', 'device', 'properties', 'mdev', 'items', 'properties'), sorted(MDEV_KEYS));
  assert.deepEqual(keys('definitions', 'device', 'properties', 'slot', 'properties'), sorted(SLOT_KEYS));
  assert.deepEqual(keys('definitions', 'platformDevice', 'properties'), sorted(PLATFORM_KEYS));
  assert.deepEqual(keys('definitions', 'driver', 'properties'), sorted(DRIVER_KEYS));
});

test('the schema and the loader know the same words', () => {
  assert.deepEqual(at(schema, 'properties', 'arch')['enum'], [...ARCHES]);
  assert.deepEqual(at(schema, 'definitions', 'iommu', 'properties', 'type')['enum'], [...IOMMU_TYPES]);
  assert.deepEqual(at(schema, 'definitions', 'iommu', 'properties', 'reserved', 'items', 'properties', 'kind')['enum'], [...REGION_KINDS]);
  assert.deepEqual(at(schema, 'definitions', 'device', 'properties', 'type')['enum'], [...PCI_TYPE_NAMES]);
  const acsList = at(schema, 'definitions', 'device', 'properties', 'acs', 'oneOf', '1', 'items')['enum'];
  assert.deepEqual(acsList, [...ACS_FLAGS]);
  const rules = at(schema, 'allOf') as unknown as unknown[];
  const perArch = rules.map((rule) => [
    at(rule, 'if', 'properties', 'arch')['const'],
    at(rule, 'then', 'properties', 'iommus', 'items', 'properties', 'type')['enum'],
  ]);
  assert.deepEqual(
    perArch,
    ARCHES.map((a) => [a, [...ARCH_IOMMU_TYPES[a]]]),
  );
});

test('the schema refuses a device key out of range and a missing class, as the loader does', () => {
  for (const text of [
    'version: 1\npci:\n  - devices:\n      "20.0": { id: 8086:10d3, class: 0x020000 }\n',
    'version: 1\npci:\n  - devices:\n      "02.0": { id: 8086:10d3 }\n',
    'version: 1\npci:\n  - devices:\n      "02.0": { id: 8086:10d3, class: 0x020000, devices: {} }\n',
  ]) {
    assert.equal(validate(parseDocument(text).toJS()), false, text);
    assert.equal(loadTopology(text, 'x.yaml').ok, false, text);
  }
});
