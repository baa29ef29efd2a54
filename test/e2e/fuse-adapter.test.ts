// The FUSE adapter against real tools: the fixture tree is mounted in this process
// and driven only through child processes (see harness.ts for why).

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { mountSysfs, type MountHandle } from '../../src/fuse';
import { isFuseMounted } from '../../src/fuse/mount-table';
import { buildFixture, BDF, DEVICE_DIR, type Fixture } from './fixtures-tree';
import {
  assertNothingMounted,
  forceUnmount,
  makeMountDir,
  q,
  run,
  sh,
  startDaemon,
  stopDaemon,
  withDaemonProcess,
  withMount,
} from './harness';

const FIXTURE_JS = join(__dirname, 'fixtures-tree.js');

after(assertNothingMounted);

describe('a mounted fixture tree', () => {
  let fx: Fixture;
  let handle: MountHandle;
  let mnt = '';
  const logged: string[] = [];
  const dev = (name = ''): string => join(mnt, DEVICE_DIR, name);

  before(async () => {
    fx = buildFixture();
    mnt = await makeMountDir();
    handle = await mountSysfs(fx.tree, mnt, { log: (m) => logged.push(m) });
  });
  after(async () => {
    await handle?.unmount();
    await forceUnmount(mnt);
    await run('rmdir', [mnt]);
  });

  describe('stat and listing', () => {
    it('ls -la shows sysfs modes, 4096-byte text attributes, the real size of config and link targets', async () => {
      const r = await sh(`ls -la --time-style=+ ${q(dev())}`);
      assert.equal(r.code, 0, r.stderr);
      const lines = new Map(
        r.stdout
          .trim()
          .split('\n')
          .slice(1)
          .map((l) => {
            const f = l.split(/\s+/);
            // --time-style=+ prints an empty date, so the name follows the size.
            return [f.slice(5).join(' '), `${f[0]} ${f[1]} ${f[2]} ${f[3]} ${f[4]}`] as [string, string];
          }),
      );
      assert.equal(lines.get('vendor'), '-r--r--r-- 1 root root 4096');
      assert.equal(lines.get('driver_override'), '-rw-r--r-- 1 root root 4096');
      assert.equal(lines.get('remove'), '--w------- 1 root root 4096');
      assert.equal(lines.get('config'), '-rw-r--r-- 1 root root 256');
      assert.equal(lines.get('power'), 'drwxr-xr-x 2 root root 0');
      assert.equal(lines.get('.'), 'drwxr-xr-x 3 root root 0');
      assert.equal(lines.get('driver -> ../../../bus/pci/drivers/igb'), 'lrwxrwxrwx 1 root root 0');
      assert.equal(lines.get('iommu_group -> ../../../kernel/iommu_groups/0'), 'lrwxrwxrwx 1 root root 0');
    });

    it('a directory has nlink = 2 + its subdirectories (virt-host-validate reads it)', async () => {
      const paths = ['', 'kernel/iommu_groups', 'kernel/iommu_groups/1/devices', DEVICE_DIR, 'bus/pci/devices'];
      const r = await run('stat', ['-c', '%h', ...paths.map((p) => join(mnt, p))]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.stdout.trim().split('\n'), ['5', '4', '2', '3', '2']);
    });

    it('every node shows the same time, owner root', async () => {
      const r = await run('stat', ['-c', '%U:%G %Y %Z', dev('vendor'), dev('driver'), mnt]);
      const lines = r.stdout.trim().split('\n');
      assert.equal(new Set(lines).size, 1, r.stdout);
      assert.match(lines[0] ?? '', /^root:root \d+ \d+$/);
    });

    it("readdir lists '.' and '..' once each, then the entries", async () => {
      const r = await run('ls', ['-a1', join(mnt, 'kernel/iommu_groups')]);
      assert.deepEqual(r.stdout.trim().split('\n'), ['.', '..', '0', '1']);
    });

    it('find -type l lists exactly the symlinks', async () => {
      const r = await sh(`cd ${q(mnt)} && find . -type l | sort`);
      assert.deepEqual(r.stdout.trim().split('\n'), [
        `./bus/pci/devices/${BDF}`,
        `./bus/pci/drivers/igb/${BDF}`,
        `./${DEVICE_DIR}/driver`,
        `./${DEVICE_DIR}/iommu_group`,
        `./kernel/iommu_groups/0/devices/${BDF}`,
      ]);
    });

    it('readlink gives relative targets that resolve inside the mount', async () => {
      const link = join(mnt, 'bus/pci/devices', BDF);
      const r = await run('readlink', [link]);
      assert.equal(r.stdout, `../../../devices/pci0000:00/${BDF}\n`);
      const f = await run('readlink', ['-f', join(link, 'iommu_group')]);
      assert.equal(f.stdout, `${join(mnt, 'kernel/iommu_groups/0')}\n`);
    });

    it('a missing name is ENOENT and a path through a file is ENOTDIR', async () => {
      const r = await run('cat', [dev('nope'), dev('vendor/x')]);
      assert.match(r.stderr, /nope'?: No such file or directory/);
      assert.match(r.stderr, /vendor\/x'?: Not a directory/);
    });
  });

  describe('reads', () => {
    it('cat prints the attribute text exactly', async () => {
      const r = await run('cat', [dev('vendor'), dev('class')]);
      assert.equal(r.stdout, '0x8086\n0x020000\n');
    });

    it('a reader reading in 2-byte pieces sees one text; the next open sees a fresh show()', async () => {
      const first = await run('dd', [`if=${dev('counter')}`, 'bs=2', 'status=none']);
      const second = await run('dd', [`if=${dev('counter')}`, 'bs=2', 'status=none']);
      assert.match(first.stdout, /^show-\d{4}\n$/);
      assert.match(second.stdout, /^show-\d{4}\n$/);
      assert.notEqual(first.stdout, second.stdout);
    });

    it('the binary config attribute is read at the requested offsets', async () => {
      const all = await run('cat', [dev('config')]);
      assert.equal(all.raw.length, 256);
      assert.equal(all.raw[200], 200);
      const piece = await run('python3', ['-c', 'import sys; f=open(sys.argv[1],"rb"); f.seek(100); print(f.read(10).hex())', dev('config')]);
      assert.equal(piece.stdout.trim(), Buffer.from([100, 101, 102, 103, 104, 105, 106, 107, 108, 109]).toString('hex'));
    });

    it('100 parallel cats of a short attribute are never NUL-padded (direct_io, pitfall #8)', async () => {
      const results = await Promise.all(Array.from({ length: 100 }, () => run('cat', [dev('vendor')])));
      for (const r of results) assert.deepEqual(r.raw, Buffer.from('0x8086\n'));
    });

    it('a changed value is seen by the very next read (no page or attr cache, pitfall #9)', async () => {
      fx.state.volatile = 'before';
      assert.equal((await run('cat', [dev('volatile')])).stdout, 'before\n');
      fx.state.volatile = 'after, and longer';
      assert.equal((await run('cat', [dev('volatile')])).stdout, 'after, and longer\n');
    });

    it('a link that disappears is gone at once, from both ends, and comes back at once', async () => {
      const check = `[ -L ${q(dev('driver'))} ] && echo link || echo none; LC_ALL=C ls ${q(join(mnt, 'bus/pci/drivers/igb'))} | tr '\\n' ' '`;
      assert.equal((await sh(check)).stdout, `link\n${BDF} bind unbind `);
      fx.state.bound = false;
      assert.equal((await sh(check)).stdout, 'none\nbind unbind ');
      const lstat = await run('stat', [dev('driver')]);
      assert.match(lstat.stderr, /No such file or directory/);
      fx.state.bound = true;
      assert.equal((await sh(check)).stdout, `link\n${BDF} bind unbind `);
    });
  });

  describe('writes', () => {
    const lastWrite = (): { attr: string; value: string; offset: number } | undefined => fx.state.writes.at(-1);

    it('echo x > attr (O_TRUNC, so a truncate first) hands "x\\n" to store at offset 0', async () => {
      const r = await sh(`echo vfio-pci > ${q(dev('driver_override'))}`);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(lastWrite(), { attr: 'driver_override', value: 'vfio-pci\n', offset: 0 });
      assert.equal((await run('cat', [dev('driver_override')])).stdout, 'vfio-pci\n');
    });

    it('printf x >> attr (O_APPEND) arrives at offset 4096 and is stored', async () => {
      const r = await sh(`printf igb >> ${q(dev('driver_override'))}`);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(lastWrite(), { attr: 'driver_override', value: 'igb', offset: 4096 });
      assert.equal(fx.state.override, 'igb');
    });

    it("python's open(p, 'a').write() works as dpdk-devbind uses it", async () => {
      const r = await run('python3', ['-c', 'import sys; f=open(sys.argv[1],"a"); f.write(sys.argv[2]); f.close()', join(mnt, 'bus/pci/drivers/igb/unbind'), BDF]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(lastWrite(), { attr: 'unbind', value: BDF, offset: 4096 });
    });

    it("a single NUL written with python's 'w' reaches store (dpdk-devbind clears overrides so)", async () => {
      const r = await run('python3', ['-c', 'import sys; f=open(sys.argv[1],"w"); f.write("\\0"); f.close()', dev('driver_override')]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(lastWrite(), { attr: 'driver_override', value: '\0', offset: 0 });
      assert.equal(fx.state.override, '(null)');
    });

    it('an Errno thrown by store reaches the writer: echo bad > attr fails with Invalid argument', async () => {
      const before = fx.state.writes.length;
      const r = await sh(`echo bad > ${q(dev('driver_override'))}`);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /write error: Invalid argument/);
      assert.equal(fx.state.writes.length, before);
      const py = await run('python3', ['-c', 'import sys\nf=open(sys.argv[1],"w")\ntry:\n f.write("bad"); f.flush()\nexcept OSError as e: print(e.errno)', dev('driver_override')]);
      assert.equal(py.stdout.trim(), '22');
    });

    it('anything else thrown by store is EIO, logged once however often it happens', async () => {
      const a = await sh(`echo 1 > ${q(dev('crash'))}`);
      const b = await sh(`echo 1 > ${q(dev('crash'))}`);
      assert.match(a.stderr, /Input\/output error/);
      assert.match(b.stderr, /Input\/output error/);
      const lines = logged.filter((m) => m.includes('simulated bug in a store'));
      assert.equal(lines.length, 1, logged.join('\n'));
      assert.match(lines[0] ?? '', /write .*crash/);
    });

    it('the binary config attribute honours the write offset (setpci pwrite of 2 bytes at 4)', async () => {
      const r = await run('python3', ['-c', 'import os,sys; fd=os.open(sys.argv[1], os.O_RDWR); os.pwrite(fd, bytes([7,0]), 4); print(os.pread(fd, 8, 0).hex()); os.close(fd)', dev('config')]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), '0001020307000607');
      assert.equal(fx.state.config[3], 3);
      assert.equal(fx.state.config[6], 6);
    });

    it('a write-only (0200) attribute takes writes but cannot be read, even by root', async () => {
      const w = await sh(`echo 1 > ${q(dev('remove'))}`);
      assert.equal(w.code, 0, w.stderr);
      assert.deepEqual(lastWrite(), { attr: 'remove', value: '1\n', offset: 0 });
      const r = await run('cat', [dev('remove')]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /Permission denied/);
    });
  });

  describe('refusals as sysfs gives them', () => {
    it('opening a 0444 attribute for writing is Permission denied, even for root', async () => {
      const r = await sh(`echo 1 > ${q(dev('vendor'))}`);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /vendor: Permission denied/);
      assert.equal((await run('cat', [dev('vendor')])).stdout, '0x8086\n');
    });

    it('creating a new file is Permission denied (lookup_open without ->create)', async () => {
      const r = await sh(`echo 1 > ${q(dev('newfile'))}`);
      assert.match(r.stderr, /newfile: Permission denied/);
      assert.equal((await run('ls', [dev()])).stdout.includes('newfile'), false);
    });

    it('mkdir, rm, rmdir, ln -s, ln, mv and mknod are Operation not permitted', async () => {
      const cmds: Array<[string, string[]]> = [
        ['mkdir', [dev('d')]],
        ['rm', ['-f', dev('vendor')]],
        ['rmdir', [dev('power')]],
        ['ln', ['-s', 'x', dev('l')]],
        ['ln', [dev('vendor'), dev('hard')]],
        ['mv', [dev('class'), dev('class2')]],
        ['mknod', [dev('fifo'), 'p']],
        ['chmod', ['0600', dev('vendor')]],
      ];
      for (const [cmd, args] of cmds) {
        const r = await run(cmd, args);
        assert.notEqual(r.code, 0, `${cmd} succeeded`);
        assert.match(r.stderr, /Operation not permitted/, `${cmd}: ${r.stderr}`);
      }
      const r = await run('ls', [dev()]);
      assert.match(r.stdout, /^vendor$/m);
      assert.match(r.stdout, /^class$/m);
    });

    it('touch succeeds on an attribute, as root may on sysfs', async () => {
      const r = await run('touch', [dev('vendor')]);
      assert.equal(r.code, 0, r.stderr);
    });
  });

  describe('the mount itself', () => {
    it('shows up in /proc/mounts as fuse.iommufs with default_permissions', async () => {
      const r = await run('grep', [` ${mnt} `, '/proc/mounts']);
      assert.match(r.stdout, /^iommufs \S+ fuse\.iommufs \S*default_permissions/);
    });

    it('refuses to mount on a directory that is already a mount point', async () => {
      await assert.rejects(mountSysfs(buildFixture().tree, mnt), /already a mount point/);
      assert.equal((await run('cat', [dev('vendor')])).stdout, '0x8086\n');
    });

    it('answers statfs', async () => {
      const r = await run('stat', ['-f', '-c', '%S %l', mnt]);
      assert.equal(r.stdout, '4096 255\n');
    });
  });
});

describe('mount lifecycle', () => {
  it('a daemon killed with SIGKILL leaves a stale mount that the next mount there cleans', async () => {
    const mnt = await makeMountDir();
    try {
      const daemon = await startDaemon([FIXTURE_JS, 'serve', mnt], mnt);
      daemon.child.kill('SIGKILL');
      await daemon.exited;
      const stale = await run('stat', [mnt]);
      assert.match(stale.stderr, /Transport endpoint is not connected/);
      // The second mount runs in a child too: libfuse's mount call blocks the thread that
      // makes it, and in this process that thread also has to reap fusermount, so a slow
      // clean-up of the stale mount would stall the test runner instead of failing it.
      const second = await startDaemon([FIXTURE_JS, 'serve', mnt], mnt);
      try {
        assert.equal((await run('cat', [join(mnt, DEVICE_DIR, 'vendor')])).stdout, '0x8086\n');
      } finally {
        await stopDaemon(second);
      }
      assert.equal(await isFuseMounted(mnt), false);
    } finally {
      await forceUnmount(mnt);
      await run('rmdir', [mnt]);
    }
  });

  it('a daemon unmounts and exits 0 on SIGTERM', async () => {
    const mnt = await makeMountDir();
    try {
      const daemon = await startDaemon([FIXTURE_JS, 'serve', mnt], mnt);
      assert.equal(await isFuseMounted(mnt), true);
      daemon.child.kill('SIGTERM');
      assert.deepEqual(await daemon.exited, { code: 0, signal: null });
      assert.equal(await isFuseMounted(mnt), false);
      await stopDaemon(daemon);
    } finally {
      await forceUnmount(mnt);
      await run('rmdir', [mnt]);
    }
  });

  it('an external fusermount -u is noticed (whenGone) and unmount() still completes', async () => {
    const mnt = await makeMountDir();
    try {
      const handle = await mountSysfs(buildFixture().tree, mnt);
      const r = await run('fusermount', ['-u', mnt]);
      assert.equal(r.code, 0, r.stderr);
      let timer: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([
        handle.whenGone().then(() => 'gone'),
        new Promise((res) => (timer = setTimeout(() => res('still there'), 5000))),
      ]);
      clearTimeout(timer);
      assert.equal(outcome, 'gone');
      await handle.unmount();
    } finally {
      await forceUnmount(mnt);
      await run('rmdir', [mnt]);
    }
  });

  it('withDaemonProcess serves through a child and leaves nothing behind, also when the body throws', async () => {
    let seen = '';
    let pid: number | undefined;
    await assert.rejects(
      withDaemonProcess([FIXTURE_JS, 'serve'], async (mnt, daemon) => {
        seen = mnt;
        pid = daemon.child.pid;
        assert.equal((await run('cat', [join(mnt, DEVICE_DIR, 'class')])).stdout, '0x020000\n');
        throw new Error('body failed');
      }),
      /body failed/,
    );
    assert.equal(await isFuseMounted(seen), false);
    assert.ok(pid !== undefined);
    assert.throws(() => process.kill(pid as number, 0), /ESRCH/);
  });

  it('withMount unmounts even when the test body throws', async () => {
    let seen = '';
    await assert.rejects(
      withMount(buildFixture().tree, async (mnt) => {
        seen = mnt;
        throw new Error('body failed');
      }),
      /body failed/,
    );
    assert.equal(await isFuseMounted(seen), false);
  });
});
