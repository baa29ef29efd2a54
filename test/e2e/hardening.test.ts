// The daemon as a hostile or unlucky user meets it: a symlink planted by another user next
// to the state file, a mount point whose name is shell code, writes larger than a page,
// and the signals a daemon gets. Real processes, a real unprivileged user (setpriv), real
// cat and dd.
import assert from 'node:assert/strict';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isFuseMounted } from '../../src/fuse/mount-table';
import { TOPOLOGIES } from '../helpers/paths';
import { assertNothingMounted, CLI_MAIN, forceUnmount, makeMountDir, q, run, sh, startDaemon, stopDaemon, withDaemon } from './harness';

const SRIOV = join(TOPOLOGIES, 'qemu-sriov.yaml');
const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups'];

after(assertNothingMounted);

/** Runs a shell line as user nobody. */
function asNobody(script: string): ReturnType<typeof run> {
  return run('setpriv', [...NOBODY, 'sh', '-c', script]);
}

/** Is anything listening on 127.0.0.1:9229 (Node's inspector port)? Reads /proc, not the net. */
async function inspectorListening(): Promise<boolean> {
  const table = await readFile('/proc/net/tcp', 'utf8');
  // local_address 0100007F:2405 (127.0.0.1:9229), state 0A (LISTEN)
  return table.split('\n').some((line) => /^\s*\d+: 0100007F:2405 \S+ 0A /.test(line));
}

describe('the state file in a world-writable directory', () => {
  it("another user's symlink next to the state file never makes the daemon write through it", async () => {
    const shared = await mkdtemp(join(tmpdir(), 'iommufs-sticky-'));
    await chmod(shared, 0o1777);
    const victim = join(await mkdtemp(join(tmpdir(), 'iommufs-victim-')), 'victim');
    await writeFile(victim, 'precious\n');
    const state = join(shared, 'st.json');
    const mnt = await makeMountDir();
    let daemon;
    try {
      daemon = await startDaemon([CLI_MAIN, 'mount', SRIOV, mnt, '--state', state], mnt);
      const pid = daemon.child.pid!;
      // The temp names an attacker could guess: the old `<state>.tmp-<pid>` and its likely
      // neighbours. The daemon must not open any of them.
      const planted = [`${state}.tmp-${pid}`, `${state}.tmp`, `${state}.tmp-${pid}-0`];
      const r = await asNobody(planted.map((p) => `ln -s ${q(victim)} ${q(p)}`).join(' && '));
      assert.equal(r.code, 0, r.stderr);
      const w = await sh(`echo vfio-pci > ${q(mnt)}/bus/pci/devices/0000:03:00.0/driver_override`);
      assert.equal(w.code, 0, w.stderr);
      assert.equal(await readFile(victim, 'utf8'), 'precious\n');
      const saved = JSON.parse(await readFile(state, 'utf8')) as object;
      assert.match(JSON.stringify(saved), /vfio-pci/);
      // The planted links are still links (not replaced by our file, not followed).
      for (const p of planted) assert.ok((await lstat(p)).isSymbolicLink(), p);
      // No temp file of ours is left behind.
      const left = (await readdir(shared)).filter((n) => n.startsWith('st.json.tmp-') && !planted.includes(join(shared, n)));
      assert.deepEqual(left, []);
      const st = await lstat(state);
      assert.equal(st.mode & 0o077, 0, 'the state file is private to the daemon');
    } finally {
      if (daemon !== undefined) await stopDaemon(daemon);
      await forceUnmount(mnt);
      await rmdir(mnt).catch(() => undefined);
      await rm(shared, { recursive: true, force: true });
      await rm(join(victim, '..'), { recursive: true, force: true });
    }
  });

  it('a state file that is a symlink, foreign-owned or writable by others is refused (exit 2, nothing mounted)', async () => {
    const shared = await mkdtemp(join(tmpdir(), 'iommufs-sticky-'));
    await chmod(shared, 0o1777);
    const mnt = await makeMountDir();
    try {
      const secret = join(shared, 'secret');
      await writeFile(secret, 'root:x:0:0\n', { mode: 0o600 });
      const cases: [string, () => Promise<void>, RegExp][] = [
        ['link.json', async () => void (await asNobody(`ln -s ${q(secret)} ${q(join(shared, 'link.json'))}`)), /symbolic link/],
        ['foreign.json', async () => void (await asNobody(`echo '{}' > ${q(join(shared, 'foreign.json'))}`)), /owned by uid 65534/],
        [
          'open.json',
          async () => {
            await writeFile(join(shared, 'open.json'), '{}');
            await chmod(join(shared, 'open.json'), 0o666);
          },
          /writable by others/,
        ],
      ];
      for (const [name, make, why] of cases) {
        await make();
        const r = await run(process.execPath, [CLI_MAIN, 'mount', SRIOV, mnt, '--state', join(shared, name)], { timeoutMs: 15_000 });
        assert.equal(r.code, 2, `${name}: ${r.stderr}`);
        assert.match(r.stderr, why);
        assert.doesNotMatch(r.stderr, /root:x/, 'the file is never read and shown');
        assert.equal(await isFuseMounted(mnt), false);
      }
    } finally {
      await forceUnmount(mnt);
      await rmdir(mnt).catch(() => undefined);
      await rm(shared, { recursive: true, force: true });
    }
  });
});

describe('the mount point name never reaches a shell', () => {
  it("a mount point named '$(touch …)' mounts, unmounts on SIGTERM, and runs nothing", async () => {
    const base = await mkdtemp(join(tmpdir(), 'iommufs-inject-'));
    const pwned = join(base, 'PWNED');
    // A directory whose name is shell code (created beforehand; mkdir would make it too).
    // A name cannot hold '/', so the command finds its target through the environment.
    process.env.IOMMUFS_TEST_PWNED = pwned;
    const mnt = join(base, 'm$(touch $IOMMUFS_TEST_PWNED)`touch $IOMMUFS_TEST_PWNED`');
    await mkdir(mnt);
    let daemon;
    try {
      daemon = await startDaemon([CLI_MAIN, 'mount', SRIOV, mnt], mnt);
      const r = await run('ls', [join(mnt, 'kernel', 'iommu_groups')]);
      assert.equal(r.code, 0, r.stderr);
      daemon.child.kill('SIGTERM');
      const end = await daemon.exited;
      assert.equal(end.code, 0, daemon.stderr());
      assert.equal(await isFuseMounted(mnt), false, 'unmounted');
      await assert.rejects(lstat(pwned), { code: 'ENOENT' }, 'no command ran');
    } finally {
      if (daemon !== undefined) await stopDaemon(daemon);
      await forceUnmount(mnt);
      await rm(base, { recursive: true, force: true });
    }
  });

  it('a stale mount left by SIGKILL at such a name is cleared at the next start without a shell', async () => {
    const base = await mkdtemp(join(tmpdir(), 'iommufs-inject-'));
    const pwned = join(base, 'PWNED');
    process.env.IOMMUFS_TEST_PWNED = pwned;
    const mnt = join(base, 'm$(touch $IOMMUFS_TEST_PWNED)');
    await mkdir(mnt);
    try {
      const first = await startDaemon([CLI_MAIN, 'mount', SRIOV, mnt], mnt);
      first.child.kill('SIGKILL');
      await first.exited;
      const second = await startDaemon([CLI_MAIN, 'mount', SRIOV, mnt], mnt);
      try {
        const r = await run('cat', [join(mnt, 'kernel', 'iommu_groups', '0', 'type')]);
        assert.equal(r.code, 0, r.stderr);
      } finally {
        await stopDaemon(second);
      }
      await assert.rejects(lstat(pwned), { code: 'ENOENT' });
    } finally {
      await forceUnmount(mnt);
      await rm(base, { recursive: true, force: true });
    }
  });
});

describe('writes larger than sysfs takes', () => {
  it('a 300,000-byte new_id through cat is E2BIG and binds nothing; 4,097 bytes likewise', async () => {
    await withDaemon(SRIOV, async (mnt) => {
      const dev = `${q(mnt)}/bus/pci/devices/0000:02:00.0`;
      const r = await sh(
        [
          `big=$(mktemp)`,
          `{ printf '8086 10d3'; head -c 300000 /dev/zero | tr '\\0' ' '; } > "$big"`,
          `cat "$big" > ${q(mnt)}/bus/pci/drivers/pci-stub/new_id; echo "status=$?"`,
          `{ printf '8086 10d3'; head -c 4088 /dev/zero | tr '\\0' ' '; } > "$big"; wc -c < "$big"`,
          `cat "$big" > ${q(mnt)}/bus/pci/drivers/pci-stub/new_id; echo "status=$?"`,
          `rm -f "$big"`,
          `readlink ${dev}/driver || echo unbound`,
        ].join('\n'),
      );
      const lines = r.stdout.trim().split('\n');
      assert.deepEqual(lines, ['status=1', '4097', 'status=1', 'unbound'], r.stderr);
      assert.equal(r.stderr.match(/Argument list too long/g)?.length, 2, r.stderr);
    });
  });

  it('4,096 bytes is still one whole write; a config write at its end is EFBIG, across it is shortened', async () => {
    await withDaemon(SRIOV, async (mnt) => {
      const dev = `${q(mnt)}/bus/pci/devices/0000:03:00.0`;
      const r = await sh(
        [
          // Assembled first: printf and tr writing the attribute themselves would be two writes.
          `big=$(mktemp); { printf '8086 10d3'; head -c 4087 /dev/zero | tr '\\0' ' '; } > "$big"`,
          `cat "$big" > ${q(mnt)}/bus/pci/drivers/pci-stub/new_id; echo "status=$?"; rm -f "$big"`,
          `readlink ${q(mnt)}/bus/pci/devices/0000:02:00.0/driver`,
          // config of a PCIe device is 4096 bytes: at 4096 nothing, from 4094 two of four bytes.
          `printf 'abcd' | dd of=${dev}/config bs=4 seek=1024 conv=notrunc status=none; echo "dd=$?"`,
          `python3 -c 'import os,sys; fd=os.open(sys.argv[1], os.O_WRONLY); print("pwrite", os.pwrite(fd, b"abcd", 4094))' ${dev}/config`,
        ].join('\n'),
      );
      const lines = r.stdout.trim().split('\n');
      assert.deepEqual(lines, ['status=0', '../../../../bus/pci/drivers/pci-stub', 'dd=1', 'pwrite 2'], r.stderr);
      assert.match(r.stderr, /File too large/);
    });
  });
});

describe('signals a daemon gets', () => {
  for (const signal of ['SIGHUP', 'SIGQUIT', 'SIGINT', 'SIGTERM'] as const) {
    it(`${signal} unmounts cleanly and exits 0`, async () => {
      const mnt = await makeMountDir();
      let daemon;
      try {
        daemon = await startDaemon([CLI_MAIN, 'mount', SRIOV, mnt], mnt);
        daemon.child.kill(signal);
        const end = await daemon.exited;
        assert.deepEqual(end, { code: 0, signal: null }, daemon.stderr());
        assert.equal(await isFuseMounted(mnt), false);
        const r = await run('stat', [mnt]);
        assert.equal(r.code, 0, `not a dead mount: ${r.stderr}`);
      } finally {
        if (daemon !== undefined) await stopDaemon(daemon);
        await forceUnmount(mnt);
        await rmdir(mnt).catch(() => undefined);
      }
    });
  }

  it('SIGUSR1 opens no inspector and the mount keeps serving', async () => {
    assert.equal(await inspectorListening(), false, 'port 9229 is free before the test');
    await withDaemon(SRIOV, async (mnt, daemon) => {
      daemon.child.kill('SIGUSR1');
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(await inspectorListening(), false);
      assert.doesNotMatch(daemon.stderr(), /Debugger listening/);
      const r = await run('cat', [join(mnt, 'kernel', 'iommu_groups', '0', 'type')]);
      assert.equal(r.code, 0, r.stderr);
    });
  });
});
