// The errno a real sysfs gives, on a real mount driven by real tools (issue 13 item 8):
// oversized writes (kernfs atomic_write_len, sysfs_kf_bin_write), mknod and friends
// (fs/namei.c), a descriptor opened before `remove` (kernfs binds it to its node, not to
// the name), power/* (drivers/base/power/sysfs.c), uevent (drivers/base/core.c,
// lib/kobject_uevent.c), enable and resource_alignment (drivers/pci/pci-sysfs.c, pci.c).
// Values a real kernel showed come from test/fixtures/reference/sriov.json.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { assertNothingMounted, q, run, sh, withDaemon } from './harness';
import { FIXTURES, TOPOLOGIES } from '../helpers/paths';

after(assertNothingMounted);

const SRIOV = join(TOPOLOGIES, 'qemu-sriov.yaml');
const NIC = 'bus/pci/devices/0000:02:00.0';

/** Runs a Python script with the mount as argv[1]; each line it prints is one result. */
async function python(mnt: string, code: string): Promise<string[]> {
  const r = await run('python3', ['-c', code, mnt]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim().split('\n');
}

/** The strerror text of a failed shell command (the part after the last ": "). */
async function errorOf(script: string): Promise<string> {
  const r = await sh(script);
  if (r.code === 0) return '';
  const msg = r.stderr.trim().split('\n').pop() ?? '';
  return msg.slice(msg.lastIndexOf(': ') + 2);
}

/** A shell command writing the Python bytes expression `data` to `path` in one write(2). */
function writeOnce(path: string, data: string): string {
  return `python3 -c ${q(`import os, sys\nfd = os.open(sys.argv[1], os.O_WRONLY)\ntry:\n  os.write(fd, ${data})\nexcept OSError as e:\n  sys.exit('python3: ' + e.strerror)`)} ${q(path)}`;
}

const PY_TRY = `
import os, sys, stat
M = sys.argv[1]
def attempt(what, fn):
    try:
        fn(); print(what, 'ok')
    except OSError as e:
        print(what, e.strerror)
`;

describe('writes over the limits', () => {
  it('a 300,000-byte cat into new_id is E2BIG and binds nothing; 4,097 bytes of driver_override E2BIG; dd into config at 4096 EFBIG', async () => {
    await withDaemon(SRIOV, async (mnt) => {
      const m = q(mnt);
      const big = `{ printf '8086 10d3'; head -c 300000 /dev/zero | tr '\\0' ' '; }`;
      assert.equal(await errorOf(`${big} > "$TMPDIR/big-$$"; cat "$TMPDIR/big-$$" > ${m}/bus/pci/drivers/pci-stub/new_id; rc=$?; rm -f "$TMPDIR/big-$$"; exit $rc`), 'Argument list too long');
      const bound = await sh(`ls ${m}/bus/pci/drivers/pci-stub | grep -c :; [ -e ${m}/${NIC}/driver ] && echo has-driver || echo no-driver`);
      assert.deepEqual(bound.stdout.trim().split('\n'), ['0', 'no-driver']);

      // One write(2) of 4,097 bytes (bash's printf would split it at its 4,096-byte buffer).
      assert.equal(await errorOf(writeOnce(`${mnt}/${NIC}/driver_override`, `b'a' * 4097`)), 'Argument list too long');
      assert.equal((await sh(`cat ${m}/${NIC}/driver_override`)).stdout, '(null)\n');

      const before = (await run('od', ['-An', '-tx1', `${mnt}/${NIC}/config`])).stdout;
      const dd = await run('dd', ['if=/dev/zero', `of=${mnt}/${NIC}/config`, 'bs=1', 'count=4', 'seek=4096', 'conv=notrunc']);
      assert.notEqual(dd.code, 0);
      assert.match(dd.stderr, /File too large/);
      assert.equal((await run('od', ['-An', '-tx1', `${mnt}/${NIC}/config`])).stdout, before);
    });
  });
});

describe('creating and linking in a sysfs directory (fs/namei.c)', () => {
  it('mknod of a regular file is EACCES like open(O_CREAT) (vfs_create without ->create); fifo, socket and device nodes EPERM (vfs_mknod without ->mknod)', async () => {
    await withDaemon(SRIOV, async (mnt) => {
      const out = await python(mnt, `${PY_TRY}
d = M + '/${NIC}/'
attempt('reg', lambda: os.mknod(d + 'r', stat.S_IFREG | 0o644))
attempt('zero-type', lambda: os.mknod(d + 'z', 0o644))
attempt('fifo', lambda: os.mknod(d + 'f', stat.S_IFIFO | 0o644))
attempt('sock', lambda: os.mknod(d + 's', stat.S_IFSOCK | 0o644))
attempt('chr', lambda: os.mknod(d + 'c', stat.S_IFCHR | 0o644, os.makedev(1, 3)))
attempt('blk', lambda: os.mknod(d + 'b', stat.S_IFBLK | 0o644, os.makedev(7, 0)))
attempt('existing', lambda: os.mknod(d + 'vendor', stat.S_IFIFO | 0o644))
attempt('creat', lambda: os.close(os.open(d + 'n', os.O_CREAT | os.O_WRONLY, 0o644)))
attempt('creat-excl-existing', lambda: os.close(os.open(d + 'vendor', os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)))
print(sorted(x for x in os.listdir(d) if x in ('r', 'z', 'f', 's', 'c', 'b', 'n')))`);
      assert.deepEqual(out, [
        'reg Permission denied',
        'zero-type Permission denied',
        'fifo Operation not permitted',
        'sock Operation not permitted',
        'chr Operation not permitted',
        'blk Operation not permitted',
        'existing File exists',
        'creat Permission denied',
        'creat-excl-existing File exists',
        '[]',
      ]);
      assert.equal(await errorOf(`mkfifo ${q(`${mnt}/${NIC}/ff`)}`), 'Operation not permitted');
      assert.equal(await errorOf(`mknod ${q(`${mnt}/${NIC}/pp`)} p`), 'Operation not permitted');
      assert.equal(await errorOf(`touch ${q(`${mnt}/${NIC}/newfile`)}`), 'Permission denied');
    });
  });
});

describe('a descriptor opened before remove (kernfs_fop_read_iter/write_iter on a removed node)', () => {
  it('keeps answering ENODEV after rescan re-adds the device and its group, while a new open works', async () => {
    await withDaemon(SRIOV, async (mnt) => {
      const out = await python(mnt, `${PY_TRY}
dev = M + '/${NIC}/'
group = os.path.realpath(dev + 'iommu_group') + '/type'
fds = {'numa_node': os.open(dev + 'numa_node', os.O_RDWR), 'uevent': os.open(dev + 'uevent', os.O_RDONLY),
       'power/control': os.open(dev + 'power/control', os.O_RDWR), 'group type': os.open(group, os.O_RDWR)}
with open(dev + 'remove', 'w') as f: f.write('1')
for name, fd in fds.items(): attempt('removed ' + name, lambda: os.pread(fd, 64, 0))
with open(M + '/bus/pci/rescan', 'w') as f: f.write('1')
print('back', os.path.exists(dev + 'numa_node'), os.path.exists(group))
for name, fd in fds.items(): attempt('rescanned read ' + name, lambda: os.pread(fd, 64, 0))
attempt('rescanned write numa_node', lambda: os.pwrite(fds['numa_node'], b'0', 0))
attempt('rescanned write control', lambda: os.pwrite(fds['power/control'], b'auto', 0))
attempt('rescanned write group type', lambda: os.pwrite(fds['group type'], b'identity', 0))
for fd in fds.values(): os.close(fd)
print('new', open(dev + 'numa_node').read().strip(), open(dev + 'power/control').read().strip(), open(group).read().strip())`);
      assert.deepEqual(out, [
        'removed numa_node No such device',
        'removed uevent No such device',
        'removed power/control No such device',
        'removed group type No such device',
        'back True True',
        'rescanned read numa_node No such device',
        'rescanned read uevent No such device',
        'rescanned read power/control No such device',
        'rescanned read group type No such device',
        'rescanned write numa_node No such device',
        'rescanned write control No such device',
        'rescanned write group type No such device',
        'new -1 on DMA-FQ',
      ]);
    });
  });

  it('a VF attribute opened before sriov_numvfs goes to 0 stays ENODEV once the VFs are enabled again', async () => {
    await withDaemon(SRIOV, async (mnt) => {
      const out = await python(mnt, `${PY_TRY}
pf = M + '/bus/pci/devices/0000:01:00.0/'
with open(M + '/bus/pci/drivers_probe', 'w') as f: f.write('0000:01:00.0')
with open(pf + 'sriov_numvfs', 'w') as f: f.write('2')
fd = os.open(M + '/bus/pci/devices/0000:01:00.1/driver_override', os.O_RDWR)
with open(pf + 'sriov_numvfs', 'w') as f: f.write('0')
with open(pf + 'sriov_numvfs', 'w') as f: f.write('2')
attempt('old read', lambda: os.pread(fd, 64, 0))
attempt('old write', lambda: os.pwrite(fd, b'vfio-pci', 0))
os.close(fd)
print('new', open(M + '/bus/pci/devices/0000:01:00.1/driver_override').read().strip())`);
      assert.deepEqual(out, ['old read No such device', 'old write No such device', 'new (null)']);
    });
  });
});

interface RecordedDevice {
  driver?: string | null;
  subattrs: Record<string, string>;
  attr_errors: Record<string, unknown>;
}

/** power/* of each device as sriov.json recorded it at boot, times left out (not simulated). */
function recordedPower(): Map<string, Record<string, string>> {
  const rec = JSON.parse(readFileSync(join(FIXTURES, 'reference', 'sriov.json'), 'utf8')) as { phases: { boot: { pci_devices: Record<string, RecordedDevice> } } };
  const out = new Map<string, Record<string, string>>();
  for (const [bdf, dev] of Object.entries(rec.phases.boot.pci_devices)) {
    const files: Record<string, string> = {};
    for (const [k, v] of Object.entries(dev.subattrs)) if (k.startsWith('power/') && !k.endsWith('_time') && !k.endsWith('_time_ms')) files[k] = v;
    out.set(bdf, files);
  }
  return out;
}

describe('power/ (drivers/base/power/sysfs.c)', () => {
  it('reads as the recording at boot, autosuspend_delay_ms is EIO everywhere', async () => {
    await withDaemon(SRIOV, async (mnt) => {
      const rec = recordedPower();
      const paths: string[] = [];
      for (const [bdf, files] of rec) for (const f of Object.keys(files)) paths.push(`bus/pci/devices/${bdf}/${f}`);
      const got = await python(mnt, `import json, os, sys
out = {}
for p in json.loads(sys.argv[2]):
    with open(os.path.join(sys.argv[1], p)) as f: out[p] = f.read()
print(json.dumps(out))`.replace('sys.argv[2]', JSON.stringify(JSON.stringify(paths))));
      const values = JSON.parse(got[0]!) as Record<string, string>;
      for (const [bdf, files] of rec) for (const [f, v] of Object.entries(files)) assert.equal(values[`bus/pci/devices/${bdf}/${f}`], v, `${bdf}/${f}`);
      for (const bdf of rec.keys()) {
        assert.equal(await errorOf(`cat ${q(`${mnt}/bus/pci/devices/${bdf}/power/autosuspend_delay_ms`)}`), 'Input/output error', bdf);
      }
    });
  });

  it('takes only valid values, with the kernel errno, and shows what was stored', async () => {
    await withDaemon(SRIOV, async (mnt) => {
      const p = (f: string): string => q(`${mnt}/${NIC}/power/${f}`);
      const cases: Array<[string, string, string]> = [
        ['control', 'maybe', 'Invalid argument'],
        ['control', 'AUTO', 'Invalid argument'],
        ['control', '', 'Invalid argument'],
        ['async', 'on', 'Invalid argument'],
        ['wakeup', 'yes', 'Invalid argument'],
        ['autosuspend_delay_ms', '100', 'Input/output error'],
        ['autosuspend_delay_ms', 'x', 'Input/output error'],
      ];
      const state = async (): Promise<string> => (await sh(`cd ${q(`${mnt}/${NIC}/power`)} && grep -H '' async control runtime_enabled runtime_status runtime_usage wakeup wakeup_count`)).stdout;
      const before = await state();
      for (const [file, value, error] of cases) {
        assert.equal(await errorOf(`echo ${value} > ${p(file)}`), error, `${file} <- ${value}`);
        assert.equal(await state(), before, `${file} <- ${value} changed power/`);
      }
      assert.equal(await errorOf(`echo enabled > ${q(`${mnt}/bus/pci/devices/0000:00:1f.2/power/wakeup`)}`), 'Permission denied', 'no wakeup file where the device cannot wake');
      const r = await sh(`set -e; cd ${q(`${mnt}/${NIC}/power`)}
printf auto > control; echo disabled > async; echo enabled > wakeup
grep -H '' async control runtime_enabled runtime_status runtime_usage wakeup wakeup_count
cat ../../power/runtime_active_kids
echo on > control; echo disabled > wakeup; cat control runtime_status runtime_usage; wc -c < wakeup_count`);
      assert.equal(r.stderr, '');
      assert.deepEqual(r.stdout.trim().split('\n'), [
        'async:disabled',
        'control:auto',
        'runtime_enabled:enabled',
        'runtime_status:suspended',
        'runtime_usage:0',
        'wakeup:enabled',
        'wakeup_count:0',
        '0',
        'on',
        'active',
        '1',
        '1',
      ]);
    });
  });

  it('vfio-pci allows runtime PM and lets an idle device suspend, as the recording after binding it shows', async () => {
    await withDaemon(SRIOV, async (mnt) => {
      const r = await sh(`set -e; cd ${q(mnt)}
echo vfio-pci > ${NIC}/driver_override; echo 0000:02:00.0 > bus/pci/drivers_probe
cat ${NIC}/power/control ${NIC}/power/runtime_status ${NIC}/power/runtime_usage ${NIC}/enable ${NIC}/power_state bus/pci/devices/0000:00:02.1/power/runtime_active_kids
echo 0000:02:00.0 > bus/pci/drivers/vfio-pci/unbind
cat ${NIC}/power/control ${NIC}/power/runtime_status ${NIC}/power/runtime_usage bus/pci/devices/0000:00:02.1/power/runtime_active_kids`);
      assert.equal(r.stderr, '');
      // sriov.json after_vfio_bind: control auto, suspended, usage 0, enable 0, D3hot, the port's kids 0.
      assert.deepEqual(r.stdout.trim().split('\n'), ['auto', 'suspended', '0', '0', 'D3hot', '0', 'on', 'active', '1', '1']);
    });
  });
});

describe('uevent of devices, drivers, buses and modules', () => {
  it('a host bridge, a pci_bus and an IOMMU unit have no uevent variables: an empty file; drivers, buses and modules have a 0200 one', async () => {
    await withDaemon(SRIOV, async (mnt) => {
      const r = await sh(`cd ${q(mnt)}
wc -c < devices/pci0000:00/uevent; wc -c < class/pci_bus/0000:01/uevent; wc -c < class/iommu/dmar0/uevent
stat -c '%a %n' bus/pci/drivers/pcieport/uevent bus/pci/uevent module/*/uevent | head -3
cat bus/pci/drivers/pcieport/uevent 2>&1 | sed 's/.*: //'`);
      const lines = r.stdout.trim().split('\n');
      assert.deepEqual(lines.slice(0, 3), ['0', '0', '0']);
      for (const l of lines.slice(3, -1)) assert.match(l, /^200 /);
      assert.equal(lines.at(-1), 'Permission denied');
    });
  });

  it('a write is a synthetic uevent: an action, or an action, a UUID and KEY=VALUE pairs; anything else EINVAL', async () => {
    await withDaemon(SRIOV, async (mnt) => {
      const uuid = '2b5a7c3e-1f4d-4e6a-9b8c-0d1e2f3a4b5c';
      const files = [`${NIC}/uevent`, 'bus/pci/drivers/pcieport/uevent', 'bus/pci/uevent', 'devices/pci0000:00/uevent', 'class/iommu/dmar0/uevent'];
      const cases: Array<[string, string]> = [
        ['add', ''],
        ['change', ''],
        [`change ${uuid}`, ''],
        [`add ${uuid} KEY=value A1=b2`, ''],
        ['garbage', 'Invalid argument'],
        ['Add', 'Invalid argument'],
        ['add nonsense', 'Invalid argument'],
        [`add ${uuid} KEY`, 'Invalid argument'],
        [`add ${uuid} KEY=va-lue`, 'Invalid argument'],
        ['', 'Invalid argument'],
      ];
      const problems: string[] = [];
      for (const f of files) {
        for (const [value, error] of cases) {
          const got = await errorOf(`echo ${q(value)} > ${q(`${mnt}/${f}`)}`);
          if (got !== error) problems.push(`${f} <- "${value}": want "${error || 'success'}", got "${got || 'success'}"`);
        }
      }
      assert.deepEqual(problems, []);
      assert.match((await sh(`cat ${q(`${mnt}/${NIC}/uevent`)}`)).stdout, /^PCI_CLASS=20000\n/);
    });
  });
});

describe('enable and resource_alignment (drivers/pci/pci-sysfs.c, pci.c)', () => {
  it('enable: EBUSY with a driver, EIO disabling a disabled device, counts pci_enable_device calls', async () => {
    await withDaemon(SRIOV, async (mnt) => {
      const en = q(`${mnt}/${NIC}/enable`);
      assert.equal(await errorOf(`echo 0 > ${en}`), 'Input/output error');
      assert.equal(await errorOf(`echo maybe > ${en}`), 'Invalid argument');
      const r = await sh(`set -e; echo 1 > ${en}; cat ${en} ${q(`${mnt}/${NIC}/power_state`)}; echo yes > ${en}; cat ${en}; echo 0 > ${en}; echo 0 > ${en}; cat ${en}`);
      assert.equal(r.stderr, '');
      assert.deepEqual(r.stdout.trim().split('\n'), ['1', 'D0', '2', '0']);
      await sh(`echo 0000:02:00.0 > ${q(mnt)}/bus/pci/drivers_probe`);
      assert.match((await sh(`readlink ${q(`${mnt}/${NIC}/driver`)}`)).stdout, /e1000e/);
      assert.equal(await errorOf(`echo 1 > ${en}`), 'Device or resource busy');
      assert.equal(await errorOf(`echo 1 > ${q(`${mnt}/bus/pci/devices/0000:00:02.0/enable`)}`), 'Device or resource busy');
    });
  });

  it('resource_alignment: empty until written, keeps the first line, a long write EINVAL', async () => {
    await withDaemon(SRIOV, async (mnt) => {
      const f = q(`${mnt}/bus/pci/resource_alignment`);
      const r = await sh(`wc -c < ${f}; ${writeOnce(`${mnt}/bus/pci/resource_alignment`, `b'20@0000:02:00.0\\nrest'`)}; cat ${f}; echo > ${f}; wc -c < ${f}`);
      assert.deepEqual(r.stdout.trim().split('\n'), ['0', '20@0000:02:00.0', '0']);
      assert.equal(await errorOf(writeOnce(`${mnt}/bus/pci/resource_alignment`, `b'a' * 4095`)), 'Invalid argument');
    });
  });
});

describe('flags a PCI device keeps (drivers/pci/pci-sysfs.c)', () => {
  it('broken_parity_status, d3cold_allowed and msi_bus keep what was written; garbage is EINVAL and keeps the old value', async () => {
    await withDaemon(SRIOV, async (mnt) => {
      const r = await sh(`cd ${q(`${mnt}/${NIC}`)}
cat broken_parity_status d3cold_allowed msi_bus
echo 1 > broken_parity_status; echo 0 > d3cold_allowed; echo 0 > msi_bus
cat broken_parity_status d3cold_allowed msi_bus
echo x > broken_parity_status; echo -2 > d3cold_allowed; echo 0x > msi_bus
cat broken_parity_status d3cold_allowed msi_bus`);
      assert.deepEqual(r.stdout.trim().split('\n'), ['0', '1', '1', '1', '0', '0', '1', '0', '0']);
      assert.deepEqual(r.stderr.trim().split('\n').map((l) => l.slice(l.lastIndexOf(': ') + 2)), ['Invalid argument', 'Invalid argument', 'Invalid argument']);
    });
  });

  it('reset_method: a subset in any order, "" disables all (then reset is ENOTTY), "default" restores; unknown or repeated methods EINVAL', async () => {
    await withDaemon(SRIOV, async (mnt) => {
      const f = q(`${mnt}/bus/pci/devices/0000:03:00.0/reset_method`);
      const reset = q(`${mnt}/bus/pci/devices/0000:03:00.0/reset`);
      assert.equal(await errorOf(`echo flr flr > ${f}`), 'Invalid argument');
      assert.equal(await errorOf(`echo flr acpi > ${f}`), 'Invalid argument');
      assert.equal(await errorOf(`echo flr default > ${f}`), 'Invalid argument');
      const r = await sh(`cat ${f}; echo 'bus  flr' > ${f}; cat ${f}; echo > ${f}; wc -c < ${f}; { echo 1 > ${reset}; } 2>&1 | sed 's/.*: //'; echo default > ${f}; cat ${f}; echo 1 > ${reset} && echo reset`);
      assert.deepEqual(r.stdout.trim().split('\n'), ['flr pm bus', 'bus flr', '0', 'Inappropriate ioctl for device', 'flr pm bus', 'reset']);
    });
  });
});
