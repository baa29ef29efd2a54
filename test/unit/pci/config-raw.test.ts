// A topology's `config:` rows (pci/config-raw.ts): the function's config space reads as the
// rows give it, except what the engine owns (identity from the keys, bus numbers, the type,
// ACS, SR-IOV and PASID fields, and the registers drivers and the kernel change).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Machine } from '../../../src/engine/machine';
import { configRows, overlayRawConfig, parseConfigRows } from '../../../src/pci/config-raw';
import { EXT_CAP, parseCapabilities, readConfigFacts } from '../../../src/pci/config-space';
import { loadTopology } from '../../../src/topology/load';
import { pciDevice } from '../../helpers/machines';

const BASE = `version: 1
name: raw
cmdline: intel_iommu=on
iommus: [{ name: dmar0, type: intel-vtd, scope: all, interrupt-remapping: true }]
pci:
  - segment: 0x0000
    bus: 0x00
    devices:
      "00.0": { id: 8086:29c0, class: 0x060000, type: host-bridge }
      "02.0":
        id: 1b36:000c
        type: root-port
        acs: [sv, rr, cr, uf]
        devices:
          "00.0": { id: 8086:10d3, class: 0x020000 }
`;

function boot(text: string): Machine {
  const r = loadTopology(text, 'raw.yaml');
  if (!r.ok) assert.fail(r.errors.map((e) => `${e.line}:${e.col} ${e.path}: ${e.message}`).join('\n'));
  return Machine.boot(r.topology);
}

/** The text with `config:` rows added to the device entry whose line starts with `prefix`. */
function withConfig(text: string, prefix: string, rows: string[], indent: string): string {
  const lines = text.split('\n');
  const at = lines.findIndex((l) => l.startsWith(prefix));
  const entry = lines[at]!;
  const flow = /^(\s*"[^"]+"): \{ (.*) \}$/.exec(entry);
  const head = flow ? [`${flow[1]}:`, ...flow[2]!.split(', ').map((kv) => `${indent}${kv}`)] : [entry];
  lines.splice(at, 1, ...head, `${indent}config:`, ...rows.map((r) => `${indent}  - "${r}"`));
  return lines.join('\n');
}

/** A vendor-specific capability (ID 0x09) of 8 bytes at `at`, chained after the last one. */
function addVendorCap(bytes: Uint8Array, at: number): Uint8Array {
  const out = Uint8Array.from(bytes);
  const caps = parseCapabilities(out).filter((c) => !c.extended);
  const last = caps.at(-1)!;
  out[last.offset + 1] = at;
  out.set([0x09, 0x00, 0x08, 0xde, 0xad, 0xbe, 0xef, 0x01], at);
  return out;
}

describe('config: rows', () => {
  it('a capability the model does not build reads as the rows give it; what the engine owns stays its', () => {
    const plain = boot(BASE);
    const nic = plain.configBytes(pciDevice(plain, '0000:01:00.0'));
    const raw = addVendorCap(nic, 0xe0);
    raw[0x3c] = 0x0b; // interrupt line, as firmware set it
    raw[0x04] |= 0x04; // Bus Master, as firmware left it: no driver is bound here
    raw[0x00] = 0x34; // a vendor ID the keys contradict
    const m = boot(withConfig(BASE, '          "00.0"', configRows(raw), '            '));
    const got = m.configBytes(pciDevice(m, '0000:01:00.0'));
    assert.deepEqual([...got.subarray(0xe0, 0xe8)], [0x09, 0x00, 0x08, 0xde, 0xad, 0xbe, 0xef, 0x01]);
    assert.ok(parseCapabilities(got).some((c) => !c.extended && c.id === 0x09 && c.offset === 0xe0));
    assert.equal(got[0x3c], 0x0b);
    assert.equal(got[0x04]! & 0x04, 0, 'Bus Master is the engine\'s (no driver bound)');
    assert.equal(readConfigFacts(got).vendor, 0x8086, 'the ID is the keys\'');
    // Everything else is the rows'.
    const expect = Uint8Array.from(raw);
    expect[0x00] = 0x86;
    expect[0x04] = nic[0x04]!;
    assert.deepEqual([...got], [...expect]);
  });

  it('ACS capability and control come from `acs:` and the kernel\'s enabling, not from the rows', () => {
    const plain = boot(BASE);
    const port = plain.configBytes(pciDevice(plain, '0000:00:02.0'));
    const acs = parseCapabilities(port).find((c) => c.extended && c.id === EXT_CAP.ACS)!.offset;
    const raw = Uint8Array.from(port);
    raw[acs + 4] = 0x7f;
    raw[acs + 6] = 0;
    raw[acs + 7] = 0;
    raw[0x19] = 0x42; // a secondary bus number the engine does not give
    const m = boot(BASE.replace('        devices:', `        config:\n${configRows(raw).map((r) => `          - "${r}"`).join('\n')}\n        devices:`));
    const got = m.configBytes(pciDevice(m, '0000:00:02.0'));
    assert.deepEqual([...got], [...port]);
  });

  it('rows are checked: format, alignment, size, repeats', () => {
    assert.equal(parseConfigRows(['00: 86 80'], 256).ok, false);
    assert.match(JSON.stringify(parseConfigRows(['08: 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00'], 256)), /not a multiple of 0x10/);
    assert.match(JSON.stringify(parseConfigRows(['100: 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00'], 256)), /beyond this function's 256-byte config space/);
    const row = '10: 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 10';
    assert.match(JSON.stringify(parseConfigRows([row, row], 256)), /given twice/);
    const ok = parseConfigRows([row], 4096);
    assert.ok(ok.ok && ok.bytes.length === 4096 && ok.bytes[0x1f] === 0x10);
    assert.deepEqual(configRows(ok.ok ? ok.bytes : new Uint8Array()), [row]);
    // A bad row in a topology is a load error at its position.
    const r = loadTopology(withConfig(BASE, '          "00.0"', ['00: 86 80'], '            '), 'raw.yaml');
    assert.ok(!r.ok);
    assert.match(r.errors.map((e) => `${e.path}: ${e.message}`).join('\n'), /devices\."00\.0"\.config\[0\]: "00: 86 80" is not a config row/);
  });

  it('without rows an image is the model\'s (the overlay of a function\'s own image changes nothing)', () => {
    const m = boot(BASE);
    for (const d of m.devices.values()) {
      if (d.kind !== 'pci') continue;
      const img = m.configBytes(d);
      assert.deepEqual([...overlayRawConfig(img, img)], [...img], d.name);
    }
  });
});
