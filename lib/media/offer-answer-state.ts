/**
 * The RFC 3264 offer/answer state of one media session, explicit.
 *
 * RFC 3264 §4 and RFC 6337 §2: at any moment a session is `stable` (every offer answered),
 * `local-offer` (ours is out, its answer awaited) or `remote-offer` (the peer's was applied, our
 * answer is due). An offer may travel in an INVITE (initial or re-INVITE) or its 2xx (offerless
 * INVITE), an UPDATE (RFC 3311), or a reliable provisional / PRACK (RFC 3262) in an early dialog;
 * the answer travels in the matching response or request. `via` records which, for the summary and
 * for the glare rule.
 *
 * Transitions (anything else throws a StateError and changes nothing):
 *
 * | state        | localOffer   | remoteOffer         | localAnswer | remoteAnswer |
 * |--------------|--------------|---------------------|-------------|--------------|
 * | stable       | local-offer  | remote-offer        | error       | error        |
 * | local-offer  | error        | glare (GlareError)  | error       | stable       |
 * | remote-offer | error        | error               | stable      | error        |
 *
 * `rollback()` from either offer state returns to `stable` without completing an exchange.
 *
 * Glare (RFC 3261 §14.2 for re-INVITE, RFC 3311 §5.2 for UPDATE): a peer's offer arriving while
 * ours is unanswered is refused with 491 Request Pending; `GlareError.statusCode` says so.
 * `rollback()` withdraws the pending offer (our transaction failed: 491, 488, timeout; or the
 * peer's offer could not be answered) and returns to `stable` (RFC 3261 §14.1: "the state of the
 * session is unchanged").
 */
import { StateError } from '../base/errors.js';

export type OfferAnswerStateName = 'stable' | 'local-offer' | 'remote-offer';

/** Where an offer or answer travelled (RFC 3261, RFC 3262, RFC 3311). */
export type OfferAnswerVia = 'invite' | 'update' | 'prack';

/** A remote offer arrived while ours was pending: the request gets 491 (RFC 3261 §14.2, RFC 3311 §5.2). */
export class GlareError extends StateError {
  readonly statusCode = 491;
}

export class OfferAnswerState {
  private current: OfferAnswerStateName = 'stable';
  private pendingVia?: OfferAnswerVia;
  /** Completed exchanges (offer answered); 0 until the initial one completes. */
  private completed = 0;

  get state(): OfferAnswerStateName {
    return this.current;
  }

  /** Exchanges completed so far (the initial one included). */
  get exchanges(): number {
    return this.completed;
  }

  /** No exchange has completed yet and none is pending: the next offer is the session's initial one. */
  get isInitial(): boolean {
    return this.completed === 0;
  }

  /** Where the pending offer travels, while one is pending. */
  get via(): OfferAnswerVia | undefined {
    return this.pendingVia;
  }

  /** We send an offer. @throws StateError unless stable. */
  localOffer(via: OfferAnswerVia = 'invite'): void {
    if (this.current !== 'stable') throw new StateError(`cannot send an offer in state ${this.current}`);
    this.current = 'local-offer';
    this.pendingVia = via;
  }

  /**
   * The peer's offer arrived.
   * @throws GlareError (491) while our offer is pending; StateError while the peer's previous offer awaits our answer.
   */
  remoteOffer(via: OfferAnswerVia = 'invite'): void {
    if (this.current === 'local-offer') throw new GlareError(`the peer's offer (${via}) crossed ours (${this.pendingVia}): 491 Request Pending`);
    if (this.current === 'remote-offer') throw new StateError(`a second offer from the peer (${via}) before we answered the first`);
    this.current = 'remote-offer';
    this.pendingVia = via;
  }

  /** We answer the peer's offer. @throws StateError unless a remote offer is pending. */
  localAnswer(): void {
    if (this.current !== 'remote-offer') throw new StateError(`no remote offer to answer in state ${this.current}`);
    this.complete();
  }

  /** The peer answered our offer. @throws StateError unless our offer is pending. */
  remoteAnswer(): void {
    if (this.current !== 'local-offer') throw new StateError(`an answer from the peer in state ${this.current}`);
    this.complete();
  }

  /**
   * The pending offer is withdrawn: ours failed (491, 488, timeout), or the peer's could not be
   * answered. Back to stable, the session as it was. @throws StateError when no offer is pending.
   */
  rollback(): void {
    if (this.current === 'stable') throw new StateError('nothing to roll back in state stable');
    this.current = 'stable';
    this.pendingVia = undefined;
  }

  private complete(): void {
    this.current = 'stable';
    this.pendingVia = undefined;
    this.completed++;
  }
}
