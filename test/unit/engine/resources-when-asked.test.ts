// The boot resource assignment is made the first time anything asks (engine/resources.ts):
// it must come out the same whether it is asked right after boot or only after VFs were
// enabled and devices removed, or a restarted daemon would show other BARs than it served.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { removeSubtree } from '../../../src/engine/hotplug';
import { Machine } from '../../../src/engine/machine';
import { enableVfs } from '../../../src/engine/sriov';
import type { PciDevice } from '../../../src/engine/types';
import { loadTopologyFile } from '../../../src/topology/load';
import { TOPOLOGIES } from '../../helpers/paths';

function boot(name: string): Machine {
  const r = loadTopologyFile(join(TOPOLOGIES, `${name}.yaml`));
  if (!r.ok) assert.fail(r.errors.map((e) => `${e.line}:${e.col} ${e.message}`).join('\n'));
  return Machine.boot(r.topology);
}

/** Every boot function's `resource` lines and BAR registers, as the views give them. */
function placements(m: Machine): string {
  return m.pci.addOrder.map((f) => `${f.name} ${JSON.stringify(m.resources.view(f))} ${JSON.stringify(m.resources.registers(f))}`).join('\n');
}

for (const name of ['qemu-sriov', 'sriov-nic', 'x79-workstation']) {
  test(`${name}: the assignment asked after VF enables and removals is the one asked after boot`, () => {
    const early = boot(name);
    const atBoot = placements(early);
    const late = boot(name);
    const pfs = [...late.devices.values()].filter((d): d is PciDevice => d.kind === 'pci' && d.fn.spec.sriov !== undefined && !d.fn.physfn);
    assert.ok(pfs.length > 0, 'the machine has SR-IOV functions');
    for (const pf of pfs) if (late.vfCount(pf) === 0) enableVfs(late, pf, pf.fn.spec.sriov!.total);
    // Take away the last function of the boot order that is not a bridge.
    const leaf = [...late.pciDevicesInOrder()].reverse().find((d) => d.fn.headerType === 0 && !d.fn.physfn)!;
    removeSubtree(late, leaf);
    assert.equal(placements(late), atBoot);
  });
}
