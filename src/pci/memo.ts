// Answers kept by their question: the quirk, BAR and model tables are searched for every
// function at boot and again for every image and `resource` file, always with the few IDs and
// classes a machine has.

/** compute's answer for each key, computed once (undefined answers too). */
export function memoize<K, V>(compute: (key: K) => V): (key: K) => V {
  const kept = new Map<K, V>();
  return (key) => {
    let v = kept.get(key);
    if (v === undefined && !kept.has(key)) {
      v = compute(key);
      kept.set(key, v);
    }
    return v as V;
  };
}

/** compute's answer for each vendor:device pair, computed once. */
export function memoizeById<V>(compute: (vendor: number, device: number) => V): (vendor: number, device: number) => V {
  const byKey = memoize((key: number) => compute(Math.floor(key / 0x10000), key % 0x10000));
  return (vendor, device) => byKey(vendor * 0x10000 + device);
}
