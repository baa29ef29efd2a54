// The one record of what changed in a machine. Every mutation of engine state reports
// here (Machine.changes.note), so that the layers above can tell what to recompute and
// what the kernel's caches over the mount must forget: the sysfs tree recomputes its
// directories when `generation` moves, and the FUSE layer invalidates exactly the cached
// names under the devices and groups reported since its last drain.
//
// A note may also carry typed events (group-events.ts), in the order the engine applied
// them: group events and uevents, each family numbered by a sequence of its own. Readers
// subscribe and get every event after they subscribed, in order. A reader's queue is
// bounded: when it holds `capacity` events, further ones are counted instead of kept, and
// the reader finds one `lost` record (how many, up to which number) where they were, so
// a gap is never silent. Nothing is kept for a family no reader follows.

import type { Device } from './types';
import type { EngineEvent, GroupEvent, GroupRecord, Uevent, UeventRecord } from './group-events';

export interface ChangeSet {
  /** Devices added, removed, rebound, regrouped, or whose VFs or mdevs changed. A removed
   * device is reported as the object it was, so that its place in the tree is known. */
  devices: Device[];
  /** Groups created, freed, or whose members changed. */
  groups: number[];
}

export interface ChangeNote {
  device?: Device;
  group?: number;
  /** What happened, in the order it happened. */
  events?: readonly EngineEvent[];
}

/** Events a reader keeps unread before it starts counting lost ones. */
export const DEFAULT_READER_CAPACITY = 65_536;

/** One subscriber's queue of one family of events. */
export class EventReader<E extends { seq: number }> {
  private queue: Array<E | { kind: 'lost'; seq: number; count: number }> = [];
  private head = 0;
  private lost = 0;
  private lostUpTo = 0;
  private closed = false;

  constructor(
    private readonly capacity: number,
    private readonly detach: (r: EventReader<E>) => void,
  ) {}

  /** Called by the log for every event of the family. */
  push(e: E): void {
    if (this.queue.length - this.head >= this.capacity) {
      this.lost++;
      this.lostUpTo = e.seq;
      return;
    }
    this.flushLost();
    this.queue.push(e);
  }

  /** Up to `max` records with a number up to `upTo`, oldest first; they are gone from the queue. */
  take(max: number, upTo = Number.POSITIVE_INFINITY): Array<E | { kind: 'lost'; seq: number; count: number }> {
    const out: Array<E | { kind: 'lost'; seq: number; count: number }> = [];
    while (out.length < max) {
      // Drained up to the gap: the gap comes next, as one record.
      if (this.head === this.queue.length) this.flushLost();
      const next = this.queue[this.head];
      if (next === undefined || next.seq > upTo) break;
      out.push(next);
      this.head++;
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    return out;
  }

  /** Records waiting with a number up to `upTo`. */
  ready(upTo = Number.POSITIVE_INFINITY): boolean {
    const next = this.head < this.queue.length ? this.queue[this.head]! : this.lost > 0 ? { seq: this.lostUpTo } : undefined;
    return next !== undefined && next.seq <= upTo;
  }

  /** No more events: the log forgets this reader. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue = [];
    this.head = 0;
    this.detach(this);
  }

  private flushLost(): void {
    if (this.lost === 0) return;
    this.queue.push({ kind: 'lost', seq: this.lostUpTo, count: this.lost });
    this.lost = 0;
  }
}

export class ChangeLog {
  private gen = 0;
  private readonly devices = new Set<Device>();
  private readonly groups = new Set<number>();
  /** Until boot is done nothing has read the tree, so where changes show is not recorded. */
  private booting = true;
  private groupSeq = 0;
  private ueventSeq = 0;
  private readonly groupReaders = new Set<EventReader<GroupEvent>>();
  private readonly ueventReaders = new Set<EventReader<Uevent>>();

  /** Moves on with every change; views cache what they computed for one generation. */
  get generation(): number {
    return this.gen;
  }

  /** The number of the last group event (0: none yet). */
  get lastGroupSeq(): number {
    return this.groupSeq;
  }

  /** The number of the last uevent, the kernel's uevent_seqnum (0: none yet). */
  get lastUeventSeq(): number {
    return this.ueventSeq;
  }

  /** Records a change; what it names says where in the tree it shows (nothing: text only). */
  note(what: ChangeNote = {}): void {
    this.gen++;
    if (!this.booting) {
      if (what.device !== undefined) this.devices.add(what.device);
      if (what.group !== undefined) this.groups.add(what.group);
    }
    for (const e of what.events ?? []) {
      if (e.kind === 'uevent') {
        this.ueventSeq++;
        if (this.ueventReaders.size === 0) continue;
        const rec: Uevent = { ...e, seq: this.ueventSeq };
        for (const r of this.ueventReaders) r.push(rec);
      } else {
        this.groupSeq++;
        if (this.groupReaders.size === 0) continue;
        const rec = { ...e, seq: this.groupSeq } as GroupEvent;
        for (const r of this.groupReaders) r.push(rec);
      }
    }
  }

  /** A reader of every group event from now on. */
  followGroups(capacity = DEFAULT_READER_CAPACITY): EventReader<GroupEvent> {
    const r: EventReader<GroupEvent> = new EventReader(capacity, (x) => this.groupReaders.delete(x));
    this.groupReaders.add(r);
    return r;
  }

  /** A reader of every uevent from now on. */
  followUevents(capacity = DEFAULT_READER_CAPACITY): EventReader<Uevent> {
    const r: EventReader<Uevent> = new EventReader(capacity, (x) => this.ueventReaders.delete(x));
    this.ueventReaders.add(r);
    return r;
  }

  /** Boot is over: from now on every change is recorded for the next drain. */
  booted(): void {
    this.booting = false;
  }

  /** What was reported since the previous drain, which starts a new record. */
  drain(): ChangeSet {
    const out: ChangeSet = { devices: [...this.devices], groups: [...this.groups] };
    this.devices.clear();
    this.groups.clear();
    return out;
  }
}

export type { GroupRecord, UeventRecord };
