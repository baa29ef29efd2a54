// A small seeded PRNG for the topology fuzz tests: the seed is printed, and
// IOMMUFS_FUZZ_SEED=<n> replays a run exactly.

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
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { int: (n) => Math.floor(next() * n) };
}
