// The kernel caches names and attributes over the mount for hours; the daemon tells it
// what to forget after every write. These tests would catch a single missed invalidation:
// after every write of a long sequence, a walk of the warm mount (every name, type, link
// target and readable text) must equal
//   - the same mount read cold (the kernel's dentry and inode caches dropped), and
//   - a fresh daemon started with a copy of the same --state file (the truth).
// The warm mount is walked before each write too, so that everything is in the kernel's
// caches when the write happens.

import assert from 'node:assert/strict';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DOMAINS_TOPOLOGY, GPU, NIC, PF } from '../unit/engine/domains-fixture';
import { assertNothingMounted, q, run, sh, withDaemon } from './harness';

after(assertNothingMounted);

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
            if not mode & 0o444:
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

let dir = '';
let topology = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'iommufs-coherence-'));
  topology = join(dir, 'domains-lab.yaml');
  await writeFile(topology, DOMAINS_TOPOLOGY);
  await writeFile(join(dir, 'walk.py'), WALKER);
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function walk(root: string, probe?: string[]): Promise<string[]> {
  const args = [join(dir, 'walk.py'), root];
  if (probe !== undefined) {
    await writeFile(join(dir, 'probe.txt'), pathsOf(probe));
    args.push(join(dir, 'probe.txt'));
  }
  const r = await run('python3', args, { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trimEnd().split('\n');
}

/** The lines of `a` and `b` that differ, for a readable failure. */
function difference(a: string[], b: string[]): string {
  const sa = new Set(a);
  const sb = new Set(b);
  const short = (l: string): string => (l.length > 160 ? `${l.slice(0, 160)}…` : l);
  const onlyA = a.filter((l) => !sb.has(l)).slice(0, 10).map(short);
  const onlyB = b.filter((l) => !sa.has(l)).slice(0, 10).map(short);
  return `warm only:\n  ${onlyA.join('\n  ')}\ntruth only:\n  ${onlyB.join('\n  ')}`;
}

async function dropKernelCaches(): Promise<void> {
  const r = await sh('sync; echo 2 > /proc/sys/vm/drop_caches');
  assert.equal(r.code, 0, `dropping the kernel's dentry and inode caches needs root: ${r.stderr}`);
}

const U1 = '8e3f5a0c-1d2b-4c3a-9f00-0123456789ab';
const T4 = 'i915-GVTg_V5_4';

/** Each write, as a shell line run in the mount's root. */
const WRITES: Array<[string, string]> = [
  ['SR-IOV enable', `echo 3 > bus/pci/devices/${PF}/sriov_numvfs`],
  ['VF unbind', `echo 0000:02:00.1 > bus/pci/drivers/nvme/unbind`],
  ['VF remove', `echo 1 > bus/pci/devices/0000:02:00.2/remove`],
  ['SR-IOV disable', `echo 0 > bus/pci/devices/${PF}/sriov_numvfs`],
  ['unbind', `echo ${NIC} > bus/pci/drivers/e1000e/unbind`],
  ['group type', `echo identity > "kernel/iommu_groups/$(basename "$(readlink bus/pci/devices/${NIC}/iommu_group)")/type"`],
  ['new_id', `echo 8086 10d3 > bus/pci/drivers/pci-stub/new_id`],
  ['remove_id', `echo 8086 10d3 > bus/pci/drivers/pci-stub/remove_id`],
  ['unbind pci-stub', `echo ${NIC} > bus/pci/drivers/pci-stub/unbind`],
  ['driver_override', `echo vfio-pci > bus/pci/devices/${NIC}/driver_override`],
  ['drivers_probe', `echo ${NIC} > bus/pci/drivers_probe`],
  ['bind', `echo ${NIC} > bus/pci/drivers/vfio-pci/unbind && echo '' > bus/pci/devices/${NIC}/driver_override && echo ${NIC} > bus/pci/drivers/e1000e/bind`],
  ['mdev create', `echo ${U1} > bus/pci/devices/${GPU}/mdev_supported_types/${T4}/create`],
  ['mdev remove', `echo 1 > bus/pci/devices/${GPU}/${U1}/remove`],
  ['remove', `echo 1 > bus/pci/devices/${NIC}/remove`],
  ['rescan', `echo 1 > bus/pci/rescan`],
  ['remove a bridge', `echo 1 > bus/pci/devices/0000:00:02.0/remove`],
  ['rescan', `echo 1 > bus/pci/rescan`],
];

describe('a warm mount reads exactly like a cold one after every write', () => {
  it('SR-IOV, VF removal, bind/unbind, new_id/remove_id, driver_override, group type, mdev, remove/rescan', async () => {
    const state = join(dir, 'state.json');
    await withDaemon(
      topology,
      async (mnt) => {
        let before = await walk(mnt);
        for (const [what, line] of WRITES) {
          const w = await sh(`cd ${q(mnt)} && ${line}`);
          assert.equal(w.code, 0, `${what}: ${w.stderr}`);
          const warm = await walk(mnt, before);
          await dropKernelCaches();
          const cold = await walk(mnt, before);
          assert.deepEqual(warm, cold, `${what}: the warm mount differs from the same mount read cold\n${difference(warm, cold)}`);
          // The truth: a new daemon from the saved state, never looked at before.
          const copy = join(dir, 'state-copy.json');
          await copyFile(state, copy);
          await withDaemon(topology, async (fresh) => {
            const truth = await walk(fresh, before);
            assert.deepEqual(warm, truth, `${what}: the warm mount differs from a fresh mount of the same state\n${difference(warm, truth)}`);
          }, ['--state', copy]);
          before = warm;
        }
      },
      ['--state', state],
    );
  });

  it('a name removed by a write is gone for every lookup that starts after the write returns, under parallel walkers', async () => {
    await withDaemon(topology, async (mnt) => {
      // Walkers keep the kernel's caches full while the writer removes and re-adds devices.
      const walkers = sh(`end=$((SECONDS+6)); while [ $SECONDS -lt $end ]; do find ${q(mnt)} > /dev/null 2>&1; done`, { timeoutMs: 30_000 });
      const r = await sh(
        [
          `cd ${q(mnt)}`,
          'seen=0',
          'for i in $(seq 15); do',
          `  echo 1 > bus/pci/devices/${NIC}/remove || exit 2`,
          `  if [ -e bus/pci/devices/${NIC} ] || [ -e devices/pci0000:00/0000:00:01.0/${NIC} ] || ls devices/pci0000:00/0000:00:01.0 | grep -q ${NIC}; then seen=$((seen+1)); fi`,
          '  echo 1 > bus/pci/rescan || exit 3',
          `  [ -e devices/pci0000:00/0000:00:01.0/${NIC}/vendor ] || exit 4`,
          'done',
          'echo "stale=$seen"',
        ].join('\n'),
        { timeoutMs: 60_000 },
      );
      await walkers;
      assert.equal(r.stdout.trim(), 'stale=0', r.stderr);
    });
  });
});
