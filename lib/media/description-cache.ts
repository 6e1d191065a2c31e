/**
 * One parse per SDP (issue 11): the phone checks an INVITE's offer before sip.js makes the call
 * (488 for an unusable one) and the call's media session then applies it; both read the same
 * parsed description (lib/sdp/offer-answer.ts `parseDescription`) from this cache, keyed by the
 * SDP text. Bounded (least recently used out) and owned by one phone, never process-wide.
 * Descriptions are shared: readers must not change them.
 */
import { parseDescription, type RemoteDescription } from '../sdp/offer-answer.js';

export class DescriptionCache {
  private readonly entries = new Map<string, RemoteDescription>();
  /** SDPs actually parsed (cache misses), for tests and the benchmark. */
  parses = 0;

  /** @param capacity descriptions kept (a positive integer; default 32). @throws RangeError otherwise. */
  constructor(private readonly capacity = 32) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
  }

  /** The parsed description of `sdp`. @throws ParseError (not cached) for an SDP that cannot be used. */
  parse(sdp: string): RemoteDescription {
    const hit = this.entries.get(sdp);
    if (hit) {
      this.entries.delete(sdp);
      this.entries.set(sdp, hit);
      return hit;
    }
    const parsed = parseDescription(sdp);
    this.parses++;
    this.entries.set(sdp, parsed);
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value as string);
    return parsed;
  }

  get size(): number {
    return this.entries.size;
  }
}
