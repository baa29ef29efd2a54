// The command line as a user meets it: --help of every command, a closed pipe, a missing
// or busy mountpoint.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, rmdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { generateMachineYaml } from '../../scripts/generate-machine';
import { CLI, TOPOLOGIES } from '../helpers/paths';
import { assertNothingMounted, MOUNT_PREFIX, q, run, sh, startDaemon, stopDaemon, withDaemon } from './harness';

const WRITES = join(TOPOLOGIES, 'qemu-writes.yaml');

after(assertNothingMounted);

describe('command line', () => {
  it('every command answers --help with its own usage and exit 0', async () => {
    for (const c of ['mount', 'run', 'export', 'groups', 'explain', 'validate', 'ctl']) {
      const r = await run(process.execPath, [CLI, c, '--help']);
      assert.equal(r.code, 0, `${c}: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^usage: iommufs ${c} `), c);
      assert.equal(r.stdout.split('\n').filter((l) => l.startsWith('  iommufs ')).length, 0, `${c} printed the whole usage`);
    }
    // After run's `--`, --help belongs to the command.
    const r = await run(process.execPath, [CLI, 'run', WRITES, '--', 'sh', '-c', 'echo "$1"', 'sh', '--help']);
    assert.equal(r.stdout, '--help\n');
  });

  it('a reader that closes the pipe early gets no stack trace', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'iommufs-cli-test-'));
    try {
      const big = join(dir, 'big.yaml');
      await writeFile(big, generateMachineYaml(8000));
      await withDaemon(big, async (mnt) => {
        // One write per group, about 100 kB in all, more than a pipe holds: the writes after
        // head has gone fail with EPIPE.
        const r = await sh(`node ${q(CLI)} ctl ${q(mnt)} status | head -1; echo "rc=\${PIPESTATUS[0]}"`, { timeoutMs: 60_000 });
        assert.equal(r.stderr, '');
        assert.match(r.stdout, /^group 0: state=\S+ owner=\S+ domain=\S+ viable=[01]\n(rc=0|rc=141)\n$/);
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('mount onto a missing directory creates it and removes it at exit; a busy one is refused with what to do', async () => {
    const parent = await mkdtemp(join(tmpdir(), MOUNT_PREFIX));
    const mnt = join(parent, 'sys');
    try {
      const daemon = await startDaemon([CLI, 'mount', WRITES, mnt], mnt);
      try {
        assert.match(daemon.stderr(), /did not exist: created it/);
        const second = await run(process.execPath, [CLI, 'mount', WRITES, mnt]);
        assert.equal(second.code, 1);
        assert.match(second.stderr, /is already mounted and answering .*Stop that one first/);
      } finally {
        await stopDaemon(daemon);
      }
      assert.ok(!existsSync(mnt), 'the created mountpoint is removed');
      const noParent = await run(process.execPath, [CLI, 'mount', WRITES, join(parent, 'a', 'b')]);
      assert.equal(noParent.code, 1);
      assert.match(noParent.stderr, /does not exist and cannot be created: its parent directory does not exist/);
    } finally {
      await rmdir(mnt).catch(() => undefined);
      await rmdir(parent).catch(() => undefined);
    }
  });

  it('a mountpoint that exists is kept', async () => {
    await withDaemon(WRITES, async (mnt, daemon) => {
      assert.doesNotMatch(daemon.stderr(), /created it/);
      assert.ok(existsSync(mnt));
    });
  });
});
