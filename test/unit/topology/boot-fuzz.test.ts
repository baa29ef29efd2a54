// Every topology that validates must boot and serve its tree; every one that cannot must
// be refused as `validate` refuses it (file:line:col diagnostics, exit 2 in the CLI).
// Seeded mutations of every shipped topology (numbers, device keys, words, lines), bounded
// in count and time; the seed is printed and IOMMUFS_FUZZ_SEED=<n> replays a run.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { Errno } from '../../../src/engine/errno';
import { Machine } from '../../../src/engine/machine';
import { enableVfs } from '../../../src/engine/sriov';
import { checkTopology } from '../../../src/pci/check';
import { vfBusOutOfRange } from '../../../src/pci/enumerate';
import type { DirNode } from '../../../src/sysfs/node';
import { sysfsTree } from '../../../src/sysfs/tree';
import { loadTopology } from '../../../src/topology/load';
import { formatDiagnostic } from '../../../src/topology/model';
import { fuzzSeed, prng } from './seeded';
import type { Rand } from './seeded';

const ROOT = resolve(__dirname, '../../../..');
const SHIPPED = readdirSync(join(ROOT, 'topologies'))
  .filter((f) => f.endsWith('.yaml'))
  .sort()
  .map((f) => readFileSync(join(ROOT, 'topologies', f), 'utf8'));

const MUTATIONS = 2000;
const TIME_BUDGET_MS = 20_000;

const NUMBERS = [0, 1, 2, 3, 4, 7, 8, 15, 16, 31, 32, 63, 64, 127, 128, 255, 256, 257, 4095, 4096, 0xffff, 0x10000];
const WORDS = [
  'true',
  'false',
  'none',
  'endpoint',
  'legacy-endpoint',
  'rc-endpoint',
  'root-port',
  'upstream-port',
  'downstream-port',
  'pcie-pci-bridge',
  'pci-bridge',
  'host-bridge',
  'rc-event-collector',
  'vfio-pci',
  'pci-stub',
  'pci-pf-stub',
  'nvme',
];

/** Positions of every match of `re` in `text`. */
function spans(text: string, re: RegExp): { at: number; len: number }[] {
  return [...text.matchAll(re)].map((m) => ({ at: m.index!, len: m[0].length }));
}

function replaceOne(text: string, re: RegExp, rand: Rand, make: (old: string) => string): string {
  const all = spans(text, re);
  if (all.length === 0) return text;
  const { at, len } = all[rand.int(all.length)]!;
  return text.slice(0, at) + make(text.slice(at, at + len)) + text.slice(at + len);
}

function pick<T>(rand: Rand, xs: readonly T[]): T {
  return xs[rand.int(xs.length)]!;
}

function mutate(text: string, rand: Rand): string {
  const number = (): string => {
    const r = rand.int(4);
    const n = r === 0 ? rand.int(300) : r === 1 ? rand.int(0x10001) : pick(rand, NUMBERS);
    return rand.int(2) ? String(n) : `0x${n.toString(16)}`;
  };
  switch (rand.int(8)) {
    case 0: // a number (not one inside an ID, an address or a device key)
      return replaceOne(text, /(?<![\w.:"-])(?:0x[0-9a-fA-F]+|[0-9]+)(?![\w.:"])/g, rand, number);
    case 1: // a device key
      return replaceOne(text, /"[0-9a-f]{2}\.[0-9a-f]{1,2}"/g, rand, () => {
        const slot = rand.int(4) === 0 ? rand.int(0x20) : rand.int(4);
        return `"${slot.toString(16).padStart(2, '0')}.${rand.int(8)}"`;
      });
    case 2: // a word value
      return replaceOne(text, /\b(?:true|false|none|[a-z]+-(?:endpoint|port|bridge|collector)|endpoint|vfio-pci|pci-stub|nvme)\b/g, rand, () => pick(rand, WORDS));
    case 3: // VFs at boot
      return replaceOne(text, /sriov: \{[^}\n]*\}/g, rand, (old) => {
        const num = String(rand.int(6));
        return /num: *[0-9]+/.test(old) ? old.replace(/num: *[0-9]+/, `num: ${num}`) : old.replace(/ *\}$/, `, num: ${num} }`);
      });
    case 4: { // a line dropped or repeated
      const lines = text.split('\n');
      const i = rand.int(lines.length);
      if (rand.int(2)) lines.splice(i, 1);
      else lines.splice(i, 0, lines[i]!);
      return lines.join('\n');
    }
    case 5: // where VFs land
      return replaceOne(text, /\b(?:total|offset|stride|num): *(?:0x[0-9a-fA-F]+|[0-9]+)/g, rand, (old) => `${old.split(':')[0]!}: ${number()}`);
    case 6: // a platform device, perhaps with a PCI device's name
      if (/^platform:/m.test(text)) return text;
      return `${text.trimEnd()}\nplatform:\n  - { name: "0000:0${rand.int(4)}:0${rand.int(4)}.${rand.int(2)}" }\n`;
    default: // a fixed secondary bus
      return replaceOne(text, /bus: *(?:0x[0-9a-fA-F]+|[0-9]+)/g, rand, () => `bus: ${number()}`);
  }
}

/** Lists every directory and reads every readable attribute, as `export` and a mount walk do. */
function walk(d: DirNode, depth = 0): number {
  assert.ok(depth < 64, 'the tree is too deep');
  let n = 0;
  for (const name of d.list()) {
    const child = d.lookup(name);
    if (!child) continue;
    n++;
    if (child.kind === 'dir') n += walk(child, depth + 1);
    else if (child.kind === 'attr' && (child.mode & 0o444) !== 0) {
      try {
        child.show();
      } catch (e) {
        if (!(e instanceof Errno)) throw e;
      }
    } else if (child.kind === 'link') assert.ok(child.target.length > 0);
  }
  return n;
}

/** Functions enumerated, VFs enabled, platform devices: one device each, none lost to a name taken twice. */
function assertOneDevicePerFunction(m: Machine): void {
  let vfs = 0;
  for (const d of m.devices.values()) if (d.kind === 'pci' && !d.fn.physfn) vfs += m.vfCount(d);
  assert.equal(m.pciDevicesInOrder().length, m.pci.addOrder.length + vfs, 'a device name is taken twice');
  const platform = [...m.devices.values()].filter((d) => d.kind === 'platform').length;
  assert.equal(platform, m.topology.platform.length, 'a platform device lost to a name taken twice');
}

/** As sriov_numvfs would: every PF enables as many VFs as its bus range allows. */
function enableEveryVf(m: Machine): void {
  assertOneDevicePerFunction(m);
  for (const d of m.pciDevicesInOrder()) {
    const sriov = d.fn.spec.sriov;
    if (!sriov || d.fn.physfn || m.vfCount(d) > 0) continue;
    let n = sriov.total;
    while (n > 0 && vfBusOutOfRange(d.fn, n) !== undefined) n--;
    if (n > 0) enableVfs(m, d, n);
  }
  assertOneDevicePerFunction(m);
}

test(`mutated topologies either fail validation with file:line:col or boot and serve their tree`, () => {
  const seed = fuzzSeed();
  const rand = prng(seed);
  const started = Date.now();
  let refused = 0;
  let booted = 0;
  for (let run = 0; run < MUTATIONS && Date.now() - started < TIME_BUDGET_MS; run++) {
    let text = pick(rand, SHIPPED);
    for (let k = 1 + rand.int(3); k > 0; k--) text = mutate(text, rand);
    const replay = `(IOMMUFS_FUZZ_SEED=${seed}, run ${run})`;
    const r = loadTopology(text, 'mutated.yaml');
    const errors = r.ok ? checkTopology(r.topology) : r.errors;
    if (errors.length > 0) {
      for (const e of errors) {
        assert.match(formatDiagnostic(e), /^mutated\.yaml:[1-9][0-9]*:[1-9][0-9]*: /, replay);
        assert.doesNotMatch(e.message, /^internal error/, `${replay} ${e.message}\n${text}`);
      }
      refused++;
      continue;
    }
    if (!r.ok) continue;
    try {
      const m = Machine.boot(r.topology);
      walk(sysfsTree(m).root);
      enableEveryVf(m);
    } catch (e) {
      assert.fail(`${replay}: validated, then threw ${e instanceof Error ? e.stack : String(e)}\n--- topology ---\n${text}`);
    }
    booted++;
  }
  console.log(`boot fuzz: seed ${seed} (IOMMUFS_FUZZ_SEED=${seed} replays): ${refused} refused, ${booted} booted and walked in ${Date.now() - started} ms`);
  assert.ok(booted > 0 && refused > 0);
});
