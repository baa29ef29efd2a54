// Machines for tests: a shipped topology booted by name, and a PCI device by name.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Machine } from '../../src/engine/machine';
import type { PciDevice } from '../../src/engine/types';
import { loadTopologyFile } from '../../src/topology/load';
import { TOPOLOGIES } from './paths';

/** topologies/<name>.yaml, booted; a load error fails the test with its positions. */
export function bootShipped(name: string): Machine {
  const r = loadTopologyFile(join(TOPOLOGIES, `${name}.yaml`));
  if (!r.ok) assert.fail(r.errors.map((e) => `${e.line}:${e.col} ${e.message}`).join('\n'));
  return Machine.boot(r.topology);
}

export function pciDevice(m: Machine, name: string): PciDevice {
  const d = m.devices.get(name);
  assert.ok(d && d.kind === 'pci', `no PCI device ${name}`);
  return d;
}
