// `iommufs export <topology> <dir>`: the simulated /sys written out as plain directories,
// files and symlinks, for tools that take a root path (lspci -O sysfs.path, HWLOC_FSROOT)
// where FUSE is not available, and as the floor the FUSE benchmark is measured against.
//
// The copy is a snapshot: attribute files hold what show() gave at export time, with the
// node's mode; write-only attributes (no read bit) are empty files; an attribute whose
// read fails the way sysfs reads can (an Errno) is an empty file too. File sizes are the
// content's, not sysfs's 4096. Nothing here touches a FUSE mount, so plain synchronous
// file calls are safe and the fastest.

import { chmodSync, mkdirSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Errno } from '../engine/errno';
import type { AttrNode, DirNode, SysfsTree } from '../sysfs/node';
import { sysfsTree } from '../sysfs/tree';
import { CliError } from './errors';
import type { Io } from './io';
import { bootOrFail } from './load';

export interface ExportCounts {
  dirs: number;
  files: number;
  links: number;
}

function attrContent(node: AttrNode): Buffer {
  if ((node.mode & 0o444) === 0) return Buffer.alloc(0);
  try {
    return node.show();
  } catch (e) {
    if (e instanceof Errno) return Buffer.alloc(0);
    throw e;
  }
}

function writeDir(node: DirNode, path: string, counts: ExportCounts): void {
  for (const name of node.list()) {
    const child = node.lookup(name);
    if (child === undefined) continue; // listed but gone: a view that changed meanwhile
    const p = join(path, name);
    if (child.kind === 'dir') {
      mkdirSync(p);
      counts.dirs++;
      writeDir(child, p, counts);
      // After the children, in case the mode lacks the owner's write bit.
      chmodSync(p, child.mode);
    } else if (child.kind === 'attr') {
      writeFileSync(p, attrContent(child));
      chmodSync(p, child.mode);
      counts.files++;
    } else {
      symlinkSync(child.target, p);
      counts.links++;
    }
  }
}

/** Writes `tree` below `target`, which must exist and be empty. */
export function exportTree(tree: SysfsTree, target: string): ExportCounts {
  const counts: ExportCounts = { dirs: 0, files: 0, links: 0 };
  writeDir(tree.root, target, counts);
  return counts;
}

/** Creates `dir` if missing; refuses anything but an empty directory. */
function prepareTarget(dir: string): void {
  let isDir: boolean;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    mkdirSync(dir, { recursive: true });
    return;
  }
  if (!isDir) throw new CliError(`export: ${dir} is not a directory`, 1);
  if (readdirSync(dir).length > 0) throw new CliError(`export: ${dir} is not empty`, 1);
}

export function exportCommand(a: { topology: string; dir: string }, io: Io): number {
  const { machine, warnings } = bootOrFail(a.topology);
  for (const w of warnings) io.err(`warning: ${w}`);
  const dir = resolve(a.dir);
  prepareTarget(dir);
  const c = exportTree(sysfsTree(machine), dir);
  io.out(`exported ${dir}: ${c.dirs} directories, ${c.files} files, ${c.links} links`);
  return 0;
}
