/**
 * RTP timeout: a call whose peer stopped sending media ends, as baresip's `rtp_timeout`,
 * rtpengine's `--timeout` and Asterisk's `rtptimeout` end theirs. Without it, a plain-RTP call
 * whose peer vanished without a BYE (a crashed phone, a load generator that aborted the call, a
 * PBX leg of a gateway) lasted until the process exited: ICE calls have consent freshness
 * (RFC 7675 §5.1) for that, plain RTP has nothing (RFC 3550 §6.3.5's RTCP timeout only retires a
 * member). Issue 14: calls SIPp gave up on stayed up, kept their sockets and sent RTP.
 *
 * How: once a second (as baresip checks), the count of RTP and RTCP packets received is compared
 * with the last one; when it has not moved for `timeoutMs` while the peer is expected to send (its
 * SDP direction sends and ours receives: no hold, RFC 3264 §5.1), `onTimeout` runs once with a
 * reason that names the timeout, such as `no RTP or RTCP from the peer for 30 s`. Time on hold does
 * not count: the clock restarts when the peer is expected to send again. Counting starts when media
 * starts, so a peer gets the whole timeout for its first packet. No per-packet work: only the tick
 * reads the counters.
 */
import type { Clock, TimerHandle } from '../base/clock.js';

/** Check period, ms (baresip's RTP_CHECK_INTERVAL is the same second). */
export const RTP_TIMEOUT_CHECK_MS = 1000;

export interface RtpTimeoutOptions {
  clock: Clock;
  /** No media for this long ends the call, ms (> 0). */
  timeoutMs: number;
  /** RTP packets + RTCP packets received so far (a counter that only grows). */
  received: () => number;
  /** Whether the peer is expected to send now (false on hold, recvonly or inactive). */
  expecting: () => boolean;
  /** Called once, with the reason, when the timeout is reached. */
  onTimeout: (reason: string) => void;
}

/** The watcher of one call's incoming media (see the file comment). */
export class RtpTimeout {
  private timer?: TimerHandle;
  private lastCount = -1;
  private lastChangeMs = 0;
  private stopped = false;

  constructor(private readonly o: RtpTimeoutOptions) {
    if (!(o.timeoutMs > 0)) throw new RangeError(`RTP timeout must be > 0 ms, got ${o.timeoutMs}`);
  }

  /** Starts watching (idempotent). */
  start(): void {
    if (this.stopped || this.timer !== undefined) return;
    this.lastCount = this.o.received();
    this.lastChangeMs = this.o.clock.now();
    this.arm();
  }

  /** Stops for good (the call ended). */
  stop(): void {
    this.stopped = true;
    this.o.clock.clearTimer(this.timer);
    this.timer = undefined;
  }

  private arm(): void {
    this.timer = this.o.clock.setTimer(Math.min(RTP_TIMEOUT_CHECK_MS, this.o.timeoutMs), () => this.tick());
  }

  private tick(): void {
    this.timer = undefined;
    if (this.stopped) return;
    const now = this.o.clock.now();
    const count = this.o.received();
    if (count !== this.lastCount || !this.o.expecting()) {
      this.lastCount = count;
      this.lastChangeMs = now;
    } else if (now - this.lastChangeMs >= this.o.timeoutMs) {
      this.stopped = true;
      // The reason names the configured timeout, not the silence measured: a tick that fires late
      // (a loaded event loop) measures 2.06 s for a 2-s timeout, and the Reason a peer or a log
      // parser sees should not depend on that. The silence lasted at least this long.
      const seconds = Math.round(this.o.timeoutMs / 100) / 10;
      this.o.onTimeout(`no RTP or RTCP from the peer for ${seconds} s (RTP timeout)`);
      return;
    }
    this.arm();
  }
}
