// NVMe namespaces as the topology gives them and as a bound nvme driver registers them: the
// `nvme` key and its errors, the defaults (none on QEMU's controller, one 1 TB namespace on
// any other), controller, disk and generic device names and minors from the kernel's IDAs
// (lowest free after unbind, again on rebind), and a restart from the saved state serving the
// same names and diskseq.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bind, unbind } from '../../../src/engine/driver-ops';
import { Machine } from '../../../src/engine/machine';
import { captureState, checkStateShape, restoreState, topologyFingerprint } from '../../../src/engine/saved-state';
import type { PciDevice } from '../../../src/engine/types';
import type { DirNode, Node } from '../../../src/sysfs/node';
import { sysfsTree } from '../../../src/sysfs/tree';
import { loadTopology } from '../../../src/topology/load';
import { formatDiagnostic } from '../../../src/topology/model';
import { parseSize } from '../../../src/topology/nvme-fields';

const A = '0000:01:00.0';
const B = '0000:02:00.0';
const Q = '0000:03:00.0';

function topology(nvmeA: string): string {
  return `version: 1
pci:
  - devices:
      "00.0": { id: 8086:29c0, class: 0x060000, type: host-bridge }
      "01.0":
        id: 1b36:000c
        type: root-port
        devices:
          "00.0": { id: 144d:a808, class: 0x010802, driver: nvme${nvmeA} }
      "02.0":
        id: 1b36:000c
        type: root-port
        devices:
          "00.0": { id: 8086:0a54, class: 0x010802, driver: nvme }
      "03.0":
        id: 1b36:000c
        type: root-port
        devices:
          "00.0": { id: 1b36:0010, class: 0x010802, driver: nvme }
`;
}
const TEXT = topology(', nvme: { namespaces: [1TB, { size: 512GiB, lba: 4096 }] }');

function boot(text = TEXT): Machine {
  const r = loadTopology(text, 'x.yaml');
  if (!r.ok) assert.fail(r.errors.map(formatDiagnostic).join('\n'));
  return Machine.boot(r.topology);
}

function errors(text: string): string[] {
  const r = loadTopology(text, 'x.yaml');
  return r.ok ? [] : r.errors.map(formatDiagnostic);
}

/** The node at `path`, following links as the kernel's path walk does. */
function node(m: Machine, path: string): Node | undefined {
  const root = sysfsTree(m).root;
  const parts = path.split('/');
  const at: string[] = [];
  let n: Node | undefined = root;
  for (let i = 0; i < parts.length; i++) {
    n = n?.kind === 'dir' ? n.lookup(parts[i]!) : undefined;
    if (n?.kind === 'link' && i < parts.length - 1) {
      for (const p of n.target.split('/')) if (p === '..') at.pop(); else at.push(p);
      n = root;
      for (const p of at) n = n?.kind === 'dir' ? n.lookup(p) : undefined;
    } else at.push(parts[i]!);
  }
  return n;
}

function ls(m: Machine, path: string): string[] {
  const n = node(m, path);
  return n?.kind === 'dir' ? [...(n as DirNode).list()].sort() : [];
}

function cat(m: Machine, path: string): string {
  const n = node(m, path);
  assert.ok(n?.kind === 'attr', `no ${path}`);
  return n.show().toString();
}

function target(m: Machine, path: string): string {
  const n = node(m, path);
  assert.ok(n?.kind === 'link', `no link ${path}`);
  return n.target;
}

const pci = (m: Machine, name: string): PciDevice => m.devices.get(name) as PciDevice;

describe('topology: nvme', () => {
  it('sizes: SI and IEC units, decimals that make whole bytes, nothing ambiguous', () => {
    assert.deepEqual(parseSize('1TB'), { ok: true, bytes: 10n ** 12n });
    assert.deepEqual(parseSize('1.92TB'), { ok: true, bytes: 1_920_000_000_000n });
    assert.deepEqual(parseSize('512GiB'), { ok: true, bytes: 512n * 1024n ** 3n });
    assert.deepEqual(parseSize('4096'), { ok: true, bytes: 4096n });
    assert.equal(parseSize('1T').ok, false);
    assert.equal(parseSize('1KB').ok, false);
    assert.equal(parseSize('1.5B').ok, false);
  });

  it('bad values are refused with file:line:col', () => {
    assert.deepEqual(errors(topology(', nvme: { namespaces: [1G] }')), [
      'x.yaml:9:88: pci[0].devices."01.0".devices."00.0".nvme.namespaces[0]: unknown size unit "G" (one of: B, kB, MB, GB, TB, PB, KiB, MiB, GiB, TiB, PiB; kB, MB, GB, TB are powers of 1000, KiB, MiB, GiB, TiB of 1024)',
    ]);
    assert.deepEqual(errors(topology(', nvme: { namespaces: [{ size: 1000B, lba: 4096 }] }')), [
      'x.yaml:9:96: pci[0].devices."01.0".devices."00.0".nvme.namespaces[0].size: size 1000 bytes is out of range (one 4096-byte block to 8 PiB)',
    ]);
    assert.deepEqual(errors(topology(', nvme: { namespaces: [{ size: 6000B, lba: 4096 }] }')), [
      'x.yaml:9:96: pci[0].devices."01.0".devices."00.0".nvme.namespaces[0].size: size 6000 bytes is not a whole number of 4096-byte blocks',
    ]);
    assert.deepEqual(errors(topology(', nvme: { namespaces: [{ size: 1TB, lba: 520 }] }')), [
      'x.yaml:9:106: pci[0].devices."01.0".devices."00.0".nvme.namespaces[0].lba: lba 520: a namespace is formatted with 512 or 4096-byte blocks',
    ]);
    assert.deepEqual(errors(topology(', nvme: { serial: 123456789012345678901 }')), [
      'x.yaml:9:83: pci[0].devices."01.0".devices."00.0".nvme.serial: serial "123456789012345678901": the Identify Controller field holds 1 to 20 printable ASCII characters',
    ]);
    assert.deepEqual(errors(topology(', nvme: {}').replace('class: 0x010802, driver: nvme, nvme', 'class: 0x010601, driver: nvme, nvme')), [
      'x.yaml:9:73: pci[0].devices."01.0".devices."00.0".nvme: nvme: only an NVMe controller (class 0x010802) has namespaces; this is class 0x010601',
    ]);
  });
});

describe('nvme driver: namespaces, block devices and their numbers', () => {
  it('defaults: one 1 TB namespace on a real controller, none on QEMU\'s; the topology\'s list in NSID order', () => {
    const m = boot();
    assert.deepEqual(ls(m, 'block'), ['nvme0n1', 'nvme0n2', 'nvme1n1']);
    assert.deepEqual(ls(m, `${pci(m, Q).fn.sysfsPath}/nvme/nvme2`).filter((n) => /^(nvme|ng)\d/.test(n)), []);
    assert.equal(cat(m, 'block/nvme1n1/size'), '1953125000\n');
    assert.equal(cat(m, 'block/nvme0n2/queue/physical_block_size'), '4096\n');
    assert.deepEqual(ls(m, 'dev/block'), ['259:0', '259:1', '259:2']);
    assert.deepEqual(ls(m, 'class/nvme-subsystem'), ['nvme-subsys0', 'nvme-subsys1', 'nvme-subsys2']);
    assert.deepEqual(ls(m, 'class/nvme-generic'), ['ng0n1', 'ng0n2', 'ng1n1']);
    assert.equal(target(m, 'class/block/nvme1n1'), `../../${pci(m, B).fn.sysfsPath}/nvme/nvme1/nvme1n1`);
    assert.equal(cat(m, `${pci(m, B).fn.sysfsPath}/nvme/nvme1/hwmon1/temp1_input`), '49850\n');
    assert.equal(cat(m, `${pci(m, Q).fn.sysfsPath}/nvme/nvme2/model`), 'QEMU NVMe Ctrl                          \n');
  });

  it('unbind frees every number; binds take the lowest free ones again', () => {
    const m = boot();
    unbind(m, 'nvme', A);
    unbind(m, 'nvme', B);
    assert.deepEqual([ls(m, 'block'), ls(m, 'dev/block'), ls(m, 'class/nvme-generic'), ls(m, 'class/nvme')], [[], [], [], ['nvme2']]);
    assert.deepEqual(ls(m, 'devices/virtual').includes('bdi'), false);
    bind(m, 'nvme', B);
    // B gets nvme0 and 259:0 now; diskseq goes on from 3.
    assert.deepEqual(ls(m, 'block'), ['nvme0n1']);
    assert.equal(cat(m, 'block/nvme0n1/dev'), '259:0\n');
    assert.equal(cat(m, 'block/nvme0n1/diskseq'), '4\n');
    assert.equal(cat(m, 'block/nvme0n1/uevent'), 'MAJOR=259\nMINOR=0\nDEVNAME=nvme0n1\nDEVTYPE=disk\nDISKSEQ=4\n');
    bind(m, 'nvme', A);
    assert.deepEqual(ls(m, 'block'), ['nvme0n1', 'nvme1n1', 'nvme1n2']);
    assert.deepEqual([cat(m, 'block/nvme1n1/dev'), cat(m, 'block/nvme1n2/dev')], ['259:1\n', '259:2\n']);
  });

  it('a restart from the saved state serves the same names, minors and diskseq, and goes on alike', () => {
    const m = boot();
    unbind(m, 'nvme', A);
    bind(m, 'nvme', A);
    unbind(m, 'nvme', B);
    const fp = topologyFingerprint(TEXT);
    const saved = JSON.parse(JSON.stringify(captureState(m, fp))) as unknown;
    const r = boot();
    restoreState(r, checkStateShape(saved, fp));
    for (const x of [m, r]) {
      assert.deepEqual(ls(x, 'block'), ['nvme0n1', 'nvme0n2']);
      assert.deepEqual([cat(x, 'block/nvme0n1/diskseq'), cat(x, 'block/nvme0n2/dev')], ['4\n', '259:1\n']);
      bind(x, 'nvme', B);
      assert.deepEqual([cat(x, 'block/nvme1n1/diskseq'), cat(x, 'block/nvme1n1/dev')], ['6\n', '259:2\n']);
    }
  });
});

describe('nvme: written settings across a restart', () => {
  it('queue, iosched, bdi, iopolicy and temperature writes are kept by the saved state', () => {
    const m = boot();
    const ctrl = `${pci(m, A).fn.sysfsPath}/nvme/nvme0`;
    const store = (path: string, text: string): void => {
      const n = node(m, path);
      assert.ok(n?.kind === 'attr' && n.store, `no store ${path}`);
      n.store(Buffer.from(text), 0);
    };
    store('block/nvme0n2/queue/scheduler', 'none\n');
    store('block/nvme0n2/queue/nr_requests', '64\n');
    store('block/nvme0n1/queue/iosched/read_expire', '250\n');
    store('devices/virtual/bdi/259:0/read_ahead_kb', '4096\n');
    store('devices/virtual/nvme-subsystem/nvme-subsys0/iopolicy', 'round-robin\n');
    store(`${ctrl}/hwmon0/temp1_max`, '70000\n');
    const fp = topologyFingerprint(TEXT);
    const r = boot();
    restoreState(r, checkStateShape(JSON.parse(JSON.stringify(captureState(m, fp))) as unknown, fp));
    for (const x of [m, r]) {
      assert.deepEqual(
        ['block/nvme0n2/queue/scheduler', 'block/nvme0n2/queue/nr_requests', 'block/nvme0n1/queue/iosched/read_expire', 'block/nvme0n1/queue/read_ahead_kb', 'devices/virtual/nvme-subsystem/nvme-subsys0/iopolicy', `${ctrl}/hwmon0/temp1_max`].map((p) => cat(x, p)),
        ['[none] mq-deadline\n', '64\n', '250\n', '4096\n', 'round-robin\n', '69850\n'],
      );
    }
    assert.deepEqual(ls(r, 'block/nvme0n2/queue').includes('iosched'), false);
  });
});
