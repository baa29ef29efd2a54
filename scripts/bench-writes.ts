// The writes half of the mount benchmark: how soon a change is visible, and how fast
// bind/unbind goes. Writes and listings are made from this process (the mount is served
// by a child daemon), each timed on its own.

import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startMount } from './bench-servers';
import { median } from './bench-workloads';

/** A PF on the root bus whose 256 possible VFs start on bus 01 (offset 240), and a NIC to bind. */
const WRITES_TOPOLOGY = `version: 1
cmdline: intel_iommu=on
iommus: [{ name: dmar0, type: intel-vtd }]
pci:
  - bus: 0
    devices:
      "00.0": { id: 8086:29c0, class: 0x060000, type: host-bridge }
      "02.0": { id: 15b3:1017, class: 0x020000, driver: mlx5_core, sriov: { total: 256, offset: 240, stride: 1, vf-id: 15b3:1018, vf-driver: mlx5_core } }
      "03.0": { id: 8086:10d3, class: 0x020000, driver: e1000e }
`;
const BASE_DEVICES = 3;

export interface WriteResult {
  label: string;
  /** Median over the repetitions, ms; NaN when it never happened within 5 s. */
  ms: number;
  note?: string;
}

/** Lists `dir` until it holds `count` entries; the listings it took (1 = the first one
 * after the write already saw the change) and when it succeeded, or NaN after 5 s. */
function listUntil(dir: string, count: number): { at: number; listings: number } {
  const limit = performance.now() + 5000;
  for (let listings = 1; ; listings++) {
    if (readdirSync(dir).length === count) return { at: performance.now(), listings };
    if (performance.now() > limit) return { at: NaN, listings };
  }
}

export async function benchWrites(repetitions: number): Promise<WriteResult[]> {
  const work = mkdtempSync(join(tmpdir(), 'iommufs-bench-writes-'));
  const topology = join(work, 'writes.yaml');
  writeFileSync(topology, WRITES_TOPOLOGY);
  const daemon = await startMount(topology, join(work, 'mnt'));
  try {
    const devices = join(daemon.root, 'bus/pci/devices');
    const numvfs = join(devices, '0000:00:02.0', 'sriov_numvfs');
    const results: WriteResult[] = [];
    for (const n of [64, 256]) {
      const total: number[] = [];
      const afterReturn: number[] = [];
      let stale = 0;
      for (let r = 0; r < repetitions; r++) {
        const t0 = performance.now();
        writeFileSync(numvfs, `${n}\n`);
        const returned = performance.now();
        const seen = listUntil(devices, BASE_DEVICES + n);
        if (seen.listings > 1) stale++;
        total.push(seen.at - t0);
        afterReturn.push(seen.at - returned);
        writeFileSync(numvfs, '0\n');
        listUntil(devices, BASE_DEVICES);
      }
      const note = stale === 0 ? undefined : `${stale}/${repetitions} first listings after the write were stale`;
      results.push({ label: `\`sriov_numvfs\` = ${n}: write, then all ${n} VFs listed`, ms: median(total), note });
      if (n === 256) results.push({ label: `\`sriov_numvfs\` = ${n}: from the write returning to all ${n} VFs listed`, ms: median(afterReturn), note });
    }
    const rounds = 200;
    const drv = join(daemon.root, 'bus/pci/drivers/e1000e');
    const t0 = performance.now();
    for (let i = 0; i < rounds; i++) {
      writeFileSync(join(drv, 'unbind'), '0000:00:03.0\n');
      writeFileSync(join(drv, 'bind'), '0000:00:03.0\n');
    }
    results.push({ label: `bind/unbind round trip (mean of ${rounds})`, ms: (performance.now() - t0) / rounds });
    return results;
  } finally {
    await daemon.stop();
    rmSync(work, { recursive: true, force: true });
  }
}
