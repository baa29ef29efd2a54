// Every recorded write, replayed in order on one mount, against what Linux 6.1 printed.
//
// writes.json (machine topologies/qemu-writes.yaml) and sriov.json (topologies/qemu-sriov.yaml)
// hold shell commands run as root under busybox ash on a real 6.1 guest, with the shell's
// output and exit status. Each command is run here under bash with /sys pointed at the
// mount. The shells word messages differently, so both sides are reduced to what the kernel
// decided (see normalizeLine): the errno text of a failed write or open, the exit status,
// and every line that is not a kernel log line. Between and after the commands the whole
// state (groups, types, driver links, overrides, SR-IOV links) is compared with the phase
// dumps the recordings took at the same points, and after the writes recording's last
// command the whole tree is compared with its after-writes dump as the boot trees are
// (recorded-phase.ts: every directory listing, link and attribute text, the IOMMU unit's
// attributes, and the registers drivers set in `config`). Left out there, each for a reason
// given in recorded-phase.ts: what firmware assigns (firmware_node, resourceN, rom, irq,
// resource, local_cpus), the IRQ numbers naming msi_irqs entries (their count is compared),
// and Bus Master on unbound endpoints (SeaBIOS's). At each sriov.json phase dump, what drivers
// left on every device is compared too (sriovEffectLines: DMA masks, enable, power state,
// power/ without its time counters, MSI vector counts, class devices).
//
// What the simulation does not have, and how the replay maps it (each row names the
// recorded command it affects):
//
//   recording       command                         handling and why
//   writes #1       ls /sys/module | grep ...       skipped: the modules modprobe loads as
//                                                   dependencies (e1000, nvme_core, vfio,
//                                                   vfio_iommu_type1, ...) are not simulated.
//   writes #53      dmesg | grep ...                skipped: there is no kernel log.
//   writes #28 #33 #34 #35   ...; ls -la /dev/vfio  the /dev/vfio listing is cut from the
//                                                   command and its lines from the expected
//                                                   output: /dev is not simulated by `mount`.
//   sriov "/dev/vfio", "/dev/vfio after unbind"     skipped, same reason.
//   sriov "modprobe nvme", "modprobe e1000e"        replayed as `echo <bdf> > drivers_probe`
//                                                   for the device the recording shows bound
//                                                   right after (the driver's probe of the
//                                                   one device it claims).
//   sriov "modprobe vfio_iommu_type1", "modprobe vfio-pci"   replayed as `:`: the
//                                                   simulation loads vfio-pci and its
//                                                   dependencies at boot (engine/modules.ts).
//
// The writes recording began after `modprobe e1000e nvme vfio-pci`, which bound e1000e and
// nvme to their devices; the topology boots with those drivers declared but unbound. Before
// the replay, every device that the recording's first command (`ls -l .../driver`) shows
// bound to a module driver is probed with `echo <bdf> > /sys/bus/pci/drivers_probe`; that
// first command is then replayed as a check that the starting state matches.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { assertNothingMounted, q, sh, withDaemon } from './harness';
import { assertWarmEqualsCold, Walker } from './walk';
import { readFileSync } from 'node:fs';
import { FIXTURES, TOPOLOGIES } from '../helpers/paths';
import { recording } from '../helpers/reference';
import { comparePhase } from './recorded-phase';

after(assertNothingMounted);

// After each replay the warm mount (the kernel's caches filled by a walk before the first
// write and by every command since) must read exactly like the same mount read cold.
let scratch = '';
let walker: Walker;
before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'iommufs-replay-'));
  walker = await Walker.create(scratch);
});
after(async () => {
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------
// Normalising the two shells' output.

/** A kernel log line echoed to the console during the recording (`[   21.655899] ...`). */
const KERNEL_LOG = /^\[\s*\d+\.\d+\]/;
/** An `ls -l` line. busybox prints 8 fields before the name (mode nlink uid gid size Mon DD
 * HH:MM), GNU ls with `--time-style=+T` 6. The mode and the name (with a link's target) are
 * compared; owners, dates and link counts are not what these experiments test. */
const LONG_LISTING = /^[-dlcbps][-rwxsStT]{9}\s/;

type Shell = 'busybox' | 'bash';

/** One output line reduced to what both shells agree on; undefined drops it. */
export function normalizeLine(line: string, shell: Shell): string | undefined {
  const l = line.replace(/\r$/, '');
  if (KERNEL_LOG.test(l)) return undefined;
  // busybox "sh: write error: X"; bash "bash: line 3: echo: write error: X".
  const we = /write error: (.*)$/.exec(l);
  if (we) return `write error: ${we[1]}`;
  if (shell === 'busybox') {
    // "sh: can't create P: X", "/init: eval: line 142: can't create P: X", "cat: can't open 'P': X"
    const cc = /can't create (.*): ([^:]+)$/.exec(l);
    if (cc) return `open ${cc[1]}: ${cc[2]}`;
    const co = /^\w+: can't open '(.*)': ([^:]+)$/.exec(l);
    if (co) return `open ${co[1]}: ${co[2]}`;
  } else {
    // bash's redirection "bash: line 3: P: X"; coreutils "cat: P: X" (P quoted when it has a colon).
    const br = /^bash: line \d+: (\/.*): ([^:]+)$/.exec(l);
    if (br) return `open ${br[1]}: ${br[2]}`;
    const co = /^(?:cat|od|head|readlink): '?(\/.*?)'?: ([^:]+)$/.exec(l);
    if (co) return `open ${co[1]}: ${co[2]}`;
  }
  if (LONG_LISTING.test(l)) {
    const f = l.trim().split(/\s+/);
    return [f[0], ...f.slice(shell === 'busybox' ? 8 : 6)].join(' ');
  }
  return l.replace(/\s+/g, ' ').trimEnd();
}

function normalizeOutput(lines: string[], shell: Shell): string[] {
  const out: string[] = [];
  for (const line of lines) {
    const n = normalizeLine(line, shell);
    if (n !== undefined) out.push(n);
  }
  while (out.length > 0 && out[out.length - 1] === '') out.pop();
  return out;
}

interface Ran {
  rc: number;
  lines: string[];
}

/**
 * Runs `cmd` (already pointed at the mount) under bash with stdout and stderr in one file,
 * as the recording captured them, and gives the lines back with the mount shown as /sys.
 *
 * `lsColumns`: the writes recording's stdout was a terminal, so a final `ls` printed 80-wide
 * columns while an `ls` in a pipe or `$(...)` printed a name a line. The replay's stdout is a
 * file; a shell function runs `ls -C -w 80` when writing to that file and plain `ls`
 * otherwise, which splits the same way.
 */
async function runRecorded(mnt: string, cmd: string, opts: { lsColumns: boolean; prelude?: string }): Promise<Ran> {
  const lsFn = opts.lsColumns
    ? 'ls() { if [ -f /dev/stdout ]; then command ls -C -w 80 --time-style=+T "$@"; else command ls --time-style=+T "$@"; fi; }'
    : 'ls() { command ls --time-style=+T "$@"; }';
  const script = ['out=$(mktemp)', `{ ${lsFn}`, opts.prelude ?? ':', cmd, '} >"$out" 2>&1', 'rc=$?', 'cat "$out"; rm -f "$out"', 'echo "rc=$rc"'].join('\n');
  const r = await sh(script, { timeoutMs: 20_000 });
  const lines = r.stdout.split(mnt).join('/sys').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const m = /^rc=(\d+)$/.exec(lines.pop() ?? '');
  if (!m) throw new Error(`replay of ${JSON.stringify(cmd)} printed no status: ${r.stdout} ${r.stderr}`);
  return { rc: Number(m[1]), lines };
}

/** `/sys` in a recorded command, pointed at the mount. */
function toMount(cmd: string, mnt: string): string {
  return cmd.replace(/(^|[\s'"=(])\/sys(?=\/|\s|$)/g, (_m, pre: string) => `${pre}${mnt}`);
}

interface Step {
  label: string;
  cmd: string;
  expected: string[];
  rc: number;
}

async function replay(mnt: string, step: Step, problems: string[], opts: { lsColumns: boolean; prelude?: string }): Promise<void> {
  const ran = await runRecorded(mnt, toMount(step.cmd, mnt), opts);
  const want = normalizeOutput(step.expected, 'busybox');
  const got = normalizeOutput(ran.lines, 'bash');
  if (ran.rc !== step.rc || JSON.stringify(want) !== JSON.stringify(got)) {
    problems.push(`${step.label} ${JSON.stringify(step.cmd)}\n  kernel rc=${step.rc} ${JSON.stringify(want)}\n  ours   rc=${ran.rc} ${JSON.stringify(got)}`);
  }
}

// ---------------------------------------------------------------------------------------
// State snapshots, compared with the recordings' phase dumps.

/** Groups (id type members) and devices (driver, override, SR-IOV links, IDs, config ID
 * bytes), one line each, from the mount with ls/cat/readlink/od. */
async function snapshot(mnt: string): Promise<string[]> {
  const r = await sh(
    `cd ${q(mnt)} || exit 1
for g in $(ls kernel/iommu_groups | sort -n); do
  echo "group $g $(cat kernel/iommu_groups/$g/type) $(ls kernel/iommu_groups/$g/devices | tr '\\n' ' ')"
done
for d in bus/pci/devices/*; do
  links=""
  for l in $d/physfn $d/virtfn*; do [ -L "$l" ] && links="$links \${l##*/}=$(readlink $l)"; done
  echo "device \${d##*/} driver=$(readlink $d/driver) override=$(cat $d/driver_override) ids=$(cat $d/vendor):$(cat $d/device) cfg=$(od -An -tx1 -N4 $d/config | tr -d ' \\n')$links"
done`,
  );
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trimEnd().split('\n').map((l) => l.replace(/\s+$/, ''));
}

interface SriovPhaseDevice {
  driver: string | null;
  realpath: string;
  attrs: Record<string, string>;
  /** "power/control" → its text, for each readable file of a subdirectory. */
  subattrs: Record<string, string>;
  /** Subdirectory → its `ls -a` entries. */
  subdirs: Record<string, Array<{ name: string; nlink?: number }>>;
  links: Record<string, string>;
  vendor: string;
  device: string;
  config_hex: string;
}
interface SriovPhase {
  groups: Record<string, { devices: string[]; type: string }>;
  pci_devices: Record<string, SriovPhaseDevice>;
}
interface SriovExperiment {
  desc?: string;
  command?: string;
  rc?: number;
  output?: string;
  note?: string;
}
interface SriovRecording {
  experiments: SriovExperiment[];
  phases: Record<string, SriovPhase>;
}

const byNumber = (a: string, b: string): number => Number(a) - Number(b);

function sriovPhaseLines(p: SriovPhase): string[] {
  const out: string[] = [];
  for (const id of Object.keys(p.groups).sort(byNumber)) {
    const g = p.groups[id]!;
    out.push(`group ${id} ${g.type.trim()} ${[...g.devices].sort().join(' ')}`.trimEnd());
  }
  for (const name of Object.keys(p.pci_devices).sort()) {
    const d = p.pci_devices[name]!;
    const driver = d.links.driver ?? '';
    const links = Object.keys(d.links)
      .filter((k) => k === 'physfn' || k.startsWith('virtfn'))
      .sort()
      .map((k) => ` ${k}=${d.links[k]}`)
      .join('');
    out.push(`device ${name} driver=${driver} override=${(d.attrs.driver_override ?? '').trim()} ids=${d.vendor}:${d.device} cfg=${d.config_hex.replace(/\s/g, '').slice(0, 8)}${links}`);
  }
  return out;
}

/** What drivers leave on a device (driver-effects.ts), as lines: the attributes they change,
 * power/ (without the running time counters), the number of MSI vectors, and the class
 * devices below the device. */
const EFFECT_ATTRS = ['consistent_dma_mask_bits', 'd3cold_allowed', 'dma_mask_bits', 'enable', 'power_state', 'ari_enabled'];
const CLASS_DIRS = ['drm', 'net', 'nvme', 'ptp', 'sound', 'vfio-dev', 'wakeup'];
const POWER_FILES = ['async', 'control', 'runtime_active_kids', 'runtime_enabled', 'runtime_status', 'runtime_usage', 'wakeup', 'wakeup_count'];

function sriovEffectLines(p: SriovPhase): string[] {
  const out: string[] = [];
  for (const name of Object.keys(p.pci_devices).sort()) {
    const d = p.pci_devices[name]!;
    for (const a of EFFECT_ATTRS) out.push(`${name} ${a}=${(d.attrs[a] ?? '(none)').trim()}`);
    for (const f of POWER_FILES) out.push(`${name} power/${f}=${(d.subattrs[`power/${f}`] ?? '(none)').trim()}`);
    const entries = (sub: string): string[] | undefined => d.subdirs[sub]?.map((e) => e.name).filter((n) => n !== '.' && n !== '..').sort();
    out.push(`${name} msi_irqs=${entries('msi_irqs')?.length ?? 0}`);
    for (const c of CLASS_DIRS) out.push(`${name} ${c}=${entries(c)?.join(',') ?? '(none)'}`);
    // An NVMe controller's own subdirectories, counted by its link count: power/ and nvme's
    // hwmon device (no namespace on QEMU's controller).
    for (const e of d.subdirs.nvme ?? []) if (e.name !== '.' && e.name !== '..') out.push(`${name} nvme/${e.name} nlink=${e.nlink}`);
  }
  return out;
}

/** The same lines read from the mount, for the devices the phase recorded. */
async function effectLines(mnt: string, p: SriovPhase): Promise<string[]> {
  const lines: string[] = [`cd ${q(mnt)} || exit 1`];
  for (const name of Object.keys(p.pci_devices).sort()) {
    const dir = p.pci_devices[name]!.realpath.replace(/^\/sys\//, '');
    for (const a of EFFECT_ATTRS) lines.push(`echo "${name} ${a}=$(cat ${dir}/${a} 2>/dev/null || echo '(none)')"`);
    for (const f of POWER_FILES) lines.push(`echo "${name} power/${f}=$([ -e ${dir}/power/${f} ] && cat ${dir}/power/${f} || echo '(none)')"`);
    lines.push(`echo "${name} msi_irqs=$(ls ${dir}/msi_irqs 2>/dev/null | wc -l)"`);
    for (const c of CLASS_DIRS) lines.push(`echo "${name} ${c}=$([ -d ${dir}/${c} ] && ls ${dir}/${c} | sort | paste -sd, || echo '(none)')"`);
    for (const e of p.pci_devices[name]!.subdirs.nvme ?? []) if (e.name !== '.' && e.name !== '..') lines.push(`echo "${name} nvme/${e.name} nlink=$(stat -c %h ${dir}/nvme/${e.name} 2>/dev/null)"`);
  }
  const r = await sh(lines.join('\n'), { timeoutMs: 30_000 });
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trimEnd().split('\n');
}

// ---------------------------------------------------------------------------------------

describe('recorded writes replayed on a mount (writes.json, qemu-writes)', () => {
  const rec = recording('writes');
  const experiments = rec.experiments ?? [];
  const SKIP = new Map<number, string>([
    [1, 'modules loaded as dependencies by modprobe are not simulated'],
    [53, 'there is no kernel log (dmesg)'],
  ]);

  it('every command prints what Linux printed, in one daemon, in order; then the final state is phases.after', async () => {
    await withDaemon(join(TOPOLOGIES, 'qemu-writes.yaml'), async (mnt) => {
      const earlier = await walker.walk(mnt);
      // The recording's starting point: the module drivers bound by modprobe.
      const first = experiments[0]!;
      const bound = first.output
        .map((l) => /\/bus\/pci\/devices\/([0-9a-f:.]+)\/driver -> .*\/drivers\/(\S+)$/.exec(l))
        .filter((m): m is RegExpExecArray => m !== null && m[2] !== 'pcieport')
        .map((m) => m[1]!);
      assert.deepEqual(bound, ['0000:01:00.0', '0000:02:00.0', '0000:04:00.0', '0000:05:00.0']);
      for (const bdf of bound) {
        const r = await sh(`echo ${bdf} > ${q(mnt)}/bus/pci/drivers_probe`);
        assert.equal(r.code, 0, r.stderr);
      }

      const problems: string[] = [];
      let replayed = 0;
      for (const [i, e] of experiments.entries()) {
        if (SKIP.has(i)) continue;
        let cmd = e.cmd;
        let output = e.output.slice(0, -1);
        const rcLine = e.output[e.output.length - 1]!;
        if (cmd.includes('; ls -la /dev/vfio')) {
          cmd = cmd.replace('; ls -la /dev/vfio', '');
          output = output.filter((l) => !/^(total \d+|[dc][-rwx]{9}\s)/.test(l));
        }
        const rc = Number(/^rc=(\d+)$/.exec(rcLine)![1]);
        await replay(mnt, { label: `writes #${i}`, cmd, expected: output, rc }, problems, { lsColumns: true });
        replayed++;
      }
      assert.equal(replayed, experiments.length - SKIP.size);

      // phases.after: every group's members and type, every device's driver link and override.
      const phase = rec.phases.after!;
      const want: string[] = [];
      for (const id of Object.keys(phase.groups).sort(byNumber)) {
        const g = phase.groups[id]!;
        want.push(`group ${id} ${g.attrs.type} ${[...g.devices].sort().join(' ')}`);
      }
      for (const name of Object.keys(phase.devices).sort()) {
        const d = phase.devices[name]!;
        want.push(`device ${name} driver=${d.links.driver ?? ''} override=${d.attrs.driver_override?.[0] ?? ''}`);
      }
      const got = (await snapshot(mnt)).map((l) => l.replace(/ ids=.*$/, ''));
      if (JSON.stringify(got) !== JSON.stringify(want)) problems.push(`phases.after\n  kernel ${want.join('\n         ')}\n  ours   ${got.join('\n         ')}`);
      // And the whole tree the recording dumped after the writes, as the boot trees are compared.
      problems.push(...(await comparePhase(mnt, phase)).map((p) => `phases.after: ${p}`));
      assert.deepEqual(problems, [], `${problems.length} differences:\n${problems.join('\n')}`);
      await assertWarmEqualsCold(walker, mnt, earlier, 'after the writes replay');
    });
  });
});

describe('recorded SR-IOV experiments replayed on a mount (sriov.json, qemu-sriov)', () => {
  const rec = JSON.parse(readFileSync(join(FIXTURES, 'reference', 'sriov.json'), 'utf8')) as SriovRecording;
  const PF = '0000:01:00.0';
  /** modprobe, as the device the recording shows bound right after it. */
  const MODPROBE: Record<string, string> = {
    'modprobe nvme': `echo ${PF} > /sys/bus/pci/drivers_probe`,
    'modprobe e1000e': 'echo 0000:02:00.0 > /sys/bus/pci/drivers_probe',
    'modprobe vfio_iommu_type1': ':',
    'modprobe vfio-pci': ':',
  };
  const SKIP = new Map<string, string>([
    ['/dev/vfio', '/dev is not simulated by mount'],
    ['/dev/vfio after unbind', '/dev is not simulated by mount'],
  ]);
  /** After these experiments the recording dumped its phases. */
  const CHECKPOINTS = new Map<string, string>([
    ['devices + groups with 2 VFs', 'after_sriov_numvfs_2'],
    ['type=identity with vfio-pci bound', 'after_vfio_bind'],
  ]);

  it('every command prints what Linux printed; the state equals each phase dump', async () => {
    await withDaemon(join(TOPOLOGIES, 'qemu-sriov.yaml'), async (mnt) => {
      const problems: string[] = [];
      const checkPhase = async (phase: string): Promise<void> => {
        const want = sriovPhaseLines(rec.phases[phase]!);
        const got = await snapshot(mnt);
        if (JSON.stringify(got) !== JSON.stringify(want)) problems.push(`phase ${phase}\n  kernel ${want.join('\n         ')}\n  ours   ${got.join('\n         ')}`);
        // What the drivers left on each device, line by line.
        const theirs = sriovEffectLines(rec.phases[phase]!);
        const ours = await effectLines(mnt, rec.phases[phase]!);
        for (let i = 0; i < Math.max(theirs.length, ours.length); i++) {
          if (theirs[i] !== ours[i]) problems.push(`phase ${phase}: kernel ${theirs[i]} | ours ${ours[i]}`);
        }
      };
      await checkPhase('boot');
      const earlier = await walker.walk(mnt);
      const seen = new Set<string>();
      let replayed = 0;
      for (const e of rec.experiments) {
        if (e.command === undefined || e.desc === undefined) continue;
        seen.add(e.desc);
        if (SKIP.has(e.desc)) continue;
        const cmd = MODPROBE[e.command] ?? e.command;
        const expected = e.output === '' || e.output === undefined ? [] : e.output.split('\n');
        await replay(mnt, { label: `sriov "${e.desc}"`, cmd, expected, rc: e.rc ?? 0 }, problems, {
          lsColumns: false,
          prelude: `P=${mnt}/bus/pci/devices/${PF}`,
        });
        replayed++;
        const phase = CHECKPOINTS.get(e.desc);
        if (phase) await checkPhase(phase);
      }
      await checkPhase('final');
      for (const d of [...SKIP.keys(), ...CHECKPOINTS.keys()]) assert.ok(seen.has(d), `no experiment "${d}" in sriov.json`);
      assert.ok(replayed >= 100, `only ${replayed} experiments replayed`);
      assert.deepEqual(problems, []);
      await assertWarmEqualsCold(walker, mnt, earlier, 'after the SR-IOV replay');
    });
  });
});
