import type { Clock, TimerHandle } from '../base/clock.js';
import { errorMessage } from '../base/errors.js';
import type { Logger } from '../base/log.js';
import { formatAddress, type TransportAddress } from '../net/socket.js';
import { shortTermKey } from '../stun/integrity.js';
import type { StunMessage } from '../stun/message.js';
import { TransactionCancelledError, type StunTransactionManager } from '../stun/transaction.js';
import type { CandidatePair, IceRole } from './candidate-pair.js';
import { authenticateResponse, buildCheckRequest } from './connectivity-check.js';
import type { LocalBase } from './gatherer.js';

/**
 * The sending half of connectivity checks (RFC 8445 §7.2): Binding requests as STUN client
 * transactions (RTO and Rc, RFC 8489 §6.2.1), their responses authenticated and matched, and the
 * §7.3.1.4 cancellation of an in-progress check that a triggered check replaces. Consent checks
 * (RFC 7675 §5.1) are sent the same way. The agent decides what each outcome means.
 */

/** `check`: an ordinary check; `nominate`: with USE-CANDIDATE (§8.1.1); `consent`: RFC 7675 §5.1. */
export type CheckKind = 'check' | 'nominate' | 'consent';

export interface CheckRecord {
  readonly transactionId: Buffer;
  readonly kind: CheckKind;
  readonly pair: CandidatePair;
  readonly base: LocalBase;
  readonly remote: { address: string; port: number };
  /** The role the request claimed (ICE-CONTROLLING or ICE-CONTROLLED). */
  readonly roleSent: IceRole;
  /** PRIORITY sent: a peer-reflexive local candidate learned from this check gets it (§7.2.5.3.1). */
  readonly priority: number;
  readonly remotePwd: string;
  /** USE-CANDIDATE was in the request (a `nominate` check, or any check under aggressive nomination). */
  readonly useCandidate: boolean;
  /** Retransmissions stopped by a triggered check (§7.3.1.4); a response may still arrive. */
  cancelled: boolean;
}

export type CheckResult =
  /** An authenticated response (success or error) to the request. */
  | { kind: 'response'; message: StunMessage; from: TransportAddress; arrivedOn: LocalBase }
  /** No response after Rc transmissions (RFC 8489 §6.2.1). */
  | { kind: 'timeout'; reason: string };

export interface CheckParams {
  pair: CandidatePair;
  kind: CheckKind;
  base: LocalBase;
  localUfrag: string;
  remoteUfrag: string;
  remotePwd: string;
  role: IceRole;
  tieBreaker: bigint;
  /** RFC 8445 §7.1.1 PRIORITY. */
  priority: number;
  /** RFC 8445 §14.3 RTO, ms. */
  rtoMs: number;
  /** Rc, transmissions. */
  maxRequests: number;
  /** USE-CANDIDATE on an ordinary check (aggressive nomination, RFC 5245 §8.1.1.2). Default: only for `nominate`. */
  useCandidate?: boolean;
}

export interface CheckSenderStats {
  checksSent: number;
  responsesReceived: number;
  integrityFailures: number;
  /** 400/401 error responses without MESSAGE-INTEGRITY, discarded (RFC 8489 §6.3.4, over UDP). */
  unauthenticatedErrorsDropped: number;
}

export class CheckSender {
  private readonly records = new Map<string, CheckRecord>();
  private readonly graceTimers = new Map<string, TimerHandle>();

  constructor(
    private readonly transactions: StunTransactionManager,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly stats: CheckSenderStats,
    private readonly onResult: (record: CheckRecord, result: CheckResult) => void,
  ) {}

  /** Sends a check (RFC 8445 §7.2.2 attributes; MESSAGE-INTEGRITY with the remote password, FINGERPRINT). */
  send(p: CheckParams): CheckRecord {
    const useCandidate = p.kind === 'nominate' || (p.kind === 'check' && p.useCandidate === true);
    const request = buildCheckRequest({
      localUfrag: p.localUfrag, remoteUfrag: p.remoteUfrag, priority: p.priority, role: p.role, tieBreaker: p.tieBreaker, useCandidate,
    });
    const remote = { address: p.pair.remote.address, port: p.pair.remote.port };
    const record: CheckRecord = {
      transactionId: request.transactionId, kind: p.kind, pair: p.pair, base: p.base, remote, roleSent: p.role, priority: p.priority, remotePwd: p.remotePwd, useCandidate, cancelled: false,
    };
    const key = request.transactionId.toString('hex');
    this.records.set(key, record);
    this.stats.checksSent++;
    this.transactions.request(request, (bytes) => p.base.socket.send(bytes, remote), {
      rtoMs: p.rtoMs, maxRequests: p.maxRequests, integrityKey: shortTermKey(p.remotePwd), fingerprint: true,
    }).then(() => undefined, (err: unknown) => {
      if (err instanceof TransactionCancelledError) return; // cancel() or abandonAll(): not a failure
      if (this.records.get(key) !== record) return;
      this.records.delete(key);
      this.onResult(record, { kind: 'timeout', reason: errorMessage(err) });
    });
    return record;
  }

  /** Whether a non-cancelled check of `kind` on `pair` is in flight. */
  inFlight(pair: CandidatePair, kind: CheckKind): boolean {
    for (const r of this.records.values()) if (r.pair === pair && r.kind === kind && !r.cancelled) return true;
    return false;
  }

  /**
   * RFC 8445 §7.3.1.4: "cancellation means that the agent will not retransmit the Binding requests
   * associated with the connectivity-check transaction, will not treat the lack of any response to
   * the Binding requests as a connectivity-check failure". A response that still arrives within
   * `graceMs` is reported as usual.
   */
  cancelRetransmissions(pair: CandidatePair, graceMs: number, kinds: readonly CheckKind[] = ['check']): void {
    for (const [key, r] of this.records) {
      if (r.pair !== pair || r.cancelled || !kinds.includes(r.kind)) continue;
      r.cancelled = true;
      this.transactions.cancel(r.transactionId);
      this.graceTimers.set(key, this.clock.setTimer(graceMs, () => {
        this.graceTimers.delete(key);
        if (this.records.get(key) === r) this.records.delete(key);
      }));
    }
  }

  /** Forgets every check (ICE restart, failure, close): no outcome will be reported. */
  abandonAll(): void {
    for (const r of this.records.values()) {
      r.cancelled = true;
      this.transactions.cancel(r.transactionId);
    }
    this.records.clear();
    for (const t of this.graceTimers.values()) this.clock.clearTimer(t);
    this.graceTimers.clear();
  }

  /**
   * A STUN response arrived on `arrivedOn`. Returns false when it answers none of our checks (the
   * caller passes it on, e.g. to the server-reflexive gathering). RFC 8489 §9.1.4: a response whose
   * MESSAGE-INTEGRITY fails is discarded "as if it was never received"; over UDP an unsigned
   * 400/401 is discarded too (anyone on the path can forge one, RFC 8489 §6.3.4), so the
   * transaction keeps retransmitting.
   */
  handleResponse(arrivedOn: LocalBase, message: StunMessage, from: TransportAddress): boolean {
    const key = message.transactionId.toString('hex');
    const record = this.records.get(key);
    if (!record) return false;
    const auth = authenticateResponse(message, record.remotePwd);
    if (auth === 'bad-integrity') {
      this.stats.integrityFailures++;
      this.log.debug(`check response from ${formatAddress(from)} failed MESSAGE-INTEGRITY: dropped`);
      return true;
    }
    if (auth === 'unauthenticated-error' && arrivedOn.socket.protocol === 'udp') {
      this.stats.unauthenticatedErrorsDropped++;
      this.log.debug(`unsigned error response from ${formatAddress(from)} to a check: discarded (RFC 8489 §6.3.4)`);
      return true;
    }
    if (!record.cancelled && !this.transactions.handleResponse(message, from)) return true;
    this.records.delete(key);
    this.clock.clearTimer(this.graceTimers.get(key));
    this.graceTimers.delete(key);
    this.stats.responsesReceived++;
    this.onResult(record, { kind: 'response', message, from, arrivedOn });
    return true;
  }

  get size(): number { return this.records.size; }
}
