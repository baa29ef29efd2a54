// The write fuzz through a real mount and a real shell (issue 13): a seeded sequence of
// random and near-valid writes to the writable files of qemu-sriov, each one a bash
// `printf > file`. A twin machine in this process takes the same writes through the
// adapter and says which errno each must get; bash must print that errno's text. At
// checkpoints, the whole mounted tree (walked by Python: names, link targets, readable
// texts) must equal the twin's: a refused write that changed anything on the mount, or an
// accepted one that did something else, shows up as a difference. The in-process fuzz
// (test/unit/sysfs/write-fuzz.test.ts) shows the twin itself changes nothing on refusal.
//
// WRITE_FUZZ_SEED=<n> replays (the seed is printed); WRITE_FUZZ_MOUNT_COUNT sets the number
// of writes (default 45).

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ERRNO } from '../../src/engine/errno';
import { Machine } from '../../src/engine/machine';
import { SysfsFs } from '../../src/fuse/adapter';
import { PathCache } from '../../src/fuse/path-cache';
import { sysfsTree } from '../../src/sysfs/tree';
import { loadTopologyFile } from '../../src/topology/load';
import { TOPOLOGIES } from '../helpers/paths';
import { Rng, firstDifference, fuzzSeed, payload, snapshot, vocabulary, writableFiles, writeThroughAdapter } from '../helpers/write-fuzz';
import { assertNothingMounted, q, run, sh, withMount } from './harness';

after(assertNothingMounted);

const SEED = fuzzSeed(process.env.WRITE_FUZZ_SEED);
const COUNT = Number(process.env.WRITE_FUZZ_MOUNT_COUNT ?? 45);
const CHECK_EVERY = 15;

/** The snapshot format of test/helpers/write-fuzz.ts, taken through the mount. */
const WALKER = `
import errno, json, os, stat, sys
root = sys.argv[1]
out = []
def walk(rel):
    p = root + rel
    st = os.lstat(p)
    if stat.S_ISDIR(st.st_mode):
        out.append('d ' + rel)
        for name in os.listdir(p):
            walk(rel + '/' + name)
    elif stat.S_ISLNK(st.st_mode):
        out.append('l ' + rel + ' -> ' + os.readlink(p))
    elif st.st_mode & 0o444 == 0:
        out.append('f ' + rel + ' (write-only)')
    elif rel == '/kernel/debug/iommufs/events':
        # Reads like trace_pipe: a read waits for the next event.
        out.append('f ' + rel + ' (stream)')
    else:
        try:
            with open(p, 'rb') as f:
                text = json.dumps(f.read().decode('latin1'), ensure_ascii=False, separators=(',', ':'))
        except OSError as e:
            text = '!' + errno.errorcode[e.errno]
        out.append('f ' + rel + ' ' + text)
walk('')
sys.stdout.write('\\n'.join(out))
`;

function boot(): Machine {
  const r = loadTopologyFile(join(TOPOLOGIES, 'qemu-sriov.yaml'));
  if (!r.ok) throw new Error('qemu-sriov does not load');
  return Machine.boot(r.topology);
}

/** What `printf > file` does with `data`: bash keeps its stdout line-buffered
 * (shell.c sh_setlinebuf), so each line is a write(2) of its own. A refused line is dropped
 * (stdio discards what it failed to flush) and does not move the file offset; the lines
 * after it are still written, and bash reports the errno left by the last refused one
 * (builtins/common.c sh_wrerror): `printf '0\n10d3' > enable` on a disabled device fails
 * with EIO and still enables it, as on Linux. */
function writeAsBash(fs: Parameters<typeof writeThroughAdapter>[0], path: string, data: Buffer): string {
  let offset = 0;
  let error = '';
  for (let start = 0; start < data.length; ) {
    const nl = data.indexOf(0x0a, start);
    const end = nl < 0 ? data.length : nl + 1;
    const chunk = data.subarray(start, end);
    const e = writeThroughAdapter(fs, path, chunk, offset, true).error;
    if (e === '') offset += chunk.length;
    else error = e;
    start = end;
  }
  return error;
}

/** bash printf %b with every byte as an octal escape: exactly these bytes. */
function printfArg(data: Buffer): string {
  return [...data].map((b) => `\\0${b.toString(8).padStart(3, '0')}`).join('');
}

async function strerrors(): Promise<Map<string, string>> {
  const r = await run('python3', ['-c', `import json, os, sys\nprint(json.dumps({k: os.strerror(v) for k, v in json.loads(sys.argv[1]).items()}))`, JSON.stringify(ERRNO)]);
  return new Map(Object.entries(JSON.parse(r.stdout) as Record<string, string>));
}

async function walkMount(mnt: string): Promise<string> {
  const r = await run('python3', ['-c', WALKER, mnt], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

describe(`write fuzz through a mount and bash (WRITE_FUZZ_SEED=${SEED})`, () => {
  it(`qemu-sriov: ${COUNT} shell writes get the twin's errno text, and the mounted tree stays the twin's`, async (t) => {
    const texts = await strerrors();
    const mounted = boot();
    const twin = boot();
    const twinTree = sysfsTree(twin);
    const twinFs = new SysfsFs(twinTree);
    const paths = new PathCache(twinTree);
    // Another stream than the in-process fuzz's for the same seed.
    const rng = new Rng(SEED ^ 0x5eed);
    const words = vocabulary(twin);
    await withMount(sysfsTree(mounted), async (mnt) => {
      assert.equal(await walkMount(mnt), snapshot(twinTree), 'the mount and its twin differ before any write');
      let files = writableFiles(twinTree);
      const problems: string[] = [];
      const outcomes = new Map<string, number>();
      for (let i = 0; i < COUNT; i++) {
        const path = rng.pick(files);
        const node = paths.resolve(`/${path}`);
        let current: Buffer | undefined;
        try {
          current = node.kind === 'attr' && (node.mode & 0o444) !== 0 ? node.show() : undefined;
        } catch {
          current = undefined;
        }
        // At most bash's 4,096-byte stdio buffer, so that one printf is one write(2) (a
        // longer payload would reach `config` as two writes, the second at its end).
        const data = payload(rng, words, current, 3000).subarray(0, 4096);
        const want = writeAsBash(twinFs, path, data);
        outcomes.set(want || 'ok', (outcomes.get(want || 'ok') ?? 0) + 1);
        if (want === '') files = writableFiles(twinTree);
        const r = await sh(`{ printf '%b' '${printfArg(data)}' > ${q(`${mnt}/${path}`)}; } 2>&1`);
        const got = r.code === 0 ? '' : r.stdout.trim().slice(r.stdout.trim().lastIndexOf(': ') + 2);
        const wantText = want === '' ? '' : texts.get(want)!;
        if (got !== wantText) problems.push(`write ${i}: ${path} <- ${JSON.stringify(data.toString('latin1').slice(0, 120))}: want "${wantText || 'success'}", bash said "${r.stdout.trim() || 'nothing'}"`);
        if ((i + 1) % CHECK_EVERY === 0 || i === COUNT - 1) {
          const ours = await walkMount(mnt);
          const theirs = snapshot(twinTree);
          if (ours !== theirs) {
            problems.push(`after write ${i}: the mounted tree is not the twin's:\n${firstDifference(theirs, ours)}`);
            break;
          }
        }
      }
      t.diagnostic(`seed ${SEED}: ${[...outcomes].map(([k, v]) => `${k} ${v}`).join(', ')}`);
      assert.deepEqual(problems, []);
    });
  });
});
