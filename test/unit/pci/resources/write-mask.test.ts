// Which bits of the resource registers a user may write (pci/resources/write-mask.ts).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resourceWriteMask } from '../../../../src/pci/resources/write-mask';
import type { Declared } from '../../../../src/pci/resources/declared';
import type { PciFunction } from '../../../../src/pci/enumerate';

const fn = (headerType: 0 | 1, physfn?: PciFunction): PciFunction => ({ headerType, ...(physfn ? { physfn } : {}) }) as PciFunction;
const dword = (m: Map<number, number>, at: number): number | undefined =>
  m.has(at) ? ((m.get(at)! | (m.get(at + 1)! << 8) | (m.get(at + 2)! << 16) | (m.get(at + 3)! << 24)) >>> 0) : undefined;
const G = 2 ** 30;

describe('resource write masks', () => {
  it('a BAR writes its address bits down to its size; an 8G 64-bit BAR also leaves the upper half\'s low bit', () => {
    const d: Declared = { bars: [{ index: 0, size: 16 * 2 ** 20, kind: 'mem32', prefetch: false }, { index: 2, size: 8 * G, kind: 'mem64', prefetch: true }, { index: 4, size: 128, kind: 'io', prefetch: false }], rom: 0, vfBars: [] };
    const m = resourceWriteMask(fn(0), d);
    assert.equal(dword(m, 0x10), 0xff000000);
    assert.equal(dword(m, 0x14), undefined);
    assert.equal(dword(m, 0x18), 0);
    assert.equal(dword(m, 0x1c), 0xfffffffe);
    assert.equal(dword(m, 0x20), 0xffffff80);
    assert.equal(dword(m, 0x30), undefined, 'no ROM, no ROM BAR');
  });

  it('the ROM BAR: address bits of its size and the enable bit', () => {
    const m = resourceWriteMask(fn(0), { bars: [], rom: 64 * 1024, vfBars: [] });
    assert.equal(dword(m, 0x30), 0xffff0001);
  });

  it('a bridge: two BARs, the ROM at 0x38, window registers above their granularity', () => {
    const m = resourceWriteMask(fn(1), { bars: [{ index: 0, size: 4096, kind: 'mem32', prefetch: false }], rom: 2048, vfBars: [] });
    assert.equal(dword(m, 0x10), 0xfffff000);
    assert.equal(dword(m, 0x38), 0xfffff801);
    assert.deepEqual([m.get(0x1c), m.get(0x1d)], [0xf0, 0xf0]);
    assert.equal(dword(m, 0x20), 0xfff0fff0);
    assert.equal(dword(m, 0x24), 0xfff0fff0);
    assert.equal(dword(m, 0x28), 0xffffffff);
    assert.equal(m.get(0x18), undefined, 'bus numbers stay the engine\'s');
  });

  it('a VF\'s BARs are read-only zero', () => {
    const d: Declared = { bars: [{ index: 0, size: 16384, kind: 'mem64', prefetch: false }], rom: 0, vfBars: [] };
    assert.equal(resourceWriteMask(fn(0, fn(0)), d).size, 0);
  });
});
