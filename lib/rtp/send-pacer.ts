/**
 * One timer for every RTP sender on a clock (issue 14: "one timer wheel instead of a timer per
 * session"). With a Node timer per session, 1,000 calls at 50 packets/s arm and fire 50,000
 * timers a second, each a Timeout object, a closure and a map entry in the clock.
 *
 * A sender owns a reusable `PacedTimer` and arms it for a due time (ms on the clock). Due times
 * are rounded up to whole milliseconds and kept in a wheel of WHEEL_MS one-millisecond slots; one
 * clock timer is armed for the earliest slot that holds a sender. A timer fires no earlier than its
 * due time, and timers of one slot fire in the order they were armed. A due time further ahead than
 * the wheel reaches gets a clock timer of its own. When nothing is armed, no clock timer is pending
 * (so the pacer never keeps a process alive).
 */
import type { Clock, TimerHandle } from '../base/clock.js';

/** Slots in the wheel, one per millisecond (longer than any RTP packet time, RFC 4566 a=maxptime). */
const WHEEL_MS = 512;

/** A reusable one-shot timer of a SendPacer. */
export interface PacedTimer {
  /** Arms (or re-arms) the timer to call its function once at `dueMs` on the pacer's clock, or as soon as possible if that has passed. */
  at(dueMs: number): void;
  /** Disarms it; harmless when not armed. */
  cancel(): void;
}

interface Entry extends PacedTimer {
  readonly fn: () => void;
  slot: Set<Entry> | undefined;
  own: TimerHandle | undefined;
  /** Taken out of its slot by a firing that has not called it yet (cancel clears it). */
  due: boolean;
}

export class SendPacer {
  private readonly slots: Array<Set<Entry> | undefined> = new Array(WHEEL_MS);
  /** Entries in the wheel. */
  private count = 0;
  /** Entries on a clock timer of their own (due beyond the wheel). */
  private ownCount = 0;
  /** The next slot (ms) to run; every entry in the wheel has slotMs in [cursor, cursor + WHEEL_MS). */
  private cursor = 0;
  private clockTimer: TimerHandle | undefined;
  private timerAt = Infinity;
  private readonly onTimer = (): void => this.fire();
  /** Inside fire(): arming leaves the clock timer to the end of the firing. */
  private firing = false;

  constructor(private readonly clock: Clock) {}

  /** A timer that calls `fn` each time it is armed and due. */
  timer(fn: () => void): PacedTimer {
    const entry: Entry = {
      fn,
      slot: undefined,
      own: undefined,
      due: false,
      at: (dueMs: number) => this.arm(entry, dueMs),
      cancel: () => this.disarm(entry),
    };
    return entry;
  }

  /** Timers armed now (in the wheel or on a clock timer of their own). */
  get armed(): number {
    return this.count + this.ownCount;
  }

  private arm(e: Entry, dueMs: number): void {
    this.disarm(e);
    const now = this.clock.now();
    if (this.count === 0 && !this.firing) this.cursor = Math.floor(now);
    const slotMs = Math.max(Math.ceil(dueMs), this.cursor);
    if (slotMs - this.cursor >= WHEEL_MS) {
      this.ownCount++;
      e.own = this.clock.setTimer(dueMs - now, () => {
        e.own = undefined;
        this.ownCount--;
        e.fn();
      });
      return;
    }
    const index = slotMs % WHEEL_MS;
    let set = this.slots[index];
    if (!set) set = this.slots[index] = new Set();
    set.add(e);
    e.slot = set;
    this.count++;
    if (!this.firing && slotMs < this.timerAt) this.armClock(slotMs, now);
  }

  private disarm(e: Entry): void {
    e.due = false;
    if (e.slot) {
      e.slot.delete(e);
      e.slot = undefined;
      if (--this.count === 0 && !this.firing) this.clearClock();
    }
    if (e.own) {
      this.clock.clearTimer(e.own);
      e.own = undefined;
      this.ownCount--;
    }
  }

  private armClock(atMs: number, now: number): void {
    this.clearClock();
    this.timerAt = atMs;
    this.clockTimer = this.clock.setTimer(Math.max(0, atMs - now), this.onTimer);
  }

  private clearClock(): void {
    if (this.clockTimer) this.clock.clearTimer(this.clockTimer);
    this.clockTimer = undefined;
    this.timerAt = Infinity;
  }

  private fire(): void {
    this.clockTimer = undefined;
    this.timerAt = Infinity;
    const now = this.clock.now();
    this.firing = true;
    try {
      while (this.count > 0 && this.cursor <= now) {
        const index = this.cursor % WHEEL_MS;
        const set = this.slots[index];
        this.cursor++;
        if (!set || set.size === 0) continue;
        // Detach the slot first: a function re-arming its timer for a time already past goes to
        // the next slot, which this loop still reaches while it is due.
        this.slots[index] = undefined;
        for (const e of set) {
          e.slot = undefined;
          e.due = true;
          this.count--;
        }
        for (const e of set) {
          if (!e.due) continue; // cancelled by an earlier function of this slot
          e.due = false;
          try {
            e.fn();
          } catch {
            // A sender's failure is its own (RtpSession catches and logs its send errors); the
            // other senders of this slot still run.
          }
        }
      }
    } finally {
      this.firing = false;
    }
    if (this.count === 0) return;
    for (let ms = this.cursor; ms < this.cursor + WHEEL_MS; ms++) {
      const set = this.slots[ms % WHEEL_MS];
      if (set && set.size > 0) {
        this.armClock(ms, this.clock.now());
        return;
      }
    }
  }
}

const pacers = new WeakMap<Clock, SendPacer>();

/** The SendPacer of `clock` (one per clock, made on first use). */
export function sendPacerFor(clock: Clock): SendPacer {
  let p = pacers.get(clock);
  if (!p) pacers.set(clock, (p = new SendPacer(clock)));
  return p;
}
