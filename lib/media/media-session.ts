/**
 * The media side of one call, as sip.js's SessionDescriptionHandler: one RFC 3264 offer/answer
 * state (offer-answer-state.ts), the ICE agent's sockets, one connectivity implementation chosen
 * by the negotiated candidate format (connectivity.ts: ICE, the draft's `a=alt`, or the plain m/c
 * line), the RTP session with its per-call endpoints, SRTP, hold and DTMF.
 *
 * Offer/answer (RFC 3264) and ICE roles (RFC 8445 §6.1.1, RFC 8839 §4.1): the side that sends the
 * initial offer is the controlling agent. sip.js drives INVITE exchanges through
 * `getDescription()` (an offer in `stable`, our answer in `remote-offer`) and `setDescription()`
 * (an offer in `stable`, the answer in `local-offer`); UPDATE exchanges in early and confirmed
 * dialogs (RFC 3311) go through `createUpdateOffer`, `answerUpdateOffer` and `applyUpdateAnswer`.
 * Media starts once the initial exchange completes: ICE checks when the peer did ICE, the draft's
 * checks for `a=alt`, otherwise plain RTP to the m/c-line address (RFC 8839 §4.1).
 */
import type { BodyAndContentType, SessionDescriptionHandler } from 'sip.js';
import type { Clock } from '../base/clock.js';
import { systemClock } from '../base/clock.js';
import { ParseError, StateError, errorMessage } from '../base/errors.js';
import { TypedEmitter } from '../base/events.js';
import type { Logger } from '../base/log.js';
import { silentLogger } from '../base/log.js';
import type { Candidate } from '../ice/candidate.js';
import { IceAgent, type CandidatePairInfo, type IceRole, type IceState, type RelayResult } from '../ice/agent.js';
import type { TransportAddress } from '../net/socket.js';
import { negotiateCodec, parseDescription, sessionIdNow, SUPPORTED_CODECS, type CodecDescription, type RemoteDescription } from '../sdp/offer-answer.js';
import type { OutgoingRtpPacket, RtpStats } from '../rtp/session.js';
import type { RemoteCandidate } from '../sdp/ice-attributes.js';
import { answerFormat, describedFormat, followAnswer, offerFormat, readRemoteAlternates, type NegotiatedFormat } from '../sdp/format.js';
import type { PreconditionAttribute } from '../sdp/preconditions.js';
import { negotiateTelephoneEvent, telephoneEventCodec, telephoneEventFmtp, type TelephoneEventNegotiation } from '../sdp/telephone-event-attributes.js';
import { answerCrypto, applyAnswerCrypto, offerCrypto, type SrtpPolicy } from './srtp-negotiation.js';
import type { CryptoAttribute } from '../sdp/crypto-attributes.js';
import type { SrtpSession } from '../srtp/srtp-session.js';
import { answerDirection, effectiveDirection, mediaFlows, offerDirection, receives, sends, type MediaDirection } from '../sdp/direction.js';
import { RtpTimeout } from './rtp-timeout.js';
import { OfferAnswerState, type OfferAnswerStateName } from './offer-answer-state.js';
import type { Connectivity, ConnectivityHost } from './connectivity.js';
import { IceConnectivity } from './ice-connectivity.js';
import { AltConnectivity } from './alt-connectivity.js';
import { PlainConnectivity } from './plain-connectivity.js';
import { HoldState, type HoldPeriod } from './hold-state.js';
import { MediaStream } from './media-stream.js';
import { writeLocalDescription } from './local-description.js';
import type { MediaEndpoints, MediaOptions } from './media-options.js';
import { pairEnd, type MediaSummary } from './media-summary.js';
import { parseTrickleFragment, formatTrickleFragment } from '../sdp/trickle-fragment.js';
import { listLocalAddresses } from '../net/interfaces.js';
import type { TimerHandle } from '../base/clock.js';
import { sameAddress } from '../net/socket.js';

export type { MediaEndpoints, MediaOptions } from './media-options.js';
export type { MediaSummary, PairEnd } from './media-summary.js';
export type { HoldPeriod } from './hold-state.js';

export interface MediaEvents {
  /** A local candidate was gathered. */
  candidate: [Candidate];
  /** ICE agent state changes. */
  'ice-state': [IceState];
  /** ICE selected (nominated) a pair for a component. */
  'selected-pair': [component: number, pair: CandidatePairInfo];
  /** The first RTP packet from the peer arrived. */
  'media-received': [];
  /** Media can flow: ICE connected, or the peer is not ICE-capable and RTP started. */
  'media-ready': [];
  /** TURN allocation for a component finished (progress for the CLI). */
  relay: [RelayResult];
  /** A connectivity check was sent or answered (progress for the CLI). */
  check: [info: { pair: CandidatePairInfo; result: string }];
  /**
   * draft-rosenberg-sipping-ice-01 §5.8: a newly learned address outranks every address the peer
   * reached, so a new offer/answer (re-INVITE or UPDATE) is worth doing. The signalling layer sends
   * it; `getDescription()` then produces the new offer.
   */
  renegotiate: [reason: string];
  /** An ICE restart (RFC 8445 §9) began: new local credentials, checks run again. */
  'ice-restart': [initiator: 'local' | 'remote'];
  /** Media can no longer flow (ICE failed after connecting: consent expired, RFC 7675 §5.1); the call should end. */
  'media-failed': [reason: string];
  /** A hold began or ended (RFC 3264 §8.4): `by` 'local' when we hold the peer, 'remote' when the peer holds us. */
  hold: [by: 'local' | 'remote', held: boolean];
  /** One DTMF digit from the peer: RFC 4733 events (de-duplicated) or SIP INFO (`via`). */
  dtmf: [digit: string, durationMs: number, via: 'rtp' | 'info'];
  /**
   * Trickle ICE (RFC 8840 §4.3): an `application/trickle-ice-sdpfrag` body with candidates not yet
   * signalled (and/or `a=end-of-candidates`) for the signalling layer to send in an INFO request of
   * the `trickle-ice` Info Package, in the order emitted.
   */
  trickle: [sdpfrag: string];
}

const SDP = 'application/sdp';

/**
 * Asked before we answer a peer's offer in an established session (re-INVITE or UPDATE, RFC 3264
 * §8): the offer is applied (`holdState.remote` says whether it holds us), our answer is written
 * once the promise resolves (a B2BUA first runs the exchange on its other leg, RFC 7092 §3.2, and
 * may change our hold with `setLocalHold` meanwhile). A rejection refuses the offer: the session is
 * rolled back, and the request gets `statusCode` of the error when it has one in 300..699 (else 488).
 */
export type ReofferHandler = (offer: { via: 'invite' | 'update'; remote: RemoteDescription }) => Promise<void>;

/** Default of `MediaOptions.unconfirmedRtpPackets`: 25 packets, 500 ms of G.711 at 20 ms ptime. */
export const DEFAULT_UNCONFIRMED_RTP_PACKETS = 25;

/**
 * One call's media. Implements sip.js's SessionDescriptionHandler so sip.js drives offer/answer;
 * emits progress as MediaEvents for the CLI and the library API.
 */
export class MediaSession extends TypedEmitter<MediaEvents> implements SessionDescriptionHandler {
  /** The RFC 3264 offer/answer state. */
  private readonly oa = new OfferAnswerState();
  /** The remote description as of the last exchange step, and the one before (rollback). */
  private remote?: RemoteDescription;
  private remoteBeforeOffer?: RemoteDescription;
  /** The last SDP we wrote (offer or answer). */
  private localSdp?: string;
  /** Our sockets and, for ICE calls, the RFC 8445 agent. */
  private agent?: IceAgent;
  private gathering?: Promise<void>;
  /** What our initial offer carried (set when we offer). */
  private offered?: { ice: boolean; alt: boolean };
  /** The negotiated candidate format (lib/sdp/format.ts), once the initial exchange completed. */
  private format?: NegotiatedFormat;
  /** The connectivity in use, once the format is known. */
  private connectivity?: Connectivity;
  /** The draft's engine from our offer on (its alternates are in the offer), until the answer decides. */
  private altOffered?: AltConnectivity;
  private role?: IceRole;
  private codec?: CodecDescription;
  private components = 1;
  /** RTP/RTCP multiplexing agreed (RFC 5761); before the answer, what our offer proposed. */
  private rtcpMux = false;
  /** The last ICE agent state before it closed (the summary reports the call, not the teardown). */
  private lastIceState?: IceState;
  private readonly hold: HoldState;
  /** The call's RTP stream (endpoints, RTP session, SRTP, DTMF). */
  private readonly stream: MediaStream;
  /** The direction in the last SDP we wrote. */
  private ourDirection: MediaDirection = 'sendrecv';
  /** `MediaOptions.rtpTimeoutMs`'s watcher, from media start. */
  private rtpTimeout?: RtpTimeout;
  /** RFC 4733 telephone-event as negotiated (undefined: the peer has none). */
  private telephoneEvent?: TelephoneEventNegotiation;
  /** Digits received (RTP events and INFO), in order. */
  dtmfReceived = '';
  /** Digits sent by RTP events, in order. */
  dtmfSent = '';
  /** We answered the initial offer and the peer has not yet confirmed it wants our media (see `confirmPeer`). */
  private awaitingConfirmation = false;
  /** Our offered a=crypto lines (kept for re-offers), or the one line of our answer. */
  private cryptoLines: CryptoAttribute[] = [];
  /** The SRTP session once offer/answer agreed on a suite (RFC 3711, keyed by SDES). */
  private srtp?: SrtpSession;
  private srtpSuite?: string;
  /** The m= profile our SDPs carry (RTP/SAVP with mandatory SRTP or when answering one). */
  private profile: 'RTP/AVP' | 'RTP/SAVP' = 'RTP/AVP';
  private readonly sessionId = sessionIdNow();
  private sessionVersion = 0;
  /** The initial exchange completed and media was started. */
  private started = false;
  private closed = false;
  private startedAt?: number;
  private connectedAt?: number;
  private rtpStarted = false;
  private malformedSdpLines = 0;
  /** RFC 3312 lines written into our SDP (lib/sip/precondition-call.ts); undefined: none. */
  private preconditionLines?: PreconditionAttribute[];
  /** requestIceRestart() was called: the next offer restarts ICE. */
  private restartRequested = false;
  /** What must be ready before we write an SDP: full gathering, or (trickle) the host candidates. */
  private ready?: Promise<void>;
  /** Local candidates already signalled (SDP or a trickle fragment), and whether end-of-candidates was. */
  private readonly signalled = new Set<Candidate>();
  /** The local ufrag (ICE generation) whose end-of-candidates we signalled (a restart starts a new one). */
  private endSignalledFor?: string;
  private get endSignalled(): boolean {
    return this.agent !== undefined && this.endSignalledFor === this.agent.localUfrag;
  }
  /** The peer showed trickle support (`a=ice-options:trickle`, RFC 8840 §4.1). */
  private peerTrickles = false;
  /** Remote candidates that came in trickle fragments (the summary lists them with the SDP's). */
  private readonly trickledRemote: Candidate[] = [];
  /** Fragments that arrived before checks started: applied when they do. */
  private pendingFragments: string[] = [];
  private watchTimer?: TimerHandle;
  private knownAddresses?: Set<string>;
  /** Local addresses the watcher saw go away (and not come back): their candidates are no longer offered. */
  private readonly goneAddresses = new Set<string>();
  private isGone(address: string): boolean {
    for (const g of this.goneAddresses) if (sameAddress({ address, port: 0 }, { address: g, port: 0 })) return true;
    return false;
  }
  /** Trickle fragments received: applied, and dropped (another ICE generation's credentials, or none running). */
  /** `candidatesAfterEnd`: remote candidates dropped because the peer's end-of-candidates had come (RFC 8838 §14). */
  readonly trickleStats = { fragmentsSent: 0, fragmentsApplied: 0, fragmentsStale: 0, malformedLines: 0, candidatesAfterEnd: 0 };
  private readonly clock: Clock;
  private readonly log: Logger;
  /** See `setReofferHandler`. */
  private reofferHandler?: ReofferHandler;
  /** The status of the last refusal by the reoffer handler, until the SIP layer takes it. */
  private refusalStatus?: number;

  constructor(private readonly options: MediaOptions = {}) {
    super();
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? silentLogger;
    this.hold = new HoldState(this.clock, this.log, (by, held) => this.safeEmit('hold', by, held));
    this.stream = new MediaStream({
      clock: this.clock,
      log: this.log.child('rtp'),
      defaultSource: options.play,
      defaultRecord: options.record,
      send: (component, data) => void this.agent?.send(component, data),
    });
    this.stream.on('dtmf', (d) => {
      this.dtmfReceived += d.digit;
      this.safeEmit('dtmf', d.digit, d.durationMs, 'rtp');
    });
    this.stream.on('first-packet', () => this.safeEmit('media-received'));
  }

  /** The ICE agent, once created (for tests and the API). */
  get iceAgent(): IceAgent | undefined {
    return this.agent;
  }

  /** The RFC 3264 offer/answer state: `stable`, `local-offer` or `remote-offer`. */
  get offerAnswerState(): OfferAnswerStateName {
    return this.oa.state;
  }

  /** Offer/answer exchanges completed (the initial one included). */
  get exchanges(): number {
    return this.oa.exchanges;
  }

  /** The clock time (ms) ICE (or the a=alt engine) connected, or plain media started. */
  get connectedAtMs(): number | undefined {
    return this.connectedAt;
  }

  /** The peer's description as of the last exchange step. */
  get remoteDescription(): RemoteDescription | undefined {
    return this.remote;
  }

  hasDescription(contentType: string): boolean {
    return contentType.toLowerCase() === SDP;
  }

  /**
   * RFC 4733 DTMF on the call's RTP stream (sip.js's SessionDescriptionHandler#sendDtmf): digits
   * 0-9 * # A-D, each `options.durationMs` long (default 100 ms), sent from the next packet slot.
   * @returns false when the peer did not offer or accept telephone-event (the caller may use SIP INFO).
   * @throws RangeError for a digit that is not DTMF or a duration outside 40..60000 ms.
   */
  sendDtmf(tones: string, options?: { durationMs?: number; duration?: number }): boolean {
    if (!this.telephoneEvent) return false;
    const durationMs = options?.durationMs ?? options?.duration;
    if (!/^[0-9*#A-Da-d]+$/.test(tones)) throw new RangeError(`not DTMF digits: ${JSON.stringify(tones)}`);
    if (durationMs !== undefined && !(durationMs >= 40 && durationMs <= 60000)) throw new RangeError(`DTMF duration ${durationMs} ms not in 40..60000`);
    // Before the RTP session exists (media still being prepared) the digits wait for it.
    this.stream.sendDtmf(tones, durationMs);
    this.dtmfSent += tones.toUpperCase();
    return true;
  }


  /** The SRTP policy in force: SDES keys go only over TLS unless the application allowed it. */
  private get srtpPolicy(): SrtpPolicy {
    const policy = this.options.srtp ?? 'off';
    if (policy === 'off' || this.options.secureSignalling || this.options.srtpAllowInsecureKeys) return policy;
    return 'off';
  }

  /** The suite in use (`AES_CM_128_HMAC_SHA1_80`, …), or undefined for plain RTP. */
  get srtpInUse(): string | undefined {
    return this.srtpSuite;
  }

  /** Whether RFC 4733 events were negotiated with the peer. */
  get dtmfByRtp(): boolean {
    return this.telephoneEvent !== undefined;
  }

  /** The trickle ICE setting in force ('off', 'half' or 'full', MediaOptions.trickle). */
  get trickleMode(): 'off' | 'half' | 'full' {
    return this.options.trickle ?? 'off';
  }

  /**
   * A trickle-ice INFO body from the peer (RFC 8840 §4.3): its candidates go to the ICE agent (pairs
   * formed and checked at once, RFC 8838 §10), `a=end-of-candidates` ends the peer's gathering
   * (RFC 8838 §13). A fragment whose ufrag/pwd are not the peer's current ones belongs to another
   * ICE generation and is dropped (counted). Before checks start it is kept and applied then.
   * @returns 'applied', 'stale' (dropped) or 'queued'
   * @throws ParseError for a body that is no sdpfrag (the caller answers 400); StateError when trickle is off.
   */
  applyTrickleFragment(body: string): 'applied' | 'stale' | 'queued' {
    if (this.trickleMode === 'off') throw new StateError('trickle ICE is off');
    const fragment = parseTrickleFragment(body);
    this.trickleStats.malformedLines += fragment.invalidLines.length;
    this.malformedSdpLines += fragment.invalidLines.length; // the summary's dropped.sdpLines
    for (const line of fragment.invalidLines) this.log.warn(`dropped malformed sdpfrag line: ${line}`);
    const agent = this.agent;
    if (this.closed || !agent || !this.started || !(this.connectivity instanceof IceConnectivity)) {
      if (this.pendingFragments.length >= 32) {
        this.trickleStats.fragmentsStale++;
        return 'stale';
      }
      this.pendingFragments.push(body);
      return 'queued';
    }
    const ice = this.remote?.ice;
    if (!ice || ice.ufrag !== fragment.ufrag || ice.pwd !== fragment.pwd) {
      this.trickleStats.fragmentsStale++;
      this.log.info(`dropped a trickle fragment of ufrag ${fragment.ufrag}: not the current ICE generation (${ice?.ufrag ?? 'none'})`);
      return 'stale';
    }
    this.trickleStats.fragmentsApplied++;
    // RFC 8838 §14: after the peer's end-of-candidates, "it MUST ignore any newly received candidates"
    // (of this ICE generation; a restart starts a new one).
    const ended = agent.remoteCandidatesComplete;
    for (const c of fragment.candidates) {
      if (c.component > this.components || c.transport !== 'udp') continue;
      const known = [...(this.remote?.ice?.candidates ?? []), ...this.trickledRemote]
        .some((k) => k.component === c.component && k.port === c.port && sameAddress({ address: k.address, port: 0 }, { address: c.address, port: 0 }));
      if (known) continue; // a repeat of one we have (RFC 8838 §11: redundant)
      if (ended) {
        this.trickleStats.candidatesAfterEnd++;
        this.log.warn(`ignored trickled candidate ${c.type} ${c.address} ${c.port}: the peer already signalled end-of-candidates (RFC 8838 §14)`);
        continue;
      }
      this.log.debug(`trickled remote candidate ${c.type} ${c.address} ${c.port}`);
      this.trickledRemote.push(c);
      agent.addRemoteCandidate(c);
    }
    if (fragment.endOfCandidates) agent.remoteEndOfCandidates();
    return 'applied';
  }

  /**
   * Emits a 'trickle' fragment with the local candidates not yet signalled (and end-of-candidates
   * once gathering finished), when our SDP is out and the peer takes trickled candidates.
   */
  private flushTrickle(): void {
    const agent = this.agent;
    if (this.closed || !agent || this.trickleMode === 'off' || !this.localSdp || !this.peerTrickles) return;
    if (this.format !== undefined && this.format !== 'ice') return;
    const fresh = agent.localCandidates.filter((c) => !this.signalled.has(c) && c.component <= this.components);
    if (this.endSignalled && fresh.length > 0) {
      // RFC 8838 §13: after end-of-candidates no more candidates may be conveyed unless ICE restarts;
      // the restart's offer carries them (RFC 8838 §15).
      for (const c of fresh) this.signalled.add(c);
      const reason = `${fresh.length} local candidate(s) found after our end-of-candidates: ICE restart (RFC 8838 §13)`;
      this.log.warn(reason);
      if (this.oa.state !== 'stable') return;
      try {
        this.requestIceRestart();
        this.safeEmit('renegotiate', reason);
      } catch (e) {
        this.log.warn(`no ICE restart: ${errorMessage(e)}`);
      }
      return;
    }
    const end = agent.gatheringComplete && !this.endSignalled && !this.gatheringGoesOn;
    if (fresh.length === 0 && !end) return;
    for (const c of fresh) this.signalled.add(c);
    if (end) this.endSignalledFor = agent.localUfrag;
    const payloadTypes = this.codec ? [this.codec.payloadType] : this.preferredCodecs().map((c) => c.payloadType);
    const body = formatTrickleFragment(
      { ufrag: agent.localUfrag, pwd: agent.localPwd, candidates: fresh, endOfCandidates: end },
      { media: 'audio', profile: this.profile, formats: payloadTypes },
    );
    this.trickleStats.fragmentsSent++;
    this.log.debug(`trickling ${fresh.length} candidate(s)${end ? ' and end-of-candidates' : ''}`);
    this.safeEmit('trickle', body);
  }

  /** A digit that arrived by SIP INFO (RFC 6086; application/dtmf-relay or application/dtmf). */
  infoDtmf(digit: string, durationMs: number): void {
    this.dtmfReceived += digit;
    this.safeEmit('dtmf', digit, durationMs, 'info');
  }

  // ------------------------------------------------------------ offer/answer through sip.js (INVITE)

  /**
   * Our offer (state `stable`: the initial one, a re-offer for hold/resume, an ICE restart, the
   * draft's §5.8 additional offer, or the offer in a 2xx to an offerless re-INVITE) or our answer
   * (state `remote-offer`).
   * @throws Error if the session is closed or gathering fails completely.
   */
  async getDescription(): Promise<BodyAndContentType> {
    if (this.closed) throw new Error('media session closed');
    if (this.oa.state === 'remote-offer') {
      await this.consultReofferHandler('invite');
      return { body: await this.answerPendingOffer(), contentType: SDP };
    }
    if (this.oa.state === 'local-offer') {
      // sip.js asks again for the offer it is sending (a retransmission, a retried request).
      if (this.localSdp) return { body: this.localSdp, contentType: SDP };
    }
    return { body: await this.offer('invite'), contentType: SDP };
  }

  /**
   * sip.js hands us the peer's SDP: an offer in `stable`, the answer to ours in `local-offer`.
   * @throws ParseError for an SDP we cannot use (sip.js then answers 488 or ends the call).
   */
  async setDescription(sdp: string): Promise<void> {
    if (this.closed) throw new Error('media session closed');
    const remote = this.parseRemote(sdp);
    if (this.oa.state === 'local-offer') await this.applyAnswer(remote);
    else await this.applyOffer(remote, 'invite');
  }

  /**
   * sip.js withdraws the offer in progress (a re-INVITE that got a non-2xx, RFC 3261 §14.1: "the
   * session state is unchanged"): back to `stable`, the peer's previous description and our hold
   * as they were.
   */
  async rollbackDescription(): Promise<void> {
    this.rollback();
  }

  // ------------------------------------------------------------ preconditions, UPDATE, ICE restart
  // UPDATE offers and answers (RFC 3311; lib/sip/precondition-call.ts, Phone.onUpdate) go through
  // these explicit methods, in early and confirmed dialogs alike.

  /** RFC 3312 curr/des/conf lines for the (first) m= section of every SDP we write from now on. */
  setPreconditionLines(lines: PreconditionAttribute[] | undefined): void {
    this.preconditionLines = lines ? [...lines] : undefined;
  }

  /** The last SDP we produced (offer or answer). */
  get localDescription(): string | undefined {
    return this.localSdp;
  }

  /**
   * A new offer in the same session (UPDATE, RFC 3311): same media and candidates, o= version + 1,
   * the current precondition lines. `afterNomination`: the controlling agent's offer once ICE has
   * selected pairs (RFC 8839 §4.4.1.2.2): m/c name the local candidate of the selected pair and
   * `a=remote-candidates` lists its remote ones. An UPDATE offer still pending (its UPDATE got 491
   * and is retried, RFC 3261 §14.1) is replaced.
   * @throws StateError before the initial exchange, while an offer of the peer's awaits our answer, or after close.
   */
  async createUpdateOffer(options: { afterNomination?: boolean } = {}): Promise<string> {
    if (this.closed) throw new StateError('media session closed');
    if (!this.agent || !this.remote || !this.localSdp) throw new StateError('no session to update yet');
    if (this.oa.state === 'local-offer' && this.oa.via === 'update') this.rollback();
    if (this.oa.state !== 'stable') throw new StateError(`cannot offer in UPDATE in offer/answer state ${this.oa.state}`);
    await this.ready;
    const afterNomination = options.afterNomination === true && this.connectivity instanceof IceConnectivity && this.connectivity.nominationComplete();
    this.remoteBeforeOffer = this.remote;
    this.localSdp = this.build(this.codec ? [this.codec] : this.preferredCodecs(), 'offer', afterNomination);
    this.oa.localOffer('update');
    return this.localSdp;
  }

  /**
   * Answers an offer received in UPDATE (or PRACK): media keeps flowing; new ICE credentials from
   * the peer mean an ICE restart (RFC 8839 §4.4.1.1.1), new alternates a new draft §5.8 cycle.
   * An UPDATE offer of ours still marked pending was refused: the SIP layer (lib/sip/sipjs/update.ts)
   * passes the peer's UPDATE offer on only when the dialog has no offer of ours outstanding (else it
   * answers 491 itself, RFC 3311 §5.2), so ours got its 491 and waits for its retry; it is withdrawn.
   * @throws GlareError (491) while our re-INVITE offer is pending; ParseError for an SDP we cannot use (the caller answers 488).
   */
  async answerUpdateOffer(sdp: string): Promise<string> {
    if (this.closed) throw new StateError('media session closed');
    const remote = this.parseRemote(sdp);
    if (this.codec && !negotiateCodec(remote.codecs, [this.codec])) throw new ParseError(`the offer drops our codec ${this.codec.name}`, 'm=audio');
    this.abandonUpdateOffer();
    await this.applyOffer(remote, 'update');
    try {
      await this.consultReofferHandler('update');
    } catch (e) {
      this.rollback();
      throw e;
    }
    return this.answerPendingOffer();
  }

  /**
   * Sets (or, with undefined, removes) the handler asked before we answer a re-offer (see
   * `ReofferHandler`); the initial offer is answered without it.
   */
  setReofferHandler(handler: ReofferHandler | undefined): void {
    this.reofferHandler = handler;
  }

  /**
   * The SIP status the reoffer handler refused the last offer with (300..699), once: the SIP layer
   * puts it on the response to that request instead of 488. Undefined when it did not refuse.
   */
  takeRefusalStatus(): number | undefined {
    const s = this.refusalStatus;
    this.refusalStatus = undefined;
    return s;
  }

  private async consultReofferHandler(via: 'invite' | 'update'): Promise<void> {
    if (!this.started || !this.reofferHandler || !this.remote) return;
    this.refusalStatus = undefined;
    try {
      await this.reofferHandler({ via, remote: this.remote });
    } catch (e) {
      const code = (e as { statusCode?: unknown }).statusCode;
      this.refusalStatus = typeof code === 'number' && code >= 300 && code <= 699 ? code : 488;
      throw e;
    }
    if (this.closed) throw new StateError('media session closed while the re-offer was being handled');
  }

  /** Applies the answer to our UPDATE offer. @throws ParseError for an unusable SDP, StateError when no offer of ours is pending. */
  async applyUpdateAnswer(sdp: string): Promise<void> {
    if (this.closed) throw new StateError('media session closed');
    if (this.oa.state !== 'local-offer') throw new StateError(`an UPDATE answer in offer/answer state ${this.oa.state}`);
    await this.applyAnswer(this.parseRemote(sdp));
  }

  /** Our UPDATE offer got no answer (a final non-2xx after its retries): the session stays as it was. */
  abandonUpdateOffer(): void {
    if (this.oa.state === 'local-offer' && this.oa.via === 'update') this.rollback();
  }

  /**
   * Asks for an ICE restart (RFC 8445 §9): the next offer we produce (re-INVITE through sip.js, or
   * `createUpdateOffer`) carries a new ufrag and password; checks run again once the answer comes,
   * media stays on the previously selected pair meanwhile.
   * @throws StateError unless ICE (a=candidate) is in use in a started session.
   */
  requestIceRestart(): void {
    if (this.closed || !this.started || !this.agent) throw new StateError('no running media session to restart ICE in');
    if (!(this.connectivity instanceof IceConnectivity)) throw new StateError(`ICE restart needs a=candidate ICE, this call uses format '${this.format ?? 'none'}'`);
    this.restartRequested = true;
  }

  // ------------------------------------------------------------ hold (RFC 3264 §8.4, RFC 6337 §5)

  /**
   * Asks to hold the peer (`true`: our next offer says sendonly, or inactive when the peer holds us
   * too) or to resume (`false`). Takes effect when that offer is answered; the caller sends it
   * (re-INVITE, or UPDATE in an early dialog). While we hold, no audio is sent (no music on hold);
   * RTCP goes on.
   * @throws StateError before media started or after close.
   */
  setLocalHold(on: boolean): void {
    if (this.closed || !this.started) throw new StateError('no running media session to hold');
    this.hold.requested = on;
  }

  /** Whether we hold the peer, and whether the peer holds us, as the last offer/answer left it. */
  get holdState(): { local: boolean; remote: boolean } {
    return { local: this.hold.localApplied, remote: this.hold.peerHolds };
  }

  /** Every hold period of this session, in order. */
  get holdPeriods(): HoldPeriod[] {
    return this.hold.periods;
  }

  // ------------------------------------------------------------ the exchange steps

  private async offer(via: 'invite' | 'update'): Promise<string> {
    if (!this.started) {
      if (this.remote) throw new StateError('an offer before the initial exchange completed');
      // We are the offerer: controlling (RFC 8445 §6.1.1). The offer proposes rtcp-mux but still
      // carries component 2 candidates and a=rtcp (RFC 5761 §5.1.3): peers such as baresip 1.0
      // treat an offer without them as ICE-incapable.
      const noRtcp = this.options.rtcp === false;
      // RFC 8838 §4: full trickle sends the offer once host candidates exist; half waits for all.
      await this.ensureAgent('controlling', noRtcp ? 1 : 2, this.trickleMode !== 'full');
      this.offered = offerFormat(this.options.sdpFormat ?? 'both');
      // draft §5.2: the STUN servers run from the moment the alternates are handed out.
      if (this.offered.alt) this.altOffered = this.makeAlt();
      this.rtcpMux = !noRtcp && this.options.rtcpMux !== false;
      if (this.srtpPolicy !== 'off') {
        this.cryptoLines = offerCrypto();
        if (this.srtpPolicy === 'mandatory') this.profile = 'RTP/SAVP';
      }
      this.localSdp = this.build(this.preferredCodecs(), 'offer');
      this.oa.localOffer(via);
      return this.localSdp;
    }
    this.remoteBeforeOffer = this.remote;
    if (this.restartRequested && this.connectivity instanceof IceConnectivity) {
      this.restartRequested = false;
      this.connectivity.restartLocally();
      this.safeEmit('ice-restart', 'local');
    }
    // A re-offer (hold or resume, RFC 3264 §8.4; the draft's §5.8 cycle with every alternate; an
    // ICE restart): same media, the direction we now want.
    this.localSdp = this.build(this.codec ? [this.codec] : this.preferredCodecs(), 'offer');
    this.oa.localOffer(via);
    return this.localSdp;
  }

  private async applyOffer(remote: RemoteDescription, via: 'invite' | 'update'): Promise<void> {
    if (this.oa.state === 'remote-offer') {
      // The same offer handed over again (sip.js does, for the 2xx after an answer in an unreliable
      // 183): it replaces the pending one.
      this.remote = remote;
      return;
    }
    this.oa.remoteOffer(via);
    if (!this.started && !this.localSdp) {
      try {
        await this.acceptInitialOffer(remote);
      } catch (e) {
        this.oa.rollback();
        throw e;
      }
      return;
    }
    // A re-offer in an established session: media as it is unless the peer's ICE credentials
    // changed (restart); with a=alt the peer's new alternates are checked (draft §5.8).
    this.remoteBeforeOffer = this.remote;
    this.connectivity?.remoteUpdated(this.remote, remote);
    this.remote = remote;
    this.hold.peerHolds = !receives(effectiveDirection(remote));
  }

  private async answerPendingOffer(): Promise<string> {
    if (!this.agent || !this.remote) throw new Error('answer requested before the offer was applied');
    await this.ready;
    this.localSdp = this.build(this.codec ? [this.codec] : [], 'answer');
    this.oa.localAnswer();
    if (!this.started) this.startMedia();
    this.exchangeCompleted();
    // Candidates found while the answer was written go out once it is (RFC 8840 §4.3).
    queueMicrotask(() => this.flushTrickle());
    return this.localSdp;
  }

  private async applyAnswer(remote: RemoteDescription): Promise<void> {
    if (this.started) {
      this.connectivity?.remoteUpdated(this.remote, remote);
      this.remote = remote;
      this.oa.remoteAnswer();
      this.exchangeCompleted();
      return;
    }
    await this.acceptInitialAnswer(remote);
    this.oa.remoteAnswer();
    this.startMedia();
    this.exchangeCompleted();
    this.flushTrickle();
  }

  private rollback(): void {
    if (this.oa.state === 'stable') return;
    const state = this.oa.state;
    this.oa.rollback();
    if (state === 'remote-offer' && this.remoteBeforeOffer) {
      this.remote = this.remoteBeforeOffer;
      // The refused offer's direction is not in place either.
      this.hold.peerHolds = !receives(effectiveDirection(this.remote));
    }
    // A hold or resume whose offer failed is not in place; the next offer asks again.
    this.hold.requested = this.hold.localApplied;
  }

  /** The peer's initial offer: codec, format, SRTP, telephone-event, our role and components. */
  private async acceptInitialOffer(remote: RemoteDescription): Promise<void> {
    const codec = negotiateCodec(remote.codecs, this.preferredCodecs());
    if (!codec) throw new ParseError('no common codec (we support PCMU, PCMA)', 'm=audio');
    // We answer an offer that anybody could have sent with a forged Via and c= line: our RTP is
    // limited until the peer proves it is there (confirmPeer).
    this.awaitingConfirmation = true;
    // lib/sdp/format.ts: an answer mirrors the offer.
    const format = answerFormat(describedFormat(remote), this.options.sdpFormat ?? 'both');
    // RFC 4568 §7.1.2: answer one offered a=crypto line with our own key (or refuse: 488 upstream).
    const r = answerCrypto(this.srtpPolicy, remote);
    this.codec = codec;
    this.remote = remote;
    this.format = format;
    if (r.kind === 'srtp') {
      this.cryptoLines = [r.answer];
      this.srtp = r.session;
      this.srtpSuite = r.suite;
      if (remote.profile.toUpperCase() === 'RTP/SAVP') this.profile = 'RTP/SAVP';
    }
    this.negotiateEvents(remote, codec);
    this.hold.peerHolds = !receives(effectiveDirection(remote));
    // We answer, controlled, unless the offerer is lite and we are not (RFC 8445 §6.1.1: "the full
    // agent MUST take the controlling role"). Components: one with rtcp-mux, one when the peer gave
    // ICE candidates for component 1 only or we run without RTCP (RFC 8445 §6.1.2.2), else two.
    const liteOfferer = remote.ice?.iceLite === true && format === 'ice' && !this.options.iceLite;
    const oneComponent = remote.rtcpMux || this.options.rtcp === false || (format === 'ice' && !remote.ice!.candidates.some((c) => c.component === 2));
    this.rtcpMux = remote.rtcpMux && this.options.rtcp !== false;
    this.peerTrickles = format === 'ice' && remote.ice!.options.includes('trickle');
    // RFC 8838 §4: full trickle toward a peer that showed support: answer once host candidates exist.
    await this.ensureAgent(liteOfferer ? 'controlling' : 'controlled', oneComponent ? 1 : 2, !(this.trickleMode === 'full' && this.peerTrickles));
    this.connectivity = format === 'alt' ? this.makeAlt() : format === 'ice' ? this.makeIce() : new PlainConnectivity(this.agent!, this.connectivityHost());
  }

  /** The peer's answer to our initial offer: codec, the format it chose, SRTP, components. */
  private async acceptInitialAnswer(remote: RemoteDescription): Promise<void> {
    const codec = negotiateCodec(remote.codecs, this.preferredCodecs());
    if (!codec) throw new ParseError('no common codec (we support PCMU, PCMA)', 'm=audio');
    // lib/sdp/format.ts: the offerer follows the answer.
    const format = followAnswer(describedFormat(remote), this.offered ?? { ice: true, alt: false });
    let crypto: ReturnType<typeof applyAnswerCrypto>;
    if (this.cryptoLines.length > 0) {
      crypto = applyAnswerCrypto(this.cryptoLines, remote);
      if (!crypto && this.srtpPolicy === 'mandatory') throw new ParseError('SRTP is mandatory and the answer has no a=crypto', 'a=crypto');
      if (!crypto) this.log.info('the answer has no a=crypto: plain RTP (--srtp optional)');
    }
    this.codec = codec;
    this.remote = remote;
    this.format = format;
    this.peerTrickles = format === 'ice' && remote.ice !== undefined && remote.ice.options.includes('trickle');
    if (this.trickleMode === 'full' && !this.peerTrickles && this.agent && !this.agent.gatheringComplete) {
      this.log.info('the answer does not support trickle ICE: candidates gathered after the offer are not signalled');
    }
    if (crypto) {
      this.srtp = crypto.session;
      this.srtpSuite = crypto.suite;
    }
    this.negotiateEvents(remote, codec);
    if (format === 'alt' && this.altOffered) {
      this.connectivity = this.altOffered;
    } else {
      // The answer chose a=candidate (or nothing): the draft engine steps aside.
      this.altOffered?.close();
      this.connectivity = format === 'ice' ? this.makeIce() : new PlainConnectivity(this.agent!, this.connectivityHost());
    }
    this.altOffered = undefined;
    // With rtcp-mux accepted, or ICE candidates for component 1 only (RFC 8445 §6.1.2.2),
    // component 2 is withdrawn.
    this.rtcpMux = this.rtcpMux && remote.rtcpMux;
    const peerOneComponent = format === 'ice' && remote.ice !== undefined && !remote.ice.candidates.some((c) => c.component === 2);
    if ((remote.rtcpMux || peerOneComponent) && this.components > 1) {
      await this.agent?.useComponents(1);
      if (this.connectivity instanceof AltConnectivity) this.connectivity.useComponents(1);
      this.components = 1;
    }
  }

  private negotiateEvents(remote: RemoteDescription, codec: CodecDescription): void {
    this.telephoneEvent = negotiateTelephoneEvent(remote, codec);
    if (this.telephoneEvent?.fmtpError) {
      // A telephone-event fmtp that makes no sense: counted like any malformed line; the peer is
      // assumed to take the RFC 4733 §2.4.1 default events 0-15.
      this.malformedSdpLines++;
      this.log.warn(`telephone-event fmtp ignored (events 0-15 assumed): ${this.telephoneEvent.fmtpError}`);
    }
  }

  /** An offer/answer exchange completed: hold state and the RTP direction follow it. */
  private exchangeCompleted(): void {
    this.hold.exchangeCompleted(this.remote !== undefined && receives(effectiveDirection(this.remote)));
    this.applyDirection();
  }

  /**
   * Parses the peer's SDP once (every part the session uses comes from this one parse), counting
   * and logging malformed lines. @throws ParseError for an unusable SDP.
   */
  private parseRemote(sdp: string): RemoteDescription {
    let remote: RemoteDescription;
    try {
      remote = (this.options.describe ?? parseDescription)(sdp);
    } catch (e) {
      this.malformedSdpLines++;
      this.log.warn(`rejecting SDP: ${errorMessage(e)}`);
      throw e;
    }
    this.malformedSdpLines += remote.invalidLines.length;
    for (const line of remote.invalidLines) this.log.warn(`dropped malformed SDP line: ${line}`);
    if (remote.alt?.mismatch) {
      // lib/sdp/format.ts, alt mismatch: a middlebox rewrote m/c and left the a=alt lines.
      this.log.info(`ignoring a=alt: none of its ${remote.alt.alternates.length} alternates is the m/c address ${remote.address} ${remote.port} (SDP rewritten on the way; media goes to m/c)`);
    } else if (remote.alt) {
      for (const w of readRemoteAlternates(remote).warnings) this.log.debug(`a=alt accepted with a deviation: ${w.message}`);
    }
    return remote;
  }

  // ------------------------------------------------------------ connectivity

  private connectivityHost(): ConnectivityHost {
    return {
      mediaReady: () => this.beginRtp(),
      connected: () => {
        if (this.connectedAt === undefined) this.connectedAt = this.clock.now();
      },
      mediaFailed: (reason) => {
        if (!this.closed) this.safeEmit('media-failed', reason);
      },
      peerConfirmed: (why) => this.confirmPeer(why),
    };
  }

  private makeIce(): IceConnectivity {
    return new IceConnectivity(this.agent!, this.connectivityHost(), () => this.safeEmit('ice-restart', 'remote'));
  }

  private makeAlt(): AltConnectivity {
    return new AltConnectivity(
      { agent: this.agent!, components: this.components, clock: this.clock, log: this.log.child('alt'), checkTimeoutMs: this.options.checkTimeoutMs, extraAlternates: this.options.testExtraAlternates },
      this.connectivityHost(),
      {
        check: (info) => this.safeEmit('check', info),
        selectedPair: (component, pair) => this.safeEmit('selected-pair', component, pair),
        iceState: (state) => this.safeEmit('ice-state', state),
        renegotiate: (reason) => this.safeEmit('renegotiate', reason),
      },
    );
  }

  /** `waitForAll`: resolve after full gathering (else, trickle ICE, once the host candidates exist). */
  private async ensureAgent(role: IceRole, components: number, waitForAll = true): Promise<void> {
    if (this.agent) {
      await this.ready;
      return;
    }
    this.role = role;
    this.components = components;
    const agent = new IceAgent({
      role,
      components,
      clock: this.clock,
      log: this.log.child('ice'),
      addresses: this.options.addresses,
      includeLoopback: this.options.includeLoopback,
      stunServers: this.options.stunServers,
      turnServers: this.options.turnServers,
      turnTimeoutMs: this.options.turnTimeoutMs,
      turnFamilies: this.options.turnFamilies,
      transportPolicy: this.options.transportPolicy,
      taMs: this.options.taMs,
      checkTimeoutMs: this.options.checkTimeoutMs,
      lite: this.options.iceLite,
      bindSocket: this.options.bindSocket,
      consent: this.options.consent,
      consentExpiryMs: this.options.consentExpiryMs,
      consentIntervalMs: this.options.consentIntervalMs,
      trickle: this.trickleMode !== 'off',
      nomination: this.options.nomination,
    });
    this.agent = agent;
    this.role = agent.role;
    agent.on('candidate', (c) => {
      this.safeEmit('candidate', c);
      this.flushTrickle();
    });
    agent.on('gathering-complete', () => this.flushTrickle());
    agent.on('state', (s) => {
      if (s !== 'closed') this.lastIceState = s;
      this.safeEmit('ice-state', s);
    });
    agent.on('selected-pair', (component, pair) => this.safeEmit('selected-pair', component, pair));
    agent.on('check', (info) => this.safeEmit('check', info));
    agent.on('relay', (r) => this.safeEmit('relay', r));
    agent.on('data', (component, data, from) => this.onData(component, data, from));
    this.gathering = agent.gather().then(() => undefined);
    // Host candidates are no candidates under transport policy 'relay'; a lite agent has only hosts.
    const trickleFirst = !waitForAll && this.options.transportPolicy !== 'relay' && !agent.lite;
    this.ready = trickleFirst ? agent.hostsGathered() : this.gathering;
    await this.ready;
  }

  /** The initial exchange completed: start connectivity (checks, or plain media) and the RTP session. */
  private startMedia(): void {
    if (this.started || !this.agent || !this.remote || !this.codec || !this.connectivity) return;
    this.started = true;
    this.startedAt = this.clock.now();
    void this.prepareRtp().catch((e) => this.log.error(`media: ${errorMessage(e)}`));
    this.connectivity.start(this.remote, this.components);
    this.watchInterfaces();
    for (const body of this.pendingFragments.splice(0)) {
      try {
        this.applyTrickleFragment(body);
      } catch (e) {
        this.log.warn(`trickle fragment: ${errorMessage(e)}`);
      }
    }
  }

  // ------------------------------------------------------------ our SDP

  /**
   * Our SDP. `kind` decides the direction line: an offer says what we want (RFC 6337 §5), an answer
   * follows RFC 3264 §6.1 from the peer's offer. `afterNomination`: RFC 8839 §4.4.1.2.2 m/c and
   * a=remote-candidates.
   */
  private build(codecs: CodecDescription[], kind: 'offer' | 'answer', afterNomination = false): string {
    const agent = this.agent!;
    this.ourDirection = kind === 'offer' || !this.remote
      ? offerDirection(this.hold.requested, this.hold.peerHolds)
      : answerDirection(effectiveDirection(this.remote), this.hold.requested ? 'sendonly' : 'sendrecv');
    const nominated = (component: number) => (afterNomination ? agent.selectedPair(component) : undefined);
    // Candidates on an address that went away (the interface watcher) are offered no more, and are no
    // default; the agent keeps them, their checks just fail.
    const usable = (c: Candidate) => !this.isGone(c.address) && !(c.type !== 'relay' && c.relatedAddress !== undefined && this.isGone(c.relatedAddress));
    const defaultOf = (component: number): Candidate => {
      const d = agent.defaultCandidate(component);
      if (usable(d)) return d;
      const rest = agent.localCandidates.filter((c) => c.component === component && c.type !== 'prflx' && usable(c));
      return rest.find((c) => c.type === 'relay') ?? rest.sort((a, b) => b.priority - a.priority)[0] ?? d;
    };
    const rtpDefault = nominated(1)?.local ?? defaultOf(1);
    const rtcpDefault = this.components >= 2 ? (nominated(2)?.local ?? defaultOf(2)) : undefined;
    let remoteCandidates: RemoteCandidate[] | undefined;
    if (afterNomination) {
      remoteCandidates = [];
      for (let c = 1; c <= this.components; c++) {
        const pair = agent.selectedPair(c);
        if (pair) remoteCandidates.push({ component: c, address: pair.remote.address, port: pair.remote.port });
      }
    }
    this.sessionVersion++;
    // lib/sdp/format.ts: an offer carries what the setting says, an answer (or a later offer) the
    // negotiated format only; m/c is the default candidate (relayed if any, draft §5.4).
    const carry = this.format === undefined ? (this.offered ?? { ice: true, alt: false }) : { ice: this.format === 'ice', alt: this.format === 'alt' };
    const alt = this.connectivity instanceof AltConnectivity ? this.connectivity : this.altOffered;
    // RFC 4733 §2.4: telephone-event/8000 with events 0-16 in every offer; an answer carries it only
    // when the offer did (with the offerer's payload type).
    const te = kind === 'offer' && !this.telephoneEvent ? { codec: telephoneEventCodec(), fmtp: telephoneEventFmtp() } : this.telephoneEvent;
    const trickle = this.trickleMode !== 'off';
    const signalledNow = agent.localCandidates.filter((c) => c.component <= this.components && usable(c));
    if (carry.ice) {
      for (const c of signalledNow) this.signalled.add(c);
      if (trickle && agent.gatheringComplete && !this.gatheringGoesOn) this.endSignalledFor = agent.localUfrag;
    }
    return writeLocalDescription({
      sessionId: this.sessionId,
      sessionVersion: this.sessionVersion,
      codecs,
      telephoneEvent: te,
      profile: this.profile,
      direction: this.ourDirection,
      defaultRtp: rtpDefault,
      defaultRtcp: rtcpDefault,
      rtcpMux: this.rtcpMux,
      ice: carry.ice ? {
        ufrag: agent.localUfrag, pwd: agent.localPwd, candidates: signalledNow, remoteCandidates, lite: agent.lite,
        // RFC 8840 §4.1: trickle support in every offer and answer; end-of-candidates once gathered.
        ...(trickle ? { options: ['trickle'], endOfCandidates: agent.gatheringComplete && !this.gatheringGoesOn } : {}),
      } : undefined,
      alternates: carry.alt && alt ? alt.announceAlternates() : [],
      crypto: this.cryptoLines,
      // RFC 8839 §4.2.5: an answer to an offer whose m/c line is not among its candidates says so.
      // Not with `sdpFormat: 'none'` (the gateway's PBX leg): its SDP carries no ICE attribute at all.
      iceMismatch: kind === 'answer' && this.format === 'none' && this.offered === undefined && this.remote?.ice?.mismatch === true && this.options.sdpFormat !== 'none',
      preconditions: this.preconditionLines,
    });
  }

  private preferredCodecs(): CodecDescription[] {
    const names = (this.options.codecs ?? ['PCMU', 'PCMA']).map((n) => n.toUpperCase());
    const out: CodecDescription[] = [];
    for (const n of names) {
      const c = SUPPORTED_CODECS.find((s) => s.name.toUpperCase() === n);
      if (c) out.push(c);
    }
    return out;
  }

  // ------------------------------------------------------------ RTP (media-stream.ts)

  /**
   * Connects this call's media (see `MediaEndpoints`); may be called before or after media starts.
   * @throws Error when `source` names a WAV file that cannot be read (before media starts: when it does).
   */
  useEndpoints(endpoints: MediaEndpoints): Promise<void> {
    return this.stream.useEndpoints(endpoints);
  }

  /**
   * Sends one RTP packet of the application's with this call's SSRC and sequence numbers (for
   * pass-through; see `MediaEndpoints.passthrough`). Honours the negotiated direction.
   * @returns false when media is not running or sending is not allowed now.
   */
  sendRtp(packet: OutgoingRtpPacket): boolean {
    return this.stream.sendRtp(packet);
  }

  /**
   * What offer/answer settled on (RFC 3264 §6.1): the audio codec's name (`PCMU`/`PCMA`) and RTP
   * payload type, and the RFC 4733 telephone-event payload type when the peer has one; undefined
   * before the first exchange. A gateway maps payload types between legs with it.
   */
  get negotiatedPayloads(): { codec: string; payloadType: number; telephoneEvent?: number } | undefined {
    if (!this.codec) return undefined;
    return { codec: this.codec.name.toUpperCase(), payloadType: this.codec.payloadType, ...(this.telephoneEvent ? { telephoneEvent: this.telephoneEvent.payloadType } : {}) };
  }

  /** Live RTP statistics (RFC 3550 counters, jitter, loss), undefined before media starts. */
  get rtpStats(): RtpStats | undefined {
    return this.stream.stats;
  }

  /** SRTP/SRTCP packets that failed authentication, replay or parsing: counted and dropped. */
  get srtpDropped(): number {
    return this.stream.srtpDropped;
  }

  private prepareRtp(): Promise<void> {
    return this.stream.prepare({
      codec: this.codec!,
      telephoneEventPayloadType: this.telephoneEvent?.payloadType,
      srtp: this.srtp,
      unconfirmedPacketLimit: this.awaitingConfirmation ? (this.options.unconfirmedRtpPackets ?? DEFAULT_UNCONFIRMED_RTP_PACKETS) : undefined,
      components: () => this.components,
      rtcpMux: () => this.rtcpMux,
    }).then(() => this.applyDirection());
  }

  /**
   * RTP follows the negotiated direction (RFC 3264 §5.1: "MUST NOT send" on a recvonly/inactive
   * stream, nor to a peer whose stream is sendonly/inactive or c=0.0.0.0); while we hold, nothing.
   */
  private applyDirection(): void {
    if (!this.remote) return;
    const flows = mediaFlows(this.ourDirection, effectiveDirection(this.remote));
    this.stream.setSending(flows.send && !this.hold.localApplied);
  }

  /**
   * The peer showed it wants our media: the ACK for our 2xx (RFC 3261 §13.3.1.4; it names our
   * To tag, which only the real sender of the INVITE saw), a PRACK, a connectivity check answered
   * (RFC 8445 §7.2.5) or an SRTP packet that authenticated. RTP held back flows again. Idempotent.
   */
  confirmPeer(why: string): void {
    if (!this.awaitingConfirmation) return;
    this.awaitingConfirmation = false;
    this.log.debug(`peer confirmed (${why}): RTP no longer limited`);
    this.stream.confirmPeer();
  }

  private beginRtp(): void {
    if (this.rtpStarted) return;
    this.rtpStarted = true;
    this.stream.start();
    this.watchIncomingMedia();
    this.safeEmit('media-ready');
  }

  /** `MediaOptions.rtpTimeoutMs`: the call ends when the peer's media stops (./rtp-timeout.ts). */
  private watchIncomingMedia(): void {
    const timeoutMs = this.options.rtpTimeoutMs ?? 0;
    if (!(timeoutMs > 0) || this.rtpTimeout) return;
    this.rtpTimeout = new RtpTimeout({
      clock: this.clock,
      timeoutMs,
      received: () => {
        const st = this.stream.stats;
        return st ? st.packetsReceived + st.rtcpReceived : 0;
      },
      expecting: () => this.remote !== undefined && sends(effectiveDirection(this.remote)) && receives(this.ourDirection),
      onTimeout: (reason) => {
        this.log.warn(reason);
        if (!this.closed) this.safeEmit('media-failed', reason);
      },
    });
    this.rtpTimeout.start();
  }

  private onData(component: number, raw: Buffer, _from: TransportAddress): void {
    if (this.stream.receive(component, raw) === 'authenticated') this.confirmPeer('SRTP packet authenticated');
  }

  // ------------------------------------------------------------ end and summary

  /**
   * With the interface watcher on, gathering never really ends (a new address becomes candidates
   * mid-call), so we never signal end-of-candidates: RFC 8838 §13 forbids conveying candidates after
   * it without an ICE restart, and the watcher's addresses are trickled without one.
   */
  private get gatheringGoesOn(): boolean {
    return Boolean(this.options.watchInterfacesMs) && !(this.options.addresses && !this.options.listAddresses) && !this.agent?.lite;
  }

  /**
   * Every `watchInterfacesMs`: new local addresses become host candidates (trickled to a peer that
   * takes them, checked, used when better: IceAgent.addHostAddress); an address that the media
   * path's local candidate was on and that went away asks for an ICE restart (RFC 8445 §9), with the
   * reason logged and emitted as 'renegotiate' for the signalling layer's re-INVITE.
   */
  private watchInterfaces(): void {
    const every = this.options.watchInterfacesMs;
    if (!every || (this.options.addresses && !this.options.listAddresses) || !(this.connectivity instanceof IceConnectivity) || this.agent?.lite) return;
    const list = this.options.listAddresses ?? (() => listLocalAddresses({ includeLoopback: this.options.includeLoopback }).map((a) => a.address));
    this.knownAddresses = new Set(list());
    const tick = () => {
      this.watchTimer = undefined;
      if (this.closed || !this.agent) return;
      const now = new Set(list());
      for (const address of now) {
        if (this.knownAddresses!.has(address)) continue;
        this.goneAddresses.delete(address);
        this.log.info(`local address ${address} appeared: adding host candidates`);
        void this.agent.addHostAddress(address).catch((e) => this.log.warn(`new address ${address}: ${errorMessage(e)}`));
      }
      const path = this.agent.mediaPair(1)?.pair.local;
      for (const address of this.knownAddresses!) {
        if (now.has(address)) continue;
        this.goneAddresses.add(address);
        const onPath = path !== undefined && (sameAddress(path, { address, port: path.port }) || (path.relatedAddress !== undefined && sameAddress({ address: path.relatedAddress, port: 0 }, { address, port: 0 })));
        this.log.info(`local address ${address} went away${onPath ? ' (it carried the media path)' : ''}`);
        if (onPath && this.oa.state === 'stable') {
          const reason = `local address ${address} of the media path went away: ICE restart`;
          this.log.warn(reason);
          try {
            this.requestIceRestart();
            this.safeEmit('renegotiate', reason);
          } catch (e) {
            this.log.warn(`no ICE restart: ${errorMessage(e)}`);
          }
        }
      }
      this.knownAddresses = now;
      this.watchTimer = this.clock.setTimer(every, tick);
    };
    this.watchTimer = this.clock.setTimer(every, tick);
  }

  close(): void {
    this.rtpTimeout?.stop();
    this.clock.clearTimer(this.watchTimer);
    if (this.closed) return;
    this.closed = true;
    void this.stream.close();
    this.connectivity?.close();
    this.altOffered?.close();
    void this.agent?.close();
  }

  /** Resolves once the session is fully closed (sockets released, recording written). */
  async closeAndWait(): Promise<void> {
    this.rtpTimeout?.stop();
    this.clock.clearTimer(this.watchTimer);
    this.closed = true;
    this.connectivity?.close();
    this.altOffered?.close();
    await Promise.allSettled([this.stream.close(), this.agent?.close()]);
  }

  /** A snapshot for the `--json` summary. */
  summary(): MediaSummary {
    const format: MediaSummary['ice']['format'] = this.format ?? (this.remote?.ice ? 'ice' : 'none');
    const report = this.connectivity?.report();
    const path = report?.path;
    const st = this.stream.stats;
    const alt = this.connectivity instanceof AltConnectivity ? this.connectivity : this.altOffered;
    return {
      ice: {
        state: report?.state ?? (this.connectedAt !== undefined && format !== 'alt' ? 'connected' : 'failed'),
        ...(report?.reason ? { reason: report.reason } : {}),
        role: this.agent?.role ?? this.role ?? 'controlling',
        format,
        localCandidates: this.agent ? [...this.agent.localCandidates] : [],
        remoteCandidates: format === 'alt' ? (report?.remoteCandidates ?? []) : format === 'ice' && this.remote?.ice ? [...this.remote.ice.candidates, ...this.trickledRemote] : [],
        selectedPair: path ? { local: pairEnd(path.local), remote: pairEnd(path.remote), nominated: path.nominated } : null,
        connectedMs: this.connectedAt !== undefined && this.startedAt !== undefined ? Math.round(this.connectedAt - this.startedAt) : null,
      },
      rtp: {
        packetsSent: st?.packetsSent ?? 0,
        packetsReceived: st?.packetsReceived ?? 0,
        packetsLost: st?.packetsLost ?? 0,
        jitterMs: st ? Math.round(st.jitterMs * 100) / 100 : 0,
        rtcpSent: st?.rtcpSent ?? 0,
        rtcpReceived: st?.rtcpReceived ?? 0,
      },
      rtpStats: st ? { ...st } : null,
      codec: this.codec ? `${this.codec.name}/${this.codec.clockRate}` : null,
      srtp: this.srtpSuite ? { suite: this.srtpSuite } : null,
      malformedSdpLines: this.malformedSdpLines,
      dropped: {
        mediaMalformed: this.agent?.stats.malformedDropped ?? 0,
        stunUnauthorized: (this.agent?.stats.unauthorized401Sent ?? 0) + (alt?.rejectedChecks ?? 0),
        stunRateLimited: (this.agent?.stats.errorResponsesSuppressed ?? 0) + (alt?.rateLimitedChecks ?? 0),
        rtpMalformed: st?.malformedDropped ?? 0,
        srtp: this.srtpDropped,
        mediaFromStrangers: this.agent?.stats.mediaFromStrangers ?? 0,
        rtpUnconfirmed: st?.withheldUnconfirmed ?? 0,
      },
    };
  }
}

/** A sip.js SessionDescriptionHandlerFactory making MediaSessions with the given options. */
export function mediaSessionFactory(options: MediaOptions, onCreate?: (m: MediaSession) => void) {
  return (): MediaSession => {
    const m = new MediaSession(options);
    onCreate?.(m);
    return m;
  };
}
