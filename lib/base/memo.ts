/**
 * A memo for a pure function of a string, bounded for input an attacker chooses (header names of
 * received messages): the first `max` distinct arguments are kept, later ones are computed each
 * time and never stored, so the memory it holds is fixed and nothing is evicted on a hot path.
 */
export function boundedMemo<V>(fn: (key: string) => V, max: number): (key: string) => V {
  const known = new Map<string, V>();
  return (key: string): V => {
    let v = known.get(key);
    if (v === undefined) {
      v = fn(key);
      if (known.size < max) known.set(key, v);
    }
    return v;
  };
}
