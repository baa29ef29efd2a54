// Real, unmodified tools against the mount (docs/clients.md §4): lspci in its usual
// modes, the classic group-listing loop, find/readlink/ls over the whole tree, many readers
// at once, lspci and lstopo through `iommufs run`, and virt-host-validate. The tools come
// from `scripts/setup.sh --test`; a missing tool fails these tests.
//
// Where a tool's output is compared it is compared with the same tool run over the kernel
// recording rebuilt as plain files (tools-recorded-tree.ts): what the tool printed on the
// recorded Linux machine, up to the firmware facts the rebuild leaves out.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, rmdir, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLI, TOPOLOGIES } from '../helpers/paths';
import { MACHINES, recording, type RecordedPhase } from '../helpers/reference';
import {
  assertNothingMounted,
  CLI_MAIN,
  forceUnmount,
  makeMountDir,
  q,
  run,
  sh,
  startDaemon,
  stopDaemon,
  withDaemon,
  type Daemon,
  type RunResult,
} from './harness';
import { configBytes, ORACLE_PREFIX, withRecordedTree, writeRecordedTree } from './tools-recorded-tree';

/** The one line lspci prints on a host without a kernel module directory (clients.md §4). */
const KMOD_NOISE = /^lspci: Unable to load libkmod resources: error -\d+$/;

function cleanStderr(r: RunResult): string {
  return r.stderr
    .split('\n')
    .filter((l) => l !== '' && !KMOD_NOISE.test(l))
    .join('\n');
}

async function lspci(sysRoot: string, args: string[]): Promise<RunResult> {
  return run('lspci', ['-O', `sysfs.path=${sysRoot}/bus/pci`, ...args], { timeoutMs: 30_000 });
}

/** lspci's output in blocks, one per device, keyed by the slot the block starts with. */
function blocks(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]{2}:[0-9a-f]{2}\.[0-7]) /.exec(line);
    if (m) {
      current = [line];
      out.set(m[1]!, current);
    } else if (line !== '') current?.push(line);
  }
  return out;
}

/** The `Access Control Services` capability lines of one -vvv block (empty without ACS). */
function acsLines(block: string[]): string[] {
  const i = block.findIndex((l) => l.includes('Access Control Services'));
  if (i < 0) return [];
  return block.slice(i, i + 3).map((l) => l.trim());
}

/** Recorded group of each device, by short slot name as lspci prints it. */
function recordedGroups(rec: RecordedPhase): Map<string, string> {
  const out = new Map<string, string>();
  for (const [id, g] of Object.entries(rec.groups)) for (const bdf of g.devices) out.set(bdf, id);
  return out;
}

function hexLine(bytes: Buffer): string {
  return `00: ${[...bytes.subarray(0, 16)].map((b) => b.toString(16).padStart(2, '0')).join(' ')}`;
}

/** PCI_COMMAND_MASTER (include/uapi/linux/pci_regs.h). */
const COMMAND_MASTER = 0x04;

/** A `00: ..` line of lspci -x with the command register's Bus Master bit cleared. */
function withoutMaster(line: string): string {
  const bytes = line.slice(4).split(' ');
  bytes[4] = (parseInt(bytes[4]!, 16) & ~COMMAND_MASTER).toString(16).padStart(2, '0');
  return `00: ${bytes.join(' ')}`;
}

function withoutPhySlot(text: string): string {
  return text
    .split('\n')
    .filter((l) => !l.startsWith('PhySlot:'))
    .join('\n');
}

/** Lines only one side has, in order, each marked with its side (at most 40). */
function lineDiff(theirs: string, ours: string): string[] {
  const a = theirs.split('\n');
  const b = ours.split('\n');
  const out: string[] = [];
  const count = (lines: string[]): Map<string, number> => {
    const m = new Map<string, number>();
    for (const l of lines) m.set(l, (m.get(l) ?? 0) + 1);
    return m;
  };
  const ca = count(a);
  const cb = count(b);
  for (const l of a) if ((cb.get(l) ?? 0) < (ca.get(l) ?? 0)) out.push(`- kernel: ${l}`);
  for (const l of b) if ((ca.get(l) ?? 0) < (cb.get(l) ?? 0)) out.push(`+ ours:   ${l}`);
  if (out.length === 0 && theirs !== ours) out.push('same lines in a different order');
  return [...new Set(out)].slice(0, 40);
}

const ACS_EXT_CAP = 0x000d;

/** Offset of the ACS extended capability in a recorded config space, if any. */
function acsOffset(cfg: Buffer): number | undefined {
  if (cfg.length < 4096) return undefined;
  for (let off = 0x100, hops = 0; off !== 0 && hops < 64; hops++) {
    const hdr = cfg.readUInt32LE(off);
    if ((hdr & 0xffff) === ACS_EXT_CAP) return off;
    off = (hdr >>> 20) & 0xffc;
  }
  return undefined;
}

const GROUP_LOOP = `
SYSFS=\${SYSFS:-/sys}
LSPCI=(lspci)
[ "$SYSFS" != /sys ] && LSPCI+=(-A linux-sysfs -O "sysfs.path=$SYSFS/bus/pci")
for group in $(ls -1 "$SYSFS/kernel/iommu_groups" | sort -n); do
  printf 'IOMMU Group %s:\\n' "$group"
  for dev in "$SYSFS/kernel/iommu_groups/$group"/devices/*; do
    [ -e "$dev" ] || continue
    printf '\\t%s\\n' "$("\${LSPCI[@]}" -nns "\${dev##*/}" 2>/dev/null)"
  done
done
`;

function cli(args: string[], timeoutMs = 30_000): Promise<RunResult> {
  return run(process.execPath, [CLI, ...args], { timeoutMs });
}

before(async () => {
  for (const tool of ['lspci', 'lstopo', 'virt-host-validate', 'unshare', 'find', 'xargs', 'readlink']) {
    const r = await sh(`command -v ${tool}`);
    assert.equal(r.code, 0, `${tool} is not installed: run scripts/setup.sh --test`);
  }
});
after(assertNothingMounted);

/** One daemon and one rebuilt recording shared by the tests of a describe block; both are
 * removed in `after`, also when a test or the start failed. */
function sharedMachine(name: string): { mnt(): string; oracle(): string } {
  let mnt: string | undefined;
  let oracle: string | undefined;
  let daemon: Daemon | undefined;
  before(async () => {
    oracle = await mkdtemp(join(tmpdir(), ORACLE_PREFIX));
    await writeRecordedTree(recording(name).phases.boot, oracle);
    mnt = await makeMountDir();
    daemon = await startDaemon([CLI_MAIN, 'mount', join(TOPOLOGIES, `qemu-${name}.yaml`), mnt], mnt);
  });
  after(async () => {
    if (daemon !== undefined) await stopDaemon(daemon);
    if (mnt !== undefined) {
      await forceUnmount(mnt);
      await rmdir(mnt).catch(() => undefined);
    }
    if (oracle !== undefined) await rm(oracle, { recursive: true, force: true });
  });
  return {
    mnt: () => mnt ?? assert.fail('no mount'),
    oracle: () => `${oracle ?? assert.fail('no recorded tree')}/sys`,
  };
}

/** lspci with `args` on the recorded tree and on the mount; ours must exit 0 with no warnings. */
async function lspciBoth(m: { mnt(): string; oracle(): string }, args: string[]): Promise<{ theirs: string; ours: string }> {
  const [theirs, ours] = await Promise.all([lspci(m.oracle(), args), lspci(m.mnt(), args)]);
  assert.equal(theirs.code, 0, `lspci ${args.join(' ')} on the recording: ${theirs.stderr}`);
  assert.equal(ours.code, 0, `lspci ${args.join(' ')}: ${ours.stderr}`);
  assert.equal(cleanStderr(ours), '', `lspci ${args.join(' ')} warned`);
  return { theirs: theirs.stdout, ours: ours.stdout };
}

for (const name of MACHINES) {
  describe(`qemu-${name}: lspci and the group loop print what they printed on the recorded kernel`, () => {
    const rec = recording(name).phases.boot;
    const m = sharedMachine(name);

    // PhySlot comes from bus/pci/slots/*/address, which the recording does not hold.
    for (const args of [['-nn'], ['-vmm', '-D'], ['-t']]) {
      it(`lspci ${args.join(' ')} equals lspci on the recording`, async () => {
        const { theirs, ours } = await lspciBoth(m, args);
        assert.deepEqual(lineDiff(withoutPhySlot(theirs), withoutPhySlot(ours)), []);
      });
    }

    // The firmware's assignment (pci/resources/assign.ts reproduces SeaBIOS and Linux on
    // these machines): every Region, Expansion ROM and bridge window line, device by device.
    it('lspci -vvv: Region, Expansion ROM and bridge window lines equal the recording\'s', async () => {
      const { theirs, ours } = await lspciBoth(m, ['-vvv']);
      const resourceLines = (text: string): string[] =>
        text.split('\n').filter((l) => /^[0-9a-f]{2}:|^\t+(Region \d|Expansion ROM|I\/O behind bridge|Memory behind bridge|Prefetchable memory behind bridge)/.test(l)).map((l) => l.replace(/ \(prog-if.*$/, ''));
      assert.ok(resourceLines(theirs).some((l) => /Region 0: Memory at/.test(l)));
      assert.deepEqual(lineDiff(resourceLines(theirs).join('\n'), resourceLines(ours).join('\n')), []);
    });

    it('lspci -nn: every device with its recorded vendor:device and class', async () => {
      const { ours } = await lspciBoth(m, ['-nn']);
      const problems: string[] = [];
      for (const [bdf, dev] of Object.entries(rec.devices)) {
        const line = ours.split('\n').find((l) => l.startsWith(bdf.slice(5) + ' ')) ?? '(no line)';
        const ids = `[${dev.attrs.vendor![0]!.slice(2)}:${dev.attrs.device![0]!.slice(2)}]`;
        const cls = `[${dev.attrs.class![0]!.slice(2, 6)}]`;
        if (!line.includes(ids) || !line.includes(cls)) problems.push(`${bdf}: "${line}" lacks ${ids} or ${cls}`);
      }
      assert.equal(ours.trim().split('\n').length, Object.keys(rec.devices).length);
      assert.deepEqual(problems, []);
    });

    it('lspci -vmm -D: every device with its recorded IOMMUGroup', async () => {
      const { ours } = await lspciBoth(m, ['-vmm', '-D']);
      const seen = new Map<string, string | undefined>();
      for (const block of ours.split('\n\n').filter((b) => b.trim() !== '')) {
        const slot = /^Slot:\t(\S+)$/m.exec(block)?.[1];
        if (slot !== undefined) seen.set(slot, /^IOMMUGroup:\t(\S+)$/m.exec(block)?.[1]);
      }
      const groups = recordedGroups(rec);
      assert.deepEqual(
        [...seen.entries()].sort(),
        Object.keys(rec.devices).map((bdf) => [bdf, groups.get(bdf)]).sort(),
      );
    });

    it('lspci -x: the first 16 bytes of config space of every device as recorded', async () => {
      const { ours } = await lspciBoth(m, ['-x']);
      const xb = blocks(ours);
      const problems: string[] = [];
      for (const [bdf, dev] of Object.entries(rec.devices)) {
        const cfg = configBytes(dev.config_hex);
        // SeaBIOS leaves Bus Master on in the command register of the disk controllers it
        // booted from (QEMU's AHCI and NVMe here); no driver set it (none was bound), so it is
        // the firmware's, not Linux's: compared without that one bit.
        // (Bridges are the kernel's: pci_enable_bridges sets them bus master, compared in full.)
        const firmwareMaster = dev.links.driver === undefined && (cfg[4]! & COMMAND_MASTER) !== 0 && (cfg[0x0e]! & 0x7f) === 0;
        const got = xb.get(bdf.slice(5))?.[1];
        const want = hexLine(cfg);
        const same = firmwareMaster ? got !== undefined && withoutMaster(got) === withoutMaster(want) : got === want;
        if (!same) problems.push(`${bdf}: lspci -x ${got} | recorded ${want}`);
      }
      assert.deepEqual(problems, []);
    });

    if (name === 'rootports') {
      it('lspci -x -s 01:00.0: the e1000e behind the first root port, all 16 bytes as recorded', async () => {
        const { ours } = await lspciBoth(m, ['-x', '-s', '01:00.0']);
        assert.equal(ours.split('\n')[1], '00: 86 80 d3 10 03 01 10 00 00 00 00 02 00 00 00 00');
        assert.equal(ours.split('\n')[1], hexLine(configBytes(rec.devices['0000:01:00.0']!.config_hex)));
      });
    }

    it('lspci -vvv: Access Control Services decoded on every port that has it, flags as recorded', async () => {
      const { theirs, ours } = await lspciBoth(m, ['-vvv']);
      const tb = blocks(theirs);
      const ob = blocks(ours);
      const problems: string[] = [];
      let ports = 0;
      for (const [bdf, dev] of Object.entries(rec.devices)) {
        const slot = bdf.slice(5);
        const t = acsLines(tb.get(slot) ?? []);
        const o = acsLines(ob.get(slot) ?? []);
        const hasAcs = acsOffset(configBytes(dev.config_hex)) !== undefined;
        if (hasAcs) ports++;
        if (hasAcs && t.length === 0) problems.push(`${bdf}: the recording's ACS was not decoded (test bug)`);
        if (hasAcs && o.length === 0) problems.push(`${bdf}: no Access Control Services in our -vvv`);
        if (t.join('\n') !== o.join('\n')) problems.push(`${bdf}: ACS lines\n  kernel ${t.join(' | ')}\n  ours   ${o.join(' | ')}`);
        // The rule behind the QEMU root ports' control bits, spelled out: with an IOMMU the
        // kernel enables SV, RR, CR and UF (drivers/pci/pci.c pci_std_enable_acs); without, none.
        if (dev.attrs.vendor?.[0] === '0x1b36' && dev.attrs.device?.[0] === '0x000c') {
          const ctl = o.find((l) => l.startsWith('ACSCtl:'));
          const want = Object.keys(rec.groups).length > 0
            ? 'ACSCtl:\tSrcValid+ TransBlk- ReqRedir+ CmpltRedir+ UpstreamFwd+ EgressCtrl- DirectTrans-'
            : 'ACSCtl:\tSrcValid- TransBlk- ReqRedir- CmpltRedir- UpstreamFwd- EgressCtrl- DirectTrans-';
          if (ctl !== want) problems.push(`${bdf}: QEMU root port ${ctl ?? '(no ACSCtl)'}, want ${want}`);
        }
      }
      assert.deepEqual(problems, []);
      if (name === 'rootports') assert.equal(ports, 6);
    });

    it('the group-listing loop (SYSFS=) prints the recorded groups', async () => {
      const [theirs, ours] = await Promise.all([sh(`SYSFS=${q(m.oracle())}\n${GROUP_LOOP}`), sh(`SYSFS=${q(m.mnt())}\n${GROUP_LOOP}`)]);
      assert.equal(ours.code, 0, ours.stderr);
      assert.equal(ours.stdout, theirs.stdout);
      const lines = ours.stdout.split('\n');
      const devices = Object.values(rec.groups).reduce((n, g) => n + g.devices.length, 0);
      assert.equal(lines.filter((l) => l.startsWith('IOMMU Group ')).length, Object.keys(rec.groups).length);
      const deviceLines = lines.filter((l) => l.startsWith('\t'));
      assert.equal(deviceLines.length, devices);
      for (const l of deviceLines) assert.match(l, /^\t[0-9a-f]{2}:[0-9a-f]{2}\.[0-7] .*\[[0-9a-f]{4}:[0-9a-f]{4}\]/);
    });
  });
}

describe('generic tools over the whole tree', () => {
  // Four machines of different kinds (QEMU root ports, conventional bridges, an AMD desktop,
  // an SMMU server with platform devices); a walk costs about 1 ms per entry over FUSE.
  const walked = ['qemu-rootports', 'qemu-pcibridge', 'amd-x570-desktop', 'arm-smmuv3-server'];
  for (const name of walked) {
    it(`${name}: find | xargs readlink -f resolves every link and none dangles`, async () => {
      await withDaemon(join(TOPOLOGIES, `${name}.yaml`), async (mnt) => {
        const resolved = await sh(`find ${q(mnt)} -type l -print0 | xargs -0 -r readlink -f | wc -l`, { timeoutMs: 60_000 });
        assert.equal(resolved.code, 0);
        assert.equal(resolved.stderr, '');
        assert.ok(Number(resolved.stdout.trim()) >= 50, `only ${resolved.stdout.trim()} links`);
        // -xtype l: links whose target does not exist (nothing by design points outside the tree).
        const dangling = await sh(`find ${q(mnt)} -xtype l`, { timeoutMs: 60_000 });
        assert.equal(dangling.code, 0, dangling.stderr);
        assert.equal(dangling.stdout, '');
      });
    });
  }

  for (const name of ['qemu-rootports', 'arm-smmuv3-server']) {
    it(`${name}: ls -lR exits 0 with nothing on stderr`, async () => {
      await withDaemon(join(TOPOLOGIES, `${name}.yaml`), async (mnt) => {
        const ls = await sh(`ls -lR ${q(mnt)} | wc -l`, { timeoutMs: 60_000 });
        assert.equal(ls.code, 0);
        assert.equal(ls.stderr, '');
        assert.ok(Number(ls.stdout.trim()) > 500);
      });
    });
  }

  it('qemu-rootports: 40 parallel lspci -vvv and 100 parallel cat resource read identical, NUL-free text (C8)', async () => {
    await withDaemon(join(TOPOLOGIES, 'qemu-rootports.yaml'), async (mnt) => {
      const out = await mkdtemp(join(tmpdir(), 'iommufs-c8-'));
      try {
        const res = `${mnt}/bus/pci/devices/0000:01:00.0/resource`;
        const script = [
          `cd ${q(out)}`,
          `for i in $(seq 1 40); do lspci -O sysfs.path=${q(mnt + '/bus/pci')} -vvv > l$i 2> err-l$i & done`,
          `for i in $(seq 1 100); do cat ${q(res)} > c$i 2>> err-cat & done`,
          'wait',
          // Each set must be one text: count the distinct checksums.
          'echo "lspci $(md5sum l[0-9]* | cut -d" " -f1 | sort -u | wc -l)"',
          'echo "cat $(md5sum c[0-9]* | cut -d" " -f1 | sort -u | wc -l)"',
          'echo "nul $(cat l[0-9]* c[0-9]* | tr -cd "\\000" | wc -c)"',
          `echo "errors $(cat err-* | grep -v 'libkmod' | wc -l)"`,
          'echo "empty $(find . -name "[lc][0-9]*" -empty | wc -l)"',
        ].join('\n');
        const r = await sh(script, { timeoutMs: 90_000 });
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, 'lspci 1\ncat 1\nnul 0\nerrors 0\nempty 0\n');
        const resource = await readFile(join(out, 'c1'), 'utf8');
        assert.match(resource, /^(0x[0-9a-f]{16} 0x[0-9a-f]{16} 0x[0-9a-f]{16}\n)+$/);
        const lspciText = await readFile(join(out, 'l1'), 'utf8');
        assert.match(lspciText, /Access Control Services/);
      } finally {
        await rm(out, { recursive: true, force: true });
      }
    });
  });
});

describe('tools through iommufs run and hwloc', () => {
  it('iommufs run -- lspci -nnv prints what lspci -O sysfs.path prints on a mount', async () => {
    const topo = join(TOPOLOGIES, 'qemu-rootports.yaml');
    const inside = await cli(['run', topo, '--', 'lspci', '-nnv']);
    assert.equal(inside.code, 0, inside.stderr);
    await withDaemon(topo, async (mnt) => {
      const outside = await lspci(mnt, ['-nnv']);
      assert.equal(outside.code, 0);
      assert.match(outside.stdout, /IOMMU group 1/);
      assert.equal(inside.stdout, outside.stdout);
    });
  });

  /** lstopo's I/O lines: host bridges, bridges and PCI functions, indentation dropped. */
  const pciLines = (t: string): string[] =>
    t
      .split('\n')
      .filter((l) => /HostBridge|PCIBridge|PCI [0-9a-f]{2}:/.test(l))
      .map((l) => l.trim());
  /** Every function that is not a bridge is listed by its slot (bridges print as PCIBridge). */
  const missingFunctions = (out: string, rec: RecordedPhase): string[] =>
    Object.entries(rec.devices)
      .filter(([, d]) => !d.attrs.class![0]!.startsWith('0x0604'))
      .map(([bdf]) => bdf.slice(5))
      .filter((slot) => !out.includes(`PCI ${slot} `));

  for (const name of ['rootports', 'switch'] as const) {
    it(`qemu-${name}: lstopo with HWLOC_FSROOT shows the recorded PCI hierarchy, with no warning (C13)`, async () => {
      // hwloc reads <fsroot>/sys, so the root is a directory whose `sys` links to the mount.
      // The tree's devices/system/cpu (one CPU) keeps hwloc's Linux discovery going.
      const rec = recording(name).phases.boot;
      await withRecordedTree(rec, async (oracle) => {
        await withDaemon(join(TOPOLOGIES, `qemu-${name}.yaml`), async (mnt) => {
          const root = await mkdtemp(join(tmpdir(), 'iommufs-hwloc-'));
          try {
            await symlink(mnt, join(root, 'sys'));
            const lstopo = (fsroot: string): Promise<RunResult> =>
              run('env', [`HWLOC_FSROOT=${fsroot}`, 'lstopo', '--of', 'console', '--whole-io'], { timeoutMs: 30_000 });
            const [theirs, ours] = await Promise.all([lstopo(oracle), lstopo(root)]);
            assert.equal(ours.code, 0, ours.stderr);
            assert.equal(ours.stderr, '');
            assert.deepEqual(pciLines(ours.stdout), pciLines(theirs.stdout));
            assert.deepEqual(missingFunctions(ours.stdout, rec), []);
            // The other way to point hwloc at a tree, which reads the CPUs from it as well.
            const fsroot = await run('lstopo', ['-i', root, '--input-format', 'fsroot', '--of', 'console', '--whole-io'], { timeoutMs: 30_000 });
            assert.equal(fsroot.code, 0, fsroot.stderr);
            assert.equal(fsroot.stderr, '');
            assert.deepEqual(pciLines(fsroot.stdout), pciLines(theirs.stdout));
            assert.match(fsroot.stdout, /PU L#0 \(P#0\)/);
          } finally {
            await rm(root, { recursive: true, force: true });
          }
        });
      });
    });
  }

  it('iommufs run -- lstopo sees the simulated PCI devices, with no warning', async () => {
    const r = await cli(['run', join(TOPOLOGIES, 'qemu-rootports.yaml'), '--', 'lstopo', '--of', 'console', '--whole-io']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.deepEqual(missingFunctions(r.stdout, recording('rootports').phases.boot), []);
    assert.equal(pciLines(r.stdout).filter((l) => l === 'PCIBridge').length, 6);
  });
});

describe('virt-host-validate under iommufs run (C12)', () => {
  const iommuLines = (r: RunResult): string[] =>
    r.stdout
      .split('\n')
      .filter((l) => /IOMMU/.test(l))
      .map((l) => l.replace(/^\s*QEMU: /, '').replace(/\s+:\s+/, ' : '));

  it('qemu-rootports: both IOMMU checks PASS', async () => {
    const r = await cli(['run', join(TOPOLOGIES, 'qemu-rootports.yaml'), '--', 'virt-host-validate', 'qemu']);
    assert.deepEqual(iommuLines(r), [
      'Checking for device assignment IOMMU support : PASS',
      'Checking if IOMMU is enabled by kernel : PASS',
    ]);
  });

  it('qemu-noiommu: no DMAR table, so a WARN', async () => {
    const r = await cli(['run', join(TOPOLOGIES, 'qemu-noiommu.yaml'), '--', 'virt-host-validate', 'qemu']);
    assert.deepEqual(iommuLines(r), [
      'Checking for device assignment IOMMU support : WARN (No ACPI DMAR table found, IOMMU either disabled in BIOS or not supported by this hardware platform)',
    ]);
  });

  it('a VT-d machine booted without intel_iommu=on: DMAR present, no groups, so the kernel check WARNs', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'iommufs-vhv-'));
    try {
      const text = await readFile(join(TOPOLOGIES, 'qemu-rootports.yaml'), 'utf8');
      assert.match(text, /^cmdline: intel_iommu=on$/m);
      const file = join(dir, 'off.yaml');
      await writeFile(file, text.replace(/^cmdline: intel_iommu=on$/m, 'cmdline: ""').replace(/\$schema=\.\.\//, '$schema=/'));
      const r = await cli(['run', file, '--', 'virt-host-validate', 'qemu']);
      assert.deepEqual(iommuLines(r), [
        'Checking for device assignment IOMMU support : PASS',
        'Checking if IOMMU is enabled by kernel : WARN (IOMMU appears to be disabled in kernel. Add intel_iommu=on to kernel cmdline arguments)',
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('amd-x570-desktop: svm in cpuinfo, IVRS present, groups present: both PASS', async () => {
    const r = await cli(['run', join(TOPOLOGIES, 'amd-x570-desktop.yaml'), '--', 'virt-host-validate', 'qemu']);
    assert.deepEqual(iommuLines(r), [
      'Checking for device assignment IOMMU support : PASS',
      'Checking if IOMMU is enabled by kernel : PASS',
    ]);
  });
});
