/**
 * Time source for every protocol state machine. Only this file touches real timers,
 * so STUN transactions, ICE pacing and SIP timers run under a ManualClock in tests.
 * Times are milliseconds.
 */
export interface TimerHandle {
  readonly id: number;
}

export interface Clock {
  /** Milliseconds since an arbitrary epoch (monotonic for SystemClock). */
  now(): number;
  /** Calls `fn` once after `delayMs` milliseconds. */
  setTimer(delayMs: number, fn: () => void): TimerHandle;
  /** Cancels a timer; harmless on an expired or unknown handle. */
  clearTimer(handle: TimerHandle | undefined): void;
}

/** Wall-clock timers backed by setTimeout and performance.now(). */
export class SystemClock implements Clock {
  private nextId = 1;
  private readonly timers = new Map<number, NodeJS.Timeout>();

  now(): number {
    return performance.now();
  }

  setTimer(delayMs: number, fn: () => void): TimerHandle {
    const id = this.nextId++;
    const t = setTimeout(() => {
      this.timers.delete(id);
      fn();
    }, Math.max(0, delayMs));
    this.timers.set(id, t);
    return { id };
  }

  clearTimer(handle: TimerHandle | undefined): void {
    if (!handle) return;
    const t = this.timers.get(handle.id);
    if (t) {
      clearTimeout(t);
      this.timers.delete(handle.id);
    }
  }
}

/** Shared process-wide SystemClock. */
export const systemClock: Clock = new SystemClock();

/**
 * A clock that moves only when told to: `advance(ms)` fires every timer due in order.
 * Used by unit tests of state machines.
 */
export class ManualClock implements Clock {
  private current = 0;
  private nextId = 1;
  private readonly pending = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.current;
  }

  setTimer(delayMs: number, fn: () => void): TimerHandle {
    const id = this.nextId++;
    this.pending.set(id, { at: this.current + Math.max(0, delayMs), fn });
    return { id };
  }

  clearTimer(handle: TimerHandle | undefined): void {
    if (handle) this.pending.delete(handle.id);
  }

  /** Number of timers not yet fired. */
  get pendingCount(): number {
    return this.pending.size;
  }

  /** Moves time forward by `ms`, firing due timers in time order (ties by creation order). */
  advance(ms: number): void {
    const target = this.current + ms;
    for (;;) {
      let nextId = -1;
      let nextAt = Infinity;
      for (const [id, t] of this.pending) {
        if (t.at <= target && (t.at < nextAt || (t.at === nextAt && id < nextId))) {
          nextAt = t.at;
          nextId = id;
        }
      }
      if (nextId < 0) break;
      const t = this.pending.get(nextId)!;
      this.pending.delete(nextId);
      this.current = Math.max(this.current, t.at);
      t.fn();
    }
    this.current = target;
  }
}
