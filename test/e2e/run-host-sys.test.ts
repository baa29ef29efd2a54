// `iommufs run --host-sys` (run-host-sys.ts): host-only paths read the host's values,
// simulated paths the simulation's (the same as under a plain run), no index link dangles or
// leads a host device into the simulation, the host's /sys is read-only inside, writes to
// simulated files reach the daemon, and afterwards the host's /sys and mount table are as
// they were. Real tools only (the shell, lspci, find).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readdir, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { RUN_DIR_PREFIX } from '../../src/cli/run';
import { CLI, TOPOLOGIES } from '../helpers/paths';
import { section, splitSections } from '../helpers/sections';
import { assertNothingMounted, run, sh, type RunResult } from './harness';

// Two host bridges (pci0000:17, pci0000:80, pci0000:85 are not on a usual host), NVMe disks
// and a GPU bound at boot (class/nvme, class/drm), an Intel unit.
const XEON = join(TOPOLOGIES, 'dual-socket-xeon.yaml');
const NVME = '0000:18:00.0';
const ROOT = process.getuid?.() === 0;
const UNSHARE = ['/usr/bin/unshare', '/bin/unshare'].some((p) => existsSync(p));

/** What the host shows of itself; the same script runs inside, and must print the same. */
const HOST_PART = [
  'echo "@@ cpu"; cat /sys/devices/system/cpu/online; ls /sys/devices/system/cpu | grep -c "^cpu[0-9]"',
  'echo "@@ lo"; cat /sys/class/net/lo/address /sys/class/net/lo/mtu',
  'echo "@@ mm"; ls /sys/kernel/mm',
  'echo "@@ cgroup"; ls /sys/fs/cgroup',
  'echo "@@ virtual"; ls /sys/devices/virtual | grep -vx iommu',
].join('\n');

/** The simulated part; under --host-sys it must print what a plain run prints. */
const SIM_PART = [
  'echo "@@ lspci"; lspci -nn',
  'echo "@@ devices"; ls /sys/bus/pci/devices',
  'echo "@@ groups"; for g in /sys/kernel/iommu_groups/*; do echo "${g##*/}: $(ls $g/devices | tr "\\n" " ")"; done',
  `echo "@@ links"; readlink /sys/bus/pci/devices/${NVME}/iommu_group /sys/bus/pci/devices/${NVME}/driver /sys/bus/pci/devices/${NVME}/iommu; readlink /sys/class/iommu/*`,
  'echo "@@ modules"; ls /sys/module',
].join('\n');

/** The host's /sys as a test outside can see it, and its mounts under /sys. */
const HOST_VIEW = [
  'ls /sys/kernel/iommu_groups /sys/bus/pci/devices /sys/devices /sys/class /sys/module 2>&1',
  // No times: kernfs stamps an inode with the time it is (re)made in the inode cache.
  'ls -l --time-style=+ /sys/class/net /sys/block 2>&1',
  "awk '$5 ~ /^\\/sys/ { print $4, $5, $6, $9 }' /proc/self/mountinfo",
].join('\n');

function underRun(args: string[], script: string, env: string[] = []): Promise<RunResult> {
  return run('env', [...env, process.execPath, CLI, 'run', ...args, '--', 'bash', '-c', `set -u\n${script}`], { timeoutMs: 90_000 });
}

/** Run directories (and any mount under them) left behind. */
async function leftovers(dir: string): Promise<string[]> {
  const mounts = (await sh('cat /proc/self/mountinfo')).stdout.split('\n').filter((l) => l.includes(`${dir}/${RUN_DIR_PREFIX}`));
  const dirs = (await readdir(dir)).filter((n) => n.startsWith(RUN_DIR_PREFIX));
  return [...mounts, ...dirs];
}

after(assertNothingMounted);

const SKIP = !UNSHARE ? 'no unshare (util-linux)' : !ROOT ? 'needs root (unshare -m); the unprivileged case is run as nobody from root' : false;

describe('iommufs run --host-sys', { skip: SKIP }, () => {
  it('host-only paths read the host, simulated paths the simulation; the host is unchanged after', async () => {
    const hostBefore = await sh(HOST_VIEW);
    const host = splitSections((await sh(HOST_PART)).stdout);
    const plain = await underRun([XEON], SIM_PART);
    assert.equal(plain.code, 0, plain.stderr);
    const r = await underRun(['--host-sys', XEON], `${HOST_PART}\n${SIM_PART}`);
    assert.equal(r.code, 0, r.stderr);
    const inside = splitSections(r.stdout);
    for (const name of ['cpu', 'lo', 'mm', 'cgroup', 'virtual']) assert.equal(section(inside, name), section(host, name), name);
    const sim = splitSections(plain.stdout);
    for (const name of ['lspci', 'devices', 'groups', 'links', 'modules']) assert.equal(section(inside, name), section(sim, name), name);
    assert.match(section(inside, 'devices'), new RegExp(`^${NVME}$`, 'm'));
    assert.match(section(inside, 'links').split('\n')[1]!, /^(\.\.\/)+bus\/pci\/drivers\/nvme$/);
    // The host's /sys, as seen from outside, and its mounts: as before.
    assert.equal((await sh(HOST_VIEW)).stdout, hostBefore.stdout);
    assert.deepEqual(await leftovers(tmpdir()), []);
  });

  it('no index link dangles or leads into the simulation; class views follow binds; the host\'s /sys is read-only', async () => {
    const r = await underRun(
      ['--host-sys', XEON],
      [
        // Every link of the index and driver directories resolves, and a host one never into
        // a simulated part; a driver directory's files are the host's.
        'echo "@@ dangling"; find /sys/class /sys/block /sys/dev -mindepth 2 -maxdepth 2 -xtype l; find /sys/bus -mindepth 3 -maxdepth 3 -path "*/devices/*" -xtype l; find /sys/bus -mindepth 4 -maxdepth 4 -path "*/drivers/*" -xtype l',
        'echo "@@ drivers"; for d in /sys/bus/*/drivers/*; do [ -e "$d/uevent" ] || echo "$d"; done',
        'echo "@@ nvme"; ls /sys/class/nvme; cat /sys/class/nvme/nvme0/uevent',
        // The run's modprobe and rmmod work through kernel/debug/iommufs.
        'echo "@@ modules"; rmmod vfio_pci; ls -d /sys/module/vfio_pci 2>&1 | sed "s/.*: //"; modprobe vfio-pci; ls -d /sys/module/vfio_pci; lsmod | grep -c "^vfio_pci "',
        `echo ${NVME} > /sys/bus/pci/devices/${NVME}/driver/unbind`,
        `echo vfio-pci > /sys/bus/pci/devices/${NVME}/driver_override; echo ${NVME} > /sys/bus/pci/drivers_probe`,
        'echo "@@ bound"; ls /sys/class/nvme; readlink /sys/class/vfio-dev/vfio0',
        // A write to the host's sysfs is refused (EROFS), also below a shadowed directory.
        'echo "@@ readonly"; (echo 1 > /sys/devices/system/cpu/cpu0/online) 2>&1 | sed "s/.*: //"; (: > /sys/devices/new) 2>&1 | sed "s/.*: //"; (echo change > /sys/devices/virtual/net/lo/uevent) 2>&1 | sed "s/.*: //"',
        'exit 7',
      ].join('\n'),
    );
    assert.equal(r.code, 7, r.stderr);
    const s = splitSections(r.stdout);
    assert.equal(section(s, 'dangling'), '');
    assert.equal(section(s, 'drivers'), '');
    assert.equal(section(s, 'nvme'), 'nvme0\nnvme1\nnvme2\nnvme3\nMAJOR=243\nMINOR=0\nDEVNAME=nvme0\nNVME_TRTYPE=pcie\n');
    assert.equal(section(s, 'modules'), 'No such file or directory\n/sys/module/vfio_pci\n1\n');
    assert.equal(section(s, 'bound'), `nvme1\nnvme2\nnvme3\n../../devices/pci0000:17/0000:17:00.0/${NVME}/vfio-dev/vfio0\n`);
    assert.equal(section(s, 'readonly'), 'Read-only file system\n'.repeat(3));
    assert.deepEqual(await leftovers(tmpdir()), []);
  });

  it('lstopo shows the host\'s CPUs with the simulated PCI devices; virt-host-validate the host\'s cgroups and the simulated IOMMU', async (t) => {
    const missing = ['/usr/bin/lstopo', '/usr/bin/virt-host-validate'].filter((p) => !existsSync(p));
    if (missing.length > 0) return t.skip(`not installed: ${missing.join(', ')}`);
    const TOOLS = [
      'echo "@@ pu"; lstopo --of console --only pu | wc -l',
      'echo "@@ cgroup"; virt-host-validate qemu 2>&1 | grep "cgroup"',
    ].join('\n');
    const host = splitSections((await sh(TOOLS)).stdout);
    const r = await underRun(
      ['--host-sys', XEON],
      `${TOOLS}
echo "@@ pci"; lstopo --of xml --filter io:all 2>/dev/null | grep -o 'pci_busid="[^"]*"' | sed 's/.*="//; s/"//' | sort -u; ls /sys/bus/pci/devices
echo "@@ iommu"; virt-host-validate qemu 2>&1 | grep -c "IOMMU.*: PASS"`,
    );
    assert.equal(r.code, 0, r.stderr);
    const s = splitSections(r.stdout);
    assert.equal(section(s, 'pu'), section(host, 'pu'));
    assert.equal(section(s, 'cgroup'), section(host, 'cgroup'));
    // Every simulated PCI device in lstopo's tree, and no other: each BDF listed twice.
    const bdfs = section(s, 'pci').trim().split('\n');
    const half = bdfs.length / 2;
    assert.ok(half > 30, section(s, 'pci'));
    assert.deepEqual(bdfs.slice(0, half), bdfs.slice(half));
    // "device assignment IOMMU support" and "IOMMU is enabled by kernel".
    assert.equal(section(s, 'iommu'), '2\n');
  });

  it('a command killed by a signal gives 128 + its number, and nothing stays mounted', async () => {
    const r = await underRun(['--host-sys', XEON], 'kill -TERM $$');
    assert.equal(r.code, 143, r.stderr);
    assert.deepEqual(await leftovers(tmpdir()), []);
  });

  it('works for a normal user in a user namespace (unshare -Urmn)', async (t) => {
    if (!existsSync('/usr/bin/setpriv')) return t.skip('no setpriv to become nobody');
    const probe = await run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'unshare', '-Urm', 'true']);
    if (probe.code !== 0) return t.skip(`no unprivileged user namespaces here: ${probe.stderr.trim()}`);
    const dir = join(tmpdir(), `iommufs-hostsys-nobody-${process.pid}`);
    await mkdir(dir);
    await chmod(dir, 0o777);
    try {
      const r = await run(
        'setpriv',
        ['--reuid=65534', '--regid=65534', '--clear-groups', 'env', `TMPDIR=${dir}`, `HOME=${dir}`, process.execPath, CLI, 'run', '--host-sys', XEON, '--', 'bash', '-c',
          ['echo "@@ lo"; cat /sys/class/net/lo/address', 'echo "@@ sim"; ls /sys/class/nvme | head -1; ls /sys/devices | grep -c "^pci"', `echo ${NVME} > /sys/bus/pci/devices/${NVME}/driver/unbind && ls /sys/class/nvme | head -1`, 'exit 3'].join('\n')],
        { timeoutMs: 90_000 },
      );
      assert.equal(r.code, 3, r.stderr);
      const s = splitSections(r.stdout);
      assert.equal(section(s, 'lo'), (await sh('cat /sys/class/net/lo/address')).stdout);
      assert.equal(section(s, 'sim'), 'nvme0\n4\nnvme1\n');
      assert.deepEqual(await leftovers(dir), []);
    } finally {
      await rmdir(dir).catch(() => undefined);
    }
  });
});
