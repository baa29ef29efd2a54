// intel-iommu/domains_used from the domain engine: what every recording shows at boot, and
// how claims, user domains and PASIDs take and give back domain ids.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { domainIdsUsed } from '../../../src/engine/domain-ids';
import { unbind } from '../../../src/engine/driver-ops';
import { Machine } from '../../../src/engine/machine';
import { loadTopologyFile } from '../../../src/topology/load';
import { TOPOLOGIES } from '../../helpers/paths';
import { MACHINES, recording } from '../../helpers/reference';
import { bootDomains, groupOf, NIC, pci, PF } from './domains-fixture';

function recorded(name: string): number | undefined {
  const line = recording(name).phases.boot.sections['classiommu']?.find((l) => l.includes('domains_used: '));
  return line === undefined ? undefined : Number(line.split(': ')[1]);
}

describe('intel-iommu domains_used', () => {
  for (const name of MACHINES) {
    it(`qemu-${name}: as recorded at boot`, (t) => {
      const want = recorded(name);
      if (want === undefined) return t.skip('no VT-d unit');
      const r = loadTopologyFile(join(TOPOLOGIES, `qemu-${name}.yaml`));
      assert.ok(r.ok);
      const m = Machine.boot(r.topology);
      assert.equal(domainIdsUsed(m, m.units[0]!), want);
    });
  }

  it('a claimed group gives its id back; user domains count once however many groups and PASIDs use them', () => {
    const m = bootDomains();
    const dmar0 = m.units.find((u) => u.name === 'dmar0')!;
    const base = domainIdsUsed(m, dmar0);
    const nic = groupOf(m, NIC);
    const pf = groupOf(m, PF);
    unbind(m, 'e1000e', NIC);
    unbind(m, 'nvme', PF);
    m.dma.claim(nic, 'qemu');
    m.dma.claim(pf, 'qemu');
    assert.equal(domainIdsUsed(m, dmar0), base - 2, 'blocking holds no id');
    const d = m.dma.allocate('dmar0', { pasid: true });
    assert.equal(domainIdsUsed(m, dmar0), base - 2, 'allocated, not attached');
    m.dma.attach(nic, d.id);
    m.dma.attach(pf, d.id);
    assert.equal(domainIdsUsed(m, dmar0), base - 1);
    const e = m.dma.allocate('dmar0', { pasid: true });
    m.dma.attachPasid(pci(m, NIC), 5, e.id);
    assert.equal(domainIdsUsed(m, dmar0), base);
    m.dma.release(nic, 'qemu');
    m.dma.release(pf, 'qemu');
    assert.equal(domainIdsUsed(m, dmar0), base);
  });
});
