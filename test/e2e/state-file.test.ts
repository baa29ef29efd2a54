// `mount --state FILE`: what was written survives a restart; a corrupt or foreign state file
// is a clear error with exit 2 and nothing mounted.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isFuseMounted } from '../../src/fuse/mount-table';
import { TOPOLOGIES } from '../helpers/paths';
import { assertNothingMounted, CLI_MAIN, makeMountDir, q, run, sh, withDaemon } from './harness';

const WRITES = join(TOPOLOGIES, 'qemu-writes.yaml');

after(assertNothingMounted);

describe('mount --state', () => {
  it('restores bindings, overrides, removals and group types after a restart', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'iommufs-state-'));
    const state = join(dir, 'state.json');
    try {
      await withDaemon(
        WRITES,
        async (mnt) => {
          const r = await sh(
            [
              `cd ${q(mnt)}`,
              'echo vfio-pci > bus/pci/devices/0000:01:00.0/driver_override',
              'echo 0000:01:00.0 > bus/pci/drivers_probe',
              'echo identity > kernel/iommu_groups/9/type',
              'echo 1 > bus/pci/devices/0000:06:00.0/remove',
            ].join(' && '),
          );
          assert.equal(r.code, 0, r.stderr);
        },
        ['--state', state],
      );
      const saved = JSON.parse(await readFile(state, 'utf8')) as { removed: string[] };
      assert.deepEqual(saved.removed, ['0000:06:00.0']);
      await withDaemon(
        WRITES,
        async (mnt) => {
          const r = await sh(
            [
              `cd ${q(mnt)}`,
              'readlink bus/pci/devices/0000:01:00.0/driver',
              'cat bus/pci/devices/0000:01:00.0/driver_override',
              'cat kernel/iommu_groups/9/type',
              'ls bus/pci/devices | grep -c 0000:06:00.0 || true',
            ].join('; '),
          );
          assert.deepEqual(r.stdout.trim().split('\n'), ['../../../../bus/pci/drivers/vfio-pci', 'vfio-pci', 'identity', '0']);
        },
        ['--state', state],
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  for (const [what, content] of [
    ['not JSON', '{ nope'],
    ['written for another topology', JSON.stringify({ version: 1, topology: 'f'.repeat(64) })],
  ] as const) {
    it(`a state file that is ${what} is refused with exit 2 and nothing is mounted`, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'iommufs-state-'));
      const mnt = await makeMountDir();
      try {
        const state = join(dir, 'state.json');
        await writeFile(state, content);
        const r = await run(process.execPath, [CLI_MAIN, 'mount', WRITES, mnt, '--state', state], { timeoutMs: 15_000 });
        assert.equal(r.code, 2);
        assert.match(r.stderr, new RegExp(`state file ${state.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `));
        assert.doesNotMatch(r.stdout, /mounted/);
        assert.equal(await isFuseMounted(mnt), false);
      } finally {
        await rm(dir, { recursive: true, force: true });
        await rm(mnt, { recursive: true, force: true });
      }
    });
  }
});
