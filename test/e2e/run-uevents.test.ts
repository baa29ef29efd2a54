// Uevents under `iommufs run` (cli/run-uevents.ts): `udevadm monitor` inside the sandbox sees
// the VFs of a write to sriov_numvfs appear and disappear, as the kernel's uevents (--kernel,
// delivered by the kernel's uevent injection) and as udev's (--udev, libudev's format with
// the udev database's properties), and a driver bind.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CLI, TOPOLOGIES } from '../helpers/paths';
import { section, splitSections } from '../helpers/sections';
import { assertNothingMounted, run, sh } from './harness';

const SRIOV = join(TOPOLOGIES, 'qemu-sriov.yaml');
const PF = '0000:01:00.0';
const ROOT = process.getuid?.() === 0;
const DEVPATH = (bdf: string): string => `/devices/pci0000:00/0000:00:02.0/${bdf}`;

interface Event {
  source: string;
  action: string;
  devpath: string;
  props: Map<string, string>;
}

/** `udevadm monitor --property` output: `KERNEL[ts] add /devices/... (pci)`, KEY=VALUE lines. */
function events(text: string): Event[] {
  const out: Event[] = [];
  for (const block of text.split('\n\n')) {
    const lines = block.split('\n').filter((l) => l !== '');
    const head = /^(KERNEL|UDEV)\s*\[[\d.]+\]\s+(\S+)\s+(\S+) \((\w+)\)$/.exec(lines[0] ?? '');
    if (!head) continue;
    const props = new Map(lines.slice(1).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as [string, string]));
    out.push({ source: head[1]!, action: head[2]!, devpath: head[3]!, props });
  }
  return out;
}

after(assertNothingMounted);

describe('iommufs run: uevents', { skip: ROOT ? false : 'needs root (unshare -m)' }, () => {
  it('udevadm monitor --kernel and --udev see VFs appear and disappear, and a bind', async (t) => {
    const tools = await sh('command -v udevadm && command -v perl');
    if (tools.code !== 0) return t.skip('udevadm or perl is not installed');
    const script = `
P=/sys/bus/pci/devices/${PF}
K=$(mktemp); U=$(mktemp)
udevadm monitor --kernel --property --subsystem-match=pci > $K 2>&1 & KM=$!
udevadm monitor --udev --property > $U 2>&1 & UM=$!
# Both monitors subscribe before they print their header.
for i in $(seq 100); do grep -q '^KERNEL - ' $K && grep -q '^UDEV - ' $U && break; sleep 0.05; done
echo nvme > $P/driver_override
echo ${PF} > /sys/bus/pci/drivers/nvme/bind
echo 2 > $P/sriov_numvfs
ls -d /sys/bus/pci/devices/0000:01:00.[12] | wc -l
echo 0 > $P/sriov_numvfs
sleep 1
kill $KM $UM; wait
echo "@@ kernel"; cat $K
echo "@@ udev"; cat $U
rm -f $K $U`;
    const r = await run(process.execPath, [CLI, 'run', SRIOV, '--', 'bash', '-c', script], { timeoutMs: 90_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /uevents:/, 'the sender had nothing to complain about');
    const sections = splitSections(r.stdout);
    const pci = (e: Event): boolean => e.devpath.startsWith(DEVPATH(''));
    const kernel = events(section(sections, 'kernel')).filter(pci);
    const udev = events(section(sections, 'udev')).filter(pci);
    const summary = (es: Event[]): string[] => es.map((e) => `${e.source} ${e.action} ${e.devpath}`);
    const expected = (source: string): string[] =>
      [
        ['bind', PF],
        ['add', '0000:01:00.1'],
        ['add', '0000:01:00.2'],
        ['remove', '0000:01:00.2'],
        ['remove', '0000:01:00.1'],
      ].map(([action, bdf]) => `${source} ${action} ${DEVPATH(bdf!)}`);
    assert.deepEqual(summary(kernel), expected('KERNEL'));
    assert.deepEqual(summary(udev), expected('UDEV'));
    // The kernel's environment (lib/kobject_uevent.c, drivers/pci/pci-driver.c pci_uevent).
    const add = kernel[1]!;
    assert.deepEqual([...add.props.keys()], ['ACTION', 'DEVPATH', 'SUBSYSTEM', 'PCI_CLASS', 'PCI_ID', 'PCI_SUBSYS_ID', 'PCI_SLOT_NAME', 'MODALIAS', 'SEQNUM']);
    assert.equal(add.props.get('PCI_SLOT_NAME'), '0000:01:00.1');
    assert.match(add.props.get('MODALIAS')!, /^pci:v00001B36d00000010sv/);
    assert.equal(kernel[0]!.props.get('DRIVER'), 'nvme');
    // SEQNUM is the kernel's, increasing; udev's message carries the same one, as udevd's does.
    const seqs = kernel.map((e) => Number(e.props.get('SEQNUM')));
    assert.ok(seqs.every((s, i) => i === 0 || s > seqs[i - 1]!), seqs.join(' '));
    assert.deepEqual(udev.map((e) => Number(e.props.get('SEQNUM'))), seqs);
    // udev's message: the kernel's properties, then what the rules add (/run/udev/data).
    const uadd = udev[1]!;
    assert.equal(uadd.props.get('ID_PATH'), 'pci-0000:01:00.1');
    assert.match(uadd.props.get('USEC_INITIALIZED')!, /^\d+$/);
    assert.equal(uadd.props.get('MODALIAS'), add.props.get('MODALIAS'));
  });

  it('udevadm trigger --subsystem-match=pci --settle gets its change events back (SYNTH_UUID) and returns', async (t) => {
    const tools = await sh('command -v udevadm && command -v perl');
    if (tools.code !== 0) return t.skip('udevadm or perl is not installed');
    const script = `
U=$(mktemp)
udevadm monitor --udev --property > $U 2>&1 & UM=$!
for i in $(seq 100); do grep -q '^UDEV - ' $U && break; sleep 0.05; done
timeout 20 udevadm trigger --subsystem-match=pci --action=change --settle; echo "@@ status"; echo $?
sleep 0.3
kill $UM; wait
echo "@@ devices"; ls /sys/bus/pci/devices | wc -l
echo "@@ udev"; cat $U; rm -f $U`;
    const r = await run(process.execPath, [CLI, 'run', SRIOV, '--', 'bash', '-c', script], { timeoutMs: 90_000 });
    assert.equal(r.code, 0, r.stderr);
    const sections = splitSections(r.stdout);
    assert.equal(section(sections, 'status'), '0\n', 'trigger --settle returned on its own');
    const changes = events(section(sections, 'udev')).filter((e) => e.action === 'change');
    assert.equal(changes.length, Number(section(sections, 'devices').trim()));
    for (const e of changes) assert.match(e.props.get('SYNTH_UUID')!, /^[0-9a-f-]{36}$/);
  });
});
