/**
 * The phone: a sip.js UserAgent on our own UDP/TCP/TLS transport, placing and answering calls whose
 * media is a MediaSession (ICE + RTP). This is the library API a PBX gateway embeds and the
 * CLI drives.
 */
import {
  Inviter,
  Invitation,
  Registerer,
  RegistererState,
  SessionState,
  SIPExtension,
  UserAgent,
  type Core,
  type Referral,
  type Session,
  type URI,
} from 'sip.js';
import { Admission } from './admission.js';
import { acceptAnyRequestUri, refuseOutOfDialogOptions } from './sipjs/core-request-hooks.js';
import { byeInProgress, sessionCallId, sessionDialogOf } from './sipjs/session-internals.js';
import { GlareError } from '../media/offer-answer-state.js';
import { normalizeAddress } from '../base/address.js';
import type { Clock } from '../base/clock.js';
import { systemClock } from '../base/clock.js';
import { RequestRefusedError, StateError, UsageError, errorMessage } from '../base/errors.js';
import { mediaFailureReason } from './reason.js';
import { useReinviteRefusalStatus } from './sipjs/reinvite-refusal.js';
import { TypedEmitter } from '../base/events.js';
import type { Logger } from '../base/log.js';
import { errorStack, silentLogger } from '../base/log.js';
import { offerProblem, warningHeader, type OfferProblem } from './warning.js';
import { negotiateCodec } from '../sdp/offer-answer.js';
import { DescriptionCache } from '../media/description-cache.js';
import { DEFAULT_TIMERS } from './retransmission.js';
import { MediaSession, type MediaEndpoints, type MediaOptions, type MediaSummary } from '../media/media-session.js';
import { installSipJsAdapter } from './sipjs/install.js';
import { allowHeaderLine, installAllowRewrite } from './sipjs/allow-header.js';
import { installRecvInfo, recvInfoHeaderLine } from './sipjs/recv-info-header.js';
import { TRICKLE_INFO_PACKAGE, TRICKLE_SDPFRAG_CONTENT_TYPE } from '../sdp/trickle-fragment.js';
import { releaseEndedInvitation } from './sipjs/release-ended-invite.js';
import { indexMergedRequests } from './sipjs/merged-request-index.js';
import { ICEPHONE_VERSION } from '../version.js';
import { checkSrtpOffer } from '../media/srtp-negotiation.js';
import { notifyIsFinal, sipfragStatus, TRANSFER_FINAL_TIMEOUT_MS, type TransferOutcome } from './refer.js';
import { DTMF_CONTENT_TYPE, DTMF_RELAY_CONTENT_TYPE, formatDtmfRelayBody, parseDtmfInfoBody } from '../rtp/dtmf-info-body.js';
import { IncomingPreconditions, OutgoingPreconditions } from './precondition-call.js';
import type { PreconditionPolicy } from './preconditions-flow.js';
import { DialogExtensions, type IncomingEarlyInfo, type IncomingUpdate } from './sipjs/update.js';
import { DigestServer, type DigestServerOptions, type DigestServerStats } from './digest-server.js';
import { installRequestGate, type GateDecision } from './sipjs/request-gate.js';
import { sendRelayedRegister, type RelayedRegisterResponse } from './sipjs/register-relay.js';
import { disableDigestRetry } from './sipjs/no-digest-retry.js';
export type { RelayedRegisterResponse } from './sipjs/register-relay.js';
import { sipJsTransportOptions, type SipJsTransportOptions, type SipTraceFn, type SipTransport } from './transport.js';
import type { SipTlsOptions } from '../net/tcp-framing.js';

export type SipTransportProtocol = 'udp' | 'tcp' | 'tls';

export interface PhoneOptions {
  /** Local SIP address to bind; port 0 picks one. */
  listen: { address: string; port: number };
  /** SIP transport (default udp). `tls` (RFC 3261 §26) also lets SDES keys go in our SDP (RFC 4568 §8.3). */
  transport?: SipTransportProtocol;
  /**
   * TLS: our certificate and key (PEM; needed to accept connections, presented to servers that ask
   * for one), trust anchors (default Node's CAs), `verify: false` to skip the server's chain and
   * identity check (RFC 5922 §7).
   */
  tls?: SipTlsOptions;
  /** User part of our own URI (and, for answering, the only user accepted when `restrictUser`). */
  user?: string;
  displayName?: string;
  /**
   * Answer only INVITEs whose Request-URI user is `user` (404 otherwise, the same for every other
   * user). Other methods get the same answer whatever the user, so nothing tells which user exists.
   * Default: any user, like SIPp's UAS.
   */
  restrictUser?: boolean;
  /**
   * Calls in progress at once (early, never-ACKed and established, both directions); a new INVITE
   * beyond it gets 503 with Retry-After (lib/sip/admission.ts). Default: no limit.
   */
  maxCallsInProgress?: number;
  /** `Retry-After` of those 503s and of the ones sent while draining, in seconds (default 5). */
  retryAfterSec?: number;
  media?: MediaOptions;
  /** Called with every SIP message sent or received (`--trace`). */
  trace?: SipTraceFn;
  /** Address-of-record to REGISTER (RFC 3261 §10): becomes our identity (From) as well. */
  register?: string;
  /** Registrar URI (default: the AOR's domain, `sip:DOMAIN`). */
  registrar?: string;
  /** Outbound proxy URI: every request is sent through it (a preloaded Route, RFC 3261 §8.1.2). */
  outboundProxy?: string;
  /** Registration lifetime asked for, seconds (default 300; sip.js refreshes before expiry). */
  registerExpires?: number;
  /** User-Agent header value (RFC 3261 §20.41); default `icephone/VERSION`. */
  userAgent?: string;
  /** When to refresh, percent of the lifetime the registrar granted (default 90). */
  registerRefreshPercent?: number;
  /**
   * Digest authentication of incoming requests (RFC 3261 §22.4, RFC 7616 qop=auth, RFC 8760 SHA-256
   * and MD5 challenges; ./digest-server.ts): every out-of-dialog request but ACK and CANCEL, whatever
   * its Request-URI user, gets a 401 until it carries valid credentials; failed attempts are counted
   * per source address and the attempt that makes `maxFailures` of them (default 5 in 60 s) gets 403,
   * later requests from that source no answer for `blockMs` (default 60 s). Counters in
   * `phone.authStats`, decisions as `auth` events.
   * @throws RangeError (from `Phone.start`) for an empty username or password, a quote in the realm
   * or an unknown algorithm.
   */
  auth?: DigestServerOptions;
  /** Digest credentials for a registrar or proxy that challenges (RFC 3261 §22). */
  authUser?: string;
  authPassword?: string;
  /**
   * Answer 401/407 challenges to our requests with `authUser`/`authPassword` (default true, RFC 3261
   * §22.2-22.3). false: a challenge is final (an outgoing call ends with that status and
   * `Call.challenge`), nobody's credentials are sent; the PBX gateway's PBX side, which passes the
   * challenge on to the endpoint (./sipjs/no-digest-retry.ts).
   */
  answerChallenges?: boolean;
  /**
   * Connectivity preconditions (RFC 3312/4032 with RFC 5898 `conn`; draft-rosenberg-sipping-ice-01 §8):
   * `none` (default: a UA without the extension, 420 to `Require: precondition`), `optional`
   * (used when the peer supports them, a normal call otherwise), `mandatory` (no call without them;
   * 580 when ICE cannot connect).
   */
  preconditions?: PreconditionPolicy;
  /**
   * Out-of-dialog REGISTER requests go here instead of the default 405 (the PBX gateway's
   * registration relay, lib/gateway/): the callee answers each exactly once with `respond`.
   */
  onRegister?: (request: IncomingRegister) => void;
  /**
   * Where a request this phone sends really goes: called with the transport address its
   * Route/Request-URI resolved to; a result replaces it (the gateway sends requests for a
   * registered Contact over the endpoint's flow, RFC 5626 §5.3). Default: the resolved address.
   */
  redirect?: (target: { address: string; port: number }) => { address: string; port: number } | undefined;
  clock?: Clock;
  log?: Logger;
}

/** An incoming out-of-dialog REGISTER (RFC 3261 §10.3), as `PhoneOptions.onRegister` sees it. */
export interface IncomingRegister {
  /** The Request-URI as received. */
  requestUri: string;
  /** To's URI (the AOR) and its user part. */
  aor: { uri: string; user: string | undefined; host: string };
  callId: string;
  cseq: number;
  /** Every value of a header (one string per header line; a line may hold several comma-separated values). */
  headers(name: string): string[];
  /** Where it came from: the source transport address (RFC 3581 received/rport) and the transport. */
  source: { address: string; port: number; protocol: SipTransportProtocol };
  /**
   * Sends the final response (`headers` as `Name: value` lines). Errors of sending are logged, not
   * thrown; a second call does nothing.
   */
  respond(statusCode: number, reasonPhrase: string, headers: string[]): void;
}

/** A REGISTER sent by `Phone.sendRegister` (a B2BUA's relayed registration). */
export interface OutgoingRegister {
  requestUri: string;
  /** The AOR (To and From). */
  aor: string;
  callId: string;
  cseq: number;
  fromTag: string;
  /** Route set, e.g. `['<sip:pbx.example:5060;lr>']`. */
  routeSet: string[];
  /** Contact, Expires, Authorization, … as `Name: value` lines. */
  headers: string[];
}

export type CallDirection = 'outgoing' | 'incoming';

/** What `--json` prints of one call (DESIGN.md contract). */
export interface CallSummary {
  call: {
    state: string; sipCallId: string; durationMs: number; alertedAfterConnected: boolean; direction: CallDirection; reason?: string;
    /** Hold periods (RFC 3264 §8.4): who held, from and to (ms after the answer; null: still held at the end). */
    holds: Array<{ by: 'local' | 'remote'; startMs: number; endMs: number | null }>;
    /** DTMF digits received and sent (RFC 4733 events or SIP INFO), in order. */
    dtmf: { received: string; sent: string };
    /**
     * ms from the call's start (outgoing: before our offer was gathered and the INVITE sent;
     * incoming: the INVITE's arrival) to the first RTP packet from the peer; null: none came.
     */
    firstMediaMs?: number | null;
    /** Trickle ICE (RFC 8840), when on: INFO requests sent and refused, fragments received applied or dropped as stale. */
    trickle?: { mode: 'half' | 'full'; infoSent: number; infoRefused: number; fragmentsSent: number; fragmentsApplied: number; fragmentsStale: number };
    /**
     * Transfer (RFC 3515): `out` when we referred the peer elsewhere (the target and the status the
     * peer reported), `in` when the peer referred us (the target and the Call-ID of the new call).
     */
    transfer?: { direction: 'out'; target: string; status: number | null; succeeded: boolean } | { direction: 'in'; target: string; accepted: boolean; newCallId?: string };
    /**
     * With `preconditions` optional/mandatory: `met` (the phone rang only once media could flow),
     * `not-used` (the peer does not do preconditions: a plain call), `failed`, or `pending`.
     */
    preconditions?: 'met' | 'not-used' | 'failed' | 'pending';
  };
  ice: MediaSummary['ice'];
  rtp: MediaSummary['rtp'];
  codec: string | null;
  /** The SRTP suite in use, or null for plain RTP (RFC 3711, keyed by SDES, RFC 4568). */
  srtp: { suite: string } | null;
  /** The SIP signalling: its transport (`tls`: RFC 3261 §26; the SDES keys went only over it). */
  sip: { transport: SipTransportProtocol };
  /** Bad input counted and dropped while the call lived (SIP: whole phone; media: this call's sockets). */
  dropped: { sipMalformed: number; mediaMalformed: number; stunUnauthorized: number; stunRateLimited: number; rtpMalformed: number; sdpLines: number; srtp: number; mediaFromStrangers: number; rtpUnconfirmed: number };
}

/**
 * How long `Phone.stop()` waits for the ACKs of 300-699 finals to INVITE still being retransmitted
 * (RFC 3261 §17.2.1 Timer G), ms: 16·T1 (T1 = 500 ms), i.e. five copies of each final.
 */
const FINAL_ACK_WAIT_MS = 16 * DEFAULT_TIMERS.T1;

/** Options of one outgoing call (`Phone.call`). */
export interface CallOptions {
  /** Extra header lines for the INVITE, `Name: value` each (e.g. `X-Account: 42`). */
  headers?: string[];
  /** Display name in From (RFC 3261 §20.20). */
  displayName?: string;
  /**
   * The From URI (RFC 3261 §8.1.1.3; default this phone's own URI), e.g. the PBX gateway placing a
   * registered softphone's call under its AOR. Not applied with preconditions.
   * @throws UsageError (from `call`) when it is not a SIP URI.
   */
  fromUri?: string;
  /** This call's media endpoints (audio source and sink, RTP tap, pass-through). */
  media?: MediaEndpoints;
  /**
   * Take the answer in a provisional response (183 with SDP, RFC 3960 early media) as the answer:
   * media starts before the 200. Only for a request that does not fork (sip.js ends the call when
   * the 200 comes from another dialog than the early media). Default false. Ignored with preconditions.
   */
  earlyMedia?: boolean;
}

/** Options of answering one incoming call (`Phone.answer`). */
export interface AnswerOptions {
  /**
   * What precedes the 200: 180 Ringing (default), 183 Session Progress with our answer (early
   * media, RFC 3960), or nothing. With connectivity preconditions the flow of draft Figure 2 applies instead.
   */
  provisional?: 180 | 183 | 'none';
  /** Extra header lines for the provisional and final responses, `Name: value` each. */
  headers?: string[];
  /** This call's media endpoints. */
  media?: MediaEndpoints;
}

/** Who is on the other end of a call (RFC 3261 §8.1.1: From/To, Call-ID) and what their INVITE said. */
export interface RemoteParty {
  /** The peer's URI: From of an incoming call, To of an outgoing one. */
  uri: string;
  /** Its display name, if any. */
  displayName?: string;
  callId: string;
  /** A header of the INVITE (incoming) or of the 2xx (outgoing), first value; undefined when absent. */
  header(name: string): string | undefined;
}

export interface CallEvents {
  /** SIP session state (sip.js SessionState names, lower case). */
  state: [string];
  /**
   * The remote party is being alerted (180/183 for outgoing; our own 180 for incoming). With
   * preconditions in use it fires only once they are met: after the confirming UPDATE exchange,
   * when media can flow both ways (never on the 183 that carries the answer).
   */
  alerting: [];
  /** The call was answered (200 OK). */
  established: [];
  /** Outgoing calls: a 101-199 provisional response arrived; `withSdp` when it carried a body (183 early media). */
  progress: [statusCode: number, withSdp: boolean];
  /** The call ended; the summary is final. */
  ended: [CallSummary];
  /** A DTMF digit from the peer (RFC 4733 event or SIP INFO), once per digit, with its duration in ms. */
  dtmf: [digit: string, durationMs: number];
  /** A hold began or ended (`by` local: we hold the peer; remote: the peer holds us). */
  hold: [by: 'local' | 'remote', held: boolean];
  /**
   * Media can no longer flow (ICE failed after connecting, consent lost: RFC 7675 §5.1); the Phone
   * ends the call with a BYE carrying `Reason` (./reason.ts). Emitted before that BYE is sent.
   */
  'media-failed': [reason: string];
  /** @internal The peer sent REFER (the Phone turns it into a 'transfer-request'). */
  'refer-received': [Referral];
}

/**
 * One call. Progress events from the media come through `media` once it exists
 * (`media-created` is emitted by the Phone when sip.js makes the MediaSession).
 */
export class Call extends TypedEmitter<CallEvents> {
  media?: MediaSession;
  private startedAt: number;
  private endedAt?: number;
  private answeredAt?: number;
  /** When the first RTP packet from the peer arrived. */
  private firstMediaAt?: number;
  private alertedAt?: number;
  private reason?: string;
  private finalState = 'new';
  private endResolve!: (s: CallSummary) => void;
  /** Resolves when the call has ended and its media is released. */
  readonly finished: Promise<CallSummary>;
  private currentSession: Session;
  /**
   * The status code of the final 3xx-6xx response that refused our INVITE (outgoing calls without
   * preconditions), e.g. 486; undefined otherwise. A gateway maps it to its other leg.
   */
  finalStatus?: number;
  /**
   * The challenge of a 401/407 that refused our INVITE and was not answered with credentials
   * (`PhoneOptions.answerChallenges: false`): its status and its `WWW-Authenticate` (401) or
   * `Proxy-Authenticate` (407) header lines, `Name: value` each (RFC 3261 §22.1-22.3).
   */
  challenge?: { statusCode: 401 | 407; headers: string[] };
  /** @internal Connectivity preconditions of this call (precondition-call.ts), when in use. */
  preconditions?: OutgoingPreconditions | IncomingPreconditions;

  constructor(
    session: Session,
    readonly direction: CallDirection,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly sipDropped: () => number = () => 0,
    private readonly sipTransport: SipTransportProtocol = 'udp',
  ) {
    super();
    this.startedAt = clock.now();
    this.finished = new Promise((r) => (this.endResolve = r));
    this.currentSession = session;
    this.listen(session);
  }

  /** The sip.js session (a later INVITE replaces it when a call is retried without preconditions). */
  get session(): Session {
    return this.currentSession;
  }

  /**
   * RFC 6086 INFO. With an Info-Package header: `trickle-ice` (RFC 8840 §4.3) while trickle ICE is
   * on goes to the media session (200; 415 for another body type, 400 for a body that is no sdpfrag);
   * any other package, or trickle-ice while trickle is off, gets 469 Bad Info Package with the
   * Recv-Info we accept (RFC 6086 §4.2.2). Without one (legacy INFO): DTMF bodies become 'dtmf'
   * events; anything else is refused (415), a bad body 400.
   */
  private onInfo(info: { request: { body?: string; getHeader(n: string): string | undefined }; accept(): Promise<void>; reject(o?: { statusCode?: number; extraHeaders?: string[] }): Promise<void> }): void {
    const type = (info.request.getHeader('Content-Type') ?? '').split(';')[0]!.trim().toLowerCase();
    const infoPackage = info.request.getHeader('Info-Package');
    if (infoPackage !== undefined) {
      this.onPackageInfo(info, infoPackage.split(';')[0]!.trim().toLowerCase(), type);
      return;
    }
    if (type !== DTMF_RELAY_CONTENT_TYPE && type !== DTMF_CONTENT_TYPE) {
      void info.reject({ statusCode: 415, extraHeaders: [`Accept: ${DTMF_RELAY_CONTENT_TYPE}, ${DTMF_CONTENT_TYPE}`] }).catch(() => undefined);
      return;
    }
    let parsed: { digit: string; durationMs: number };
    try {
      parsed = parseDtmfInfoBody(type, info.request.body ?? '');
    } catch (e) {
      this.log.warn(`INFO with a bad DTMF body: ${errorMessage(e)}`);
      void info.reject({ statusCode: 400, extraHeaders: [warningHeader('bad DTMF body')] }).catch(() => undefined);
      return;
    }
    void info.accept().catch(() => undefined);
    this.media?.infoDtmf(parsed.digit, parsed.durationMs);
  }

  private onPackageInfo(info: Parameters<Call['onInfo']>[0], infoPackage: string, type: string): void {
    const media = this.media;
    const trickleOn = media !== undefined && media.trickleMode !== 'off';
    if (infoPackage !== TRICKLE_INFO_PACKAGE || !trickleOn) {
      this.log.info(`INFO of Info Package '${infoPackage}' refused (469)`);
      void info.reject({ statusCode: 469, extraHeaders: [recvInfoHeaderLine(trickleOn ? [TRICKLE_INFO_PACKAGE] : [])] }).catch(() => undefined);
      return;
    }
    if (type !== TRICKLE_SDPFRAG_CONTENT_TYPE) {
      void info.reject({ statusCode: 415, extraHeaders: [`Accept: ${TRICKLE_SDPFRAG_CONTENT_TYPE}`] }).catch(() => undefined);
      return;
    }
    try {
      const outcome = media.applyTrickleFragment(info.request.body ?? '');
      this.log.debug(`trickle INFO: ${outcome}`);
    } catch (e) {
      this.log.warn(`trickle INFO with a bad body: ${errorMessage(e)}`);
      void info.reject({ statusCode: 400, extraHeaders: [warningHeader('bad trickle-ice sdpfrag')] }).catch(() => undefined);
      return;
    }
    void info.accept().catch(() => undefined);
  }

  /**
   * @internal An INFO in one of this call's early dialogs (sipjs/update.ts takes those from sip.js,
   * which drops them): answered like one in the confirmed dialog. The Phone passes only those of a
   * dialog a reliable provisional established (RFC 8840 §4.3).
   */
  earlyInfo(info: IncomingEarlyInfo): void {
    this.onInfo(info);
  }

  /** The early dialog trickle INFOs may go on before the 2xx (RFC 8840 §4.3), once `earlyDialogReady` named it. */
  private earlyTrickleDialog?: Core.SessionDialog;

  /**
   * @internal The early dialog may carry our trickle INFOs now (RFC 8840 §4.3): the callee has its
   * reliable 183 with the answer PRACKed, the caller has received that 183. Queued fragments go out.
   */
  earlyDialogReady(dialog: Core.SessionDialog): void {
    if (this.earlyTrickleDialog) return;
    this.earlyTrickleDialog = dialog;
    this.pumpTrickle();
  }

  /** Trickle fragments waiting for their INFO (RFC 8840 §4.3), oldest first; one INFO in flight at a time. */
  private readonly trickleQueue: string[] = [];
  private trickleInFlight = false;
  /** Trickle INFO requests sent, and those answered with a non-2xx (or not at all). */
  readonly trickleInfo = { sent: 0, refused: 0 };

  /**
   * Sends the queued trickle fragments as INFO requests of the trickle-ice Info Package (RFC 8840
   * §4.3, RFC 6086 §4.1): one at a time, so their CSeq order is the order the candidates were found;
   * before the 2xx on the early dialog `earlyDialogReady` named (through sipjs/update.ts: sip.js
   * 0.21.2 sends INFO in confirmed dialogs only), else held until the dialog is confirmed; dropped
   * when the call ends.
   */
  private pumpTrickle(body?: string): void {
    if (body !== undefined) this.trickleQueue.push(body);
    const s = this.currentSession;
    if (s.state === SessionState.Terminating || s.state === SessionState.Terminated) {
      this.trickleQueue.length = 0;
      return;
    }
    if (this.trickleInFlight || this.trickleQueue.length === 0) return;
    const early = s.state !== SessionState.Established ? this.earlyTrickleDialog : undefined;
    if (s.state !== SessionState.Established && (!early || !this.dialogExtensions || early.signalingState === 'Closed')) return;
    const content = this.trickleQueue.shift()!;
    this.trickleInFlight = true;
    this.trickleInfo.sent++;
    const done = (refusal?: string) => {
      if (refusal !== undefined) {
        this.trickleInfo.refused++;
        this.log.warn(`trickle INFO: ${refusal}`);
      }
      this.trickleInFlight = false;
      this.pumpTrickle();
    };
    if (early) {
      void this.dialogExtensions!.sendInfo(early, {
        extraHeaders: [`Info-Package: ${TRICKLE_INFO_PACKAGE}`],
        body: { contentDisposition: 'Info-Package', contentType: TRICKLE_SDPFRAG_CONTENT_TYPE, content },
      }).then(
        (o) => done(o.statusCode >= 200 && o.statusCode < 300 ? undefined : `${o.statusCode} ${o.reasonPhrase} (early dialog)`),
        (e) => done(errorMessage(e)),
      );
      return;
    }
    void s.info({
      requestOptions: {
        extraHeaders: [`Info-Package: ${TRICKLE_INFO_PACKAGE}`],
        body: { contentDisposition: 'Info-Package', contentType: TRICKLE_SDPFRAG_CONTENT_TYPE, content },
      },
      requestDelegate: {
        onAccept: () => done(),
        onReject: (r) => done(`${r.message.statusCode} ${r.message.reasonPhrase}`),
      },
    }).catch((e) => done(errorMessage(e)));
  }

  /** @internal What the summary says of a transfer. */
  transferRecord?: CallSummary['call']['transfer'];

  /**
   * Blind transfer (RFC 3515, RFC 5589 §6): REFER with `Refer-To: target`; follows the NOTIFYs
   * (message/sipfrag) until the peer reports its INVITE to the target final, and on success hangs
   * up this call. Resolves with the outcome (also in the summary's `call.transfer`).
   * @throws StateError when the call is not established; UsageError for a target that is not a SIP URI.
   */
  async transfer(target: string): Promise<TransferOutcome> {
    const s = this.currentSession;
    if (s.state !== SessionState.Established) throw new StateError('transfer needs an established call');
    const uri = UserAgent.makeURI(target);
    if (!uri || !/^sips?:/i.test(target)) throw new UsageError(`not a SIP URI: '${target}'`);
    const outcome: TransferOutcome = { target, referStatus: 0, succeeded: false };
    this.transferRecord = { direction: 'out', target, status: null, succeeded: false };
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      const done = () => { if (!settled) { settled = true; resolve(); } };
      // No final NOTIFY within 64*T1 after the REFER: the transfer is given up (the call stays up).
      const timer = this.clock.setTimer(TRANSFER_FINAL_TIMEOUT_MS, () => {
        this.log.warn(`transfer to ${target}: no final NOTIFY within ${TRANSFER_FINAL_TIMEOUT_MS} ms`);
        done();
      });
      void this.finished.then(() => { this.clock.clearTimer(timer); done(); });
      void s.refer(uri, {
        requestDelegate: {
          onAccept: (r) => { outcome.referStatus = r.message.statusCode ?? 202; },
          onReject: (r) => {
            outcome.referStatus = r.message.statusCode ?? 0;
            settled = true;
            reject(new Error(`REFER to ${target} refused: ${r.message.statusCode} ${r.message.reasonPhrase}`));
          },
        },
        onNotify: (notification) => {
          let status: number | undefined;
          try {
            status = sipfragStatus(notification.request.body ?? '');
          } catch (e) {
            this.log.warn(`transfer NOTIFY: ${errorMessage(e)}`);
            void notification.reject({ statusCode: 400 }).catch(() => undefined);
            return;
          }
          void notification.accept().catch(() => undefined);
          outcome.finalStatus = status;
          this.transferRecord = { direction: 'out', target, status, succeeded: status >= 200 && status < 300 };
          this.log.info(`transfer to ${target}: the peer reports ${status}`);
          if (notifyIsFinal(notification.request.getHeader('Subscription-State'), status)) {
            outcome.succeeded = status >= 200 && status < 300;
            this.clock.clearTimer(timer);
            done();
          }
        },
      }).catch((e) => { if (!settled) { settled = true; reject(e); } });
    });
    // RFC 5589 §6: the transferor ends its call once the transfer succeeded.
    if (outcome.succeeded) await this.hangup();
    return outcome;
  }

  private listen(session: Session): void {
    // A re-INVITE refused by the media's re-offer handler gets that status, not sip.js's 488.
    useReinviteRefusalStatus(session, () => (session === this.currentSession ? this.media?.takeRefusalStatus() : undefined));
    const previous = session.delegate;
    session.delegate = {
      ...session.delegate,
      onInfo: (info) => this.onInfo(info as never),
      // The ACK for our 2xx proves the caller is where our answer's media goes (issue 13: no RTP
      // flood toward the c= line of a forged INVITE): RTP limited until then flows in full.
      onAck: (ack) => {
        this.media?.confirmPeer('ACK');
        return previous?.onAck?.(ack);
      },
      // Never sip.js's default (accept and follow into a leg nobody tracks): the Phone decides.
      onRefer: (referral) => this.safeEmit('refer-received', referral),
      // In-dialog MESSAGE: refused as outside a dialog (sip.js would answer 200 and drop it).
      onMessage: (message) => void message.reject({ statusCode: 405, extraHeaders: [allowHeaderLine()] }).catch(() => undefined),
    };
    session.stateChange.addListener((s) => {
      if (session !== this.currentSession) return;
      // Trickle fragments held for the confirmed dialog (or dropped with the call).
      if (s === SessionState.Established || s === SessionState.Terminated) this.pumpTrickle();
      // Terminated is reported after the same tick, so a retry can still take the call over.
      if (s === SessionState.Terminated) void Promise.resolve().then(() => session === this.currentSession && this.onState(s));
      else this.onState(s);
    });
  }

  /** @internal A new INVITE carries on this call (retry without preconditions after 420, RFC 3261 §8.1.3.5). */
  replaceSession(session: Session): void {
    this.currentSession = session;
    this.media = undefined;
    this.listen(session);
  }

  /**
   * ICE restart on the live call (RFC 8445 §9, RFC 8839 §4.4.1.1.1): a re-INVITE whose offer has a
   * new ufrag and password; the peer answers with new ones, checks run again, media stays on the
   * old pair until a new one is selected.
   * @throws StateError when the call is not established or does not use a=candidate ICE.
   */
  async restartIce(): Promise<void> {
    const s = this.currentSession;
    if (s.state !== SessionState.Established || !this.media) throw new StateError('ICE restart needs an established call');
    this.media.requestIceRestart();
    await this.reinvite('the ICE restart');
  }

  /**
   * Puts the peer on hold (RFC 3264 §8.4, RFC 6337 §5.1): a re-INVITE whose offer says sendonly
   * (inactive when the peer holds us too). The peer answers recvonly (or inactive) and stops sending;
   * we send no audio while holding; RTCP goes on. Resolves once the re-INVITE is answered.
   * @throws StateError when the call is not established; RequestRefusedError (with its `statusCode`) when the peer rejects the re-INVITE
   * (the hold is then not in place).
   */
  async hold(): Promise<void> {
    await this.changeHold(true);
  }

  /** Ends our hold: a re-INVITE with sendrecv (recvonly while the peer holds us). Throws as `hold()`. */
  async unhold(): Promise<void> {
    await this.changeHold(false);
  }

  /** @internal The Phone's UPDATE sender (set when the call is tracked). */
  dialogExtensions?: DialogExtensions;

  /**
   * Hold (`on`) or resume with the method named, sent once (no RFC 3261 §14.1 retry after 491: a
   * B2BUA passes the 491 back to the leg that asked, RFC 7092 §3.2): `INVITE` as `hold()`/`unhold()`,
   * `UPDATE` an RFC 3311 offer in the confirmed dialog. Resolves once the offer is answered.
   * @throws StateError when the call is not established or an offer/answer exchange is in progress;
   * RequestRefusedError (its `statusCode`, e.g. 491 or 488) when the peer refuses.
   */
  async changeHoldVia(on: boolean, method: 'INVITE' | 'UPDATE'): Promise<void> {
    const media = this.media;
    if (this.currentSession.state !== SessionState.Established || !media) throw new StateError(`${on ? 'hold' : 'resume'} needs an established call`);
    if (media.offerAnswerState !== 'stable') throw new StateError(`${on ? 'hold' : 'resume'}: an offer/answer exchange is in progress`);
    if (method === 'INVITE') {
      await this.changeHold(on);
      return;
    }
    const dialog = sessionDialogOf(this.currentSession);
    if (!dialog || !this.dialogExtensions) throw new StateError('UPDATE needs a dialog');
    media.setLocalHold(on);
    try {
      const outcome = await this.dialogExtensions.sendUpdate(dialog, {
        maxGlareRetries: 0,
        body: async () => ({ contentType: 'application/sdp', content: await media.createUpdateOffer() }),
      });
      if (!outcome.answer) {
        media.abandonUpdateOffer();
        throw new RequestRefusedError(`UPDATE for ${on ? 'hold' : 'resume'} failed: ${outcome.statusCode} ${outcome.reasonPhrase}`, outcome.statusCode);
      }
      await media.applyUpdateAnswer(outcome.answer.content);
    } catch (e) {
      // Rolled back: the hold asked for is withdrawn with the offer (MediaSession#rollback).
      media.abandonUpdateOffer();
      throw e;
    }
  }

  /** Digits sent by SIP INFO (no telephone-event negotiated). */
  private infoDtmfSent = '';
  /** Endpoints given before the media session existed (applied when it is made). */
  private pendingEndpoints?: MediaEndpoints;

  /**
   * Connects this call's media (audio source and sink, RTP tap, pass-through): now, or as soon as
   * the media session exists. Per call, replacing the phone-wide `media.play`/`media.record`.
   */
  useMedia(endpoints: MediaEndpoints): void {
    if (this.media) void this.media.useEndpoints(endpoints).catch((e) => this.log.warn(`media endpoints: ${errorMessage(e)}`));
    else this.pendingEndpoints = { ...this.pendingEndpoints, ...endpoints };
  }

  /** @internal The Phone made this call's media session. */
  attachMedia(m: MediaSession): void {
    this.media = m;
    if (this.pendingEndpoints) void m.useEndpoints(this.pendingEndpoints).catch((e) => this.log.warn(`media endpoints: ${errorMessage(e)}`));
    m.on('dtmf', (digit, durationMs) => this.safeEmit('dtmf', digit, durationMs));
    m.on('hold', (by, held) => this.safeEmit('hold', by, held));
    m.on('trickle', (body) => this.pumpTrickle(body));
    m.on('media-received', () => { this.firstMediaAt ??= this.clock.now(); });
  }

  /** @internal The Phone is ending this call because its media failed. */
  mediaFailed(reason: string): void {
    this.safeEmit('media-failed', reason);
  }

  /**
   * Sends DTMF: RFC 4733 telephone-events on the RTP stream when the peer agreed to them, else one
   * SIP INFO per digit with `application/dtmf-relay` (the de-facto body, `Signal=`/`Duration=`).
   * @param digits 0-9, *, #, A-D
   * @param options durationMs per digit (default 100, 40..60000)
   * @throws StateError when the call is not established; RangeError for a bad digit or duration.
   */
  async sendDtmf(digits: string, options: { durationMs?: number } = {}): Promise<void> {
    const s = this.currentSession;
    if (s.state !== SessionState.Established || !this.media) throw new StateError('DTMF needs an established call');
    if (!/^[0-9*#A-Da-d]+$/.test(digits)) throw new RangeError(`not DTMF digits: ${JSON.stringify(digits)}`);
    const durationMs = options.durationMs ?? 100;
    if (!(durationMs >= 40 && durationMs <= 60000)) throw new RangeError(`DTMF duration ${durationMs} ms not in 40..60000`);
    if (this.media.sendDtmf(digits, { durationMs })) return;
    for (const digit of digits.toUpperCase()) {
      await new Promise<void>((resolve, reject) => {
        void s.info({
          requestOptions: { body: { contentDisposition: 'render', contentType: DTMF_RELAY_CONTENT_TYPE, content: formatDtmfRelayBody({ digit, durationMs }) } },
          requestDelegate: { onAccept: () => resolve(), onReject: (r) => reject(new Error(`INFO for DTMF ${digit} failed: ${r.message.statusCode} ${r.message.reasonPhrase}`)) },
        }).catch(reject);
      });
      this.infoDtmfSent += digit;
    }
  }

  /** The peer: URI, display name, Call-ID and headers of its INVITE (incoming) or 2xx (outgoing). */
  get remote(): RemoteParty {
    const s = this.session;
    const identity = s.remoteIdentity;
    const request = s instanceof Invitation ? s.request : undefined;
    return {
      uri: identity.uri.toString(),
      displayName: identity.displayName || undefined,
      callId: this.callId,
      header: (name: string) => request?.getHeader(name) ?? this.lastResponseHeaders?.(name),
    };
  }

  /** @internal Headers of the 2xx to our INVITE (outgoing calls). */
  lastResponseHeaders?: (name: string) => string | undefined;

  /** Whether we hold the peer and whether the peer holds us (after the last offer/answer). */
  get holdState(): { local: boolean; remote: boolean } {
    return this.media?.holdState ?? { local: false, remote: false };
  }

  /**
   * Hold or resume: a re-INVITE in a confirmed dialog (RFC 3264 §8.4); in an early dialog (a call
   * with preconditions, whose reliable 183 completed the initial exchange, still ringing) an UPDATE
   * (RFC 3311 §5.1).
   */
  private async changeHold(on: boolean): Promise<void> {
    const s = this.currentSession;
    const what = on ? 'hold' : 'resume';
    const early = s.state === SessionState.Establishing && this.preconditions !== undefined;
    if ((s.state !== SessionState.Established && !early) || !this.media) throw new StateError(`${what} needs an established call (or an early dialog with media)`);
    const media = this.media;
    media.setLocalHold(on);
    try {
      if (early) await this.preconditions!.offerInEarlyDialog(what);
      else await this.reinvite(what);
    } catch (e) {
      media.setLocalHold(!on);
      throw e;
    }
  }

  /** Sends a re-INVITE through sip.js (its offer comes from the media session). */
  private reinvite(what: string): Promise<void> {
    const s = this.currentSession;
    return new Promise<void>((resolve, reject) => {
      void s
        .invite({
          requestDelegate: {
            onAccept: () => resolve(),
            onReject: (r) => reject(new RequestRefusedError(`re-INVITE for ${what} failed: ${r.message.statusCode} ${r.message.reasonPhrase}`, r.message.statusCode ?? 500)),
          },
        })
        .catch(reject);
    });
  }

  get callId(): string {
    return sessionCallId(this.session);
  }

  /** The Request-URI of an incoming call's INVITE (RFC 3261 §8.1.1.1), e.g. `sip:alice@gw`; undefined for an outgoing call. */
  get requestUri(): { user?: string; host: string; uri: string } | undefined {
    const s = this.session;
    if (!(s instanceof Invitation)) return undefined;
    const r = s.request.ruri;
    if (!r) return undefined;
    return { ...(r.user ? { user: r.user } : {}), host: r.host, uri: r.toString() };
  }

  /**
   * Ends the call: CANCEL before an answer, BYE after, reject for an unanswered incoming call.
   * `headers`: extra header lines for the BYE (e.g. a `Reason`, RFC 3326), `Name: value` each.
   * @throws UsageError for a header that is not one `Name: value` line.
   */
  async hangup(options: { headers?: string[] } = {}): Promise<void> {
    for (const h of options.headers ?? []) checkHeaderLine(h);
    const s = this.session;
    try {
      if (s.state === SessionState.Established) await s.bye(options.headers?.length ? { requestOptions: { extraHeaders: [...options.headers] } } : undefined);
      else if (s instanceof Inviter && (s.state === SessionState.Establishing || s.state === SessionState.Initial)) {
        await s.cancel();
        // RFC 3261 §9.1: with no final response to the INVITE 64*T1 after the CANCEL, the client
        // considers the INVITE transaction ended (the call is ended locally).
        const timer = this.clock.setTimer(64 * 500, () => this.forceEnd('no final response to the INVITE 32 s after CANCEL (RFC 3261 §9.1)'));
        void this.finished.then(() => this.clock.clearTimer(timer));
      }
      else if (s instanceof Invitation && s.state !== SessionState.Terminated && s.state !== SessionState.Terminating) await s.reject();
    } catch (e) {
      this.log.warn(`hangup: ${errorMessage(e)}`);
    }
  }

  /** @internal A provisional response to our INVITE. */
  progressed(statusCode: number, withSdp: boolean): void {
    this.safeEmit('progress', statusCode, withSdp);
  }

  /** @internal */
  markAlerting(): void {
    if (this.alertedAt !== undefined) return;
    this.alertedAt = this.clock.now();
    this.safeEmit('alerting');
  }

  /** @internal */
  setReason(reason: string): void {
    this.reason ??= reason;
  }

  summary(): CallSummary {
    const m = this.media?.summary();
    const connectedAt = this.media?.connectedAtMs;
    // True only when the user was alerted after media could flow (RFC 3312 preconditions met first).
    // With connectivity preconditions met, the peer's STUN checks may be what verified the path (e2e
    // status, RFC 5898): alerting waited for connectivity even if our own agent concluded later.
    const alertedAfterConnected = this.alertedAt !== undefined
      && ((connectedAt !== undefined && this.alertedAt >= connectedAt) || this.preconditions?.outcome === 'met');
    return {
      call: {
        state: this.finalState,
        sipCallId: this.callId,
        durationMs: Math.round((this.endedAt ?? this.clock.now()) - (this.answeredAt ?? this.startedAt)),
        alertedAfterConnected,
        direction: this.direction,
        ...(this.reason ? { reason: this.reason } : {}),
        ...(this.preconditions ? { preconditions: this.preconditions.outcome } : {}),
        // RFC 3264 §8.4 hold periods, ms from the answer (or the call's start).
        dtmf: { received: this.media?.dtmfReceived ?? '', sent: (this.media?.dtmfSent ?? '') + this.infoDtmfSent },
        firstMediaMs: this.firstMediaAt !== undefined ? Math.round(this.firstMediaAt - this.startedAt) : null,
        ...(this.media && this.media.trickleMode !== 'off' ? {
          trickle: {
            mode: this.media.trickleMode, infoSent: this.trickleInfo.sent, infoRefused: this.trickleInfo.refused,
            fragmentsSent: this.media.trickleStats.fragmentsSent, fragmentsApplied: this.media.trickleStats.fragmentsApplied, fragmentsStale: this.media.trickleStats.fragmentsStale,
          },
        } : {}),
        ...(this.transferRecord ? { transfer: this.transferRecord } : {}),
        holds: (this.media?.holdPeriods ?? []).map((h) => ({
          by: h.by,
          startMs: Math.round(h.startMs - (this.answeredAt ?? this.startedAt)),
          endMs: h.endMs === undefined ? null : Math.round(h.endMs - (this.answeredAt ?? this.startedAt)),
        })),
      },
      ice: m?.ice ?? {
        state: 'failed', role: this.direction === 'outgoing' ? 'controlling' : 'controlled', format: 'none',
        localCandidates: [], remoteCandidates: [], selectedPair: null, connectedMs: null,
      },
      rtp: m?.rtp ?? { packetsSent: 0, packetsReceived: 0, packetsLost: 0, jitterMs: 0, rtcpSent: 0, rtcpReceived: 0 },
      codec: m?.codec ?? null,
      srtp: m?.srtp ?? null,
      sip: { transport: this.sipTransport },
      dropped: {
        sipMalformed: this.sipDropped(),
        mediaMalformed: m?.dropped.mediaMalformed ?? 0,
        stunUnauthorized: m?.dropped.stunUnauthorized ?? 0,
        stunRateLimited: m?.dropped.stunRateLimited ?? 0,
        rtpMalformed: m?.dropped.rtpMalformed ?? 0,
        srtp: m?.dropped.srtp ?? 0,
        mediaFromStrangers: m?.dropped.mediaFromStrangers ?? 0,
        rtpUnconfirmed: m?.dropped.rtpUnconfirmed ?? 0,
        sdpLines: m?.malformedSdpLines ?? 0,
      },
    };
  }

  private onState(s: SessionState): void {
    this.finalState = s.toLowerCase();
    this.safeEmit('state', this.finalState);
    if (s === SessionState.Established) {
      this.answeredAt = this.clock.now();
      // A 180 lost on UDP and overtaken by the 200 (the callee answered at once): with connectivity
      // preconditions met the callee alerted, and only after they were met (RFC 3312 §5), so the
      // caller's alerting indication is the answer itself.
      if (this.direction === 'outgoing' && this.alertedAt === undefined && this.preconditions?.outcome === 'met') this.markAlerting();
      this.safeEmit('established');
    }
    if (s === SessionState.Terminated) this.end();
  }

  private ending = false;

  /** Final summary, media released, 'ended' emitted, `finished` resolved; once. */
  private end(reason?: string): void {
    if (this.ending) return;
    this.ending = true;
    if (reason) this.setReason(reason);
    this.preconditions?.dispose();
    this.endedAt = this.clock.now();
    const summary = this.summary();
    summary.call.state = this.answeredAt !== undefined ? 'ended' : 'failed';
    void (async () => {
      await this.media?.closeAndWait();
      this.safeEmit('ended', summary);
      this.endResolve(summary);
    })();
  }

  /**
   * Ends the call locally without waiting for the peer (shutdown when the BYE cannot be
   * delivered, e.g. to a Contact behind a NAT): the summary is reported, media released.
   * @internal
   */
  forceEnd(reason: string): void {
    if (this.ending) return;
    void this.session.dispose().catch(() => undefined);
    this.end(reason);
  }
}

/** @throws UsageError unless `line` is one `Name: value` header line (RFC 3261 §7.3.1). */
function checkHeaderLine(line: string): void {
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[^\r\n]*$/.test(line)) throw new UsageError(`not one header line: ${JSON.stringify(line)}`);
}

export interface PhoneEvents {
  /** An incoming call arrived (before it is answered). */
  incoming: [Call];
  /** A call was placed with `call()` (before any answer). */
  outgoing: [Call];
  /** An INVITE was refused before becoming a call (488: unusable offer). */
  rejected: [callId: string, reason: string];
  /** A call (either direction) got its MediaSession. */
  'media-created': [Call, MediaSession];
  /**
   * The peer of `call` asks us to call `target` (REFER, RFC 3515). `accept()` answers 202 and places
   * the new call (tracked like any other, returned); `reject()` answers 603 Decline (default). Without
   * a listener the request is declined.
   */
  'transfer-request': [request: TransferRequest];
  /**
   * Registration (RFC 3261 §10) changed: `registered` (first 2xx; it happens inside `Phone.start()`,
   * so check `phone.registered` after it), `refreshed` (a later REGISTER's
   * 2xx), `failed` (a REGISTER, first or refresh, was refused or got no answer; `detail` says how),
   * `unregistered` (after `unregister()`).
   */
  registration: [state: 'registered' | 'refreshed' | 'failed' | 'unregistered', detail: string];
  /**
   * With `auth`: one out-of-dialog request was accepted, challenged (401; `failure` when it carried
   * wrong credentials) or refused by the rate limit (403 when `newlyBlocked`, else dropped unanswered).
   */
  auth: [decision: GateDecision];
}

/** An incoming REFER, as the application sees it. */
export interface TransferRequest {
  /** The call the REFER arrived on. */
  call: Call;
  /** The Refer-To URI. */
  target: string;
  /** The Referred-By header, if any. */
  referredBy?: string;
  /** Answers 202 and calls `target` (INVITE; NOTIFYs report its progress to the transferor). */
  accept(options?: CallOptions): Promise<Call>;
  /** Answers `statusCode` (default 603 Decline). */
  reject(statusCode?: number): Promise<void>;
}

/**
 * Every `name` header line of a raw SIP message's head (RFC 3261 §7.3.1: case-insensitive name,
 * folded continuation lines joined), as `Name: value` lines with the name as given.
 */
function challengeLines(raw: string, name: string): string[] {
  const head = raw.split(/\r?\n\r?\n/, 1)[0]!.replace(/\r?\n[ \t]+/g, ' ');
  const out: string[] = [];
  for (const line of head.split(/\r?\n/)) {
    const m = /^([^:\s]+)\s*:\s*(.*)$/.exec(line);
    if (m && m[1]!.toLowerCase() === name.toLowerCase() && m[2]!.trim()) out.push(`${name}: ${m[2]!.trim()}`);
  }
  return out;
}

/** A SIP URI host for an IP literal: canonical (base/address.ts), IPv6 in brackets (RFC 3261 §19.1.1). */
function uriHost(address: string): string {
  const a = normalizeAddress(address);
  return a.includes(':') ? `[${a}]` : a;
}

/**
 * A SIP phone. `Phone.start()` binds the transport; `call(uri)` places a call; incoming
 * calls are emitted as 'incoming' and answered with `answer(call)`.
 */
export class Phone extends TypedEmitter<PhoneEvents> {
  readonly ua: UserAgent;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly calls = new Set<Call>();
  private readonly callBySession = new WeakMap<Session, Call>();
  /** UPDATE (RFC 3311) and PRACK handling added to sip.js's core (sipjs/update.ts). */
  readonly dialogExtensions: DialogExtensions;
  /** In-dialog UPDATEs find their call by dialog id (early and confirmed dialogs share it). */
  private readonly callByDialog = new Map<string, Call>();
  private readonly preconditionPolicy: PreconditionPolicy;

  private constructor(private readonly opts: PhoneOptions, transportOpts: SipJsTransportOptions) {
    super();
    // Everything icephone changes in sip.js, applied when a Phone is made, never on import.
    installSipJsAdapter();
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log ?? silentLogger;
    this.preconditionPolicy = opts.preconditions ?? 'none';
    const host = uriHost(opts.listen.address);
    const aor = opts.register ? UserAgent.makeURI(opts.register) : undefined;
    if (opts.register && !aor) throw new UsageError(`--register: not a SIP URI: '${opts.register}'`);
    const user = opts.user ?? aor?.user ?? 'icephone';
    const uri = aor ?? UserAgent.makeURI(`sip:${user}@${host}`);
    if (!uri) throw new UsageError(`cannot make a SIP URI from user '${user}' and host '${opts.listen.address}'`);
    if (opts.outboundProxy && !UserAgent.makeURI(opts.outboundProxy)) throw new UsageError(`--outbound-proxy: not a SIP URI: '${opts.outboundProxy}'`);
    if (opts.registrar && !UserAgent.makeURI(opts.registrar)) throw new UsageError(`--registrar: not a SIP URI: '${opts.registrar}'`);
    const { port: _port, getTransport: _get, ...sipjs } = transportOpts;
    this.transportPort = transportOpts.port;
    this.getTransport = transportOpts.getTransport;
    this.ua = new UserAgent({
      ...sipjs,
      uri,
      displayName: opts.displayName,
      contactName: user,
      preloadedRouteSet: opts.outboundProxy ? [`<${UserAgent.makeURI(opts.outboundProxy)!.toString()};lr>`] : undefined,
      authorizationUsername: opts.authUser,
      authorizationPassword: opts.authPassword,
      // RFC 3261 §20.41: name the software that is really answering (sip.js wrote its own name and a stale version).
      userAgentString: opts.userAgent ?? `icephone/${ICEPHONE_VERSION}`,
      // We send 180 ourselves when the application answers (and, with preconditions, only once
      // media can flow); sip.js's automatic 180 would alert too early (DESIGN.md).
      sendInitialProvisionalResponse: false,
      // Preconditions (RFC 3312 §11): we say `Supported: 100rel, precondition`; reliable provisionals
      // we send ourselves (sipjs/reliable-provisional.ts), sip.js PRACKs those it receives.
      ...(this.preconditionPolicy !== 'none' ? { sipExtension100rel: SIPExtension.Supported, sipExtensionExtraSupported: ['precondition'] } : {}),
      sessionDescriptionHandlerFactory: (session: Session) => {
        const m = new MediaSession({ ...opts.media, secureSignalling: opts.transport === 'tls', describe: (sdp) => this.descriptions.parse(sdp), clock: this.clock, log: this.log.child('media') });
        const call = this.callBySession.get(session);
        // draft-rosenberg-sipping-ice-01 §5.8: the alt engine asks for another offer/answer only when
        // it learned an address that outranks what the peer already reached; a re-INVITE carries it.
        m.on('renegotiate', (reason) => {
          if (session.state !== SessionState.Established) return;
          this.log.info(`re-INVITE for a better address (${reason})`);
          void session.invite().catch((e) => this.log.warn(`re-INVITE failed: ${errorMessage(e)}`));
        });
        // RFC 7675 §5.1: consent lost mid-call; media has stopped, the call ends with that reason.
        m.on('media-failed', (reason) => {
          const c = this.callBySession.get(session);
          this.log.warn(`ending the call: ${reason}`);
          c?.setReason(reason);
          if (!c) return;
          c.mediaFailed(reason);
          void c.hangup({ headers: [mediaFailureReason(reason)] });
        });
        if (call) {
          call.attachMedia(m);
          call.preconditions?.mediaCreated(m);
          this.safeEmit('media-created', call, m);
        }
        return m;
      },
      delegate: {
        onInvite: (invitation) => this.onInvite(invitation),
        // RFC 3428 MESSAGE is not for icephone: 405 (RFC 3261 §8.2.1), not sip.js's silent 200.
        onMessage: (message) => void message.reject({ statusCode: 405, extraHeaders: [allowHeaderLine()] }).catch(() => undefined),
        // Not a registrar, no event packages: 405 with the Allow header §8.2.1 requires (sip.js omits it).
        onRegisterRequest: (request) => {
          if (opts.onRegister && !request.message.toTag) this.deliverRegister(request);
          else void Promise.resolve(request.reject({ statusCode: 405, extraHeaders: [allowHeaderLine()] })).catch(() => undefined);
        },
        onSubscribeRequest: (request) => request.reject({ statusCode: 405, extraHeaders: [allowHeaderLine()] }),
      },
    });
    // Allow on everything this user agent sends lists what it answers (./sipjs/allow-header.ts).
    installAllowRewrite(this.ua.transport);
    if (opts.answerChallenges === false) disableDigestRetry(this.ua);
    // RFC 8840 §5, RFC 6086 §5.2: with trickle ICE on, INVITEs and their 18x/2xx say Recv-Info: trickle-ice
    // (and, RFC 8840 §4.1/§10, carry the trickle-ice option tag in Supported).
    if ((opts.media?.trickle ?? 'off') !== 'off') installRecvInfo(this.ua.transport, [TRICKLE_INFO_PACKAGE], [TRICKLE_INFO_PACKAGE]);
    // Every Request-URI user reaches our code; `restrictUser` is applied to INVITEs in onInvite, so
    // OPTIONS, REGISTER and the rest answer the same whatever the user (no user enumeration).
    acceptAnyRequestUri(this.ua.userAgentCore);
    if (opts.auth) {
      this.digest = new DigestServer({ clock: this.clock, ...opts.auth });
      installRequestGate(this.ua.userAgentCore, this.digest, this.log.child('auth'), (d) => this.onAuthDecision(d));
    }
    this.admission = new Admission({ maxCallsInProgress: opts.maxCallsInProgress, retryAfterSec: opts.retryAfterSec });
    // Installed last, so it runs first: a draining instance answers the balancer's OPTIONS 503
    // whether or not digest authentication is on.
    refuseOutOfDialogOptions(this.ua.userAgentCore, () => this.admission.checkOptions());
    // Before DialogExtensions, so its wrapper of receiveRequest is the one next to sip.js's.
    indexMergedRequests(this.ua.userAgentCore);
    this.dialogExtensions = DialogExtensions.install(this.ua.userAgentCore, {
      clock: this.clock,
      log: this.log.child('sip'),
      onUpdate: (u) => this.onUpdate(u),
      onEarlyInfo: (info) => this.onEarlyInfo(info),
    });
  }

  /**
   * An INFO in an early dialog (RFC 6086; sip.js would drop it unanswered). Only a dialog a reliable
   * provisional established belongs to a call here (`callByDialog`, filled by the preconditions
   * controllers): RFC 8840 §4.3 allows trickle INFOs in no other early dialog; those get 403.
   */
  private onEarlyInfo(info: IncomingEarlyInfo): void {
    let call = this.callByDialog.get(info.dialog.id);
    if (!call) {
      // Our INVITE's early dialog, before sip.js has told the call of the provisional that made it
      // (it does once the answer in it is applied): seen under load, the callee's first INFO got 403.
      call = [...this.calls].find((c) => c.preconditions instanceof OutgoingPreconditions && c.preconditions.ownsDialog(info.dialog));
      if (call) this.callByDialog.set(info.dialog.id, call);
    }
    if (!call) {
      this.log.info(`INFO in early dialog ${info.dialog.id} without a reliable provisional: 403`);
      void info.reject({ statusCode: 403, extraHeaders: [warningHeader('INFO in an early dialog needs a reliable provisional response (RFC 8840 4.3)')] }).catch(() => undefined);
      return;
    }
    call.earlyInfo(info);
  }



  private digest?: DigestServer;

  /** Hands a REGISTER to `opts.onRegister` as an IncomingRegister. */
  private deliverRegister(request: Core.IncomingRegisterRequest): void {
    const m = request.message;
    const via = m.getHeader('via') ?? '';
    const param = (name: string) => new RegExp(`;\\s*${name}=([^;,\\s]+)`, 'i').exec(via)?.[1];
    const rport = param('rport');
    const to = m.to.uri;
    let answered = false;
    const incoming: IncomingRegister = {
      requestUri: m.ruri?.toString() ?? '',
      aor: { uri: to.toString(), user: to.user, host: to.host },
      callId: m.callId,
      cseq: m.cseq,
      headers: (name) => m.getHeaders(name),
      source: {
        address: normalizeAddress((param('received') ?? m.via.host).replace(/^\[|\]$/g, '')),
        port: rport && /^\d{1,5}$/.test(rport) ? Number(rport) : m.via.port ?? 5060,
        protocol: this.opts.transport ?? 'udp',
      },
      respond: (statusCode, reasonPhrase, headers) => {
        if (answered) return;
        answered = true;
        try {
          const o = { statusCode, reasonPhrase, extraHeaders: headers };
          if (statusCode >= 200 && statusCode < 300) request.accept(o);
          else request.reject(o);
        } catch (e) {
          this.log.warn(`cannot answer REGISTER ${m.callId}: ${errorMessage(e)}`);
        }
      },
    };
    try {
      this.opts.onRegister!(incoming);
    } catch (e) {
      this.log.warn(`REGISTER handler failed: ${errorMessage(e)}`);
      incoming.respond(500, 'Server Internal Error', []);
    }
  }

  /**
   * Sends one REGISTER as given (Call-ID, CSeq, From tag, Contact and credentials the caller's;
   * a 401/407 is returned, not answered: ./sipjs/register-relay.ts) and resolves with the final
   * response, or sip.js's internal 408 (no answer, RFC 3261 timer F) / 503 (transport error).
   * @throws UsageError for a Request-URI or AOR that is not a SIP URI; a header line with CR/LF.
   */
  sendRegister(r: OutgoingRegister): Promise<RelayedRegisterResponse> {
    const requestUri = UserAgent.makeURI(r.requestUri);
    const aor = UserAgent.makeURI(r.aor);
    if (!requestUri) throw new UsageError(`REGISTER Request-URI is not a SIP URI: '${r.requestUri}'`);
    if (!aor) throw new UsageError(`REGISTER AOR is not a SIP URI: '${r.aor}'`);
    for (const h of r.headers) checkHeaderLine(h);
    return sendRelayedRegister(this.ua.userAgentCore, { requestUri, aor, callId: r.callId, cseq: r.cseq, fromTag: r.fromTag, routeSet: r.routeSet, extraHeaders: r.headers });
  }

  /** A CRLFCRLF keep-alive from this phone's SIP socket to `to` (UDP only; RFC 5626 §3.5.1). */
  sendKeepAlive(to: { address: string; port: number }): void {
    this.getTransport()?.sendKeepAlive(to);
  }

  /** With `auth`: digest counters (challenges, acceptances, failures, 403s of the rate limit). */
  get authStats(): DigestServerStats | undefined {
    return this.digest ? { ...this.digest.stats } : undefined;
  }

  private onAuthDecision(d: GateDecision): void {
    const v = d.verdict;
    if (v.action === 'refuse' && v.newlyBlocked) this.log.info(`auth: ${d.method} from ${d.source}: ${v.why}`);
    else if (v.action === 'challenge' && v.failure) this.log.info(`auth: ${d.method} from ${d.source} failed: ${v.why}`);
    this.safeEmit('auth', d);
  }

  /** The SDPs this phone parsed: an INVITE's offer is parsed once, for the check and the media session. */
  readonly descriptions = new DescriptionCache();

  /** INVITEs answered 488 because their SDP offer was malformed or unusable. */
  offersRejected = 0;

  /** The calls-in-progress limit and the drain mode (admission.ts); its counters say what was refused. */
  readonly admission: Admission;

  /**
   * Stops taking new calls (issue 14's drain mode): new INVITEs and out-of-dialog OPTIONS get 503
   * with Retry-After, calls in progress go on. Resolves once no call is in progress (at once when
   * none is); `stop()` then closes the phone. Calling it again returns the same wait.
   */
  drain(): Promise<void> {
    this.admission.drain();
    if (!this.drained) {
      this.drained = new Promise<void>((resolve) => {
        const check = () => {
          if (this.calls.size === 0) resolve();
          else void Promise.race([...this.calls].map((c) => c.finished)).then(() => queueMicrotask(check));
        };
        check();
      });
    }
    return this.drained;
  }

  private drained: Promise<void> | undefined;



  private readonly transportPort: () => number;
  private readonly getTransport: () => SipTransport | undefined;

  /** Malformed SIP messages received and dropped so far. */
  get sipMalformedDropped(): number {
    return this.getTransport()?.stats.malformedDropped ?? 0;
  }

  /**
   * Creates and starts a phone.
   * @throws Error when the SIP port cannot be bound (EADDRINUSE, EADDRNOTAVAIL).
   */
  static async start(opts: PhoneOptions): Promise<Phone> {
    const t = sipJsTransportOptions({
      protocol: opts.transport ?? 'udp',
      listen: opts.listen,
      tls: opts.tls,
      trace: opts.trace,
      log: (opts.log ?? silentLogger).child('sip'),
      clock: opts.clock,
      ...(opts.redirect ? { redirect: opts.redirect } : {}),
    });
    const phone = new Phone(opts, t);
    await phone.ua.start();
    if (opts.register) {
      try {
        await phone.registerNow();
      } catch (e) {
        await phone.ua.stop().catch(() => undefined);
        throw e;
      }
    }
    return phone;
  }

  private registerer?: Registerer;

  /**
   * REGISTERs our contact for the AOR and waits for the registrar's answer (RFC 3261 §10.2).
   * @throws Error with a one-line reason (the registrar's status, or no answer within 32 s).
   */
  private async registerNow(): Promise<void> {
    const registrar = this.opts.registrar
      ? UserAgent.makeURI(this.opts.registrar)!
      // RFC 3261 §10.2.1 (the AOR's domain), keeping a sips AOR's scheme (RFC 5630 §3.1.3).
      : UserAgent.makeURI(`${this.ua.configuration.uri.scheme === 'sips' ? 'sips' : 'sip'}:${this.ua.configuration.uri.host}${this.ua.configuration.uri.port ? `:${this.ua.configuration.uri.port}` : ''}`)!;
    const registerer = new Registerer(this.ua, { registrar, expires: this.opts.registerExpires ?? 300, refreshFrequency: this.opts.registerRefreshPercent ?? 90 });
    this.registerer = registerer;
    // sip.js refreshes by calling register() on the instance: every REGISTER, first or refresh, goes
    // through here, so each outcome becomes a 'registration' event.
    const register = registerer.register.bind(registerer);
    let registeredOnce = false;
    registerer.register = (options = {}) => register({
      ...options,
      requestDelegate: {
        ...options.requestDelegate,
        onAccept: (response) => {
          this.safeEmit('registration', registeredOnce ? 'refreshed' : 'registered', `${response.message.statusCode} from ${registrar.toString()}`);
          registeredOnce = true;
          options.requestDelegate?.onAccept?.(response);
        },
        onReject: (response) => {
          this.safeEmit('registration', 'failed', `${response.message.statusCode} ${response.message.reasonPhrase} from ${registrar.toString()}`);
          options.requestDelegate?.onReject?.(response);
        },
      },
    });
    await new Promise<void>((resolve, reject) => {
      const timer = this.clock.setTimer(34000, () => reject(new Error(`registration with ${registrar.toString()} got no answer`)));
      registerer
        .register({
          requestDelegate: {
            onAccept: () => {
              this.clock.clearTimer(timer);
              this.log.info(`registered ${this.ua.configuration.uri.toString()} at ${registrar.toString()}`);
              resolve();
            },
            onReject: (response) => {
              this.clock.clearTimer(timer);
              reject(new Error(`registration with ${registrar.toString()} failed: ${response.message.statusCode} ${response.message.reasonPhrase}`));
            },
          },
        })
        .catch((e) => {
          this.clock.clearTimer(timer);
          reject(new Error(`registration with ${registrar.toString()} failed: ${errorMessage(e)}`));
        });
    });
  }

  /**
   * Removes our binding at the registrar (REGISTER with Expires: 0, RFC 3261 §10.2.2) and stops
   * refreshing; emits 'registration' `unregistered`. Does nothing when not registered.
   * @throws Error when the registrar refuses.
   */
  async unregister(): Promise<void> {
    const r = this.registerer;
    if (!r || r.state !== RegistererState.Registered) return;
    await new Promise<void>((resolve, reject) => {
      void r.unregister({
        requestDelegate: {
          onAccept: () => resolve(),
          onReject: (res) => reject(new Error(`unregister refused: ${res.message.statusCode} ${res.message.reasonPhrase}`)),
        },
      }).catch(reject);
    });
    this.safeEmit('registration', 'unregistered', 'binding removed');
  }

  /** True while a registration is in force. */
  get registered(): boolean {
    return this.registerer?.state === RegistererState.Registered;
  }

  /** The bound SIP port. */
  get port(): number {
    return this.transportPort();
  }

  /** `sip:user@host:port;transport=…` at which this phone can be called. */
  get contactUri(): string {
    const host = uriHost(this.opts.listen.address);
    const t = this.opts.transport === 'tcp' || this.opts.transport === 'tls' ? `;transport=${this.opts.transport}` : '';
    return `sip:${this.opts.user ?? 'icephone'}@${host}:${this.port}${t}`;
  }

  /**
   * Places a call.
   * @throws UsageError if `target` is not a SIP URI.
   */
  call(target: string, options: CallOptions = {}): Call {
    const uri = UserAgent.makeURI(target);
    if (!uri || !/^sips?:/i.test(target)) throw new UsageError(`not a SIP URI: '${target}'`);
    for (const h of options.headers ?? []) checkHeaderLine(h);
    if (this.preconditionPolicy !== 'none') {
      const c = this.callWithPreconditions(uri);
      if (options.media) c.useMedia(options.media);
      return c;
    }
    const fromUri = options.fromUri !== undefined ? UserAgent.makeURI(options.fromUri) : undefined;
    if (options.fromUri !== undefined && (!fromUri || !/^sips?:/i.test(options.fromUri))) throw new UsageError(`From: not a SIP URI: '${options.fromUri}'`);
    const params = {
      ...(options.displayName !== undefined ? { fromDisplayName: options.displayName } : {}),
      ...(fromUri ? { fromUri } : {}),
    };
    const inviter = new Inviter(this.ua, uri, {
      ...(options.earlyMedia ? { earlyMedia: true } : {}),
      extraHeaders: options.headers ? [...options.headers] : undefined,
      params: Object.keys(params).length ? params : undefined,
    });
        const call = new Call(inviter, 'outgoing', this.clock, this.log, () => this.sipMalformedDropped, this.opts.transport ?? 'udp');
    if (options.media) call.useMedia(options.media);
    this.track(call);
    this.startInvite(call, inviter);
    return call;
  }

  /** Sends the INVITE of an outgoing call and follows its responses. */
  private startInvite(call: Call, inviter: Inviter): void {
    void inviter
      .invite({
        requestDelegate: {
          onProgress: (response) => {
            const code = response.message.statusCode ?? 0;
            if (code === 180 || code === 183) call.markAlerting();
            if (code > 100 && code < 200) call.progressed(code, Boolean(response.message.body));
          },
          onReject: (response) => {
            // sip.js turns a transport error into an internal 503: say what the transport saw.
            const failure = this.getTransport()?.sendFailure(call.callId);
            call.finalStatus ??= response.message.statusCode;
            const code = response.message.statusCode;
            if (code === 401 || code === 407) {
              const name = code === 401 ? 'WWW-Authenticate' : 'Proxy-Authenticate';
              // From the raw message: sip.js's parser keeps only the last of several challenge lines
              // (e.g. SHA-256 and MD5, RFC 8760 §2.4), and every one must reach the caller.
              const headers = challengeLines(response.message.data, name);
              if (headers.length) call.challenge = { statusCode: code, headers };
            }
            call.setReason(`${response.message.statusCode} ${response.message.reasonPhrase}${failure ? ` (${failure})` : ''}`);
          },
          onAccept: (response) => {
            call.lastResponseHeaders = (name) => response.message.getHeader(name);
          },
        },
      })
      .catch((e) => {
        call.setReason(errorMessage(e));
        this.log.error(`INVITE failed: ${errorMessage(e)}`);
      });
  }

  /**
   * How long preconditions may take once negotiated (a backstop: ICE failure ends them at once):
   * the ICE check timeout, plus one full non-INVITE transaction (Timer F, 64*T1 = 32 s, RFC 3261
   * §17.1.2.2) for a lost UPDATE and its 491 back-off, plus a margin. 25 s was too short under 20%
   * loss: the callee gave up while the caller's confirming UPDATE was still being retransmitted.
   */
  private get preconditionTimeoutMs(): number {
    return (this.opts.media?.checkTimeoutMs ?? 15000) + 32000 + 10000;
  }

  private preconditionOptions() {
    return {
      policy: this.preconditionPolicy,
      ext: this.dialogExtensions,
      clock: this.clock,
      log: this.log.child('preconditions'),
      timeoutMs: this.preconditionTimeoutMs,
    };
  }

  /** Places a call with connectivity preconditions (precondition-call.ts). */
  private callWithPreconditions(uri: URI): Call {
    let call!: Call;
    const base = this.preconditionOptions();
    const controller = new OutgoingPreconditions(
      { ...base, registerDialog: (d) => this.callByDialog.set(d.id, call) },
      this.ua,
      uri,
      (inviter) => {
        call.replaceSession(inviter);
        this.callBySession.set(inviter, call);
      },
    );
    const inviter = controller.createInviter();
        call = new Call(inviter, 'outgoing', this.clock, this.log, () => this.sipMalformedDropped, this.opts.transport ?? 'udp');
    call.preconditions = controller;
    controller.attach(call);
    this.track(call);
    controller.invite();
    return call;
  }

  /** Answers an incoming call: 180 Ringing, then 200 OK with our SDP answer (with preconditions: once they are met). */
  async answer(call: Call, options: AnswerOptions = {}): Promise<void> {
    const inv = call.session as Invitation;
    for (const h of options.headers ?? []) checkHeaderLine(h);
    if (options.media) call.useMedia(options.media);
    const extraHeaders = options.headers ? [...options.headers] : undefined;
    if (call.preconditions instanceof IncomingPreconditions) {
      try {
        await call.preconditions.answer();
      } catch (e) {
        call.setReason(errorMessage(e));
        this.log.warn(`answer failed: ${errorMessage(e)}`);
      }
      return;
    }
    try {
      const provisional = options.provisional ?? 180;
      // 183 with our answer: early media (RFC 3960); sip.js sends the same answer again in the 200.
      if (provisional !== 'none') await inv.progress({ statusCode: provisional, extraHeaders });
      if (provisional === 180) call.markAlerting();
      await inv.accept({ extraHeaders });
    } catch (e) {
      call.setReason(errorMessage(e));
      this.log.warn(`answer failed: ${errorMessage(e)}`);
    }
  }

  /**
   * Sends 180 Ringing for an incoming call without answering it (a B2BUA passing on its other
   * leg's alerting, RFC 7092 §3.1); `answer(call, { provisional: 'none' })` answers it later.
   * `statusCode` 183: Session Progress with our SDP answer instead (early media, RFC 3960; media
   * starts now). Does nothing once the call is answered or ended.
   */
  async ring(call: Call, statusCode: 180 | 183 = 180): Promise<void> {
    const inv = call.session;
    if (!(inv instanceof Invitation) || inv.state !== SessionState.Initial) return;
    try {
      await inv.progress({ statusCode });
      call.markAlerting();
    } catch (e) {
      this.log.warn(`180 failed: ${errorMessage(e)}`);
    }
  }

  /** Calls in progress or established (not yet ended). */
  get activeCalls(): Call[] {
    return [...this.calls];
  }

  /** Rejects an incoming call with `statusCode` (default 486 Busy Here) and optional extra header lines (`Name: value`). */
  async reject(call: Call, statusCode = 486, headers?: string[]): Promise<void> {
    for (const h of headers ?? []) checkHeaderLine(h);
    await (call.session as Invitation).reject({ statusCode, ...(headers?.length ? { extraHeaders: [...headers] } : {}) });
  }

  /** Hangs up every call and stops the user agent (closes the SIP transport). */
  async stop(): Promise<void> {
    const calls = [...this.calls];
    const within = (ms: number, p: Promise<unknown>) => Promise.race([p, new Promise((r) => this.clock.setTimer(ms, () => r(undefined)))]);
    await within(2000, Promise.allSettled(calls.map((c) => c.hangup())));
    await within(2000, Promise.allSettled(calls.map((c) => c.finished)));
    // A peer that cannot be reached (its BYE transaction would run to Timer F, 32 s): end locally.
    for (const c of calls) c.forceEnd('shutdown before the peer confirmed the hang-up');
    await Promise.allSettled(calls.map((c) => c.finished));
    if (this.registerer && this.registerer.state === RegistererState.Registered) {
      await Promise.race([
        this.registerer.unregister().catch(() => undefined),
        new Promise((r) => this.clock.setTimer(2000, () => r(undefined))),
      ]);
    }
    // sip.js calls a session terminated as soon as its BYE leaves (RFC 3261 §15.1.1), but over UDP
    // the BYE's retransmissions (Timer E) live in our transport: give them a moment before it closes,
    // or a lost BYE leaves the peer's call up.
    await within(3000, this.untilByesAnswered());
    // Likewise a 300-699 final to an INVITE (a 580 Precondition Failure, a 486) is retransmitted by
    // Timer G in our transport until its ACK (RFC 3261 §17.2.1): closing the transport first would
    // leave a caller that lost it waiting for its own timers. Waited for at most 16·T1, long enough
    // for the copies Timer G sends at 0, T1, 3·T1, 7·T1 and 15·T1, not until Timer H (64·T1): finals
    // to strangers (every INVITE of a flood that parses gets one) never see an ACK, and each would
    // keep a stopping phone up for 32 s after it was sent (for ever under a sustained flood).
    await within(FINAL_ACK_WAIT_MS, this.getTransport()?.whenFinalResponsesAcknowledged() ?? Promise.resolve());
    await Promise.race([this.ua.stop(), new Promise((r) => this.clock.setTimer(3000, () => r(undefined)))]);
  }

  private async untilByesAnswered(): Promise<void> {
    while (byeInProgress(this.ua.userAgentCore)) await new Promise((r) => this.clock.setTimer(50, () => r(undefined)));
  }

  /** Option tags in the INVITE's Require that we do not implement (`precondition` only with preconditions on). */
  private unsupportedRequirements(invitation: Invitation): string[] {
    const supported = new Set(['100rel', ...this.ua.userAgentCore.configuration.supportedOptionTags].map((t) => t.toLowerCase()));
    const required = invitation.request.getHeaders('require').flatMap((h) => h.split(',')).map((t) => t.trim()).filter(Boolean);
    return required.filter((t) => !supported.has(t.toLowerCase()));
  }

  /** Why an INVITE's SDP offer is unusable, or undefined when it is fine (or absent: we then offer). */
  private checkOffer(invitation: Invitation): OfferProblem | undefined {
    const body = invitation.body;
    if (!body) return undefined;
    try {
      const remote = this.descriptions.parse(body);
      if (!negotiateCodec(remote.codecs)) return { wire: 'no common codec (PCMU, PCMA)', detail: 'no common codec (PCMU, PCMA)', expected: true };
      // RFC 4568: an SRTP offer we will not do, or a plain one when SRTP is mandatory, gets 488.
      checkSrtpOffer(this.opts.media?.srtp ?? 'off', remote, this.opts.media?.srtpAllowInsecureKeys === true || this.opts.transport === 'tls');
      return undefined;
    } catch (e) {
      const problem = offerProblem(e);
      // Not one of our typed errors: a bug. The stack goes to our log, never to the peer.
      if (!problem.expected) this.log.error(`checking the offer of INVITE (Call-ID ${invitation.request.callId}) failed: ${errorStack(e)}`);
      return problem;
    }
  }

  /** RFC 3515 §2.4.2: an incoming REFER becomes a 'transfer-request' the application answers. */
  private onRefer(call: Call, referral: Referral): void {
    const target = referral.referTo.uri.toString();
    let answered = false;
    const request: TransferRequest = {
      call,
      target,
      referredBy: referral.referredBy,
      accept: async (options: CallOptions = {}) => {
        if (answered) throw new StateError('transfer request already answered');
        answered = true;
        await referral.accept();
        const inviter = referral.makeInviter({
          extraHeaders: options.headers ? [...options.headers] : undefined,
          params: options.displayName !== undefined ? { fromDisplayName: options.displayName } : undefined,
        });
                const next = new Call(inviter, 'outgoing', this.clock, this.log, () => this.sipMalformedDropped, this.opts.transport ?? 'udp');
        if (options.media) next.useMedia(options.media);
        this.track(next);
        call.transferRecord = { direction: 'in', target, accepted: true, newCallId: next.callId };
        this.startInvite(next, inviter);
        return next;
      },
      reject: async (statusCode = 603) => {
        if (answered) throw new StateError('transfer request already answered');
        answered = true;
        call.transferRecord = { direction: 'in', target, accepted: false };
        await referral.reject({ statusCode });
      },
    };
    this.log.info(`REFER on call ${call.callId}: Refer-To ${target}`);
    if (this.listenerCount('transfer-request') === 0) {
      void request.reject().catch((e) => this.log.warn(`declining REFER: ${errorMessage(e)}`));
      return;
    }
    this.safeEmit('transfer-request', request);
  }

  private track(call: Call): void {
    this.calls.add(call);
    call.dialogExtensions = this.dialogExtensions;
    call.on('refer-received', (referral) => this.onRefer(call, referral));
    if (call.direction === 'outgoing') queueMicrotask(() => this.safeEmit('outgoing', call));
    this.callBySession.set(call.session, call);
    void call.finished.then(() => {
      this.calls.delete(call);
      for (const [id, c] of this.callByDialog) if (c === call) this.callByDialog.delete(id);
      // sip.js holds the INVITE server transaction 32 s more (Timer L); let it forget this call.
      if (call.session instanceof Invitation) releaseEndedInvitation(call.session);
    });
  }

  private onInvite(invitation: Invitation): void {
    // This INVITE is already tracked by nobody: `calls` holds the others in progress.
    const refusal = this.admission.checkInvite(this.calls.size);
    if (refusal) {
      this.log.info(`refusing INVITE (Call-ID ${invitation.request.callId}) with 503: ${refusal.reasonPhrase}`);
      void invitation.reject({ statusCode: refusal.statusCode, reasonPhrase: refusal.reasonPhrase, extraHeaders: refusal.extraHeaders }).catch(() => undefined);
      this.safeEmit('rejected', invitation.request.callId, `503 ${refusal.reasonPhrase}`);
      return;
    }
    const ruser = invitation.request.ruri?.user;
    if (this.opts.restrictUser && this.opts.user && ruser !== this.opts.user) {
      void invitation.reject({ statusCode: 404 });
      return;
    }
    const unsupported = this.unsupportedRequirements(invitation);
    if (unsupported.length) {
      // RFC 3261 §8.2.2.3 (sip.js leaves it as a TODO): "the UAS MUST respond by generating a 420
      // (Bad Extension) response ... and MUST add an Unsupported header field" listing them.
      const reason = `420 Bad Extension: Require: ${unsupported.join(', ')} is not supported`;
      this.log.warn(`rejecting INVITE (Call-ID ${invitation.request.callId}) with ${reason}`);
      // Only option tags (RFC 3261 §25.1 token) are echoed back; anything else in Require is not one.
      const tags = unsupported.filter((t) => /^[A-Za-z0-9\-.!%*_+`'~]+$/.test(t));
      const headers = tags.length ? [`Unsupported: ${tags.join(', ')}`] : [warningHeader('Require holds no valid option tag')];
      void invitation.reject({ statusCode: tags.length ? 420 : 400, extraHeaders: headers }).catch(() => undefined);
      this.safeEmit('rejected', invitation.request.callId, reason);
      return;
    }
    const problem = this.checkOffer(invitation);
    if (problem) {
      // RFC 3261 §21.4.26 / RFC 3264 §6: an offer we cannot use is answered 488, with a Warning
      // (RFC 3261 §20.43, code 399) saying why; the request is counted, not turned into a call.
      this.offersRejected++;
      this.log.warn(`rejecting INVITE (Call-ID ${invitation.request.callId}) with 488: ${problem.detail}`);
      void invitation.reject({ statusCode: 488, extraHeaders: [warningHeader(problem.wire)] }).catch(() => undefined);
      this.safeEmit('rejected', invitation.request.callId, problem.detail);
      return;
    }
    let controller: IncomingPreconditions | undefined;
    let call: Call | undefined;
    if (this.preconditionPolicy !== 'none') {
      const base = this.preconditionOptions();
      controller = new IncomingPreconditions({ ...base, registerDialog: (d) => { if (call) this.callByDialog.set(d.id, call); } }, invitation);
      const refused = controller.start();
      if (refused) {
        this.log.warn(`refused INVITE (Call-ID ${invitation.request.callId}): ${refused}`);
        this.safeEmit('rejected', invitation.request.callId, refused);
        return;
      }
    }
    call = new Call(invitation, 'incoming', this.clock, this.log, () => this.sipMalformedDropped, this.opts.transport ?? 'udp');
    if (controller) {
      call.preconditions = controller;
      controller.attach(call);
    }
    this.track(call);
    this.safeEmit('incoming', call);
  }

  /** An UPDATE (RFC 3311) in one of our dialogs: the call's preconditions answer it, else the media does. */
  private onUpdate(update: IncomingUpdate): void {
    const call = this.callByDialog.get(update.dialog.id) ?? [...this.calls].find((c) => sessionDialogOf(c.session)?.id === update.dialog.id);
    if (!call) {
      update.reject({ statusCode: update.offer ? 488 : 500 });
      return;
    }
    if (call.preconditions) {
      call.preconditions.updateReceived(update);
      return;
    }
    const media = call.media;
    if (!update.offer) {
      update.accept();
      return;
    }
    if (!media) {
      update.reject({ statusCode: 500, extraHeaders: ['Retry-After: 1'] });
      return;
    }
    media.answerUpdateOffer(update.offer.content).then(
      (sdp) => update.accept({ body: { contentType: 'application/sdp', content: sdp } }),
      (e) => {
        // RFC 3311 §5.2: an offer crossing ours gets 491; one we cannot use 488; one the re-offer
        // handler refused (a gateway's other leg refused it) that leg's status.
        const status = e instanceof GlareError ? 491 : (media.takeRefusalStatus() ?? 488);
        this.log.warn(`${status} to UPDATE: ${errorMessage(e)}`);
        update.reject({ statusCode: status });
      },
    );
  }
}
