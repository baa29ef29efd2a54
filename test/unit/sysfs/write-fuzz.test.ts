// A bounded, seeded fuzz of writes across every writable attribute and control file of the
// in-process tree (issue 13): each write goes through the FUSE adapter's open and write (so
// E2BIG, EFBIG and EACCES apply as on a mount) with a random or near-valid payload. After a
// refused write (an Errno) the whole tree (names, link targets, readable texts) must be
// exactly as before; after an accepted one it must still walk with no throw but an Errno.
//
// WRITE_FUZZ_SEED=<n> replays a run (the seed is printed); WRITE_FUZZ_COUNT (writes per
// machine, default 1500) and WRITE_FUZZ_MS (time per machine, default 5000) bound it.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Machine } from '../../../src/engine/machine';
import { SysfsFs } from '../../../src/fuse/adapter';
import { PathCache } from '../../../src/fuse/path-cache';
import { sysfsTree } from '../../../src/sysfs/tree';
import { loadTopology, loadTopologyFile } from '../../../src/topology/load';
import type { Topology } from '../../../src/topology/model';
import { TOPOLOGIES } from '../../helpers/paths';
import { Rng, firstDifference, fuzzSeed, payload, snapshot, vocabulary, writableFiles, writeThroughAdapter } from '../../helpers/write-fuzz';
import { DOMAINS_TOPOLOGY } from '../engine/domains-fixture';

const SEED = fuzzSeed(process.env.WRITE_FUZZ_SEED);
const COUNT = Number(process.env.WRITE_FUZZ_COUNT ?? 1500);
const BUDGET_MS = Number(process.env.WRITE_FUZZ_MS ?? 5000);

function fromFile(name: string): Topology {
  const r = loadTopologyFile(join(TOPOLOGIES, `${name}.yaml`));
  if (!r.ok) throw new Error(`${name} does not load`);
  return r.topology;
}

function fromText(text: string, name: string): Topology {
  const r = loadTopology(text, name);
  if (!r.ok) throw new Error(`${name} does not load`);
  return r.topology;
}

function fuzz(topology: Topology, seed: number): { writes: number; files: number; outcomes: Map<string, number> } {
  const m = Machine.boot(topology);
  const tree = sysfsTree(m);
  const fs = new SysfsFs(tree);
  const paths = new PathCache(tree);
  const rng = new Rng(seed);
  const words = vocabulary(m);
  const outcomes = new Map<string, number>();
  const seen = new Set<string>();
  let files = writableFiles(tree);
  let before = snapshot(tree);
  const deadline = Date.now() + BUDGET_MS;
  let i = 0;
  for (; i < COUNT && Date.now() < deadline && files.length > 0; i++) {
    const path = rng.pick(files);
    seen.add(path.replace(/\d+/g, 'N'));
    const node = paths.resolve(`/${path}`);
    if (node.kind !== 'attr') throw new Error(`${path} is no longer an attribute`);
    let current: Buffer | undefined;
    try {
      current = (node.mode & 0o444) !== 0 ? node.show() : undefined;
    } catch {
      current = undefined;
    }
    const data = payload(rng, words, current, 5000);
    // Text attributes ignore the offset; Python's append mode writes at 4096. A binary one
    // (config) takes it, up to a little past its end.
    const offset = node.binary === true ? rng.int(node.size + 8) : rng.int(8) === 0 ? 4096 : 0;
    const where = `seed ${seed}, write ${i}: ${path} <- ${JSON.stringify(data.toString('latin1').slice(0, 200))} at ${offset}`;
    let result;
    try {
      result = writeThroughAdapter(fs, path, data, offset);
    } catch (e) {
      assert.fail(`${where}: threw ${String(e)}`);
    }
    outcomes.set(result.error || 'ok', (outcomes.get(result.error || 'ok') ?? 0) + 1);
    let after: string;
    try {
      after = snapshot(tree);
    } catch (e) {
      assert.fail(`${where}: the tree no longer walks: ${String(e)}`);
    }
    if (result.error !== '') {
      if (after !== before) assert.fail(`${where}: refused with ${result.error} but the tree changed:\n${firstDifference(before, after)}`);
    } else {
      files = writableFiles(tree);
      before = after;
    }
  }
  return { writes: i, files: seen.size, outcomes };
}

describe(`write fuzz over every writable file (WRITE_FUZZ_SEED=${SEED})`, () => {
  const machines: Array<[string, () => Topology]> = [
    ['qemu-sriov', () => fromFile('qemu-sriov')],
    ['qemu-writes', () => fromFile('qemu-writes')],
    ['domains-lab (mdev parent, PASID units, kernel/debug/iommufs control files)', () => fromText(DOMAINS_TOPOLOGY, 'domains-lab.yaml')],
  ];
  machines.forEach(([name, topology], k) => {
    it(`${name}: a refused write changes nothing, an accepted one leaves a walkable tree`, (t) => {
      const seed = (SEED + k) >>> 0;
      const r = fuzz(topology(), seed);
      const summary = [...r.outcomes].sort((a, b) => b[1] - a[1]).map(([k2, v]) => `${k2} ${v}`).join(', ');
      t.diagnostic(`seed ${seed}: ${r.writes} writes over ${r.files} kinds of file: ${summary}`);
      assert.ok(r.writes >= Math.min(COUNT, 50), `only ${r.writes} writes in ${BUDGET_MS} ms`);
      assert.ok((r.outcomes.get('ok') ?? 0) > 0 && r.outcomes.size > 3, `too little variety: ${summary}`);
    });
  });
});
