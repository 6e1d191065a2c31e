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
  /**
   * Calls `fn` once, after the input that has already arrived (datagrams received while the
   * process was busy) has been handled. For a timer that decides from the absence of input (an
   * end timeout): Node runs expired timers before it polls for I/O, so after the event loop was
   * blocked such a timer fires before data that arrived in time has been read. Optional: use the
   * function `afterPendingInput(clock, fn)`, which calls `fn` at once for a clock without it.
   */
  afterPendingInput?(fn: () => void): void;
}

/** `clock.afterPendingInput(fn)`, or `fn()` at once when the clock has no such step. */
export function afterPendingInput(clock: Clock, fn: () => void): void {
  if (clock.afterPendingInput) clock.afterPendingInput(fn);
  else fn();
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

  /**
   * setImmediate: immediates run in the loop's check phase, after the poll phase has read what the
   * sockets hold (libuv reads up to 32 datagrams per UDP socket and poll).
   */
  afterPendingInput(fn: () => void): void {
    setImmediate(fn);
  }
}

/** Shared process-wide SystemClock. */
export const systemClock: Clock = new SystemClock();

/**
 * A clock that moves only when told to: `advance(ms)` fires every timer due in order.
 * Used by unit tests of state machines. `afterPendingInput` callbacks run right after the timer
 * that asked for them (no input is pending), except under `stall(ms, input)`, which replays a
 * blocked event loop: every timer due fires, then `input` delivers what arrived meanwhile, then
 * the deferred callbacks run.
 */
export class ManualClock implements Clock {
  private current = 0;
  private nextId = 1;
  private readonly pending = new Map<number, { at: number; fn: () => void }>();
  private deferred: Array<() => void> = [];
  private stalled = false;

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

  afterPendingInput(fn: () => void): void {
    this.deferred.push(fn);
  }

  /** Number of timers not yet fired. */
  get pendingCount(): number {
    return this.pending.size;
  }

  /**
   * Replays an event loop blocked for `ms`: time jumps, every timer due by then fires (in order,
   * deferred callbacks held back), then `input()` hands over what arrived during the block, then
   * the `afterPendingInput` callbacks run.
   */
  stall(ms: number, input?: () => void): void {
    this.stalled = true;
    try {
      this.advance(ms);
    } finally {
      this.stalled = false;
    }
    input?.();
    this.runDeferred();
  }

  private runDeferred(): void {
    while (this.deferred.length > 0) {
      const fns = this.deferred;
      this.deferred = [];
      for (const fn of fns) fn();
    }
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
      if (!this.stalled) this.runDeferred();
    }
    this.current = target;
  }
}
