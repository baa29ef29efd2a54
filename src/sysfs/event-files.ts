// kernel/debug/iommufs/events: the engine's group events as lines, read like tracefs's
// trace_pipe (kernel/trace/trace.c tracing_read_pipe): each open follows the log from the
// moment it was opened, a read takes what is there and blocks while there is nothing, a
// non-blocking read answers EAGAIN instead (here after a short wait, see fuse/streams.ts).
//
// Events become readable only once the write that caused them has returned, i.e. after the
// kernel was told what to forget of the tree (fuse-notify.ts): a reader that looks at the
// tree on an event sees the tree after that event. The FUSE layer marks where the logs
// stand right after a write (EventGate.mark) and publishes that mark when the write's
// invalidations are done.

import { formatGroupRecord } from '../engine/group-events';
import type { GroupEvent, LostRecord } from '../engine/group-events';
import type { EventReader } from '../engine/change-log';
import type { Machine } from '../engine/machine';
import type { AttrNode, LineStream } from './node';

/** Where the event logs stand: the last group event and the last uevent. */
export interface EventMark {
  group: number;
  uevent: number;
}

/** The readable horizon of the event logs (see the header). */
export class EventGate {
  private pub: EventMark;

  constructor(private readonly m: Machine) {
    this.pub = this.mark();
  }

  mark(): EventMark {
    return { group: this.m.changes.lastGroupSeq, uevent: this.m.changes.lastUeventSeq };
  }

  /** Events up to `mark` may be read. Marks are published in order; never backwards. */
  publish(mark: EventMark): void {
    this.pub = { group: Math.max(this.pub.group, mark.group), uevent: Math.max(this.pub.uevent, mark.uevent) };
  }

  get published(): EventMark {
    return this.pub;
  }
}

/** Lines from a reader of the log, up to a horizon, in pieces of at most a read's size. */
export function lineStream<E extends { seq: number }>(reader: EventReader<E>, format: (r: E | LostRecord) => string, horizon: () => number): LineStream {
  let pending = Buffer.alloc(0);
  return {
    read(maxBytes: number): Buffer {
      if (pending.length === 0) {
        const parts: Buffer[] = [];
        let size = 0;
        // Whole lines while they fit; one line at least (a long one goes in pieces).
        while (reader.ready(horizon())) {
          const [rec] = reader.take(1, horizon());
          const line = Buffer.from(format(rec!) + '\n');
          parts.push(line);
          size += line.length;
          if (size >= maxBytes || !reader.ready(horizon())) break;
          // Stop before a line that would not fit; it comes with the next read.
          if (size + 160 > maxBytes) break;
        }
        pending = Buffer.concat(parts);
      }
      const out = pending.subarray(0, maxBytes);
      pending = pending.subarray(out.length);
      return out;
    },
    ready: () => pending.length > 0 || reader.ready(horizon()),
    close: () => reader.close(),
  };
}

/** The `events` file: 0400, size 0, as trace_pipe. */
export function groupEventsFile(m: Machine, gate: EventGate): AttrNode {
  return {
    kind: 'attr',
    mode: 0o400,
    size: 0,
    show: () => Buffer.alloc(0),
    stream: () => lineStream<GroupEvent>(m.changes.followGroups(), formatGroupRecord, () => gate.published.group),
  };
}
