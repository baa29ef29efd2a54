// The real binding tools, unmodified, under `iommufs run` (clients.md §1.3, §1.4, checks
// C14-C18): Debian's driverctl (bash) and dpdk-devbind.py (package dpdk), both installed by
// `scripts/setup.sh --test`. They hard-code /sys, so only the namespace of `run` reaches them.
//
// Machine: topologies/qemu-writes.yaml, where 0000:01:00.0 is an e1000e (8086:10d3, group 8)
// that boots unbound; each run script binds it first with drivers_probe, as `modprobe e1000e`
// would have done on the recorded guest.
//
// Nothing of the test's stands in their way: driverctl set-override tests
// `[ -d /sys/module/vfio-pci ]` (a name no kernel has, its module is vfio_pci) and so runs
// `/sbin/modprobe -q vfio-pci`, which under `run` is the simulation's modprobe (the module
// is loaded already: exit 0); dpdk-devbind.py -b finds /sys/module/vfio_pci. The
// dpdk-devbind test unloads vfio-pci first and loads it with modprobe, as a user would.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CLI, TOPOLOGIES } from '../helpers/paths';
import { assertNothingMounted, run, type RunResult } from './harness';
import { section, splitSections } from '../helpers/sections';

const WRITES = join(TOPOLOGIES, 'qemu-writes.yaml');
const BDF = '0000:01:00.0';
const ROOT = process.getuid?.() === 0;

/** Runs `script` (bash) under `iommufs run` on qemu-writes.yaml, after the overlays and the
 * e1000e probe. Its lines `@@ name` start sections, returned by name (stderr apart). */
async function underRun(script: string): Promise<{ r: RunResult; sections: Map<string, string> }> {
  const prelude = ['set -u', `echo ${BDF} > /sys/bus/pci/drivers_probe || exit 122`].join('\n');
  const r = await run(process.execPath, [CLI, 'run', WRITES, '--', 'bash', '-c', `${prelude}\n${script}`], { timeoutMs: 60_000 });
  return { r, sections: splitSections(r.stdout) };
}

/** The device's line in driverctl's listing, or undefined. */
function lineOf(text: string): string | undefined {
  return text.split('\n').find((l) => l.startsWith(`${BDF} `));
}

/** The heading of the dpdk-devbind.py --status-dev section that lists the device. */
function dpdkHeadingOf(text: string): { heading: string; line: string } | undefined {
  let heading = '';
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    if (/^=+$/.test(lines[i + 1] ?? '')) heading = l;
    if (l.startsWith(`${BDF} `)) return { heading, line: l };
  }
  return undefined;
}

after(assertNothingMounted);

describe('real binding tools under iommufs run', { skip: ROOT ? false : 'needs root (unshare -m)' }, () => {
  it('driverctl: set-override vfio-pci binds it, list-overrides shows it, unset-override brings e1000e back', async () => {
    const { r, sections } = await underRun(
      [
        'echo "@@ before"; driverctl list-devices',
        `echo "@@ set"; driverctl --nosave set-override ${BDF} vfio-pci; echo "rc=$?"`,
        'echo "@@ devices"; driverctl list-devices',
        'echo "@@ overrides"; driverctl list-overrides; echo "rc=$?"',
        `echo "@@ link"; basename "$(readlink /sys/bus/pci/devices/${BDF}/driver)"; [ -e /dev/vfio/8 ] && echo dev-vfio-8`,
        `echo "@@ unset"; driverctl --nosave unset-override ${BDF}; echo "rc=$?"`,
        'echo "@@ after"; driverctl list-devices',
        `echo "@@ override"; cat /sys/bus/pci/devices/${BDF}/driver_override`,
        'echo "@@ overrides-after"; driverctl list-overrides; echo "rc=$?"',
      ].join('\n'),
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(lineOf(section(sections, 'before')), `${BDF} e1000e`);
    assert.equal(section(sections, 'set'), 'rc=0\n', r.stderr);
    assert.equal(lineOf(section(sections, 'devices')), `${BDF} vfio-pci [*]`);
    assert.equal(section(sections, 'overrides'), `${BDF} vfio-pci\nrc=0\n`);
    assert.equal(section(sections, 'link'), 'vfio-pci\ndev-vfio-8\n');
    assert.equal(section(sections, 'unset'), 'rc=0\n', r.stderr);
    assert.equal(lineOf(section(sections, 'after')), `${BDF} e1000e`);
    assert.equal(section(sections, 'override'), '(null)\n');
    // No override left: driverctl says so and exits 1 (C17).
    assert.equal(section(sections, 'overrides-after'), 'rc=1\n');
    assert.match(r.stderr, /No overridable devices found/);
  });

  it('dpdk-devbind.py: status, -b vfio-pci refused until modprobe vfio-pci, then bound, -u', async () => {
    const { r, sections } = await underRun(
      [
        'rmmod vfio_pci || exit 123',
        `echo "@@ unloaded"; dpdk-devbind.py -b vfio-pci ${BDF}; echo "rc=$?"`,
        'echo "@@ modprobe"; modprobe vfio-pci; echo "rc=$?"; ls -d /sys/module/vfio_pci /sys/bus/pci/drivers/vfio-pci',
        'echo "@@ status"; dpdk-devbind.py --status-dev net',
        `echo "@@ bind"; dpdk-devbind.py -b vfio-pci ${BDF}; echo "rc=$?"`,
        'echo "@@ bound"; dpdk-devbind.py --status-dev net',
        `echo "@@ state"; basename "$(readlink /sys/bus/pci/devices/${BDF}/driver)"; cat /sys/bus/pci/devices/${BDF}/driver_override`,
        `[ -e /sys/bus/pci/drivers/vfio-pci/${BDF} ] && echo in-driver-dir; [ -e /dev/vfio/8 ] && echo dev-vfio-8`,
        `echo "@@ unbind"; dpdk-devbind.py -u ${BDF}; echo "rc=$?"`,
        `echo "@@ unbound"; [ -L /sys/bus/pci/devices/${BDF}/driver ] && echo still-linked; [ -e /dev/vfio/8 ] && echo dev-vfio-8; dpdk-devbind.py --status-dev net`,
      ].join('\n'),
    );
    assert.equal(r.code, 0, r.stderr);
    // dpdk-devbind.py looks for the module in /sys/module and refuses (exit 1).
    assert.equal(section(sections, 'unloaded'), 'rc=1\n');
    assert.match(r.stderr, /Driver 'vfio-pci' is not loaded/);
    assert.equal(section(sections, 'modprobe'), 'rc=0\n/sys/bus/pci/drivers/vfio-pci\n/sys/module/vfio_pci\n');
    const before = dpdkHeadingOf(section(sections, 'status'));
    assert.equal(before?.heading, 'Network devices using kernel driver');
    assert.match(before.line, /^0000:01:00\.0 '82574L Gigabit Network Connection 10d3' .*drv=e1000e unused=vfio-pci/);
    assert.equal(section(sections, 'bind'), 'rc=0\n', r.stderr);
    const bound = dpdkHeadingOf(section(sections, 'bound'));
    assert.equal(bound?.heading, 'Network devices using DPDK-compatible driver');
    assert.match(bound.line, /^0000:01:00\.0 '82574L Gigabit Network Connection 10d3' drv=vfio-pci unused=/);
    // dpdk-devbind.py clears the override it set once bound (C15).
    assert.equal(section(sections, 'state'), 'vfio-pci\n(null)\nin-driver-dir\ndev-vfio-8\n');
    assert.equal(section(sections, 'unbind'), 'rc=0\n', r.stderr);
    const unbound = section(sections, 'unbound');
    assert.ok(!unbound.includes('still-linked') && !unbound.includes('dev-vfio-8'), unbound);
    const gone = dpdkHeadingOf(unbound);
    assert.equal(gone?.heading, 'Other Network devices');
    assert.doesNotMatch(gone.line, /drv=/);
  });
});
