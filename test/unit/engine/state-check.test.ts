// Damaged --state files: each is refused with a StateError naming what is wrong and where
// (a JSON path), before anything is served. The hand-written shape check and
// schema/state.schema.json agree: every structural damage fails both, every damage only the
// machine can see passes the schema, and states captured after random writes pass both.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Ajv from 'ajv';
import { captureState, checkStateShape, restoreState, StateError, topologyFingerprint } from '../../../src/engine/saved-state';
import type { SavedState } from '../../../src/engine/saved-state';
import { ROOT, TOPOLOGIES } from '../../helpers/paths';
import { DOMAINS_TOPOLOGY } from './domains-fixture';
import { applyRandom, bootText, randomWrite, rng, write } from './state-writes';

const SRIOV = readFileSync(join(TOPOLOGIES, 'qemu-sriov.yaml'), 'utf8');
const FP = topologyFingerprint(SRIOV);
const ajv = new Ajv({ allErrors: true });
const schemaValid = ajv.compile(JSON.parse(readFileSync(join(ROOT, 'schema/state.schema.json'), 'utf8')) as object);

type State = SavedState;
type Key = string | number;

/** The JSON value at a path inside a parsed state (objects and lists only). */
function at(v: unknown, path: readonly Key[]): Record<Key, unknown> {
  let cur = v;
  for (const k of path) cur = (cur as Record<Key, unknown>)[k];
  assert.ok(typeof cur === 'object' && cur !== null, `nothing at ${path.join('/')}`);
  return cur as Record<Key, unknown>;
}

/** Sets (or, with no value, deletes) the key at the end of a path; returns the state. */
function set(s: State, path: readonly Key[], ...value: unknown[]): State {
  const parent = at(s, path.slice(0, -1));
  const k = path[path.length - 1]!;
  if (value.length === 0) delete parent[k];
  else parent[k] = value[0];
  return s;
}

/** A good state of qemu-sriov: nvme bound with 2 VFs, 02:00.0 removed, a config write, a
 * port's power/ and one of its services', enable and reset_method of 03:00.0, a module
 * parameter and pci_stub unloaded. */
function baseline(): State {
  const m = bootText(SRIOV);
  write(m, 'bus/pci/drivers/nvme/bind', '0000:01:00.0\n');
  write(m, 'bus/pci/devices/0000:01:00.0/sriov_numvfs', '2\n');
  write(m, 'bus/pci/devices/0000:02:00.0/remove', '1\n');
  write(m, 'bus/pci/devices/0000:03:00.0/config', Buffer.from([0x07]), 4);
  write(m, 'bus/pci/devices/0000:00:02.1/power/control', 'auto\n');
  write(m, 'devices/pci0000:00/0000:00:02.1/0000:00:02.1:pcie002/power/async', 'disabled\n');
  write(m, 'bus/pci/devices/0000:03:00.0/enable', '1\n');
  write(m, 'bus/pci/devices/0000:03:00.0/reset_method', 'pm\n');
  write(m, 'module/vfio_iommu_type1/parameters/allow_unsafe_interrupts', 'Y\n');
  write(m, 'kernel/debug/iommufs/unload_module', 'pci_stub\n');
  return JSON.parse(JSON.stringify(captureState(m, FP))) as State;
}

function restore(state: unknown, text = SRIOV): void {
  restoreState(bootText(text), checkStateShape(state, topologyFingerprint(text)));
}

function groupIndexOf(s: State, name: string): number {
  return s.groups.findIndex((g) => g.devices.includes(name));
}

/** [what, damage, where the message must point, whether only the machine can tell]. */
const CASES: [string, (s: State) => unknown, string, boolean][] = [
  ['not an object', () => [1, 2], '$: must be an object', false],
  ['version 1 (an older file)', (s) => ({ ...s, version: 1 }), '$.version: 1 is not 2', false],
  ['another topology', (s) => ({ ...s, topology: 'f'.repeat(64) }), '$.topology: it was written for a different topology', false],
  ['an unknown key', (s) => ({ ...s, owners: {} }), '$.owners: unknown key', false],
  ['a key missing', (s) => set(s, ['mdevs']), '$: "mdevs" is missing', false],
  ['dynIds a number', (s) => ({ ...s, dynIds: { 'vfio-pci': 5 } }), '$.dynIds["vfio-pci"]: must be a list', false],
  ['a dynId field out of range', (s) => ({ ...s, dynIds: { 'vfio-pci': [{ vendor: 0x1_0000_0000, device: 1, subvendor: 0, subdevice: 0, classCode: 0, classMask: 0 }] } }), '$.dynIds["vfio-pci"][0].vendor', false],
  ['group type pwned', (s) => set(s, ['groups', 0, 'type'], 'pwned'), '$.groups[0].type: "pwned" is not one of', false],
  ['numa_node "abc"', (s) => set(s, ['devices', '0000:01:00.0', 'numaNode'], 'abc'), '$.devices["0000:01:00.0"].numaNode: must be an integer', false],
  ['numvfs 2.5', (s) => set(s, ['devices', '0000:01:00.0', 'numvfs'], 2.5), '$.devices["0000:01:00.0"].numvfs: must be an integer', false],
  ['a device name that is not one', (s) => set(s, ['devices', '01:00.0'], { seq: 99, driver: null }), '$.devices["01:00.0"]: not a PCI device name', false],
  ['an override with a NUL', (s) => set(s, ['devices', '0000:03:00.0', 'override'], 'vfio\u0000pci'), '$.devices["0000:03:00.0"].override', false],
  ['a config byte of 300', (s) => set(s, ['devices', '0000:03:00.0', 'config'], { 4: 300 }), '$.devices["0000:03:00.0"].config["4"]: 300 is outside 0..255', false],
  ['an mdev uuid in upper case', (s) => set(s, ['mdevs'], [{ uuid: 'AAAAAAAA-2222-4333-8444-555555555555', parent: '0000:01:00.0', type: 'x', seq: 1 }]), '$.mdevs[0].uuid', false],
  ['a group without devices', (s) => set(s, ['groups', 0, 'devices'], []), '$.groups[0].devices: a group has at least one device', false],
  ['enables below -1', (s) => set(s, ['devices', '0000:03:00.0', 'enables'], -2), '$.devices["0000:03:00.0"].enables: -2 is outside -1..2147483647', false],
  ['a reset method twice', (s) => set(s, ['devices', '0000:03:00.0', 'resetMethods'], ['pm', 'pm']), '$.devices["0000:03:00.0"].resetMethods[1]: pm is listed twice', false],
  ['a reset method Linux does not have', (s) => set(s, ['devices', '0000:03:00.0', 'resetMethods'], ['reboot']), '$.devices["0000:03:00.0"].resetMethods[0]: "reboot" is not a reset method', false],
  ['d3coldAllowed a number', (s) => set(s, ['devices', '0000:03:00.0', 'd3coldAllowed'], 1), '$.devices["0000:03:00.0"].d3coldAllowed: must be true or false', false],
  ['power/control a string', (s) => set(s, ['power', '0000:00:02.1', '', 'runtimeAuto'], 'auto'), '$.power["0000:00:02.1"][""].runtimeAuto: must be true or false', false],
  ['a power/ key that is no device\'s', (s) => set(s, ['power', '0000:00:02.1', 'pci_bus/1'], { runtimeAuto: true, asyncSuspend: true, wakeupEnabled: false }), '$.power["0000:00:02.1"]["pci_bus/1"]: not a power/ key', false],
  ['a module name with a dash', (s) => set(s, ['modules', 0, 'name'], 'vfio-pci'), '$.modules[0].name: "vfio-pci" is not a module name', false],
  ['a module parameter over two lines', (s) => set(s, ['modules', 1, 'params', 'dma_entry_limit'], '1\n2'), '$.modules[1].params.dma_entry_limit: ', false],
  ['mdev drivers_autoprobe a number', (s) => ({ ...s, mdevAutoprobe: 0 }), '$.mdevAutoprobe: must be true or false', false],
  ['resource_alignment over two lines', (s) => ({ ...s, resourceAlignment: 'a\nb' }), '$.resourceAlignment: ', false],
  ['a platform override with a NUL', (s) => ({ ...s, platformOverrides: { x: 'a\u0000' } }), '$.platformOverrides.x: ', false],
  // Only the machine can tell these.
  ['nvme bound to the SATA controller', (s) => set(s, ['devices', '0000:00:1f.2', 'driver'], 'nvme'), '$.devices["0000:00:1f.2"].driver: nvme cannot bind 0000:00:1f.2', true],
  ['a driver the machine does not have', (s) => set(s, ['devices', '0000:03:00.0', 'driver'], 'nosuch'), '$.devices["0000:03:00.0"].driver: no driver nosuch', true],
  ['dynIds for a driver the machine does not have', (s) => ({ ...s, dynIds: { nosuch: [] } }), '$.dynIds.nosuch: no driver nosuch', true],
  ['a device the topology does not have', (s) => set(s, ['devices', '0000:09:00.0'], { seq: 99, driver: null }), '$.devices["0000:09:00.0"]: no such PCI device', true],
  ['a VF beyond numvfs', (s) => set(s, ['devices', '0000:01:00.3'], { seq: 99, driver: null }), '$.devices["0000:01:00.3"]: no such PCI device', true],
  ['numvfs beyond sriov_totalvfs', (s) => set(s, ['devices', '0000:01:00.0', 'numvfs'], 9), '$.devices["0000:01:00.0"].numvfs: 9 is more than sriov_totalvfs (4)', true],
  ['numvfs on a device without SR-IOV', (s) => set(s, ['devices', '0000:03:00.0', 'numvfs'], 1), '$.devices["0000:03:00.0"].numvfs: 0000:03:00.0 is not an SR-IOV physical function', true],
  ['a numa node that does not exist', (s) => set(s, ['devices', '0000:03:00.0', 'numaNode'], 7), '$.devices["0000:03:00.0"].numaNode: node 7 does not exist', true],
  ['a device below a removed port', (s) => set(s, ['devices', '0000:00:02.2']), '$.devices["0000:03:00.0"]: present while 0000:00:02.2 above it is not', true],
  ['a config byte no user may write', (s) => set(s, ['devices', '0000:03:00.0', 'config'], { 0: 1 }), '$.devices["0000:03:00.0"].config["0"]: not a register a user may write', true],
  ['a config byte past a conventional device\'s 256', (s) => set(s, ['devices', '0000:00:1f.2', 'config'], { 300: 1 }), '$.devices["0000:00:1f.2"].config["300"]', true],
  ['two devices with one add sequence', (s) => set(s, ['devices', '0000:03:00.0', 'seq'], s.devices['0000:00:00.0']!.seq), '.seq: ', true],
  ['an add sequence at or past nextSeq', (s) => set(s, ['devices', '0000:01:00.1', 'seq'], s.nextSeq), '$.devices["0000:01:00.1"].seq: ', true],
  ['a boot device with a later add sequence than boot', (s) => set(s, ['devices', '0000:03:00.0', 'seq'], 5), '$.devices["0000:03:00.0"].seq: 5 is not 0000:03:00.0\'s number from boot', true],
  ['grouping steps on a boot device', (s) => set(s, ['devices', '0000:03:00.0', 'steps'], [{ kind: 'new', text: 'x' }]), '$.devices["0000:03:00.0"].steps', true],
  ['a group number twice', (s) => set(s, ['groups', 1, 'id'], s.groups[0]!.id), '$.groups[1].id: group', true],
  ['a device in two groups', (s) => (s.groups[1]!.devices.push(s.groups[0]!.devices[0]!), s), '$.groups[1].devices[1]: 0000:00:00.0 is also in $.groups[0]', true],
  ['a device in no group', (s) => set(s, ['groups'], s.groups.filter((g) => !g.devices.includes('0000:03:00.0'))), '$.groups: 0000:03:00.0 is in no group', true],
  ['a removed device in a group', (s) => set(s, ['groups', 0, 'devices'], ['0000:02:00.0']), '$.groups[0].devices[0]: no device 0000:02:00.0 present', true],
  [
    'the ICH9 functions split although they share a group',
    (s) => {
      const g = s.groups[groupIndexOf(s, '0000:00:1f.3')]!;
      g.devices = g.devices.filter((n) => n !== '0000:00:1f.3');
      s.groups.push({ id: 40, type: 'DMA-FQ', devices: ['0000:00:1f.3'] });
      return s;
    },
    'are in different groups, but the grouping rules put them in one',
    true,
  ],
  ['a group with no default domain type', (s) => set(s, ['groups', 0, 'type'], 'unknown'), '$.groups[0].type: must be identity, DMA or DMA-FQ', true],
  ['a reset method the device does not support', (s) => set(s, ['devices', '0000:00:1f.2', 'resetMethods'], ['bus']), '$.devices["0000:00:1f.2"].resetMethods[0]: 0000:00:1f.2 does not support bus', true],
  ['enable_cnt below 0', (s) => set(s, ['devices', '0000:00:1f.2', 'enables'], -1), '$.devices["0000:00:1f.2"].enables: -1 would make enable_cnt of 0000:00:1f.2 negative', true],
  ['power/ of a removed device', (s) => set(s, ['power', '0000:02:00.0'], { '': { runtimeAuto: true, asyncSuspend: true, wakeupEnabled: false } }), '$.power["0000:02:00.0"]: no device, IOMMU unit or host bridge 0000:02:00.0 present', true],
  ['power/ of a bus not behind the device', (s) => set(s, ['power', '0000:00:02.1', 'pci_bus/0000:07'], { runtimeAuto: true, asyncSuspend: true, wakeupEnabled: false }), '$.power["0000:00:02.1"]["pci_bus/0000:07"]: not the bus behind it (pci_bus/0000:02)', true],
  ['a port service of an unbound device', (s) => set(s, ['power', '0000:00:1f.2'], { '0000:00:1f.2:pcie002': { runtimeAuto: true, asyncSuspend: true, wakeupEnabled: false } }), '$.power["0000:00:1f.2"]["0000:00:1f.2:pcie002"]: not a port service of it', true],
  ['a module the machine does not have', (s) => set(s, ['modules', 0, 'name'], 'nosuch'), '$.modules[0].name: no module nosuch', true],
  ['a module loaded before what it needs', (s) => set(s, ['modules'], s.modules!.filter((x) => x.name !== 'vfio')), '$.modules[0].name: vfio_iommu_type1 needs vfio', true],
  ['a bool parameter as Linux never shows it', (s) => set(s, ['modules', 1, 'params', 'allow_unsafe_interrupts'], 'yes'), '$.modules[1].params.allow_unsafe_interrupts: ', true],
  ['a parameter the module does not have', (s) => set(s, ['modules', 1, 'params', 'nosuch'], 'Y'), '$.modules[1].params.nosuch: vfio_iommu_type1 has no parameter nosuch', true],
  ['nvme bound while its module is not loaded', (s) => ({ ...s, modules: s.modules!.filter((x) => x.name !== 'nvme'), drivers: s.drivers!.filter((x) => x !== 'nvme') }), '$.devices["0000:01:00.0"].driver: no driver nvme registered', true],
  ['a driver whose module is not loaded', (s) => set(s, ['drivers'], [...s.drivers!, 'pci-stub']), '$.drivers[', true],
  ['a loaded module\'s driver not registered', (s) => set(s, ['drivers'], s.drivers!.filter((x) => x !== 'vfio-pci')), '$.drivers: vfio-pci is registered by a loaded module but not listed', true],
  ['drivers without modules', (s) => set(s, ['modules']), '$.drivers: only with "modules"', true],
  ['a platform override of a PCI device', (s) => ({ ...s, platformOverrides: { '0000:03:00.0': 'vfio-platform' } }), '$.platformOverrides["0000:03:00.0"]: no platform device', true],
  ['an mdev on a device that is no mdev parent', (s) => set(s, ['mdevs'], [{ uuid: '11111111-2222-4333-8444-555555555555', parent: '0000:01:00.0', type: 'x', seq: s.nextSeq - 1 }]), '$.mdevs[0]: ENODEV', true],
];

describe('damaged state files', () => {
  it('the baseline itself restores', () => {
    restore(baseline());
    assert.equal(schemaValid(baseline()), true, ajv.errorsText(schemaValid.errors));
  });

  it('a version 2 file from before the PCI flags, power/, modules and drivers were kept restores (boot\'s modules stay)', () => {
    const old = baseline();
    for (const k of ['mdevAutoprobe', 'resourceAlignment', 'platformOverrides', 'power', 'modules', 'drivers'] as const) delete old[k];
    for (const d of Object.values(old.devices)) for (const k of ['brokenParity', 'd3coldAllowed', 'noMsi', 'enables', 'resetMethods'] as const) delete d[k];
    assert.equal(schemaValid(old), true, ajv.errorsText(schemaValid.errors));
    const m = bootText(SRIOV);
    restoreState(m, checkStateShape(old, FP));
    assert.equal(m.modules.isLoaded('pci_stub'), true);
  });

  for (const [what, damage, where, machineOnly] of CASES) {
    it(`${what}: refused at ${where}`, () => {
      const bad = damage(baseline());
      assert.throws(
        () => restore(bad),
        (e: unknown) => {
          assert.ok(e instanceof StateError, `not a StateError: ${String(e)}`);
          assert.ok(e.message.includes(where), `message ${JSON.stringify(e.message)} does not point at ${where}`);
          return true;
        },
      );
      // The schema sees exactly the structural damage (a JSON round trip drops undefined keys).
      const plain: unknown = JSON.parse(JSON.stringify(bad));
      if (what !== 'another topology') assert.equal(schemaValid(plain), machineOnly, `schema and code disagree: ${ajv.errorsText(schemaValid.errors)}`);
    });
  }

  it('mdev states pass the schema and restore (domains-lab, random writes)', () => {
    const fp = topologyFingerprint(DOMAINS_TOPOLOGY);
    for (let seed = 1; seed <= 30; seed++) {
      const m = bootText(DOMAINS_TOPOLOGY);
      const r = rng(seed);
      for (let i = 0; i < 40; i++) applyRandom(m, randomWrite(m, r));
      const s: unknown = JSON.parse(JSON.stringify(captureState(m, fp)));
      assert.equal(schemaValid(s), true, `seed ${seed}: ${ajv.errorsText(schemaValid.errors)}`);
      restore(s, DOMAINS_TOPOLOGY);
    }
  });
});
