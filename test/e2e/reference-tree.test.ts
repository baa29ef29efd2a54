// The mounted tree against what Linux 6.1 showed at boot, machine by machine: `ls -la` of
// every group and device directory (names, modes, sizes, nlink, link targets), the links,
// and the exact text of every attribute, read with real `ls`, `cat` and `readlink` on a real
// mount (recorded-phase.ts). Entries whose content comes from firmware are left out.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { assertNothingMounted, withDaemon } from './harness';
import { comparePhase } from './recorded-phase';
import { TOPOLOGIES } from '../helpers/paths';
import { MACHINES, recording } from '../helpers/reference';

after(assertNothingMounted);

describe('the mount equals the kernel recordings', () => {
  for (const name of MACHINES) {
    it(`qemu-${name}: every group and device directory, link and attribute`, async () => {
      const rec = recording(name).phases.boot;
      await withDaemon(join(TOPOLOGIES, `qemu-${name}.yaml`), async (mnt) => {
        const problems = await comparePhase(mnt, rec);
        assert.deepEqual(problems, [], `${problems.length} differences:\n${problems.slice(0, 60).join('\n')}`);
      });
    });
  }
});
