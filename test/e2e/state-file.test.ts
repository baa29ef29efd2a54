// `mount --state FILE`: what was written survives a restart; a corrupt or foreign state file
// is a clear error with exit 2 and nothing mounted.
import assert from 'node:assert/strict';
import { lstat, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isFuseMounted } from '../../src/fuse/mount-table';
import { TOPOLOGIES } from '../helpers/paths';
import { Machine } from '../../src/engine/machine';
import { captureState, topologyFingerprint } from '../../src/engine/saved-state';
import type { SavedState } from '../../src/engine/saved-state';
import { loadTopology } from '../../src/topology/load';
import { DOMAINS_TOPOLOGY, GPU } from '../unit/engine/domains-fixture';
import { firstDifference } from '../unit/engine/state-tree-walk';
import { assertNothingMounted, CLI_MAIN, forceUnmount, makeMountDir, q, run, sh, startDaemon, stopDaemon, withDaemon } from './harness';
import type { Daemon } from './harness';

const WRITES = join(TOPOLOGIES, 'qemu-writes.yaml');
const SRIOV = join(TOPOLOGIES, 'qemu-sriov.yaml');

/**
 * Every path under the mount with what it is: a directory, a link's target, a readable
 * file's content (or the errno its read gives). Links are not followed. The mount is served
 * by another process, so reading it from this one is safe.
 */
async function walk(mnt: string): Promise<string[]> {
  const out: string[] = [];
  const visit = async (rel: string): Promise<void> => {
    const names = await readdir(join(mnt, rel));
    for (const name of names) {
      const path = `${rel}/${name}`;
      const st = await lstat(join(mnt, path));
      if (st.isSymbolicLink()) out.push(`${path} -> ${await readlink(join(mnt, path))}`);
      else if (st.isDirectory()) {
        out.push(`${path}/ ${(st.mode & 0o7777).toString(8)}`);
        await visit(path);
      } else if ((st.mode & 0o444) === 0) out.push(`${path} ${(st.mode & 0o7777).toString(8)} (write-only)`);
      // The events file reads like trace_pipe: a read waits for the next event.
      else if (path === '/kernel/debug/iommufs/events') out.push(`${path} ${(st.mode & 0o7777).toString(8)} (stream)`);
      else {
        const text = await readFile(join(mnt, path)).then(
          (b) => b.toString('hex'),
          (e: NodeJS.ErrnoException) => `error ${e.code}`,
        );
        out.push(`${path} ${(st.mode & 0o7777).toString(8)} = ${text}`);
      }
    }
  };
  await visit('');
  return out;
}

/** A restart with the same --state after writes: the tree served after equals the one before. */
async function restartKeepsTree(topology: string, writes: string[], stop: (d: Daemon) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'iommufs-state-'));
  const state = join(dir, 'state.json');
  const mnt = await makeMountDir();
  const args = [CLI_MAIN, 'mount', topology, mnt, '--state', state];
  const daemons: Daemon[] = [];
  try {
    const first = await startDaemon(args, mnt);
    daemons.push(first);
    const r = await sh([`cd ${q(mnt)}`, ...writes].join(' && '));
    assert.equal(r.code, 0, r.stderr);
    const before = await walk(mnt);
    await stop(first);
    const second = await startDaemon(args, mnt);
    daemons.push(second);
    const after = await walk(mnt);
    const diff = firstDifference(before, after);
    assert.equal(diff, undefined, `the tree after the restart differs at ${diff}`);
    assert.ok(before.length > 500, `only ${before.length} entries walked`);
  } finally {
    for (const d of daemons) await stopDaemon(d);
    await forceUnmount(mnt);
    await rm(mnt, { recursive: true, force: true });
    await rm(dir, { recursive: true, force: true });
  }
}

/** Writes that move group numbers, remove a VF, bind through new_id after a config read, and more. */
const SRIOV_WRITES = [
  'echo nvme > bus/pci/devices/0000:01:00.0/driver_override',
  'echo 0000:01:00.0 > bus/pci/drivers/nvme/bind',
  'echo 1 > bus/pci/devices/0000:02:00.0/remove',
  'echo 4 > bus/pci/devices/0000:01:00.0/sriov_numvfs',
  'echo 1 > bus/pci/devices/0000:01:00.2/remove',
  'echo 1 > bus/pci/rescan',
  'cat bus/pci/devices/0000:02:00.0/config > /dev/null',
  'echo "8086 10d3" > bus/pci/drivers/pci-stub/new_id',
  "printf '\\x0b' | dd of=bus/pci/devices/0000:03:00.0/config bs=1 seek=60 conv=notrunc status=none",
  'echo identity > kernel/iommu_groups/7/type',
  'echo 1 > bus/pci/devices/0000:00:1f.3/remove',
  'echo -1 > bus/pci/devices/0000:03:00.0/numa_node',
  'echo 0 > bus/pci/drivers_autoprobe',
  // The attributes that keep what is written: PCI flags, reset_method, power/ of a device,
  // of a port service and of a bus, resource_alignment, modules and their parameters.
  'echo 1 > bus/pci/devices/0000:03:00.0/broken_parity_status',
  'echo 0 > bus/pci/devices/0000:03:00.0/d3cold_allowed',
  'echo 0 > bus/pci/devices/0000:03:00.0/msi_bus',
  'echo 1 > bus/pci/devices/0000:03:00.0/enable',
  'echo pm > bus/pci/devices/0000:03:00.0/reset_method',
  'echo auto > bus/pci/devices/0000:00:02.1/power/control',
  'echo disabled > devices/pci0000:00/0000:00:02.1/0000:00:02.1:pcie002/power/async',
  'echo enabled > devices/pci0000:00/0000:00:02.1/pci_bus/0000:02/power/async',
  'echo on > devices/pci0000:00/power/control',
  'echo 20@0000:02:00.0 > bus/pci/resource_alignment',
  'echo Y > module/vfio_iommu_type1/parameters/allow_unsafe_interrupts',
  'echo vfio_pci > kernel/debug/iommufs/unload_module',
  'echo vfio_pci > kernel/debug/iommufs/load_module',
];

async function killHard(d: Daemon): Promise<void> {
  d.child.kill('SIGKILL');
  await d.exited;
}

async function hangUp(d: Daemon): Promise<void> {
  d.child.kill('SIGHUP');
  const end = await d.exited;
  assert.equal(end.code, 0, `exit after SIGHUP: ${end.code ?? end.signal}; ${d.stderr()}`);
}

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
      const saved = JSON.parse(await readFile(state, 'utf8')) as { devices: Record<string, unknown> };
      assert.equal('0000:06:00.0' in saved.devices, false);
      assert.equal('0000:01:00.0' in saved.devices, true);
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

  it('after SIGKILL, a restart serves exactly the tree served before (VF removal, renumbered groups, new_id, config)', async () => {
    await restartKeepsTree(SRIOV, SRIOV_WRITES, killHard);
  });

  it('after SIGHUP too, with mdevs, SR-IOV and remove/rescan on a machine with an mdev parent', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'iommufs-topo-'));
    try {
      const topo = join(dir, 'domains-lab.yaml');
      await writeFile(topo, DOMAINS_TOPOLOGY);
      const types = `bus/pci/devices/${GPU}/mdev_supported_types`;
      await restartKeepsTree(
        topo,
        [
          `echo 11111111-2222-4333-8444-555555555555 > ${types}/i915-GVTg_V5_4/create`,
          'echo 1 > bus/pci/devices/0000:04:00.0/remove',
          'echo 3 > bus/pci/devices/0000:02:00.0/sriov_numvfs',
          `echo a0a0a0a0-b1b1-4c2c-8d3d-e4e4e4e4e4e4 > ${types}/i915-GVTg_V5_8/create`,
          'echo 1 > bus/pci/rescan',
          'echo 1 > bus/mdev/devices/11111111-2222-4333-8444-555555555555/remove',
          'echo 1 > bus/pci/devices/0000:02:00.1/remove',
          `echo 11111111-2222-4333-8444-666666666666 > ${types}/i915-GVTg_V5_4/create`,
        ],
        hangUp,
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

  describe('a damaged state file is refused with exit 2, saying where, and nothing is mounted', () => {
    const text = readFileSync(SRIOV, 'utf8');
    const good = (): SavedState => {
      const r = loadTopology(text, SRIOV);
      assert.ok(r.ok);
      return captureState(Machine.boot(r.topology), topologyFingerprint(text));
    };
    const edit = (f: (s: SavedState & Record<string, unknown>) => void): string => {
      const s = good() as SavedState & Record<string, unknown>;
      f(s);
      return JSON.stringify(s);
    };
    const dev = (s: SavedState, name: string): Record<string, unknown> => s.devices[name] as unknown as Record<string, unknown>;
    for (const [what, content, where] of [
      ['dynIds {"vfio-pci":5}', edit((s) => (s.dynIds = { 'vfio-pci': 5 } as unknown as SavedState['dynIds'])), '$.dynIds["vfio-pci"]: must be a list'],
      ['a group type "pwned"', edit((s) => (s.groups[0]!.type = 'pwned' as 'DMA')), '$.groups[0].type: "pwned" is not one of'],
      ['numa_node "abc"', edit((s) => (dev(s, '0000:03:00.0').numaNode = 'abc')), '$.devices["0000:03:00.0"].numaNode: must be an integer'],
      ['nvme bound to the SATA controller', edit((s) => (dev(s, '0000:00:1f.2').driver = 'nvme')), '$.devices["0000:00:1f.2"].driver: nvme cannot bind'],
      ['numvfs 2.5', edit((s) => (dev(s, '0000:01:00.0').numvfs = 2.5)), '$.devices["0000:01:00.0"].numvfs: must be an integer'],
      ['an unknown device', edit((s) => (s.devices['0000:09:00.0'] = { seq: 3, driver: null })), '$.devices["0000:09:00.0"]: no such PCI device'],
      ['enables -2', edit((s) => (dev(s, '0000:03:00.0').enables = -2)), '$.devices["0000:03:00.0"].enables: -2 is outside -1..2147483647'],
      ['a reset method the device lacks', edit((s) => (dev(s, '0000:00:1f.2').resetMethods = ['bus'])), '$.devices["0000:00:1f.2"].resetMethods[0]: 0000:00:1f.2 does not support bus'],
      ['vfio_iommu_type1 loaded before vfio', edit((s) => (s.modules = s.modules!.filter((x) => x.name !== 'vfio'))), '$.modules[0].name: vfio_iommu_type1 needs vfio'],
      ['power/ of a device that is not there', edit((s) => (s.power = { '0000:09:00.0': { '': { runtimeAuto: true, asyncSuspend: true, wakeupEnabled: false } } })), '$.power["0000:09:00.0"]: no device'],
    ] as const) {
      it(what, async () => {
        const dir = await mkdtemp(join(tmpdir(), 'iommufs-state-'));
        const mnt = await makeMountDir();
        try {
          const state = join(dir, 'state.json');
          await writeFile(state, content, { mode: 0o600 });
          const r = await run(process.execPath, [CLI_MAIN, 'mount', SRIOV, mnt, '--state', state], { timeoutMs: 15_000 });
          assert.equal(r.code, 2, r.stderr);
          assert.ok(r.stderr.includes(`state file ${state}: ${where}`), r.stderr);
          assert.doesNotMatch(r.stderr, /    at /, 'no stack trace');
          assert.doesNotMatch(r.stdout, /mounted/);
          assert.equal(await isFuseMounted(mnt), false);
        } finally {
          await rm(dir, { recursive: true, force: true });
          await rm(mnt, { recursive: true, force: true });
        }
      });
    }
  });
});
