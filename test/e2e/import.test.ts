// `iommufs import` end to end (README "Commands"): a /sys in, a topology out.
//
// - Each kernel recording (test/fixtures/reference) is rebuilt as plain files, imported with
//   the real CLI, and the topology must validate, give the kernel's groups (`groups --json`:
//   ids, members, types, reserved regions), and on its mount make lspci -nn and lspci -vvv
//   print what they print on the rebuilt recording, up to the lines that come from the
//   firmware (FIRMWARE_LINES below).
// - Every shipped topology is exported, imported and exported again: same groups, same tree,
//   up to what sysfs does not hold (EXPORT_ONLY below).
// - A directory that is not a sysfs is refused (exit 2); a tree read as non-root (64 bytes of
//   config space) imports with a caveat.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { groupsJson } from '../../src/cli/groups';
import { exportTree } from '../../src/cli/export';
import { bootOrFail } from '../../src/cli/load';
import { sysfsTree } from '../../src/sysfs/tree';
import { loadTopologyFile } from '../../src/topology/load';
import { cli } from '../helpers/cli';
import { TOPOLOGIES } from '../helpers/paths';
import { MACHINES, recording, sriovPhase, SRIOV_PHASES, type RecordedPhase } from '../helpers/reference';
import { assertNothingMounted, run, withDaemon } from './harness';
import { writeRecordedTree } from './tools-recorded-tree';
import { mulberry32 } from '../helpers/mulberry32';

after(assertNothingMounted);

async function lspci(sysRoot: string, args: string[]): Promise<string> {
  const r = await run('lspci', ['-O', `sysfs.path=${sysRoot}/bus/pci`, ...args], { timeoutMs: 30_000 });
  assert.equal(r.code, 0, `lspci ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/**
 * Lines of lspci -vvv that come from the firmware of the recorded machine, not from Linux or
 * the device, and that the topology has no key for:
 * - `Interrupt: ... routed to IRQ N`: the `irq` file, the firmware's interrupt routing (the pin
 *   is config space and is compared);
 * - `Region N`, `Expansion ROM`, `I/O|Memory|Prefetchable memory behind bridge`: BARs and bridge
 *   windows as lspci reads them from the `resource` file, the firmware's address assignment;
 * - `AtomicOpsCap` of DevCap2: lspci prints it only for a function with a memory BAR in `resource`;
 * - `Physical Slot`: bus/pci/slots, which the recording does not hold;
 * - on functions no driver bound (other than bridges), the command register's Bus Master bit
 *   and the `Latency` line lspci prints with it: SeaBIOS leaves it on the disk controllers it
 *   booted from (the mount shows what Linux set, tools.test.ts `lspci -x`).
 * VFs (sriov/after_sriov_numvfs_2) are compared in lspci -nn only: their config space is the
 * model's, since a topology has no entry per VF to keep bytes in, and QEMU's nvme VFs differ
 * from it (MSI-X Count=1 and ARI Next Function 1, where the model gives the PF's 65 and 0).
 */
const FIRMWARE_LINES = [/^\tRegion \d+:/, /^\tExpansion ROM at /, /^\t(I\/O|Memory|Prefetchable memory) behind bridge:/, /^\t\t\t AtomicOpsCap:/, /^\tPhysical Slot:/];

function withoutFirmware(text: string, rec: RecordedPhase): string {
  const out: string[] = [];
  let unboundFunction = false;
  let vf = false;
  for (const line of text.split('\n')) {
    const start = /^([0-9a-f]{2}:[0-9a-f]{2}\.[0-7]) /.exec(line);
    if (start) {
      const dev = rec.devices[`0000:${start[1]!}`];
      unboundFunction = dev !== undefined && dev.links.driver === undefined && !dev.attrs.secondary_bus_number;
      vf = dev?.links.physfn !== undefined;
    }
    if (vf) continue;
    if (FIRMWARE_LINES.some((re) => re.test(line))) continue;
    if (unboundFunction && /^\tLatency: /.test(line)) continue;
    let l = line.replace(/routed to IRQ \d+$/, 'routed to IRQ (firmware)');
    if (unboundFunction && l.startsWith('\tControl:')) l = l.replace(/BusMaster[+-]/, 'BusMaster(firmware)');
    out.push(l);
  }
  return out.join('\n');
}

function recordedGroups(rec: RecordedPhase): unknown {
  return Object.entries(rec.groups)
    .map(([id, g]) => ({ id: Number(id), type: g.attrs.type, devices: g.devices, reserved_regions: g.reserved_regions }))
    .sort((a, b) => a.id - b.id);
}

/** Every recorded tree: each machine's boot, and each phase of sriov.json (VFs enabled, a
 * device bound to vfio-pci...). */
const RECORDED: { label: string; rec: () => RecordedPhase }[] = [
  ...MACHINES.map((name) => ({ label: `qemu-${name}`, rec: () => recording(name).phases.boot })),
  ...SRIOV_PHASES.map((phase) => ({ label: `sriov/${phase}`, rec: () => sriovPhase(phase) })),
];

describe('iommufs import of each recorded kernel, rebuilt as files', () => {
  for (const { label, rec: load } of RECORDED) {
    describe(label, () => {
      const rec = load();
      let root = '';
      let topo = '';
      let stderr = '';
      before(async () => {
        root = await mkdtemp(join(tmpdir(), 'iommufs-import-'));
        await writeRecordedTree(rec, root);
        // No --cmdline: the command line is inferred from the tree (a rebuilt tree has no /proc).
        const r = await cli('import', '--sysfs', join(root, 'sys'));
        assert.equal(r.code, 0, r.stderr);
        stderr = r.stderr;
        topo = join(root, 'machine.yaml');
        await writeFile(topo, r.stdout);
      });
      after(() => rm(root, { recursive: true, force: true }));

      it('validates, and groups --json gives the kernel\'s groups, numbers, types and reserved regions', async () => {
        const text = await readFile(topo, 'utf8');
        assert.match(text, /^# iommufs import of \S+\/sys, run on \S+ \(kernel \S+\) at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/);
        assert.doesNotMatch(stderr, /differ/, stderr);
        assert.equal((await cli('validate', topo)).code, 0);
        const g = await cli('groups', '--json', topo);
        assert.equal(g.code, 0, g.stderr);
        assert.deepEqual((JSON.parse(g.stdout) as { groups: unknown }).groups, recordedGroups(rec));
      });

      it('on its mount, lspci -nn and lspci -vvv print what they print on the recording (firmware lines aside)', async () => {
        await withDaemon(topo, async (mnt) => {
          const oracle = join(root, 'sys');
          assert.equal(await lspci(mnt, ['-nn']), await lspci(oracle, ['-nn']));
          const [ours, theirs] = await Promise.all([lspci(mnt, ['-vvv']), lspci(oracle, ['-vvv'])]);
          await writeFile(join(root, 'theirs.txt'), withoutFirmware(theirs, rec));
          await writeFile(join(root, 'ours.txt'), withoutFirmware(ours, rec));
          const diff = await run('diff', [join(root, 'theirs.txt'), join(root, 'ours.txt')]);
          assert.equal(diff.stdout, '', 'lspci -vvv: < the recording, > the mount');
        });
      });
    });
  }
});

/**
 * What an export holds that sysfs does not, so that an import cannot give it back:
 * - `kernel/debug/iommufs/groups/N/why`: the simulator's explanation quotes each device's
 *   `label` (free text of the topology) and its topology type by name (a function of host
 *   bridge class is imported as `host-bridge`, where a topology may call it an endpoint);
 * - `kernel/debug/iommufs/modules`: the order modules were loaded in (the order of the
 *   topology's `drivers:`), which a tree does not show.
 */
const EXPORT_ONLY = [/^kernel\/debug\/iommufs\/groups\/\d+\/why$/, /^kernel\/debug\/iommufs\/modules$/];

function exported(topology: string, dir: string): { groups: unknown } {
  const { machine } = bootOrFail(topology);
  mkdirSync(dir);
  exportTree(sysfsTree(machine), dir);
  return groupsJson(machine);
}

describe('iommufs import of an export of every shipped topology', () => {
  const names = readdirSync(TOPOLOGIES).filter((f) => f.endsWith('.yaml'));
  for (const file of names) {
    it(`${file}: same groups, and a second export equals the first`, async () => {
      const root = await mkdtemp(join(tmpdir(), 'iommufs-import-'));
      try {
        const first = join(root, 'e1');
        const second = join(root, 'e2');
        const before = exported(join(TOPOLOGIES, file), first);
        const loaded = loadTopologyFile(join(TOPOLOGIES, file));
        assert.ok(loaded.ok);
        // An export has no /proc/cmdline: the machine's is given, as --cmdline is for.
        const r = await cli('import', '--sysfs', first, '--cmdline', loaded.topology.cmdline.raw);
        assert.equal(r.code, 0, r.stderr);
        assert.doesNotMatch(r.stderr, /differ/, r.stderr);
        const topo = join(root, 'machine.yaml');
        await writeFile(topo, r.stdout);
        const after = exported(topo, second);
        assert.deepEqual(after, before);
        const diff = await run('diff', ['-r', '--no-dereference', first, second], { timeoutMs: 60_000 });
        const differing = diff.stdout
          .split('\n')
          .filter((l) => l.startsWith('diff -r ') || l.startsWith('Only in '))
          .map((l) => (l.startsWith('diff -r ') ? l.split(' ').at(-1)!.slice(second.length + 1) : l));
        assert.deepEqual(
          differing.filter((p) => !EXPORT_ONLY.some((re) => re.test(p))),
          [],
        );
      } finally {
        await rm(root, { recursive: true, force: true });
      }
    });
  }
});

describe('iommufs import: BARs and ROM from the resource file, the device model from config space, NVMe namespaces', () => {
  it('bars, rom, sriov.vf-bars, link, link-status, port, msi, msix, pm, slot.chassis and nvme namespaces other than the default are written, and a second export equals the first', async () => {
    const root = await mkdtemp(join(tmpdir(), 'iommufs-import-'));
    try {
      const topo = join(root, 'bars.yaml');
      await writeFile(
        topo,
        [
          'version: 1',
          'name: bars',
          'cmdline: intel_iommu=on',
          'iommus: [{ name: dmar0, type: intel-vtd, scope: all }]',
          'pci:',
          '  - segment: 0x0000',
          '    bus: 0x00',
          '    devices:',
          '      "00.0": { id: 8086:29c0, class: 0x060000, type: host-bridge }',
          '      "01.0":',
          '        id: 8086:1901',
          '        type: root-port',
          '        devices:',
          '          "00.0": { id: 10de:2204, class: 0x030000, bars: { 0: 32M mem32, 1: 8G mem64 prefetchable, 5: 128 io }, rom: 128K, link: { speed: 8GT/s, width: 8 }, link-status: { speed: 2.5GT/s, width: 4 }, port: 7, msi: 4, msix: 16 }',
          '      "02.0":',
          '        id: 8086:1901',
          '        type: root-port',
          '        devices:',
          '          "00.0": { id: 8086:1521, class: 0x020000, rom: none, sriov: { total: 7, offset: 128, stride: 4, vf-id: 8086:1520, vf-bars: { 0: 16K mem64 prefetchable } }, pm: { version: 2, d1: true, d2: false, pme: [d0, d3hot] } }',
          '      "03.0": { id: 10de:2204, class: 0x030000, rom: none }',
          '      "04.0": { id: 10de:2204, class: 0x030000 }',
          '      "05.0": { id: 144d:a808, class: 0x010802, driver: nvme, nvme: { namespaces: [2TB, { size: 512GiB, lba: 4096 }] } }',
          '      "06.0": { id: 144d:a808, class: 0x010802, driver: nvme }',
          '      "07.0": { id: 8086:244e, type: pci-bridge, slot: { chassis: 3 } }',
          '',
        ].join('\n'),
      );
      const first = join(root, 'e1');
      const before = exported(topo, first);
      const r = await cli('import', '--sysfs', first, '--cmdline', 'intel_iommu=on');
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /"00\.0": \{ id: 10de:2204, .*bars: \{ "?0"?: 32M mem32, "?1"?: 8G mem64 prefetchable, "?5"?: 128 io \}, rom: 128K \}/);
      assert.match(r.stdout, /vf-bars: \{ "?0"?: 16K mem64 prefetchable \}/);
      assert.match(r.stdout, /link: \{ speed: 8GT\/s, width: 8 \}, link-status: \{ speed: 2\.5GT\/s, width: 4 \}, port: 7, msi: \{ vectors: 4, 64-bit: true, masking: (true|false) \}, msix: 16,/);
      assert.match(r.stdout, /pm: \{ version: 2, d1: true, d2: false, pme: \[ d0, d3hot \], no-soft-reset: (true|false) \}/);
      assert.match(r.stdout, /"03\.0": \{ id: 10de:2204, class: 0x030000, rom: none \}/);
      // The class default (an RTX 3090's BARs and ROM) is not written again.
      assert.match(r.stdout, /"04\.0": \{ id: 10de:2204, class: 0x030000 \}/);
      assert.match(r.stdout, /"05\.0": \{ id: 144d:a808, class: 0x010802, driver: nvme, nvme: \{ namespaces: \[ 2TB, \{ size: 512GiB, lba: 4096 \} \] \} \}/);
      assert.match(r.stdout, /"06\.0": \{ id: 144d:a808, class: 0x010802, driver: nvme \}/);
      assert.match(r.stdout, /"07\.0": \{ id: 8086:244e, type: pci-bridge, .*slot: \{ chassis: 3 \}/);
      const imported = join(root, 'machine.yaml');
      await writeFile(imported, r.stdout);
      const second = join(root, 'e2');
      assert.deepEqual(exported(imported, second), before);
      for (const f of ['0000:01:00.0', '0000:02:00.0', '0000:00:03.0']) {
        for (const file of ['resource', 'config']) {
          const [a, b] = await Promise.all([readFile(join(first, 'bus/pci/devices', f, file)), readFile(join(second, 'bus/pci/devices', f, file))]);
          assert.ok(a.equals(b), `${f}/${file}`);
        }
      }
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('iommufs import: the running system, and a tree whose groups the engine does not reproduce', () => {
  it('the real /sys: header with this host, cmdline from /proc/cmdline, and the result validates', { skip: !existsSync('/sys/bus/pci/devices') && 'no PCI in this /sys' }, async () => {
    const root = await mkdtemp(join(tmpdir(), 'iommufs-import-'));
    try {
      const r = await cli('import');
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^# iommufs import of /sys on ${hostname().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(kernel `));
      assert.match(r.stdout, /^# cmdline: from \/proc\/cmdline$/m);
      const topo = join(root, 'machine.yaml');
      await writeFile(topo, r.stdout);
      assert.equal((await cli('validate', topo)).code, 0);
      const functions = readdirSync('/sys/bus/pci/devices').filter((n) => !existsSync(join('/sys/bus/pci/devices', n, 'physfn')));
      assert.equal((r.stdout.match(/^\s+"[0-9a-f]{2}\.[0-9a-f]{1,2}":/gm) ?? []).length, functions.length);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('an export imported without its cmdline (pci=disable_acs_redir lost): the groups that differ are a warning', async () => {
    const root = await mkdtemp(join(tmpdir(), 'iommufs-import-'));
    try {
      exported(join(TOPOLOGIES, 'gpu-server-p2p.yaml'), join(root, 'e1'));
      const r = await cli('import', '--sysfs', join(root, 'e1'));
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /^import: warning: these groups differ from the machine's kernel\/iommu_groups:$/m);
      assert.match(r.stderr, /^import: group 6: machine DMA-FQ: 0000:02:08\.0 0000:03:00\.0 \[.*\]; iommufs DMA-FQ: 0000:02:08\.0 \[/m);
      assert.match(r.stdout, /^# warning: these groups differ/m);
      assert.match(r.stdout, /^cmdline: intel_iommu=on$/m);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});



describe('iommufs import: bad input and partial trees', () => {
  it('config spaces with random bytes changed: import never fails, and what it writes validates', async () => {
    const problems: string[] = [];
    for (const [name, rec] of [['switch', recording('switch').phases.boot], ['pcibridge', recording('pcibridge').phases.boot], ['sriov', sriovPhase('after_sriov_numvfs_2')]] as const) {
      for (let seed = 1; seed <= 4; seed++) {
        const root = await mkdtemp(join(tmpdir(), 'iommufs-import-'));
        try {
          await writeRecordedTree(rec, root);
          const rnd = mulberry32(seed);
          for (const dev of Object.values(rec.devices)) {
            const path = join(root, dev.realpath, 'config');
            const bytes = await readFile(path);
            for (let n = 1 + Math.floor(rnd() * 40); n > 0; n--) bytes[Math.floor(rnd() * bytes.length)] = Math.floor(rnd() * 256);
            await writeFile(path, bytes);
          }
          const r = await cli('import', '--sysfs', join(root, 'sys'));
          if (r.code !== 0) {
            problems.push(`${name} seed ${seed}: exit ${r.code}: ${r.stderr.split('\n')[0]}`);
            continue;
          }
          const topo = join(root, 'machine.yaml');
          await writeFile(topo, r.stdout);
          const v = await cli('validate', topo);
          if (v.code !== 0) problems.push(`${name} seed ${seed}: ${v.stderr}`);
        } finally {
          await rm(root, { recursive: true, force: true });
        }
      }
    }
    assert.deepEqual(problems, []);
  });

  it('a directory that is not a sysfs: a clear error and exit 2', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'iommufs-import-'));
    try {
      const r = await cli('import', '--sysfs', dir);
      assert.equal(r.code, 2);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /is not a sysfs: it has neither bus\/pci\/devices nor devices\/pci/);
      const missing = await cli('import', '--sysfs', join(dir, 'nope'));
      assert.equal(missing.code, 2);
      assert.match(missing.stderr, /not a directory/);
      const extra = await cli('import', dir);
      assert.equal(extra.code, 2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('config readable in part (64 bytes, as non-root reads it): said in a comment and on stderr, and the result validates', async () => {
    const root = await mkdtemp(join(tmpdir(), 'iommufs-import-'));
    try {
      const rec = recording('rootports').phases.boot;
      await writeRecordedTree(rec, root);
      for (const bdf of Object.keys(rec.devices)) {
        const link = join(root, 'sys', 'bus', 'pci', 'devices', bdf, 'config');
        await truncate(link, 64);
      }
      const r = await cli('import', '--sysfs', join(root, 'sys'));
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /64 bytes: Linux shows the rest to root only/);
      assert.match(r.stdout, /^# config space was readable only in part \(64 bytes/m);
      assert.doesNotMatch(r.stdout, /config:/);
      const topo = join(root, 'machine.yaml');
      await writeFile(topo, r.stdout);
      assert.equal((await cli('validate', topo)).code, 0);
      // Positions still give the port types: six root ports, each alone with its device.
      assert.equal((r.stdout.match(/type: root-port/g) ?? []).length, 6);
      assert.ok((await readdir(join(root, 'sys', 'kernel', 'iommu_groups'))).length > 0);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
