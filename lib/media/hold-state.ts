/**
 * Hold and resume of one media session (RFC 3264 §8.4, RFC 6337 §5): what we asked for, what the
 * last completed offer/answer put in place, whether the peer holds us, and every hold period.
 *
 * We hold the peer by offering `sendonly` (`inactive` when the peer holds us too); the peer holds
 * us when its latest description does not receive (`sendonly`, `inactive`, or the RFC 2543-style
 * `c=0.0.0.0`, lib/sdp/direction.ts). A local hold takes effect when its offer is answered.
 */
import type { Clock } from '../base/clock.js';
import type { Logger } from '../base/log.js';

/** One hold period; times are the session clock's (ms). */
export interface HoldPeriod {
  by: 'local' | 'remote';
  startMs: number;
  /** Undefined while the hold lasts. */
  endMs?: number;
}

export class HoldState {
  /** Every hold period of the session, in order. */
  readonly periods: HoldPeriod[] = [];
  /** We want to hold the peer (the application asked); our offers say so from now on. */
  requested = false;
  /** The local hold the last completed offer/answer put in place. */
  private applied = false;
  /** The peer holds us: its latest description does not receive. */
  peerHolds = false;

  /** `onChange(by, held)` for every hold that begins or ends. */
  constructor(private readonly clock: Clock, private readonly log: Logger, private readonly onChange: (by: 'local' | 'remote', held: boolean) => void) {}

  /** Whether we hold the peer as the last completed exchange left it (no audio is sent then). */
  get localApplied(): boolean {
    return this.applied;
  }

  /** An offer/answer exchange completed: `peerReceives` is whether the peer's latest description receives. */
  exchangeCompleted(peerReceives: boolean): void {
    this.mark('local', this.requested);
    this.peerHolds = !peerReceives;
    this.mark('remote', !peerReceives);
  }

  private mark(by: 'local' | 'remote', held: boolean): void {
    if (by === 'local') this.applied = held;
    const open = [...this.periods].reverse().find((p) => p.by === by && p.endMs === undefined);
    if (held && !open) {
      this.periods.push({ by, startMs: this.clock.now() });
      this.log.info(by === 'local' ? 'holding the peer' : 'held by the peer');
      this.onChange(by, true);
    } else if (!held && open) {
      open.endMs = this.clock.now();
      this.log.info(by === 'local' ? 'resumed the peer' : 'resumed by the peer');
      this.onChange(by, false);
    }
  }
}
