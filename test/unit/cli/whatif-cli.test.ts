// `whatif` and `diff` on the shipped consumer boards, answering the questions people ask.
// Outcomes follow from the boards' ACS and the kernel's grouping rules (pci_device_group:
// a port without ACS takes what is below it; functions of a multifunction card without ACS
// share a slot group; the ACS override patch makes ports and functions count as isolated).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cli } from '../../helpers/cli';
import type { DeviceChange } from '../../../src/cli/group-diff';
import type { DiffJson } from '../../../src/cli/whatif';

async function whatifJson(...args: string[]): Promise<DiffJson> {
  const r = await cli('whatif', ...args, '--json');
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as DiffJson;
}

/** Every device whose group changed, by its name after the edit. */
function changes(d: DiffJson): Map<string, DeviceChange> {
  return new Map([...d.became_isolated, ...d.lost_isolation, ...d.regrouped].map((c) => [c.device, c]));
}

/** "0000:03:00.1" → "0000:03:00": the card (bus and slot) a function belongs to. */
const card = (name: string): string => name.slice(0, -2);

describe('whatif: which slot gives my GPU its own group', () => {
  const boards: { file: string; gpu: string; peg: string; ports: string[] }[] = [
    // Cannon Lake PCH ports carry ACS (SV RR CR UF); the PEG port 00:01.0 has none.
    { file: 'topologies/intel-z390-desktop.yaml', gpu: '0000:01:00.0', peg: '0000:00:01.0', ports: ['0000:00:1b.0', '0000:00:1c.0', '0000:00:1c.4', '0000:00:1d.0'] },
    // Panther Point ports have no ACS capability, but the kernel's Intel PCH quirk isolates them.
    { file: 'topologies/intel-z77-desktop.yaml', gpu: '0000:01:00.0', peg: '0000:00:01.0', ports: ['0000:00:1c.0', '0000:00:1c.4', '0000:00:1c.5'] },
  ];
  for (const b of boards) {
    it(`${b.file}: in a PCH root port the GPU's functions have a group of their own`, async () => {
      const report: string[] = [];
      for (const port of b.ports) {
        const d = await whatifJson(b.file, '--move', `${b.gpu}=${port}`);
        const gpu = d.moved.find((m) => m.before === b.gpu)!.after;
        const c = changes(d).get(gpu)!;
        // Before: with the PEG port (no ACS) above it; after: only its own functions.
        assert.ok(c.before.shared_with.includes(b.peg), `${port}: before, the GPU shares the PEG port's group`);
        assert.ok(c.after.shared_with.length > 0, 'the audio function stays with it');
        assert.deepEqual(c.after.shared_with.filter((n) => card(n) !== card(gpu)), [], `${port}: only its own functions`);
        assert.equal(c.after.isolated, true);
        assert.match(c.after.reasons.join('\n'), new RegExp(`${port.replace(/\./g, '\\.')} and every bridge above it isolate`));
        // The card that was in the port swaps into the PEG slot and joins the PEG port's group.
        const swapped = d.moved.find((m) => m.after.startsWith('0000:01:00.'))!.after;
        assert.ok(changes(d).get(swapped)!.after.shared_with.includes(b.peg));
        report.push(`${port}: group ${c.after.group} with ${c.after.shared_with.join(' ')}`);
      }
      assert.equal(report.length, b.ports.length);
    });
  }

  it('the slot it is in already is refused, exit 2, and plain words say what moved', async () => {
    const r = await cli('whatif', 'topologies/intel-z390-desktop.yaml', '--move', '0000:01:00.0=0000:00:01.0');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /0000:01:00\.0 is already behind 0000:00:01\.0/);
    const t = await cli('whatif', 'topologies/intel-z390-desktop.yaml', '--move', '01:00.0=00:1c.0');
    assert.equal(t.code, 0, t.stderr);
    assert.match(t.stdout, /^0000:01:00\.0 moves to 0000:03:00\.0$/m);
    assert.match(t.stdout, /^0000:03:00\.0 moves to 0000:01:00\.0$/m);
    // A split or merge names the members both machines have: the GPU leaves group 1, the
    // USB card that took its slot joins it.
    assert.match(t.stdout, /^group 1 splits into group 1 \(0000:00:01\.0\), group 14 \(0000:03:00\.0 0000:03:00\.1 0000:03:00\.2 0000:03:00\.3\)$/m);
    assert.match(t.stdout, /^group 1 merges group 1 \(0000:00:01\.0\), group 14 \(0000:01:00\.0\)$/m);
  });
});

describe('whatif: does the ACS override split this group', () => {
  const OVERRIDE = 'pcie_acs_override=downstream,multifunction';
  it('intel-z390: the PEG group splits into the port and each GPU function', async () => {
    const d = await whatifJson('topologies/intel-z390-desktop.yaml', '--cmdline', OVERRIDE);
    assert.equal(d.after.cmdline, `intel_iommu=on ${OVERRIDE}`);
    assert.deepEqual(
      d.split.map((s) => [s.group, s.into.map((p) => p.devices.join(' '))]),
      [[1, ['0000:00:01.0', '0000:01:00.0', '0000:01:00.1', '0000:01:00.2', '0000:01:00.3']]],
    );
    assert.match(changes(d).get('0000:01:00.1')!.after.reasons.join('\n'), /pcie_acs_override/);
    const r = await cli('whatif', 'topologies/intel-z390-desktop.yaml', '--cmdline', OVERRIDE);
    assert.match(r.stderr, /warning: after the edits: pcie_acs_override is set/);
  });

  it('amd-x570: the chipset ports without ACS and the GPU functions split; conventional FCH functions do not', async () => {
    const d = await whatifJson('topologies/amd-x570-desktop.yaml', '--cmdline', OVERRIDE);
    assert.deepEqual(
      d.split.map((s) => s.into.map((p) => p.devices.join(' '))),
      [
        ['0000:03:08.0', '0000:06:00.0', '0000:06:00.1', '0000:06:00.3'],
        ['0000:03:09.0', '0000:07:00.0'],
        ['0000:03:0a.0', '0000:08:00.0'],
        ['0000:0b:00.0', '0000:0b:00.1'],
      ],
    );
    // 00:14.0/14.3 are conventional PCI: no ACS, overridden or not (their group stays).
    assert.ok(!d.split.some((s) => s.into.some((p) => p.devices.includes('0000:00:14.0'))));
  });

  it('amd-x570: a chipset link without ACS would take every chipset device into one group', async () => {
    const d = await whatifJson('topologies/amd-x570-desktop.yaml', '--set', '0000:00:01.2.acs=none');
    // 00:01.2 fails ACS, so everything below joins it, and as a function of slot 01 without
    // ACS it joins 00:01.0's group (slot group): the NICs lose their isolation. (00:01.0 is
    // a host bridge: not judged.)
    assert.deepEqual(
      d.lost_isolation.map((c) => c.device),
      ['0000:04:00.0', '0000:05:00.0', '0000:06:00.0', '0000:06:00.1', '0000:06:00.3', '0000:07:00.0', '0000:08:00.0'],
    );
    assert.equal(d.merged.length, 1);
    assert.equal(d.merged[0]!.group, 0);
  });
});

describe('diff and usage', () => {
  it('diff of a file with itself: no change; of two boards: by address', async () => {
    const same = await cli('diff', 'topologies/intel-z390-desktop.yaml', 'topologies/intel-z390-desktop.yaml');
    assert.equal(same.code, 0);
    assert.equal(same.stdout.trim(), 'no change in the groups');
    const r = await cli('diff', 'topologies/intel-z77-desktop.yaml', 'topologies/intel-z390-desktop.yaml', '--json');
    assert.equal(r.code, 0, r.stderr);
    const d = JSON.parse(r.stdout) as DiffJson;
    assert.ok(d.added.includes('0000:05:00.0'));
    assert.ok(d.removed.includes('0000:00:1c.5'));
    assert.deepEqual(d.edits, []);
  });

  it('--help, bad options and bad topologies exit as the other commands do', async () => {
    assert.match((await cli('whatif', '--help')).stdout, /^usage: iommufs whatif <topology\.yaml>/);
    assert.match((await cli('diff', '--help')).stdout, /^usage: iommufs diff <a\.yaml> <b\.yaml>/);
    assert.equal((await cli('whatif', 'topologies/intel-z390-desktop.yaml', '--bogus')).code, 2);
    assert.equal((await cli('diff', 'topologies/intel-z390-desktop.yaml')).code, 2);
    const bad = await cli('whatif', 'topologies/intel-z390-desktop.yaml', '--set', '0000:00:1c.0.acs=sv,zz');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /"zz" is not an ACS flag/);
    const missing = await cli('whatif', 'topologies/intel-z390-desktop.yaml', '--move', '0000:09:00.0=0000:00:1c.0');
    assert.equal(missing.code, 2);
    assert.equal(missing.stdout, '');
    assert.match((await cli('--help')).stdout, /iommufs whatif .*\n.*iommufs diff/);
  });
});
