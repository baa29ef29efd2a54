// The benchmark's FUSE floor: an exported tree served by the least a fuse-native server
// can do. Plain objects in one Map keyed by path, answered straight from fuse-native's
// callbacks; nothing of src/fuse (no wrapper, no errno mapper, no node cache) is used.
// It mounts with the kernel options of `iommufs mount` (kernelOptions(true) of
// src/fuse/mount-options.ts, plain data: direct_io, entry/attr timeouts of
// CACHE_TIMEOUT_S, negative_timeout=0, default_permissions, passed through fsname as that
// file explains), so a comparison with the mount is "same caching, same FUSE, nothing else".
//
//   node dist/scripts/lean-fuse-server.js snapshot <exported dir> <snapshot file>
//   node dist/scripts/lean-fuse-server.js serve <snapshot file> <mountpoint>
//
// `snapshot` reads an `iommufs export` once into a v8-serialized file, so that each start
// of the server costs a deserialization rather than a walk of 700,000 files. `serve`
// prints `mounted <mountpoint>` once the kernel has sent INIT and unmounts on SIGTERM or
// SIGINT with `fusermount -u -z -- <mountpoint>` through execFile (fuse-native's own
// unmount runs a shell, src/fuse/fusermount.ts).
//
// A static tree needs no file handle, so open, release, opendir, releasedir, flush and
// access are left to libfuse (default_permissions makes the kernel check modes itself):
// the server answers getattr, readdir, readlink and read only.

import { execFile } from 'node:child_process';
import { lstatSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deserialize, serialize } from 'node:v8';
import type FuseNative from 'fuse-native';
import { kernelOptions } from '../src/fuse/mount-options';

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;

/** One exported entry: its path under the root ('/' for the root), mode with type bits,
 * and its text (files) or target (links). */
interface SnapshotEntry {
  path: string;
  mode: number;
  data?: Uint8Array;
  target?: string;
}

function snapshot(dir: string): SnapshotEntry[] {
  const out: SnapshotEntry[] = [];
  const visit = (abs: string, path: string): void => {
    const st = lstatSync(abs);
    const kind = st.mode & S_IFMT;
    if (kind === S_IFLNK) out.push({ path, mode: st.mode, target: readlinkSync(abs) });
    else if (kind === S_IFDIR) {
      out.push({ path, mode: st.mode });
      for (const name of readdirSync(abs)) visit(join(abs, name), path === '/' ? `/${name}` : `${path}/${name}`);
    } else out.push({ path, mode: st.mode, data: readFileSync(abs) });
  };
  visit(dir, '/');
  return out;
}

/** What the server keeps per path: the stat it answers, and a directory's listing, a
 * file's bytes or a link's target. */
interface LeanNode {
  stat: FuseNative.Stat;
  names?: string[];
  stats?: FuseNative.Stat[];
  data?: Buffer;
  target?: string;
}

function buildTree(entries: SnapshotEntry[]): Map<string, LeanNode> {
  const time = new Date();
  const tree = new Map<string, LeanNode>();
  for (const e of entries) {
    const kind = e.mode & S_IFMT;
    const size = e.data?.length ?? 0;
    // As kernfs and the mount report them: root-owned, nlink fixed up below for dirs.
    const stat: FuseNative.Stat = { mode: e.mode, uid: 0, gid: 0, size: kind === S_IFDIR ? 0 : size, nlink: kind === S_IFDIR ? 2 : 1, atime: time, mtime: time, ctime: time };
    const node: LeanNode = { stat };
    if (kind === S_IFDIR) {
      node.names = ['.', '..'];
      node.stats = [stat, stat];
    } else if (e.target !== undefined) node.target = e.target;
    else if (e.data !== undefined) node.data = Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength);
    tree.set(e.path, node);
    if (e.path === '/') continue;
    const cut = e.path.lastIndexOf('/');
    const parent = tree.get(cut === 0 ? '/' : e.path.slice(0, cut))!;
    parent.names!.push(e.path.slice(cut + 1));
    parent.stats!.push(stat);
    if (kind === S_IFDIR) parent.stat.nlink++;
  }
  return tree;
}

function unmount(mountpoint: string): Promise<void> {
  return new Promise((resolve) => {
    execFile('fusermount', ['-u', '-z', '--', mountpoint], { shell: false }, (err, _out, stderr) => {
      if (err !== null) process.stderr.write(`lean-fuse-server: fusermount -u ${mountpoint}: ${String(stderr).trim() || err.message}\n`);
      resolve();
    });
  });
}

function serve(snapshotFile: string, mountpoint: string): void {
  const tree = buildTree(deserialize(readFileSync(snapshotFile)) as SnapshotEntry[]);
  const ENOENT = -2;
  const EINVAL = -22;
  const EISDIR = -21;
  const ENOTDIR = -20;
  const ops: FuseNative.Operations = {
    getattr(path, cb) {
      const node = tree.get(path);
      if (node === undefined) cb(ENOENT);
      else cb(0, node.stat);
    },
    readdir(path, cb) {
      const node = tree.get(path);
      if (node === undefined) cb(ENOENT);
      else if (node.names === undefined) cb(ENOTDIR);
      else cb(0, node.names, node.stats);
    },
    readlink(path, cb) {
      const target = tree.get(path)?.target;
      if (target === undefined) cb(tree.has(path) ? EINVAL : ENOENT);
      else cb(0, target);
    },
    read(path, _fd, buf, len, pos, cb) {
      const data = tree.get(path)?.data;
      if (data === undefined) cb(tree.has(path) ? EISDIR : ENOENT);
      else cb(pos >= data.length ? 0 : data.copy(buf, 0, pos, Math.min(data.length, pos + len)));
    },
  };
  const Fuse = require('fuse-native') as typeof FuseNative;
  const fuse = new Fuse(mountpoint, ops, {
    mkdir: true,
    // The mount's own kernel options (plain data from mount-options.ts), through fsname
    // since fuse-native has no direct_io and drops falsy values such as negative_timeout=0.
    fsname: ['lean', ...kernelOptions(true)].join(','),
    subtype: 'lean',
    // No per-request timer: a static tree answers at once (the mount arms one per request).
    timeout: false,
  });
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    // The native thread's libuv handle would keep the process alive: exit once unmounted.
    void unmount(mountpoint).then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  fuse.mount((err) => {
    if (err) {
      process.stderr.write(`lean-fuse-server: cannot mount ${mountpoint}: ${err.message}\n`);
      process.exit(1);
    }
    process.stdout.write(`mounted ${mountpoint}\n`);
  });
}

function main(): void {
  const [verb, from, to] = process.argv.slice(2);
  if (verb === 'snapshot' && from !== undefined && to !== undefined) writeFileSync(to, serialize(snapshot(from)));
  else if (verb === 'serve' && from !== undefined && to !== undefined) serve(from, to);
  else {
    process.stderr.write('usage: lean-fuse-server snapshot <exported dir> <file> | serve <file> <mountpoint>\n');
    process.exitCode = 2;
  }
}

main();
