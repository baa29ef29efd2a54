// The loader never throws and never hits its internal-error fallback, whatever the input:
// random text, random bytes, and truncated or mutated copies of valid topologies.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { loadTopology } from '../../../src/topology/load';

const ROOT = resolve(__dirname, '../../../..');

function seeds(): string[] {
  const out: string[] = [];
  for (const dir of ['topologies', 'test/fixtures/bad-topologies']) {
    let names: string[] = [];
    try {
      names = readdirSync(join(ROOT, dir)).filter((f) => f.endsWith('.yaml'));
    } catch {
      continue;
    }
    for (const n of names) out.push(readFileSync(join(ROOT, dir, n), 'utf8'));
  }
  assert.ok(out.length > 0, 'no seed topologies found');
  return out;
}

function check(text: string): void {
  const r = loadTopology(text, 'fuzz.yaml');
  if (r.ok) return;
  assert.ok(r.errors.length > 0);
  for (const e of r.errors) {
    assert.ok(e.line >= 1 && e.col >= 1, `bad position ${e.line}:${e.col}`);
    assert.ok(!e.message.startsWith('internal error'), e.message);
  }
}

test('random strings are refused or accepted, never thrown on', () => {
  fc.assert(fc.property(fc.string({ maxLength: 300 }), check), { numRuns: 300 });
});

test('random bytes decoded as text are handled', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => check(Buffer.from(bytes).toString('utf8'))),
    { numRuns: 300 },
  );
});

test('truncated seed topologies are handled', () => {
  for (const s of seeds()) {
    // 20 cuts spread over each file, at odd offsets so they land mid-token as well.
    const step = Math.max(1, Math.floor(s.length / 20));
    for (let i = 0; i < s.length; i += step) check(s.slice(0, i + (i % 3)));
  }
});

test('mutated seed topologies are handled', () => {
  const all = seeds();
  const alphabet = [':', '-', ' ', '\n', '"', '{', '}', '[', ']', '&', '*', '!', '0x', 'true', '\t', '#', '---'];
  fc.assert(
    fc.property(
      fc.nat({ max: all.length - 1 }),
      fc.array(fc.tuple(fc.nat(), fc.constantFrom(...alphabet), fc.nat({ max: 4 })), { maxLength: 6 }),
      (which, edits) => {
        let s = all[which]!;
        for (const [at, insert, del] of edits) {
          const i = s.length === 0 ? 0 : at % s.length;
          s = s.slice(0, i) + insert + s.slice(i + del);
        }
        check(s);
      },
    ),
    { numRuns: 200 },
  );
});
