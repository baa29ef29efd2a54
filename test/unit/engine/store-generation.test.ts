// The change gateway (engine/change-log.ts): every store that changes engine state reports it
// through m.changes.note, which moves m.generation, the key of the views' and the FUSE
// layer's caches (Machine.configBytes too). Walks the whole in-process tree of freshly
// booted machines, writes a value each writable attribute takes (one that differs from what
// it shows, after whatever setup it needs) on a fresh machine, and checks the generation
// moved. A write that was accepted but left the generation alone must have left the whole
// tree as it was (accept and ignore), which catches a store that changes state silently.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isErrno } from '../../../src/engine/errno';
import type { Machine } from '../../../src/engine/machine';
import type { DirNode } from '../../../src/sysfs/node';
import { sysfsTree } from '../../../src/sysfs/tree';
import { TOPOLOGIES } from '../../helpers/paths';
import { DOMAINS_TOPOLOGY } from './domains-fixture';
import { armPlatformTopology, bootText, nodeAt, write } from './state-writes';
import { firstDifference, walkTree } from './state-tree-walk';

/** Stores that accept a valid write and keep nothing, so the generation stays. */
const IGNORED: Record<string, string> = {
  uevent: 'a uevent write only emits an event (kobject_synth_uevent); nothing in sysfs changes',
  reset: 'a function reset (pci_reset_function) is not simulated: no sysfs state changes',
  reset_subordinate: 'a secondary bus reset is not simulated: no sysfs state changes',
  autosuspend_delay_ms: 'EIO for every value: no simulated driver uses autosuspend',
  rescan_controller: 'nvme_sysfs_rescan: no namespace comes or goes on a simulated controller',
  reset_controller: 'nvme_sysfs_reset on a live controller: it comes back as it was',
  events_poll_msecs: 'ENODEV for every value: an NVMe disk has no disk events',
  io_poll: 'EINVAL for every value: no poll queues (nvme.poll_queues=0)',
  io_poll_delay: 'accepted and ignored in 6.1 (classic polling is gone)',
  act_mask: 'blktrace is not simulated: EINVAL',
  start_lba: 'blktrace is not simulated: EINVAL',
  end_lba: 'blktrace is not simulated: EINVAL',
  pid: 'blktrace is not simulated: EINVAL',
};

interface Attempt {
  /** Setup writes on the fresh machine first (their generation moves are not counted). */
  pre?: (m: Machine) => void;
  text: (m: Machine) => string | Buffer;
  offset?: number;
}

const fixed = (text: string, pre?: (m: Machine) => void): Attempt => ({ text: () => text, pre });
const DEBUG = 'kernel/debug/iommufs';

/** What each attribute may take, tried in order on fresh machines until one is accepted. */
function attempts(m: Machine, path: string, name: string, shown: string | undefined): Attempt[] {
  const devices = m.pciDevicesInOrder().map((d) => d.name);
  const groups = m.sortedGroups().map((g) => g.id);
  const units = m.units.filter((u) => u.active).map((u) => u.name);
  const other = (...xs: string[]): Attempt[] => xs.filter((x) => x !== shown).map((x) => fixed(`${x}\n`));
  const dir = path.slice(0, path.lastIndexOf('/'));
  // A group is claimed once no host driver is bound in it (the claim's EPERM otherwise).
  const claimed = (g: number) => (x: Machine): void => {
    for (const d of x.groups.get(g)?.devices ?? []) if (d.kind === 'pci' && d.driver !== null) write(x, `bus/pci/drivers/${d.driver}/unbind`, `${d.name}\n`);
    write(x, `${DEBUG}/claim`, `${g} test\n`);
  };
  const withDomain = (g: number, u: string, caps = '') => (x: Machine): void => {
    claimed(g)(x);
    write(x, `${DEBUG}/alloc_domain`, `${u}${caps}\n`);
  };
  switch (name) {
    case 'bind':
    case 'unbind':
    case 'drivers_probe':
      return devices.map((d) => fixed(`${d}\n`));
    case 'new_id':
      return m.pciDevicesInOrder().map((d) => fixed(`${d.fn.id.vendor.toString(16)} ${d.fn.id.device.toString(16)}\n`));
    case 'remove_id':
      return [fixed('1234 5678\n', (x) => write(x, `${dir}/new_id`, '1234 5678\n'))];
    case 'driver_override':
      return [fixed('vfio-pci\n')];
    case 'drivers_autoprobe':
    case 'sriov_drivers_autoprobe':
      return other('0', '1');
    case 'rescan':
      // A rescan finds what a removal took away.
      return devices.map((d) => fixed('1\n', (x) => write(x, `bus/pci/devices/${d}/remove`, '1\n')));
    case 'remove':
      return [fixed('1\n')];
    case 'resource_alignment':
      return [fixed('20@0000:00:02.0\n')];
    case 'rom':
      return [fixed('1\n')];
    case 'broken_parity_status':
    case 'd3cold_allowed':
    case 'msi_bus':
    case 'enable':
      return other('0', '1');
    case 'numa_node':
      return other('-1', '0');
    case 'async':
    case 'wakeup':
      return other('enabled', 'disabled');
    case 'control':
      return other('auto', 'on');
    case 'reset_method':
      return [fixed('\n'), fixed('default\n', (x) => write(x, path, '\n'))];
    case 'sriov_numvfs':
      // sriov_numvfs_store wants a bound PF driver.
      return other('1', '2').map((a) => ({ ...a, pre: (x: Machine) => write(x, 'bus/pci/drivers_probe', `${path.split('/').at(-2)}\n`) }));
    case 'config':
      return [{ text: (x) => Buffer.from([(nodeAt(x, path) as { show(): Buffer }).show()[4]! ^ 0x04]), offset: 4 }];
    case 'type':
      return other('identity', 'DMA', 'DMA-FQ');
    case 'dma_entry_limit':
      return other('100', '65535');
    case 'create':
      return [fixed('11111111-2222-4333-8444-555555555555\n')];
    case 'load_module':
      return ['ixgbevf', 'iavf', 'vfio_pci', 'pci_stub'].map((x) => fixed(`${x}\n`, (y) => (y.modules.isLoaded(x) ? write(y, `${DEBUG}/unload_module`, `${x}\n`) : undefined)));
    case 'unload_module':
      return ['pci_stub', 'vfio_pci'].map((x) => fixed(`${x}\n`));
    case 'claim':
    case 'leave_host':
      return groups.map((g) => fixed(`${g}${name === 'claim' ? ' test' : ''}\n`));
    case 'release':
      return groups.map((g) => fixed(`${g} test\n`, claimed(g)));
    case 'return_host':
      return groups.map((g) => fixed(`${g}\n`, (x) => write(x, `${DEBUG}/leave_host`, `${g}\n`)));
    case 'alloc_domain':
      return units.map((u) => fixed(`${u}\n`));
    case 'free_domain':
      return units.map((u) => ({ pre: (x) => write(x, `${DEBUG}/alloc_domain`, `${u}\n`), text: (x) => `${x.dma.lastAllocated}\n` }));
    case 'attach':
    case 'replace': {
      // replace goes from one user domain to another: attached to a first one before.
      const pre = (g: number, u: string) => (x: Machine): void => {
        withDomain(g, u)(x);
        if (name === 'attach') return;
        write(x, `${DEBUG}/attach`, `${g} ${x.dma.lastAllocated}\n`);
        write(x, `${DEBUG}/alloc_domain`, `${u}\n`);
      };
      return groups.flatMap((g) => units.map((u) => ({ pre: pre(g, u), text: (x: Machine) => `${g} ${x.dma.lastAllocated}\n` })));
    }
    case 'detach':
      return groups.flatMap((g) => units.map((u) => fixed(`${g}\n`, (x) => {
        withDomain(g, u)(x);
        write(x, `${DEBUG}/attach`, `${g} ${x.dma.lastAllocated}\n`);
      })));
    case 'pasid_attach':
    case 'pasid_replace':
    case 'pasid_detach':
      return m.pciDevicesInOrder().flatMap((d) => {
        const g = d.group?.id;
        const u = d.unit?.name;
        if (g === undefined || u === undefined) return [];
        const pre = (x: Machine): void => {
          withDomain(g, u, ' pasid')(x);
          if (name !== 'pasid_attach') write(x, `${DEBUG}/pasid_attach`, `${d.name} 1 ${x.dma.lastAllocated}\n`);
          if (name === 'pasid_replace') write(x, `${DEBUG}/alloc_domain`, `${u} pasid\n`);
        };
        return [{ pre, text: (x: Machine) => (name === 'pasid_detach' ? `${d.name} 1\n` : `${d.name} 1 ${x.dma.lastAllocated}\n`) }];
      });
    // An NVMe disk's queue/, iosched/, integrity/, its bdi and its subsystem's iopolicy.
    case 'scheduler':
      return other('none', 'mq-deadline');
    case 'write_cache':
      return other('write through', 'write back');
    case 'iopolicy':
      return other('round-robin', 'numa');
    case 'wbt_lat_usec':
    case 'read_ahead_kb':
    case 'max_sectors_kb':
    case 'nr_requests':
    case 'io_timeout':
    case 'discard_max_bytes':
    case 'rotational':
    case 'nomerges':
    case 'rq_affinity':
    case 'iostats':
    case 'stable_writes':
    case 'add_random':
    case 'read_verify':
    case 'write_generate':
    case 'async_depth':
    case 'fifo_batch':
    case 'front_merges':
    case 'prio_aging_expire':
    case 'read_expire':
    case 'write_expire':
    case 'writes_starved':
    case 'min_ratio':
    case 'max_ratio':
      return other('1', '0', '64', '4096');
    case 'temp1_max':
    case 'temp1_min':
      return other('50000', '60000');
    default:
      // Module parameters (bool): the other value.
      if (path.startsWith('module/')) return other('Y', 'N');
      return [];
  }
}

/** Every writable attribute of a machine's tree (links are not followed: each once). */
function writablePaths(m: Machine): string[] {
  const out: string[] = [];
  const visit = (d: DirNode, path: string): void => {
    for (const name of d.list()) {
      const node = d.lookup(name);
      const here = path === '' ? name : `${path}/${name}`;
      if (node?.kind === 'dir') visit(node, here);
      else if (node?.kind === 'attr' && node.store) out.push(here);
    }
  };
  visit(sysfsTree(m).root, '');
  return out;
}

function shownText(m: Machine, path: string): string | undefined {
  const node = nodeAt(m, path);
  if (!node || node.kind !== 'attr' || (node.mode & 0o444) === 0) return undefined;
  try {
    return node.show().toString('latin1').trim();
  } catch {
    return undefined;
  }
}

const SRIOV = readFileSync(join(TOPOLOGIES, 'qemu-sriov.yaml'), 'utf8');
const ARM_PLATFORM = armPlatformTopology();

describe('every successful store moves the generation (the change gateway)', () => {
  /** Stores whose write moved the generation on some machine, and every writable name seen. */
  const moved = new Set<string>();
  const seen = new Set<string>();
  for (const [label, text] of [
    ['qemu-sriov', SRIOV],
    ['domains-lab', DOMAINS_TOPOLOGY],
    ['arm-platform', ARM_PLATFORM],
  ] as const) {
    it(`${label}: each writable attribute, written with a value it takes, moves it`, () => {
      const probe = bootText(text);
      const accepted = new Set<string>();
      const silent: string[] = [];
      let tried = 0;
      for (const path of writablePaths(probe)) {
        const name = path.slice(path.lastIndexOf('/') + 1);
        if (name in IGNORED) continue;
        for (const a of attempts(probe, path, name, shownText(probe, path))) {
          const m = bootText(text);
          try {
            a.pre?.(m);
          } catch (e) {
            if (isErrno(e)) continue;
            throw e;
          }
          if (!nodeAt(m, path)) continue;
          const before = walkTree(m);
          const gen = m.generation;
          try {
            write(m, path, a.text(m), a.offset ?? 0);
          } catch (e) {
            if (isErrno(e)) continue;
            throw e;
          }
          if (m.generation !== gen) {
            accepted.add(name);
            break;
          }
          // Accepted without a report: only right when nothing at all changed (then the
          // next value is tried, e.g. drivers_probe of a device no driver matches).
          const diff = firstDifference(before, walkTree(m));
          if (diff !== undefined) silent.push(`${path}: ${diff}`);
        }
        tried++;
      }
      assert.deepEqual(silent, [], 'stores that changed the tree without m.changes.note');
      assert.ok(tried > 50, `only ${tried} writable attributes`);
      for (const n of accepted) moved.add(n);
      for (const p of writablePaths(probe)) seen.add(p.slice(p.lastIndexOf('/') + 1));
    });
  }

  it('every kind of writable attribute was written somewhere with a change (PASID and domain files need a PASID-capable unit)', () => {
    const never = [...seen].filter((n) => !(n in IGNORED) && !moved.has(n));
    assert.deepEqual(never, [], 'no write to these stores was accepted and moved the generation');
  });
});
