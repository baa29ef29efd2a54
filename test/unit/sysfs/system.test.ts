// devices/system and the PCI devices' local CPUs (sysfs/system.ts): the kernel's bitmap
// formats, and one package per NUMA node with devices local to their root bus's node.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cpuLayout, cpuList, cpuMask, localCpus } from '../../../src/sysfs/system';
import { bootShipped, pciDevice } from '../../helpers/machines';

const boot = bootShipped;

const dev = pciDevice;

describe('devices/system', () => {
  it('bitmaps print as %*pb and %*pbl do', () => {
    assert.equal(cpuMask([0], 1), '1');
    assert.equal(cpuMask([1], 2), '2');
    assert.equal(cpuMask([0, 1, 2, 3, 4, 5, 6, 7], 8), 'ff');
    assert.equal(cpuMask([32, 39], 40), '81,00000000');
    assert.equal(cpuList([0, 1, 2, 5, 7, 8]), '0-2,5,7-8');
  });

  it('one package per NUMA node; a device is local to its own, its bridge\'s or its root bus\'s node', () => {
    const m = boot('dual-socket-xeon');
    assert.deepEqual(cpuLayout(m), [{ node: 0, cpus: [0] }, { node: 1, cpus: [1] }]);
    assert.deepEqual(localCpus(m, dev(m, '0000:86:00.0')), [1]);
    // A root port without numa-node on socket 1's root bus.
    const port = dev(m, '0000:85:00.0');
    assert.equal(port.numaNode, -1);
    assert.deepEqual(localCpus(m, port), [1]);
    assert.deepEqual(localCpus(m, dev(m, '0000:00:00.0')), [0]);
    // A machine without NUMA information: one node, every device local to CPU 0.
    const q = boot('qemu-rootports');
    assert.deepEqual(cpuLayout(q), [{ node: 0, cpus: [0] }]);
    assert.deepEqual(localCpus(q, dev(q, '0000:01:00.0')), [0]);
  });
});
