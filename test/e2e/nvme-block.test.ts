// A bound nvme driver's class devices and namespace disks on a real mount, read by real tools:
// /sys/block and /sys/dev links, the disk's attributes, lsblk (reading /sys/block and
// /sys/dev/block) and udevadm under `iommufs run`, the names a rebind gets, and the kernel's
// caches over the mount after bind and unbind (a warm walk equals a cold one).

import assert from 'node:assert/strict';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLI } from '../helpers/paths';
import { assertNothingMounted, q, run, sh, withDaemon } from './harness';
import { difference, dropKernelCaches, Walker } from './walk';

after(assertNothingMounted);

const NVME_A = '0000:01:00.0';
const NVME_B = '0000:02:00.0';
const TOPOLOGY = `version: 1
name: nvme-lab
cmdline: intel_iommu=on
iommus:
  - { name: dmar0, type: intel-vtd, scope: all, interrupt-remapping: true }
pci:
  - segment: 0x0000
    bus: 0x00
    devices:
      "00.0": { id: 8086:29c0, class: 0x060000, type: host-bridge }
      "01.0":
        id: 1b36:000c
        type: root-port
        devices:
          "00.0":
            id: 144d:a808
            class: 0x010802
            driver: nvme
            nvme: { namespaces: [1TB, { size: 512GiB, lba: 4096 }], model: Samsung SSD 970 EVO Plus 1TB, serial: S4EWNX0R123456, firmware: 2B2QEXM7 }
      "02.0":
        id: 1b36:000c
        type: root-port
        devices:
          "00.0": { id: 144d:a808, class: 0x010802, driver: nvme }
`;

let dir = '';
let topology = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'iommufs-nvme-'));
  topology = join(dir, 'nvme-lab.yaml');
  await writeFile(topology, TOPOLOGY);
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function shIn(mnt: string, script: string): Promise<string> {
  const r = await sh(`cd ${q(mnt)} && ${script}`);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

describe('nvme: controllers, namespaces and block devices', () => {
  it('ls /sys/block, readlink -f, size, the controller, the subsystem and /sys/dev on a mount', async () => {
    await withDaemon(topology, async (mnt) => {
      assert.equal(await shIn(mnt, 'ls block'), 'nvme0n1\nnvme0n2\nnvme1n1\n');
      const disk = `devices/pci0000:00/0000:00:01.0/${NVME_A}/nvme/nvme0/nvme0n2`;
      assert.equal(await shIn(mnt, 'readlink -f block/nvme0n2'), `${mnt}/${disk}\n`);
      assert.equal(await shIn(mnt, 'readlink -f class/block/nvme0n2 dev/block/259:1'), `${mnt}/${disk}\n${mnt}/${disk}\n`);
      // 512 GiB in 512-byte sectors; a 4096-byte LBA format.
      assert.equal(await shIn(mnt, `cat ${disk}/size ${disk}/queue/logical_block_size ${disk}/dev ${disk}/nsid ${disk}/range ${disk}/ext_range`), '1073741824\n4096\n259:1\n2\n0\n256\n');
      assert.equal(await shIn(mnt, `cat ${disk}/uevent`), 'MAJOR=259\nMINOR=1\nDEVNAME=nvme0n2\nDEVTYPE=disk\nDISKSEQ=2\n');
      assert.equal(await shIn(mnt, `cat block/nvme1n1/size block/nvme1n1/queue/rotational block/nvme1n1/queue/scheduler`), '1953125000\n0\n[mq-deadline] none\n');
      const ctrl = `devices/pci0000:00/0000:00:01.0/${NVME_A}/nvme/nvme0`;
      assert.equal(await shIn(mnt, `ls ${ctrl} | tr '\\n' ' '`), 'address cntlid cntrltype dctype dev device firmware_rev hwmon0 kato model ng0n1 ng0n2 numa_node nvme0n1 nvme0n2 power queue_count rescan_controller reset_controller serial sqsize state subsysnqn subsystem transport uevent ');
      assert.equal(await shIn(mnt, `cat ${ctrl}/model ${ctrl}/serial ${ctrl}/firmware_rev ${ctrl}/transport ${ctrl}/address ${ctrl}/state`), `Samsung SSD 970 EVO Plus 1TB            \nS4EWNX0R123456      \n2B2QEXM7\npcie\n${NVME_A}\nlive\n`);
      assert.equal(await shIn(mnt, `stat -c '%a %n' ${ctrl}/reset_controller ${ctrl}/model ${disk}/queue/scheduler ${disk}/events_poll_msecs`), `200 ${ctrl}/reset_controller\n444 ${ctrl}/model\n644 ${disk}/queue/scheduler\n644 ${disk}/events_poll_msecs\n`);
      assert.equal(await shIn(mnt, 'readlink devices/virtual/nvme-subsystem/nvme-subsys0/nvme0 class/nvme-generic/ng0n1'), `../../../pci0000:00/0000:00:01.0/${NVME_A}/nvme/nvme0\n../../devices/pci0000:00/0000:00:01.0/${NVME_A}/nvme/nvme0/ng0n1\n`);
      assert.equal(await shIn(mnt, `readlink ${disk}/bdi ${disk}/device ${disk}/subsystem`), '../../../../../../virtual/bdi/259:1\n../../nvme0\n../../../../../../../class/block\n');
      // kernfs writes links to an ancestor up past it and back down (kernfs_get_target_path).
      assert.equal(await shIn(mnt, `readlink ${ctrl}/device ${ctrl}/hwmon0/device`), `../../../${NVME_A}\n../../nvme0\n`);
      assert.equal(await shIn(mnt, `cat ${ctrl}/hwmon0/name ${ctrl}/hwmon0/temp1_label ${ctrl}/hwmon0/temp1_input ${ctrl}/hwmon0/temp1_min`), 'nvme\nComposite\n49850\n-273150\n');
      assert.equal(await shIn(mnt, 'ls dev/char | tr "\\n" " "'), '242:0 242:1 242:2 243:0 243:1 ');
      // wwid without UUID, NGUID or EUI-64: vendor, serial and model in hex, NSID.
      assert.equal(await shIn(mnt, `cat ${disk}/wwid`), `nvme.144d-${Buffer.from('S4EWNX0R123456').toString('hex')}-${Buffer.from('Samsung SSD 970 EVO Plus 1TB').toString('hex')}-00000002\n`);
      // A refused write changes nothing and gets the kernel's errno.
      const bad = await sh(`cd ${q(mnt)} && echo bfq > ${disk}/queue/scheduler`);
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /Invalid argument/);
      assert.equal(await shIn(mnt, `echo none > ${disk}/queue/scheduler && cat ${disk}/queue/scheduler ${disk}/queue/nr_requests && ls ${disk}/queue | grep -c iosched || true`), '[none] mq-deadline\n1023\n0\n');
    });
  });

  it('unbind removes every class device and disk; a rebind takes the lowest free numbers again', async () => {
    await withDaemon(topology, async (mnt) => {
      await shIn(mnt, `echo ${NVME_A} > bus/pci/drivers/nvme/unbind`);
      assert.equal(await shIn(mnt, 'ls block; ls dev/block; ls class/nvme; ls devices/virtual/nvme-subsystem'), 'nvme1n1\n259:2\nnvme1\nnvme-subsys1\n');
      assert.equal(await shIn(mnt, `ls devices/pci0000:00/0000:00:01.0/${NVME_A} | grep -c '^nvme$' || true`), '0\n');
      await shIn(mnt, `echo ${NVME_A} > bus/pci/drivers/nvme/bind`);
      // nvme0 and minors 259:0, 259:1 were free again; diskseq moves on (4, 5).
      assert.equal(await shIn(mnt, 'ls block; ls dev/block; cat block/nvme0n1/diskseq block/nvme0n2/diskseq'), 'nvme0n1\nnvme0n2\nnvme1n1\n259:0\n259:1\n259:2\n4\n5\n');
    });
  });

  it('a warm mount reads exactly like a cold one and like a fresh daemon from its --state, after unbind, bind and queue writes', async () => {
    const walker = await Walker.create(dir);
    const state = join(dir, 'state.json');
    const copy = join(dir, 'state-copy.json');
    const lines = [
      `echo ${NVME_B} > bus/pci/drivers/nvme/unbind`,
      `echo ${NVME_B} > bus/pci/drivers/nvme/bind`,
      'echo none > block/nvme0n1/queue/scheduler',
      'echo 1024 > block/nvme0n2/queue/read_ahead_kb && echo round-robin > devices/virtual/nvme-subsystem/nvme-subsys1/iopolicy',
      `echo ${NVME_A} > bus/pci/drivers/nvme/unbind`,
      `echo ${NVME_A} > bus/pci/drivers/nvme/bind`,
    ];
    await withDaemon(
      topology,
      async (mnt) => {
        let seen = await walker.walk(mnt);
        for (const line of lines) {
          await shIn(mnt, line);
          const warm = await walker.walk(mnt, seen);
          await dropKernelCaches();
          const cold = await walker.walk(mnt, seen);
          assert.deepEqual(warm, cold, `${line}: the warm mount differs from the same mount read cold\n${difference(warm, cold, ['warm', 'cold'])}`);
          await copyFile(state, copy);
          await withDaemon(topology, async (fresh) => {
            const truth = await walker.walk(fresh, seen);
            assert.deepEqual(warm, truth, `${line}: the warm mount differs from a fresh mount of the same state\n${difference(warm, truth)}`);
          }, ['--state', copy]);
          seen = warm;
        }
      },
      ['--state', state],
    );
  });

  it('under iommufs run: lsblk lists the disks from /sys/block and /sys/dev/block, udevadm info reads one', async () => {
    const script = [
      'lsblk -d -n -o NAME,SIZE,MAJ:MIN,ROTA,LOG-SEC,TYPE',
      'echo ---',
      'udevadm info --query=property /sys/block/nvme1n1 | grep -E "^(DEVPATH|DEVNAME|DEVTYPE|MAJOR|MINOR|SUBSYSTEM)="',
    ].join('\n');
    const r = await run(process.execPath, [CLI, 'run', topology, '--', 'sh', '-c', script], { timeoutMs: 90_000 });
    assert.equal(r.code, 0, r.stderr);
    const [lsblk, udev] = r.stdout.split('---\n');
    assert.deepEqual(lsblk!.trim().split('\n').map((l) => l.trim().split(/\s+/)), [
      ['nvme0n1', '931.3G', '259:0', '0', '512', 'disk'],
      ['nvme0n2', '512G', '259:1', '0', '4096', 'disk'],
      ['nvme1n1', '931.3G', '259:2', '0', '512', 'disk'],
    ]);
    assert.equal(udev, [`DEVPATH=/devices/pci0000:00/0000:00:02.0/${NVME_B}/nvme/nvme1/nvme1n1`, 'DEVNAME=/dev/nvme1n1', 'DEVTYPE=disk', 'MAJOR=259', 'MINOR=2', 'SUBSYSTEM=block', ''].join('\n'));
  });
});
