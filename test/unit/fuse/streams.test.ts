// The events file through the adapter (fuse/streams.ts, sysfs/event-files.ts), without a
// mount: a read waits until a write publishes events; a non-blocking read answers EAGAIN
// after a short wait; the unmount ends waiting reads; events of a write are not readable
// before its publication.

import assert from 'node:assert/strict';
import { constants } from 'node:fs';
import { describe, it } from 'node:test';
import { isErrno } from '../../../src/engine/errno';
import { SysfsFs } from '../../../src/fuse/adapter';
import { sysfsTree } from '../../../src/sysfs/tree';
import { bootShipped } from '../../helpers/machines';

const EVENTS = '/kernel/debug/iommufs/events';
const NIC = '0000:02:00.0';

function setup(): SysfsFs {
  return new SysfsFs(sysfsTree(bootShipped('qemu-sriov')));
}

/** A write through the adapter, published as the binding does after its invalidations. */
function write(fs: SysfsFs, path: string, text: string, publish = true): () => void {
  const h = fs.open(path, constants.O_WRONLY);
  fs.write(path, h, Buffer.from(text), 0);
  fs.release(path, h);
  const publisher = fs.takePublisher!();
  if (publish) publisher();
  return publisher;
}

describe('the events file through the adapter', () => {
  it('a read waits for the next published write, and gets its lines', async () => {
    const fs = setup();
    const h = fs.open(EVENTS, constants.O_RDONLY);
    const pending = fs.streamRead(h, 4096);
    assert.ok(pending instanceof Promise);
    const publish = write(fs, `/bus/pci/drivers/e1000e/bind`, NIC, false);
    // Written but not yet published (its invalidations are under way): still nothing.
    let settled = false;
    void pending.then(() => (settled = true));
    await new Promise((r) => setImmediate(r));
    assert.equal(settled, false);
    publish();
    const text = (await pending).toString();
    assert.match(text, /^\d+ group \d+ bind-driver 0000:02:00\.0 e1000e\n\d+ group \d+ bound-driver 0000:02:00\.0 e1000e\n$/);
    fs.release(EVENTS, h);
  });

  it('small reads take a line in pieces; a second open starts from its open', () => {
    const fs = setup();
    const h = fs.open(EVENTS, constants.O_RDONLY);
    write(fs, `/bus/pci/drivers/e1000e/bind`, NIC);
    const h2 = fs.open(EVENTS, constants.O_RDONLY);
    const first = fs.streamRead(h, 5) as Buffer;
    assert.equal(first.length, 5);
    const rest = fs.streamRead(h, 4096) as Buffer;
    assert.ok(Buffer.concat([first, rest]).toString().endsWith('e1000e\n'));
    assert.ok(fs.streamRead(h2, 4096) instanceof Promise, 'the later open has nothing yet');
    fs.shutdown();
  });

  it('O_NONBLOCK: EAGAIN after a short wait; the unmount ends a waiting read with end of file', async () => {
    const fs = setup();
    const nb = fs.open(EVENTS, constants.O_RDONLY | constants.O_NONBLOCK);
    const t0 = Date.now();
    await assert.rejects(fs.streamRead(nb, 4096) as Promise<Buffer>, (e: unknown) => isErrno(e) && e.code === 'EAGAIN');
    assert.ok(Date.now() - t0 >= 200);
    const h = fs.open(EVENTS, constants.O_RDONLY);
    const waiting = fs.streamRead(h, 4096) as Promise<Buffer>;
    fs.shutdown();
    assert.equal((await waiting).length, 0);
    assert.equal((fs.streamRead(h, 4096) as Buffer).length, 0, 'and every later read');
  });

  it('other files are not streams', () => {
    const fs = setup();
    const h = fs.open('/kernel/debug/iommufs/last_allocated', constants.O_RDONLY);
    assert.equal(fs.streamRead(h, 4096), undefined);
  });
});
