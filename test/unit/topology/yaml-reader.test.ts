// YamlReader.pos remembers the line it answered last (devices are read in file order); it
// must answer as the LineCounter's binary search does, in any order.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LineCounter } from 'yaml';
import { YamlReader } from '../../../src/topology/yaml-reader';
import { fuzzSeed, prng } from './seeded';

test('pos() agrees with LineCounter.linePos forwards, backwards and at random', () => {
  const text = 'a: 1\n\n  b: 2\nccc\n\n\n' + 'x\n'.repeat(40) + 'end';
  const lines = new LineCounter();
  lines.addNewLine(0);
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) lines.addNewLine(i + 1);
  const r = new YamlReader('f.yaml', undefined, lines);
  const offsets = Array.from({ length: text.length + 2 }, (_, i) => i - 1);
  const rand = prng(fuzzSeed());
  const shuffled = offsets.map((o) => ({ o, k: rand.int(1000) })).sort((a, b) => a.k - b.k).map((x) => x.o);
  for (const o of [...offsets, ...[...offsets].reverse(), ...shuffled]) {
    assert.deepEqual(r.pos(o), lines.linePos(Math.max(0, o)), `offset ${o}`);
  }
});
