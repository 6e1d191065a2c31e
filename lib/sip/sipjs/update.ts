/**
 * UPDATE (RFC 3311) for sip.js 0.21.2, in early and confirmed INVITE dialogs, added at the core
 * level without editing node_modules; plus the hook reliable-provisional.ts uses to take PRACKs.
 *
 * What sip.js does with UPDATE: `UserAgentCore.receiveRequest` answers 405 to any method not in
 * its module-private `AllowedMethods` list (user-agent-core.js, "8.2.1 Method Inspection"), and
 * UPDATE is not in it; were it let through, `SessionDialog.receiveRequest` would answer 501 from
 * its `default:` branch. Nothing in sip.js sends UPDATE.
 *
 * How we add it (`DialogExtensions.install(core)`):
 *  - We replace, on the one `UserAgentCore` instance, its method `receiveRequest(message)`. sip.js
 *    calls it from `receiveRequestFromTransport` AFTER server-transaction matching (a retransmitted
 *    UPDATE or PRACK whose transaction still lives goes to that transaction and never reaches us;
 *    later ones are answered from the transport's Timer J cache, retransmission.ts). For UPDATE, for
 *    PRACK on a dialog that has a registered PRACK handler, and for a re-INVITE that collides with
 *    our own pending UPDATE offer, we do what `receiveInsideDialogRequest` + `SessionDialog.
 *    receiveRequest` would do, then our method-specific part; everything else goes to the original.
 *  - In-dialog request processing reuses sip.js's own pieces: `Dialog.sequenceGuard` (500 to an
 *    out-of-order CSeq), `Dialog.prototype.receiveRequest` (records the remote CSeq; we call the base
 *    class method because SessionDialog's override would 501 the UPDATE), the dialog's
 *    `signalingStateTransition` / `signalingStateRollback` so that sip.js's own offer/answer state
 *    (`SessionDialog.signalingState`, `offer`, `answer`) stays true when UPDATE carries SDP, and a
 *    plain `UserAgentServer` on a `NonInviteServerTransaction` to answer it.
 *  - Sending: `dialog.createOutgoingRequestMessage('UPDATE', …)` (CSeq, route set, remote target,
 *    tags), then a plain `UserAgentClient` on a `NonInviteClientTransaction` — exactly how sip.js's
 *    own `ByeUserAgentClient`/`PrackUserAgentClient` are built. Timer E retransmission comes from
 *    our UDP transport (retransmission.ts).
 *
 * sip.js internals relied on (0.21.2; re-check on upgrade):
 *  - `UserAgentCore#receiveRequest` (private in the .d.ts), `#dialogs` (Map keyed by
 *    `callId + localTag + remoteTag`), `#replyStateless`, `#configuration.contact`.
 *  - `Dialog#sequenceGuard` (protected), `Dialog.prototype.receiveRequest`, `Dialog#dialogState`
 *    (protected; `remoteTarget` written for the target refresh, RFC 3311 §5.2/§5.1).
 *  - `SessionDialog#signalingState`, `#signalingStateTransition`, `#signalingStateRollback`,
 *    `#initialTransaction` (private: tells whether we own the Call-ID, RFC 3261 §14.1).
 *  - `UserAgentServer`/`UserAgentClient` constructors taking a transaction class (public API).
 *
 * Offer/answer rules (RFC 3311 §5.1, §5.2):
 *  - We send an offer in UPDATE only in the Stable state (else StateError: "MUST NOT send an
 *    UPDATE … with an offer while an offer is outstanding").
 *  - An UPDATE offer that arrives while we have an unanswered offer of ours (UPDATE, PRACK or
 *    INVITE): 491. While we hold an unanswered offer of theirs: 500 with Retry-After 0–10 s.
 *  - A re-INVITE with an offer while our UPDATE offer is pending: 491 (sip.js would otherwise take
 *    the INVITE's offer as the answer to ours).
 *  - 491 to our UPDATE: retry after the RFC 3261 §14.1 back-off (owner of the Call-ID 2.1–4 s,
 *    else 0–2 s, in 10 ms units), "if it still desires for that session modification".
 *  - UPDATE is a target refresh: the remote target is taken from Contact of the request (UAS) or
 *    of the 2xx (UAC), and our 2xx carries Contact.
 *  - 481 or 408 to an in-dialog request ends the dialog (RFC 3261 §12.2.1.2): reported in the
 *    outcome as `dialogGone`, the caller ends the session.
 *
 * INFO (RFC 6086) in EARLY dialogs, the same way: sip.js 0.21.2's `SessionDialog.info()` throws on an
 * early dialog, and an INFO received in one either reaches `Session.onInfoRequest`, which drops it
 * without any response while the session is not Established (the peer retransmits to Timer F), or,
 * in an early dialog without a delegate (the one our reliable provisionals create), gets 469 with an
 * empty Recv-Info although we take trickle-ice. With an
 * `onEarlyInfo` handler, an INFO whose dialog is early is taken here (CSeq order as above, a plain
 * `UserAgentServer`) and handed over for a final response; `sendInfo()` sends one in an early (or
 * confirmed) dialog. INFOs in confirmed dialogs stay with sip.js. RFC 8840 §4.3 says when an early
 * dialog may carry trickle-ice INFOs (once a reliable provisional or the answer established it):
 * that decision is the caller's (user-agent.ts, precondition-call.ts), not this file's.
 */
import { Core } from 'sip.js';
import type { Clock } from '../../base/clock.js';
import { systemClock } from '../../base/clock.js';
import { StateError, errorMessage } from '../../base/errors.js';
import type { Logger } from '../../base/log.js';
import { silentLogger } from '../../base/log.js';

type UserAgentCore = Core.UserAgentCore;
type SessionDialog = Core.SessionDialog;
type IncomingRequestMessage = Core.IncomingRequestMessage;
type IncomingResponseMessage = Core.IncomingResponseMessage;

/** A body as the rest of icephone speaks of it. */
export interface SipBody {
  contentType: string;
  content: string;
}

/** An UPDATE we received, for the application to answer once. */
export interface IncomingUpdate {
  readonly message: IncomingRequestMessage;
  readonly dialog: SessionDialog;
  /** The session description offer it carries (Content-Disposition session), if any. */
  readonly offer?: SipBody;
  /** 200 OK; with an offer, `body` (the answer) is required. @throws StateError otherwise or when already answered. */
  accept(options?: { body?: SipBody; extraHeaders?: string[] }): void;
  /** A 4xx-6xx final response (default 488 with an offer, else 500); the offer, if any, is rolled back. */
  reject(options?: { statusCode?: number; reasonPhrase?: string; extraHeaders?: string[] }): void;
}

/** A PRACK we received on a dialog that registered a handler (reliable-provisional.ts). */
export type PrackHandler = (request: Core.IncomingPrackRequest, message: IncomingRequestMessage) => void;

export interface UpdateOutcome {
  statusCode: number;
  reasonPhrase: string;
  /** The final response (absent for a local timeout/transport error, which sip.js reports as 408/503). */
  response?: IncomingResponseMessage;
  /** The answer in a 2xx to an offer. */
  answer?: SipBody;
  /** UPDATE requests sent (1 + glare retries). */
  attempts: number;
  /** 481 or 408: the dialog no longer exists at the peer (RFC 3261 §12.2.1.2). */
  dialogGone: boolean;
  /** A 491 retry was dropped because `stillWanted()` said so. */
  abandoned?: boolean;
}

/** An INFO (RFC 6086) received in an early dialog, for the application to answer once. */
export interface IncomingEarlyInfo {
  readonly dialog: SessionDialog;
  /** The request: its body (string) and headers (`getHeader(name)`, undefined when absent). */
  readonly request: IncomingRequestMessage;
  /** 200 OK. @throws StateError (rejection) when already answered. */
  accept(options?: { extraHeaders?: string[] }): Promise<void>;
  /** A 4xx-6xx final response, default 500. @throws StateError (rejection) when already answered. */
  reject(options?: { statusCode?: number; reasonPhrase?: string; extraHeaders?: string[] }): Promise<void>;
}

/** The final outcome of an INFO we sent with `sendInfo()`. */
export interface InfoOutcome {
  statusCode: number;
  reasonPhrase: string;
  /** 481 or 408: the dialog no longer exists at the peer (RFC 3261 §12.2.1.2). */
  dialogGone: boolean;
}

export interface SendInfoOptions {
  extraHeaders?: string[];
  /** The body, with its Content-Disposition (RFC 6086 §4.1: `Info-Package` for a package's body). */
  body?: { contentType: string; content: string; contentDisposition?: string };
}

export interface SendUpdateOptions {
  /** The offer (or a function building it, called for each attempt so a retry carries a fresh o= version). */
  body?: SipBody | (() => SipBody | undefined | Promise<SipBody | undefined>);
  extraHeaders?: string[];
  /** Retries after 491 (RFC 3261 §14.1); default 3. */
  maxGlareRetries?: number;
  /** Asked when the back-off timer fires: retry only if still true (RFC 3261 §14.1 "if it still desires"). */
  stillWanted?: () => boolean;
}

export interface DialogExtensionsOptions {
  clock?: Clock;
  log?: Logger;
  /** Incoming UPDATE handler; without one, UPDATE is answered 501. */
  onUpdate?: (update: IncomingUpdate) => void;
  /** Incoming INFO in an early dialog; without one, such an INFO goes to sip.js (which drops it). */
  onEarlyInfo?: (info: IncomingEarlyInfo) => void;
  /** [0,1) random source for back-off and Retry-After (tests). */
  random?: () => number;
}

/** sip.js's private/protected members we use, typed in one place. */
interface CoreInternals {
  receiveRequest(message: IncomingRequestMessage): void;
  dialogs: Map<string, Core.Dialog>;
  replyStateless(message: IncomingRequestMessage, options: Core.ResponseOptions): Core.OutgoingResponse;
  configuration: { contact: { toString(): string } };
}
interface DialogInternals {
  /** UAS: the ACK for the initial 2xx has not arrived yet. */
  ackWait: boolean;
  sequenceGuard(message: IncomingRequestMessage): boolean;
  dialogState: { remoteTarget: Core.URI };
  initialTransaction: unknown;
}

const installed = new WeakMap<UserAgentCore, DialogExtensions>();
const SDP_SESSION = 'session';

function toCoreBody(b: SipBody): Core.Body {
  return { contentDisposition: SDP_SESSION, contentType: b.contentType, content: b.content };
}

/** The session body of a message, if any (Content-Disposition `session`, RFC 3261 §13.2.1). */
function sessionBody(message: IncomingRequestMessage | IncomingResponseMessage): SipBody | undefined {
  let body: Core.Body | undefined;
  try {
    body = Core.getBody(message);
  } catch {
    return undefined;
  }
  if (!body || body.contentDisposition !== SDP_SESSION) return undefined;
  return { contentType: body.contentType, content: body.content };
}

/** RFC 3261 §14.1 back-off in ms: owner 2.1–4 s, other side 0–2 s, both in units of 10 ms. */
export function glareBackoffMs(ownerOfCallId: boolean, random: () => number = Math.random): number {
  return ownerOfCallId ? 2100 + 10 * Math.floor(random() * 191) : 10 * Math.floor(random() * 201);
}

export class DialogExtensions {
  onUpdate?: (update: IncomingUpdate) => void;
  onEarlyInfo?: (info: IncomingEarlyInfo) => void;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly random: () => number;
  private readonly prackHandlers = new Map<string, PrackHandler>();
  /** Dialogs (by id) with an UPDATE offer of ours awaiting its answer. */
  private readonly pendingUpdateOffers = new Set<string>();
  private readonly original: (message: IncomingRequestMessage) => void;
  private ackWaiters: Array<() => void> = [];
  private readonly internals: CoreInternals;

  private constructor(readonly core: UserAgentCore, options: DialogExtensionsOptions) {
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? silentLogger;
    this.random = options.random ?? Math.random;
    this.onUpdate = options.onUpdate;
    this.onEarlyInfo = options.onEarlyInfo;
    this.internals = core as unknown as CoreInternals;
    this.original = this.internals.receiveRequest.bind(core);
    this.internals.receiveRequest = (message) => {
      if (!this.intercept(message)) this.original(message);
      if (message.method === 'ACK') this.ackSeen();
    };
  }

  /** Hooks `core` (once; later calls return the same instance and update `onUpdate` if given). */
  static install(core: UserAgentCore, options: DialogExtensionsOptions = {}): DialogExtensions {
    const existing = installed.get(core);
    if (existing) {
      if (options.onUpdate) existing.onUpdate = options.onUpdate;
      if (options.onEarlyInfo) existing.onEarlyInfo = options.onEarlyInfo;
      return existing;
    }
    const ext = new DialogExtensions(core, options);
    installed.set(core, ext);
    return ext;
  }

  static of(core: UserAgentCore): DialogExtensions | undefined {
    return installed.get(core);
  }

  /** Puts sip.js's own `receiveRequest` back. */
  uninstall(): void {
    this.internals.receiveRequest = this.original;
    installed.delete(this.core);
  }

  /** Routes PRACKs of `dialog` to `handler` (undefined: back to sip.js's dialog delegate). */
  setPrackHandler(dialog: SessionDialog, handler: PrackHandler | undefined): void {
    if (handler) this.prackHandlers.set(dialog.id, handler);
    else this.prackHandlers.delete(dialog.id);
  }

  /** True when we generated the Call-ID, i.e. we sent the initial INVITE (RFC 3261 §14.1). */
  isOwnerOfCallId(dialog: SessionDialog): boolean {
    return (dialog as unknown as DialogInternals).initialTransaction instanceof Core.InviteClientTransaction;
  }

  /** True while an UPDATE offer of ours on `dialog` awaits its answer. */
  hasPendingUpdateOffer(dialog: SessionDialog): boolean {
    return this.pendingUpdateOffers.has(dialog.id);
  }

  // ---------------------------------------------------------------- receiving

  private ackSeen(): void {
    const waiters = this.ackWaiters;
    this.ackWaiters = [];
    for (const w of waiters) w();
  }

  /**
   * UAS of the initial INVITE, confirmed dialog: resolves once the ACK for our 2xx has been processed (or after 64·T1).
   * sip.js's `Session.onAckRequest` ends the call (BYE, 488) when the ACK finds the dialog in
   * HaveLocalOffer, so an offer must not leave before the ACK (RFC 5407 §3.1.4 race).
   */
  private async untilAcked(dialog: SessionDialog): Promise<void> {
    const internals = dialog as unknown as DialogInternals;
    const deadline = this.clock.now() + 64 * 500;
    while (!dialog.early && internals.ackWait && this.clock.now() < deadline && (dialog.signalingState as string) !== Core.SignalingState.Closed) {
      await new Promise<void>((resolve) => {
        const timer = this.clock.setTimer(500, () => resolve());
        this.ackWaiters.push(() => {
          this.clock.clearTimer(timer);
          resolve();
        });
      });
    }
  }

  /** The transaction of a PRACK of ours in `dialog` that still waits for its final response. */
  private pendingPrack(dialog: SessionDialog): Core.Transaction | undefined {
    for (const uac of (this.core as unknown as { userAgentClients: Map<string, Core.UserAgentClient> }).userAgentClients.values()) {
      if (!(uac instanceof Core.PrackUserAgentClient)) continue;
      const m = uac.message;
      if (m.callId !== dialog.callId || m.fromTag !== dialog.localTag) continue;
      const state = uac.transaction.state;
      if (state === Core.TransactionState.Trying || state === Core.TransactionState.Proceeding) return uac.transaction;
    }
    return undefined;
  }

  /**
   * Holds a request back while our PRACK in the same dialog is unanswered (Timer F bounds it). Over UDP
   * the UPDATE (CSeq n+1) could otherwise overtake a lost-and-retransmitted PRACK (CSeq n); the
   * peer then rejects the PRACK as out of order with 500 (RFC 3261 §12.2.2) and its reliable 183
   * is never acknowledged. Figure 2 has the same order: (4) 200 PRACK before (6) UPDATE.
   */
  private async untilPrackAnswered(dialog: SessionDialog): Promise<void> {
    for (let transaction = this.pendingPrack(dialog); transaction; transaction = this.pendingPrack(dialog)) {
      const t = transaction;
      // The transaction layer ends it (final response, Timer F, transport error): no timer of ours needed.
      await new Promise<void>((resolve) => t.addStateChangeListener(() => resolve(), { once: true }));
    }
  }

  private intercept(message: IncomingRequestMessage): boolean {
    const method = message.method;
    if (method !== 'UPDATE' && method !== 'PRACK' && method !== 'INVITE' && method !== 'INFO') return false;
    const dialog = message.toTag ? this.internals.dialogs.get(message.callId + message.toTag + message.fromTag) : undefined;
    if (method === 'INFO') {
      if (!(dialog instanceof Core.SessionDialog) || !dialog.early || !this.onEarlyInfo) return false;
      try {
        this.receiveEarlyInfo(dialog, message, this.onEarlyInfo);
      } catch (e) {
        this.log.warn(`early INFO handling failed: ${errorMessage(e)}`);
      }
      return true;
    }
    if (method === 'UPDATE') {
      if (!(dialog instanceof Core.SessionDialog)) {
        // RFC 3311 §5.2: UPDATE is processed within a dialog; none matches.
        this.internals.replyStateless(message, { statusCode: 481 });
        return true;
      }
      try {
        this.receiveUpdate(dialog, message);
      } catch (e) {
        this.log.warn(`UPDATE handling failed: ${errorMessage(e)}`);
      }
      return true;
    }
    if (!(dialog instanceof Core.SessionDialog)) return false;
    if (method === 'PRACK') {
      const handler = this.prackHandlers.get(dialog.id);
      // Without our handler, sip.js answers a PRACK with 200 when the dialog has no delegate for it
      // (SessionDialog#receiveRequest), so a PRACK arriving after our reliable provisional was given
      // up (504 after 64·T1, the call ended, its handler removed) looked acknowledged to the peer.
      // RFC 3262 §3: a PRACK that "does not match any unacknowledged reliable provisional response"
      // gets 481. A dialog whose delegate takes PRACKs stays sip.js's.
      if (!handler && (dialog as unknown as { delegate?: { onPrack?: unknown } }).delegate?.onPrack) return false;
      if (!this.acceptInDialog(dialog, message)) return true;
      const uas = new Core.PrackUserAgentServer(dialog, message);
      if (!handler) {
        this.log.debug(`481 to PRACK in dialog ${dialog.id}: no reliable provisional awaits it`);
        uas.reject({ statusCode: 481 });
        return true;
      }
      try {
        handler(uas, message);
      } catch (e) {
        this.log.warn(`PRACK handler threw: ${errorMessage(e)}`);
      }
      return true;
    }
    // re-INVITE colliding with our pending UPDATE offer.
    if (this.pendingUpdateOffers.has(dialog.id) && sessionBody(message)) {
      if (!this.acceptInDialog(dialog, message)) return true;
      this.log.debug(`491 to re-INVITE on dialog ${dialog.id}: our UPDATE offer is pending`);
      this.internals.replyStateless(message, { statusCode: 491 });
      return true;
    }
    return false;
  }

  /** RFC 3261 §12.2.2 common in-dialog processing: CSeq order (500 if not), record the remote CSeq. */
  private acceptInDialog(dialog: SessionDialog, message: IncomingRequestMessage): boolean {
    if (!(dialog as unknown as DialogInternals).sequenceGuard(message)) return false;
    Core.Dialog.prototype.receiveRequest.call(dialog, message);
    return true;
  }

  private refreshTarget(dialog: SessionDialog, message: IncomingRequestMessage | IncomingResponseMessage): void {
    const contact = message.parseHeader('contact');
    if (contact instanceof Core.NameAddrHeader) (dialog as unknown as DialogInternals).dialogState.remoteTarget = contact.uri;
  }

  private receiveUpdate(dialog: SessionDialog, message: IncomingRequestMessage): void {
    if (!this.acceptInDialog(dialog, message)) return;
    this.refreshTarget(dialog, message);
    const uas = new Core.UserAgentServer(Core.NonInviteServerTransaction, this.core, message);
    const offer = sessionBody(message);
    if (offer) {
      const state = dialog.signalingState;
      if (state === Core.SignalingState.HaveLocalOffer) {
        // "…the UAS has generated an offer … to which it has not yet received an answer, the UAS
        // MUST reject the UPDATE with a 491 response." (RFC 3311 §5.2)
        uas.reject({ statusCode: 491 });
        return;
      }
      if (state !== Core.SignalingState.Stable) {
        // "…has received an offer … to which it has not yet generated an answer, the UAS MUST reject
        // the UPDATE with a 500 response, and MUST include a Retry-After header field with a randomly
        // chosen value between 0 and 10 seconds." (RFC 3311 §5.2; also before any offer/answer)
        const retry = Math.floor(this.random() * 11);
        uas.reject({ statusCode: 500, extraHeaders: [`Retry-After: ${retry}`] });
        return;
      }
      dialog.signalingStateTransition(message);
    }
    let answered = false;
    const contact = `Contact: ${this.internals.configuration.contact.toString()}`;
    const update: IncomingUpdate = {
      message,
      dialog,
      offer,
      accept: (options = {}) => {
        if (answered) throw new StateError('UPDATE already answered');
        if (offer && !options.body) throw new StateError('the UPDATE carried an offer: accept needs the answer body');
        answered = true;
        const body = options.body ? toCoreBody(options.body) : undefined;
        uas.accept({ statusCode: 200, extraHeaders: [...(options.extraHeaders ?? []), contact], body });
        if (body && offer) dialog.signalingStateTransition(body);
      },
      reject: (options = {}) => {
        if (answered) throw new StateError('UPDATE already answered');
        answered = true;
        uas.reject({ statusCode: options.statusCode ?? (offer ? 488 : 500), reasonPhrase: options.reasonPhrase, extraHeaders: options.extraHeaders });
        if (offer) dialog.signalingStateRollback();
      },
    };
    if (!this.onUpdate) {
      update.reject({ statusCode: 501 });
      return;
    }
    this.onUpdate(update);
  }

  private receiveEarlyInfo(dialog: SessionDialog, message: IncomingRequestMessage, handler: (info: IncomingEarlyInfo) => void): void {
    if (!this.acceptInDialog(dialog, message)) return;
    const uas = new Core.UserAgentServer(Core.NonInviteServerTransaction, this.core, message);
    let answered = false;
    const once = (): void => {
      if (answered) throw new StateError('INFO already answered');
      answered = true;
    };
    const info: IncomingEarlyInfo = {
      dialog,
      request: message,
      accept: async (options = {}) => {
        once();
        uas.accept({ statusCode: 200, extraHeaders: options.extraHeaders });
      },
      reject: async (options = {}) => {
        once();
        uas.reject({ statusCode: options.statusCode ?? 500, reasonPhrase: options.reasonPhrase, extraHeaders: options.extraHeaders });
      },
    };
    try {
      handler(info);
    } catch (e) {
      this.log.warn(`early INFO handler threw: ${errorMessage(e)}`);
      if (!answered) void info.reject({ statusCode: 500 }).catch(() => undefined);
    }
  }

  // ---------------------------------------------------------------- sending

  /**
   * Sends INFO (RFC 6086) on `dialog`, early or confirmed (sip.js's own `info()` refuses early
   * dialogs), after any PRACK of ours in it is answered (so CSeq order holds over UDP), and resolves
   * with the final response (sip.js reports a timeout as 408, a transport error as 503).
   * @throws StateError when the dialog is closed.
   */
  async sendInfo(dialog: SessionDialog, options: SendInfoOptions = {}): Promise<InfoOutcome> {
    if (dialog.signalingState === Core.SignalingState.Closed) throw new StateError(`dialog ${dialog.id} is closed`);
    await this.untilPrackAnswered(dialog);
    if ((dialog.signalingState as string) === Core.SignalingState.Closed) throw new StateError(`dialog ${dialog.id} is closed`);
    const b = options.body;
    const body: Core.Body | undefined = b ? { contentDisposition: b.contentDisposition ?? 'render', contentType: b.contentType, content: b.content } : undefined;
    const message = dialog.createOutgoingRequestMessage('INFO', { extraHeaders: options.extraHeaders, body });
    return new Promise((resolve) => {
      let done = false;
      const finish = (statusCode: number, reasonPhrase: string) => {
        if (done) return;
        done = true;
        resolve({ statusCode, reasonPhrase, dialogGone: statusCode === 481 || statusCode === 408 });
      };
      const final = (r: Core.IncomingResponse) => finish(r.message.statusCode ?? 0, r.message.reasonPhrase ?? '');
      try {
        new Core.UserAgentClient(Core.NonInviteClientTransaction, this.core, message, { onAccept: final, onReject: final, onRedirect: final });
      } catch (e) {
        this.log.warn(`sending INFO failed: ${errorMessage(e)}`);
        finish(503, 'Service Unavailable');
      }
    });
  }

  /**
   * Sends UPDATE on `dialog` (early or confirmed) and resolves with the final outcome, after up to
   * `maxGlareRetries` RFC 3261 §14.1 retries on 491.
   * @throws StateError when an offer is to be sent outside the Stable offer/answer state, or the dialog is closed.
   */
  async sendUpdate(dialog: SessionDialog, options: SendUpdateOptions = {}): Promise<UpdateOutcome> {
    const maxRetries = options.maxGlareRetries ?? 3;
    for (let attempts = 1; ; attempts++) {
      if (dialog.signalingState === Core.SignalingState.Closed) throw new StateError(`dialog ${dialog.id} is closed`);
      if (options.body) await this.untilAcked(dialog);
      await this.untilPrackAnswered(dialog);
      const body = typeof options.body === 'function' ? await options.body() : options.body;
      if (body && dialog.signalingState !== Core.SignalingState.Stable) {
        throw new StateError(`cannot offer in UPDATE: offer/answer state is ${dialog.signalingState} (RFC 3311 §5.1)`);
      }
      const outcome = await this.sendOnce(dialog, body, options.extraHeaders ?? []);
      outcome.attempts = attempts;
      if (outcome.statusCode !== 491 || attempts > maxRetries) return outcome;
      const wait = glareBackoffMs(this.isOwnerOfCallId(dialog), this.random);
      this.log.debug(`491 to UPDATE on dialog ${dialog.id}; retrying in ${wait} ms (RFC 3261 §14.1)`);
      await new Promise<void>((resolve) => this.clock.setTimer(wait, resolve));
      if ((options.stillWanted && !options.stillWanted()) || (dialog.signalingState as string) === Core.SignalingState.Closed) {
        return { ...outcome, abandoned: true };
      }
    }
  }

  private sendOnce(dialog: SessionDialog, body: SipBody | undefined, extraHeaders: string[]): Promise<UpdateOutcome> {
    const coreBody = body ? toCoreBody(body) : undefined;
    const contact = `Contact: ${this.internals.configuration.contact.toString()}`;
    const message = dialog.createOutgoingRequestMessage('UPDATE', { extraHeaders: [...extraHeaders, contact], body: coreBody });
    if (coreBody) {
      dialog.signalingStateTransition(message);
      this.pendingUpdateOffers.add(dialog.id);
    }
    return new Promise((resolve) => {
      let done = false;
      const finish = (response: Core.IncomingResponse | undefined, statusCode: number, reasonPhrase: string) => {
        if (done) return;
        done = true;
        this.pendingUpdateOffers.delete(dialog.id);
        const msg = response?.message;
        const outcome: UpdateOutcome = {
          statusCode, reasonPhrase, response: msg, attempts: 1, dialogGone: statusCode === 481 || statusCode === 408,
        };
        if (statusCode >= 200 && statusCode < 300 && msg) {
          this.refreshTarget(dialog, msg);
          const answer = sessionBody(msg);
          if (coreBody && answer) {
            dialog.signalingStateTransition(msg);
            outcome.answer = answer;
          } else if (coreBody) {
            // RFC 3311 §5.2: a 2xx to an offer carries the answer. Without it the offer is void.
            this.log.warn(`2xx to UPDATE offer without an answer on dialog ${dialog.id}; rolling back`);
            dialog.signalingStateRollback();
          }
        } else if (coreBody) {
          dialog.signalingStateRollback();
        }
        resolve(outcome);
      };
      const final = (r: Core.IncomingResponse) => finish(r, r.message.statusCode ?? 0, r.message.reasonPhrase ?? '');
      try {
        new Core.UserAgentClient(Core.NonInviteClientTransaction, this.core, message, {
          onAccept: final,
          onReject: final,
          onRedirect: final,
        });
      } catch (e) {
        this.log.warn(`sending UPDATE failed: ${errorMessage(e)}`);
        finish(undefined, 503, 'Service Unavailable');
      }
    });
  }
}
