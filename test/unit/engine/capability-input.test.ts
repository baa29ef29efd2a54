// A driver's probe asks which interrupt capability the device has from the narrow input
// (config.ts stdCapsInputFor), not from the whole config image input: both must give the
// same answer for every function, VFs and topology `msi`/`msix`/`pm` keys included, or a
// bound driver would get vectors the image does not show.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { configInputFor, stdCapsInputFor } from '../../../src/engine/config';
import { Machine } from '../../../src/engine/machine';
import { interruptCapability } from '../../../src/pci/config-space';
import { loadTopology, loadTopologyFile } from '../../../src/topology/load';
import type { LoadResult } from '../../../src/topology/load';
import { generateMachineYaml } from '../../../scripts/generate-machine';
import { TOPOLOGIES } from '../../helpers/paths';

const OVERRIDES = `
version: 1
iommus:
  - { name: dmar0, type: intel-vtd, scope: all }
pci:
  - segment: 0x0000
    bus: 0x00
    devices:
      "00.0": { id: 8086:0e00, class: 0x060000, type: host-bridge }
      "02.0":
        id: 8086:0e04
        type: root-port
        devices:
          "00.0": { id: 8086:1521, class: 0x020000, msix: 0, msi: { vectors: 4, 64-bit: false }, pm: false, driver: igb,
                    sriov: { total: 4, offset: 0x80, stride: 4, vf-id: 8086:1520, vf-driver: igbvf, num: 2 } }
      "03.0":
        id: 8086:0e08
        type: root-port
        devices:
          "00.0": { id: 10de:2204, class: 0x030000, msi: { vectors: 0 }, msix: 3, driver: vfio-pci }
`;

function machines(): Array<[string, LoadResult]> {
  const shipped = readdirSync(TOPOLOGIES)
    .filter((f) => f.endsWith('.yaml'))
    .map((f): [string, LoadResult] => [f, loadTopologyFile(join(TOPOLOGIES, f))]);
  return [...shipped, ['generated-300', loadTopology(generateMachineYaml(300), 'g.yaml')], ['overrides', loadTopology(OVERRIDES, 'overrides.yaml')]];
}

test('the probe’s interrupt capability equals the one of the whole image input, on every function', () => {
  let functions = 0;
  let withMsi = 0;
  for (const [name, r] of machines()) {
    if (!r.ok) assert.fail(`${name}: ${r.errors.map((e) => `${e.line}:${e.col} ${e.message}`).join('; ')}`);
    const m = Machine.boot(r.topology);
    for (const d of m.pciDevicesInOrder()) {
      const full = interruptCapability(configInputFor(m, d));
      assert.deepEqual(interruptCapability(stdCapsInputFor(d.fn)), full, `${name} ${d.fn.name}`);
      functions++;
      if (full.kind !== null) withMsi++;
    }
  }
  // The comparison must have seen both answers, or it proves nothing.
  assert.ok(withMsi > 0 && withMsi < functions, `${withMsi} of ${functions} functions with MSI or MSI-X`);
});
