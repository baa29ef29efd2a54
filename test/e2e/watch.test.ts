// Group events on a real mount: `iommufs ctl <mnt> watch [--json]` and `cat` of
// kernel/debug/iommufs/events, against writes made with the shell (topologies/qemu-sriov.yaml:
// the nvme PF 0000:01:00.0 with SR-IOV, the e1000e 0000:02:00.0 unbound at start).
// Also: a burst of 10,000 writes loses nothing and leaves no gap in the numbers; waiting
// readers do not hold up other requests; the unmount ends them (end of file) and exits; a
// watch's latency from a write returning to its line.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { TOPOLOGIES } from '../helpers/paths';
import { CLI_MAIN, assertNothingMounted, q, sh, stopDaemon, withDaemon } from './harness';

const SRIOV = join(TOPOLOGIES, 'qemu-sriov.yaml');
const PF = '0000:01:00.0';
const NIC = '0000:02:00.0';
const EVENTS = 'kernel/debug/iommufs/events';

/** A reader process whose stdout is collected as it comes. */
interface Reader {
  child: ChildProcess;
  out(): string;
  lines(): string[];
  /** Resolves once a line satisfies `pred` (rejects after `ms`). */
  waitFor(pred: (line: string) => boolean, ms?: number): Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function reader(cmd: string, args: string[]): Reader {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const waiters = new Set<() => void>();
  child.stdout!.on('data', (b: Buffer) => {
    out += b.toString();
    for (const w of waiters) w();
  });
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.on('close', (code, signal) => res({ code, signal })));
  const lines = (): string[] => out.split('\n').filter((l) => l !== '');
  return {
    child,
    out: () => out,
    lines,
    exited,
    waitFor(pred, ms = 20_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const hit = lines().find(pred);
          if (hit === undefined) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(hit);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no such line within ${ms} ms; got:\n${out}\nstderr: ${err}`));
        }, ms);
        waiters.add(check);
        check();
      });
    },
  };
}

const watch = (mnt: string, ...flags: string[]): Reader => reader(process.execPath, [CLI_MAIN, 'ctl', mnt, 'watch', ...flags]);
const catEvents = (mnt: string): Reader => reader('cat', [join(mnt, EVENTS)]);

/** Writes a line to a file of the mount (this process is not the daemon: sync calls are safe). */
function put(mnt: string, rel: string, text: string): void {
  const fd = openSync(join(mnt, rel), 'w');
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}

/** A line's number, in either format. */
function seqOf(line: string): number {
  return line.startsWith('{') ? ((JSON.parse(line) as { seq: number }).seq) : Number(line.split(' ')[0]);
}

const isMarker = (l: string): boolean => / group 0 return-host$/.test(l) || l.includes('"group":0,"event":"return-host"');

/** Leave-host and return-host of group 0 until every reader has seen one: then they follow
 * the log. Returns the number of the last of those marker events. */
async function connect(mnt: string, readers: Reader[]): Promise<number> {
  for (let i = 0; i < 100; i++) {
    put(mnt, 'kernel/debug/iommufs/leave_host', '0\n');
    put(mnt, 'kernel/debug/iommufs/return_host', '0\n');
    await new Promise((r) => setTimeout(r, 100));
    if (readers.every((r) => r.lines().some(isMarker))) break;
  }
  await Promise.all(readers.map((r) => r.waitFor(isMarker, 1000)));
  // Let every marker in flight arrive, then take the last one.
  await new Promise((r) => setTimeout(r, 300));
  const last = (r: Reader): number => Math.max(...r.lines().filter(isMarker).map(seqOf));
  const marks = readers.map(last);
  assert.ok(marks.every((m) => m === marks[0]), `readers disagree on the last marker: ${marks.join(' ')}`);
  return marks[0]!;
}

/** The lines numbered after `from`. */
function after_(r: Reader, from: number): string[] {
  return r.lines().filter((l) => seqOf(l) > from);
}

function stop(r: Reader): Promise<unknown> {
  if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGTERM');
  return r.exited;
}

after(assertNothingMounted);

describe('ctl watch and the events file', { timeout: 180_000 }, () => {
  it('bind, SR-IOV enable and disable, claim: the same lines in ctl watch and cat, JSON with --json', async () => {
    await withDaemon(SRIOV, async (mnt) => {
      const w = watch(mnt);
      const j = watch(mnt, '--json');
      const c = catEvents(mnt);
      try {
        const base = await connect(mnt, [w, j, c]);
        const r = await sh(`set -e
P=${q(mnt)}/bus/pci
echo nvme > $P/devices/${PF}/driver_override
echo ${PF} > $P/drivers/nvme/bind
echo 2 > $P/devices/${PF}/sriov_numvfs
echo 0 > $P/devices/${PF}/sriov_numvfs
echo ${NIC} > $P/drivers/e1000e/bind
echo ${NIC} > $P/drivers/e1000e/unbind
D=${q(mnt)}/kernel/debug/iommufs
g=$(basename "$(readlink $P/devices/${NIC}/iommu_group)")
echo "$g qemu" > $D/claim
echo "$g qemu" > $D/release
echo "$g"`);
        assert.equal(r.code, 0, r.stderr);
        const g = r.stdout.trim();
        const last = await w.waitFor((l) => l.endsWith(`release qemu`));
        const n = Number(last.split(' ')[0]);
        await c.waitFor((l) => l.startsWith(`${n} `));
        await j.waitFor((l) => l.startsWith(`{"seq":${n},`));
        const got = after_(w, base).map((l) => l.replace(/^\d+ /, ''));
        // VFs 01:00.1 and 01:00.2 take the lowest free group numbers (7 and 8 in this machine).
        const vfGroups = got.filter((l) => / created /.test(l)).map((l) => l.split(' ')[1]);
        assert.equal(vfGroups.length, 2, got.join('\n'));
        const [a, b] = vfGroups;
        assert.deepEqual(got, [
          `group 5 bind-driver ${PF} nvme`,
          `group 5 bound-driver ${PF} nvme`,
          `group ${a} created DMA-FQ`,
          `group ${a} add-device 0000:01:00.1`,
          `group ${b} created DMA-FQ`,
          `group ${b} add-device 0000:01:00.2`,
          // nvme's probe does not take these VFs (no vf-driver in this topology): BIND_DRIVER alone.
          `group ${a} bind-driver 0000:01:00.1 nvme`,
          `group ${b} bind-driver 0000:01:00.2 nvme`,
          `group ${b} del-device 0000:01:00.2`,
          `group ${b} removed`,
          `group ${a} del-device 0000:01:00.1`,
          `group ${a} removed`,
          `group ${g} bind-driver ${NIC} e1000e`,
          `group ${g} bound-driver ${NIC} e1000e`,
          `group ${g} unbind-driver ${NIC} e1000e`,
          `group ${g} unbound-driver ${NIC} e1000e`,
          `group ${g} claim qemu`,
          `group ${g} release qemu`,
        ]);
        // Numbers follow on without a gap, and every reader read the same.
        const nums = after_(w, base).map((l) => Number(l.split(' ')[0]));
        assert.deepEqual(nums, nums.map((_, i) => base + 1 + i));
        assert.deepEqual(after_(c, base), after_(w, base));
        const json = j.lines().map((l) => JSON.parse(l) as Record<string, unknown>).filter((o) => (o.seq as number) > base);
        assert.equal(json.length, nums.length);
        assert.deepEqual(json[1], { seq: base + 2, group: 5, event: 'bound-driver', device: PF, driver: 'nvme' });
        assert.deepEqual(json.at(-1), { seq: n, group: Number(g), event: 'release', owner: 'qemu' });
      } finally {
        await Promise.all([stop(w), stop(j)]);
      }
      // cat is ended by the unmount (end of file), below.
    });
  });

  it('10,000 writes in a burst: every event arrives, numbered without a gap', async () => {
    await withDaemon(SRIOV, async (mnt) => {
      const w = watch(mnt);
      const c = catEvents(mnt);
      try {
        const base = await connect(mnt, [w, c]);
        const r = await sh(
          `P=${q(mnt)}/bus/pci/drivers/e1000e
for i in $(seq 5000); do echo ${NIC} > $P/bind || exit 1; echo ${NIC} > $P/unbind || exit 1; done`,
          { timeoutMs: 150_000 },
        );
        assert.equal(r.code, 0, r.stderr);
        const last = base + 20_000; // each write: BIND+BOUND or UNBIND+UNBOUND
        await w.waitFor((l) => l.startsWith(`${last} `), 60_000);
        await c.waitFor((l) => l.startsWith(`${last} `), 60_000);
        for (const rd of [w, c]) {
          const lines = after_(rd, base);
          assert.equal(lines.length, 20_000);
          assert.ok(!lines.some((l) => / lost /.test(l)), 'no lost record');
          lines.forEach((l, i) => assert.equal(Number(l.split(' ')[0]), base + 1 + i, `line ${i}: ${l}`));
          const kinds = ['bind-driver', 'bound-driver', 'unbind-driver', 'unbound-driver'];
          lines.forEach((l, i) => assert.equal(l.split(' ')[3], kinds[i % 4], l));
        }
      } finally {
        await stop(w);
      }
    });
  });

  it('waiting readers hold up nothing; the unmount ends them and the daemon exits 0', async () => {
    await withDaemon(SRIOV, async (mnt, daemon) => {
      const readers = [catEvents(mnt), catEvents(mnt), catEvents(mnt), watch(mnt)];
      await connect(mnt, readers);
      // Four reads wait in the daemon; the tree still answers at once.
      const walk = await sh(`find ${q(mnt)}/bus ${q(mnt)}/kernel/iommu_groups | wc -l; cat ${q(mnt)}/bus/pci/devices/${PF}/vendor`, { timeoutMs: 30_000 });
      assert.equal(walk.code, 0, walk.stderr);
      assert.match(walk.stdout, /^\d{3,}\n0x1b36\n$/);
      // A reader killed while its read waits leaves at the next event (see fuse/streams.ts).
      const killed = readers[0]!;
      killed.child.kill('SIGTERM');
      put(mnt, 'kernel/debug/iommufs/leave_host', '0\n');
      put(mnt, 'kernel/debug/iommufs/return_host', '0\n');
      assert.equal((await killed.exited).signal, 'SIGTERM');
      await stopDaemon(daemon);
      assert.deepEqual(await daemon.exited, { code: 0, signal: null });
      for (const r of readers.slice(1)) assert.equal((await r.exited).code, 0, 'a waiting reader reads end of file when the mount goes');
    });
  });

  it('latency: from a write returning to its line in ctl watch', async (t) => {
    await withDaemon(SRIOV, async (mnt) => {
      const w = watch(mnt);
      try {
        await connect(mnt, [w]);
        const times: number[] = [];
        for (let i = 0; i < 200; i++) {
          const file = i % 2 === 0 ? 'leave_host' : 'return_host';
          const before = w.lines().length;
          put(mnt, `kernel/debug/iommufs/${file}`, '0\n');
          const t0 = process.hrtime.bigint();
          const line = await w.waitFor((_l) => w.lines().length > before, 5000).then(() => w.lines()[before]!);
          times.push(Number(process.hrtime.bigint() - t0) / 1e6);
          assert.match(line, new RegExp(` group 0 ${file.replace('_', '-')}$`));
        }
        times.sort((a, b) => a - b);
        const median = times[100]!;
        const p99 = times[197]!;
        t.diagnostic(`watch latency over 200 writes: median ${median.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms, max ${times[199]!.toFixed(2)} ms`);
        assert.ok(median < 100, `median ${median} ms`);
      } finally {
        await stop(w);
      }
    });
  });
});
