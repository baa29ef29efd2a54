// The engine against what Linux 6.1 showed for the QEMU reference machines: group numbers,
// members, default domain types and reserved regions, machine by machine.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { groupsJson, groupsText } from '../../../src/cli/groups';
import { Machine } from '../../../src/engine/machine';
import { loadTopologyFile } from '../../../src/topology/load';
import { FIXTURES, TOPOLOGIES } from '../../helpers/paths';
import { MACHINES, recording } from '../../helpers/reference';

function boot(name: string): Machine {
  const r = loadTopologyFile(join(TOPOLOGIES, `qemu-${name}.yaml`));
  if (!r.ok) assert.fail(r.errors.map((e) => `${e.line}:${e.col} ${e.message}`).join('\n'));
  return Machine.boot(r.topology);
}

describe('groups equal the kernel recordings', () => {
  for (const name of [...MACHINES, 'sriov']) {
    it(`qemu-${name}: group numbers and members`, () => {
      const expected = readFileSync(join(FIXTURES, 'expected-groups', `qemu-${name}.txt`), 'utf8').trim();
      assert.equal(groupsText(boot(name)), expected);
    });
  }

  for (const name of MACHINES) {
    it(`qemu-${name}: type and reserved_regions of every group`, () => {
      const rec = recording(name).phases.boot;
      const ours = groupsJson(boot(name)).groups;
      const theirs = Object.entries(rec.groups)
        .map(([id, g]) => ({ id: Number(id), type: g.attrs.type, devices: [...g.devices].sort(), reserved_regions: g.reserved_regions }))
        .sort((a, b) => a.id - b.id);
      assert.deepEqual(ours, theirs);
    });
  }
});
