// Where a daemon's CPU time went during one stretch of a benchmark: the self time of
// each function in a `node --cpu-prof` profile, counting only the samples taken between
// two CLOCK_MONOTONIC instants (V8 stamps samples with that clock, in µs, as does
// process.hrtime in any process).

import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime {
  where: string;
  ms: number;
  share: number;
}

/** The `top` functions by self time between `fromUs` and `toUs`, shares of the time the
 * thread was busy (V8's "(idle)" samples, waiting for the next request, are counted apart). */
export function selfTimes(file: string, fromUs: number, toUs: number, top = 15): { busyMs: number; idleMs: number; functions: SelfTime[]; files: SelfTime[] } {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const perFunction = new Map<string, number>();
  const perFile = new Map<string, number>();
  let t = profile.startTime;
  let total = 0;
  let idle = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i] ?? 0;
    t += delta;
    if (t < fromUs || t > toUs) continue;
    const frame = byId.get(profile.samples[i]!)?.callFrame;
    if (frame === undefined) continue;
    if (frame.functionName === '(idle)') {
      idle += delta;
      continue;
    }
    const file = frame.url === '' ? '(native)' : basename(frame.url);
    const where = `${frame.functionName || '(anonymous)'} ${file}:${frame.lineNumber + 1}`;
    perFunction.set(where, (perFunction.get(where) ?? 0) + delta);
    perFile.set(file, (perFile.get(file) ?? 0) + delta);
    total += delta;
  }
  const rank = (m: Map<string, number>): SelfTime[] =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([where, us]) => ({ where, ms: us / 1000, share: total === 0 ? 0 : us / total }));
  return { busyMs: total / 1000, idleMs: idle / 1000, functions: rank(perFunction), files: rank(perFile) };
}
