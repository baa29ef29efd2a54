// The device model of real hardware on a real mount (topologies/x79-workstation.yaml: an
// RTX 3090 + audio on a CPU root port, a PEX 8747 switch with two NVMe drives, an I350 with
// SR-IOV on a PCH port, an 82801 PCI bridge): what unmodified lspci -vvv, setpci and cat
// read there about links, slots and capabilities.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { TOPOLOGIES } from '../helpers/paths';
import { assertNothingMounted, run, sh, q, withDaemon } from './harness';

after(assertNothingMounted);

const TOPOLOGY = join(TOPOLOGIES, 'x79-workstation.yaml');

/** lspci -vvv in blocks keyed by the slot each starts with; each line trimmed. */
function blocks(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const block of text.split('\n\n')) {
    const lines = block.split('\n').filter((l) => l !== '');
    const slot = lines[0]?.split(' ')[0];
    if (slot) out.set(slot, lines.map((l) => l.trim()));
  }
  return out;
}

/** The lines of a block that start with one of the prefixes. */
const pick = (lines: string[] | undefined, ...prefixes: string[]): string[] => (lines ?? []).filter((l) => prefixes.some((p) => l.startsWith(p)));

describe('x79-workstation: links, slots and capabilities as lspci -vvv and sysfs show them', () => {
  it('lspci -vvv: LnkCap, LnkSta, slots and capabilities of real hardware, not QEMU', async () => {
    await withDaemon(TOPOLOGY, async (mnt) => {
      const r = await run('lspci', ['-O', `sysfs.path=${mnt}/bus/pci`, '-vvv'], { timeoutMs: 60_000 });
      assert.equal(r.code, 0, r.stderr);
      const b = blocks(r.stdout);
      // The GPU (PCIe 4.0 x16) behind the CPU's PCIe 3.0 x16 port: 8 GT/s, flagged as lspci does.
      assert.deepEqual(pick(b.get('01:00.0'), 'LnkCap:', 'LnkSta:'), [
        'LnkCap:\tPort #0, Speed 16GT/s, Width x16, ASPM L0s, Exit Latency L0s <64ns',
        'LnkSta:\tSpeed 8GT/s (downgraded), Width x16',
      ]);
      assert.deepEqual(pick(b.get('01:00.1'), 'LnkSta:'), ['LnkSta:\tSpeed 8GT/s (downgraded), Width x16'], 'the audio function shares the link');
      assert.deepEqual(pick(b.get('00:02.0'), 'LnkCap:', 'LnkSta:', 'Slot #', 'SltCap:', 'Subsystem:', 'Capabilities: [90]'), [
        'Subsystem: Intel Corporation Xeon E7 v2/Xeon E5 v2/Core i7 PCI Express Root Port 2a',
        'LnkCap:\tPort #1, Speed 8GT/s, Width x16, ASPM L0s, Exit Latency L0s <64ns',
        'LnkSta:\tSpeed 8GT/s, Width x16',
        'SltCap:\tAttnBtn- PwrCtrl- MRL- AttnInd- PwrInd- HotPlug- Surprise-',
        'Slot #1, PowerLimit 75W; Interlock- NoCompl-',
        'Capabilities: [90] Subsystem: Intel Corporation Xeon E7 v2/Xeon E5 v2/Core i7 PCI Express Root Port 2a',
      ]);
      // The switch: its downstream ports are station ports 8 and 16, x8 hot-plug bays; each
      // NVMe drive (PCIe 3.0 x4) trains at 8 GT/s x4.
      assert.deepEqual(pick(b.get('03:08.0'), 'LnkCap:', 'LnkSta:', 'SltCap:', 'Slot #'), [
        'LnkCap:\tPort #8, Speed 8GT/s, Width x8, ASPM L0s, Exit Latency L0s <64ns',
        'LnkSta:\tSpeed 8GT/s, Width x4',
        'SltCap:\tAttnBtn- PwrCtrl+ MRL- AttnInd+ PwrInd+ HotPlug+ Surprise+',
        'Slot #8, PowerLimit 25W; Interlock- NoCompl-',
      ]);
      assert.deepEqual(pick(b.get('04:00.0'), 'LnkCap:', 'LnkSta:', 'Capabilities: [50] MSI', 'Capabilities: [b0] MSI-X'), [
        'Capabilities: [50] MSI: Enable- Count=1/32 Maskable+ 64bit+',
        'LnkCap:\tPort #0, Speed 8GT/s, Width x4, ASPM L0s, Exit Latency L0s <64ns',
        'LnkSta:\tSpeed 8GT/s, Width x4',
        'Capabilities: [b0] MSI-X: Enable+ Count=33 Masked-',
      ]);
      // The I350 (PCIe 2.0 x4) on the PCH's PCIe 2.0 x4 port, and a VF with its PF's link.
      assert.deepEqual(pick(b.get('06:00.0'), 'LnkSta:', 'Capabilities: [70] MSI-X'), ['Capabilities: [70] MSI-X: Enable+ Count=10 Masked-', 'LnkSta:\tSpeed 5GT/s, Width x4']);
      assert.deepEqual(pick(b.get('06:10.0'), 'LnkSta:'), ['LnkSta:\tSpeed 5GT/s, Width x4']);
      // The 82801 PCI bridge: its subsystem capability only, no Slot ID, no hot-plug.
      const bridge = b.get('00:1e.0') ?? [];
      assert.deepEqual(pick(bridge, 'Capabilities:'), ['Capabilities: [50] Subsystem: Intel Corporation 82801 PCI Bridge']);
      assert.ok(!r.stdout.includes('overdriven'), 'no link is above its capability');
      assert.ok(!r.stdout.includes('Speed unknown'), 'every link has a speed');
    });
  });

  it('sysfs: max_link_* and current_link_* read as Linux 6.1 prints them; slots by number', async () => {
    await withDaemon(TOPOLOGY, async (mnt) => {
      const dev = `${mnt}/bus/pci/devices`;
      const attrs = ['max_link_speed', 'max_link_width', 'current_link_speed', 'current_link_width'];
      const read = async (bdf: string): Promise<string> => {
        const r = await sh(attrs.map((a) => `cat ${q(`${dev}/${bdf}/${a}`)}`).join('; '));
        assert.equal(r.code, 0, r.stderr);
        return r.stdout;
      };
      assert.equal(await read('0000:01:00.0'), '16.0 GT/s PCIe\n16\n8.0 GT/s PCIe\n16\n');
      assert.equal(await read('0000:00:02.0'), '8.0 GT/s PCIe\n16\n8.0 GT/s PCIe\n16\n');
      assert.equal(await read('0000:03:10.0'), '8.0 GT/s PCIe\n8\n8.0 GT/s PCIe\n4\n');
      assert.equal(await read('0000:06:00.1'), '5.0 GT/s PCIe\n4\n5.0 GT/s PCIe\n4\n');
      const slots = await sh(`cd ${q(`${mnt}/bus/pci/slots`)} && for s in *; do echo "$s $(cat $s/address)"; done`);
      assert.equal(slots.stdout, '1 0000:01:00\n16 0000:05:00\n2 0000:02:00\n4 0000:06:00\n8 0000:04:00\n');
      const services = await sh(`ls ${q(`${dev}/0000:03:08.0`)} ${q(`${dev}/0000:00:02.0`)} | grep -c ':pcie.04$'`);
      assert.equal(services.stdout.trim(), '1', 'pciehp on the hot-plug bay only');
    });
  });

  it('setpci COMMAND=0xffff keeps the reserved and hardwired bits 0', async () => {
    await withDaemon(TOPOLOGY, async (mnt) => {
      const opts = ['-O', `sysfs.path=${mnt}/bus/pci`, '-s', '01:00.0'];
      const w = await run('setpci', [...opts, 'COMMAND=0xffff']);
      assert.equal(w.code, 0, w.stderr);
      const r = await run('setpci', [...opts, 'COMMAND']);
      assert.equal(r.stdout.trim(), '0547');
    });
  });

  it('setpci sizes BARs and the ROM as hardware answers (all ones read back as the size mask), and the window registers keep their granularity', async () => {
    await withDaemon(TOPOLOGY, async (mnt) => {
      const gpu = ['-O', `sysfs.path=${mnt}/bus/pci`, '-s', '01:00.0'];
      const regs = ['BASE_ADDRESS_0', 'BASE_ADDRESS_1', 'BASE_ADDRESS_2', 'BASE_ADDRESS_5', 'ROM_ADDRESS'];
      const read = async (): Promise<string[]> => (await run('setpci', [...gpu, ...regs])).stdout.trim().split('\n');
      const resource = await sh(`cat ${q(`${mnt}/bus/pci/devices/0000:01:00.0/resource`)}`);
      const before = await read();
      assert.equal((await run('setpci', [...gpu, ...regs.map((r) => `${r}=0xffffffff`)])).code, 0);
      // 16M 32-bit, 256M 64-bit prefetchable (its upper half all writable), 128 bytes of I/O,
      // a 512K ROM with its enable bit: drivers/pci/probe.c __pci_read_base reads these.
      assert.deepEqual(await read(), ['ff000000', 'f000000c', 'ffffffff', 'ffffff81', 'fff80001']);
      assert.equal((await run('setpci', [...gpu, ...regs.map((r, i) => `${r}=0x${before[i]}`)])).code, 0);
      assert.deepEqual(await read(), before);
      // Linux's resources are what it read at boot, whatever the registers say since.
      assert.equal((await sh(`cat ${q(`${mnt}/bus/pci/devices/0000:01:00.0/resource`)}`)).stdout, resource.stdout);
      const port = ['-O', `sysfs.path=${mnt}/bus/pci`, '-s', '00:02.0'];
      assert.equal((await run('setpci', [...port, 'MEMORY_BASE=0xffff', 'IO_BASE=0xff'])).code, 0);
      assert.deepEqual((await run('setpci', [...port, 'MEMORY_BASE', 'IO_BASE'])).stdout.trim().split('\n'), ['fff0', 'f0']);
    });
  });
});
