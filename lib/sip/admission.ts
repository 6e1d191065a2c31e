/**
 * Admission control for incoming calls (issue 14): a limit on calls in progress, and a drain mode.
 *
 * - **Calls in progress.** Beyond `maxCallsInProgress` (incoming and outgoing calls not yet ended,
 *   early ones and never-ACKed ones included), a new INVITE is refused with 503 Service Unavailable
 *   and `Retry-After` (RFC 3261 §21.5.4, §20.33), so a flood of INVITEs degrades into refusals
 *   instead of memory and sockets.
 * - **Draining** (`Phone.drain()`, the CLI's SIGTERM with `--drain`): new INVITEs get the same 503,
 *   and out-of-dialog OPTIONS get 503 too, so a load balancer that probes with OPTIONS (kamailio's
 *   dispatcher) takes the instance out of its set while the calls in progress finish normally.
 *   In-dialog requests (re-INVITE, UPDATE, BYE, in-dialog OPTIONS) are not affected.
 *
 * This class only decides; `Phone` applies the decision (INVITE in its `onInvite`, inside the
 * server transaction, so retransmissions are absorbed; OPTIONS statelessly, as sip.js answers it).
 */

/** The response to send instead of taking the request: status, reason phrase, extra header lines. */
export interface AdmissionRefusal {
  statusCode: 503;
  reasonPhrase: string;
  extraHeaders: string[];
}

export interface AdmissionOptions {
  /** Calls in progress at once (a positive integer); undefined: no limit. */
  maxCallsInProgress?: number;
  /** The `Retry-After` value sent with 503, in seconds (default 5). */
  retryAfterSec?: number;
}

export class Admission {
  private draining = false;
  /** INVITEs refused because the limit was reached. */
  refusedOverLimit = 0;
  /** INVITEs refused while draining. */
  refusedDraining = 0;

  /** @throws RangeError for a limit that is not a positive integer or a negative Retry-After. */
  constructor(private readonly opts: AdmissionOptions = {}) {
    const { maxCallsInProgress: max, retryAfterSec: retry } = opts;
    if (max !== undefined && !(Number.isInteger(max) && max > 0)) throw new RangeError(`maxCallsInProgress must be a positive integer, got ${max}`);
    if (retry !== undefined && !(Number.isInteger(retry) && retry >= 0)) throw new RangeError(`retryAfterSec must be a non-negative integer, got ${retry}`);
  }

  /** True once `drain()` was called. */
  get isDraining(): boolean {
    return this.draining;
  }

  /** Stops taking new calls; there is no way back (a drained instance exits). */
  drain(): void {
    this.draining = true;
  }

  /** For a new (out-of-dialog) INVITE, with `inProgress` calls not yet ended: a refusal, or undefined to take it. */
  checkInvite(inProgress: number): AdmissionRefusal | undefined {
    if (this.draining) {
      this.refusedDraining++;
      return this.refusal('Draining');
    }
    const max = this.opts.maxCallsInProgress;
    if (max !== undefined && inProgress >= max) {
      this.refusedOverLimit++;
      return this.refusal('Too Many Calls');
    }
    return undefined;
  }

  /** For an out-of-dialog OPTIONS: 503 while draining (the balancer's probe), else undefined (sip.js answers 200). */
  checkOptions(): AdmissionRefusal | undefined {
    return this.draining ? this.refusal('Draining') : undefined;
  }

  private refusal(reasonPhrase: string): AdmissionRefusal {
    return { statusCode: 503, reasonPhrase, extraHeaders: [`Retry-After: ${this.opts.retryAfterSec ?? 5}`] };
  }
}
