// The block devices of NVMe namespaces (Linux 6.1): the gendisk nvme_alloc_ns adds below the
// controller's class device (device_add_disk(ctrl->device, ...)), with block/genhd.c's
// disk_attrs, blk-sysfs.c's queue/, blk-mq-sysfs.c's mq/, the integrity and trace groups,
// nvme's namespace attributes, and the places that link to it: /sys/block,
// /sys/class/block, devices/virtual/bdi/<maj:min> (and /sys/dev, dev-links.ts).

import { DISCARD_MAX_HW_BYTES, MAX_HW_SECTORS_KB, TAG_DEPTH, knob, queueOf, storeKnob, storeQueue } from '../engine/block-queue';
import type { BlockDisk, ClassDevice } from '../engine/driver-effects';
import { Errno } from '../engine/errno';
import type { Machine } from '../engine/machine';
import { BLOCK_EXT_MAJOR, namespaceWwid, namespacesOf, nvmeIdentity } from '../engine/nvme';
import { plainPower } from '../engine/power';
import type { PciDevice } from '../engine/types';
import { posix } from 'node:path';
import { dir, link, relLink, ro, roRaw, rw, uevent } from './build';
import type { Entries } from './build';
import type { AttrNode, DirNode, LinkNode } from './node';
import { deviceDirPath } from './paths';
import { powerDir } from './power';
import { cpuLayout } from './system';

/** A namespace disk with everything needed to place it. */
export interface PlacedDisk {
  pci: PciDevice;
  ctrl: ClassDevice;
  disk: BlockDisk;
  /** nvme<subsys instance>n<nsid>; the subsystem's instance is its first controller's. */
  name: string;
  /** Its directory, relative to the root. */
  path: string;
}

export function controllerPath(d: PciDevice, ctrl: ClassDevice): string {
  return `${deviceDirPath(d)}/${ctrl.dir}/${ctrl.name}`;
}

export function disksOf(m: Machine, d: PciDevice): PlacedDisk[] {
  const ctrl = m.driverEffects.classDevices(d).find((c) => c.kind === 'nvme');
  if (!ctrl) return [];
  return m.driverEffects.disks(d).map((disk) => {
    const name = `nvme${ctrl.index}n${disk.nsid}`;
    return { pci: d, ctrl, disk, name, path: `${controllerPath(d, ctrl)}/${name}` };
  });
}

/** Every disk of the machine, sorted by name. */
export function allDisks(m: Machine): PlacedDisk[] {
  return m.pciDevicesInOrder().flatMap((d) => disksOf(m, d)).sort((a, b) => (a.name < b.name ? -1 : 1));
}

export const devt = (k: BlockDisk): string => `${BLOCK_EXT_MAJOR}:${k.minor}`;

/** A symlink as kernfs_get_target_path writes it: up from the link's directory to an ancestor
 * of the target's parent, then down, so a link to an ancestor reads "../../nvme0", not "..". */
export function kernfsLink(fromDir: string, to: string): LinkNode {
  const at = to.lastIndexOf('/');
  return link(posix.join(posix.relative(fromDir, to.slice(0, at)), to.slice(at + 1)));
}

function sortByName(e: Entries): Entries {
  return e.sort((a, b) => (a[0] < b[0] ? -1 : 1));
}

/** A 0644 attribute the simulation shows but does not act on: blktrace is not simulated, a
 * write is refused (EINVAL). */
function shownOnly(show: () => string): AttrNode {
  return rw(show, () => {
    throw new Errno('EINVAL', 'not simulated');
  });
}

/** A 0644 numeric knob of the disk, kept as written. */
function knobAttr(m: Machine, k: PlacedDisk, name: string, initial: number, min: number, max: number): [string, AttrNode] {
  return [name, rw(() => String(knob(k.disk, name, initial)), (t) => storeKnob(k.disk, name, t, min, max, () => m.changes.note()))];
}

/** block/blk-integrity.c integrity_attrs without an integrity profile (no metadata). */
function integrityDir(m: Machine, k: PlacedDisk): DirNode {
  return dir(() => [
    ['device_is_integrity_capable', ro(() => '0')],
    ['format', ro(() => 'none')],
    ['protection_interval_bytes', ro(() => '0')],
    knobAttr(m, k, 'read_verify', 0, 0, 1),
    ['tag_size', ro(() => '0')],
    knobAttr(m, k, 'write_generate', 0, 0, 1),
  ]);
}

/** kernel/trace/blktrace.c blk_trace_attr_group with no trace set up. */
function traceDir(): DirNode {
  const attr = (name: string): [string, AttrNode] => [name, shownOnly(() => (name === 'enable' ? '0' : 'disabled'))];
  return dir(() => ['act_mask', 'enable', 'end_lba', 'pid', 'start_lba'].map(attr));
}

/** blk-mq-sysfs.c: one hardware context (nr_hw_queues 1) mapping every CPU; the software
 * contexts' cpu<N> directories hold no attributes in 6.1. */
function mqDir(m: Machine): DirNode {
  return dir(() => [
    [
      '0',
      dir(() => {
        const cpus = cpuLayout(m).flatMap((l) => l.cpus).sort((a, b) => a - b);
        const e: Entries = cpus.map((c) => [`cpu${c}`, dir(() => [])]);
        e.push(['cpu_list', ro(() => cpus.join(', '))]);
        e.push(['nr_reserved_tags', ro(() => '0')]);
        e.push(['nr_tags', ro(() => String(TAG_DEPTH))]);
        return sortByName(e);
      }),
    ],
  ]);
}

/** block/mq-deadline.c deadline_attrs, its defaults (async_depth: dd_depth_updated's 3/4 of nr_requests). */
function ioschedDir(m: Machine, k: PlacedDisk): DirNode {
  const big = 2 ** 31 - 1;
  return dir(() => [
    knobAttr(m, k, 'async_depth', Math.max(1, Math.floor((3 * queueOf(k.disk).nrRequests) / 4)), 1, big),
    knobAttr(m, k, 'fifo_batch', 16, 0, big),
    knobAttr(m, k, 'front_merges', 1, 0, 1),
    knobAttr(m, k, 'prio_aging_expire', 10000, 0, big),
    knobAttr(m, k, 'read_expire', 500, 0, big),
    knobAttr(m, k, 'write_expire', 5000, 0, big),
    knobAttr(m, k, 'writes_starved', 2, -big, big),
  ]);
}

/** blk-sysfs.c queue_attrs (max_open_zones, max_active_zones hidden on a non-zoned queue;
 * io_timeout shown, nvme has a timeout handler). */
function queueDir(m: Machine, k: PlacedDisk): DirNode {
  const { disk } = k;
  const lba = namespacesOf(k.pci.fn)[disk.nsid - 1]?.lba ?? 512;
  const q = (): ReturnType<typeof queueOf> => queueOf(disk);
  const w = (name: string, show: () => string): [string, AttrNode] => [
    name,
    rw(show, (t) => storeQueue(disk, name, t, (listing) => m.changes.note(listing ? { device: k.pci } : {}))),
  ];
  const c = (name: string, v: string | number): [string, AttrNode] => [name, ro(() => String(v))];
  return dir((): Entries => {
    const e: Entries = [
      c('chunk_sectors', 0),
      c('dax', 0),
      c('discard_granularity', lba),
      w('discard_max_bytes', () => String(q().discardMaxBytes)),
      c('discard_max_hw_bytes', DISCARD_MAX_HW_BYTES),
      c('discard_zeroes_data', 0),
      c('dma_alignment', 3),
      c('fua', 1),
      c('hw_sector_size', lba),
      w('io_poll', () => '0'),
      w('io_poll_delay', () => '-1'),
      w('io_timeout', () => String(q().ioTimeoutMs)),
      w('iostats', () => String(q().iostats)),
      w('add_random', () => String(q().addRandom)),
      c('logical_block_size', lba),
      c('max_discard_segments', 256),
      c('max_hw_sectors_kb', MAX_HW_SECTORS_KB),
      c('max_integrity_segments', 0),
      w('max_sectors_kb', () => String(q().maxSectorsKb)),
      c('max_segment_size', 4294967295),
      c('max_segments', 127),
      c('minimum_io_size', lba),
      w('nomerges', () => String(q().nomerges)),
      w('nr_requests', () => String(q().nrRequests)),
      c('nr_zones', 0),
      c('optimal_io_size', 0),
      c('physical_block_size', lba),
      w('read_ahead_kb', () => String(q().readAheadKb)),
      w('rotational', () => String(q().rotational)),
      w('rq_affinity', () => String(q().rqAffinity)),
      w('scheduler', () => (q().elevator === 'none' ? '[none] mq-deadline' : '[mq-deadline] none')),
      w('stable_writes', () => String(q().stableWrites)),
      c('virt_boundary_mask', 4095),
      w('wbt_lat_usec', () => String(q().wbtLatUsec)),
      w('write_cache', () => (q().writeBack ? 'write back' : 'write through')),
      c('write_same_max_bytes', 0),
      c('write_zeroes_max_bytes', 0),
      c('zone_append_max_bytes', 0),
      c('zone_write_granularity', 0),
      c('zoned', 'none'),
    ];
    if (q().elevator !== 'none') e.push(['iosched', ioschedDir(m, k)]);
    return sortByName(e);
  }, 0o755, () => m.generation);
}

/** part_stat_show: 17 counters, nothing done yet. */
const STAT = Array(17).fill('       0').join(' ');

/** The disk's directory below the controller. */
export function diskDir(m: Machine, k: PlacedDisk): DirNode {
  const { disk, path } = k;
  const ns = namespacesOf(k.pci.fn)[disk.nsid - 1];
  const sectors = ns ? ns.bytes / 512 : 0;
  return dir((): Entries => sortByName([
    ['alignment_offset', ro(() => '0')],
    ['bdi', relLink(path, `devices/virtual/bdi/${devt(disk)}`)],
    ['capability', ro(() => '0')],
    ['dev', ro(() => devt(disk))],
    ['device', kernfsLink(path, controllerPath(k.pci, k.ctrl))],
    ['discard_alignment', ro(() => '0')],
    ['diskseq', ro(() => String(disk.diskseq))],
    // No disk events on NVMe: events and events_async show nothing, events_poll_msecs -1 and
    // its store is ENODEV (disk_events_poll_msecs_store without disk->ev).
    ['events', roRaw(() => '')],
    ['events_async', roRaw(() => '')],
    ['events_poll_msecs', rw(() => '-1', () => {
      throw new Errno('ENODEV', 'no disk events');
    })],
    // disk->minors is 0 (an ext devt disk): range 0, ext_range DISK_MAX_PARTS.
    ['ext_range', ro(() => '256')],
    ['hidden', ro(() => '0')],
    ['holders', dir(() => [])],
    ['inflight', ro(() => '       0        0')],
    ['integrity', integrityDir(m, k)],
    ['mq', mqDir(m)],
    // nvme_ns_id_attrs: uuid, nguid and eui are hidden without those IDs.
    ['nsid', ro(() => String(disk.nsid))],
    ['power', powerDir(m, plainPower(m, disk, '', {}, k.pci))],
    ['queue', queueDir(m, k)],
    ['range', ro(() => '0')],
    ['removable', ro(() => '0')],
    ['ro', ro(() => '0')],
    ['size', ro(() => String(sectors))],
    ['slaves', dir(() => [])],
    ['stat', ro(() => STAT)],
    ['subsystem', relLink(path, 'class/block')],
    ['trace', traceDir()],
    ['uevent', uevent(() => [`MAJOR=${BLOCK_EXT_MAJOR}`, `MINOR=${disk.minor}`, `DEVNAME=${k.name}`, 'DEVTYPE=disk', `DISKSEQ=${disk.diskseq}`])],
    ['wwid', ro(() => namespaceWwid(nvmeIdentity(k.pci.fn), disk.nsid))],
  ]));
}

/** /sys/block: a link per disk (sysfs_deprecated off: the disks live under their parents). */
export function sysBlockDir(m: Machine): DirNode {
  return dir(() => allDisks(m).map((k) => [k.name, relLink('block', k.path)]), 0o755, () => m.generation);
}

/** /sys/class/block: disks (and partitions, none here). */
export function classBlockDir(m: Machine): DirNode {
  return dir(() => allDisks(m).map((k) => [k.name, relLink('class/block', k.path)]), 0o755, () => m.generation);
}

/** mm/backing-dev.c: the disk's backing_dev_info, devices/virtual/bdi/<maj:min>. */
function bdiDir(m: Machine, k: PlacedDisk): DirNode {
  const here = `devices/virtual/bdi/${devt(k.disk)}`;
  return dir(() => [
    knobAttr(m, k, 'max_ratio', 100, 0, 100),
    knobAttr(m, k, 'min_ratio', 0, 0, 100),
    ['power', powerDir(m, plainPower(m, k.disk, 'bdi', {}, k.pci))],
    ['read_ahead_kb', rw(() => String(queueOf(k.disk).readAheadKb), (t) => storeQueue(k.disk, 'read_ahead_kb', t, () => m.changes.note()))],
    ['stable_pages_required', ro(() => '0')],
    ['subsystem', relLink(here, 'class/bdi')],
    ['uevent', uevent(() => [])],
  ]);
}

export function virtualBdiDir(m: Machine): DirNode {
  return dir(() => allDisks(m).map((k) => [devt(k.disk), bdiDir(m, k)]), 0o755, () => m.generation);
}

export function classBdiDir(m: Machine): DirNode {
  return dir(() => allDisks(m).map((k) => [devt(k.disk), relLink('class/bdi', `devices/virtual/bdi/${devt(k.disk)}`)]), 0o755, () => m.generation);
}
