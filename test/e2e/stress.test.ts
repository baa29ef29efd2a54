// Readers and writers at once on one mount (topologies/qemu-sriov.yaml), for a bounded time.
//
// Four readers walk the tree (`find` over bus, kernel and devices; `cat` of every group
// member's vendor) while three writers change it: SR-IOV on the nvme PF 0000:01:00.0
// (sriov_numvfs 4 and 0 again: four VFs and their groups come and go), unbind/bind of the
// e1000e at 0000:02:00.0, and remove of 0000:03:00.0 followed by a bus rescan. A reader may
// see a path vanish between listing and opening it (ENOENT), or a file it has open go with its
// device (ENODEV), as on Linux; any other error,
// or ENOENT on a path that never goes away, is a bug (a listing that names what lookup does
// not find, a stale cache, a torn read). After the writers stop and the machine is put back
// (numvfs 0, rescan), every link must still lead somewhere and every device's group must
// list it back.
//
// Everything runs as background loops of one bash child: the mount is served by a daemon
// (withDaemon), and this process only waits asynchronously for the child's output.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { after, describe, it } from 'node:test';
import { TOPOLOGIES } from '../helpers/paths';
import { assertNothingMounted, q, sh, withDaemon } from './harness';
import { assertWarmEqualsCold, Walker } from './walk';

const SRIOV = join(TOPOLOGIES, 'qemu-sriov.yaml');
const SECONDS = 8;
const PF = '0000:01:00.0';
const NIC = '0000:02:00.0';
const REMOVED = '0000:03:00.0';
/** Groups of devices that stay put throughout (qemu-sriov.yaml's header: groups 0-6). */
const STABLE_GROUPS = new Set(['0', '1', '2', '3', '4', '5', '6']);

/** Whether a reader's ENOENT names something a writer removes: a VF, the removed device,
 * the NIC's driver link (or its entry in the driver's directory), what its driver creates
 * and removes with it (net/eth0, ptp/ptp0, msi_irqs), or a group that is not
 * one of the stable ones (the VFs' and the removed device's groups), in kernel/iommu_groups
 * or in the simulator's own kernel/debug/iommufs/groups. */
function mayVanish(line: string): boolean {
  // ENOENT when the name is gone before the open; ENODEV when the file was open as its
  // device went (kernfs_get_active fails on the removed node: fs/kernfs/file.c).
  if (!/No such file or directory|No such device/.test(line)) return false;
  if (/0000:01:00\.[1-7]/.test(line) || line.includes(REMOVED)) return true;
  if (line.includes(`${NIC}/driver`) || line.includes(`e1000e/${NIC}`)) return true;
  if (new RegExp(`${NIC}/(net|ptp|msi_irqs)(/|'|:|$)`).test(line)) return true;
  const group = /kernel\/(?:iommu_groups|debug\/iommufs\/groups)\/(\d+)/.exec(line);
  return group !== null && !STABLE_GROUPS.has(group[1]!);
}

function script(mnt: string): string {
  return `
set -u
export LC_ALL=C
M=${q(mnt)}
P=$M/bus/pci
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
setup() { echo "SETUP $*"; exit 3; }
# The drivers the writers use are declared and not bound at start.
[ -d $P/drivers/nvme ] && [ -d $P/drivers/e1000e ] || setup "nvme or e1000e not declared"
[ -L $P/devices/${PF}/driver ] && setup "nvme bound at start"
echo ${PF} > $P/drivers_probe || setup "drivers_probe ${PF}"
[ "$(basename "$(readlink $P/devices/${PF}/driver)")" = nvme ] || setup "nvme did not bind"
echo ${NIC} > $P/drivers_probe || setup "drivers_probe ${NIC}"
[ "$(basename "$(readlink $P/devices/${NIC}/driver)")" = e1000e ] || setup "e1000e did not bind"
[ "$(cat $P/devices/${PF}/sriov_totalvfs)" = 4 ] || setup "sriov_totalvfs"

end=$((SECONDS + ${SECONDS}))
reader() {
  n=0
  while [ $SECONDS -lt $end ]; do
    find $M/bus $M/kernel $M/devices -maxdepth 8 > /dev/null
    for f in $M/kernel/iommu_groups/*/devices/*/vendor; do cat "$f" > /dev/null; done
    n=$((n + 1))
  done
  echo "COUNT reader$1 $n"
}
sriov() {
  n=0
  while [ $SECONDS -lt $end ]; do
    echo 4 > $P/devices/${PF}/sriov_numvfs && echo 0 > $P/devices/${PF}/sriov_numvfs && n=$((n + 1))
  done
  echo "COUNT sriov $n"
}
rebind() {
  n=0
  while [ $SECONDS -lt $end ]; do
    echo ${NIC} > $P/drivers/e1000e/unbind && echo ${NIC} > $P/drivers/e1000e/bind && n=$((n + 1))
  done
  echo "COUNT rebind $n"
}
replug() {
  n=0
  while [ $SECONDS -lt $end ]; do
    echo 1 > $P/devices/${REMOVED}/remove && echo 1 > $P/rescan && n=$((n + 1))
  done
  echo "COUNT replug $n"
}
for i in 1 2 3 4; do reader $i 2> $T/reader$i.err & done
sriov 2> $T/sriov.err &
rebind 2> $T/rebind.err &
replug 2> $T/replug.err &
wait

# Put the machine back: no VFs, the removed device rescanned.
echo 0 > $P/devices/${PF}/sriov_numvfs || echo "RESTORE numvfs"
echo 1 > $P/rescan || echo "RESTORE rescan"
for who in reader1 reader2 reader3 reader4; do sed "s/^/READERR /" $T/$who.err; done
for who in sriov rebind replug; do sed "s/^/WRITERR $who: /" $T/$who.err; done

# Every group member link resolves.
for l in $M/kernel/iommu_groups/*/devices/*; do
  t=$(readlink -f "$l") && [ -e "$t" ] || echo "BAD dangling $l"
done
# Every device's iommu_group lists it back.
for d in $P/devices/*; do
  b=\${d##*/}
  g=$(readlink -f "$d/iommu_group") || { echo "BAD no group link $b"; continue; }
  [ -L "$g/devices/$b" ] || echo "BAD $b not in $g/devices"
done
[ -e $P/devices/${REMOVED} ] || echo "BAD ${REMOVED} not back after rescan"
[ -e $P/devices/0000:01:00.1 ] && echo "BAD a VF left after numvfs 0"
lspci -O sysfs.path=$P -vmm > /dev/null 2> $T/lspci.err
echo "LSPCI $?"
sed "s/^/LSPCIERR /" $T/lspci.err
echo DONE
`;
}

after(assertNothingMounted);

describe('stress: readers and writers on one mount', () => {
  it(`${SECONDS} s of tree walks during SR-IOV toggles, rebinds and remove/rescan: only ENOENT on vanishing paths, consistent after`, async () => {
    const scratch = await mkdtemp(join(tmpdir(), 'iommufs-stress-'));
    const walker = await Walker.create(scratch);
    await withDaemon(SRIOV, async (mnt) => {
      const earlier = await walker.walk(mnt);
      const r = await sh(script(mnt), { timeoutMs: (SECONDS + 60) * 1000 });
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
      const lines = r.stdout.split('\n').filter((l) => l !== '');
      assert.deepEqual(lines.filter((l) => l.startsWith('SETUP') || l.startsWith('RESTORE')), []);
      assert.equal(lines.at(-1), 'DONE', r.stdout);
      // Every loop ran; the writers at least once each, so there was something to race.
      const counts = new Map(lines.filter((l) => l.startsWith('COUNT ')).map((l) => l.split(' ').slice(1) as [string, string]));
      for (const who of ['reader1', 'reader2', 'reader3', 'reader4', 'sriov', 'rebind', 'replug']) {
        assert.ok(Number(counts.get(who) ?? 0) >= 1, `${who} did not complete a round: ${r.stdout}`);
      }
      const readerErrors = lines.filter((l) => l.startsWith('READERR ')).map((l) => l.slice('READERR '.length));
      assert.deepEqual(readerErrors.filter((l) => !mayVanish(l)), []);
      // Each writer works in its own lane (one PF, one NIC, one removed device), in order,
      // so none of its writes may fail.
      assert.deepEqual(lines.filter((l) => l.startsWith('WRITERR ')), []);
      assert.deepEqual(lines.filter((l) => l.startsWith('BAD ')), []);
      assert.ok(lines.includes('LSPCI 0'), r.stdout);
      assert.deepEqual(lines.filter((l) => l.startsWith('LSPCIERR ')), []);
      // Thousands of invalidations raced with the readers' lookups: nothing stale is left.
      await assertWarmEqualsCold(walker, mnt, earlier, 'after the stress');
    }).finally(() => rm(scratch, { recursive: true, force: true }));
  });

  it('the ENOENT filter accepts only paths a writer removes', () => {
    const enoent = (p: string): string => `find: '${p}': No such file or directory`;
    assert.ok(mayVanish(enoent('/m/bus/pci/devices/0000:01:00.3')));
    assert.ok(mayVanish(`cat: /m/kernel/iommu_groups/9/devices/0000:01:00.2/vendor: No such file or directory`));
    assert.ok(mayVanish(enoent('/m/kernel/iommu_groups/8')));
    assert.ok(mayVanish(`cat: /m/kernel/iommu_groups/7/devices/0000:03:00.0/vendor: No such device`));
    assert.ok(!mayVanish(`cat: /m/kernel/iommu_groups/1/devices/0000:00:01.0/vendor: No such device`));
    assert.ok(mayVanish(enoent('/m/kernel/debug/iommufs/groups/10/state')));
    assert.ok(!mayVanish(enoent('/m/kernel/debug/iommufs/groups/6/state')));
    assert.ok(mayVanish(enoent(`/m/devices/pci0000:00/0000:00:02.2/${REMOVED}/config`)));
    assert.ok(mayVanish(enoent(`/m/bus/pci/drivers/e1000e/${NIC}`)));
    assert.ok(!mayVanish(enoent(`/m/bus/pci/devices/${PF}`)));
    assert.ok(!mayVanish(enoent(`/m/bus/pci/devices/${NIC}/vendor`)));
    assert.ok(mayVanish(enoent(`/m/devices/pci0000:00/0000:00:02.1/${NIC}/net/eth0`)));
    assert.ok(mayVanish(enoent(`/m/devices/pci0000:00/0000:00:02.1/${NIC}/msi_irqs`)));
    assert.ok(!mayVanish(enoent(`/m/devices/pci0000:00/0000:00:02.1/${NIC}/wakeup`)));
    assert.ok(!mayVanish(enoent(`/m/devices/pci0000:00/0000:00:02.0/${PF}/net`)));
    assert.ok(!mayVanish(enoent('/m/kernel/iommu_groups/5/devices')));
    assert.ok(!mayVanish(`find: '/m/bus/pci/devices/0000:01:00.3': Input/output error`));
  });
});
