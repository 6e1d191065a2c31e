/**
 * The connectivity-precondition call flow of draft-rosenberg-sipping-ice-01 §8, Figure 2, as a pure
 * state machine (no SIP, no sockets; timers from a Clock). The phone feeds it what happened and
 * performs what it says through `act`:
 *
 * ```
 *   A (offerer)                         B (answerer)
 *   (1) INVITE SDP1  curr none, des mandatory e2e sendrecv   [send-invite]
 *   (2) 183 SDP2 (100rel)  curr none, des …, conf recv        [send-reliable-answer]
 *   (3) PRACK / (4) 200 PRACK (sip.js UAC / reliable-provisional.ts)       [prack]
 *   (5) ICE checks                                           [iceConnected]
 *   (6) UPDATE SDP3 curr sendrecv  from the side that confirms [send-update]
 *   (7) 200 UPDATE SDP4 curr sendrecv                         [answer-update]
 *   (8) 180 Ringing (B's user alerted only now)              [alert] / [remote-alerting]
 *   (9)-(12) PRACK, 200 INVITE, ACK: the application answers
 * ```
 * Either side may confirm first (whoever's ICE reports connected first sends the UPDATE; the
 * other then knows from it and does not send its own). Precondition type `conn` (RFC 5898), one
 * audio stream, e2e status (RFC 5898 §4: a successful ICE check verifies both directions).
 *
 * Policy (`--preconditions`): `none` — act as a UA without the extension (420 to `Require:
 * precondition`, RFC 3261 §8.2.2.3); `optional` — offer optional strength, fall back to a plain call
 * with a peer lacking support (and to alerting when ICE fails: "optional" does not block); `mandatory`
 * — `Require: precondition` (RFC 3312 §11), no call without them: a peer without support gets a
 * clear failure (its 420, or our CANCEL/BYE), ICE failure gives 580 Precondition Failure.
 */
import type { Clock, TimerHandle } from '../base/clock.js';
import { systemClock } from '../base/clock.js';
import { StateError } from '../base/errors.js';
import {
  CONNECTIVITY_PRECONDITION,
  answerTable,
  applyRemote,
  cloneTable,
  directionOf,
  hasOptionTag,
  newStatusTable,
  preconditionsFailed,
  preconditionsFromSdp,
  preconditionsMet,
  setCurrent,
  setStrength,
  strongestStrength,
  tableFromRemote,
  tableToAttributes,
  type PreconditionAttribute,
  type PreconditionDirection,
  type StatusTable,
} from '../sdp/preconditions.js';

export type PreconditionPolicy = 'none' | 'optional' | 'mandatory';
export type FlowRole = 'offerer' | 'answerer';
export type FlowState = 'idle' | 'offered' | 'answered' | 'met' | 'alerting' | 'plain' | 'failed';

export type FlowAction =
  /** Offerer: send the INVITE with these headers and precondition lines in the offer. */
  | { kind: 'send-invite'; extraHeaders: string[]; attributes: PreconditionAttribute[] }
  /** Answerer: send a reliable 183 (100rel) carrying the answer with these lines. */
  | { kind: 'send-reliable-answer'; statusCode: 183; attributes: PreconditionAttribute[] }
  /** Send UPDATE with an offer carrying these lines (the status changed, RFC 3312 §6). */
  | { kind: 'send-update'; attributes: PreconditionAttribute[] }
  /** Answer the UPDATE just received (200) with these lines. */
  | { kind: 'answer-update'; attributes: PreconditionAttribute[] }
  /** Answerer: alert the user and send 180; `preconditionsMet` false when alerting without them. */
  | { kind: 'alert'; preconditionsMet: boolean }
  /** Offerer: the peer is alerting (180 received). */
  | { kind: 'remote-alerting'; preconditionsMet: boolean }
  /** Answerer: final failure response to the INVITE. */
  | { kind: 'reject'; statusCode: 420 | 421 | 580; extraHeaders: string[]; attributes?: PreconditionAttribute[]; reason: string }
  /** Offerer: give up the INVITE (CANCEL) or, once answered, end it (BYE). */
  | { kind: 'cancel'; reason: string }
  | { kind: 'bye'; reason: string }
  /** Offerer: 420 to `precondition` with optional strength: send the INVITE again without them (RFC 3261 §8.1.3.5). */
  | { kind: 'retry-without-preconditions' };

export interface PreconditionFlowOptions {
  role: FlowRole;
  policy: PreconditionPolicy;
  act: (action: FlowAction) => void;
  clock?: Clock;
  /** How long the preconditions may take once negotiated (the ICE check timeout plus margin), ms. Default 40 000. */
  timeoutMs?: number;
  /** Offerer: after its own ICE failure, how long to wait for the answerer's 580 before CANCEL, ms. Default 4000. */
  failureGraceMs?: number;
  /**
   * Answerer: once its own ICE reports connected, how long to wait for the offerer's confirming
   * UPDATE (the answerer asked for it with `a=conf`, RFC 3312 §5.1) before sending its own, ms.
   * 0 (default): whoever knows first sends it. The phone waits, so the wire shows Figure 2 with the
   * UPDATE from A whenever A's confirmation comes in time, and B's otherwise.
   */
  confirmWaitMs?: number;
}

/** What an INVITE/response/UPDATE brought, as far as this flow cares. */
export interface SignalledDescription {
  sdp?: string;
  /** Require header value(s). */
  require?: string;
  supported?: string;
  unsupported?: string;
}

const ALLOWED: Record<FlowState, FlowState[]> = {
  idle: [],
  offered: ['idle'],
  answered: ['idle', 'offered'],
  met: ['answered'],
  alerting: ['met', 'plain', 'answered'],
  plain: ['idle', 'offered'],
  failed: ['idle', 'offered', 'answered', 'met', 'plain'],
};

/**
 * The SDP lines for our table, without confirmation requests for rows already current: with e2e
 * status both sides know a confirmed direction, so asking again is moot (RFC 3312 §5.1 example:
 * the 200 UPDATE answer carries no a=conf once the status is met).
 */
function linesOf(table: StatusTable): PreconditionAttribute[] {
  const t = cloneTable(table);
  for (const seg of Object.values(t.segments)) {
    for (const d of ['send', 'recv'] as const) if (seg[d].current) seg[d].confirm = false;
  }
  return tableToAttributes(t);
}

export class PreconditionFlow {
  readonly role: FlowRole;
  readonly policy: PreconditionPolicy;
  private _state: FlowState = 'idle';
  private table?: StatusTable;
  private readonly clock: Clock;
  private readonly act: (a: FlowAction) => void;
  private readonly timeoutMs: number;
  private readonly failureGraceMs: number;
  private readonly confirmWaitMs: number;
  /** Answerer: waiting (confirmWaitMs) for the offerer's confirmation before confirming itself. */
  private confirmTimer?: TimerHandle;
  private guard?: TimerHandle;
  private grace?: TimerHandle;
  /** An UPDATE may go out (offerer: reliable answer received; answerer: its PRACK arrived). */
  private canUpdate = false;
  private updateInFlight = false;
  /** Current status we last told the peer / the peer last told us (mirrored). */
  private reported: PreconditionDirection = 'none';
  private peerReported: PreconditionDirection = 'none';
  private iceConnected = false;
  /** A 2xx answered our UPDATE reporting `reported`. */
  private confirmedToPeer = false;
  /** Offerer: our failure was signalled (UPDATE with `failure`) and the grace timer runs. */
  private failureSignalled = false;
  private _failureReason?: string;

  constructor(options: PreconditionFlowOptions) {
    this.role = options.role;
    this.policy = options.policy;
    this.act = options.act;
    this.clock = options.clock ?? systemClock;
    this.timeoutMs = options.timeoutMs ?? 40_000;
    this.failureGraceMs = options.failureGraceMs ?? 4000;
    this.confirmWaitMs = options.confirmWaitMs ?? 0;
  }

  get state(): FlowState {
    return this._state;
  }

  /** Our status table (undefined until preconditions are in use). */
  get statusTable(): StatusTable | undefined {
    return this.table;
  }

  get failureReason(): string | undefined {
    return this._failureReason;
  }

  /** Stops the timers (call ended, CANCEL received); later events are still accepted but nothing fires. */
  dispose(): void {
    this.clearGuard();
    this.stopConfirmWait();
    this.clock.clearTimer(this.grace);
    this.grace = undefined;
  }

  /** Whether a retried UPDATE (after 491) is still needed (RFC 3261 §14.1 "if it still desires"). */
  updateStillWanted(): boolean {
    // Asked while our UPDATE waits out a 491 back-off: still wanted unless the peer has since told
    // us the same (its own UPDATE crossed ours), or the flow moved on (met, failed, ended).
    if (this.failureSignalled) return this._state !== 'failed';
    return (this._state === 'answered' || this._state === 'met') && this.table !== undefined && this.currentDirection() !== 'none' && this.peerReported !== 'sendrecv';
  }

  private transition(to: FlowState): void {
    if (!ALLOWED[to].includes(this._state)) throw new StateError(`precondition flow: ${this._state} → ${to} not allowed`);
    this._state = to;
    if (to === 'met' || to === 'alerting' || to === 'plain' || to === 'failed') {
      this.clearGuard();
      this.stopConfirmWait();
    }
    if (to !== 'failed') return;
    this.clock.clearTimer(this.grace);
  }

  private stopConfirmWait(): void {
    this.clock.clearTimer(this.confirmTimer);
    this.confirmTimer = undefined;
  }

  private clearGuard(): void {
    this.clock.clearTimer(this.guard);
    this.guard = undefined;
  }

  private fail(reason: string, action?: FlowAction): void {
    if (this._state === 'failed' || this._state === 'alerting') return;
    this._failureReason = reason;
    this.transition('failed');
    if (action) this.act(action);
  }

  private startGuard(): void {
    this.clearGuard();
    this.guard = this.clock.setTimer(this.timeoutMs, () => {
      this.guard = undefined;
      this.onPreconditionsImpossible('preconditions not met in time');
    });
  }

  private currentDirection(): PreconditionDirection {
    const e2e = this.table?.segments.e2e;
    return e2e ? directionOf(e2e.send.current, e2e.recv.current) : 'none';
  }

  private needsUpdate(): boolean {
    if (!this.table || this._state !== 'answered') return false;
    const mine = this.currentDirection();
    return mine !== 'none' && mine !== this.reported && this.peerReported !== 'sendrecv';
  }

  private maybeSendUpdate(): void {
    if (this.confirmTimer || !this.canUpdate || this.updateInFlight || !this.needsUpdate()) return;
    this.updateInFlight = true;
    this.reported = this.currentDirection();
    this.act({ kind: 'send-update', attributes: linesOf(this.table!) });
  }

  private checkMet(): void {
    if (this._state !== 'answered' || !this.table) return;
    if (preconditionsFailed(this.table)) {
      this.onPreconditionsImpossible('the peer reports a precondition failure');
      return;
    }
    if (!preconditionsMet(this.table)) return;
    // Figure 2: the answerer alerts once the peer knows too — after the 200 to its own UPDATE
    // (or the peer's UPDATE saying so); not on its own knowledge alone (e.g. before the PRACK that
    // lets it send that UPDATE).
    if (this.role === 'answerer' && (this.updateInFlight || this.confirmTimer || !this.peerKnows())) return;
    this.transition('met');
    if (this.role === 'answerer') {
      this.transition('alerting');
      this.act({ kind: 'alert', preconditionsMet: true });
    }
  }

  /** The peer's last SDP reported everything current, or it accepted our UPDATE that did. */
  private peerKnows(): boolean {
    return this.peerReported === 'sendrecv' || (this.confirmedToPeer && this.reported === this.currentDirection());
  }

  private notePeer(attributes: PreconditionAttribute[]): void {
    const peer = tableFromRemote(CONNECTIVITY_PRECONDITION, attributes);
    const e2e = peer?.segments.e2e;
    if (e2e) this.peerReported = directionOf(e2e.send.current, e2e.recv.current);
    this.table = applyRemote(this.table!, attributes);
  }

  private onPreconditionsImpossible(reason: string): void {
    if (this._state === 'failed' || this._state === 'alerting' || this._state === 'plain' || !this.table) return;
    const strength = strongestStrength(this.table);
    if (strength !== 'mandatory' && strength !== 'failure') {
      // Optional: degrade gracefully (RFC 3312 §5: the session may proceed without it).
      if (this.role === 'answerer' && (this._state === 'answered' || this._state === 'met')) {
        this.transition('alerting');
        this.act({ kind: 'alert', preconditionsMet: false });
      }
      return;
    }
    const failed = setStrength(this.table, 'failure');
    if (this.role === 'answerer') {
      this.fail(reason, {
        kind: 'reject', statusCode: 580, extraHeaders: [], attributes: tableToAttributes(failed), reason,
      });
      return;
    }
    // Offerer: tell the answerer (it then answers 580, RFC 3312 §6), CANCEL if it does not.
    if (this.failureSignalled) return;
    this.failureSignalled = true;
    if (this.canUpdate && !this.updateInFlight) {
      this.updateInFlight = true;
      this.act({ kind: 'send-update', attributes: tableToAttributes(failed) });
    }
    this.table = failed;
    this.grace = this.clock.setTimer(this.failureGraceMs, () => this.fail(reason, { kind: 'cancel', reason }));
  }

  // ---------------------------------------------------------------- offerer events

  /** Offerer: build the INVITE. */
  start(): void {
    if (this.role !== 'offerer') throw new StateError('start() is for the offerer');
    if (this.policy === 'none') {
      this.transition('plain');
      this.act({ kind: 'send-invite', extraHeaders: [], attributes: [] });
      return;
    }
    this.table = newStatusTable(CONNECTIVITY_PRECONDITION, this.policy);
    this.transition('offered');
    const headers = ['Supported: 100rel, precondition'];
    if (this.policy === 'mandatory') headers.push('Require: precondition');
    this.act({ kind: 'send-invite', extraHeaders: headers, attributes: tableToAttributes(this.table) });
  }

  /** Offerer: a 1xx (other than 100) to the INVITE. sip.js PRACKs a reliable one itself. */
  provisional(statusCode: number, reliable: boolean, d: SignalledDescription = {}): void {
    if (this.role !== 'offerer') throw new StateError('provisional() is for the offerer');
    if (this._state === 'offered' && reliable && d.sdp) {
      const attrs = preconditionsFromSdp(d.sdp)[0]?.attributes ?? [];
      if (!tableFromRemote(CONNECTIVITY_PRECONDITION, attrs)) {
        this.peerLacksSupport('the answer has no connectivity preconditions');
      } else {
        this.transition('answered');
        this.canUpdate = true;
        this.notePeer(attrs);
        this.startGuard();
        this.maybeSendUpdate();
        this.checkMet();
        return;
      }
    }
    if (statusCode !== 180) return;
    if (this._state === 'offered') {
      // Ringing before any reliable answer: the peer does not do preconditions.
      this.peerLacksSupport('the peer alerts without preconditions');
      if ((this._state as FlowState) !== 'plain') return;
    }
    if (this._state === 'met' || this._state === 'plain' || this._state === 'answered') {
      // A 180 may overtake the 200 to our UPDATE (its retransmission, over UDP with loss): the peer
      // alerts because it deems the preconditions met, and so do we when our own table says so.
      const met = this._state === 'met' || (this._state === 'answered' && this.table !== undefined && preconditionsMet(this.table));
      this.transition('alerting');
      this.act({ kind: 'remote-alerting', preconditionsMet: met });
    }
  }

  private peerLacksSupport(reason: string): void {
    if (this.policy === 'mandatory') {
      this.fail(`peer does not support preconditions: ${reason}`, { kind: 'cancel', reason: `peer does not support preconditions: ${reason}` });
      return;
    }
    this.table = undefined;
    this.transition('plain');
  }

  /** Offerer: the final response to the INVITE. */
  finalResponse(statusCode: number, d: SignalledDescription = {}): void {
    if (this.role !== 'offerer') throw new StateError('finalResponse() is for the offerer');
    if (statusCode >= 200 && statusCode < 300) {
      if (this._state === 'offered') {
        const attrs = d.sdp ? preconditionsFromSdp(d.sdp)[0]?.attributes ?? [] : [];
        if (!tableFromRemote(CONNECTIVITY_PRECONDITION, attrs)) {
          if (this.policy === 'mandatory') {
            this.fail('peer ignored mandatory preconditions', { kind: 'bye', reason: 'peer ignored mandatory preconditions' });
            return;
          }
          this.table = undefined;
          this.transition('plain');
        }
      }
      this.clearGuard();
      this.clock.clearTimer(this.grace);
      return;
    }
    if (statusCode === 420 && hasOptionTag(d.unsupported, 'precondition')) {
      if (this.policy === 'optional') {
        this.table = undefined;
        this._state = 'idle';
        this.transition('plain');
        this.act({ kind: 'retry-without-preconditions' });
        return;
      }
      this.fail('peer does not support preconditions (420 Bad Extension)');
      return;
    }
    if (statusCode >= 300) this.fail(statusCode === 580 ? '580 Precondition Failure' : `INVITE failed with ${statusCode}`);
  }

  // ---------------------------------------------------------------- answerer events

  /** Answerer: the INVITE arrived (before any response). */
  invite(d: SignalledDescription): void {
    if (this.role !== 'answerer') throw new StateError('invite() is for the answerer');
    const peerRequires = hasOptionTag(d.require, 'precondition');
    const peer100rel = hasOptionTag(d.supported, '100rel') || hasOptionTag(d.require, '100rel');
    const media = d.sdp ? preconditionsFromSdp(d.sdp)[0]?.attributes ?? [] : [];
    if (this.policy === 'none') {
      if (peerRequires) {
        // RFC 3261 §8.2.2.3: an unsupported extension in Require gets 420 with Unsupported.
        this.fail('precondition required but not supported', {
          kind: 'reject', statusCode: 420, extraHeaders: ['Unsupported: precondition'], reason: 'precondition required but not supported',
        });
        return;
      }
      this.plainCall();
      return;
    }
    const others = media.filter((a) => a.type !== CONNECTIVITY_PRECONDITION && a.kind === 'des' && a.strength === 'mandatory');
    if (others.length > 0) {
      const reason = `cannot meet mandatory precondition type '${others[0]!.type}'`;
      this.fail(reason, { kind: 'reject', statusCode: 580, extraHeaders: [], reason });
      return;
    }
    const table = answerTable(media, CONNECTIVITY_PRECONDITION, { strength: this.policy, confirm: 'recv' });
    if (!table) {
      if (this.policy === 'mandatory') {
        // We insist and the offer has none: 421 Extension Required (RFC 3261 §21.4.15, RFC 3312 §11).
        this.fail('the offer has no connectivity preconditions', {
          kind: 'reject', statusCode: 421, extraHeaders: ['Require: precondition'], reason: 'the offer has no connectivity preconditions',
        });
        return;
      }
      this.plainCall();
      return;
    }
    if (!peer100rel) {
      // The answer must travel in a reliable provisional (RFC 4032 §…, RFC 3262).
      if (strongestStrength(table) === 'mandatory') {
        this.fail('preconditions need 100rel', { kind: 'reject', statusCode: 421, extraHeaders: ['Require: 100rel'], reason: 'preconditions need 100rel' });
        return;
      }
      this.plainCall();
      return;
    }
    this.table = this.iceConnected ? setCurrent(table, 'e2e', 'sendrecv') : table;
    const e2e = this.table.segments.e2e;
    if (e2e) this.peerReported = 'none';
    this.transition('answered');
    this.reported = this.currentDirection();
    this.startGuard();
    this.act({ kind: 'send-reliable-answer', statusCode: 183, attributes: tableToAttributes(this.table) });
  }

  private plainCall(): void {
    this.table = undefined;
    this.transition('plain');
    this.transition('alerting');
    this.act({ kind: 'alert', preconditionsMet: false });
  }

  /** Answerer: the PRACK for our reliable answer arrived (UPDATE may now be sent in the early dialog). */
  prack(): void {
    if (this.role !== 'answerer') throw new StateError('prack() is for the answerer');
    this.canUpdate = true;
    this.maybeSendUpdate();
  }

  // ---------------------------------------------------------------- both sides

  /** ICE reports connected (a nominated/valid pair for every component). */
  iceConnectedEvent(): void {
    this.iceConnected = true;
    if (!this.table || (this._state !== 'answered' && this._state !== 'offered')) return;
    this.table = setCurrent(this.table, 'e2e', 'sendrecv');
    if (this.role === 'answerer' && this.confirmWaitMs > 0 && this._state === 'answered' && this.peerReported !== 'sendrecv' && !this.confirmTimer) {
      // We asked the offerer to confirm (a=conf): give its UPDATE (Figure 2, message 6) a chance first.
      this.confirmTimer = this.clock.setTimer(this.confirmWaitMs, () => {
        this.confirmTimer = undefined;
        this.maybeSendUpdate();
        this.checkMet();
      });
      return;
    }
    this.maybeSendUpdate();
    this.checkMet();
  }

  /** ICE failed (check timeout). */
  iceFailedEvent(): void {
    this.onPreconditionsImpossible('ICE connectivity checks failed');
  }

  /** An UPDATE (with an offer) arrived; the flow answers it through `answer-update`. */
  updateReceived(d: SignalledDescription): void {
    const attrs = d.sdp ? preconditionsFromSdp(d.sdp)[0]?.attributes ?? [] : [];
    if (!this.table) {
      this.act({ kind: 'answer-update', attributes: [] });
      return;
    }
    this.notePeer(attrs);
    if (this.peerReported !== 'none') this.stopConfirmWait();
    this.reported = this.currentDirection();
    this.act({ kind: 'answer-update', attributes: linesOf(this.table) });
    if (preconditionsFailed(this.table) && this.role === 'answerer') {
      this.onPreconditionsImpossible('the peer reports a precondition failure');
      return;
    }
    this.checkMet();
  }

  /** The final response to our UPDATE (after update.ts's 491 retries). */
  updateResponse(statusCode: number, d: SignalledDescription = {}): void {
    this.updateInFlight = false;
    if (statusCode >= 200 && statusCode < 300) this.confirmedToPeer = this.reported !== 'none';
    if (statusCode >= 200 && statusCode < 300 && d.sdp && this.table) {
      this.notePeer(preconditionsFromSdp(d.sdp)[0]?.attributes ?? []);
      this.checkMet();
    } else if (statusCode >= 300) {
      this.reported = 'none';
    }
    this.maybeSendUpdate();
    // The answerer holds its alert while its own UPDATE is in flight (checkMet). When that UPDATE
    // ends without a 2xx, the peer may have confirmed meanwhile: UPDATEs crossed, ours got 491
    // (RFC 3311 §5.2) and the peer's arrived during our RFC 3261 §14.1 back-off, so the retry was
    // dropped as no longer wanted. Nothing else would re-evaluate: look again now.
    this.checkMet();
  }
}
