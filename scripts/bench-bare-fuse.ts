// The benchmark's floor: a static in-memory tree (a plain object of dirs, files and
// links) served through the same FUSE binding and mount options as iommufs, but with
// no sysfs layer or engine behind it. Comparing a workload here with the same
// workload on `iommufs mount` shows what the simulator itself costs.
//
//   node dist/scripts/bench-bare-fuse.js [devices=64] [rounds=3]
//
// Uses src/fuse/fuse-binding (the only module importing fuse-native), so the floor
// includes that thin wrapper; the workload runs in child processes because the
// mount is served on this process's event loop.

import { execFile } from 'node:child_process';
import { mkdtemp, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Errno } from '../src/engine/errno';
import type { FsOps, FsStat } from '../src/fuse/fs-ops';
import { mountFuse } from '../src/fuse/fuse-binding';

const exec = promisify(execFile);

export class StaticLink {
  constructor(readonly target: string) {}
}
export type StaticEntry = string | Buffer | StaticLink | StaticDir;
export interface StaticDir {
  [name: string]: StaticEntry;
}

const isDir = (e: StaticEntry): e is StaticDir => typeof e === 'object' && !(e instanceof StaticLink) && !Buffer.isBuffer(e);

function walk(root: StaticDir, path: string): StaticEntry {
  let node: StaticEntry = root;
  for (const name of path.split('/').filter((n) => n !== '')) {
    if (!isDir(node)) throw new Errno('ENOTDIR', path);
    const next: StaticEntry | undefined = Object.prototype.hasOwnProperty.call(node, name) ? node[name] : undefined;
    if (next === undefined) throw new Errno('ENOENT', path);
    node = next;
  }
  return node;
}

function stat(e: StaticEntry, time: Date): FsStat {
  const common = { uid: 0, gid: 0, blksize: 4096, blocks: 0, atime: time, mtime: time, ctime: time };
  if (isDir(e)) return { ...common, mode: 0o040755, nlink: 2 + Object.values(e).filter(isDir).length, size: 0 };
  if (e instanceof StaticLink) return { ...common, mode: 0o120777, nlink: 1, size: 0 };
  return { ...common, mode: 0o100444, nlink: 1, size: 4096 };
}

const refuse = (): never => {
  throw new Errno('EPERM', 'static tree');
};

/** Read-only FsOps over a plain object; no handles, no snapshots. */
export function staticOps(root: StaticDir): FsOps {
  const time = new Date();
  const content = (path: string): Buffer => {
    const e = walk(root, path);
    if (isDir(e) || e instanceof StaticLink) throw new Errno('EISDIR', path);
    return Buffer.isBuffer(e) ? e : Buffer.from(e);
  };
  return {
    getattr: (p) => stat(walk(root, p), time),
    readdir: (p) => {
      const d = walk(root, p);
      if (!isDir(d)) throw new Errno('ENOTDIR', p);
      const names = ['.', '..', ...Object.keys(d)];
      return { names, stats: names.map((n) => stat(n === '.' || n === '..' ? d : (d[n] as StaticEntry), time)) };
    },
    readlink: (p) => {
      const e = walk(root, p);
      if (!(e instanceof StaticLink)) throw new Errno('EINVAL', p);
      return e.target;
    },
    access: (p) => void walk(root, p),
    statfs: () => ({ bsize: 4096, frsize: 4096, namemax: 255 }),
    open: (p) => {
      content(p);
      return 1;
    },
    read: (p, _h, len, offset) => content(p).subarray(offset, offset + len),
    write: refuse,
    release: () => undefined,
    truncate: refuse,
    ftruncate: refuse,
    utimens: () => undefined,
    create: refuse,
    mknod: refuse,
    mkdir: refuse,
    rmdir: refuse,
    unlink: refuse,
    rename: refuse,
    link: refuse,
    symlink: refuse,
    chmod: refuse,
    chown: refuse,
  };
}

/** A sysfs-shaped sample: `devices` PCI functions with ~20 attributes each. */
export function sampleTree(devices: number): StaticDir {
  const pciDevices: StaticDir = {};
  const busDevices: StaticDir = {};
  const groups: StaticDir = {};
  for (let i = 0; i < devices; i++) {
    const bdf = `0000:${(1 + (i >> 5)).toString(16).padStart(2, '0')}:${(i & 31).toString(16).padStart(2, '0')}.0`;
    const attrs: StaticDir = {};
    for (const name of ['vendor', 'device', 'class', 'revision', 'subsystem_vendor', 'subsystem_device', 'irq', 'numa_node', 'local_cpus', 'enable', 'msi_bus', 'driver_override', 'modalias', 'uevent', 'resource', 'current_link_speed', 'current_link_width', 'max_link_speed', 'max_link_width']) {
      attrs[name] = `0x${i.toString(16).padStart(4, '0')}\n`;
    }
    attrs.config = Buffer.alloc(256, i & 0xff);
    attrs.iommu_group = new StaticLink(`../../../kernel/iommu_groups/${i}`);
    pciDevices[bdf] = attrs;
    busDevices[bdf] = new StaticLink(`../../../devices/pci0000:00/${bdf}`);
    groups[String(i)] = { devices: { [bdf]: new StaticLink(`../../../../devices/pci0000:00/${bdf}`) }, type: 'DMA\n' };
  }
  return {
    devices: { 'pci0000:00': pciDevices },
    bus: { pci: { devices: busDevices, drivers: {} } },
    kernel: { iommu_groups: groups },
  };
}

async function timed(label: string, fn: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  process.stdout.write(`${label.padEnd(44)} ${ms.toFixed(1).padStart(9)} ms\n`);
  return ms;
}

async function main(): Promise<void> {
  const devices = Number(process.argv[2] ?? 64);
  const rounds = Number(process.argv[3] ?? 3);
  const mnt = await mkdtemp(join(tmpdir(), 'iommufs-mnt-'));
  const handle = await mountFuse(mnt, staticOps(sampleTree(devices)));
  try {
    process.stdout.write(`bare FUSE floor: ${devices} devices, ${rounds} rounds, mount ${mnt}\n`);
    for (let r = 1; r <= rounds; r++) {
      await timed(`round ${r}: find -type l`, () => exec('find', [mnt, '-type', 'l']));
      await timed(`round ${r}: cat every attribute (one cat)`, () => exec('bash', ['-c', `find ${mnt}/devices -type f -print0 | xargs -0 cat > /dev/null`], { maxBuffer: 1 << 26 }));
      await timed(`round ${r}: 100 parallel cat of one attribute`, () =>
        Promise.all(Array.from({ length: 100 }, () => exec('cat', [join(mnt, 'bus/pci/devices', '0000:01:00.0', 'vendor')]))),
      );
    }
  } finally {
    await handle.unmount();
    await rmdir(mnt).catch(() => undefined);
  }
}

if (require.main === module) {
  main().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  });
}
