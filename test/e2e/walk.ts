// A walk of a mounted tree for comparing two reads of it: every name, its type, a link's
// target and a readable file's text, printed by a python3 child (the daemon serving the
// mount may be this process, which must not block on it).

import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run, sh } from './harness';

/** Prints one line per entry below the root: type, path, and the link target or the
 * file's text (hex for binary, the errno name when a read fails; write-only files none).
 * First, before any directory is listed, it looks up every path of a previous walk (given
 * as a file) by name: a listing never shows a stale cached name, a lookup does, and a
 * directory's cached link count shows only until it is listed. */
const WALKER = String.raw`
import os, sys, stat, errno
root = sys.argv[1]
out = []
if len(sys.argv) > 2:
    for rel in open(sys.argv[2]).read().split('\n'):
        if not rel:
            continue
        p = os.path.join(root, rel)
        try:
            st = os.lstat(p)
            kind = 'l -> ' + os.readlink(p) if stat.S_ISLNK(st.st_mode) else ('d nlink=%d' % st.st_nlink if stat.S_ISDIR(st.st_mode) else 'f %o' % stat.S_IMODE(st.st_mode))
        except OSError as e:
            kind = '<%s>' % errno.errorcode.get(e.errno, e.errno)
        out.append('p %s %s' % (rel, kind))
for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
    dirnames.sort()
    rel = os.path.relpath(dirpath, root)
    st = os.lstat(dirpath)
    out.append('d %s nlink=%d' % (rel, st.st_nlink))
    for name in sorted(dirnames + filenames):
        p = os.path.join(dirpath, name)
        r = os.path.normpath(os.path.join(rel, name))
        st = os.lstat(p)
        if stat.S_ISLNK(st.st_mode):
            out.append('l %s -> %s' % (r, os.readlink(p)))
        elif stat.S_ISDIR(st.st_mode):
            continue
        else:
            mode = stat.S_IMODE(st.st_mode)
            # The events file reads like trace_pipe: a read waits for the next event.
            if not mode & 0o444 or r == 'kernel/debug/iommufs/events':
                out.append('f %s %o' % (r, mode))
                continue
            try:
                with open(p, 'rb') as f:
                    data = f.read()
                text = data.decode('latin1') if all(32 <= b < 127 or b in (9, 10) for b in data) else data.hex()
            except OSError as e:
                text = '<%s>' % errno.errorcode.get(e.errno, e.errno)
            out.append('f %s %o %s' % (r, mode, text.replace('\n', '\\n')))
sys.stdout.write('\n'.join(out) + '\n')
`;

/** The paths a walk saw, for the next walk to look up by name. */
function pathsOf(lines: string[]): string {
  return lines
    .filter((l) => /^[dlf] /.test(l))
    .map((l) => l.split(' ')[1]!)
    .filter((p) => p !== '.')
    .join('\n');
}

/** Runs walks; `dir` is a scratch directory of the test's. */
export class Walker {
  private constructor(private readonly dir: string) {}

  static async create(dir: string): Promise<Walker> {
    await writeFile(join(dir, 'walk.py'), WALKER);
    return new Walker(dir);
  }

  /** The walk's lines; with `probe` (an earlier walk), its paths are looked up first. */
  async walk(root: string, probe?: string[]): Promise<string[]> {
    const args = [join(this.dir, 'walk.py'), root];
    if (probe !== undefined) {
      await writeFile(join(this.dir, 'probe.txt'), pathsOf(probe));
      args.push(join(this.dir, 'probe.txt'));
    }
    const r = await run('python3', args, { timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trimEnd().split('\n');
  }
}

/** The lines of `a` and `b` that differ, for a readable failure. */
export function difference(a: string[], b: string[], names: [string, string] = ['warm', 'truth']): string {
  const sa = new Set(a);
  const sb = new Set(b);
  const short = (l: string): string => (l.length > 160 ? `${l.slice(0, 160)}…` : l);
  const onlyA = a.filter((l) => !sb.has(l)).slice(0, 10).map(short);
  const onlyB = b.filter((l) => !sa.has(l)).slice(0, 10).map(short);
  return `${names[0]} only:\n  ${onlyA.join('\n  ')}\n${names[1]} only:\n  ${onlyB.join('\n  ')}`;
}

/** Drops the kernel's dentry and inode caches (all of them: needs root), so that the next
 * read of a FUSE mount asks its daemon for everything. */
export async function dropKernelCaches(): Promise<void> {
  const r = await sh('sync; echo 2 > /proc/sys/vm/drop_caches');
  assert.equal(r.code, 0, `dropping the kernel's dentry and inode caches needs root: ${r.stderr}`);
}

/** The mount read now, with the kernel's caches as they are, equals the mount read cold;
 * the paths of `earlier` (a walk before the writes) are looked up by name in both. */
export async function assertWarmEqualsCold(walker: Walker, mnt: string, earlier: string[], what: string): Promise<void> {
  const warm = await walker.walk(mnt, earlier);
  await dropKernelCaches();
  const cold = await walker.walk(mnt, earlier);
  assert.deepEqual(warm, cold, `${what}: the warm mount differs from the same mount read cold\n${difference(warm, cold, ['warm', 'cold'])}`);
}
