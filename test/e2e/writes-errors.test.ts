// Every writable attribute against bad input, on a real mount: the errno text the writer
// sees (what bash's `echo` prints after "write error:", or the open error), and a dump of
// the machine's visible state unchanged after each refusal. Then the ways a write arrives
// (echo, printf without newline, O_TRUNC, Python's append mode at offset 4096, a trailing
// NUL, a lone NUL, a lone newline: docs/clients.md §0 item 6, §4 C19), and
// the state right after a write (unbind, remove, rescan).
//
// Errnos come from the recordings (writes.json, sriov.json) where they exist; the rest
// from the kernel functions each row names.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { assertNothingMounted, q, sh, withDaemon } from './harness';
import { TOPOLOGIES } from '../helpers/paths';

after(assertNothingMounted);

const EINVAL = 'Invalid argument';
const ENODEV = 'No such device';
const EBUSY = 'Device or resource busy';
const EEXIST = 'File exists';
const ERANGE = 'Numerical result out of range';
const ENOENT = 'No such file or directory';
const EACCES = 'Permission denied';

/**
 * What the machine shows: group types and members, each driver's bound devices (the
 * `bus/pci/drivers/<drv>/<bdf>` links), drivers_autoprobe, and the text of `files`.
 * With `full`, also every device's `driver` link, driver_override and numa_node (slower:
 * a FUSE lookup per device directory), taken before and after a whole table of cases.
 */
async function dump(mnt: string, files: string[], full = false): Promise<string> {
  const extra = full
    ? `find -H bus/pci/devices/* -maxdepth 1 -name driver -printf '%p %l\\n'
grep -H '' bus/pci/devices/*/driver_override bus/pci/devices/*/numa_node`
    : '';
  const r = await sh(`cd ${q(mnt)} || exit 1
find kernel/iommu_groups bus/pci/drivers -mindepth 2 -maxdepth 3 -type l -printf '%p %l\\n'
grep -H '' bus/pci/drivers_autoprobe kernel/iommu_groups/*/type ${files.map(q).join(' ')}
${extra}`);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

interface Outcome {
  /** The errno text of a refused write or open; '' when the write succeeded. */
  error: string;
}

/** Runs a writing shell command and reduces bash's message to the errno text. */
async function attempt(script: string): Promise<Outcome> {
  const r = await sh(script);
  const msg = r.stderr.trim();
  if (r.code === 0) {
    assert.equal(msg, '', `succeeded but printed ${msg}`);
    return { error: '' };
  }
  // "bash: line 1: echo: write error: X" or "bash: line 1: /path: X" (open) or Python's strerror.
  const m = /write error: (.*)$/.exec(msg) ?? /: ([^:]+)$/.exec(msg);
  return { error: m ? m[1]! : msg };
}

/** `echo <data> > file` (the data unquoted by the shell, as in the recordings). */
const echo = (mnt: string, rel: string, data: string): string => `echo ${data} > ${q(`${mnt}/${rel}`)}`;
/** printf with escapes (\0, \n) and no implicit newline. */
const printf = (mnt: string, rel: string, fmt: string): string => `printf '${fmt}' > ${q(`${mnt}/${rel}`)}`;

interface Case {
  what: string;
  file: string;
  /** The shell command, given the mount. */
  cmd: (mnt: string, file: string) => string;
  error: string;
  source: string;
}

const e = (data: string) => (mnt: string, file: string): string => echo(mnt, file, data);
const p = (fmt: string) => (mnt: string, file: string): string => printf(mnt, file, fmt);

const DEV = 'bus/pci/devices/0000:01:00.0';
const OTHER = 'bus/pci/devices/0000:04:00.0';

/** qemu-writes with e1000e bound to 0000:01:00.0 (group 8) and nothing else changed. */
const WRITES_CASES: Case[] = [
  // group type: iommu.c iommu_group_store_type.
  { what: 'garbage', file: 'kernel/iommu_groups/8/type', cmd: e('garbage'), error: EINVAL, source: 'writes.json #11' },
  { what: 'empty', file: 'kernel/iommu_groups/8/type', cmd: e(''), error: EINVAL, source: 'writes.json #14' },
  { what: 'wrong case', file: 'kernel/iommu_groups/8/type', cmd: e('IDENTITY'), error: EINVAL, source: 'sriov.json "type=IDENTITY (case)"' },
  { what: 'blocked (not writable)', file: 'kernel/iommu_groups/8/type', cmd: e('blocked'), error: EINVAL, source: 'writes.json #12' },
  { what: 'unmanaged (not writable)', file: 'kernel/iommu_groups/8/type', cmd: e('unmanaged'), error: EINVAL, source: 'writes.json #13' },
  { what: 'identity with the driver bound', file: 'kernel/iommu_groups/8/type', cmd: e('identity'), error: EBUSY, source: 'writes.json #3' },
  { what: 'DMA with the driver bound', file: 'kernel/iommu_groups/8/type', cmd: e('DMA'), error: EBUSY, source: 'sriov.json "type=DMA with driver bound"' },
  { what: 'identity on a two-device group', file: 'kernel/iommu_groups/10/type', cmd: e('identity'), error: EINVAL, source: 'writes.json #17' },
  { what: 'a read-only file', file: 'kernel/iommu_groups/8/reserved_regions', cmd: e('x'), error: EACCES, source: 'sriov.json "reserved_regions write"' },
  { what: 'a file that does not exist', file: 'kernel/iommu_groups/8/name', cmd: e('x'), error: EACCES, source: 'sriov.json "create file in group dir"' },
  // bind: bus.c bind_store.
  { what: 'garbage', file: 'bus/pci/drivers/e1000e/bind', cmd: e('garbage'), error: ENODEV, source: 'writes.json #23' },
  { what: 'empty', file: 'bus/pci/drivers/e1000e/bind', cmd: e(''), error: ENODEV, source: 'bind_store: no device of that name' },
  { what: 'a device that does not exist', file: 'bus/pci/drivers/e1000e/bind', cmd: e('0000:09:00.0'), error: ENODEV, source: 'writes.json #22' },
  { what: 'a device already bound', file: 'bus/pci/drivers/e1000e/bind', cmd: e('0000:01:00.0'), error: EBUSY, source: 'writes.json #20' },
  { what: 'a device the driver does not match', file: 'bus/pci/drivers/e1000e/bind', cmd: e('0000:03:00.0'), error: ENODEV, source: 'sriov.json "bind a device of another driver"' },
  { what: 'vfio-pci without an override', file: 'bus/pci/drivers/vfio-pci/bind', cmd: e('0000:04:00.0'), error: ENODEV, source: 'writes.json #21' },
  // unbind: bus.c unbind_store.
  { what: 'a device bound to no driver', file: 'bus/pci/drivers/e1000e/unbind', cmd: e('0000:04:00.0'), error: ENODEV, source: 'writes.json #6' },
  { what: 'a device bound to another driver', file: 'bus/pci/drivers/vfio-pci/unbind', cmd: e('0000:01:00.0'), error: ENODEV, source: 'writes.json #25' },
  { what: 'a device that does not exist', file: 'bus/pci/drivers/e1000e/unbind', cmd: e('0000:09:00.0'), error: ENODEV, source: 'writes.json #24' },
  { what: 'garbage', file: 'bus/pci/drivers/e1000e/unbind', cmd: e('garbage'), error: ENODEV, source: 'unbind_store: no device of that name' },
  // drivers_probe: bus.c drivers_probe_store.
  { what: 'a device that does not exist', file: 'bus/pci/drivers_probe', cmd: e('0000:99:1f.7'), error: ENODEV, source: 'sriov.json "drivers_probe nonexistent"' },
  { what: 'garbage', file: 'bus/pci/drivers_probe', cmd: e('garbage'), error: ENODEV, source: 'drivers_probe_store: no device of that name' },
  // new_id / remove_id: pci-driver.c new_id_store, remove_id_store.
  { what: 'garbage', file: 'bus/pci/drivers/vfio-pci/new_id', cmd: e("'zz'"), error: EINVAL, source: 'writes.json #37' },
  { what: 'one field', file: 'bus/pci/drivers/vfio-pci/new_id', cmd: e("'8086'"), error: EINVAL, source: 'new_id_store: fewer than 2 fields' },
  { what: 'empty', file: 'bus/pci/drivers/vfio-pci/new_id', cmd: e(''), error: EINVAL, source: 'new_id_store: fewer than 2 fields' },
  { what: 'an ID the static table has', file: 'bus/pci/drivers/e1000e/new_id', cmd: e("'8086 10d3'"), error: EEXIST, source: 'new_id_store: pci_match_id on the static table' },
  { what: 'an ID that was never added', file: 'bus/pci/drivers/vfio-pci/remove_id', cmd: e("'1af4 1005'"), error: ENODEV, source: 'writes.json #39' },
  { what: 'garbage', file: 'bus/pci/drivers/vfio-pci/remove_id', cmd: e("'zz'"), error: EINVAL, source: 'remove_id_store: fewer than 2 fields' },
  // driver_override: driver.c driver_set_override.
  { what: 'PAGE_SIZE - 1 bytes', file: `${DEV}/driver_override`, cmd: (mnt, f) => `printf 'a%.0s' {1..4095} > ${q(`${mnt}/${f}`)}`, error: EINVAL, source: 'driver_set_override: len >= PAGE_SIZE - 1' },
  // numa_node: pci-sysfs.c numa_node_store.
  { what: 'a node that is not online', file: `${DEV}/numa_node`, cmd: e('5'), error: EINVAL, source: 'writes.json #50' },
  { what: 'garbage', file: `${DEV}/numa_node`, cmd: e('x'), error: EINVAL, source: 'numa_node_store: kstrtoint' },
  // remove / rescan / reset: pci-sysfs.c.
  { what: 'garbage', file: `${OTHER}/remove`, cmd: e('x'), error: EINVAL, source: 'writes.json #42' },
  { what: 'empty', file: `${OTHER}/remove`, cmd: e(''), error: EINVAL, source: 'remove_store: kstrtoul' },
  { what: 'garbage', file: 'bus/pci/rescan', cmd: e('x'), error: EINVAL, source: 'rescan_store: kstrtoul' },
  { what: 'garbage', file: `${OTHER}/rescan`, cmd: e('x'), error: EINVAL, source: 'dev_rescan_store: kstrtoul' },
  { what: 'a value other than 1', file: `${DEV}/reset`, cmd: e('2'), error: EINVAL, source: 'reset_store: val != 1' },
  { what: 'garbage', file: `${DEV}/reset`, cmd: e('x'), error: EINVAL, source: 'reset_store: kstrtoul' },
  // read-only and missing files.
  { what: 'a read-only file', file: `${DEV}/vendor`, cmd: e('1'), error: EACCES, source: 'writes.json #49' },
  { what: 'a read-only file', file: `${DEV}/class`, cmd: e('1'), error: EACCES, source: 'kernfs_fop_open: no write op' },
  { what: 'a file that does not exist', file: 'kernel/iommu_groups/0/devices/0000:00:00.0/nonexistent', cmd: e('1'), error: EACCES, source: 'writes.json #48' },
  { what: 'sriov_numvfs on a device without SR-IOV', file: `${DEV}/sriov_numvfs`, cmd: e('1'), error: EACCES, source: 'sriov.json "driver_override on nonexistent attr write"' },
  // Python's append mode writes at offset 4096; the refusal still reaches the writer.
  { what: 'garbage in append mode (Python "a")', file: 'kernel/iommu_groups/8/type', cmd: (mnt, f) => python(`${mnt}/${f}`, 'a', 'garbage'), error: EINVAL, source: 'clients.md §0 item 6' },
  { what: 'garbage with O_APPEND (bash >>)', file: 'bus/pci/drivers/e1000e/bind', cmd: (mnt, f) => `printf garbage >> ${q(`${mnt}/${f}`)}`, error: ENODEV, source: 'clients.md C19' },
  { what: 'garbage without newline', file: 'kernel/iommu_groups/8/type', cmd: p('garbage'), error: EINVAL, source: 'sysfs_streq' },
];

/** qemu-sriov with nvme bound to the PF 0000:01:00.0 and no VFs. */
const PF = 'bus/pci/devices/0000:01:00.0';
const SRIOV_CASES: Case[] = [
  // iov.c sriov_numvfs_store.
  { what: 'more than sriov_totalvfs', file: `${PF}/sriov_numvfs`, cmd: e('99'), error: ERANGE, source: 'sriov.json "numvfs=99"' },
  { what: 'sriov_totalvfs + 1', file: `${PF}/sriov_numvfs`, cmd: e('5'), error: ERANGE, source: 'sriov.json "numvfs=5"' },
  { what: 'hex above sriov_totalvfs', file: `${PF}/sriov_numvfs`, cmd: e('0x10'), error: ERANGE, source: 'kstrtou16 base 0' },
  { what: 'garbage', file: `${PF}/sriov_numvfs`, cmd: e('abc'), error: EINVAL, source: 'sriov.json "numvfs=abc"' },
  { what: 'negative', file: `${PF}/sriov_numvfs`, cmd: e('-1'), error: EINVAL, source: 'sriov.json "numvfs=-1"' },
  { what: 'empty', file: `${PF}/sriov_numvfs`, cmd: e(''), error: EINVAL, source: 'kstrtou16' },
  { what: 'above u16', file: `${PF}/sriov_numvfs`, cmd: e('65536'), error: EINVAL, source: 'kstrtou16 overflow' },
  { what: 'a PF without a driver', file: 'bus/pci/devices/0000:02:00.0/sriov_numvfs', cmd: e('1'), error: EACCES, source: 'no SR-IOV capability: no such attribute' },
  { what: 'garbage', file: `${PF}/sriov_drivers_autoprobe`, cmd: e('maybe'), error: EINVAL, source: 'sriov_drivers_autoprobe_store: kstrtobool' },
  { what: 'a read-only file', file: `${PF}/sriov_totalvfs`, cmd: e('2'), error: EACCES, source: 'sriov.json "sriov_totalvfs write"' },
];

function python(path: string, mode: 'a' | 'w', data: string): string {
  const code = `import sys\ntry:\n  f = open(${JSON.stringify(path)}, ${JSON.stringify(mode)})\n  f.write(${JSON.stringify(data)})\n  f.close()\nexcept OSError as e:\n  sys.stderr.write("python: " + e.strerror + "\\n"); sys.exit(1)`;
  return `python3 -c ${q(code)}`;
}

async function runCases(mnt: string, cases: Case[], watched: string[]): Promise<void> {
  const fullBefore = await dump(mnt, watched, true);
  const before = await dump(mnt, watched);
  const problems: string[] = [];
  for (const c of cases) {
    const got = await attempt(c.cmd(mnt, c.file));
    const label = `${c.file}: ${c.what} [${c.source}]`;
    if (got.error !== c.error) problems.push(`${label}: want "${c.error}", got "${got.error || 'success'}"`);
    const now = await dump(mnt, watched);
    if (now !== before) {
      problems.push(`${label}: the state changed\n--- before\n${before}--- after\n${now}`);
      break;
    }
  }
  assert.deepEqual(problems, []);
  assert.equal(await dump(mnt, watched, true), fullBefore);
}

describe('refused writes give the kernel errno and change nothing', () => {
  it(`qemu-writes: ${WRITES_CASES.length} bad writes to type, bind, unbind, drivers_probe, new_id, remove_id, driver_override, numa_node, remove, rescan, reset and read-only files`, async () => {
    await withDaemon(join(TOPOLOGIES, 'qemu-writes.yaml'), async (mnt) => {
      const setup = await sh(`echo 0000:01:00.0 > ${q(mnt)}/bus/pci/drivers_probe && readlink ${q(`${mnt}/${DEV}/driver`)}`);
      assert.equal(setup.stdout.trim(), '../../../../bus/pci/drivers/e1000e');
      await runCases(mnt, WRITES_CASES, [`${DEV}/driver_override`, `${DEV}/numa_node`, `${OTHER}/driver_override`, 'bus/pci/devices/0000:03:00.0/driver_override']);
    });
  });

  it(`qemu-sriov: ${SRIOV_CASES.length} bad writes to sriov_numvfs, sriov_drivers_autoprobe and sriov_totalvfs`, async () => {
    await withDaemon(join(TOPOLOGIES, 'qemu-sriov.yaml'), async (mnt) => {
      // With no PF driver, a real count is refused with ENOENT (sriov.json "numvfs=2, no driver bound")...
      assert.deepEqual(await attempt(echo(mnt, `${PF}/sriov_numvfs`, '2')), { error: ENOENT });
      // ... while the current count is accepted as a no-op even without a driver (iov.c: num_vfs == current first).
      assert.deepEqual(await attempt(echo(mnt, `${PF}/sriov_numvfs`, '0')), { error: '' });
      const setup = await sh(`echo 0000:01:00.0 > ${q(mnt)}/bus/pci/drivers_probe && readlink ${q(`${mnt}/${PF}/driver`)}`);
      assert.equal(setup.stdout.trim(), '../../../../bus/pci/drivers/nvme');
      await runCases(mnt, SRIOV_CASES, [`${PF}/sriov_numvfs`, `${PF}/sriov_drivers_autoprobe`, `${PF}/driver_override`]);
    });
  });
});

describe('the shapes a write arrives in (clients.md §0 item 6, C19)', () => {
  it('driver_override: echo, printf, O_TRUNC, Python append at 4096, trailing NUL, lone NUL, lone newline', async () => {
    await withDaemon(join(TOPOLOGIES, 'qemu-writes.yaml'), async (mnt) => {
      const file = `${mnt}/${DEV}/driver_override`;
      const read = async (): Promise<string> => (await sh(`cat ${q(file)}`)).stdout;
      const shapes: Array<[string, string, string]> = [
        ['echo (newline, O_TRUNC)', `echo vfio-pci > ${q(file)}`, 'vfio-pci\n'],
        ['lone newline (driverctl)', `echo > ${q(file)}`, '(null)\n'],
        ['printf without newline', `printf pci-stub > ${q(file)}`, 'pci-stub\n'],
        ['lone NUL (dpdk-devbind)', `printf '\\0' > ${q(file)}`, '(null)\n'],
        ['Python "a": O_APPEND at offset 4096', python(file, 'a', 'vfio-pci'), 'vfio-pci\n'],
        ['trailing NUL', `printf 'x\\0' > ${q(file)}`, 'x\n'],
        ['Python "w": O_TRUNC then write', python(file, 'w', ''), 'x\n'],
        ['Python "w" with a value', python(file, 'w', 'e1000e\n'), 'e1000e\n'],
        ['bash >> (O_APPEND)', `printf '\\n' >> ${q(file)}`, '(null)\n'],
      ];
      const problems: string[] = [];
      for (const [what, cmd, want] of shapes) {
        const r = await sh(cmd);
        const got = await read();
        if (r.code !== 0 || got !== want) problems.push(`${what}: rc ${r.code} ${r.stderr.trim()} read ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
      }
      assert.deepEqual(problems, []);
    });
  });

  it('group type, bind and unbind: the same value with and without newline, in append mode', async () => {
    await withDaemon(join(TOPOLOGIES, 'qemu-writes.yaml'), async (mnt) => {
      const type = `${mnt}/kernel/iommu_groups/8/type`;
      const drv = `${mnt}/${DEV}/driver`;
      const r = await sh(`set -e
printf identity > ${q(type)}; cat ${q(type)}
${python(type, 'a', 'DMA\n')}; cat ${q(type)}
printf 'DMA-FQ\\0' > ${q(type)}; cat ${q(type)}
printf 0000:01:00.0 > ${q(mnt)}/bus/pci/drivers/e1000e/bind; readlink ${q(drv)}
${python(`${mnt}/bus/pci/drivers/e1000e/unbind`, 'a', '0000:01:00.0')}; [ -L ${q(drv)} ] && echo bound || echo unbound
printf '0000:01:00.0\\n' >> ${q(mnt)}/bus/pci/drivers_probe; readlink ${q(drv)}`);
      assert.equal(r.stderr, '');
      assert.deepEqual(r.stdout.trim().split('\n'), ['identity', 'DMA', 'DMA-FQ', '../../../../bus/pci/drivers/e1000e', 'unbound', '../../../../bus/pci/drivers/e1000e']);
    });
  });
});

describe('the state right after a write (clients.md C20; writes.json #44-#46)', () => {
  it('unbind: the driver link and the driver directory entry are gone at once', async () => {
    await withDaemon(join(TOPOLOGIES, 'qemu-writes.yaml'), async (mnt) => {
      const m = q(mnt);
      const r = await sh(`echo 0000:01:00.0 > ${m}/bus/pci/drivers_probe
[ -L ${m}/${DEV}/driver ] && echo linked
ls ${m}/bus/pci/drivers/e1000e | grep -c 0000:01:00.0
echo 0000:01:00.0 > ${m}/bus/pci/drivers/e1000e/unbind
[ -L ${m}/${DEV}/driver ] && echo linked || echo no-link
ls ${m}/bus/pci/drivers/e1000e | grep -c 0000:01:00.0
grep -c DRIVER= ${m}/${DEV}/uevent`);
      assert.deepEqual(r.stdout.trim().split('\n'), ['linked', '1', 'no-link', '0', '0']);
    });
  });

  it('remove: no group lists the device, its own group is gone, everything below a removed bridge goes too', async () => {
    await withDaemon(join(TOPOLOGIES, 'qemu-writes.yaml'), async (mnt) => {
      const m = q(mnt);
      const r = await sh(`cd ${m}
ls -d kernel/iommu_groups/9 >/dev/null && echo group9
echo 1 > bus/pci/devices/0000:02:00.0/remove
echo 1 > bus/pci/devices/0000:00:05.1/remove
ls kernel/iommu_groups/*/devices | grep -c -E '0000:(02:00.0|00:05.1|05:00.0)'
ls kernel/iommu_groups | sort -n | tr '\\n' ' '; echo
ls bus/pci/devices | grep -c -E '0000:(02:00.0|00:05.1|05:00.0)'
[ -e kernel/iommu_groups/9 ] && echo group9 || echo no-group9
[ -e devices/pci0000:00/0000:00:05.1 ] && echo dir || echo no-dir`);
      assert.deepEqual(r.stdout.trim().split('\n'), ['group9', '0', '0 1 2 3 4 6 7 8 10 11 13 ', '0', 'no-group9', 'no-dir']);
    });
  });

  it('rescan: devices come back with the lowest free group numbers, not their old ones', async () => {
    await withDaemon(join(TOPOLOGIES, 'qemu-writes.yaml'), async (mnt) => {
      const m = q(mnt);
      // 01:00.0 (group 8) and 04:00.0 (group 11) go; rescanning only bus 04 gives 04:00.0 the
      // lowest free number, 8; the full rescan then gives 01:00.0 the next free one, 11.
      const r = await sh(`cd ${m}
echo 1 > bus/pci/devices/0000:01:00.0/remove
echo 1 > bus/pci/devices/0000:04:00.0/remove
ls kernel/iommu_groups | sort -n | tr '\\n' ' '; echo
echo 1 > bus/pci/devices/0000:00:05.0/pci_bus/0000:04/rescan
readlink bus/pci/devices/0000:04:00.0/iommu_group
ls kernel/iommu_groups/8/devices
echo 1 > bus/pci/rescan
readlink bus/pci/devices/0000:01:00.0/iommu_group
ls kernel/iommu_groups | sort -n | tr '\\n' ' '; echo`);
      assert.equal(r.stderr, '');
      assert.deepEqual(r.stdout.trim().split('\n'), [
        '0 1 2 3 4 5 6 7 9 10 12 13 ',
        '../../../../kernel/iommu_groups/8',
        '0000:04:00.0',
        '../../../../kernel/iommu_groups/11',
        '0 1 2 3 4 5 6 7 8 9 10 11 12 13',
      ]);
    });
  });
});
