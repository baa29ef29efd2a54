// The domain engine through a real mount: `iommufs ctl` against kernel/debug/iommufs/ of a
// running `iommufs mount`, and the kernel-faithful files (bind) reacting to ownership.

import assert from 'node:assert/strict';
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLI_MAIN, assertNothingMounted, q, run, sh, withDaemon } from './harness';
import { DOMAINS_TOPOLOGY } from '../unit/engine/domains-fixture';

after(assertNothingMounted);

let dir = '';
let topo = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'iommufs-domains-'));
  topo = join(dir, 'domains-lab.yaml');
  await writeFile(topo, DOMAINS_TOPOLOGY);
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

function ctl(mnt: string, ...args: string[]) {
  return run(process.execPath, [CLI_MAIN, 'ctl', mnt, ...args]);
}

async function ok(mnt: string, ...args: string[]): Promise<string> {
  const r = await ctl(mnt, ...args);
  assert.equal(r.code, 0, `ctl ${args.join(' ')}: ${r.stderr}`);
  assert.equal(r.stderr, '');
  return r.stdout;
}

async function refused(mnt: string, text: string, ...args: string[]): Promise<void> {
  const r = await ctl(mnt, ...args);
  assert.equal(r.code, 1, `ctl ${args.join(' ')} should fail`);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, `iommufs ctl: ${args[0]}: ${text}\n`);
}

async function groupLine(mnt: string, id: number): Promise<string | undefined> {
  return (await ok(mnt, 'status')).split('\n').find((l) => l.startsWith(`group ${id}:`));
}

describe('iommufs ctl on a mount', () => {
  it('claims, attaches, replaces, detaches and releases the NIC group; refusals exit 1 with strerror', async () => {
    await withDaemon(topo, async (mnt) => {
      const CTL = `${mnt}/kernel/debug/iommufs`;
      assert.equal(await groupLine(mnt, 6), 'group 6: state=host owner=none domain=default viable=0');
      await refused(mnt, 'Operation not permitted', 'claim', '6', 'qemu');
      let r = await sh(`echo 0000:01:00.0 > ${q(mnt)}/bus/pci/drivers/e1000e/unbind`);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await ok(mnt, 'claim', '6', 'qemu'), '');
      assert.equal(await groupLine(mnt, 6), 'group 6: state=user owner=qemu domain=blocking viable=1');
      // A host driver may not come back while the group is owned.
      r = await sh(`echo 0000:01:00.0 > ${q(mnt)}/bus/pci/drivers/e1000e/bind`);
      assert.match(r.stderr, /write error: Device or resource busy/);
      r = await sh(`echo 0000:01:00.0 > ${q(mnt)}/bus/pci/drivers_probe`);
      assert.match(r.stderr, /write error: Invalid argument/);

      const d1 = (await ok(mnt, 'alloc', 'dmar0', 'pasid')).trim();
      assert.match(d1, /^\d+$/);
      await refused(mnt, 'Operation not supported', 'alloc', 'dmar1', 'pasid');
      await refused(mnt, 'No such device', 'alloc', 'dmar9');
      assert.equal(await ok(mnt, 'attach', '6', d1), '');
      assert.equal(await groupLine(mnt, 6), `group 6: state=user owner=qemu domain=${d1} viable=1`);
      r = await sh(`cat ${q(CTL)}/domains/${d1}/groups ${q(CTL)}/domains/${d1}/type ${q(CTL)}/domains/${d1}/caps ${q(CTL)}/domains/${d1}/unit`);
      assert.equal(r.stdout, `6\nunmanaged\npasid\ndmar0\n`);
      await refused(mnt, 'Device or resource busy', 'attach', '6', d1);
      await refused(mnt, 'Invalid argument', 'replace', '6', 'none');
      await refused(mnt, 'No such file or directory', 'replace', '6', '999');
      assert.equal(await groupLine(mnt, 6), `group 6: state=user owner=qemu domain=${d1} viable=1`, 'a refused replace keeps the old domain');
      const d2 = (await ok(mnt, 'alloc', 'dmar0', 'dirty', 'nesting')).trim();
      assert.equal(await ok(mnt, 'replace', '6', d2), '');
      assert.equal(await groupLine(mnt, 6), `group 6: state=user owner=qemu domain=${d2} viable=1`);

      assert.equal(await ok(mnt, 'pasid-attach', '0000:01:00.0', '5', d1), '');
      r = await sh(`cat ${q(CTL)}/domains/${d1}/pasids`);
      assert.equal(r.stdout, '0000:01:00.0:5\n');
      await refused(mnt, 'Device or resource busy', 'pasid-attach', '0000:01:00.0', '5', d1);
      assert.equal(await ok(mnt, 'pasid-detach', '0000:01:00.0', '5'), '');
      await refused(mnt, 'Device or resource busy', 'free', d2);

      assert.equal(await ok(mnt, 'detach', '6'), '');
      assert.equal(await groupLine(mnt, 6), 'group 6: state=user owner=qemu domain=blocking viable=1');
      await refused(mnt, 'Operation not permitted', 'release', '6', 'other');
      assert.equal(await ok(mnt, 'release', '6', 'qemu'), '');
      assert.equal(await groupLine(mnt, 6), 'group 6: state=idle owner=none domain=default viable=1');
      assert.equal(await ok(mnt, 'free', d2), '');
      r = await sh(`ls ${q(CTL)}/domains`);
      assert.equal(r.stdout, `${d1}\n`);
    });
  });

  it('leave-host blocks new host drivers until return-host; interrupt remapping shows in why', async () => {
    await withDaemon(topo, async (mnt) => {
      const CTL = `${mnt}/kernel/debug/iommufs`;
      await ok(mnt, 'leave-host', '6');
      assert.equal(await groupLine(mnt, 6), 'group 6: state=leaving-host owner=none domain=default viable=0');
      let r = await sh(`cd ${q(mnt)} && echo 0000:01:00.0 > bus/pci/drivers/e1000e/unbind && echo 0000:01:00.0 > bus/pci/drivers/e1000e/bind`);
      assert.match(r.stderr, /write error: Device or resource busy/);
      assert.equal(await groupLine(mnt, 6), 'group 6: state=idle owner=none domain=default viable=1');
      await ok(mnt, 'return-host', '6');
      r = await sh(`echo 0000:01:00.0 > ${q(mnt)}/bus/pci/drivers/e1000e/bind && cat ${q(CTL)}/groups/6/state`);
      assert.equal(r.stdout, 'host\n', r.stderr);
      await refused(mnt, 'Invalid argument', 'return-host', '6');
      // Group 9 sits behind dmar1, which has no interrupt remapping.
      r = await sh(`echo 0000:04:00.1 > ${q(mnt)}/bus/pci/drivers/snd_hda_intel/unbind && tail -n 1 ${q(CTL)}/groups/9/why`);
      assert.equal(r.stdout, 'Assignable to a user: no, dmar1 has no interrupt remapping and vfio_iommu_type1.allow_unsafe_interrupts is not set\n');
      await refused(mnt, 'Operation not permitted', 'claim', '9', 'qemu');
    });
  });

  it('usage errors exit 2; a path that is not a mount fails with strerror', async () => {
    let r = await ctl(dir, 'frobnicate');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown verb 'frobnicate'/);
    r = await ctl(dir, 'claim', '6');
    assert.equal(r.code, 2);
    r = await ctl(dir, 'claim', '6', 'qemu');
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'iommufs ctl: claim: No such file or directory\n');
  });
});
