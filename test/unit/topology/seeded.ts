// A small seeded PRNG for the topology fuzz tests: the seed is printed, and
// IOMMUFS_FUZZ_SEED=<n> replays a run exactly.

import { mulberry32 } from '../../helpers/mulberry32';

export function fuzzSeed(): number {
  const fixed = process.env.IOMMUFS_FUZZ_SEED;
  if (fixed !== undefined && /^\d+$/.test(fixed)) return Number(fixed) >>> 0;
  return (Date.now() ^ (process.pid << 16)) >>> 0;
}

export interface Rand {
  /** An integer in [0, n). */
  int(n: number): number;
}

/** mulberry32. */
export function prng(seed: number): Rand {
  const next = mulberry32(seed);
  return { int: (n) => Math.floor(next() * n) };
}
