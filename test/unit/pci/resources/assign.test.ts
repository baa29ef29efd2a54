// The assignment's rules on machines other than the recorded ones: sizes, alignment and
// packing of bridge windows, what moves above 4G, what stays unassigned when nothing fits,
// and the nesting every machine must satisfy (test/helpers/resources.ts).

import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { describe, it } from 'node:test';
import { Machine } from '../../../../src/engine/machine';
import { firstFit } from '../../../../src/pci/resources/assign';
import { loadTopology } from '../../../../src/topology/load';
import { formatDiagnostic } from '../../../../src/topology/model';
import { bootShipped, pciDevice } from '../../../helpers/machines';
import { TOPOLOGIES } from '../../../helpers/paths';
import { CONSUMER, resourceProblems } from '../../../helpers/resources';
import { resourceText } from '../../../../src/sysfs/pci-resources';

function boot(yaml: string): Machine {
  const r = loadTopology(yaml, 't.yaml');
  if (!r.ok) assert.fail(r.errors.map(formatDiagnostic).join('\n'));
  return Machine.boot(r.topology);
}

const hex = (n: number): string => '0x' + n.toString(16);
/** [start, end] of resource line i of a device, as hex, or null. */
function line(m: Machine, name: string, i: number): [string, string] | null {
  const l = m.resources.view(pciDevice(m, name).fn).lines[i];
  return l ? [hex(l.start), hex(l.end)] : null;
}
const size = (m: Machine, name: string, i: number): number | undefined => {
  const l = m.resources.view(pciDevice(m, name).fn).lines[i];
  return l ? l.end - l.start + 1 : undefined;
};
const M = 2 ** 20;

describe('firmware-like assignment', () => {
  it('every shipped topology: BARs inside their windows, windows nested, nothing overlapping', () => {
    for (const file of readdirSync(TOPOLOGIES).filter((f) => f.endsWith('.yaml'))) {
      const m = bootShipped(file.replace(/\.yaml$/, ''));
      assert.deepEqual(resourceProblems(m), [], file);
    }
  });

  it('a GPU behind a root port: class default BARs, windows sized to the largest alignment', () => {
    const m = boot(CONSUMER);
    assert.deepEqual(resourceProblems(m), []);
    const gpu = '0000:01:00.0';
    assert.equal(size(m, gpu, 0), 16 * M);
    assert.equal(size(m, gpu, 1), 256 * M);
    assert.equal(size(m, gpu, 3), 32 * M);
    assert.equal(size(m, gpu, 5), 128);
    assert.equal(size(m, gpu, 6), 512 * 1024);
    // Prefetchable: 256M + 32M rounded up to the 256M alignment; memory: 16M + 512K ROM +
    // the audio function's 16K, rounded up to 16M.
    assert.equal(size(m, '0000:00:01.0', 15), 512 * M);
    assert.equal(size(m, '0000:00:01.0', 14), 32 * M);
    assert.equal(size(m, '0000:00:01.0', 13), 0x1000);
    // Both in the 32-bit window (it fits), the 256M BAR aligned to 256M.
    const bar1 = m.resources.view(pciDevice(m, gpu).fn).lines[1]!;
    assert.equal(bar1.start % (256 * M), 0);
    assert.ok(bar1.end < 2 ** 32);
    // Registers: BAR1 64-bit prefetchable (type bits 0xc), the upper half in BAR2.
    const cfg = m.configBytes(pciDevice(m, gpu));
    const dw = (o: number): number => (cfg[o]! | (cfg[o + 1]! << 8) | (cfg[o + 2]! << 16) | (cfg[o + 3]! << 24)) >>> 0;
    assert.equal(dw(0x14), (bar1.start | 0xc) >>> 0);
    assert.equal(dw(0x18), 0);
    assert.equal(dw(0x24) & 0x3, 0x1);
  });

  it('NVMe behind a switch: 16K 64-bit BARs in 2M windows, the upstream port\'s window holding both', () => {
    const m = boot(CONSUMER);
    const up = '0000:02:00.0';
    const a = line(m, '0000:04:00.0', 0)!;
    const b = line(m, '0000:05:00.0', 0)!;
    assert.notDeepEqual(a, b);
    assert.equal(size(m, '0000:04:00.0', 0), 16 * 1024);
    assert.equal(size(m, '0000:03:08.0', 14), 2 * M);
    assert.equal(size(m, up, 14), 4 * M);
    assert.equal(size(m, '0000:00:1b.0', 14), 4 * M);
    // No I/O behind the switch: no window anywhere on that path but the hot-plug root
    // port's own (slot.hotplug), which Linux gives (pci_hotplug_io_size).
    assert.equal(line(m, up, 13), null);
    assert.equal(size(m, '0000:00:1b.0', 13), 0x1000);
  });

  it('a real root port without slot.hotplug gets no hot-plug I/O window', () => {
    const m = boot(CONSUMER.replace('        slot: { hotplug: true }\n', ''));
    assert.equal(line(m, '0000:00:1b.0', 13), null);
  });

  it('what does not fit below 4G moves above it (eight V100s behind switches)', () => {
    const m = bootShipped('gpu-server-switches');
    assert.deepEqual(resourceProblems(m), []);
    const high = m.pciDevicesInOrder().filter((d) => (m.resources.view(d.fn).lines[1]?.start ?? 0) >= 2 ** 32);
    assert.ok(high.length >= 4, `${high.length} GPUs above 4G`);
  });

  it('I/O space runs out: later I/O windows and BARs stay unassigned, zeros in resource, type bits only in the BAR', () => {
    const ports = Array.from({ length: 20 }, (_, i) => {
      const slot = (i + 1).toString(16).padStart(2, '0');
      return `      "${slot}.0":\n        id: 8086:1901\n        type: root-port\n        devices:\n          "00.0": { id: 8086:10d3, class: 0x020000 }\n`;
    });
    const m = boot(`version: 1\npci:\n  - devices:\n${ports.join('')}`);
    assert.deepEqual(resourceProblems(m), []);
    const nics = m.pciDevicesInOrder().filter((d) => d.fn.classCode === 0x020000);
    const without = nics.filter((d) => m.resources.view(d.fn).lines[2] === null);
    // 0x1000-0xffff holds 15 4K windows.
    assert.equal(nics.length - without.length, 15);
    const d = without[0]!;
    assert.equal(resourceText(m.resources.view(d.fn).lines).split('\n')[2], '0x0000000000000000 0x0000000000000000 0x0000000000000000');
    assert.equal(m.configBytes(d)[0x18], 0x01);
    assert.ok(!m.resources.view(d.fn).files.some((f) => f.index === 2));
    // Its memory BARs are assigned all the same.
    assert.notEqual(m.resources.view(d.fn).lines[0], null);
  });

  it('a 32-bit BAR too large for the 32-bit window stays unassigned; the others are placed', () => {
    const m = boot(`version: 1
pci:
  - devices:
      "02.0": { id: 1234:0001, class: 0x058000, bars: { 0: 2G mem32 } }
      "03.0": { id: 1234:0002, class: 0x058000, bars: { 0: 16K mem32 } }
      "04.0": { id: 1234:0003, class: 0x058000, bars: { 0: 256M mem32 prefetchable } }
`);
    // Memory and prefetchable regions laid out one after the other, not over each other.
    assert.deepEqual(resourceProblems(m), []);
    assert.equal(line(m, '0000:00:02.0', 0), null);
    assert.deepEqual(line(m, '0000:00:03.0', 0), ['0xc0000000', '0xc0003fff']);
    assert.deepEqual(line(m, '0000:00:04.0', 0), ['0xd0000000', '0xdfffffff']);
  });

  it('SR-IOV: TotalVFs x VF BAR in the window above, each VF its slice', () => {
    const m = bootShipped('sriov-nic');
    assert.deepEqual(resourceProblems(m), []);
    const pf = m.pciDevicesInOrder().find((d) => d.fn.spec.sriov && !d.fn.physfn)!;
    const total = pf.fn.spec.sriov!.total;
    const iov = m.resources.view(pf.fn).lines[7]!;
    assert.equal(iov.end - iov.start + 1, total * 16 * 1024);
  });

  it('firstFit: the lowest aligned gap', () => {
    const used = [
      { start: 0x1000, end: 0x1fff },
      { start: 0x3000, end: 0x3fff },
    ];
    assert.equal(firstFit({ start: 0x1000, end: 0xffff }, used, 0x1000, 0x1000), 0x2000);
    assert.equal(firstFit({ start: 0x1000, end: 0xffff }, used, 0x2000, 0x1000), 0x4000);
    assert.equal(firstFit({ start: 0x1000, end: 0x3fff }, used, 0x1000, 0x1000), 0x2000);
    assert.equal(firstFit({ start: 0x1000, end: 0x3fff }, used, 0x2000, 0x1000), undefined);
  });
});
