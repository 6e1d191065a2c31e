/**
 * Reliable provisional responses (RFC 3262) sent by us, UAS side, with PRACK handling, on sip.js
 * 0.21.2's core `IncomingInviteRequest` (InviteUserAgentServer).
 *
 * Why not `Invitation.progress({ rel100: true })`: sip.js's Invitation decides reliability from the
 * INVITE's Supported/Require (a `Supported: 100rel` overrides `Require: 100rel`, DESIGN.md), runs
 * its retransmission on setTimeout (not our Clock), answers only the first PRACK per call and
 * replaces the early dialog's delegate, and its RSeq can start at 0 (which its own UAC side then
 * treats as unreliable). So the phone sets `sendInitialProvisionalResponse: false` and sends
 * reliable provisionals here:
 *  - `Require: 100rel` and `RSeq` (RFC 3262 §3: initial value random in 1..2^31-1, +1 for each
 *    further reliable provisional of the same request); the body (our SDP answer) as given.
 *  - "The UAS MUST NOT send a second reliable provisional response until the first is
 *    acknowledged": `send()` queues behind the one outstanding.
 *  - Retransmission (§3): "passed to the transaction layer periodically with an interval that starts
 *    at T1 seconds and doubles for each retransmission", until the PRACK; after 64·T1 without it
 *    "the UAS SHOULD reject the original request with a 5xx response" (we send 504, like sip.js).
 *    That deadline is decided after the input already received is read (Clock.afterPendingInput):
 *    a PRACK that arrived in time while the event loop was busy still counts.
 *    Each retransmission is `request.progress()` again with the same status, headers and body; the
 *    INVITE server transaction (Proceeding) puts it on the wire. Our UDP retransmission layer does
 *    not touch 1xx, so this is the only retransmission of reliable provisionals.
 *  - PRACK (§3): matched by RAck (RSeq, CSeq number, method) to the outstanding response → 200
 *    PRACK; "If the PRACK does not match any unacknowledged reliable provisional response, the UAS
 *    MUST respond to the PRACK with a 481", also once the call dropped the handler (update.ts answers
 *    481 where sip.js would answer 200). A PRACK carrying an offer is answered through
 *    `onPrackOffer` (488 without one). PRACKs reach us through `DialogExtensions.setPrackHandler`
 *    (update.ts), which stays registered when the early dialog becomes the confirmed one, so a late
 *    PRACK never reaches sip.js's `Session.onPrackRequest` (which throws "Unimplemented").
 *
 * UAC side (what sip.js already does, nothing here): `Inviter.onProgress` PRACKs every 1xx with
 * `Require: 100rel` and an RSeq, whatever `sipExtension100rel` says (that option only decides
 * whether the INVITE says `Supported: 100rel` or `Require: 100rel`); the early dialog's
 * `reliableSequenceGuard` drops retransmissions and out-of-order RSeqs (so a retransmitted 183 is
 * not PRACKed twice); the PRACK is a non-INVITE client transaction, retransmitted by Timer E from
 * our UDP transport (retransmission.ts). Caveat: without `earlyMedia: true` the Inviter does not
 * hand the answer of a reliable 183 to its SessionDescriptionHandler until the 2xx.
 */
import type { Core, Invitation } from 'sip.js';
import type { Clock, TimerHandle } from '../../base/clock.js';
import { afterPendingInput, systemClock } from '../../base/clock.js';
import { StateError, TimeoutError, errorMessage } from '../../base/errors.js';
import type { Logger } from '../../base/log.js';
import { silentLogger } from '../../base/log.js';
import type { DialogExtensions, SipBody } from './update.js';

export interface ReliableProvisionalOptions {
  clock?: Clock;
  log?: Logger;
  /** RFC 3261 T1, default 500 ms. */
  T1?: number;
  /** First RSeq (tests); default random in 1..2^31-1. */
  initialRSeq?: number;
  /** Reject the INVITE with 504 when a PRACK never comes (RFC 3262 §3 SHOULD); default true. */
  rejectOnTimeout?: boolean;
  /**
   * How to send that 5xx. Default: the core request's `reject`. With a sip.js `Invitation` pass
   * `(code) => invitation.reject({ statusCode: code })` so the Invitation knows it ended (else its
   * later `dispose()` tries to reject a completed transaction and throws).
   */
  reject?: (statusCode: number) => void;
  /** Answers an offer carried by a PRACK (RFC 3262 §5); without it such a PRACK gets 488. */
  onPrackOffer?: (offer: SipBody) => Promise<SipBody>;
  /** Called once, when the first provisional created the early dialog (before any PRACK or UPDATE can arrive in it). */
  onDialog?: (dialog: Core.SessionDialog) => void;
}

export interface SendProvisionalOptions {
  statusCode: number;
  reasonPhrase?: string;
  /** Our SDP (normally the answer to the INVITE's offer, in the first reliable provisional). */
  body?: SipBody;
  extraHeaders?: string[];
}

export interface ProvisionalAcknowledged {
  rseq: number;
  /** Number of times the provisional was sent (1 + retransmissions). */
  transmissions: number;
  prack: Core.IncomingRequestMessage;
}

interface Outstanding {
  rseq: number;
  options: SendProvisionalOptions;
  transmissions: number;
  interval: number;
  startedAt: number;
  timer?: TimerHandle;
  resolve: (a: ProvisionalAcknowledged) => void;
  reject: (e: Error) => void;
}

const MAX_RSEQ = 2 ** 31 - 1;

/** Parses `RAck: response-num CSeq-num Method` (RFC 3262 §7.2). */
export function parseRAck(value: string | undefined): { rseq: number; cseq: number; method: string } | undefined {
  const m = /^\s*(\d{1,10})\s+(\d{1,10})\s+([A-Za-z]+)\s*$/.exec(value ?? '');
  if (!m) return undefined;
  return { rseq: Number(m[1]), cseq: Number(m[2]), method: m[3]!.toUpperCase() };
}

/** Sends the reliable provisionals of one incoming INVITE. */
export class ReliableProvisionalSender {
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly T1: number;
  private nextRSeq: number;
  private outstanding?: Outstanding;
  private queue: Promise<unknown> = Promise.resolve();
  private dialog?: Core.SessionDialog;
  private disposed = false;
  /** RSeqs already acknowledged. */
  readonly acknowledged: number[] = [];

  constructor(
    private readonly request: Core.IncomingInviteRequest,
    private readonly extensions: DialogExtensions,
    private readonly options: ReliableProvisionalOptions = {},
  ) {
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? silentLogger;
    this.T1 = options.T1 ?? 500;
    this.nextRSeq = options.initialRSeq ?? 1 + Math.floor(Math.random() * (MAX_RSEQ / 2));
  }

  /** The early dialog the first provisional created (the confirmed one after the 2xx). */
  get session(): Core.SessionDialog | undefined {
    return this.dialog;
  }

  /** True while a reliable provisional awaits its PRACK. */
  get pending(): boolean {
    return this.outstanding !== undefined;
  }

  /**
   * Sends a reliable provisional (after any earlier one is acknowledged) and resolves on its PRACK.
   * @throws TimeoutError (rejection) after 64·T1 without PRACK; StateError when disposed or the INVITE is no longer progressable.
   */
  send(options: SendProvisionalOptions): Promise<ProvisionalAcknowledged> {
    if (options.statusCode <= 100 || options.statusCode > 199) throw new StateError(`not a reliable provisional status: ${options.statusCode}`);
    const run = this.queue.then(() => this.sendNow(options));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Resolves once no reliable provisional is outstanding (wait before a 2xx when one carried SDP, RFC 3262 §3). */
  async whenAcknowledged(): Promise<void> {
    await this.queue;
  }

  /** Stops retransmitting; an outstanding send() rejects. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    const o = this.outstanding;
    this.outstanding = undefined;
    if (o) {
      this.clock.clearTimer(o.timer);
      o.reject(new StateError('reliable provisional abandoned'));
    }
  }

  private sendNow(options: SendProvisionalOptions): Promise<ProvisionalAcknowledged> {
    if (this.disposed) return Promise.reject(new StateError('reliable provisional sender disposed'));
    const rseq = this.nextRSeq++;
    return new Promise((resolve, reject) => {
      const o: Outstanding = { rseq, options, transmissions: 0, interval: this.T1, startedAt: this.clock.now(), resolve, reject };
      try {
        this.transmit(o);
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
        return;
      }
      this.outstanding = o;
      o.timer = this.clock.setTimer(o.interval, () => this.retransmit(o));
    });
  }

  private transmit(o: Outstanding): void {
    const headers = [...(o.options.extraHeaders ?? []), 'Require: 100rel', `RSeq: ${o.rseq}`];
    const body = o.options.body ? { contentDisposition: 'session', contentType: o.options.body.contentType, content: o.options.body.content } : undefined;
    const response = this.request.progress({ statusCode: o.options.statusCode, reasonPhrase: o.options.reasonPhrase, extraHeaders: headers, body });
    o.transmissions++;
    if (!this.dialog) {
      // The core hands back the early SessionDialog typed as its Session interface.
      const dialog = response.session as unknown as Core.SessionDialog;
      this.dialog = dialog;
      this.extensions.setPrackHandler(dialog, (uas, message) => this.onPrack(uas, message));
      this.options.onDialog?.(dialog);
    }
  }

  private retransmit(o: Outstanding): void {
    o.timer = undefined;
    if (this.outstanding !== o) return;
    if (this.clock.now() - o.startedAt + 1e-6 >= 64 * this.T1) {
      // Decided from the absence of a PRACK: after a busy event loop, a PRACK already received but
      // not yet read would lose to this timer (Clock.afterPendingInput), so read it first.
      afterPendingInput(this.clock, () => this.giveUp(o));
      return;
    }
    try {
      this.transmit(o);
    } catch (e) {
      // The INVITE transaction moved on (final response sent, CANCEL): stop.
      this.outstanding = undefined;
      o.reject(e instanceof Error ? e : new Error(String(e)));
      return;
    }
    o.interval *= 2;
    const remaining = 64 * this.T1 - (this.clock.now() - o.startedAt);
    o.timer = this.clock.setTimer(Math.min(o.interval, Math.max(0, remaining)), () => this.retransmit(o));
  }

  /** 64·T1 without PRACK (RFC 3262 §3): the 5xx, unless the PRACK came meanwhile or the sender was disposed. */
  private giveUp(o: Outstanding): void {
    if (this.outstanding !== o) return;
    this.outstanding = undefined;
    this.log.warn(`no PRACK for reliable ${o.options.statusCode} (RSeq ${o.rseq}) after 64*T1`);
    if (this.options.rejectOnTimeout !== false) {
      try {
        if (this.options.reject) this.options.reject(504);
        else this.request.reject({ statusCode: 504 });
      } catch (e) {
        this.log.debug(`could not reject the INVITE: ${errorMessage(e)}`);
      }
    }
    o.reject(new TimeoutError(`no PRACK for reliable ${o.options.statusCode} (RSeq ${o.rseq})`, 64 * this.T1));
  }

  private onPrack(uas: Core.IncomingPrackRequest, message: Core.IncomingRequestMessage): void {
    const rack = parseRAck(message.getHeader('rack'));
    const o = this.outstanding;
    const invite = this.request.message;
    if (!o || !rack || rack.rseq !== o.rseq || rack.cseq !== invite.cseq || rack.method !== 'INVITE') {
      this.log.debug(`481 to PRACK with RAck '${message.getHeader('rack') ?? ''}'`);
      uas.reject({ statusCode: 481 });
      return;
    }
    this.outstanding = undefined;
    this.clock.clearTimer(o.timer);
    this.acknowledged.push(o.rseq);
    const done = () => o.resolve({ rseq: o.rseq, transmissions: o.transmissions, prack: message });
    const offer = message.body && /^application\/sdp/i.test(message.getHeader('content-type') ?? '')
      ? { contentType: 'application/sdp', content: message.body }
      : undefined;
    if (!offer || this.dialog?.signalingState !== 'HaveRemoteOffer') {
      uas.accept({ statusCode: 200 });
      done();
      return;
    }
    const answerer = this.options.onPrackOffer;
    if (!answerer) {
      uas.reject({ statusCode: 488 });
      this.dialog.signalingStateRollback();
      done();
      return;
    }
    answerer(offer)
      .then((answer) => uas.accept({ statusCode: 200, body: { contentDisposition: 'session', contentType: answer.contentType, content: answer.content } }))
      .catch((e) => {
        this.log.warn(`PRACK offer refused: ${errorMessage(e)}`);
        uas.reject({ statusCode: 488 });
        this.dialog?.signalingStateRollback();
      })
      .finally(done);
  }
}

/**
 * Makes sip.js's `Invitation` aware of the early dialog our reliable provisional created, so that
 * `invitation.accept()` completes offer/answer in that dialog (200 without a new answer) instead of
 * answering the INVITE's offer a second time. Relies on the private `Invitation#_dialog`.
 */
export function attachEarlyDialog(invitation: Invitation, dialog: Core.SessionDialog): void {
  (invitation as unknown as { _dialog?: Core.SessionDialog })._dialog = dialog;
}

/**
 * sip.js's `InviteUserAgentServer.accept()` without a body copies `dialog.answer` into the 2xx. After
 * an UPDATE WE offered in the early dialog, that "answer" is the peer's SDP. This wraps `accept` so
 * a 2xx without body carries `local()` (our latest description) instead.
 */
export function useLocalDescriptionIn2xx(request: Core.IncomingInviteRequest, local: () => SipBody | undefined): void {
  const original = request.accept.bind(request);
  request.accept = (options?: Core.ResponseOptions) => {
    const o: Core.ResponseOptions = options ?? { statusCode: 200 };
    if (!o.body) {
      const b = local();
      if (b) o.body = { contentDisposition: 'session', contentType: b.contentType, content: b.content };
    }
    return original(o);
  };
}

/** The core INVITE server request behind a sip.js `Invitation` (private `Invitation#incomingInviteRequest`). */
export function incomingInviteRequestOf(invitation: Invitation): Core.IncomingInviteRequest {
  return (invitation as unknown as { incomingInviteRequest: Core.IncomingInviteRequest }).incomingInviteRequest;
}
