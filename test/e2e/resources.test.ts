// Resources on a consumer-like machine, seen with real tools on a real mount: an RTX 3090
// behind a root port and two NVMe drives behind a PLX switch (test/helpers/resources.ts
// CONSUMER). lspci -vvv's Region and "behind bridge" lines must nest: every BAR inside the
// window of its type on the bridge above, each window inside its parent's, nothing
// overlapping on a bus; `resource`, the resourceN files and `rom` behave as pci-sysfs.c's.

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CONSUMER } from '../helpers/resources';
import { section, splitSections } from '../helpers/sections';
import { assertNothingMounted, q, sh, withDaemon } from './harness';

after(assertNothingMounted);

interface Range {
  start: bigint;
  end: bigint;
}

interface Block {
  slot: string;
  bus: number;
  secondary?: number;
  regions: { what: string; type: 'io' | 'mem' | 'pref'; range: Range }[];
  windows: Partial<Record<'io' | 'mem' | 'pref', Range>>;
}

const SIZE_UNITS: Record<string, bigint> = { '': 1n, K: 1n << 10n, M: 1n << 20n, G: 1n << 30n };

/** lspci -vvv, one block per function: its BARs and ROM, and a bridge's open windows. */
function parseLspci(text: string): Block[] {
  const out: Block[] = [];
  for (const chunk of text.split('\n\n')) {
    const lines = chunk.split('\n');
    const head = /^([0-9a-f]{2}):([0-9a-f]{2}\.[0-7]) /.exec(lines[0] ?? '');
    if (!head) continue;
    const b: Block = { slot: `${head[1]}:${head[2]}`, bus: parseInt(head[1]!, 16), regions: [], windows: {} };
    for (const l of lines) {
      const bus = /^\tBus: primary=\w+, secondary=(\w+)/.exec(l);
      if (bus) b.secondary = parseInt(bus[1]!, 16);
      const r = /^\t(Region \d|Expansion ROM):? (?:(Memory|I\/O ports) )?at ([0-9a-f]+)(?: \((\d+)-bit, (prefetchable|non-prefetchable)\))?.*\[size=(\d+)([KMG]?)\]/.exec(l);
      if (r) {
        const start = BigInt(`0x${r[3]}`);
        const size = BigInt(r[6]!) * SIZE_UNITS[r[7]!]!;
        const type = r[2] === 'I/O ports' ? 'io' : r[5] === 'prefetchable' ? 'pref' : 'mem';
        b.regions.push({ what: `${b.slot} ${r[1]}`, type, range: { start, end: start + size - 1n } });
      }
      const w = /^\t(I\/O|Memory|Prefetchable memory) behind bridge: ([0-9a-f]+)-([0-9a-f]+) \[size/.exec(l);
      if (w) b.windows[w[1] === 'I/O' ? 'io' : w[1] === 'Memory' ? 'mem' : 'pref'] = { start: BigInt(`0x${w[2]}`), end: BigInt(`0x${w[3]}`) };
    }
    out.push(b);
  }
  return out;
}

const inside = (a: Range, b: Range): boolean => b.start <= a.start && a.end <= b.end;
const show = (r: Range): string => `${r.start.toString(16)}-${r.end.toString(16)}`;

/** Everything that must hold between lspci's blocks; the problems found. */
function nestingProblems(blocks: Block[]): string[] {
  const problems: string[] = [];
  const bridgeOf = (bus: number): Block | undefined => blocks.find((b) => b.secondary === bus);
  const items = (b: Block): { what: string; type: 'io' | 'mem' | 'pref'; range: Range }[] => [
    ...b.regions,
    ...Object.entries(b.windows).map(([type, range]) => ({ what: `${b.slot} ${type} window`, type: type as 'io' | 'mem' | 'pref', range })),
  ];
  for (const b of blocks) {
    const up = bridgeOf(b.bus);
    if (!up) continue;
    for (const it of items(b)) {
      const w = up.windows[it.type];
      if (!w || !inside(it.range, w)) problems.push(`${it.what} ${show(it.range)} not inside ${up.slot}'s ${it.type} window ${w ? show(w) : '(closed)'}`);
    }
  }
  for (const bus of new Set(blocks.map((b) => b.bus))) {
    const all = blocks.filter((b) => b.bus === bus).flatMap(items);
    for (const io of [true, false]) {
      const list = all.filter((x) => (x.type === 'io') === io).sort((x, y) => (x.range.start < y.range.start ? -1 : 1));
      for (let i = 1; i < list.length; i++) {
        if (list[i]!.range.start <= list[i - 1]!.range.end) problems.push(`${list[i - 1]!.what} overlaps ${list[i]!.what}`);
      }
    }
  }
  return problems;
}

describe('resources on a consumer-like machine (GPU behind a root port, NVMe behind a switch)', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'iommufs-consumer-'));
    await writeFile(join(dir, 'consumer.yaml'), CONSUMER);
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('lspci -vvv: Region lines as the class defaults, windows nested, nothing overlapping; resource files as the kernel makes them', async () => {
    await withDaemon(join(dir, 'consumer.yaml'), async (mnt) => {
      const gpu = `${mnt}/bus/pci/devices/0000:01:00.0`;
      const r = await sh(
        [
          `echo '@@ lspci'; lspci -vvv -O sysfs.path=${q(mnt)}/bus/pci`,
          `echo '@@ resource'; cat ${q(gpu)}/resource`,
          `echo '@@ stat'; cd ${q(gpu)} && stat -c '%A %s %n' resource[0-9]* rom; cd /`,
          `echo '@@ read-bar'; cat ${q(gpu)}/resource1 > /dev/null 2>&1; echo "rc=$?"; head -c 4 ${q(gpu)}/resource1 2>&1 | sed 's|.*: ||'`,
          `echo '@@ rom'; head -c 2 ${q(gpu)}/rom 2>&1 | sed 's|.*: ||'; echo 1 > ${q(gpu)}/rom; od -An -tx1 -N2 ${q(gpu)}/rom; echo 0 > ${q(gpu)}/rom`,
        ].join('\n'),
        { timeoutMs: 60_000 },
      );
      assert.equal(r.code, 0, r.stderr);
      const s = splitSections(r.stdout);
      const blocks = parseLspci(section(s, 'lspci'));
      const g = blocks.find((b) => b.slot === '01:00.0')!;
      const lspciGpu = section(s, 'lspci').split('\n\n').find((c) => c.startsWith('01:00.0'))!;
      assert.match(lspciGpu, /\tRegion 0: Memory at [0-9a-f]+ \(32-bit, non-prefetchable\) \[size=16M\]/);
      assert.match(lspciGpu, /\tRegion 1: Memory at [0-9a-f]+ \(64-bit, prefetchable\) \[size=256M\]/);
      assert.match(lspciGpu, /\tRegion 3: Memory at [0-9a-f]+ \(64-bit, prefetchable\) \[size=32M\]/);
      assert.match(lspciGpu, /\tRegion 5: I\/O ports at [0-9a-f]+ \[size=128\]/);
      assert.match(lspciGpu, /\tExpansion ROM at [0-9a-f]+ \[disabled\] \[size=512K\]/);
      assert.equal(g.regions.length, 5);
      const nvme = section(s, 'lspci').split('\n\n').find((c) => c.startsWith('04:00.0'))!;
      assert.match(nvme, /\tRegion 0: Memory at [0-9a-f]+ \(64-bit, non-prefetchable\) \[size=16K\]/);
      // Every bridge has its memory windows open; the switch has no I/O behind it.
      const rp = section(s, 'lspci').split('\n\n').find((c) => c.startsWith('00:01.0'))!;
      assert.match(rp, /\tPrefetchable memory behind bridge: [0-9a-f]+-[0-9a-f]+ \[size=512M\]/);
      assert.match(section(s, 'lspci').split('\n\n').find((c) => c.startsWith('02:00.0'))!, /\tI\/O behind bridge: f000-0fff \[disabled\]/);
      assert.deepEqual(nestingProblems(blocks), []);
      assert.ok(blocks.filter((b) => b.secondary !== undefined).every((b) => b.windows.mem !== undefined));

      // resource: 13 lines of "0x%016llx 0x%016llx 0x%016llx"; BAR1 64-bit prefetchable.
      const res = section(s, 'resource').trimEnd().split('\n');
      assert.equal(res.length, 13);
      assert.ok(res.every((l) => /^0x[0-9a-f]{16} 0x[0-9a-f]{16} 0x[0-9a-f]{16}$/.test(l)), res.join('\n'));
      assert.match(res[1]!, / 0x000000000014220c$/);
      assert.match(res[6]!, / 0x0000000000046200$/);
      // resourceN sized as the BAR, 0600, _wc beside prefetchable ones; rom sized as the ROM.
      assert.deepEqual(section(s, 'stat').trimEnd().split('\n'), [
        '-rw------- 16777216 resource0',
        '-rw------- 268435456 resource1',
        '-rw------- 268435456 resource1_wc',
        '-rw------- 33554432 resource3',
        '-rw------- 33554432 resource3_wc',
        '-rw------- 128 resource5',
        '-rw------- 524288 rom',
      ]);
      // A memory BAR is mapped, never read (EIO); rom reads EINVAL until 1 is written.
      assert.deepEqual(section(s, 'read-bar').trimEnd().split('\n'), ['rc=1', 'Input/output error']);
      assert.deepEqual(section(s, 'rom').trimEnd().split('\n'), ['Invalid argument', ' 55 aa']);
    });
  });
});
