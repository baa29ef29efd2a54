// One row per rule of the topology format: a few lines of YAML and the exact message line.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadTopology, loadTopologyFile } from '../../../src/topology/load';
import { formatDiagnostic } from '../../../src/topology/model';

function errors(...lines: string[]): string[] {
  const r = loadTopology(lines.join('\n') + '\n', 'x.yaml');
  return r.ok ? [] : r.errors.map(formatDiagnostic);
}

/** A root bus holding the given device lines (indented under `devices:`). */
function bus(...deviceLines: string[]): string[] {
  return ['version: 1', 'pci:', '  - devices:', ...deviceLines.map((l) => '      ' + l)];
}

const NIC = 'id: 8086:10d3, class: 0x020000';

const cases: { rule: string; yaml: string[]; expect: string[] }[] = [
  {
    rule: 'device model: link speed and width as lspci writes them, only on functions with a link',
    yaml: bus(
      '"01.0": { id: 8086:0e02, type: root-port, link: { speed: 9GT/s, width: 3 }, slot: { chassis: 2 } }',
      '"02.0": { id: 8086:1d10, type: root-port, link: { width: 4 }, devices: { "00.0": { id: 8086:1521, class: 0x020000, link-status: { width: 8 }, link: { width: 4 } } } }',
      '"03.0": { id: 8086:0e00, class: 0x060000, type: host-bridge, link: { width: 1 }, msi: 3, pm: true }',
    ),
    expect: [
      'x.yaml:4:64: pci[0].devices."01.0".link.speed: "9GT/s" is not a PCIe link speed (one of: 2.5GT/s, 5GT/s, 8GT/s, 16GT/s, 32GT/s, 64GT/s)',
      'x.yaml:4:78: pci[0].devices."01.0".link.width: width 3 is not a PCIe link width (1, 2, 4, 8, 12, 16, 32)',
      'x.yaml:4:91: pci[0].devices."01.0".slot.chassis: slot.chassis does not apply to type root-port (it takes: bus, number, hotplug)',
      'x.yaml:5:135: pci[0].devices."02.0".devices."00.0".link-status: link-status width is above the link capability\'s',
      'x.yaml:6:68: pci[0].devices."03.0".link: a conventional function has no PCIe link',
      'x.yaml:6:93: pci[0].devices."03.0".msi: MSI offers 1, 2, 4, 8, 16 or 32 vectors (0: no MSI capability), not 3',
    ],
  },
  {
    rule: 'YAML syntax errors carry a position',
    yaml: ['version: 1', 'pci: [', '  {'],
    expect: [
      'x.yaml:4:1: YAML: Flow map in block collection must be sufficiently indented and end with a }',
      'x.yaml:4:1: YAML: Flow sequence in block collection must be sufficiently indented and end with a ]',
    ],
  },
  {
    rule: 'a BAR size that is not a power of two',
    yaml: bus(`"02.0": { ${NIC}, bars: { 0: 3M mem32 } }`),
    expect: ['x.yaml:4:60: pci[0].devices."02.0".bars."0": size 3M is not a power of two (a BAR decodes a power-of-two range)'],
  },
  {
    rule: 'a 64-bit BAR on the last BAR register',
    yaml: bus(`"02.0": { ${NIC}, bars: { 5: 16K mem64 } }`),
    expect: ['x.yaml:4:60: pci[0].devices."02.0".bars."5": a 64-bit BAR takes two registers, so BAR 5, the last, cannot be one'],
  },
  {
    rule: 'a BAR given where a 64-bit BAR has its upper half',
    yaml: bus(`"02.0": { ${NIC}, bars: { 0: 16K mem64, 1: 4K mem32 } }`),
    expect: ['x.yaml:4:74: pci[0].devices."02.0".bars."1": BAR 1 is the upper half of 64-bit BAR 0'],
  },
  {
    rule: 'BAR words: unknown kind, prefetchable I/O, I/O above 256 bytes',
    yaml: bus(`"02.0": { ${NIC}, bars: { 0: 16K mem, 2: 32 io prefetchable, 4: 1K io } }`),
    expect: [
      'x.yaml:4:60: pci[0].devices."02.0".bars."0": "16K mem" is not a BAR: write "<size> <mem32|mem64|io> [prefetchable]", e.g. "256M mem64 prefetchable" or "128 io"',
      'x.yaml:4:72: pci[0].devices."02.0".bars."2": an I/O BAR cannot be prefetchable (the bit exists only in memory BARs)',
      'x.yaml:4:95: pci[0].devices."02.0".bars."4": an I/O BAR is 4 to 256 bytes, not 1K',
    ],
  },
  {
    rule: 'a bridge has BARs 0 and 1 only',
    yaml: bus('"01.0": { id: 8086:1901, type: root-port, bars: { 2: 4K mem32 } }'),
    expect: ['x.yaml:4:57: pci[0].devices."01.0".bars."2": BAR 2 does not exist: this header has BARs 0-1 (the expansion ROM is "rom")'],
  },
  {
    rule: 'a ROM size out of range',
    yaml: bus(`"02.0": { ${NIC}, rom: 1K }`),
    expect: ['x.yaml:4:54: pci[0].devices."02.0".rom: a ROM is 2K to 16M, not 1K'],
  },
  {
    rule: 'duplicate keys',
    yaml: ['version: 1', 'version: 1'],
    expect: ['x.yaml:2:1: version: duplicate key "version" (first at line 1)'],
  },
  {
    rule: 'unknown top-level key, with a suggestion',
    yaml: ['version: 1', 'iommu: []'],
    expect: ['x.yaml:2:1: iommu: unknown key "iommu"; did you mean "iommus"?'],
  },
  {
    rule: 'unknown key in a device',
    yaml: bus(`"02.0": { ${NIC}, colour: red }`),
    expect: ['x.yaml:4:49: pci[0].devices."02.0".colour: unknown key "colour"'],
  },
  {
    rule: 'wrong type',
    yaml: bus(`"02.0": { ${NIC}, revision: "2" }`),
    expect: ['x.yaml:4:59: pci[0].devices."02.0".revision: expected an integer, got the string "2" (write numbers without quotes)'],
  },
  { rule: 'version missing', yaml: ['name: x'], expect: ['x.yaml:1:1: version: missing required key "version" (write version: 1)'] },
  { rule: 'version not 1', yaml: ['version: 3'], expect: ['x.yaml:1:10: version: unsupported version 3 (this iommufs reads version 1)'] },
  {
    rule: 'two devices with one address',
    yaml: bus(`"0a.0": { ${NIC} }`, `"0A.0": { ${NIC} }`),
    expect: ['x.yaml:5:7: pci[0].devices."0A.0": "0A.0" is the same address as "0a.0" (line 4)'],
  },
  {
    rule: 'fixed bus used twice',
    yaml: bus('"01.0": { id: 1b36:000c, type: root-port, slot: { bus: 7 } }', '"02.0": { id: 1b36:000c, type: root-port, slot: { bus: 7 } }'),
    expect: ['x.yaml:5:62: pci[0].devices."02.0".slot.bus: bus 0x07 of segment 0000 is already the secondary bus of pci[0].devices."01.0" (line 4)'],
  },
  {
    rule: 'fixed bus equal to a root bus',
    yaml: [...bus('"01.0": { id: 1b36:000c, type: root-port, slot: { bus: 0x40 } }'), '  - bus: 0x40'],
    expect: ['x.yaml:4:62: pci[0].devices."01.0".slot.bus: bus 0x40 of segment 0000 is already the root bus of pci[1]'],
  },
  {
    rule: 'two root buses with one number in one segment',
    yaml: ['version: 1', 'pci:', '  - { segment: 2, bus: 0 }', '  - { segment: 2, bus: 0 }', '  - { segment: 3, bus: 0 }'],
    expect: ['x.yaml:4:24: pci[1].bus: bus 0x00 of segment 0002 is already the root bus of pci[0]'],
  },
  {
    rule: 'a function without function 0',
    yaml: bus(`"03.2": { ${NIC} }`),
    expect: ['x.yaml:4:7: pci[0].devices."03.2": slot 03 has no function 0, so Linux finds none of its functions (probe.c pci_scan_slot)'],
  },
  {
    rule: 'function 0 without the multifunction bit while others are listed',
    yaml: bus(`"03.0": { ${NIC}, multifunction: false }`, `"03.1": { ${NIC} }`),
    expect: [
      'x.yaml:4:64: pci[0].devices."03.0".multifunction: multifunction: false on function 0 hides the other functions of slot 03 ("03.1"): Linux scans no further (probe.c next_fn)',
    ],
  },
  {
    rule: 'an ID that is not vvvv:dddd',
    yaml: bus('"02.0": { id: 8086:10d3x, class: 0x020000 }'),
    expect: ['x.yaml:4:21: pci[0].devices."02.0".id: "8086:10d3x" is not a PCI ID vvvv:dddd (four hex digits each, e.g. 8086:10d3)'],
  },
  {
    rule: 'a PCIe function below a conventional bus',
    yaml: bus('"04.0":', '  id: 1b36:0001', '  type: pci-bridge', '  devices:', `    "01.0": { ${NIC}, pcie: true }`),
    expect: ['x.yaml:8:11: pci[0].devices."04.0".devices."01.0": PCIe function below a conventional bus'],
  },
  {
    rule: 'devices on a non-bridge',
    yaml: bus(`"02.0": { ${NIC}, devices: {} }`),
    expect: ['x.yaml:4:49: pci[0].devices."02.0".devices: devices: only a bridge has a secondary bus; this is an rc-endpoint'],
  },
  {
    rule: 'slot on a non-bridge',
    yaml: bus(`"02.0": { ${NIC}, type: endpoint, slot: { bus: 2 } }`),
    expect: ['x.yaml:4:65: pci[0].devices."02.0".slot: slot: only a bridge has a secondary bus; this is an endpoint'],
  },
  {
    rule: 'slot number out of range',
    yaml: bus(`"20.0": { ${NIC} }`),
    expect: ['x.yaml:4:7: pci[0].devices."20.0": device key "20.0": slot 20 is out of range (00-1f)'],
  },
  {
    rule: 'function number out of range',
    yaml: bus(`"02.9": { ${NIC} }`),
    expect: ['x.yaml:4:7: pci[0].devices."02.9": device key "02.9": function 9 is out of range (0-7)'],
  },
  {
    rule: 'an unquoted key that YAML reads as a number',
    yaml: bus(`02.0: { ${NIC} }`),
    expect: ['x.yaml:4:7: pci[0].devices."02.0": device key 02.0 must be quoted ("02.0"): unquoted, YAML reads it as a number'],
  },
  {
    rule: 'ARI key below a port without ari',
    yaml: bus('"01.0":', '  id: 1b36:000c', '  type: root-port', '  devices:', `    "00.0": { ${NIC} }`, `    "00.12": { ${NIC} }`),
    expect: ['x.yaml:9:11: pci[0].devices."01.0".devices."00.12": device key "00.12" is an ARI function number, allowed only below a bridge with ari: true'],
  },
  {
    rule: 'ARI functions need ari on function 0 too',
    yaml: bus('"01.0":', '  id: 1b36:000c', '  type: root-port', '  ari: true', '  devices:', `    "00.0": { ${NIC} }`, `    "00.12": { ${NIC} }`),
    expect: ['x.yaml:10:11: pci[0].devices."01.0".devices."00.12": function 0x12 needs ARI, but "00.0" lacks ari: true, so the port does not forward ARI (pci_configure_ari)'],
  },
  {
    rule: 'a root-bus iommu naming no unit',
    yaml: ['version: 1', 'pci:', '  - iommu: dmar9'],
    expect: ['x.yaml:3:12: pci[0].iommu: no IOMMU unit is named "dmar9" (there are no units); use none for devices outside every unit'],
  },
  {
    rule: 'a scope entry that is not a device address',
    yaml: ['version: 1', 'iommus:', '  - { name: d, type: intel-vtd, scope: ["0000:00:1c"] }'],
    expect: ['x.yaml:3:41: iommus[0].scope[0]: scope entry "0000:00:1c" is not a device address SSSS:BB:DD.F (e.g. 0000:00:1c.0)'],
  },
  {
    rule: 'unknown iommu type',
    yaml: ['version: 1', 'iommus:', '  - { name: d, type: vtd }'],
    expect: ['x.yaml:3:22: iommus[0].type: unknown IOMMU type "vtd" (one of: intel-vtd, amd-vi, arm-smmu-v3, arm-smmu, virtio-iommu, power-tce)'],
  },
  {
    rule: 'an IOMMU type of another arch',
    yaml: ['version: 1', 'arch: power', 'iommus:', '  - { name: d, type: amd-vi }'],
    expect: ['x.yaml:4:22: iommus[0].type: amd-vi is not an IOMMU of arch power (power has: power-tce)'],
  },
  {
    rule: 'reserved region with start above end',
    yaml: ['version: 1', 'iommus:', '  - name: d', '    type: intel-vtd', '    reserved: [{ start: 0x2000, end: 0x1000, kind: direct }]'],
    expect: ['x.yaml:5:38: iommus[0].reserved[0].end: end 0x1000 is below start 0x2000 (end is inclusive)'],
  },
  {
    rule: 'reserved region of an unknown kind',
    yaml: ['version: 1', 'iommus:', '  - name: d', '    type: intel-vtd', '    reserved: [{ start: 0x1000, end: 0x1fff, kind: rmrr }]'],
    expect: ['x.yaml:5:52: iommus[0].reserved[0].kind: unknown region kind "rmrr" (one of: direct, direct-relaxable, reserved, msi)'],
  },
  {
    rule: 'a bad ACS flag',
    yaml: bus('"01.0": { id: 1b36:000c, type: root-port, acs: [sv, ds] }'),
    expect: ['x.yaml:4:59: pci[0].devices."01.0".acs[1]: unknown ACS flag "ds" (one of: sv, tb, rr, cr, uf, ec, dt)'],
  },
  {
    rule: 'sriov total of 0',
    yaml: bus(`"02.0": { ${NIC}, sriov: { total: 0, offset: 1, stride: 1, vf-id: 8086:10ed } }`),
    expect: ['x.yaml:4:65: pci[0].devices."02.0".sriov.total: 0 is out of range (1 to 65535)'],
  },
  {
    rule: 'sriov num above total',
    yaml: bus(`"02.0": { ${NIC}, sriov: { total: 2, offset: 1, stride: 1, vf-id: 8086:10ed, num: 3 } }`),
    expect: ['x.yaml:4:113: pci[0].devices."02.0".sriov.num: num 3 is above total 2'],
  },
  {
    rule: 'sriov vf-id format',
    yaml: bus(`"02.0": { ${NIC}, sriov: { total: 2, offset: 1, stride: 1, vf-id: 10ed } }`),
    expect: ['x.yaml:4:97: pci[0].devices."02.0".sriov.vf-id: "10ed" is not a PCI ID vvvv:dddd (four hex digits each, e.g. 8086:10d3)'],
  },
  {
    rule: 'class required for an endpoint',
    yaml: bus('"02.0": { id: 8086:10d3 }'),
    expect: ['x.yaml:4:7: pci[0].devices."02.0": missing required key "class" (an rc-endpoint has no default class code)'],
  },
  {
    rule: 'driver names are strings',
    yaml: bus(`"02.0": { ${NIC}, driver: 1 }`),
    expect: ['x.yaml:4:57: pci[0].devices."02.0".driver: expected a string, got the number 1'],
  },
  {
    rule: 'a platform device naming no unit',
    yaml: ['version: 1', 'platform:', '  - { name: gpu, iommu: smmu0 }'],
    expect: ['x.yaml:3:25: platform[0].iommu: no IOMMU unit is named "smmu0" (there are no units)'],
  },
  {
    rule: 'platform stream-ids are numbers',
    yaml: ['version: 1', 'platform:', '  - { name: gpu, stream-ids: [a] }'],
    expect: ['x.yaml:3:31: platform[0].stream-ids[0]: expected an integer, got the string "a"'],
  },
  {
    rule: 'drivers entries need ids',
    yaml: ['version: 1', 'drivers:', '  - { name: mlx5_core }'],
    expect: ['x.yaml:3:5: drivers[0]: missing required key "ids"'],
  },
  {
    rule: 'several errors are all reported, in file order',
    yaml: ['version: 2', 'nme: x', 'arch: sparc'],
    expect: [
      'x.yaml:1:10: version: unsupported version 2 (this iommufs reads version 1)',
      'x.yaml:2:1: nme: unknown key "nme"; did you mean "name"?',
      'x.yaml:3:7: arch: unknown arch "sparc" (one of: x86, arm64, power)',
    ],
  },
];

for (const c of cases) {
  test(`refused: ${c.rule}`, () => {
    assert.deepEqual(errors(...c.yaml), c.expect);
  });
}

test('a missing file is a diagnostic at 1:1', () => {
  const r = loadTopologyFile('/nonexistent/iommufs/none.yaml');
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.deepEqual(r.errors.map(formatDiagnostic), ['/nonexistent/iommufs/none.yaml:1:1: cannot read: no such file']);
});
