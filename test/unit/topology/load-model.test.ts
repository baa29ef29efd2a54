// What a valid topology becomes: the model the engine reads, with every default applied.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadTopology } from '../../../src/topology/load';
import { ACS, formatDiagnostic } from '../../../src/topology/model';
import type { DeviceSpec, Topology } from '../../../src/topology/model';

function load(text: string, file = 'topologies/t.yaml'): Topology {
  const r = loadTopology(text, file);
  if (!r.ok) assert.fail(r.errors.map(formatDiagnostic).join('\n'));
  return r.topology;
}

function dev(devices: DeviceSpec[], ...keys: string[]): DeviceSpec {
  let list = devices;
  let found: DeviceSpec | undefined;
  for (const k of keys) {
    found = list.find((d) => d.key === k);
    assert.ok(found, `no device ${k}`);
    list = found.devices;
  }
  return found!;
}

// The example of docs/topology-format.md, verbatim.
const CONTRACT_EXAMPLE = `# yaml-language-server: $schema=../schema/topology.schema.json
version: 1
name: q35-rootports
description: QEMU q35, three pcie-root-ports, one multifunction NIC
cmdline: intel_iommu=on iommu.strict=1
iommus:
  - name: dmar0
    type: intel-vtd
    scope: all                 # every PCI device of every segment
    interrupt-remapping: true
pci:
  - segment: 0x0000
    bus: 0x00
    devices:
      "00.0": { id: 8086:29c0, class: 0x060000 }                 # host bridge
      "01.0":
        id: 1b36:000c
        type: root-port
        acs: [sv, rr, cr, uf]
        slot: { bus: 1 }         # optional: fixes the secondary bus number
        devices:
          "00.0": { id: 8086:10d3, class: 0x020000, driver: e1000e }
          "00.1": { id: 8086:10d3, class: 0x020000 }
      "02.0":
        id: 8086:3420
        type: root-port
        devices:
          "00.0":
            id: 8086:10fb
            class: 0x020000
            driver: ixgbe
            sriov: { total: 63, offset: 0x80, stride: 2, vf-id: 8086:10ed, vf-driver: ixgbevf }
      "1f.0": { id: 8086:2918, class: 0x060100 }
      "1f.2": { id: 8086:2922, class: 0x010601, driver: ahci }
      "1f.3": { id: 8086:2930, class: 0x0c0500 }
`;

test('the contract example loads with its defaults applied', () => {
  const t = load(CONTRACT_EXAMPLE);
  assert.equal(t.name, 'q35-rootports');
  assert.equal(t.arch, 'x86');
  assert.equal(t.cmdline.intelIommu, 'on');
  assert.equal(t.cmdline.strict, true);
  assert.deepEqual(t.iommus.map((u) => [u.name, u.type, u.scope, u.interruptRemapping, u.reserved, u.pasidBits]), [
    ['dmar0', 'intel-vtd', 'all', true, [], 0],
  ]);
  const root = t.pci[0]!;
  assert.deepEqual([root.segment, root.bus, root.iommu], [0, 0, undefined]);
  const rp = dev(root.devices, '01.0');
  assert.deepEqual(
    [rp.type, rp.pcie, rp.classCode, rp.acsCap, rp.fixedSecondaryBus, rp.devfn, rp.path],
    ['root-port', true, 0x060400, ACS.sv | ACS.rr | ACS.cr | ACS.uf, 1, 0x08, 'pci[0].devices."01.0"'],
  );
  const nic0 = dev(root.devices, '01.0', '00.0');
  const nic1 = dev(root.devices, '01.0', '00.1');
  assert.deepEqual([nic0.type, nic0.pcie, nic0.multifunctionBit, nic0.driver, nic0.numaNode, nic0.revision], ['endpoint', true, true, 'e1000e', -1, 0]);
  assert.deepEqual([nic1.devfn, nic1.multifunctionBit, nic1.driver], [1, false, undefined]);
  const pf = dev(root.devices, '02.0', '00.0');
  assert.deepEqual(pf.sriov, {
    total: 63,
    offset: 0x80,
    stride: 2,
    vfId: { vendor: 0x8086, device: 0x10ed },
    vfDriver: 'ixgbevf',
    num: 0,
    // Without `num`, messages about it point at the sriov mapping.
    pos: { line: 32, col: 20 },
    numPos: { line: 32, col: 20 },
  });
  const host = dev(root.devices, '00.0');
  assert.deepEqual([host.type, host.pcie, host.multifunctionBit], ['rc-endpoint', true, false]);
  const lpc = dev(root.devices, '1f.0');
  assert.deepEqual([lpc.devfn, lpc.slot, lpc.fn, lpc.multifunctionBit], [0xf8, 0x1f, 0, true]);
  assert.equal(dev(root.devices, '1f.3').devfn, 0xfb);
  assert.deepEqual(rp.pos, { line: 16, col: 7 });
});

test('pcie and type default by place: conventional below PCI bridges, RCiEP on a root bus', () => {
  const t = load(`version: 1
pci:
  - devices:
      "00.0": { id: 8086:29c0, type: host-bridge }
      "01.0": { id: 8086:10d3, class: 0x020000 }
      "02.0": { id: 8086:10d3, class: 0x020000, pcie: false }
      "03.0": { id: 8086:a0b0, type: rc-event-collector }
      "04.0":
        id: 1b36:000e
        type: pcie-pci-bridge
        devices:
          "01.0": { id: 8086:100e, class: 0x020000 }
          "02.0":
            id: 1b36:0001
            type: pci-bridge
            devices:
              "01.0": { id: 8086:100e, class: 0x020000, multifunction: true }
`);
  const d = t.pci[0]!.devices;
  const facts = (x: DeviceSpec): [string, boolean, number] => [x.type, x.pcie, x.classCode];
  assert.deepEqual(facts(dev(d, '00.0')), ['host-bridge', false, 0x060000]);
  assert.deepEqual(facts(dev(d, '01.0')), ['rc-endpoint', true, 0x020000]);
  assert.deepEqual(facts(dev(d, '02.0')), ['endpoint', false, 0x020000]);
  assert.deepEqual(facts(dev(d, '03.0')), ['rc-event-collector', true, 0x080700]);
  assert.deepEqual(facts(dev(d, '04.0')), ['pcie-pci-bridge', true, 0x060400]);
  assert.deepEqual(facts(dev(d, '04.0', '01.0')), ['endpoint', false, 0x020000]);
  assert.deepEqual(facts(dev(d, '04.0', '02.0')), ['pci-bridge', false, 0x060400]);
  // An explicit bit is kept as written, even alone in its slot.
  assert.equal(dev(d, '04.0', '02.0', '01.0').multifunctionBit, true);
});

test('acs: true is all seven bits, false and absent are no capability', () => {
  const t = load(`version: 1
pci:
  - devices:
      "01.0": { id: 1b36:000c, type: root-port, acs: true }
      "02.0": { id: 1b36:000c, type: root-port, acs: false }
      "03.0": { id: 1b36:000c, type: root-port }
      "04.0": { id: 1b36:000c, type: root-port, acs: [ec, dt] }
`);
  const d = t.pci[0]!.devices;
  assert.deepEqual(
    d.map((x) => x.acsCap),
    [0x7f, null, null, ACS.ec | ACS.dt],
  );
});

test('ARI keys: "00.a5" is devfn 0xa5 and "01.2" equals "00.0a" below an ari port', () => {
  const t = load(`version: 1
pci:
  - devices:
      "01.0":
        id: 1b36:000c
        type: root-port
        ari: true
        devices:
          "00.0": { id: 15b3:1017, class: 0x020000, ari: true }
          "00.a5": { id: 15b3:1017, class: 0x020000 }
          "01.2": { id: 15b3:1017, class: 0x020000 }
`);
  const d = t.pci[0]!.devices;
  const ari = dev(d, '01.0', '00.a5');
  assert.deepEqual([ari.devfn, ari.slot, ari.fn], [0xa5, 0x14, 5]);
  assert.equal(dev(d, '01.0', '01.2').devfn, 0x0a);
  assert.equal(dev(d, '01.0', '00.0').multifunctionBit, true);
});

test('scope entries are normalized to lower-case SSSS:BB:DD.F; 64-bit regions stay exact', () => {
  const t = load(`version: 1
iommus:
  - name: dmar0
    type: intel-vtd
    scope: ["00:1C.0", "0001:80:02.1"]
    pasid: 20
    dirty-tracking: true
    reserved:
      - { start: 0xfffffffffffff000, end: 0xffffffffffffffff, kind: reserved }
      - { start: 0, end: 0xfff, kind: direct-relaxable }
  - { name: dmar1, type: intel-vtd, interrupt-remapping: false, nesting: true }
`);
  const [u0, u1] = t.iommus;
  assert.deepEqual(u0!.scope, ['0000:00:1c.0', '0001:80:02.1']);
  assert.deepEqual(u0!.reserved, [
    { start: 0xfffffffffffff000n, end: 0xffffffffffffffffn, kind: 'reserved' },
    { start: 0n, end: 0xfffn, kind: 'direct-relaxable' },
  ]);
  assert.deepEqual([u0!.pasidBits, u0!.dirtyTracking, u0!.nesting], [20, true, false]);
  assert.deepEqual([u1!.scope, u1!.interruptRemapping, u1!.nesting], ['all', false, true]);
});

test('root-bus iommu, platform devices, drivers, mdev and small fields', () => {
  const t = load(
    `version: 1
arch: arm64
iommus:
  - { name: smmu0, type: arm-smmu-v3 }
pci:
  - { segment: 1, bus: 0x80, iommu: none }
  - bus: 0
    iommu: smmu0
    devices:
      "00.0":
        id: 8086:3e92
        subsystem: 17aa:3102
        class: 0x030000
        revision: 0x07
        numa-node: 1
        label: GPU
        dma-alias: ["00.1", "02.0"]
        mdev:
          - { type: i915-GVTg_V5_4, name: GVTg_V5_4, available: 2 }
          - { type: i915-GVTg_V5_8, available: 1, device-api: vfio-pci }
platform:
  - { name: 1c00000.gpu, iommu: smmu0, stream-ids: [0x10, 17], driver: panfrost }
  - { name: uart0 }
drivers:
  - { name: mlx5_core, ids: [15b3:1017, 15b3:1019] }
`,
    'dir/arm-box.yaml',
  );
  assert.equal(t.name, 'arm-box');
  assert.deepEqual(
    t.pci.map((r) => [r.segment, r.bus, r.iommu]),
    [
      [1, 0x80, 'none'],
      [0, 0, 'smmu0'],
    ],
  );
  const gpu = dev(t.pci[1]!.devices, '00.0');
  assert.deepEqual(gpu.subsystem, { vendor: 0x17aa, device: 0x3102 });
  assert.deepEqual([gpu.revision, gpu.numaNode, gpu.label, gpu.dmaAlias], [7, 1, 'GPU', [0x01, 0x10]]);
  assert.deepEqual(gpu.mdev, [
    { type: 'i915-GVTg_V5_4', name: 'GVTg_V5_4', available: 2, deviceApi: 'vfio-pci' },
    { type: 'i915-GVTg_V5_8', available: 1, deviceApi: 'vfio-pci' },
  ]);
  assert.deepEqual(
    t.platform.map((p) => [p.name, p.iommu, p.streamIds, p.driver]),
    [
      ['1c00000.gpu', 'smmu0', [0x10, 17], 'panfrost'],
      ['uart0', undefined, [], undefined],
    ],
  );
  assert.deepEqual(t.drivers, [{ name: 'mlx5_core', ids: [{ vendor: 0x15b3, device: 0x1017 }, { vendor: 0x15b3, device: 0x1019 }] }]);
});

test('YAML anchors and aliases may repeat a device', () => {
  const t = load(`version: 1
pci:
  - devices:
      "02.0": &nic { id: 8086:10d3, class: 0x020000 }
      "03.0": *nic
`);
  assert.deepEqual(
    t.pci[0]!.devices.map((d) => [d.key, d.devfn, d.id.device]),
    [
      ['02.0', 0x10, 0x10d3],
      ['03.0', 0x18, 0x10d3],
    ],
  );
});

test('buses numbered depth first may sit next to fixed ones without a clash', () => {
  const t = load(`version: 1
pci:
  - devices:
      "01.0": { id: 1b36:000c, type: root-port, slot: { bus: 5 } }
      "02.0": { id: 1b36:000c, type: root-port }
  - bus: 0x80
    devices:
      "01.0": { id: 1b36:000c, type: root-port }
`);
  assert.equal(t.pci.length, 2);
});

test('the cmdline is parsed into boot options', () => {
  const t = load('version: 1\ncmdline: "intel_iommu=on iommu=pt pci=noacs"\n');
  assert.equal(t.cmdline.passthrough, true);
  assert.equal(t.cmdline.warnings.length, 1);
});
