// Every file of test/fixtures/bad-topologies is refused with exactly the lines of its
// .expected companion (what the CLI prints before exiting 2): the loader's problems, or for
// a file it accepts, what boot would trip on (pci/check.ts).

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { checkTopology } from '../../../src/pci/check';
import { loadTopology } from '../../../src/topology/load';
import { formatDiagnostic } from '../../../src/topology/model';

const ROOT = resolve(__dirname, '../../../..');
const DIR = 'test/fixtures/bad-topologies';
const files = readdirSync(join(ROOT, DIR))
  .filter((f) => f.endsWith('.yaml'))
  .sort();

test('the bad-topology corpus has at least 25 files, each with an .expected companion', () => {
  assert.ok(files.length >= 25, `only ${files.length} files`);
  const all = new Set(readdirSync(join(ROOT, DIR)));
  for (const f of files) assert.ok(all.has(f.replace(/\.yaml$/, '.expected')), `${f} has no .expected`);
});

for (const f of files) {
  test(`${f} is refused with exactly the expected lines`, () => {
    const rel = `${DIR}/${f}`;
    const result = loadTopology(readFileSync(join(ROOT, rel), 'utf8'), rel);
    const errors = result.ok ? checkTopology(result.topology) : result.errors;
    assert.notEqual(errors.length, 0, `${f} was accepted`);
    const expected = readFileSync(join(ROOT, rel.replace(/\.yaml$/, '.expected')), 'utf8').trimEnd().split('\n');
    assert.deepEqual(errors.map(formatDiagnostic), expected);
  });
}
