// Reads of stream files (sysfs/event-files.ts) that wait for data, as a read of tracefs's
// trace_pipe sleeps until there is something (kernel/trace/trace.c tracing_wait_pipe).
// fuse-native answers a request whenever its callback is called, and libfuse 2 serves
// requests from several threads (fuse_loop_mt, a thread more whenever none is idle), so a
// read left waiting here holds one libfuse thread and nothing else: every other request is
// served meanwhile. A waiting read is answered when a write publishes new events, with end
// of file when the mount goes (so `cat` ends and the unmount completes), and, for a file
// opened O_NONBLOCK, with EAGAIN after NONBLOCK_WAIT_MS: trace_pipe answers EAGAIN at once,
// but a FUSE 2 file cannot be polled (fuse-native has no poll), so a reader looping on
// poll() and read() would spin; a short wait keeps it cheap, and lets a reader that wants
// to stop (`iommufs ctl watch` on SIGINT) do so within that time. What cannot be done: a
// reader killed while its read waits stays in the read until the next event or the
// unmount (the kernel waits for the answer of a request already sent, fs/fuse/dev.c
// request_wait_answer, and fuse-native does not pass FUSE_INTERRUPT on).

import { Errno } from '../engine/errno';
import type { LineStream } from '../sysfs/node';

export const NONBLOCK_WAIT_MS = 250;

interface Waiting {
  stream: LineStream;
  len: number;
  resolve: (data: Buffer) => void;
  reject: (e: unknown) => void;
  timer: NodeJS.Timeout | undefined;
}

export class StreamReads {
  private readonly waiting = new Set<Waiting>();
  private ended = false;

  /** What a read of `len` bytes gets: now if there is something, else once there is. */
  read(stream: LineStream, len: number, nonblocking: boolean): Buffer | Promise<Buffer> {
    const now = stream.read(len);
    if (now.length > 0 || this.ended) return now;
    return new Promise<Buffer>((resolve, reject) => {
      const w: Waiting = { stream, len, resolve, reject, timer: undefined };
      if (nonblocking) {
        w.timer = setTimeout(() => {
          this.waiting.delete(w);
          reject(new Errno('EAGAIN', 'no events yet'));
        }, NONBLOCK_WAIT_MS);
      }
      this.waiting.add(w);
    });
  }

  /** New events were published: answer every waiting read that has something now. */
  wake(): void {
    for (const w of this.waiting) {
      if (!w.stream.ready()) continue;
      this.finish(w, w.stream.read(w.len));
    }
  }

  /** The open is released: a read still waiting on it ends (none should be). */
  closed(stream: LineStream): void {
    for (const w of this.waiting) if (w.stream === stream) this.finish(w, Buffer.alloc(0));
  }

  /** The mount goes: every waiting read, and every later one, reads end of file. */
  end(): void {
    this.ended = true;
    for (const w of this.waiting) this.finish(w, Buffer.alloc(0));
  }

  get size(): number {
    return this.waiting.size;
  }

  private finish(w: Waiting, data: Buffer): void {
    this.waiting.delete(w);
    if (w.timer !== undefined) clearTimeout(w.timer);
    w.resolve(data);
  }
}
