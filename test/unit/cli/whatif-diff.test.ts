// whatif's edits and the group diff, on inline machines whose groups follow from the
// kernel's rules (drivers/iommu/iommu.c pci_device_group; reference §1.4-§1.5).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { groupsText } from '../../../src/cli/groups';
import { CliError } from '../../../src/cli/errors';
import { diffGroups, diffText, isIsolated } from '../../../src/cli/group-diff';
import { applyEdits, parseMove, parseSet } from '../../../src/cli/topology-edit';
import type { Edit } from '../../../src/cli/topology-edit';
import { Machine } from '../../../src/engine/machine';
import type { Device } from '../../../src/engine/types';
import { loadTopology } from '../../../src/topology/load';
import type { Topology } from '../../../src/topology/model';

function topology(devices: string, cmdline = 'intel_iommu=on'): Topology {
  const r = loadTopology(
    `version: 1
cmdline: "${cmdline}"
iommus:
  - { name: dmar0, type: intel-vtd, scope: all }
pci:
  - bus: 0
    devices:
      "00.0": { id: 8086:29c0, class: 0x060000, type: host-bridge }
${devices}`,
    'inline.yaml',
  );
  if (!r.ok) assert.fail(r.errors.map((e) => `${e.line}:${e.col} ${e.path}: ${e.message}`).join('\n'));
  return r.topology;
}

const RP_ACS = 'id: 1b36:000c, type: root-port, acs: [sv, rr, cr, uf]';
const RP_NOACS = 'id: 8086:1901, type: root-port';
const GPU = '"00.0": { id: 10de:1b80, class: 0x030000 }, "00.1": { id: 10de:10f0, class: 0x040300 }';

/** The key whatif uses: the YAML path, which a move keeps. */
const pathKey = (d: Device): string => (d.kind === 'pci' ? d.fn.spec.path : d.name);

function whatif(t: Topology, edits: Edit[]): { before: Machine; after: Machine } {
  return { before: Machine.boot(t), after: Machine.boot(applyEdits(t, edits)) };
}

function refused(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof CliError && e.exitCode === 2 && re.test(e.message));
}

// Two conventional cards behind a PCIe-to-PCI bridge: both alias to the bridge
// ((secondary bus, 00.0) in pci_for_each_dma_alias), so all three share one group.
const BRIDGED = `      "01.0": { ${RP_ACS}, devices: { "00.0": { id: 12d8:e111, type: pcie-pci-bridge, devices: {
          "01.0": { id: 1000:0030, class: 0x010000 }, "02.0": { id: 8086:100e, class: 0x020000 } } } } }
      "02.0": { ${RP_ACS}, devices: { "00.0": { id: 144d:a808, class: 0x010802 } } }
      "03.0": { ${RP_NOACS}, devices: { ${GPU} } }
`;

describe('isolated', () => {
  it('is alone, or with only its own functions and the bridges above it', () => {
    const m = Machine.boot(topology(BRIDGED));
    const iso = (n: string): boolean | null => isIsolated(m.devices.get(n)!);
    assert.equal(iso('0000:02:01.0'), false, 'shares the bridge group with another card');
    assert.equal(iso('0000:02:02.0'), false);
    assert.equal(iso('0000:03:00.0'), true, 'alone behind a port with ACS');
    assert.equal(iso('0000:04:00.0'), true, 'with its own function and the port above it');
    assert.equal(iso('0000:04:00.1'), true);
    assert.equal(iso('0000:00:03.0'), null, 'ports are not judged');
    assert.equal(iso('0000:00:00.0'), null, 'host bridges are not judged');
  });
});

describe('whatif edits', () => {
  it('--move a card out from behind a shared bridge isolates both cards', () => {
    const t = topology(BRIDGED + `      "04.0": { ${RP_ACS} }\n`);
    const { before, after } = whatif(t, [parseMove('0000:02:01.0=0000:00:04.0')]);
    assert.match(groupsText(before), /: 0000:01:00\.0 0000:02:01\.0 0000:02:02\.0$/m);
    const d = diffGroups(before, after, pathKey);
    // Bus 05 is the new port's secondary bus: pci-bridge numbering is depth first.
    assert.deepEqual(d.moved, [{ before: '0000:02:01.0', after: '0000:05:00.0' }]);
    assert.deepEqual(d.became_isolated.map((c) => c.device), ['0000:02:02.0', '0000:05:00.0']);
    assert.deepEqual(d.lost_isolation, []);
    const moved = d.became_isolated.find((c) => c.device === '0000:05:00.0')!;
    assert.deepEqual(moved.after.shared_with, []);
    assert.match(moved.before.reasons.join('\n'), /0000:01:00\.0/);
    assert.match(moved.after.reasons.join('\n'), /0000:00:04\.0 and every bridge above it isolate with ACS/);
    assert.equal(d.split.length, 1);
    assert.match(diffText(d), /^0000:02:01\.0 moves to 0000:05:00\.0$/m);
    assert.match(diffText(d), /^0000:05:00\.0 becomes isolated: group \d+ with 0000:01:00\.0 0000:02:02\.0 → group \d+ alone \(before: .*\. after: .*\)$/m);
  });

  it('--move into a taken port swaps the two cards; PCIe onto a conventional bus is refused', () => {
    const t = topology(BRIDGED);
    const { before, after } = whatif(t, [parseMove('0000:04:00.0=0000:00:02.0')]);
    const d = diffGroups(before, after, pathKey);
    assert.deepEqual(d.moved, [
      { before: '0000:03:00.0', after: '0000:04:00.0' },
      { before: '0000:04:00.0', after: '0000:03:00.0' },
      { before: '0000:04:00.1', after: '0000:03:00.1' },
    ]);
    // The GPU behind the ACS port: its two functions (no ACS, multifunction) share a slot
    // group without the port; the NVMe behind the port without ACS joins the port.
    assert.match(groupsText(after), /: 0000:03:00\.0 0000:03:00\.1$/m);
    assert.match(groupsText(after), /: 0000:00:03\.0 0000:04:00\.0$/m);
    assert.deepEqual(d.became_isolated, []);
    assert.deepEqual(d.lost_isolation, []);
    refused(() => applyEdits(t, [parseMove('0000:03:00.0=0000:01:00.0')]), /PCI Express function and the bus behind 0000:01:00\.0 is conventional/);
  });

  it('refuses what cannot be done, exit 2', () => {
    const t = topology(BRIDGED);
    refused(() => applyEdits(t, [parseMove('0000:09:00.0=0000:00:02.0')]), /no PCI device 0000:09:00\.0/);
    refused(() => applyEdits(t, [parseMove('0000:03:00.0=0000:04:00.1')]), /is an endpoint; a card goes behind/);
    refused(() => applyEdits(t, [parseMove('0000:00:02.0=0000:00:03.0')]), /root-port, part of the root complex/);
    refused(() => applyEdits(t, [parseMove('0000:01:00.0=0000:02:01.0')]), /is an endpoint|on the card being moved/);
    refused(() => applyEdits(t, [parseMove('0000:03:00.0=0000:00:02.0')]), /already behind/);
    refused(() => parseMove('0000:03:00.0'), /expected DEVICE=PORT/);
    refused(() => parseSet('0000:00:02.0.acs=sv,zz'), /"zz" is not an ACS flag/);
    refused(() => applyEdits(t, [parseSet('0000:00:02.0.acs=sv,zz')]), /"zz" is not an ACS flag/);
    refused(() => parseSet('0000:00:02.0.driver=vfio-pci'), /only "acs" can be set/);
  });

  it('refuses a move whose bridge takes a bus number the topology fixes', () => {
    // Depth first: 01.0 → bus 1, 02.0 → bus 2 (fixed), 03.0 → 3, the bridge card → 4. Moved
    // behind 01.0 the bridge card's secondary bus would be numbered 2, which 02.0 holds.
    const t = topology(`      "01.0": { ${RP_ACS} }
      "02.0": { ${RP_ACS}, slot: { bus: 2 } }
      "03.0": { ${RP_ACS}, devices: { "00.0": { id: 12d8:e111, type: pcie-pci-bridge, devices: { "01.0": { id: 8086:100e, class: 0x020000 } } } } }
`);
    assert.match(groupsText(Machine.boot(t)), /0000:04:01\.0/);
    refused(() => applyEdits(t, [parseMove('0000:03:00.0=0000:00:01.0')]), /bus 0x02 would be both/);
  });

  it('--set acs=none on a port makes its card join the port; the group merges', () => {
    const t = topology(BRIDGED);
    const { before, after } = whatif(t, [parseSet('0000:00:02.0.acs=none')]);
    const d = diffGroups(before, after, pathKey);
    assert.equal(d.merged.length, 1);
    assert.deepEqual(d.merged[0]!.from.flatMap((p) => p.devices), ['0000:00:02.0', '0000:03:00.0']);
    // Isolation by the definition: the NVMe with only its port above it is still isolated.
    assert.deepEqual(d.lost_isolation, []);
    assert.deepEqual(d.regrouped.map((c) => c.device), ['0000:00:02.0', '0000:03:00.0']);
    assert.match(d.regrouped[1]!.after.reasons.join('\n'), /0000:00:02\.0 does not isolate its downstream devices: no ACS capability/);
  });

  it('--cmdline is appended: pcie_acs_override=downstream,multifunction splits the GPU group', () => {
    const t = topology(BRIDGED);
    const edited = applyEdits(t, [{ kind: 'cmdline', text: 'pcie_acs_override=downstream,multifunction' }]);
    assert.equal(edited.cmdline.raw, 'intel_iommu=on pcie_acs_override=downstream,multifunction');
    assert.equal(t.cmdline.raw, 'intel_iommu=on', 'the original is untouched');
    const d = diffGroups(Machine.boot(t), Machine.boot(edited), pathKey);
    const split = d.split.map((s) => s.into.map((p) => p.devices.join(' ')));
    // Downstream: ports count as isolating; multifunction: each function as isolated. The
    // bridged cards stay together: their DMA aliases to the bridge, which no override changes.
    assert.deepEqual(split, [['0000:00:03.0', '0000:04:00.0', '0000:04:00.1']]);
  });

  it('--cmdline iommu=pt: same groups, identity default domains', () => {
    const t = topology(BRIDGED);
    const d = diffGroups(Machine.boot(t), Machine.boot(applyEdits(t, [{ kind: 'cmdline', text: 'iommu=pt' }])), pathKey);
    assert.deepEqual(d.renumbered, []);
    assert.equal(d.retyped.length, 6, 'every group: host bridge, three ports (one with the GPU), the PCI bridge, the NVMe');
    assert.ok(d.retyped.every((r) => r.before === 'DMA-FQ' && r.after === 'identity'));
    assert.match(diffText(d), /^group 3 type DMA-FQ becomes identity: 0000:00:03\.0 0000:04:00\.0 0000:04:00\.1$/m);
  });

  it('nothing changed: no change in the groups', () => {
    const t = topology(BRIDGED);
    const d = diffGroups(Machine.boot(t), Machine.boot(applyEdits(t, [])), pathKey);
    assert.equal(diffText(d), 'no change in the groups');
  });
});

describe('diff of two machines, by address', () => {
  it('reports new and gone devices and groups that only change number', () => {
    const a = Machine.boot(topology(BRIDGED));
    const b = Machine.boot(topology(BRIDGED.replace('      "03.0": {', '      "04.0": { ' + RP_ACS + ', devices: { "00.0": { id: 8086:1539, class: 0x020000 } } }\n      "03.0": {')));
    const d = diffGroups(a, b, (x) => x.name);
    assert.deepEqual(d.added, ['0000:00:04.0', '0000:05:00.0']);
    assert.deepEqual(d.removed, []);
    assert.deepEqual(d.moved, []);
    // Linux adds every device of the root bus before those below (pci_bus_add_devices), and
    // a group takes the lowest free number: the new port takes 4, the bridge's group moves up.
    assert.deepEqual(d.renumbered, [
      { before: 4, after: 5, devices: ['0000:01:00.0', '0000:02:01.0', '0000:02:02.0'] },
      { before: 5, after: 6, devices: ['0000:03:00.0'] },
    ]);
    assert.match(diffText(d), /^0000:05:00\.0 is new$/m);
    assert.match(diffText(d), /^group 4 becomes group 5: 0000:01:00\.0 0000:02:01\.0 0000:02:02\.0$/m);
  });
});
