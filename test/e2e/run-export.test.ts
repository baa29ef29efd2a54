// `iommufs run` (the command in a private mount namespace over the simulated /sys) and
// `iommufs export` (the same tree as plain files), driven through the built CLI.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { RUN_DIR_PREFIX } from '../../src/cli/run';
import { isFuse, readMounts } from '../../src/fuse/mount-table';
import { CLI, TOPOLOGIES } from '../helpers/paths';
import { recording } from '../helpers/reference';
import { assertNothingMounted, q, run, sh, withDaemon, type RunResult } from './harness';

const ROOTPORTS = join(TOPOLOGIES, 'qemu-rootports.yaml');

/** Lines of `a` not in `b` and the other way round, marked by side. */
function lineDiff(a: string, b: string): string[] {
  const as = new Set(a.split('\n'));
  const bs = new Set(b.split('\n'));
  return [...[...as].filter((l) => !bs.has(l)).map((l) => `export: ${l}`), ...[...bs].filter((l) => !as.has(l)).map((l) => `mount:  ${l}`)];
}

function cli(args: string[], timeoutMs = 30_000): Promise<RunResult> {
  return run(process.execPath, [CLI, ...args], { timeoutMs });
}

/** Run directories (and FUSE mounts in them) left behind by `iommufs run`. */
async function runLeftovers(): Promise<string[]> {
  const base = join(tmpdir(), RUN_DIR_PREFIX);
  const mounts = (await readMounts()).filter((m) => isFuse(m) && m.mountpoint.startsWith(base)).map((m) => `mount ${m.mountpoint}`);
  const dirs = (await readdir(tmpdir())).filter((n) => n.startsWith(RUN_DIR_PREFIX)).map((n) => `dir ${n}`);
  return [...mounts, ...dirs];
}

async function scratch(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'iommufs-export-test-'));
}

after(assertNothingMounted);

describe('iommufs run', () => {
  afterEach(async () => assert.deepEqual(await runLeftovers(), []));

  it('exits with the command status and leaves nothing mounted', async () => {
    assert.equal((await cli(['run', ROOTPORTS, '--', 'true'])).code, 0);
    assert.equal((await cli(['run', ROOTPORTS, '--', 'false'])).code, 1);
    assert.equal((await cli(['run', ROOTPORTS, '--', 'sh', '-c', 'exit 7'])).code, 7);
    const missing = await cli(['run', ROOTPORTS, '--', 'no-such-command-iommufs']);
    assert.equal(missing.code, 127);
  });

  it('a command killed by a signal gives 128 + its number', async () => {
    const r = await cli(['run', ROOTPORTS, '--', 'sh', '-c', 'kill -TERM $$']);
    assert.equal(r.code, 143);
  });

  it('passes its stdout through, and the command sees the simulated /sys', async () => {
    const groups = Object.keys(recording('rootports').phases.boot.groups).length;
    const r = await cli(['run', ROOTPORTS, '--', 'sh', '-c', 'ls /sys/kernel/iommu_groups | wc -l; readlink /sys/bus/pci/devices/0000:01:00.0; cat /sys/kernel/iommu_groups/8/type']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${groups}\n../../../devices/pci0000:00/0000:00:02.0/0000:01:00.0\nDMA-FQ\n`);
  });

  it('gives the command /dev/vfio/vfio and leaves the rest of /dev working', async () => {
    const r = await cli(['run', ROOTPORTS, '--', 'sh', '-c', '[ -f /dev/vfio/vfio ] && echo vfio; echo ok > /dev/null && echo null; head -c 4 /dev/zero | wc -c; ls /dev/vfio']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'vfio\nnull\n4\nvfio\n');
    // The host's /dev is not changed by it.
    const host = await sh('[ -e /dev/vfio/vfio ] && [ -f /dev/vfio/vfio ] && echo fake || echo clean');
    assert.equal(host.stdout, 'clean\n');
  });

  it('/dev/vfio/<group> appears when the first device of a group binds to vfio-pci and goes when it leaves', async () => {
    // writes.json: 0000:01:00.0 is in group 8; binding it to vfio-pci made /dev/vfio/8 (0600).
    const script = [
      'ls /dev/vfio | tr "\\n" " "; echo',
      'echo vfio-pci > /sys/bus/pci/devices/0000:01:00.0/driver_override',
      'echo 0000:01:00.0 > /sys/bus/pci/drivers_probe',
      'stat -c "%a %n" /dev/vfio/8 /dev/vfio/vfio',
      'echo 0000:01:00.0 > /sys/bus/pci/drivers/vfio-pci/unbind',
      'ls /dev/vfio | tr "\\n" " "; echo',
    ].join('; ');
    const r = await cli(['run', join(TOPOLOGIES, 'qemu-writes.yaml'), '--', 'sh', '-c', script]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'vfio \n600 /dev/vfio/8\n666 /dev/vfio/vfio\nvfio \n');
  });

  it('shows a cpuinfo with the simulated vendor flag; --cpu-flags overrides the rule', async () => {
    const flags = async (topology: string, extra: string[] = []): Promise<string> => {
      const r = await cli(['run', topology, ...extra, '--', 'sh', '-c', 'for f in vmx svm; do grep -qw $f /proc/cpuinfo && printf "%s " $f; done; echo']);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.trim();
    };
    assert.equal(await flags(ROOTPORTS), 'vmx');
    assert.equal(await flags(join(TOPOLOGIES, 'amd-x570-desktop.yaml')), 'svm');
    assert.equal(await flags(ROOTPORTS, ['--cpu-flags', 'svm,-vmx']), 'svm');
    // '' keeps the host's own file.
    const host = await sh('md5sum < /proc/cpuinfo');
    const inside = await cli(['run', ROOTPORTS, '--cpu-flags', '', '--', 'sh', '-c', 'md5sum < /proc/cpuinfo']);
    assert.equal(inside.stdout, host.stdout);
  });

  it('passes SIGTERM on to the command, then unmounts', async () => {
    const child = spawn(process.execPath, [CLI, 'run', ROOTPORTS, '--', 'sh', '-c', 'echo ready; exec sleep 30'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const status = new Promise<number | null>((res) => child.on('close', (code) => res(code)));
    await new Promise<void>((res, rej) => {
      const timer = setTimeout(() => rej(new Error('no "ready" within 10 s')), 10_000);
      child.stdout.on('data', (b: Buffer) => {
        if (b.toString().includes('ready')) {
          clearTimeout(timer);
          res();
        }
      });
    });
    child.kill('SIGTERM');
    assert.equal(await status, 143);
  });

  it('refuses bad usage with exit 2 and mounts nothing', async () => {
    const noSep = await cli(['run', ROOTPORTS, 'true']);
    assert.equal(noSep.code, 2);
    assert.match(noSep.stderr, /expected -- before the command/);
    assert.equal((await cli(['run', ROOTPORTS, '--'])).code, 2);
    const dir = await scratch();
    try {
      await writeFile(join(dir, 'bad.yaml'), 'version: 1\nname: x\npci: 7\n');
      const bad = await cli(['run', join(dir, 'bad.yaml'), '--', 'true']);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /bad\.yaml:\d+:\d+:/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('iommufs export', () => {
  it('writes the mounted tree as files: same names, types, modes, link targets and contents', async () => {
    const dir = await scratch();
    try {
      const target = join(dir, 'sys');
      const r = await cli(['export', ROOTPORTS, target]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^exported .*: \d+ directories, \d+ files, \d+ links\n$/);
      await withDaemon(ROOTPORTS, async (mnt) => {
        // type, permission bits, path, link target (file sizes differ by design: sysfs says 4096).
        const listing = (root: string): string => `cd ${q(root)} && find . -printf '%y %m %p %l\\n' | LC_ALL=C sort`;
        const [ours, exported] = await Promise.all([sh(listing(mnt), { timeoutMs: 60_000 }), sh(listing(target), { timeoutMs: 60_000 })]);
        assert.equal(ours.code, 0, ours.stderr);
        assert.ok(ours.stdout.split('\n').length > 1000);
        assert.equal(exported.stdout, ours.stdout);
        // The content of every readable attribute (write-only ones refuse reads on the mount,
        // EACCES as in sysfs, and are empty in the export; so are power/autosuspend_delay_ms
        // and the BAR files, whose reads fail on the mount as in sysfs, checked below; `rom`
        // too, EINVAL until enabled; the events file reads like trace_pipe on the mount,
        // waiting for the next event, and is empty in the export).
        const contents = (root: string): string =>
          `cd ${q(root)} && find . -type f -perm -u=r ! -name autosuspend_delay_ms ! -name 'resource[0-9]*' ! -name rom ! -path ./kernel/debug/iommufs/events -print0 | LC_ALL=C sort -z | xargs -0 md5sum`;
        const [oursC, exportedC] = await Promise.all([sh(contents(mnt), { timeoutMs: 60_000 }), sh(contents(target), { timeoutMs: 60_000 })]);
        assert.equal(oursC.code, 0, oursC.stderr);
        assert.equal(oursC.stderr, '');
        assert.ok(oursC.stdout.split('\n').length > 1000);
        assert.deepEqual(lineDiff(exportedC.stdout, oursC.stdout), []);
        const eio = await sh(`cat ${q(mnt)}/bus/pci/devices/0000:01:00.0/power/autosuspend_delay_ms; cat ${q(target)}/bus/pci/devices/0000:01:00.0/power/autosuspend_delay_ms | wc -c`);
        assert.match(eio.stderr, /Input\/output error/);
        assert.equal(eio.stdout, '0\n');
        const bar = await sh(`cat ${q(mnt)}/bus/pci/devices/0000:01:00.0/resource0; cat ${q(target)}/bus/pci/devices/0000:01:00.0/resource0 | wc -c`);
        assert.match(bar.stderr, /Input\/output error/);
        assert.equal(bar.stdout, '0\n');
      });
      // A write-only attribute is an empty file with its mode; a readable one holds its text.
      const wo = await sh(`stat -c '%a %s' ${q(target)}/bus/pci/rescan ${q(target)}/bus/pci/devices/0000:01:00.0/power/autosuspend_delay_ms; cat ${q(target)}/bus/pci/devices/0000:01:00.0/vendor`);
      assert.equal(wo.stdout, '200 0\n644 0\n0x8086\n');
      // The export is a tree lspci can read like the mount.
      const nn = await run('lspci', ['-O', `sysfs.path=${target}/bus/pci`, '-nn']);
      assert.equal(nn.code, 0);
      assert.equal(nn.stdout.trim().split('\n').length, Object.keys(recording('rootports').phases.boot.devices).length);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a non-empty directory or a file with exit 1, and bad input with 2', async () => {
    const dir = await scratch();
    try {
      await writeFile(join(dir, 'keep'), 'x');
      const full = await cli(['export', ROOTPORTS, dir]);
      assert.equal(full.code, 1);
      assert.match(full.stderr, /is not empty/);
      assert.deepEqual(await readdir(dir), ['keep']);
      const file = await cli(['export', ROOTPORTS, join(dir, 'keep')]);
      assert.equal(file.code, 1);
      assert.match(file.stderr, /is not a directory/);
      assert.equal((await cli(['export', ROOTPORTS])).code, 2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
