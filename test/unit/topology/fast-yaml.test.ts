// The fast reader (src/topology/fast-yaml.ts) against the yaml package: on every text it
// accepts, yaml must accept it too, without a warning, and give the same tree (values,
// sources, offsets); the loader's result must be the same through either path. Texts are the
// shipped topologies, generated machines and seeded mutations of both
// (IOMMUFS_FUZZ_SEED=<n> replays a run).

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { parseDocument } from 'yaml';
import { parseFast } from '../../../src/topology/fast-yaml';
import { loadPositioned, loadTopology } from '../../../src/topology/load';
import { treeOfDocument, unpack } from '../../../src/topology/tree';
import { generateMachineYaml } from '../../../scripts/generate-machine';
import { fuzzSeed, prng } from './seeded';

const ROOT = resolve(__dirname, '../../../..');
const SHIPPED = readdirSync(join(ROOT, 'topologies'))
  .filter((f) => f.endsWith('.yaml'))
  .sort()
  .map((f) => ({ name: `topologies/${f}`, text: readFileSync(join(ROOT, 'topologies', f), 'utf8') }));

function json(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x));
}

/** Fails when the fast reader accepts `text` and disagrees with the yaml package on anything. */
function agree(text: string, what: string): boolean {
  const fast = parseFast(text);
  if (!fast) return false;
  const doc = parseDocument(text, { uniqueKeys: false, intAsBigInt: true, prettyErrors: false });
  assert.deepEqual(doc.errors.map((e) => e.message), [], `${what}: accepted by the fast reader, refused by yaml\n${text}`);
  assert.deepEqual(doc.warnings.map((e) => e.message), [], `${what}: yaml warns\n${text}`);
  const positioned = treeOfDocument(doc);
  assert.equal(json({ root: unpack(fast.root), offset: fast.offset }), json(positioned && { root: unpack(positioned.root), offset: positioned.offset }), `${what}: trees differ\n${text}`);
  assert.equal(json(loadTopology(text, 'f.yaml')), json(loadPositioned(text, 'f.yaml')), `${what}: loads differ\n${text}`);
  return true;
}

test('every shipped topology and generated machines take the fast path, with the same result', () => {
  for (const s of SHIPPED) assert.ok(agree(s.text, s.name), `${s.name} is outside the fast subset`);
  for (const n of [100, 1000]) assert.ok(agree(generateMachineYaml(n), `generated ${n}`));
});

test('JSON takes the fast path too', () => {
  const text = JSON.stringify({ version: 1, pci: [{ devices: { '00.0': { id: '8086:29c0', class: 0x60000 } } }] }, null, 2);
  assert.ok(agree(text, 'json'));
});

test('what is outside the subset is left to the yaml package', () => {
  const base = 'version: 1\nname: x\n';
  for (const extra of [
    'a: &x 1\nb: *x\n', // anchors and aliases
    'a: !!str 1\n', // tags
    'a: |\n  text\n', // block scalars
    'a: "x\\ty"\n', // escapes
    'a: one\n  two\n', // a plain scalar over two lines
    'a:\n', // an empty value
    'a: 1.5\n', // a float
    '---\nb: 1\n', // a second document
    'a:\t1\n', // a tab
    '? a\n: 1\n', // an explicit key
    'a: { b }\n', // a flow entry without a value
  ]) {
    assert.equal(parseFast(base + extra), undefined, extra);
    assert.equal(json(loadTopology(base + extra, 'f.yaml')), json(loadPositioned(base + extra, 'f.yaml')), extra);
  }
});

test('mutated topologies: whatever the fast reader accepts, yaml reads the same way', () => {
  const seed = fuzzSeed();
  const rand = prng(seed);
  const pieces = [' ', '  ', '\n', '\n  ', ':', ': ', '-', '- ', ',', '{', '}', '[', ']', '"', "'", '#', ' #', '0', '0x', '1.5', '~', 'null', 'true', 'a', '&a', '*a', '!', '|', '? ', '\\', '%', '@', '.', '---'];
  const seeds = [...SHIPPED.map((s) => s.text), generateMachineYaml(60)];
  let accepted = 0;
  const started = Date.now();
  let runs = 0;
  for (; runs < 1500 && Date.now() - started < 10_000; runs++) {
    let text = seeds[rand.int(seeds.length)]!;
    for (let k = 1 + rand.int(3); k > 0; k--) {
      const at = rand.int(text.length + 1);
      const cut = rand.int(3);
      text = text.slice(0, at) + pieces[rand.int(pieces.length)]! + text.slice(at + cut);
    }
    if (agree(text, `seed ${seed} run ${runs}`)) accepted++;
  }
  console.log(`fast-yaml differential: seed ${seed} (IOMMUFS_FUZZ_SEED=${seed} replays), ${runs} texts, ${accepted} on the fast path`);
  assert.ok(accepted > runs / 10, `only ${accepted} of ${runs} mutated texts took the fast path`);
});

test('the model is the same through either path (deep equality, positions and paths included)', () => {
  for (const s of SHIPPED) {
    const fast = loadTopology(s.text, s.name);
    assert.ok(fast.ok, s.name);
    assert.deepStrictEqual(fast, loadPositioned(s.text, s.name), s.name);
  }
  const text = generateMachineYaml(1000);
  assert.deepStrictEqual(loadTopology(text, 'g.yaml'), loadPositioned(text, 'g.yaml'));
});

/** A valid machine whose endpoints carry the given labels, plain and quoted in turn, 240 to a root bus. */
function labelled(labels: readonly string[]): string {
  const lines = ['version: 1', 'pci:'];
  for (let b = 0; b * 240 < labels.length; b++) {
    lines.push(`  - bus: ${b * 2}`, '    devices:');
    labels.slice(b * 240, (b + 1) * 240).forEach((label, i) => {
      const key = `${(i >> 3).toString(16).padStart(2, '0')}.${i & 7}`;
      lines.push(`      "${key}": { id: 8086:10d3, class: 0x020000, label: ${i % 2 ? JSON.stringify(label) : label} }`);
    });
  }
  return lines.join('\n') + '\n';
}

test('many distinct scalars, plain and quoted, each keep their own text and value', () => {
  const many = Array.from({ length: 2000 }, (_, i) => `label-${i}`);
  // The same text plain and quoted: the number 0x10 and the string "0x10".
  const text = labelled([...many, 'x', '0x10']).replace('class: 0x020000', 'class: 0x10');
  assert.ok(agree(text, 'many labels'));
  const r = loadTopology(text, 'f.yaml');
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors.slice(0, 2)));
  const labels = r.topology.pci.flatMap((bus) => bus.devices.map((d) => d.label));
  assert.deepEqual(labels, [...many, 'x', '0x10']);
  assert.equal(r.topology.pci[0]!.devices[0]!.classCode, 0x10);
});
