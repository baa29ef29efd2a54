// `iommufs run` as a sandbox (run-namespace.ts): nothing the command writes reaches the
// host (/etc, /run), /proc/cmdline is the topology's, the udev database answers udevadm and
// driverctl -v, and the simulation's modprobe/rmmod/lsmod load and unload its modules.
// Real tools only (driverctl, udevadm, the shell), as a user runs them.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CLI, TOPOLOGIES } from '../helpers/paths';
import { assertNothingMounted, run, sh, type RunResult } from './harness';
import { section, splitSections } from '../helpers/sections';

const WRITES = join(TOPOLOGIES, 'qemu-writes.yaml');
const BDF = '0000:01:00.0';
const ROOT = process.getuid?.() === 0;
/** The names below come from pci.ids; without it udev has none either. */
const HAVE_PCI_IDS = existsSync('/usr/share/misc/pci.ids');

/** Runs a bash script under `iommufs run`; lines `@@ name` start sections, returned by name. */
async function underRun(topology: string, script: string): Promise<{ r: RunResult; sections: Map<string, string> }> {
  const r = await run(process.execPath, [CLI, 'run', topology, '--', 'bash', '-c', `set -u\n${script}`], { timeoutMs: 90_000 });
  return { r, sections: splitSections(r.stdout) };
}

/** What the host has where the command writes: listings with sizes and contents' sums. */
function hostSnapshot(marker: string): Promise<RunResult> {
  return sh(
    [
      'for d in /etc/driverctl.d /etc/modprobe.d /etc/udev/rules.d; do echo "== $d"; [ -d "$d" ] && (cd "$d" && ls -A | LC_ALL=C sort | while read -r f; do echo "$f $(md5sum < "$f")"; done); done',
      `ls -d /etc/${marker} /run/${marker} /run/udev /run/modprobe.d 2>&1`,
      'md5sum /proc/cmdline; [ -e /proc/modules ] && md5sum < /proc/modules; echo end',
    ].join('\n'),
  );
}

after(assertNothingMounted);

describe('iommufs run: a sandbox', { skip: ROOT ? false : 'needs root (unshare -m)' }, () => {
  it('driverctl without --nosave, and writes to /etc and /run, stay inside; /proc/cmdline is the topology\'s', async () => {
    const marker = `iommufs-sandbox-test-${process.pid}`;
    const before = await hostSnapshot(marker);
    // A service of the host listening in /run stays reachable from inside.
    const socketPath = `/run/${marker}.sock`;
    const server = createServer((c) => c.end('hello from the host\n'));
    await new Promise<void>((res) => server.listen(socketPath, res));
    const ran = underRun(
      WRITES,
      [
        'echo "@@ cmdline"; cat /proc/cmdline',
        `echo "@@ socket"; /usr/bin/python3 -c 'import socket; s = socket.socket(socket.AF_UNIX); s.connect("${socketPath}"); print(s.recv(100).decode(), end="")'`,
        'echo "@@ env"; echo "$SYSTEMD_DEVICE_VERIFY_SYSFS"',
        `echo ${BDF} > /sys/bus/pci/drivers_probe`,
        `echo "@@ set"; driverctl set-override ${BDF} vfio-pci; echo "rc=$?"; cat /etc/driverctl.d/pci-${BDF}`,
        `echo "@@ link"; basename "$(readlink /sys/bus/pci/devices/${BDF}/driver)"`,
        `echo 'ACTION=="add", ENV{IOMMUFS}="1"' > /etc/udev/rules.d/99-${marker}.rules || echo rules-failed`,
        `touch /etc/${marker} /run/${marker} && echo "@@ touched"`,
        `echo "@@ unset"; driverctl unset-override ${BDF}; echo "rc=$?"; [ -e /etc/driverctl.d/pci-${BDF} ] && echo still-saved`,
        `driverctl set-override ${BDF} vfio-pci`,
      ].join('\n'),
    );
    const { r, sections } = await ran.finally(() => new Promise<void>((res) => server.close(() => res())));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(section(sections, 'cmdline'), 'intel_iommu=on\n');
    assert.equal(section(sections, 'socket'), 'hello from the host\n');
    assert.equal(section(sections, 'env'), '0\n');
    assert.equal(section(sections, 'set'), 'rc=0\nvfio-pci\n', r.stderr);
    assert.equal(section(sections, 'link'), 'vfio-pci\n');
    assert.equal(section(sections, 'touched'), '');
    assert.equal(section(sections, 'unset'), 'rc=0\n');
    // The last set-override saved its file again, inside; the host has none of it.
    const afterRun = await hostSnapshot(marker);
    assert.equal(afterRun.stdout, before.stdout);
    assert.ok(!existsSync(`/etc/driverctl.d/pci-${BDF}`));
  });

  it('udev: udevadm info and info -a, driverctl -v; the database follows remove, rescan and VFs', async () => {
    const { r, sections } = await underRun(
      join(TOPOLOGIES, 'qemu-sriov.yaml'),
      [
        `P=/sys/bus/pci/devices/${BDF}`,
        'echo "@@ info"; udevadm info --path=$P',
        `echo ${BDF} > /sys/bus/pci/drivers_probe`,
        "echo \"@@ walk\"; udevadm info -a --path=$P | grep -E \"looking at|KERNELS?==|DRIVERS?==|ATTRS?\\{vendor\\}\"",
        'echo "@@ verbose"; driverctl -v list-devices 2>/dev/null | grep "^0000:01:00"',
        'echo "@@ vfs"; echo 2 > $P/sriov_numvfs; ls /run/udev/data',
        'echo "@@ removed"; echo 1 > /sys/bus/pci/devices/0000:01:00.0/remove; ls /run/udev/data | grep -c "0000:01:00" ',
        'echo "@@ rescanned"; echo 1 > /sys/bus/pci/rescan; ls /run/udev/data | grep "0000:01:00"',
      ].join('\n'),
    );
    assert.equal(r.code, 0, r.stderr);
    const info = section(sections, 'info');
    assert.match(info, /^P: \/devices\/pci0000:00\/0000:00:02\.0\/0000:01:00\.0\nM: 0000:01:00\.0\n/);
    assert.match(info, /^E: PCI_ID=1B36:0010$/m);
    assert.match(info, /^E: USEC_INITIALIZED=\d+$/m);
    assert.match(info, /^E: ID_PATH=pci-0000:01:00\.0\nE: ID_PATH_TAG=pci-0000_01_00_0$/m);
    if (HAVE_PCI_IDS) {
      assert.match(info, /^E: ID_PCI_CLASS_FROM_DATABASE=Mass storage controller\nE: ID_PCI_SUBCLASS_FROM_DATABASE=Non-Volatile memory controller\nE: ID_PCI_INTERFACE_FROM_DATABASE=NVM Express\nE: ID_VENDOR_FROM_DATABASE=Red Hat, Inc\.\nE: ID_MODEL_FROM_DATABASE=QEMU NVM Express Controller/m);
      assert.equal(section(sections, 'verbose').split('\n')[0], `${BDF} nvme (QEMU NVM Express Controller)`);
    }
    const walk = section(sections, 'walk');
    assert.match(walk, /looking at device '\/devices\/pci0000:00\/0000:00:02\.0\/0000:01:00\.0':\n {4}KERNEL=="0000:01:00\.0"\n {4}DRIVER=="nvme"\n {4}ATTR\{vendor\}=="0x1b36"/);
    assert.match(walk, /looking at parent device '\/devices\/pci0000:00\/0000:00:02\.0':\n {4}KERNELS=="0000:00:02\.0"\n {4}DRIVERS=="pcieport"/);
    const vfs = section(sections, 'vfs');
    assert.ok(vfs.includes('+pci:0000:01:00.1\n+pci:0000:01:00.2\n'), vfs);
    assert.equal(section(sections, 'removed'), '0\n');
    assert.equal(section(sections, 'rescanned'), '+pci:0000:01:00.0\n');
  });

  it('libudev through pyudev: the PCI devices enumerated, initialized, with their database properties', async (t) => {
    const have = await sh('/usr/bin/python3 -c "import pyudev"');
    if (have.code !== 0) return t.skip('python3-pyudev is not installed (scripts/setup.sh --test installs it)');
    const script = [
      'import pyudev',
      'ctx = pyudev.Context()',
      'devs = list(ctx.list_devices(subsystem="pci"))',
      'print(len(devs))',
      'd = pyudev.Devices.from_sys_path(ctx, "/sys/bus/pci/devices/0000:01:00.0")',
      'print(d.sys_name, d.driver, d.is_initialized, d.get("ID_PATH"), d.parent.sys_name, d.attributes.asstring("vendor"))',
    ].join('\n');
    const { r, sections } = await underRun(
      join(TOPOLOGIES, 'qemu-sriov.yaml'),
      ['echo "@@ ls"; ls /sys/bus/pci/devices | wc -l', `echo ${BDF} > /sys/bus/pci/drivers_probe`, `echo "@@ pyudev"; /usr/bin/python3 -c '${script}'`].join('\n'),
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(section(sections, 'pyudev'), `${section(sections, 'ls')}0000:01:00.0 nvme True pci-0000:01:00.0 0000:00:02.0 0x1b36\n`);
  });

  it('unprivileged (unshare -Urm, as nobody): the same sandbox, the tree root\'s inside, writes allowed', async (t) => {
    const asNobody = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
    const userns = await run(asNobody[0]!, [...asNobody.slice(1), 'unshare', '-Urm', 'true']);
    if (userns.code !== 0) return t.skip(`no unprivileged user namespaces here: ${userns.stderr.trim()}`);
    const dir = await mkdtemp(join(tmpdir(), 'iommufs-nobody-'));
    try {
      await chmod(dir, 0o777);
      const script = [
        'id -u',
        'stat -c "%U %a" /sys/bus/pci/drivers_probe',
        `echo ${BDF} > /sys/bus/pci/drivers_probe && basename "$(readlink /sys/bus/pci/devices/${BDF}/driver)"`,
        'modprobe -r vfio-pci && ls /sys/bus/pci/drivers | grep -c vfio',
        `touch /etc/${'iommufs-nobody-test'} && echo etc-private`,
      ].join('; ');
      const r = await run(asNobody[0]!, [...asNobody.slice(1), 'env', `TMPDIR=${dir}`, process.execPath, CLI, 'run', WRITES, '--', 'sh', '-c', script], { timeoutMs: 90_000 });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, '0\nroot 200\ne1000e\n0\netc-private\n');
      assert.ok(!existsSync('/etc/iommufs-nobody-test'));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('lstopo sees the dual-socket machine: two packages and NUMA nodes, each device under its own', async () => {
    const r = await run(process.execPath, [CLI, 'run', join(TOPOLOGIES, 'dual-socket-xeon.yaml'), '--', 'lstopo', '--of', 'console', '--whole-io'], { timeoutMs: 90_000 });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    const at = (re: RegExp): number => lines.findIndex((l) => re.test(l));
    const [pkg0, pkg1] = [at(/Package L#0/), at(/Package L#1/)];
    assert.ok(pkg0 >= 0 && pkg1 > pkg0, r.stdout);
    assert.ok(at(/NUMANode L#0 \(P#0/) > pkg0 && at(/NUMANode L#1 \(P#1/) > pkg1, r.stdout);
    assert.equal(at(/Package L#2|NUMANode L#2/), -1);
    // Socket 0's NVMe (18:00.0) under package 0, socket 1's (86:00.0) under package 1.
    const nvme0 = at(/PCI 18:00\.0 \(NVMExp\)/);
    const nvme1 = at(/PCI 86:00\.0 \(NVMExp\)/);
    assert.ok(nvme0 > pkg0 && nvme0 < pkg1, r.stdout);
    assert.ok(nvme1 > pkg1, r.stdout);
  });

  it('modules: vfio-pci.ids= binds at load; rmmod and modprobe take the driver away and back; parameters; lsmod', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'iommufs-sandbox-test-'));
    try {
      const topology = join(dir, 'ids.yaml');
      const text = (await readFile(WRITES, 'utf8')).replace(/^cmdline:.*$/m, 'cmdline: intel_iommu=on vfio-pci.ids=8086:10d3');
      await writeFile(topology, text);
      const { r, sections } = await underRun(
        topology,
        [
          `D=/sys/bus/pci/devices/${BDF}`,
          'echo "@@ boot"; basename "$(readlink $D/driver)"; ls /dev/vfio | tr "\\n" " "; echo',
          'echo "@@ lsmod"; lsmod | grep -E "^(Module|vfio |vfio_pci )"',
          'echo "@@ busy"; rmmod vfio; echo "rc=$?"',
          'echo "@@ rmmod"; rmmod vfio_pci; echo "rc=$?"; [ -L $D/driver ] && echo bound; ls -d /sys/bus/pci/drivers/vfio-pci /sys/module/vfio_pci 2>&1 | wc -l; ls /dev/vfio',
          'echo "@@ modprobe"; modprobe vfio-pci; echo "rc=$?"; basename "$(readlink $D/driver)"; readlink /sys/module/vfio_pci/drivers/pci:vfio-pci; ls /sys/module/vfio_pci/parameters | tr "\\n" " "; echo',
          'echo "@@ missing"; modprobe no-such-module; echo "rc=$?"; modprobe -q no-such-module; echo "rc=$?"',
          'P=/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts',
          'echo "@@ param"; cat $P; echo 1 > $P; cat $P; echo maybe > $P; echo "rc=$?"; cat $P',
          'mkdir -p /etc/modprobe.d && echo "options vfio_iommu_type1 disable_hugepages=1" > /etc/modprobe.d/iommufs-test.conf',
          'echo "@@ options"; modprobe -r vfio_iommu_type1; echo "rc=$?"; modprobe vfio_iommu_type1; cat /sys/module/vfio_iommu_type1/parameters/disable_hugepages',
        ].join('\n'),
      );
      assert.equal(r.code, 0, r.stderr);
      // qemu-writes has three 82574L (8086:10d3), in groups 8, 11 and 12.
      assert.equal(section(sections, 'boot'), 'vfio-pci\n11 12 8 vfio \n');
      assert.equal(section(sections, 'lsmod'), 'Module                  Size  Used by\nvfio_pci               16384  0\nvfio                   57344  3 vfio_iommu_type1,vfio_pci,vfio_pci_core\n');
      assert.equal(section(sections, 'busy'), 'rc=1\n');
      assert.match(r.stderr, /^rmmod: ERROR: Module vfio is in use by: vfio_iommu_type1 vfio_pci vfio_pci_core$/m);
      assert.equal(section(sections, 'rmmod'), 'rc=0\n2\nvfio\n');
      assert.equal(section(sections, 'modprobe'), 'rc=0\nvfio-pci\n../../../bus/pci/drivers/vfio-pci\ndisable_denylist disable_idle_d3 disable_vga enable_sriov nointxmask \n');
      assert.equal(section(sections, 'missing'), 'rc=1\nrc=1\n');
      assert.equal(r.stderr.match(/modprobe: FATAL: Module no-such-module not found in directory \/lib\/modules\//g)?.length, 1);
      assert.equal(section(sections, 'param'), 'N\nY\nrc=1\nY\n');
      assert.equal(section(sections, 'options'), 'rc=0\nY\n');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
