// Exact invalidation, as a property: a model of the kernel's caches over the mount (every
// path looked up, with the attributes it was given) is filled by a full walk through the
// adapter, a random write changes the machine, the adapter's takeStaleNames() says what to
// forget, and everything the model still holds must then be what a fresh adapter (no caches
// at all) answers for that path. One missed invalidation fails it. Seeded and replayable:
// INVALIDATION_SEED=<n> runs one seed, INVALIDATION_STEPS the writes per seed.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isErrno } from '../../../src/engine/errno';
import type { Machine } from '../../../src/engine/machine';
import { SysfsFs } from '../../../src/fuse/adapter';
import { sysfsTree } from '../../../src/sysfs/tree';
import { TOPOLOGIES } from '../../helpers/paths';
import { DOMAINS_TOPOLOGY } from '../engine/domains-fixture';
import { applyRandom, bootText, randomWrite, rng } from '../engine/state-writes';

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;

/** What the kernel would cache for a path: its attributes as getattr gave them. */
function describe_(fs: SysfsFs, path: string): string {
  try {
    const st = fs.getattr(path);
    return `${st.mode.toString(8)} nlink=${st.nlink} size=${st.size}`;
  } catch (e) {
    if (isErrno(e)) return `<${e.code}>`;
    throw e;
  }
}

/** A full walk through `fs`, as `find` then `stat` of everything would make the kernel
 * look up every path: path → attributes. */
function lookUpEverything(fs: SysfsFs): Map<string, string> {
  const cache = new Map<string, string>();
  const visit = (dir: string): void => {
    for (const name of fs.readdir(dir).names) {
      if (name === '.' || name === '..') continue;
      const path = dir === '/' ? `/${name}` : `${dir}/${name}`;
      const st = fs.getattr(path);
      cache.set(path, describe_(fs, path));
      if ((st.mode & S_IFMT) === S_IFDIR) visit(path);
    }
  };
  cache.set('/', describe_(fs, '/'));
  visit('/');
  return cache;
}

/** The kernel after the notifications: d_invalidate drops a name and everything below it;
 * an inode invalidation drops the directory's cached attributes. */
function forget(cache: Map<string, string>, stale: { entries: Array<[string, string]>; inodes: string[] }): void {
  for (const [dir, name] of stale.entries) {
    const path = dir === '' ? `/${name}` : `/${dir}/${name}`;
    for (const p of [...cache.keys()]) if (p === path || p.startsWith(`${path}/`)) cache.delete(p);
  }
  for (const dir of stale.inodes) cache.delete(dir === '' ? '/' : `/${dir}`);
}

function machines(): Array<[string, string]> {
  return [
    ['domains-lab', DOMAINS_TOPOLOGY],
    ['qemu-sriov', readFileSync(join(TOPOLOGIES, 'qemu-sriov.yaml'), 'utf8')],
    ['qemu-switch', readFileSync(join(TOPOLOGIES, 'qemu-switch.yaml'), 'utf8')],
  ];
}

function runSeed(name: string, text: string, seed: number, steps: number): void {
  const m: Machine = bootText(text, `${name}.yaml`);
  const fs = new SysfsFs(sysfsTree(m));
  const r = rng(seed);
  let cache = lookUpEverything(fs);
  const log: string[] = [];
  for (let step = 0; step < steps; step++) {
    const w = randomWrite(m, r);
    log.push(applyRandom(m, w));
    forget(cache, fs.takeStaleNames!());
    const truth = new SysfsFs(sysfsTree(m));
    for (const [path, was] of cache) {
      const now = describe_(truth, path);
      if (now !== was) {
        assert.fail(
          `${name} seed ${seed} (INVALIDATION_SEED=${seed}) step ${step}: the kernel would still hold ${path} as ${was}, ` +
            `but it is now ${now}\nwrites:\n  ${log.slice(-8).join('\n  ')}`,
        );
      }
    }
    cache = lookUpEverything(fs);
  }
}

describe('takeStaleNames leaves nothing stale in the kernel', () => {
  const only = process.env.INVALIDATION_SEED;
  const seeds = only !== undefined ? [Number(only)] : [1, 2];
  const steps = Number(process.env.INVALIDATION_STEPS ?? 80);
  for (const [name, text] of machines()) {
    it(`${name}: ${steps} random writes per seed, seeds ${seeds.join(', ')}`, () => {
      for (const seed of seeds) runSeed(name, text, seed, steps);
    });
  }

  it('would catch a missed invalidation (the same run with nothing forgotten fails)', () => {
    const m = bootText(DOMAINS_TOPOLOGY, 'domains-lab.yaml');
    const fs = new SysfsFs(sysfsTree(m));
    const cache = lookUpEverything(fs);
    applyRandom(m, { path: 'bus/pci/devices/0000:02:00.0/sriov_numvfs', text: '2\n' });
    applyRandom(m, { path: 'bus/pci/devices/0000:02:00.1/remove', text: '1\n' });
    const truth = new SysfsFs(sysfsTree(m));
    const stale = [...cache].filter(([path, was]) => describe_(truth, path) !== was);
    assert.ok(stale.length > 0, 'a VF removal must leave something to invalidate');
    forget(cache, fs.takeStaleNames!());
    assert.deepEqual([...cache].filter(([path, was]) => describe_(truth, path) !== was), []);
  });
});
