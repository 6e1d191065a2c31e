import type { Clock, TimerHandle } from '../base/clock.js';
import type { CandidatePair } from './candidate-pair.js';

/**
 * Upkeep of the path media uses, per component:
 * - consent freshness (RFC 7675): a Binding request on the pair every `intervalMs` randomised to
 *   0.8..1.2 of it (§5.1: "randomized ... to prevent network congestion"); each authenticated
 *   success response grants consent for `expiryMs` (§5.1: 30 s); when consent expires the agent
 *   MUST stop sending on the pair (§5.1) and reports it;
 * - keepalives (RFC 8445 §11): with consent running the consent checks are the keepalives; an
 *   agent without consent checks (a lite agent) sends a Binding indication when nothing was sent
 *   on the pair for `keepaliveMs`.
 * Pure timing: the agent sends, and tells this class about responses and sends.
 */

export interface ConsentOptions {
  clock: Clock;
  /** Consent check interval, ms (RFC 7675 §5.1: 5000). */
  intervalMs?: number;
  /** Consent lifetime after the last success response, ms (RFC 7675 §5.1: 30000). */
  expiryMs?: number;
  /** Keepalive interval Tr for indications, ms (RFC 8445 §11: at least 15000). */
  keepaliveMs?: number;
  /** false: no consent checks, indications only (lite agent). Default true. */
  checks?: boolean;
  /** Random number in [0,1) for the interval jitter (tests pass a fixed one). */
  random?: () => number;
}

export interface ConsentHooks {
  /** The pair media of `component` uses now (selected, else the best valid pair), if any. */
  pathOf(component: number): CandidatePair | undefined;
  /** Send a consent check (Binding request) on `pair`; its success calls `granted(pair)`. */
  sendCheck(pair: CandidatePair): void;
  /** Send a Binding indication (keepalive) on `pair`. */
  sendIndication(pair: CandidatePair): void;
  /** When anything was last sent on `component` (ms, clock time). */
  lastSentAt(component: number): number | undefined;
  /** Consent for `pair` expired (RFC 7675 §5.1): stop sending on it. */
  expired(component: number, pair: CandidatePair): void;
}

export class ConsentFreshness {
  readonly intervalMs: number;
  readonly expiryMs: number;
  readonly keepaliveMs: number;
  private readonly checks: boolean;
  private readonly random: () => number;
  private readonly timers = new Map<number, TimerHandle>();
  /** Last time each pair (by id) was granted consent. */
  private readonly grantedAt = new Map<number, number>();
  private readonly expiredPairs = new Set<number>();

  constructor(private readonly opts: ConsentOptions, private readonly hooks: ConsentHooks) {
    this.intervalMs = opts.intervalMs ?? 5000;
    this.expiryMs = opts.expiryMs ?? 30000;
    this.keepaliveMs = opts.keepaliveMs ?? 15000;
    this.checks = opts.checks ?? true;
    this.random = opts.random ?? Math.random;
  }

  /** Consent granted for `pair` now: a check on it succeeded (RFC 7675 §5.1, RFC 8445 §7.2.5.3). */
  granted(pair: CandidatePair): void {
    this.grantedAt.set(pair.id, this.opts.clock.now());
    this.expiredPairs.delete(pair.id);
  }

  /** Whether media may be sent on `pair` (consent not expired). */
  allowed(pair: CandidatePair): boolean {
    return !this.expiredPairs.has(pair.id);
  }

  /** Starts (or keeps) the upkeep timer of `component`. */
  watch(component: number): void {
    if (this.timers.has(component)) return;
    this.schedule(component, this.nextDelay(component));
  }

  private nextDelay(component: number): number {
    if (this.checks) return Math.round(this.intervalMs * (0.8 + 0.4 * this.random()));
    const last = this.hooks.lastSentAt(component) ?? this.opts.clock.now();
    return Math.max(0, last + this.keepaliveMs - this.opts.clock.now());
  }

  private schedule(component: number, delayMs: number): void {
    const pair = this.hooks.pathOf(component);
    // Wake no later than the moment the current path's consent runs out.
    let delay = delayMs;
    if (this.checks && pair) {
      const granted = this.grantedAt.get(pair.id);
      if (granted !== undefined) delay = Math.min(delay, Math.max(0, granted + this.expiryMs - this.opts.clock.now()));
    }
    this.timers.set(component, this.opts.clock.setTimer(delay, () => this.onTimer(component)));
  }

  private onTimer(component: number): void {
    this.timers.delete(component);
    const pair = this.hooks.pathOf(component);
    if (!pair) return;
    const now = this.opts.clock.now();
    if (this.checks) {
      const granted = this.grantedAt.get(pair.id) ?? now;
      if (!this.grantedAt.has(pair.id)) this.grantedAt.set(pair.id, now);
      if (now - granted >= this.expiryMs) {
        this.expiredPairs.add(pair.id);
        this.hooks.expired(component, pair);
        return;
      }
      this.hooks.sendCheck(pair);
    } else {
      const last = this.hooks.lastSentAt(component) ?? -Infinity;
      if (now - last >= this.keepaliveMs) this.hooks.sendIndication(pair);
    }
    this.schedule(component, this.nextDelay(component));
  }

  /** Stops every timer (restart, failure, close). Grants are kept. */
  stop(): void {
    for (const t of this.timers.values()) this.opts.clock.clearTimer(t);
    this.timers.clear();
  }
}
