/**
 * Structural comparison of two sip.js parse results: same prototypes (URI, NameAddrHeader,
 * IncomingRequestMessage...), same own keys in the same order, same primitive values (NaN equal
 * to NaN, -0 to -0). Returns undefined when equal, else the path of the first difference.
 */
export function sameParse(a: unknown, b: unknown, path = '$', seen = new Map<object, object>()): string | undefined {
  if (Object.is(a, b)) return undefined;
  if (typeof a !== typeof b) return `${path}: ${typeof a} vs ${typeof b}`;
  if (a === null || b === null || typeof a !== 'object') return `${path}: ${String(a)} vs ${String(b)}`;
  const oa = a as Record<string, unknown>;
  const ob = b as Record<string, unknown>;
  if (seen.get(oa) === ob) return undefined;
  seen.set(oa, ob);
  if (Object.getPrototypeOf(oa) !== Object.getPrototypeOf(ob)) {
    return `${path}: prototype ${oa.constructor?.name} vs ${ob.constructor?.name}`;
  }
  const ka = Object.keys(oa);
  const kb = Object.keys(ob);
  if (ka.join('\u0000') !== kb.join('\u0000')) return `${path}: keys [${ka.join(',')}] vs [${kb.join(',')}]`;
  for (const k of ka) {
    const d = sameParse(oa[k], ob[k], `${path}.${k}`, seen);
    if (d) return d;
  }
  return undefined;
}
