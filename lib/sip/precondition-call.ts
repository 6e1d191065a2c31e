/**
 * Connectivity preconditions on a live call: joins the pure Figure 2 state machine
 * (preconditions-flow.ts) to sip.js (Inviter/Invitation), our UPDATE and reliable-provisional
 * extensions (sipjs/update.ts, sipjs/reliable-provisional.ts) and the call's MediaSession (ICE events in, SDP
 * with the precondition lines out). One controller per call and side; the Phone creates it when
 * `preconditions` is not `none`.
 *
 * Caller (draft-rosenberg-sipping-ice-01 §8, Figure 2, A):
 *   (1) INVITE with `Supported: 100rel, precondition` (+ `Require: precondition` when mandatory) and
 *   the curr/des lines in SDP1 → the Inviter runs with `earlyMedia: true`, so the answer of the
 *   reliable 183 (2) reaches the MediaSession at once and ICE starts in the early dialog; sip.js
 *   PRACKs it (3). When ICE connects, the UPDATE (6) carries `a=curr:conn e2e sendrecv` (and, as the
 *   controlling agent, the RFC 8839 §4.4.1.2.2 post-nomination offer); the 180 (8) is PRACKed by
 *   sip.js (9) and only then is the call "alerting"; 200 INVITE (11) / ACK (12) by sip.js.
 *
 * Callee (B): the INVITE goes through `flow.invite()`: 420/421/580 at once when the flow says so,
 * else the answer in a reliable 183 (2) sent by ReliableProvisionalSender; ICE; the UPDATE (6) is
 * answered with our table (7); the flow then says "alert": the call's `alerting` event fires and
 * a reliable 180 (8) goes out. `Phone.answer()` waits for that alert and its PRACK (10), then sends
 * the 200 INVITE (11) carrying our latest SDP (useLocalDescriptionIn2xx: sip.js would copy the
 * peer's UPDATE answer otherwise). ICE failure with mandatory strength: 580 with `des … failure`.
 *
 * Actions of the flow run one after another (a promise chain), in the order the flow emitted them.
 */
import { Inviter, type Core, type Invitation, type Session, type URI, type UserAgent } from 'sip.js';
import type { Clock } from '../base/clock.js';
import { StateError, errorMessage } from '../base/errors.js';
import type { Logger } from '../base/log.js';
import { withPreconditions, type PreconditionAttribute } from '../sdp/preconditions.js';
import { PreconditionFlow, type FlowAction, type PreconditionPolicy } from './preconditions-flow.js';
import { attachEarlyDialog, incomingInviteRequestOf, ReliableProvisionalSender, useLocalDescriptionIn2xx } from './sipjs/reliable-provisional.js';
import type { MediaSession } from '../media/media-session.js';
import { GlareError } from '../media/offer-answer-state.js';
import { generateResponseBody, responseDialogOf, sessionDialogOf } from './sipjs/session-internals.js';
import type { DialogExtensions, IncomingUpdate, SipBody } from './sipjs/update.js';

const SDP = 'application/sdp';

/** What a controller needs of the Call it belongs to (user-agent.ts). */
export interface PreconditionCallHost {
  readonly media?: MediaSession;
  readonly session: Session;
  markAlerting(): void;
  setReason(reason: string): void;
  hangup(): Promise<void>;
  /** The early dialog may carry in-dialog INFOs (trickle ICE, RFC 8840 §4.3): a reliable 18x with the answer was PRACKed (callee) or received (caller). */
  earlyDialogReady?(dialog: Core.SessionDialog): void;
}

export interface PreconditionControllerOptions {
  policy: PreconditionPolicy;
  ext: DialogExtensions;
  clock: Clock;
  log: Logger;
  /** How long the preconditions may take once negotiated (the ICE timeout plus a margin), ms. */
  timeoutMs: number;
  /** Routes in-dialog UPDATEs of `dialog` to this call (user-agent.ts). */
  registerDialog(dialog: Core.SessionDialog): void;
}

/** The session body of a sip.js message, if it is SDP. */
function sdpOf(message: Core.IncomingMessage): string | undefined {
  const type = message.getHeader('content-type') ?? '';
  return message.body && /^application\/sdp/i.test(type) ? message.body : undefined;
}

const sleep = (clock: Clock, ms: number) => new Promise<void>((r) => clock.setTimer(ms, () => r()));

/** Shared by both sides: ICE events into the flow, the UPDATE we send, the UPDATE we answer. */
abstract class PreconditionController {
  /** The call's MediaSession, once the sip.js factory made it. */
  protected media?: MediaSession;
  readonly flow: PreconditionFlow;
  protected call?: PreconditionCallHost;
  protected lines?: PreconditionAttribute[];
  private chain: Promise<void> = Promise.resolve();
  private alertedWith?: boolean;
  private pendingUpdate?: IncomingUpdate;
  private disposed = false;

  protected constructor(protected readonly o: PreconditionControllerOptions, role: 'offerer' | 'answerer', confirmWaitMs = 0) {
    this.flow = new PreconditionFlow({
      role,
      policy: o.policy,
      clock: o.clock,
      timeoutMs: o.timeoutMs,
      confirmWaitMs,
      act: (a) => this.onAction(a),
    });
  }

  /** The dialog UPDATEs go on (early, then confirmed). */
  protected abstract dialog(): Core.SessionDialog | undefined;
  /** Side-specific actions. */
  protected abstract perform(a: FlowAction, update?: IncomingUpdate): Promise<void>;

  /** Synchronous part of an action (override for actions that must happen inside the flow call). */
  protected immediate(_a: FlowAction): boolean {
    return false;
  }

  /**
   * For the `--json` summary: `met` (alerting waited for connectivity), `not-used` (the peer did
   * not use preconditions: a plain call), `failed`, or `pending` (the call ended before either).
   */
  get outcome(): 'met' | 'not-used' | 'failed' | 'pending' {
    if (this.alertedWith !== undefined) return this.alertedWith ? 'met' : 'not-used';
    if (this.flow.state === 'failed') return 'failed';
    return this.flow.state === 'plain' ? 'not-used' : 'pending';
  }

  private onAction(a: FlowAction): void {
    if (a.kind === 'alert' || a.kind === 'remote-alerting') this.alertedWith = a.preconditionsMet;
    if (this.immediate(a)) return;
    const update = a.kind === 'answer-update' ? this.pendingUpdate : undefined;
    this.chain = this.chain
      .then(() => (this.disposed && a.kind !== 'answer-update' ? undefined : this.perform(a, update)))
      .catch((e) => this.o.log.warn(`preconditions: ${a.kind} failed: ${errorMessage(e)}`));
  }

  /**
   * An offer of the application's in the early dialog, before the 200 (hold or resume while the
   * call is still ringing: RFC 3311 §5.1 allows an UPDATE with an offer once the initial exchange
   * completed, here by the reliable 183; RFC 6337 §5 gives the hold directions): UPDATE with the
   * media session's offer, then its answer applied.
   * @throws StateError without an early dialog with media, or while another offer/answer is in
   * progress; Error when the UPDATE gets no answer (the media session is then as it was).
   */
  async offerInEarlyDialog(what: string): Promise<void> {
    const dialog = this.dialog();
    const media = this.media;
    if (!dialog || !media) throw new StateError(`${what} needs an early dialog with media`);
    if (media.offerAnswerState !== 'stable') throw new StateError(`${what}: an offer/answer exchange is in progress`);
    const outcome = await this.o.ext.sendUpdate(dialog, { body: async (): Promise<SipBody> => ({ contentType: SDP, content: await media.createUpdateOffer() }) });
    if (outcome.answer) {
      await media.applyUpdateAnswer(outcome.answer.content);
      return;
    }
    media.abandonUpdateOffer();
    throw new Error(`UPDATE for ${what} failed: ${outcome.statusCode} ${outcome.reasonPhrase}`);
  }

  /** The call's MediaSession was created (sip.js factory): our lines go into its SDP, its ICE events into the flow. */
  mediaCreated(media: MediaSession): void {
    this.media = media;
    media.setPreconditionLines(this.lines);
    media.on('ice-state', (s) => {
      if (s === 'connected' || s === 'completed') this.flow.iceConnectedEvent();
      else if (s === 'failed') this.flow.iceFailedEvent();
    });
    // A peer that does not do ICE (format none, RFC 8839 §4.1) cannot be checked with STUN; RTP
    // arriving from it (our media goes to its m/c address, symmetric RTP) verifies the path instead.
    media.on('media-received', () => {
      if (media.summary().ice.format === 'none') this.flow.iceConnectedEvent();
    });
  }

  /** An UPDATE arrived in this call's dialog. */
  updateReceived(update: IncomingUpdate): void {
    this.pendingUpdate = update;
    try {
      this.flow.updateReceived({ sdp: update.offer?.content });
    } finally {
      this.pendingUpdate = undefined;
    }
  }

  dispose(): void {
    this.disposed = true;
    this.flow.dispose();
  }

  protected setLines(lines: PreconditionAttribute[]): void {
    this.lines = lines.length ? lines : undefined;
    this.call?.media?.setPreconditionLines(this.lines);
  }

  /** answer-update: 200 with our table in the answer (488 for an offer we cannot use). */
  protected async answerUpdate(a: Extract<FlowAction, { kind: 'answer-update' }>, update: IncomingUpdate | undefined): Promise<void> {
    if (!update) return;
    if (a.attributes.length) this.setLines(a.attributes);
    const media = this.call?.media;
    if (!update.offer) {
      update.accept();
      return;
    }
    if (!media) {
      update.reject({ statusCode: 500, extraHeaders: ['Retry-After: 1'] });
      return;
    }
    let answer: string;
    try {
      answer = await media.answerUpdateOffer(update.offer.content);
    } catch (e) {
      // RFC 3311 §5.2: an offer crossing ours gets 491; one we cannot use 488.
      const status = e instanceof GlareError ? 491 : 488;
      this.o.log.warn(`${status} to UPDATE: ${errorMessage(e)}`);
      update.reject({ statusCode: status });
      return;
    }
    update.accept({ body: { contentType: SDP, content: answer } });
  }

  /** send-update: an offer with our table (RFC 3311), 491 back-off in update.ts; the answer to the media and the flow. */
  protected async sendUpdate(a: Extract<FlowAction, { kind: 'send-update' }>): Promise<void> {
    this.setLines(a.attributes);
    const dialog = this.dialog();
    const media = this.call?.media;
    if (!dialog || !media) {
      this.flow.updateResponse(500);
      return;
    }
    try {
      const outcome = await this.o.ext.sendUpdate(dialog, {
        body: async (): Promise<SipBody> => ({ contentType: SDP, content: await media.createUpdateOffer({ afterNomination: true }) }),
        stillWanted: () => !this.disposed && this.flow.updateStillWanted(),
      });
      if (outcome.answer) await media.applyUpdateAnswer(outcome.answer.content).catch((e) => this.o.log.warn(`UPDATE answer unusable: ${errorMessage(e)}`));
      // No answer (a final non-2xx after the 491 retries): our offer is withdrawn, the session as it was.
      else media.abandonUpdateOffer();
      if (outcome.dialogGone) {
        this.call?.setReason(`${outcome.statusCode} to UPDATE: the dialog is gone`);
        void this.call?.hangup();
      }
      this.flow.updateResponse(outcome.statusCode, { sdp: outcome.answer?.content });
    } catch (e) {
      // Not now (an offer of the peer's is outstanding): try again shortly.
      if (!(e instanceof StateError) || this.disposed) throw e;
      this.o.log.debug(`UPDATE postponed: ${errorMessage(e)}`);
      await sleep(this.o.clock, 200);
      if (!this.disposed) this.flow.updateResponse(500);
    }
  }
}

/** Caller side (A in Figure 2). */
export class OutgoingPreconditions extends PreconditionController {
  private inviter?: Inviter;
  private earlyDialog?: Core.SessionDialog;
  private inviteHeaders: string[] = [];

  constructor(
    o: PreconditionControllerOptions,
    private readonly ua: UserAgent,
    private readonly target: URI,
    /** A new session replaces the call's (retry without preconditions after 420). */
    private readonly rebind: (inviter: Inviter) => void,
  ) {
    super(o, 'offerer');
  }

  /**
   * Whether `dialog` is an early dialog of this call's current INVITE (its Call-ID and our From
   * tag). sip.js tells the INVITE's request delegate of a provisional response only once it has
   * applied the SDP answer in it, an asynchronous step, so a request in that dialog (a trickle
   * INFO, RFC 8840 §4.3) can arrive before `registerDialog` has named the dialog.
   */
  ownsDialog(dialog: Core.SessionDialog): boolean {
    const request = this.inviter?.request;
    return request !== undefined && dialog.callId === request.callId && dialog.localTag === request.fromTag;
  }

  /** Runs the flow's start: returns the Inviter of the INVITE (1), not yet sent. */
  createInviter(): Inviter {
    this.flow.start();
    if (!this.inviter) throw new StateError('the precondition flow did not produce an INVITE');
    return this.inviter;
  }

  attach(call: PreconditionCallHost): void {
    this.call = call;
  }

  protected override immediate(a: FlowAction): boolean {
    if (a.kind === 'retry-without-preconditions') {
      // RFC 3261 §8.1.3.5: 420 listing `precondition`, optional strength: the same call without them.
      // Synchronous: the call must be bound to the new INVITE before it sees the old one end.
      this.o.log.info('peer does not support preconditions (420): calling again without them');
      const headers = this.inviteHeaders.filter((h) => !/^(require|supported)\s*:/i.test(h));
      this.lines = undefined;
      this.earlyDialog = undefined;
      this.inviter = new Inviter(this.ua, this.target, { extraHeaders: headers });
      this.rebind(this.inviter);
      this.invite();
      return true;
    }
    if (a.kind !== 'send-invite') return false;
    this.inviteHeaders = a.extraHeaders;
    this.lines = a.attributes.length ? a.attributes : undefined;
    // sip.js writes its own Supported (100rel, precondition: the phone configures both), so only Require is added here.
    const headers = a.extraHeaders.filter((h) => !/^supported\s*:/i.test(h));
    this.inviter = new Inviter(this.ua, this.target, { earlyMedia: this.lines !== undefined, extraHeaders: headers });
    return true;
  }

  protected dialog(): Core.SessionDialog | undefined {
    return (this.inviter ? sessionDialogOf(this.inviter) : undefined) ?? this.earlyDialog;
  }

  /** Sends the INVITE of the current Inviter. */
  invite(): void {
    const inviter = this.inviter!;
    void inviter
      .invite({
        requestDelegate: {
          onProgress: (response) => {
            if (inviter !== this.inviter) return;
            const message = response.message;
            const code = message.statusCode ?? 0;
            const reliable = /\b100rel\b/i.test(message.getHeader('require') ?? '') && message.hasHeader('rseq');
            const session = responseDialogOf(response);
            if (session && !this.earlyDialog) {
              this.earlyDialog = session;
              this.o.registerDialog(session);
            }
            this.flow.provisional(code, reliable, { sdp: sdpOf(message) });
            // RFC 8840 §4.3: the answer in a reliable provisional established the early dialog; sip.js
            // has sent its PRACK already (sipjs/update.ts holds our INFOs until it is answered).
            if (reliable && session && sdpOf(message)) this.call?.earlyDialogReady?.(session);
          },
          onAccept: (response) => {
            if (inviter !== this.inviter) return;
            const session = responseDialogOf(response);
            if (session) this.o.registerDialog(session);
            this.flow.finalResponse(response.message.statusCode ?? 200, { sdp: sdpOf(response.message) });
            if (this.flow.state === 'failed') {
              // CANCEL crossed the 200 (mandatory preconditions the peer ignored): end it.
              this.call?.setReason(this.flow.failureReason ?? 'preconditions failed');
              void this.call?.hangup();
            }
          },
          onReject: (response) => {
            if (inviter !== this.inviter) return;
            const m = response.message;
            const code = m.statusCode ?? 0;
            this.flow.finalResponse(code, { unsupported: m.getHeader('unsupported'), sdp: sdpOf(m) });
            if (this.inviter === inviter) this.call?.setReason(`${code} ${m.reasonPhrase ?? ''}`.trim());
          },
        },
      })
      .catch((e) => {
        this.call?.setReason(errorMessage(e));
        this.o.log.error(`INVITE failed: ${errorMessage(e)}`);
      });
  }

  protected async perform(a: FlowAction, update?: IncomingUpdate): Promise<void> {
    switch (a.kind) {
      case 'send-update':
        return this.sendUpdate(a);
      case 'answer-update':
        return this.answerUpdate(a, update);
      case 'remote-alerting':
        this.call?.markAlerting();
        return;
      case 'cancel':
      case 'bye':
        this.call?.setReason(a.reason);
        await this.call?.hangup();
        return;
      default:
        return;
    }
  }
}

/** Callee side (B in Figure 2). */
export class IncomingPreconditions extends PreconditionController {
  private sender?: ReliableProvisionalSender;
  private rejection?: string;
  private alertResolve!: () => void;
  private alertReject!: (e: Error) => void;
  /** Resolves when the flow says "alert" (preconditions met, or a plain call); rejects on failure. */
  readonly alerted: Promise<void>;

  /** Answerer waits this long after its own ICE success for A's confirming UPDATE (Figure 2, message 6). */
  static readonly CONFIRM_WAIT_MS = 2000;

  constructor(o: PreconditionControllerOptions, private readonly invitation: Invitation) {
    super(o, 'answerer', IncomingPreconditions.CONFIRM_WAIT_MS);
    this.alerted = new Promise((resolve, reject) => {
      this.alertResolve = resolve;
      this.alertReject = reject;
    });
    this.alerted.catch(() => undefined);
  }

  /**
   * Hands the INVITE to the flow. Returns the reason when it was refused at once (420, 421, 580:
   * no call is created), undefined otherwise.
   */
  start(): string | undefined {
    const m = this.invitation.request;
    this.flow.invite({ sdp: sdpOf(m), require: m.getHeader('require'), supported: m.getHeader('supported') });
    return this.rejection;
  }

  attach(call: PreconditionCallHost): void {
    this.call = call;
  }

  protected override immediate(a: FlowAction): boolean {
    if (a.kind !== 'reject' || this.call) return false;
    this.rejection = `${a.statusCode}: ${a.reason}`;
    this.alertReject(new Error(a.reason));
    void this.invitation.reject({ statusCode: a.statusCode, extraHeaders: a.extraHeaders }).catch(() => undefined);
    return true;
  }

  protected dialog(): Core.SessionDialog | undefined {
    return sessionDialogOf(this.invitation) ?? this.sender?.session;
  }

  override dispose(): void {
    super.dispose();
    this.alertReject(new Error(this.flow.failureReason ?? 'the call ended before alerting'));
    this.sender?.dispose();
    const d = this.sender?.session;
    if (d) this.o.ext.setPrackHandler(d, undefined);
  }

  /** Phone.answer(): after the alert (and the PRACK of the reliable 180), the 200 INVITE. */
  async answer(): Promise<void> {
    await this.alerted;
    const sender = this.sender;
    if (sender) {
      await sender.whenAcknowledged();
      useLocalDescriptionIn2xx(incomingInviteRequestOf(this.invitation), () => {
        const sdp = this.call?.media?.localDescription;
        return sdp ? { contentType: SDP, content: sdp } : undefined;
      });
    }
    await this.invitation.accept();
  }

  protected async perform(a: FlowAction, update?: IncomingUpdate): Promise<void> {
    switch (a.kind) {
      case 'send-reliable-answer':
        return this.sendReliableAnswer(a.attributes);
      case 'send-update':
        return this.sendUpdate(a);
      case 'answer-update':
        return this.answerUpdate(a, update);
      case 'alert':
        return this.alert();
      case 'reject': {
        // 580 (or a late 420/421): RFC 3312 §6 — the SDP says which precondition failed.
        this.call?.setReason(`${a.statusCode} ${a.reason}`);
        this.alertReject(new Error(a.reason));
        this.sender?.dispose();
        const local = this.call?.media?.localDescription;
        const body = a.attributes && local ? { body: withPreconditions(local, [a.attributes]), contentType: SDP } : undefined;
        await this.invitation.reject({ statusCode: a.statusCode, extraHeaders: a.extraHeaders, body });
        return;
      }
      default:
        return;
    }
  }

  private async sendReliableAnswer(attributes: PreconditionAttribute[]): Promise<void> {
    this.lines = attributes;
    const request = incomingInviteRequestOf(this.invitation);
    const body = await generateResponseBody(this.invitation, request);
    if (!body) throw new StateError('no SDP answer for the reliable 183');
    const sender = new ReliableProvisionalSender(request, this.o.ext, {
      clock: this.o.clock,
      log: this.o.log,
      reject: (code) => void this.invitation.reject({ statusCode: code }).catch(() => undefined),
      onDialog: (d) => this.o.registerDialog(d),
    });
    this.sender = sender;
    try {
      await sender.send({ statusCode: 183, reasonPhrase: 'Session Progress', body: { contentType: body.contentType, content: body.content } });
    } catch (e) {
      this.call?.setReason(`no PRACK for the reliable 183: ${errorMessage(e)}`);
      this.alertReject(e instanceof Error ? e : new Error(String(e)));
      return;
    }
    if (sender.session) attachEarlyDialog(this.invitation, sender.session);
    // The PRACK names our To tag and RSeq: the caller is really there, our RTP may flow in full.
    this.media?.confirmPeer('PRACK');
    // RFC 8840 §4.3: our reliable 183 carried the answer and is acknowledged; trickle INFOs may go.
    if (sender.session) this.call?.earlyDialogReady?.(sender.session);
    this.flow.prack();
  }

  private async alert(): Promise<void> {
    this.call?.markAlerting();
    this.alertResolve();
    if (this.sender) {
      // Figure 2 (8)-(10): a reliable 180, PRACKed before the 200 INVITE.
      await this.sender.send({ statusCode: 180, reasonPhrase: 'Ringing' });
    } else {
      await this.invitation.progress();
    }
  }
}
