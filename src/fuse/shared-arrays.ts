// One array for the listings of many directories. Directories of one kind list the same
// entries with the same stats (every device's `power/`, the functions of one device type,
// every group's directory), and a listing is kept per directory for the tree's version:
// at 10,000 devices the listings' own arrays were some 13 MB, most of them copies.
// Arrays are found by a hash of their contents and compared in full; the table holds the
// arrays of one version of the tree, as the listings do.

import type { FsStat } from './fs-ops';

const MAX_BUCKET = 8;

/** Arrays by the hash of their contents, those of one version. */
export class SharedArrays<T> {
  private at = Number.NaN;
  private readonly byHash = new Map<number, T[][]>();

  /** `fresh`, or an array of the same version with the same elements (===). `hash` is
   * what `hashOf` would give for `fresh`; `fresh` is not changed afterwards. */
  share(version: number, fresh: T[], hash: number): T[] {
    if (version !== this.at) {
      this.byHash.clear();
      this.at = version;
    }
    const bucket = this.byHash.get(hash);
    if (bucket === undefined) {
      this.byHash.set(hash, [fresh]);
      return fresh;
    }
    for (const kept of bucket) if (sameElements(kept, fresh)) return kept;
    // Arrays alike in content but not in identity (stats not from the table) share a hash:
    // the bucket is not let grow into a long scan.
    if (bucket.length < MAX_BUCKET) bucket.push(fresh);
    return fresh;
  }
}

function sameElements<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A hash of names, as the listing holds them. */
export function hashNames(names: readonly string[]): number {
  let h = names.length;
  for (const name of names) {
    for (let k = 0; k < name.length; k++) h = (Math.imul(h, 31) + name.charCodeAt(k)) | 0;
    h = (Math.imul(h, 31) + 0x2f) | 0; // '/': no name holds one
  }
  return h;
}

/** A hash of stats by what tells the stat table's objects apart. */
export function hashStats(stats: readonly FsStat[]): number {
  let h = stats.length;
  for (const st of stats) h = (Math.imul((Math.imul((Math.imul(h, 31) + st.mode) | 0, 31) + st.nlink) | 0, 31) + (st.size | 0)) | 0;
  return h;
}
