/**
 * Rate limit for STUN error responses to requests that did not authenticate (400, 401, and the
 * RFC 3489 codes 430/431/432 of the draft-era server). Such a request costs its sender nothing:
 * its source address may be forged, so every answer is traffic reflected at whoever that address
 * names. RFC 8489 §6.3 has a server answer these with an error but sets no rate for it;
 * icephone answers a few per source and drops the rest, counted (issue 13).
 *
 * Two token buckets: one per source IP address (ports are ignored: a forger picks them freely) and
 * one shared by all sources. A response is sent only when both have a token. Sources are kept in a
 * bounded map (the least recently refilled is forgotten first), so a flood from many addresses
 * costs bounded memory.
 */
import type { Clock } from '../base/clock.js';
import { canonicalIp } from '../base/address.js';

/** Limits of `ErrorResponseLimiter`. Rates are responses per second; bursts are bucket sizes. */
export interface ErrorResponseLimits {
  /** Responses one source address may draw at once; default 4. */
  perSourceBurst: number;
  /** Refill per source, responses per second; default 2. */
  perSourcePerSecond: number;
  /** Responses all sources together may draw at once; default 20. */
  globalBurst: number;
  /** Global refill, responses per second; default 10. */
  globalPerSecond: number;
  /** Source addresses tracked at once; default 1024 (one more evicts the stalest). */
  maxSources: number;
}

export const DEFAULT_ERROR_RESPONSE_LIMITS: Readonly<ErrorResponseLimits> = Object.freeze({
  perSourceBurst: 4,
  perSourcePerSecond: 2,
  globalBurst: 20,
  globalPerSecond: 10,
  maxSources: 1024,
});

interface Bucket {
  tokens: number;
  atMs: number;
}

function refill(b: Bucket, nowMs: number, burst: number, perSecond: number): void {
  const elapsed = Math.max(0, nowMs - b.atMs);
  b.tokens = Math.min(burst, b.tokens + (elapsed * perSecond) / 1000);
  b.atMs = nowMs;
}

function sourceKey(address: string): string {
  try {
    return canonicalIp(address);
  } catch {
    return address;
  }
}

export class ErrorResponseLimiter {
  readonly limits: Readonly<ErrorResponseLimits>;
  /** Responses refused by the limit (the request was dropped without an answer). */
  suppressed = 0;
  private readonly sources = new Map<string, Bucket>();
  private readonly global: Bucket;

  /** @throws RangeError when a limit is negative, not finite, or maxSources is below 1. */
  constructor(private readonly clock: Clock, limits: Partial<ErrorResponseLimits> = {}) {
    this.limits = { ...DEFAULT_ERROR_RESPONSE_LIMITS, ...limits };
    for (const [k, v] of Object.entries(this.limits)) {
      if (!Number.isFinite(v) || v < 0) throw new RangeError(`error response limit ${k} must be a finite number >= 0, got ${v}`);
    }
    if (this.limits.maxSources < 1) throw new RangeError(`error response limit maxSources must be >= 1, got ${this.limits.maxSources}`);
    this.global = { tokens: this.limits.globalBurst, atMs: clock.now() };
  }

  /**
   * Takes one token for an error response to `from`.
   * @returns true when the response may be sent; false when it must be dropped (counted in `suppressed`).
   */
  allow(from: { address: string }): boolean {
    const now = this.clock.now();
    const key = sourceKey(from.address);
    let b = this.sources.get(key);
    if (b) {
      this.sources.delete(key); // re-inserted below: the map stays in least-recently-used order
      refill(b, now, this.limits.perSourceBurst, this.limits.perSourcePerSecond);
    } else {
      b = { tokens: this.limits.perSourceBurst, atMs: now };
      if (this.sources.size >= this.limits.maxSources) this.sources.delete(this.sources.keys().next().value as string);
    }
    this.sources.set(key, b);
    refill(this.global, now, this.limits.globalBurst, this.limits.globalPerSecond);
    if (b.tokens < 1 || this.global.tokens < 1) {
      this.suppressed++;
      return false;
    }
    b.tokens--;
    this.global.tokens--;
    return true;
  }

  /** Source addresses currently tracked (at most `limits.maxSources`). */
  get trackedSources(): number {
    return this.sources.size;
  }
}
