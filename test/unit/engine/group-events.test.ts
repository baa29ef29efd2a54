// The event log of the change gateway (engine/change-log.ts, group-events.ts): every group
// notifier event and ownership/domain change in the order the engine applied it, numbered
// without gaps, and the uevents of PCI devices; a reader that overflows is told how many
// it lost.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bind, setDriverOverride, unbind } from '../../../src/engine/driver-ops';
import { formatGroupRecord, parseGroupLine } from '../../../src/engine/group-events';
import type { GroupRecord, UeventRecord } from '../../../src/engine/group-events';
import { removeStore, rescanAll } from '../../../src/engine/hotplug';
import type { Machine } from '../../../src/engine/machine';
import { numVfsStore } from '../../../src/engine/sriov';
import { setGroupType } from '../../../src/engine/group-type';
import { parseSynthUevent, synthPciUevent } from '../../../src/engine/uevent';
import { ueventEnv } from '../../../src/sysfs/uevent-env';
import { NIC, PF, bootDomains, groupOf, pci } from './domains-fixture';

/** The group events of `op`, as the events file shows them but numbered from 1. */
function groupLines(m: Machine, op: () => void): string[] {
  const r = m.changes.followGroups();
  const base = m.changes.lastGroupSeq;
  op();
  const out = r.take(Infinity).map((e: GroupRecord) => formatGroupRecord({ ...e, seq: e.seq - base }));
  r.close();
  return out;
}

function ueventLines(m: Machine, op: () => void): string[] {
  const r = m.changes.followUevents();
  op();
  const out = r.take(Infinity).map((e: UeventRecord) => (e.kind === 'lost' ? 'lost' : `${e.action} ${e.device.name}${e.driver ? ` ${e.driver}` : ''}`));
  r.close();
  return out;
}

describe('group events', () => {
  it('unbind then bind: UNBIND_DRIVER, UNBOUND_DRIVER, then BIND_DRIVER, BOUND_DRIVER', () => {
    const m = bootDomains();
    const g = groupOf(m, NIC).id;
    const lines = groupLines(m, () => {
      unbind(m, 'e1000e', NIC);
      setDriverOverride(m, pci(m, NIC), 'vfio-pci');
      bind(m, 'vfio-pci', NIC);
    });
    assert.deepEqual(lines, [
      `1 group ${g} unbind-driver ${NIC} e1000e`,
      `2 group ${g} unbound-driver ${NIC} e1000e`,
      `3 group ${g} bind-driver ${NIC} vfio-pci`,
      `4 group ${g} bound-driver ${NIC} vfio-pci`,
    ]);
  });

  it('a refused bind (EBUSY, the group is owned) sends nothing', () => {
    const m = bootDomains();
    const g = groupOf(m, NIC);
    unbind(m, 'e1000e', NIC);
    m.dma.claim(g, 'qemu');
    assert.deepEqual(groupLines(m, () => assert.throws(() => bind(m, 'e1000e', NIC))), []);
  });

  it('SR-IOV: each VF gets its group, joins it, then binds; disable undoes it in reverse', () => {
    const m = bootDomains();
    const pf = pci(m, PF);
    let vfs: string[] = [];
    const on = groupLines(m, () => {
      numVfsStore(m, pf, '2');
      vfs = m.vfsOf(pf).map((v) => v.name);
    });
    const [a, b] = vfs.map((n) => groupOf(m, n).id);
    assert.deepEqual(on, [
      `1 group ${a} created DMA-FQ`,
      `2 group ${a} add-device ${vfs[0]}`,
      `3 group ${b} created DMA-FQ`,
      `4 group ${b} add-device ${vfs[1]}`,
      `5 group ${a} bind-driver ${vfs[0]} nvme`,
      `6 group ${a} bound-driver ${vfs[0]} nvme`,
      `7 group ${b} bind-driver ${vfs[1]} nvme`,
      `8 group ${b} bound-driver ${vfs[1]} nvme`,
    ]);
    const off = groupLines(m, () => numVfsStore(m, pf, '0'));
    assert.deepEqual(off, [
      `1 group ${b} unbind-driver ${vfs[1]} nvme`,
      `2 group ${b} unbound-driver ${vfs[1]} nvme`,
      `3 group ${b} del-device ${vfs[1]}`,
      `4 group ${b} removed`,
      `5 group ${a} unbind-driver ${vfs[0]} nvme`,
      `6 group ${a} unbound-driver ${vfs[0]} nvme`,
      `7 group ${a} del-device ${vfs[0]}`,
      `8 group ${a} removed`,
    ]);
  });

  it('SR-IOV uevents: add then bind per VF, unbind then remove in reverse, numbered apart', () => {
    const m = bootDomains();
    const pf = pci(m, PF);
    const on = ueventLines(m, () => numVfsStore(m, pf, '2'));
    const [v0, v1] = m.vfsOf(pf).map((v) => v.name);
    assert.deepEqual(on, [`add ${v0}`, `add ${v1}`, `bind ${v0} nvme`, `bind ${v1} nvme`]);
    const before = m.changes.lastUeventSeq;
    assert.deepEqual(ueventLines(m, () => numVfsStore(m, pf, '0')), [`unbind ${v1}`, `remove ${v1}`, `unbind ${v0}`, `remove ${v0}`]);
    assert.equal(m.changes.lastUeventSeq, before + 4);
  });

  it('remove and rescan: the driver goes, then the device, then its group; rescan brings all back', () => {
    const m = bootDomains();
    const g = groupOf(m, NIC).id;
    assert.deepEqual(
      groupLines(m, () => removeStore(m, pci(m, NIC), '1')),
      [`1 group ${g} unbind-driver ${NIC} e1000e`, `2 group ${g} unbound-driver ${NIC} e1000e`, `3 group ${g} del-device ${NIC}`, `4 group ${g} removed`],
    );
    const back = groupLines(m, () => rescanAll(m, '1'));
    const g2 = groupOf(m, NIC).id;
    assert.deepEqual(back, [`1 group ${g2} created DMA-FQ`, `2 group ${g2} add-device ${NIC}`, `3 group ${g2} bind-driver ${NIC} e1000e`, `4 group ${g2} bound-driver ${NIC} e1000e`]);
  });

  it('ownership and domains: leave-host, claim, attach, replace, PASIDs, detach, release', () => {
    const m = bootDomains();
    const g = groupOf(m, NIC);
    const id = g.id;
    unbind(m, 'e1000e', NIC);
    const lines = groupLines(m, () => {
      m.dma.leaveHost(g);
      m.dma.returnHost(g);
      m.dma.claim(g, 'qemu');
      const d1 = m.dma.allocate('dmar0', { pasid: true });
      const d2 = m.dma.allocate('dmar0', { pasid: true });
      m.dma.attach(g, d1.id);
      m.dma.replace(g, d2.id);
      m.dma.attachPasid(pci(m, NIC), 5, d1.id);
      m.dma.replacePasid(pci(m, NIC), 5, d2.id);
      m.dma.detachPasid(pci(m, NIC), 5);
      m.dma.attachPasid(pci(m, NIC), 6, d1.id);
      m.dma.detach(g);
      m.dma.release(g, 'qemu');
    });
    assert.deepEqual(lines, [
      `1 group ${id} leave-host`,
      `2 group ${id} return-host`,
      `3 group ${id} claim qemu`,
      `4 group ${id} attach 1`,
      `5 group ${id} replace 1 2`,
      `6 group ${id} pasid-attach ${NIC} 5 1`,
      `7 group ${id} pasid-replace ${NIC} 5 1 2`,
      `8 group ${id} pasid-detach ${NIC} 5 2`,
      `9 group ${id} pasid-attach ${NIC} 6 1`,
      `10 group ${id} detach 2`,
      `11 group ${id} pasid-detach ${NIC} 6 1`,
      `12 group ${id} release qemu`,
    ]);
  });

  it('a default domain type change', () => {
    const m = bootDomains();
    const g = groupOf(m, NIC);
    unbind(m, 'e1000e', NIC);
    assert.deepEqual(groupLines(m, () => setGroupType(m, g, 'identity')), [`1 group ${g.id} type DMA-FQ identity`]);
  });

  it('a reader gets only what came after it subscribed, and a closed one nothing', () => {
    const m = bootDomains();
    unbind(m, 'e1000e', NIC);
    const r = m.changes.followGroups();
    const first = m.changes.lastGroupSeq + 1;
    bind(m, 'e1000e', NIC);
    assert.deepEqual(r.take(Infinity).map((e) => e.seq), [first, first + 1]);
    r.close();
    unbind(m, 'e1000e', NIC);
    assert.deepEqual(r.take(Infinity), []);
  });

  it('take() stops at the number it is given (events not yet published stay queued)', () => {
    const m = bootDomains();
    const r = m.changes.followGroups();
    const s = m.changes.lastGroupSeq;
    unbind(m, 'e1000e', NIC);
    assert.equal(r.ready(s + 1), true);
    assert.deepEqual(r.take(10, s + 1).map((e) => e.seq), [s + 1]);
    assert.equal(r.ready(s + 1), false);
    assert.deepEqual(r.take(10).map((e) => e.seq), [s + 2]);
  });

  it('overflow: a full reader counts what it drops and reports it as one lost record', () => {
    const m = bootDomains();
    const r = m.changes.followGroups(4);
    const s = m.changes.lastGroupSeq;
    for (let i = 0; i < 5; i++) {
      unbind(m, 'e1000e', NIC);
      bind(m, 'e1000e', NIC);
    }
    // 20 events: 4 kept, 16 lost (numbers s+5 .. s+20).
    assert.deepEqual(r.take(Infinity).map(formatGroupRecord).map((l) => l.split(' ').slice(0, 2).join(' ')), [
      `${s + 1} group`,
      `${s + 2} group`,
      `${s + 3} group`,
      `${s + 4} group`,
      `${s + 20} lost`,
    ]);
    unbind(m, 'e1000e', NIC);
    const rest = r.take(Infinity);
    assert.deepEqual(rest.map((e) => e.seq), [s + 21, s + 22]);
    r.close();
  });

  it('every kind of line parses back to its fields', () => {
    const recs: GroupRecord[] = [
      { kind: 'created', group: 3, type: 'DMA-FQ', seq: 1 },
      { kind: 'bound-driver', group: 7, device: '0000:01:00.0', driver: 'vfio-pci', seq: 42 },
      { kind: 'replace', group: 7, from: 1, to: 2, seq: 43 },
      { kind: 'pasid-replace', group: 7, device: '0000:01:00.0', pasid: 5, from: 1, to: 2, seq: 44 },
      { kind: 'lost', seq: 60, count: 16 },
    ];
    assert.deepEqual(recs.map(formatGroupRecord).map(parseGroupLine), [
      { seq: 1, group: 3, event: 'created', type: 'DMA-FQ' },
      { seq: 42, group: 7, event: 'bound-driver', device: '0000:01:00.0', driver: 'vfio-pci' },
      { seq: 43, group: 7, event: 'replace', from: 1, to: 2 },
      { seq: 44, group: 7, event: 'pasid-replace', device: '0000:01:00.0', pasid: 5, from: 1, to: 2 },
      { seq: 60, event: 'lost', count: 16 },
    ]);
    assert.equal(parseGroupLine('x group 1 removed'), undefined);
    assert.equal(parseGroupLine('1 group 1 claim'), undefined);
  });

  it('a write to a PCI device\'s uevent sends a synthetic uevent with SYNTH_UUID and SYNTH_ARG_*', () => {
    const uuid = '2b5a7c3e-1f4d-4e6a-9b8c-0d1e2f3a4b5c';
    assert.deepEqual(parseSynthUevent('change\n'), { action: 'change', env: ['SYNTH_UUID=0'] });
    assert.deepEqual(parseSynthUevent(`add ${uuid} A=1 b2=x`), { action: 'add', env: [`SYNTH_UUID=${uuid}`, 'SYNTH_ARG_A=1', 'SYNTH_ARG_b2=x'] });
    const m = bootDomains();
    const r = m.changes.followUevents();
    synthPciUevent(m, pci(m, NIC), `change ${uuid}`);
    assert.throws(() => synthPciUevent(m, pci(m, NIC), 'nope'));
    const [e] = r.take(Infinity);
    assert.ok(e && e.kind === 'uevent');
    // envp_ext before the device's own variables; DRIVER= of the bound driver.
    assert.deepEqual(ueventEnv(e).slice(0, 6), [
      'ACTION=change',
      'DEVPATH=/devices/pci0000:00/0000:00:01.0/0000:01:00.0',
      'SUBSYSTEM=pci',
      `SYNTH_UUID=${uuid}`,
      'DRIVER=e1000e',
      'PCI_CLASS=20000',
    ]);
    assert.deepEqual(r.take(Infinity), []);
  });
});
