// What the mount benchmark runs against each tree: real tools in a child shell, the tree's
// root as "$1" (never pasted into the script), timed from spawn to exit with a limit.

import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';

export const WORKLOADS: Record<string, string> = {
  find: 'find "$1" > /dev/null',
  'ls-lR': 'ls -lR "$1" > /dev/null',
  // Every file anyone may read (write-only attributes such as `remove` are 0200).
  // A few sysfs files refuse to be read whatever their mode (power/autosuspend_delay_ms is
  // EIO on Linux too): their errors are part of the walk, not a failure of it.
  'read-all': 'find "$1" -type f -perm -0444 -print0 | xargs -0 cat > /dev/null 2>&1; [ "${PIPESTATUS[0]}" -eq 0 ]',
  'readlink-all': 'find "$1" -type l -print0 | xargs -0 readlink > /dev/null',
  // The loop every VFIO guide prints (clients.md §1).
  'group-loop':
    'for g in "$1"/kernel/iommu_groups/*; do echo "IOMMU Group ${g##*/}:"; for d in "$g"/devices/*; do echo "$(readlink -f "$d") $(cat "$d/vendor" "$d/device")"; done; done > /dev/null',
  // As test/e2e/tools.test.ts runs it; -A pins the sysfs method so /proc is never read.
  'lspci-vvv': 'lspci -A linux-sysfs -O sysfs.path="$1/bus/pci" -vvv > /dev/null',
};

export const WORKLOAD_NAMES = Object.keys(WORKLOADS);

/** The middle value (the lower one of an even count): robust to one disturbed round. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[(s.length - 1) >> 1]!;
}

export interface Timing {
  /** Wall time in ms; NaN when the workload did not finish in time or failed. */
  ms: number;
  /** Why there is no time: 'timeout' or the shell's complaint. */
  problem?: string;
}

/** Runs workload `name` on `root` under `timeout` (which signals the whole process group). */
export function runWorkload(name: string, root: string, limitS: number): Promise<Timing> {
  const script = WORKLOADS[name];
  if (script === undefined) throw new Error(`unknown workload ${name}`);
  const t0 = performance.now();
  const child = spawn('timeout', ['-k', '5', String(limitS), 'bash', '-c', `set -o pipefail; ${script}`, 'bash', root], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => {
    if (stderr.length < 4000) stderr += b.toString();
  });
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      const ms = performance.now() - t0;
      if (code === 0) return resolve({ ms });
      if (code === 124 || code === 137 || signal !== null) return resolve({ ms: NaN, problem: 'timeout' });
      // lspci on a host without kernel modules says so on stderr (clients.md §4); noise only.
      const said = stderr
        .split('\n')
        .filter((l) => l !== '' && !/Unable to load libkmod/.test(l))
        .slice(0, 3)
        .join(' | ');
      resolve({ ms: NaN, problem: `exit ${code}${said === '' ? '' : `: ${said}`}` });
    });
  });
}
