// One machine per grouping rule of drivers/iommu/iommu.c pci_device_group, written inline.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { groupsJson, groupsText } from '../../../src/cli/groups';
import { explainDevice } from '../../../src/engine/explain';
import { Machine } from '../../../src/engine/machine';
import { removeSubtree } from '../../../src/engine/hotplug';
import type { PciDevice } from '../../../src/engine/types';
import { loadTopology } from '../../../src/topology/load';

function boot(yaml: string): Machine {
  const r = loadTopology(yaml, 'inline.yaml');
  if (!r.ok) assert.fail(r.errors.map((e) => `${e.line}:${e.col} ${e.path}: ${e.message}`).join('\n'));
  return Machine.boot(r.topology);
}

function machine(devices: string, opts: { cmdline?: string; iommus?: string; rootExtra?: string } = {}): Machine {
  return boot(`version: 1
cmdline: "${opts.cmdline ?? 'intel_iommu=on'}"
iommus:
${opts.iommus ?? '  - { name: dmar0, type: intel-vtd, scope: all }'}
pci:
  - bus: 0
${opts.rootExtra ?? ''}    devices:
      "00.0": { id: 8086:29c0, class: 0x060000, type: host-bridge }
${devices}`);
}

const RP_ACS = 'id: 1b36:000c, type: root-port, acs: [sv, rr, cr, uf]';
const RP_NOACS = 'id: 8086:1901, type: root-port';

function lines(m: Machine): string[] {
  return groupsText(m).split('\n');
}

describe('pci_device_group rules', () => {
  it('an endpoint below a root port without ACS joins the port', () => {
    const m = machine(`      "01.0": { ${RP_NOACS}, devices: { "00.0": { id: 10de:1b80, class: 0x030000 }, "00.1": { id: 10de:10f0, class: 0x040300 } } }\n`);
    assert.deepEqual(lines(m), ['group 0: 0000:00:00.0', 'group 1: 0000:00:01.0 0000:01:00.0 0000:01:00.1']);
    assert.match(explainDevice(m, '0000:01:00.1')!, /0000:00:01\.0 does not isolate its downstream devices: no ACS capability/);
  });

  it('below a root port with ACS, a multifunction endpoint without ACS shares one group (slot rule)', () => {
    const m = machine(`      "01.0": { ${RP_ACS}, devices: { "00.0": { id: 10de:1b80, class: 0x030000 }, "00.1": { id: 10de:10f0, class: 0x040300 } } }\n`);
    assert.deepEqual(lines(m), ['group 0: 0000:00:00.0', 'group 1: 0000:00:01.0', 'group 2: 0000:01:00.0 0000:01:00.1']);
  });

  it('functions with an ACS capability that enables RR and CR stay apart', () => {
    const m = machine(`      "01.0": { ${RP_ACS}, devices: { "00.0": { id: 15b3:1017, class: 0x020000, acs: [rr, cr] }, "00.1": { id: 15b3:1017, class: 0x020000, acs: [rr, cr] } } }\n`);
    assert.deepEqual(lines(m).slice(2), ['group 2: 0000:01:00.0', 'group 3: 0000:01:00.1']);
  });

  it('the Intel multifunction-endpoint ACS quirk isolates an 82599 without an ACS capability', () => {
    const m = machine(`      "01.0": { ${RP_ACS}, devices: { "00.0": { id: 8086:10fb, class: 0x020000 }, "00.1": { id: 8086:10fb, class: 0x020000 } } }\n`);
    assert.deepEqual(lines(m).slice(2), ['group 2: 0000:01:00.0', 'group 3: 0000:01:00.1']);
  });

  it('explain gives the reasons of boot after the function a device joined is removed', () => {
    // Boot groups without steps; explain makes them when asked, as of boot. Removing 01:00.0
    // must not change why 01:00.2 joined it (a replay without it would name 01:00.1).
    const slot = `      "01.0": { ${RP_ACS}, devices: { "00.0": { id: 10de:1b80, class: 0x030000 }, "00.1": { id: 10de:10f0, class: 0x040300 }, "00.2": { id: 10de:10f0, class: 0x040300 } } }\n`;
    const why = (text: string): string => text.split('Why:')[1]!.split('How')[0]!;
    const before = why(explainDevice(machine(slot), '0000:01:00.2')!);
    assert.match(before, /0000:01:00\.2 is a function of a multifunction slot .*0000:01:00\.0 in the same slot does not either/);
    const m = machine(slot);
    removeSubtree(m, m.devices.get('0000:01:00.0') as PciDevice);
    assert.equal(why(explainDevice(m, '0000:01:00.2')!), before);
  });

  it('the Ricoh func0 DMA alias pulls function 1 into function 0s group even when both have ACS', () => {
    const m = machine(`      "01.0": { ${RP_ACS}, devices: { "00.0": { id: 1180:e822, class: 0x080500, acs: true }, "00.1": { id: 1180:e832, class: 0x0c0010, acs: true } } }\n`);
    assert.deepEqual(lines(m).slice(2), ['group 2: 0000:01:00.0 0000:01:00.1']);
    assert.match(explainDevice(m, '0000:01:00.1')!, /DMA alias/);
  });

  it('a Marvell ghost alias (function 1 absent) changes nothing', () => {
    const m = machine(`      "01.0": { ${RP_ACS}, devices: { "00.0": { id: 1b4b:9230, class: 0x010601 } } }\n`);
    assert.deepEqual(lines(m).slice(2), ['group 2: 0000:01:00.0']);
    assert.match(explainDevice(m, '0000:01:00.0')!, /ghost alias/);
  });

  it('two downstream ports without ACS keep separate groups, each with what is below it', () => {
    const m = machine(`      "01.0":
        ${'{'} ${RP_ACS}, devices: { "00.0": { id: 10b5:8747, type: upstream-port, devices: {
          "08.0": { id: 10b5:8747, type: downstream-port, devices: { "00.0": { id: 10de:1db6, class: 0x030200 } } },
          "10.0": { id: 10b5:8747, type: downstream-port, devices: { "00.0": { id: 10de:1db6, class: 0x030200 } } } } } } }\n`);
    assert.deepEqual(lines(m).slice(2), ['group 2: 0000:01:00.0', 'group 3: 0000:02:08.0 0000:03:00.0', 'group 4: 0000:02:10.0 0000:04:00.0']);
  });

  it('pcie_acs_override=downstream makes a port without ACS isolate', () => {
    const m = machine(`      "01.0": { ${RP_NOACS}, devices: { "00.0": { id: 10de:1b80, class: 0x030000 } } }\n`, { cmdline: 'intel_iommu=on pcie_acs_override=downstream' });
    assert.deepEqual(lines(m).slice(1), ['group 1: 0000:00:01.0', 'group 2: 0000:01:00.0']);
    assert.ok(m.warnings.some((w) => w.includes('pcie_acs_override')));
  });

  it('pcie_acs_override=id: isolates only the listed device', () => {
    const m = machine(`      "01.0": { ${RP_NOACS}, devices: { "00.0": { id: 10de:1b80, class: 0x030000 } } }\n      "02.0": { id: 8086:1905, type: root-port, devices: { "00.0": { id: 10de:1b80, class: 0x030000 } } }\n`, {
      cmdline: 'intel_iommu=on pcie_acs_override=id:8086:1905',
    });
    assert.deepEqual(lines(m).slice(1), ['group 1: 0000:00:01.0 0000:01:00.0', 'group 2: 0000:00:02.0', 'group 3: 0000:02:00.0']);
  });

  it('pci=disable_acs_redir on a root port merges its endpoint into its group', () => {
    const m = machine(`      "01.0": { ${RP_ACS}, devices: { "00.0": { id: 10de:1b80, class: 0x030000 } } }\n`, { cmdline: 'intel_iommu=on pci=disable_acs_redir=0000:00:01.0' });
    assert.deepEqual(lines(m).slice(1), ['group 1: 0000:00:01.0 0000:01:00.0']);
    assert.match(explainDevice(m, '0000:01:00.0')!, /lacks RR CR/);
  });

  it('a root bus marked iommu: none has no groups, and explain says why', () => {
    const m = machine(`      "02.0": { id: 8086:10d3, class: 0x020000 }\n`, { rootExtra: '    iommu: none\n' });
    assert.equal(m.groups.size, 0);
    assert.match(explainDevice(m, '0000:00:02.0')!, /no group/);
  });

  it('a unit scope covers a port and everything below it, and nothing else', () => {
    const m = machine(`      "01.0": { ${RP_ACS}, devices: { "00.0": { id: 10de:1b80, class: 0x030000 } } }\n      "02.0": { id: 8086:10d3, class: 0x020000 }\n`, {
      iommus: '  - { name: dmar0, type: intel-vtd, scope: ["0000:00:01.0"] }',
    });
    assert.deepEqual(lines(m), ['group 0: 0000:00:01.0', 'group 1: 0000:01:00.0']);
  });

  it('without intel_iommu=on VT-d stays off: no groups, and a warning', () => {
    const m = machine(`      "02.0": { id: 8086:10d3, class: 0x020000 }\n`, { cmdline: '' });
    assert.equal(m.groups.size, 0);
    assert.ok(m.warnings.some((w) => w.includes('intel_iommu=on')));
  });

  it('group numbers follow the add order: a bus, then each bridge\'s bus, host bridges in firmware order', () => {
    const m = boot(`version: 1
cmdline: intel_iommu=on
iommus: [{ name: dmar0, type: intel-vtd }]
pci:
  - bus: 0x80
    devices:
      "01.0": { ${RP_ACS}, devices: { "00.0": { id: 8086:10d3, class: 0x020000 } } }
      "02.0": { id: 8086:10d3, class: 0x020000 }
  - bus: 0x00
    devices:
      "00.0": { id: 8086:29c0, class: 0x060000, type: host-bridge }
`);
    assert.deepEqual(lines(m), ['group 0: 0000:80:01.0', 'group 1: 0000:80:02.0', 'group 2: 0000:81:00.0', 'group 3: 0000:00:00.0']);
  });

  it('below an ARI port, functions 8-15 of an endpoint without ACS form a second "slot"', () => {
    const fns = Array.from({ length: 16 }, (_, i) => `"00.${i.toString(16).padStart(2, '0')}": { id: 15b3:1018, class: 0x020000${i === 0 ? ', ari: true' : ''} }`).join(', ');
    const m = machine(`      "01.0": { ${RP_ACS}, ari: true, devices: { ${fns} } }\n`);
    const g = groupsJson(m).groups.slice(2).map((x) => x.devices.length);
    assert.deepEqual(g, [8, 8]);
  });

  it('AMD-Vi adds the HyperTransport range to every group', () => {
    const m = machine(`      "02.0": { id: 8086:10d3, class: 0x020000 }\n`, { cmdline: '', iommus: '  - { name: ivhd0, type: amd-vi }' });
    assert.deepEqual(groupsJson(m).groups[1]!.reserved_regions, ['0x00000000fee00000 0x00000000feefffff msi', '0x000000fd00000000 0x000000ffffffffff reserved']);
  });

  it('SMMUv3 refuses a platform device whose stream ID another device already uses', () => {
    const m = boot(`version: 1
arch: arm64
iommus: [{ name: smmu0, type: arm-smmu-v3 }]
platform:
  - { name: 1c00000.gpu, iommu: smmu0, stream-ids: [0x10] }
  - { name: 1d00000.dma, iommu: smmu0, stream-ids: [0x10, 0x11] }
  - { name: 1e00000.usb, iommu: smmu0, stream-ids: [0x20] }
`);
    assert.deepEqual(lines(m), ['group 0: 1c00000.gpu', 'group 1: 1e00000.usb']);
    assert.deepEqual(groupsJson(m).groups[0]!.reserved_regions, ['0x0000000008000000 0x00000000080fffff msi']);
    assert.equal(groupsJson(m).groups[0]!.type, 'DMA');
  });
});
