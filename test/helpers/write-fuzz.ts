// Shared pieces of the write fuzz (test/unit/sysfs/write-fuzz.test.ts in process,
// test/e2e/write-fuzz.test.ts on a mount): a seeded generator, the writable files of a tree,
// payloads (random bytes and near-valid lines built from what the machine has), and a full
// snapshot of a tree (every name, link target and readable text).

import { constants } from 'node:fs';
import { Errno, ERRNO } from '../../src/engine/errno';
import type { Machine } from '../../src/engine/machine';
import { SysfsFs } from '../../src/fuse/adapter';
import type { Node, SysfsTree } from '../../src/sysfs/node';
import { mulberry32 } from './mulberry32';

/** The seed from `env` (decimal), else a fresh one; printed by the caller so a run replays. */
export function fuzzSeed(env: string | undefined): number {
  if (env !== undefined && /^\d+$/.test(env)) return Number(env) >>> 0;
  return (Date.now() ^ (process.pid << 16)) >>> 0;
}

/** mulberry32: small, fast, good enough to pick payloads. */
export class Rng {
  readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
}

/** Every file of the tree that can be opened for writing (a write bit and a store), by path. */
export function writableFiles(tree: SysfsTree): string[] {
  const out: string[] = [];
  const walk = (path: string, node: Node): void => {
    if (node.kind === 'dir') {
      for (const name of node.list()) {
        const child = node.lookup(name);
        if (child) walk(path === '' ? name : `${path}/${name}`, child);
      }
    } else if (node.kind === 'attr' && node.store !== undefined && (node.mode & 0o222) !== 0) {
      out.push(path);
    }
  };
  walk('', tree.root);
  return out;
}

/** Every name, link target and readable text of the tree, one line each. A show() that
 * refuses with an Errno is recorded as such; any other throw escapes (the test fails). */
export function snapshot(tree: SysfsTree): string {
  const lines: string[] = [];
  const walk = (path: string, node: Node): void => {
    if (node.kind === 'dir') {
      lines.push(`d ${path}`);
      for (const name of node.list()) {
        const child = node.lookup(name);
        if (child) walk(`${path}/${name}`, child);
      }
    } else if (node.kind === 'link') {
      lines.push(`l ${path} -> ${node.target}`);
    } else if ((node.mode & 0o444) === 0) {
      lines.push(`f ${path} (write-only)`);
    } else if (node.stream !== undefined) {
      // The events file: read through the mount it waits for the next event (trace_pipe).
      lines.push(`f ${path} (stream)`);
    } else {
      let text: string;
      try {
        text = JSON.stringify(node.show().toString('latin1'));
      } catch (e) {
        if (!(e instanceof Errno)) throw e;
        text = `!${e.code}`;
      }
      lines.push(`f ${path} ${text}`);
    }
  };
  walk('', tree.root);
  return lines.join('\n');
}

/** The first line where two snapshots differ, for the failure message. */
export function firstDifference(a: string, b: string): string {
  const x = a.split('\n');
  const y = b.split('\n');
  for (let i = 0; i < Math.max(x.length, y.length); i++) if (x[i] !== y[i]) return `- ${x[i] ?? '(none)'}\n+ ${y[i] ?? '(none)'}`;
  return '(none)';
}

/** Words the machine answers to: its device names, drivers, groups, units and the values
 * attributes take, and a few that are nearly right. */
export function vocabulary(m: Machine): string[] {
  const words = new Set<string>([
    '0', '1', '2', '4', '5', '-1', '99', '65536', '0x10', '07', '1x', 'y', 'n', 'on', 'off', 'auto', 'AUTO',
    'enabled', 'disabled', 'identity', 'DMA', 'DMA-FQ', 'blocked', 'unmanaged', 'add', 'change', 'remove', 'Add',
    'flr', 'pm', 'bus', 'default', 'qemu', 'dpdk', 'none', 'pasid', 'nesting', 'dirty', '8086', '10d3', '1af4', 'ffff',
    '2b5a7c3e-1f4d-4e6a-9b8c-0d1e2f3a4b5c', '00000000-0000-4000-8000-000000000001', 'KEY=value', '(null)',
  ]);
  for (const name of m.devices.keys()) words.add(name);
  for (const name of m.drivers.keys()) words.add(name);
  for (const id of m.groups.keys()) words.add(String(id));
  for (const u of m.units) words.add(u.name);
  for (const d of m.devices.values()) if (d.kind === 'pci') words.add(`${d.fn.id.vendor.toString(16)} ${d.fn.id.device.toString(16)}`);
  return [...words];
}

/** One payload: random bytes, a line of 1-3 words, or the file's own text, as it is or bent a little. */
export function payload(rng: Rng, words: readonly string[], current: Buffer | undefined, maxRandom: number): Buffer {
  const kind = rng.int(10);
  if (kind < 2) {
    const len = rng.int(4) === 0 ? rng.int(maxRandom + 1) : rng.int(24);
    return Buffer.from(Array.from({ length: len }, () => rng.int(256)));
  }
  if (kind === 2 && current !== undefined) return Buffer.from(current); // what it reads, written back
  if (kind === 3 && current !== undefined && current.length > 0) {
    const b = Buffer.from(current);
    const at = rng.int(b.length);
    const how = rng.int(3);
    if (how === 0) b[at] = rng.int(256);
    else if (how === 1) return b.subarray(0, at);
    else return Buffer.concat([b, Buffer.from(rng.pick(words))]);
    return b;
  }
  const n = 1 + rng.int(3);
  let line = Array.from({ length: n }, () => rng.pick(words)).join(rng.int(5) === 0 ? '  ' : ' ');
  const end = rng.int(6);
  if (end < 3) line += '\n';
  else if (end === 3) line += '\0';
  else if (end === 4) line += '\0junk';
  return Buffer.from(line, 'latin1');
}

export interface WriteResult {
  /** The errno code of a refusal, or '' when the write was taken. */
  error: string;
}

/** One write as a writer's open/write/close reaches the adapter: the open's own checks,
 * then one write at `offset`; with `untilDone`, as stdio's fwrite (bash's printf) does,
 * the rest again after a short write (a `config` write running over its end: sysfs
 * shortens it, and the next one, at the end, is EFBIG). */
export function writeThroughAdapter(fs: SysfsFs, path: string, data: Buffer, offset: number, untilDone = false): WriteResult {
  let handle: number | undefined;
  try {
    handle = fs.open(`/${path}`, constants.O_WRONLY);
    let done = fs.write(`/${path}`, handle, data, offset);
    while (untilDone && done > 0 && done < data.length) done += fs.write(`/${path}`, handle, data.subarray(done), offset + done);
    return { error: '' };
  } catch (e) {
    if (e instanceof Errno) return { error: e.code };
    throw e;
  } finally {
    if (handle !== undefined) fs.release(`/${path}`, handle);
  }
}

export const ERRNO_CODES = Object.keys(ERRNO) as Array<keyof typeof ERRNO>;
