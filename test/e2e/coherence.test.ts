// The kernel caches names and attributes over the mount for hours; the daemon tells it
// what to forget after every write. These tests would catch a single missed invalidation:
// after every write of a long sequence, a walk of the warm mount (every name, type, link
// target and readable text) must equal
//   - the same mount read cold (the kernel's dentry and inode caches dropped), and
//   - a fresh daemon started with a copy of the same --state file (the truth).
// The warm mount is walked before each write too, so that everything is in the kernel's
// caches when the write happens.

import assert from 'node:assert/strict';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DOMAINS_TOPOLOGY, GPU, NIC, PF } from '../unit/engine/domains-fixture';
import { assertNothingMounted, q, sh, withDaemon } from './harness';
import { difference, dropKernelCaches, Walker } from './walk';

after(assertNothingMounted);

let dir = '';
let topology = '';
let walker: Walker;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'iommufs-coherence-'));
  topology = join(dir, 'domains-lab.yaml');
  await writeFile(topology, DOMAINS_TOPOLOGY);
  walker = await Walker.create(dir);
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const walk = (root: string, probe?: string[]): Promise<string[]> => walker.walk(root, probe);

const U1 = '8e3f5a0c-1d2b-4c3a-9f00-0123456789ab';
const T4 = 'i915-GVTg_V5_4';

/** Each write, as a shell line run in the mount's root. */
const WRITES: Array<[string, string]> = [
  ['SR-IOV enable', `echo 3 > bus/pci/devices/${PF}/sriov_numvfs`],
  ['VF unbind', `echo 0000:02:00.1 > bus/pci/drivers/nvme/unbind`],
  ['VF remove', `echo 1 > bus/pci/devices/0000:02:00.2/remove`],
  ['SR-IOV disable', `echo 0 > bus/pci/devices/${PF}/sriov_numvfs`],
  ['unbind', `echo ${NIC} > bus/pci/drivers/e1000e/unbind`],
  ['group type', `echo identity > "kernel/iommu_groups/$(basename "$(readlink bus/pci/devices/${NIC}/iommu_group)")/type"`],
  ['new_id', `echo 8086 10d3 > bus/pci/drivers/pci-stub/new_id`],
  ['remove_id', `echo 8086 10d3 > bus/pci/drivers/pci-stub/remove_id`],
  ['unbind pci-stub', `echo ${NIC} > bus/pci/drivers/pci-stub/unbind`],
  ['driver_override', `echo vfio-pci > bus/pci/devices/${NIC}/driver_override`],
  ['drivers_probe', `echo ${NIC} > bus/pci/drivers_probe`],
  ['bind', `echo ${NIC} > bus/pci/drivers/vfio-pci/unbind && echo '' > bus/pci/devices/${NIC}/driver_override && echo ${NIC} > bus/pci/drivers/e1000e/bind`],
  ['mdev create', `echo ${U1} > bus/pci/devices/${GPU}/mdev_supported_types/${T4}/create`],
  ['mdev remove', `echo 1 > bus/pci/devices/${GPU}/${U1}/remove`],
  ['remove', `echo 1 > bus/pci/devices/${NIC}/remove`],
  ['rescan', `echo 1 > bus/pci/rescan`],
  ['remove a bridge', `echo 1 > bus/pci/devices/0000:00:02.0/remove`],
  ['rescan', `echo 1 > bus/pci/rescan`],
];

describe('a warm mount reads exactly like a cold one after every write', () => {
  it('SR-IOV, VF removal, bind/unbind, new_id/remove_id, driver_override, group type, mdev, remove/rescan', async () => {
    const state = join(dir, 'state.json');
    await withDaemon(
      topology,
      async (mnt) => {
        let before = await walk(mnt);
        for (const [what, line] of WRITES) {
          const w = await sh(`cd ${q(mnt)} && ${line}`);
          assert.equal(w.code, 0, `${what}: ${w.stderr}`);
          const warm = await walk(mnt, before);
          await dropKernelCaches();
          const cold = await walk(mnt, before);
          assert.deepEqual(warm, cold, `${what}: the warm mount differs from the same mount read cold\n${difference(warm, cold, ['warm', 'cold'])}`);
          // The truth: a new daemon from the saved state, never looked at before.
          const copy = join(dir, 'state-copy.json');
          await copyFile(state, copy);
          await withDaemon(topology, async (fresh) => {
            const truth = await walk(fresh, before);
            assert.deepEqual(warm, truth, `${what}: the warm mount differs from a fresh mount of the same state\n${difference(warm, truth)}`);
          }, ['--state', copy]);
          before = warm;
        }
      },
      ['--state', state],
    );
  });

  it('a name removed by a write is gone for every lookup that starts after the write returns, under parallel walkers', async () => {
    await withDaemon(topology, async (mnt) => {
      // Walkers keep the kernel's caches full while the writer removes and re-adds devices.
      const walkers = sh(`end=$((SECONDS+6)); while [ $SECONDS -lt $end ]; do find ${q(mnt)} > /dev/null 2>&1; done`, { timeoutMs: 30_000 });
      const r = await sh(
        [
          `cd ${q(mnt)}`,
          'seen=0',
          'for i in $(seq 15); do',
          `  echo 1 > bus/pci/devices/${NIC}/remove || exit 2`,
          `  if [ -e bus/pci/devices/${NIC} ] || [ -e devices/pci0000:00/0000:00:01.0/${NIC} ] || ls devices/pci0000:00/0000:00:01.0 | grep -q ${NIC}; then seen=$((seen+1)); fi`,
          '  echo 1 > bus/pci/rescan || exit 3',
          `  [ -e devices/pci0000:00/0000:00:01.0/${NIC}/vendor ] || exit 4`,
          'done',
          'echo "stale=$seen"',
        ].join('\n'),
        { timeoutMs: 60_000 },
      );
      await walkers;
      assert.equal(r.stdout.trim(), 'stale=0', r.stderr);
    });
  });
});
