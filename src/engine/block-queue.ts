// The request queue of an NVMe namespace's disk (block/blk-sysfs.c, Linux 6.1): the limits
// nvme_update_disk_info and nvme_set_queue_limits set, and what writes to the writable
// queue attributes do. One I/O queue (the recorded one-CPU guest: "1/0/0 default/read/poll
// queues") makes nr_hw_queues 1, so the default elevator is mq-deadline
// (block/elevator.c elevator_get_default).

import type { BlockDisk } from './driver-effects';
import { Errno } from './errno';

/** The I/O tag set's depth: NVME_Q_DEPTH (io_queue_depth 1024) less one. */
export const TAG_DEPTH = 1023;
/** MDTS 7 with 4 KiB pages: 512 KiB transfers (QEMU's default; many consumer drives). */
export const MAX_HW_SECTORS_KB = 512;
/** nvme_config_discard without DMRSL: UINT_MAX sectors. */
export const DISCARD_MAX_HW_BYTES = 0xffffffff * 512;

export type Elevator = 'mq-deadline' | 'none';

export interface QueueState {
  elevator: Elevator;
  nrRequests: number;
  readAheadKb: number;
  maxSectorsKb: number;
  rotational: number;
  nomerges: number;
  rqAffinity: number;
  iostats: number;
  stableWrites: number;
  addRandom: number;
  writeBack: boolean;
  wbtLatUsec: number;
  ioTimeoutMs: number;
  discardMaxBytes: number;
  /** Plain numeric knobs elsewhere on the disk (mq-deadline's iosched/, the bdi's ratios,
   * integrity/'s switches), by attribute name, as written. */
  knobs: Map<string, number>;
}

const queues = new WeakMap<BlockDisk, QueueState>();

/** The on/off queue flags, by attribute name. */
const FLAGS = { rotational: 'rotational', iostats: 'iostats', stable_writes: 'stableWrites', add_random: 'addRandom' } as const;

/** blk_mq_init_sched: 2 * min(tag depth, BLKDEV_DEFAULT_RQ 128) with an elevator, the tag depth without. */
function requestsFor(e: Elevator): number {
  return e === 'none' ? TAG_DEPTH : 2 * Math.min(TAG_DEPTH, 128);
}

/** A queue as nvme_alloc_ns leaves it. */
function freshQueue(): QueueState {
  return {
    elevator: 'mq-deadline',
    nrRequests: requestsFor('mq-deadline'),
    readAheadKb: 128,
    maxSectorsKb: MAX_HW_SECTORS_KB,
    rotational: 0,
    nomerges: 0,
    rqAffinity: 1,
    iostats: 1,
    stableWrites: 0,
    addRandom: 0,
    // A volatile write cache (VWC) present: blk_queue_write_cache(q, true, true).
    writeBack: true,
    // wbt_default_latency_nsec: 2 ms on a non-rotational device.
    wbtLatUsec: 2000,
    ioTimeoutMs: 30000,
    discardMaxBytes: DISCARD_MAX_HW_BYTES,
    knobs: new Map(),
  };
}

export function queueOf(disk: BlockDisk): QueueState {
  let q = queues.get(disk);
  if (!q) {
    q = freshQueue();
    queues.set(disk, q);
  }
  return q;
}

/** queue_var_store: kstrtoul, EINVAL for anything else. */
function unsigned(text: string): number {
  const t = text.trim();
  if (!/^(0x[0-9a-f]+|0[0-7]*|[1-9][0-9]*)$/i.test(t)) throw new Errno('EINVAL', `"${t}" is not a number`);
  const v = Number(t.startsWith('0x') || t.startsWith('0X') ? parseInt(t, 16) : /^0[0-7]+$/.test(t) ? parseInt(t, 8) : parseInt(t, 10));
  if (!Number.isSafeInteger(v)) throw new Errno('EINVAL', `${t} is out of range`);
  return v;
}

/** A numeric knob's value: as written, else `initial`. */
export function knob(disk: BlockDisk, name: string, initial: number): number {
  return queueOf(disk).knobs.get(name) ?? initial;
}

/** A numeric knob's store (kstrtoul / kstrtoint within [min, max], else EINVAL). */
export function storeKnob(disk: BlockDisk, name: string, text: string, min: number, max: number, changed: () => void): void {
  const t = text.trim();
  const v = /^-?[0-9]+$/.test(t) ? Number(t) : NaN;
  if (!(v >= min && v <= max)) throw new Errno('EINVAL', `"${t}" is outside ${min}..${max}`);
  queueOf(disk).knobs.set(name, v);
  changed();
}

/** Stores of the writable queue attributes; each throws the kernel's errno and changes
 * nothing on a refusal. `changed` is told after a change, with `listing` true when
 * queue/iosched came or went. */
export function storeQueue(disk: BlockDisk, name: string, text: string, changed: (listing: boolean) => void): void {
  storeQueueValue(queueOf(disk), name, text, () => changed(true));
  changed(false);
}

function storeQueueValue(q: QueueState, name: string, text: string, elevatorChanged: () => void): void {
  switch (name) {
    case 'scheduler': {
      // elv_iosched_store → elevator_change: the registered elevators and "none".
      const e = text.trim();
      if (e !== 'none' && e !== 'mq-deadline') throw new Errno('EINVAL', `no elevator "${e}"`);
      if (e === q.elevator) return;
      q.elevator = e;
      q.nrRequests = requestsFor(e);
      elevatorChanged();
      return;
    }
    case 'nr_requests': {
      // queue_requests_store: at least BLKDEV_MIN_RQ; beyond the tag depth needs an elevator.
      const v = Math.max(unsigned(text), 4);
      if (q.elevator === 'none' && v > TAG_DEPTH) throw new Errno('EINVAL', 'more requests than tags');
      q.nrRequests = v;
      return;
    }
    case 'read_ahead_kb':
      q.readAheadKb = unsigned(text);
      return;
    case 'max_sectors_kb': {
      const v = unsigned(text);
      if (v > MAX_HW_SECTORS_KB || v < 4) throw new Errno('EINVAL', `max_sectors_kb ${v} is outside 4..${MAX_HW_SECTORS_KB}`);
      q.maxSectorsKb = v;
      return;
    }
    case 'rotational':
    case 'iostats':
    case 'stable_writes':
    case 'add_random':
      // queue_flag_store's flags: any number, set when not 0.
      q[FLAGS[name]] = unsigned(text) ? 1 : 0;
      return;
    case 'nomerges':
      q.nomerges = Math.min(unsigned(text), 2);
      return;
    case 'rq_affinity':
      q.rqAffinity = Math.min(unsigned(text), 2);
      return;
    case 'write_cache': {
      // queue_wc_store: "write back", "write through" or "none" (the latter two the same).
      const t = text.trim();
      if (t === 'write back') q.writeBack = true;
      else if (t === 'write through' || t === 'none') q.writeBack = false;
      else throw new Errno('EINVAL', `"${t}" is not a cache mode`);
      return;
    }
    case 'wbt_lat_usec': {
      const t = text.trim();
      if (!/^-?[0-9]+$/.test(t) || Number(t) < -1) throw new Errno('EINVAL', `"${t}" is not a latency`);
      q.wbtLatUsec = Number(t) === -1 ? 2000 : Number(t);
      return;
    }
    case 'io_timeout': {
      const v = unsigned(text);
      if (v === 0) throw new Errno('EINVAL', 'io_timeout 0');
      q.ioTimeoutMs = v;
      return;
    }
    case 'discard_max_bytes': {
      // queue_discard_max_store: a multiple of the discard granularity, capped at the hardware's.
      const v = unsigned(text);
      if (v % 512 !== 0) throw new Errno('EINVAL', 'not a multiple of discard_granularity');
      q.discardMaxBytes = Math.min(v, DISCARD_MAX_HW_BYTES);
      return;
    }
    case 'io_poll':
      // queue_poll_store: no poll queues (nvme.poll_queues=0), EINVAL.
      throw new Errno('EINVAL', 'no poll queues');
    case 'io_poll_delay': {
      // Classic polling is gone: queue_poll_delay_store checks the number and ignores it.
      const t = text.trim();
      if (!/^-?[0-9]+$/.test(t)) throw new Errno('EINVAL', `"${t}" is not a number`);
      return;
    }
    default:
      throw new Errno('EINVAL', `${name} is read-only`);
  }
}

/** Settings written to a disk, as --state keeps them: by attribute name, the text a store takes
 * (queue/ attributes) or the number (knobs). */
export type QueueSettings = Record<string, string | number>;

/** What was written to the disk's queue and knobs, or undefined for a queue as it came. */
export function queueSettings(disk: BlockDisk): QueueSettings | undefined {
  const q = queues.get(disk);
  if (!q) return undefined;
  const fresh = freshQueue();
  const out: QueueSettings = {};
  // The scheduler first: restoring it sets nr_requests, which may be written after it.
  if (q.elevator !== fresh.elevator) out.scheduler = q.elevator;
  if (q.nrRequests !== requestsFor(q.elevator)) out.nr_requests = q.nrRequests;
  const fields: Array<[string, keyof QueueState]> = [
    ['read_ahead_kb', 'readAheadKb'],
    ['max_sectors_kb', 'maxSectorsKb'],
    ['rotational', 'rotational'],
    ['nomerges', 'nomerges'],
    ['rq_affinity', 'rqAffinity'],
    ['iostats', 'iostats'],
    ['stable_writes', 'stableWrites'],
    ['add_random', 'addRandom'],
    ['wbt_lat_usec', 'wbtLatUsec'],
    ['io_timeout', 'ioTimeoutMs'],
    ['discard_max_bytes', 'discardMaxBytes'],
  ];
  for (const [name, field] of fields) if (q[field] !== fresh[field]) out[name] = q[field] as number;
  if (q.writeBack !== fresh.writeBack) out.write_cache = q.writeBack ? 'write back' : 'write through';
  for (const [name, v] of q.knobs) out[name] = v;
  return Object.keys(out).length > 0 ? out : undefined;
}

/** Knob names (numbers kept as written); every other key goes through its queue store. */
const KNOBS = new Set(['async_depth', 'fifo_batch', 'front_merges', 'prio_aging_expire', 'read_expire', 'write_expire', 'writes_starved', 'min_ratio', 'max_ratio', 'read_verify', 'write_generate']);

/** Puts saved settings back, each through the store that took it (throws Errno on a value the
 * store refuses). */
export function restoreQueueSettings(disk: BlockDisk, settings: QueueSettings): void {
  const q = queueOf(disk);
  for (const [name, v] of Object.entries(settings)) {
    if (KNOBS.has(name)) {
      if (typeof v !== 'number') throw new Errno('EINVAL', `${name} must be a number`);
      q.knobs.set(name, v);
    } else storeQueueValue(q, name, String(v), () => undefined);
  }
}
