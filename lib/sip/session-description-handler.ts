/**
 * The media side of one call, as sip.js's SessionDescriptionHandler: joins the SDP codecs,
 * the ICE agent and the RTP session.
 *
 * Offer/answer (RFC 3264) and ICE roles (RFC 8445 §6.1.1, RFC 8839 §4.1): the side that sends
 * the initial offer is the controlling agent. `getDescription()` before any remote description
 * produces an offer; `setDescription()` of a remote offer followed by `getDescription()` produces
 * the answer. Media starts once both descriptions are known: ICE checks when the peer did ICE,
 * otherwise plain RTP to the m/c-line address (RFC 8839 §4.1: peer not ICE-capable).
 */
import type { BodyAndContentType, SessionDescriptionHandler } from 'sip.js';
import type { Clock } from '../base/clock.js';
import { systemClock } from '../base/clock.js';
import { ParseError, StateError, errorMessage } from '../base/errors.js';
import { TypedEmitter } from '../base/events.js';
import type { Logger } from '../base/log.js';
import { silentLogger } from '../base/log.js';
import type { Candidate } from '../ice/candidate.js';
import { IceAgent, type CandidatePairInfo, type IceRole, type IceServer, type IceState, type RelayResult, type TurnServer } from '../ice/agent.js';
import type { PacketSocket, TransportAddress } from '../net/socket.js';
import {
  buildDescription,
  negotiateCodec,
  parseDescription,
  sessionIdNow,
  SUPPORTED_CODECS,
  type CodecDescription,
  type RemoteDescription,
} from '../sdp/offer-answer.js';
import { RtpSession, type OutgoingRtpPacket, type ReceivedRtpPacket, type RtpStats } from '../rtp/session.js';
import { AltAgent, type AltPath } from '../ice/alt-agent.js';
import { toQvalueScale, type AltCandidate } from '../ice/alternate.js';
import type { RemoteCandidate } from '../sdp/ice-attributes.js';
import {
  altAttributes,
  answerFormat,
  describedFormat,
  followAnswer,
  offerFormat,
  readRemoteAlternates,
  type NegotiatedFormat,
  type SdpFormatSetting,
} from '../sdp/format.js';
import { createSource, type AudioSource } from '../rtp/sources.js';
import { WavFileSink, type AudioSink } from '../rtp/sinks.js';
import { withPreconditions, type PreconditionAttribute } from '../sdp/preconditions.js';
import { negotiateTelephoneEvent, telephoneEventCodec, telephoneEventFmtp, type TelephoneEventNegotiation } from '../sdp/telephone-event-attributes.js';
import type { ReceivedDtmf } from '../rtp/dtmf-receiver.js';
import { answerCrypto, applyAnswerCrypto, cryptoSdpAttributes, looksLikeRtcp, offerCrypto, type SrtpPolicy } from '../media/srtp-negotiation.js';
import type { CryptoAttribute } from '../sdp/crypto-attributes.js';
import type { SrtpSession } from '../srtp/srtp-session.js';
import { answerDirection, effectiveDirection, mediaFlows, offerDirection, receives, type MediaDirection } from '../sdp/direction.js';

/**
 * What one call's media is connected to (the per-call media API). Audio frames are PCM, 16-bit
 * signed, 8 kHz mono; the RTP session paces the source (it reads 160 samples, 20 ms, per packet)
 * and writes the sink as packets play out (gaps filled with silence, bounded).
 */
export interface MediaEndpoints {
  /** Audio to send: an AudioSource, or `tone:HZ`, `silence`, a WAV path. */
  source?: AudioSource | string;
  /** Receives the peer's decoded audio; closed when the call ends. */
  sink?: AudioSink;
  /** Records the peer's audio to this WAV file (8 kHz mono 16-bit) as well. */
  record?: string;
  /** The RTP-level tap: every received RTP packet (any payload type). */
  onRtp?: (packet: ReceivedRtpPacket) => void;
  /** Send packets with `MediaSession.sendRtp` instead of encoding `source` (a gateway passing media through). */
  passthrough?: boolean;
}

/** Options for the media of every call a phone makes or answers. */
export interface MediaOptions {
  /** Local IPs to gather host candidates on (e.g. ['127.0.0.1']); default every usable interface. */
  addresses?: string[];
  includeLoopback?: boolean;
  stunServers?: IceServer[];
  /** TURN servers in preference order (relayed candidates, RFC 8445 §5.1.1.2). */
  turnServers?: TurnServer[];
  /** Time one TURN server may take before the next is tried, ms. */
  turnTimeoutMs?: number;
  /** Families of relayed candidates to allocate (`--relay-family`). Default ['IPv4']. */
  turnFamilies?: Array<'IPv4' | 'IPv6'>;
  /** 'relay': offer relayed candidates only (WebRTC iceTransportPolicy). Default 'all'. */
  transportPolicy?: 'all' | 'relay';
  /** Offer rtcp-mux (RFC 5761) with one component; false offers two components. Default true. */
  rtcpMux?: boolean;
  /**
   * false: no RTCP at all, one component and no rtcp-mux (a softphone with RTCP switched off);
   * a peer that offers two components gets an answer with one (RFC 8445 §6.1.2.2). Default true.
   */
  rtcp?: boolean;
  /**
   * Run as an ICE-lite agent (RFC 8445 §2.5, RFC 8839 §5.3 `a=ice-lite`): host candidates only,
   * no checks of our own, always controlled. For a gateway on a public address. Default false.
   */
  iceLite?: boolean;
  /** SRTP keyed by SDES (`--srtp`, lib/media/srtp-negotiation.ts). Default 'off'. */
  srtp?: SrtpPolicy;
  /**
   * Put SDES keys in SDP although the signalling is not TLS (`--srtp-allow-insecure-keys`; RFC 4568
   * §8.3 says not to). Default false: without TLS, SRTP is not offered and an SRTP offer is refused.
   */
  srtpAllowInsecureKeys?: boolean;
  /** The signalling is TLS (set by the Phone): SDES keys may go in our SDP. */
  secureSignalling?: boolean;
  /** Consent freshness (RFC 7675) on the media path; default true (never for a lite agent). */
  consent?: boolean;
  /** RFC 7675 consent lifetime, ms (default 30000). */
  consentExpiryMs?: number;
  /** Codec names in preference order; default ['PCMU', 'PCMA']. */
  codecs?: string[];
  /**
   * RTP packets we send, as the answerer of an initial offer, before the peer confirms it wants
   * them (the ACK for our 2xx or a PRACK, an ICE check answered, an SRTP packet that authenticates);
   * later ones wait for that confirmation. Default 25 (500 ms at 20 ms ptime): a forged INVITE whose
   * c= line names a victim draws at most this much RTP. Must be an integer >= 0.
   */
  unconfirmedRtpPackets?: number;
  /** `tone:HZ`, `silence` or a WAV path; default `tone:440`. */
  play?: string;
  /** WAV file receiving the decoded remote audio (8 kHz mono 16-bit). */
  record?: string;
  /** ICE pacing Ta in ms (RFC 8445 §14.2), default 50. */
  taMs?: number;
  /** Time after start of checks before ICE is declared failed, ms. */
  checkTimeoutMs?: number;
  /** Candidate formats our offers carry (`--sdp`, lib/sdp/format.ts); answers mirror the offer. Default 'both'. */
  sdpFormat?: SdpFormatSetting;
  /**
   * TEST HOOK (set from the ICEPHONE_TEST_EXTRA_ALT environment variable by lib/cli/options.ts):
   * alternates advertised in our `a=alt` lines that we do not serve, e.g. another process's media
   * address, to exercise the draft §5.2 collision case. Never set in normal use.
   */
  testExtraAlternates?: AltCandidate[];
  clock?: Clock;
  log?: Logger;
  /** Socket factory for the ICE agent's host candidates (tests: an in-memory network); default real UDP. */
  bindSocket?: (address: string) => Promise<PacketSocket>;
}

/** What `--json` reports of the media of one call (see DESIGN.md's contract). */
export interface MediaSummary {
  ice: {
    state: 'connected' | 'completed' | 'failed';
    /** Why ICE failed (no valid pair, consent expired), when it did. */
    reason?: string;
    role: IceRole;
    format: 'ice' | 'alt' | 'none';
    localCandidates: Candidate[];
    remoteCandidates: Candidate[];
    /** The pair media used; `nominated` false when ICE had not selected one yet (media on the best valid pair). */
    selectedPair: { local: PairEnd; remote: PairEnd; nominated: boolean } | null;
    connectedMs: number | null;
  };
  rtp: { packetsSent: number; packetsReceived: number; packetsLost: number; jitterMs: number; rtcpSent: number; rtcpReceived: number };
  rtpStats: RtpStats | null;
  codec: string | null;
  /** The SRTP suite in use (RFC 4568 §6.2 name), or null for plain RTP. */
  srtp: { suite: string } | null;
  malformedSdpLines: number;
  dropped: { mediaMalformed: number; stunUnauthorized: number; stunRateLimited: number; rtpMalformed: number; srtp: number; mediaFromStrangers: number; rtpUnconfirmed: number };
}

export interface PairEnd {
  type: Candidate['type'];
  address: string;
  port: number;
  protocol: Candidate['transport'];
}

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
}

/** One hold period; times are the session clock's (ms). */
export interface HoldPeriod {
  by: 'local' | 'remote';
  startMs: number;
  /** Undefined while the hold lasts. */
  endMs?: number;
}

const SDP = 'application/sdp';

function pairEnd(c: Candidate): PairEnd {
  return { type: c.type, address: c.address, port: c.port, protocol: c.transport };
}

/** The alt engine's media path as a candidate pair: our sending base, the peer's alternate. */
function altPairEnds(path: AltPath): { local: Candidate; remote: Candidate } {
  const remote: Candidate = {
    foundation: path.remote.id, component: path.component, transport: 'udp', priority: path.priority,
    address: path.remoteAddress.address, port: path.remoteAddress.port,
    // The alt line does not say how the peer obtained an address, only whether it is peer derived (§7).
    type: path.remote.derivedFrom !== null ? 'prflx' : 'host',
  };
  return { local: path.base, remote };
}

/**
 * One call's media. Implements sip.js's SessionDescriptionHandler so sip.js drives offer/answer;
 * emits progress as MediaEvents for the CLI and the library API.
 */
/** Default of `MediaOptions.unconfirmedRtpPackets`: 25 packets, 500 ms of G.711 at 20 ms ptime. */
export const DEFAULT_UNCONFIRMED_RTP_PACKETS = 25;

export class MediaSession extends TypedEmitter<MediaEvents> implements SessionDescriptionHandler {
  private agent?: IceAgent;
  /** The draft-rosenberg-sipping-ice-01 engine, when `a=alt` is offered or in use. */
  private alt?: AltAgent;
  /** What our offer carried (set when we offer). */
  private offered?: { ice: boolean; alt: boolean };
  /** The negotiated candidate format (lib/sdp/format.ts), once the remote description is known. */
  private format?: NegotiatedFormat;
  private remoteAlternates: AltCandidate[] = [];
  /** A later offer of ours awaits its answer (draft §5.8 additional cycle). */
  private awaitingAnswer = false;
  /** The peer's later offer was applied and awaits our answer. */
  private pendingRemoteOffer = false;
  private rtp?: RtpSession;
  /** We answered the initial offer and the peer has not yet confirmed it wants our media (see `confirmPeer`). */
  private awaitingConfirmation = false;
  private sink?: AudioSink;
  private source?: AudioSource;
  private remote?: RemoteDescription;
  private localSdp?: string;
  private role?: IceRole;
  private codec?: CodecDescription;
  private components = 1;
  /** RTP/RTCP multiplexing agreed (RFC 5761); before the answer, what our offer proposed. */
  private rtcpMux = false;
  /** The last ICE agent state before it closed (the summary reports the call, not the teardown). */
  private lastIceState?: IceState;
  /** We hold the peer (our offers say sendonly, RFC 6337 §5.1), as the application asked. */
  private localHold = false;
  /** The local hold the last completed offer/answer put in place. */
  private localHoldApplied = false;
  /** The peer holds us: its latest description does not receive (sendonly, inactive, c=0.0.0.0). */
  private peerHolds = false;
  /** The direction in the last SDP we wrote. */
  private ourDirection: MediaDirection = 'sendrecv';
  /** The application asked for a new offer (hold, resume): the next getDescription() is an offer. */
  private reofferRequested = false;
  /** Every hold period of this session, in order. */
  readonly holdPeriods: HoldPeriod[] = [];
  /** RFC 4733 telephone-event as negotiated (undefined: the peer has none). */
  private telephoneEvent?: TelephoneEventNegotiation;
  /** Digits received (RTP events and INFO), in order. */
  dtmfReceived = '';
  /** Digits sent by RTP events, in order. */
  dtmfSent = '';
  /** Per-call endpoints (`useEndpoints`), overriding the phone-wide play/record options. */
  private endpoints: MediaEndpoints = {};
  /** Our offered a=crypto lines (kept for re-offers), or the one line of our answer. */
  private cryptoLines: CryptoAttribute[] = [];
  /** The SRTP session once offer/answer agreed on a suite (RFC 3711, keyed by SDES). */
  private srtp?: SrtpSession;
  private srtpSuite?: string;
  /** The m= profile our SDPs carry (RTP/SAVP with mandatory SRTP or when answering one). */
  private profile: 'RTP/AVP' | 'RTP/SAVP' = 'RTP/AVP';
  /** SRTP/SRTCP packets that failed authentication, replay or parsing: counted and dropped. */
  srtpDropped = 0;
  private readonly sessionId = sessionIdNow();
  private sessionVersion = 0;
  private started = false;
  private closed = false;
  private startedAt?: number;
  private connectedAt?: number;
  private rtpStarted = false;
  private firstPacketSeen = false;
  private malformedSdpLines = 0;
  private gathering?: Promise<void>;
  /** RFC 3312 lines written into our SDP (lib/sip/precondition-call.ts); undefined: none. */
  private preconditionLines?: PreconditionAttribute[];
  /** The offer being built is the controlling agent's after nomination (RFC 8839 §4.4.1.2.2). */
  private offerAfterNomination = false;
  /** requestIceRestart() was called: the next offer restarts ICE. */
  private restartRequested = false;
  /** Our ICE-restart offer is out: the next remote description with new credentials is its answer. */
  private restartOfferSent = false;
  private readonly clock: Clock;
  private readonly log: Logger;

  constructor(private readonly options: MediaOptions = {}) {
    super();
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? silentLogger;
  }

  /** The ICE agent, once created (for tests and the API). */
  get iceAgent(): IceAgent | undefined {
    return this.agent;
  }

  /** Clock time (ms) at which media could first flow, if it has. */
  get connectedAtMs(): number | undefined {
    return this.connectedAt;
  }

  /** The remote description currently applied. */
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
    if (this.rtp) this.rtp.sendDtmf(tones, durationMs);
    else this.dtmfQueued.push({ tones, durationMs });
    this.dtmfSent += tones.toUpperCase();
    return true;
  }

  private readonly dtmfQueued: Array<{ tones: string; durationMs?: number }> = [];

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

  /** A digit that arrived by SIP INFO (RFC 6086; application/dtmf-relay or application/dtmf). */
  infoDtmf(digit: string, durationMs: number): void {
    this.dtmfReceived += digit;
    this.safeEmit('dtmf', digit, durationMs, 'info');
  }

  /**
   * sip.js asks for our SDP: an offer when no remote description has been set, else the answer.
   * @throws Error if the session is closed or gathering fails completely.
   */
  async getDescription(): Promise<BodyAndContentType> {
    if (this.closed) throw new Error('media session closed');
    if (this.started && this.restartRequested && !this.pendingRemoteOffer) return { body: this.restartOffer(), contentType: SDP };
    if (this.started && this.reofferRequested && !this.pendingRemoteOffer) {
      // Our re-offer (hold or resume, RFC 3264 §8.4): same media, the direction we now want.
      this.reofferRequested = false;
      this.awaitingAnswer = true;
      this.localSdp = this.build(this.codec ? [this.codec] : this.preferredCodecs(), this.rtcpMux, 'offer');
      return { body: this.localSdp, contentType: SDP };
    }
    if (this.started && this.format === 'alt' && this.alt && !this.pendingRemoteOffer) {
      // draft §5.8: an additional offer of ours in an established session, with every alternate
      // (the new peer derived ones and, "if an offer/answer exchange is taking place anyway", the rest).
      this.awaitingAnswer = true;
      this.localSdp = this.build(this.codec ? [this.codec] : this.preferredCodecs(), this.rtcpMux, 'offer');
      return { body: this.localSdp, contentType: SDP };
    }
    if (this.started) {
      // Answer to a re-offer (or a re-offer in another format): the same media, the current alternates.
      this.pendingRemoteOffer = false;
      this.localSdp = this.build(this.codec ? [this.codec] : [], this.rtcpMux, 'answer');
      this.offerAnswerDone();
      return { body: this.localSdp, contentType: SDP };
    }
    if (!this.remote) {
      // We are the offerer: controlling (RFC 8445 §6.1.1). The offer proposes rtcp-mux but
      // still carries component 2 candidates and a=rtcp (RFC 5761 §5.1.3): peers such as
      // baresip 1.0 treat an offer without them as ICE-incapable.
      const noRtcp = this.options.rtcp === false;
      await this.ensureAgent('controlling', noRtcp ? 1 : 2);
      this.offered = offerFormat(this.options.sdpFormat ?? 'both');
      // draft §5.2: the STUN servers run from the moment the alternates are handed out.
      if (this.offered.alt) this.ensureAlt();
      const codecs = this.preferredCodecs();
      this.rtcpMux = !noRtcp && this.options.rtcpMux !== false;
      if (this.srtpPolicy !== 'off') {
        this.cryptoLines = offerCrypto();
        if (this.srtpPolicy === 'mandatory') this.profile = 'RTP/SAVP';
      }
      this.localSdp = this.build(codecs, this.rtcpMux, 'offer');
    } else {
      if (!this.agent) throw new Error('answer requested before the offer was applied');
      await this.gathering;
      this.localSdp = this.build(this.codec ? [this.codec] : [], this.rtcpMux, 'answer');
      this.startMedia();
      this.offerAnswerDone();
    }
    return { body: this.localSdp, contentType: SDP };
  }

  /**
   * sip.js hands us the peer's SDP (offer or answer).
   * @throws ParseError for an SDP we cannot use (sip.js then answers 488 or ends the call).
   */
  async setDescription(sdp: string): Promise<void> {
    if (this.closed) throw new Error('media session closed');
    const remote = this.parseLater(sdp);
    const isOffer = !this.localSdp || (this.remote !== undefined && this.started);
    if (this.started) {
      // A re-offer or re-answer in an established session: keep media as it is unless the peer's
      // ICE credentials changed (an ICE restart is handled in a later layer). With a=alt, the
      // peer's new alternates are checked (draft §5.8: a new ICE cycle).
      const isAnswer = this.awaitingAnswer;
      if (this.awaitingAnswer) this.awaitingAnswer = false;
      else this.pendingRemoteOffer = true;
      this.followRemoteIce(this.remote, remote);
      this.remote = remote;
      if (!isAnswer) this.peerHolds = !receives(effectiveDirection(remote));
      else this.offerAnswerDone();
      if (this.format === 'alt' && this.alt && describedFormat(remote) !== 'none') {
        this.remoteAlternates = toQvalueScale(readRemoteAlternates(remote).alternates);
        this.alt.setRemote(this.remoteAlternates);
      }
      return;
    }
    const codec = negotiateCodec(remote.codecs, this.preferredCodecs());
    if (!codec) throw new ParseError('no common codec (we support PCMU, PCMA)', 'm=audio');
    // lib/sdp/format.ts: an answer mirrors the offer; the offerer follows the answer.
    const format = isOffer && !this.localSdp
      ? answerFormat(describedFormat(remote), this.options.sdpFormat ?? 'both')
      : followAnswer(describedFormat(remote), this.offered ?? { ice: true, alt: false });
    // Malformed a=alt lines were dropped and counted by parseDescription (parseLater).
    const alternates = format === 'alt' ? readRemoteAlternates(remote) : undefined;
    for (const w of alternates?.warnings ?? []) this.log.debug(`a=alt accepted with a deviation: ${w.message}`);
    this.codec = codec;
    this.remote = remote;
    this.format = format;
    if (isOffer && !this.localSdp) {
      // We answer an offer that anybody could have sent with a forged Via and c= line: our RTP is
      // limited until the peer proves it is there (confirmPeer).
      this.awaitingConfirmation = true;
      // RFC 4568 §7.1.2: answer one offered a=crypto line with our own key (or refuse: 488 upstream).
      const r = answerCrypto(this.srtpPolicy, remote);
      if (r.kind === 'srtp') {
        this.cryptoLines = [r.answer];
        this.srtp = r.session;
        this.srtpSuite = r.suite;
        if (remote.profile.toUpperCase() === 'RTP/SAVP') this.profile = 'RTP/SAVP';
      }
    } else if (this.cryptoLines.length > 0) {
      const r = applyAnswerCrypto(this.cryptoLines, remote);
      if (r) {
        this.srtp = r.session;
        this.srtpSuite = r.suite;
      } else if (this.srtpPolicy === 'mandatory') {
        throw new ParseError('SRTP is mandatory and the answer has no a=crypto', 'a=crypto');
      } else {
        this.log.info('the answer has no a=crypto: plain RTP (--srtp optional)');
      }
    }
    this.telephoneEvent = negotiateTelephoneEvent(remote, codec);
    if (this.telephoneEvent?.fmtpError) {
      // A telephone-event fmtp that makes no sense: counted like any malformed line; the peer is
      // assumed to take the RFC 4733 §2.4.1 default events 0-15.
      this.malformedSdpLines++;
      this.log.warn(`telephone-event fmtp ignored (events 0-15 assumed): ${this.telephoneEvent.fmtpError}`);
    }
    if (isOffer && !this.localSdp) this.peerHolds = !receives(effectiveDirection(remote));
    // Integer ranks (read liberally) go to the engine on the draft's 0..1 scale, order kept.
    this.remoteAlternates = toQvalueScale(alternates?.alternates ?? []);
    if (isOffer && !this.localSdp) {
      // Remote offer: we answer, controlled, unless the offerer is lite and we are not (RFC 8445
      // §6.1.1: "the full agent MUST take the controlling role"). Components: one with rtcp-mux, one
      // when the peer gave ICE candidates for component 1 only or we run without RTCP (RFC 8445
      // §6.1.2.2), else two.
      const liteOfferer = remote.ice?.iceLite === true && format === 'ice' && !this.options.iceLite;
      const oneComponent = remote.rtcpMux || this.options.rtcp === false || (format === 'ice' && !remote.ice!.candidates.some((c) => c.component === 2));
      this.rtcpMux = remote.rtcpMux && this.options.rtcp !== false;
      await this.ensureAgent(liteOfferer ? 'controlling' : 'controlled', oneComponent ? 1 : 2);
      if (format === 'alt') this.ensureAlt();
    } else {
      if (format !== 'alt' && this.alt) {
        // The answer chose a=candidate (or nothing): the draft engine steps aside.
        this.alt.close();
        this.alt = undefined;
      }
      // Remote answer to our offer: with rtcp-mux accepted, or ICE candidates for component 1
      // only (RFC 8445 §6.1.2.2), component 2 is withdrawn.
      this.rtcpMux = this.rtcpMux && remote.rtcpMux;
      const peerOneComponent = format === 'ice' && remote.ice !== undefined && !remote.ice.candidates.some((c) => c.component === 2);
      if ((remote.rtcpMux || peerOneComponent) && this.components > 1) {
        await this.agent?.useComponents(1);
        this.alt?.useComponents(1);
        this.components = 1;
      }
      this.startMedia();
      this.offerAnswerDone();
    }
  }

  // ------------------------------------------------------------ preconditions, UPDATE, ICE restart
  // Used by lib/sip/precondition-call.ts and Call.restartIce(). UPDATE offers and answers go through
  // these explicit methods, never through getDescription/setDescription, which guess offer vs answer
  // from sip.js's INVITE state (wrong for an UPDATE in an early dialog).

  /** RFC 3312 curr/des/conf lines for the (first) m= section of every SDP we write from now on. */
  setPreconditionLines(lines: PreconditionAttribute[] | undefined): void {
    this.preconditionLines = lines ? [...lines] : undefined;
  }

  /** Whether the SDP being built answers the peer's description (not an offer of ours). */
  private pendingAnswerToMismatch(): boolean {
    return this.offered === undefined;
  }

  /** The last SDP we produced (offer or answer). */
  get localDescription(): string | undefined {
    return this.localSdp;
  }

  /**
   * A new offer in the same session (UPDATE, RFC 3311): same media and candidates, o= version + 1,
   * the current precondition lines. `afterNomination`: the controlling agent's offer once ICE has
   * selected pairs (RFC 8839 §4.4.1.2.2): m/c name the local candidate of the selected pair and
   * `a=remote-candidates` lists its remote ones.
   * @throws StateError before both descriptions are known or after close.
   */
  async createUpdateOffer(options: { afterNomination?: boolean } = {}): Promise<string> {
    if (this.closed) throw new StateError('media session closed');
    if (!this.agent || !this.remote || !this.localSdp) throw new StateError('no session to update yet');
    await this.gathering;
    this.offerAfterNomination = options.afterNomination === true && this.nominationComplete();
    try {
      this.localSdp = this.build(this.codec ? [this.codec] : this.preferredCodecs(), this.rtcpMux, 'offer');
    } finally {
      this.offerAfterNomination = false;
    }
    return this.localSdp;
  }

  /**
   * Answers an offer received in UPDATE (or PRACK): media keeps flowing; new ICE credentials from
   * the peer mean an ICE restart (RFC 8839 §4.4.1.1.1), new alternates a new draft §5.8 cycle.
   * @throws ParseError for an SDP we cannot use (the caller answers 488).
   */
  async answerUpdateOffer(sdp: string): Promise<string> {
    if (this.closed) throw new StateError('media session closed');
    const remote = this.parseLater(sdp);
    if (this.codec && !negotiateCodec(remote.codecs, [this.codec])) throw new ParseError(`the offer drops our codec ${this.codec.name}`, 'm=audio');
    this.applyLater(remote, 'offer');
    await this.gathering;
    this.localSdp = this.build(this.codec ? [this.codec] : [], this.rtcpMux, 'answer');
    this.offerAnswerDone();
    return this.localSdp;
  }

  /** Applies the answer to our UPDATE offer. @throws ParseError for an unusable SDP. */
  async applyUpdateAnswer(sdp: string): Promise<void> {
    if (this.closed) throw new StateError('media session closed');
    this.applyLater(this.parseLater(sdp), 'answer');
    this.offerAnswerDone();
  }

  /**
   * Asks for an ICE restart (RFC 8445 §9): the next offer we produce (re-INVITE through sip.js, or
   * `createUpdateOffer`) carries a new ufrag and password; checks run again once the answer comes,
   * media stays on the previously selected pair meanwhile.
   * @throws StateError unless ICE (a=candidate) is in use in a started session.
   */
  requestIceRestart(): void {
    if (this.closed || !this.started || !this.agent) throw new StateError('no running media session to restart ICE in');
    if (this.format !== 'ice') throw new StateError(`ICE restart needs a=candidate ICE, this call uses format '${this.format ?? 'none'}'`);
    this.restartRequested = true;
  }

  private restartOffer(): string {
    this.restartRequested = false;
    this.agent!.restart();
    this.restartOfferSent = true;
    // The answer comes back through setDescription (sip.js re-INVITE): it is an answer, not an offer.
    this.awaitingAnswer = true;
    this.safeEmit('ice-restart', 'local');
    this.localSdp = this.build(this.codec ? [this.codec] : this.preferredCodecs(), this.rtcpMux, 'offer');
    return this.localSdp;
  }

  /** Parses a remote SDP, counting (and logging) malformed lines. @throws ParseError for an unusable SDP. */
  private parseLater(sdp: string): RemoteDescription {
    let remote: RemoteDescription;
    try {
      remote = parseDescription(sdp);
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
    }
    return remote;
  }

  private applyLater(remote: RemoteDescription, kind: 'offer' | 'answer'): void {
    this.followRemoteIce(this.remote, remote);
    this.remote = remote;
    if (kind === 'offer') this.peerHolds = !receives(effectiveDirection(remote));
    if (this.format === 'alt' && this.alt && describedFormat(remote) !== 'none') {
      this.remoteAlternates = toQvalueScale(readRemoteAlternates(remote).alternates);
      this.alt.setRemote(this.remoteAlternates);
    }
  }

  /**
   * A later description from the peer (offer or answer, INVITE or UPDATE): with new ICE credentials
   * it is an ICE restart (RFC 8839 §4.4.1.1.1) — the answer to ours, or the peer's own, which we
   * join with new credentials of ours (RFC 8445 §9) before checks run again. Otherwise new
   * candidates are added to the running checks.
   */
  private followRemoteIce(previous: RemoteDescription | undefined, remote: RemoteDescription): void {
    const agent = this.agent;
    if (!agent || !this.started || this.format !== 'ice' || !remote.ice) return;
    const restarted = previous?.ice !== undefined && (previous.ice.ufrag !== remote.ice.ufrag || previous.ice.pwd !== remote.ice.pwd);
    if (restarted) {
      if (!this.restartOfferSent) {
        agent.restart();
        this.safeEmit('ice-restart', 'remote');
      }
      this.restartOfferSent = false;
      agent.setRemoteCredentials(remote.ice.ufrag, remote.ice.pwd);
    }
    for (const c of remote.ice.candidates) {
      if (c.component <= this.components && c.transport === 'udp') agent.addRemoteCandidate(c);
    }
    if (restarted) agent.start();
  }

  /** RFC 8839 §4.4.1.2.2 offer: ICE selected a pair for every component and we are controlling. */
  private nominationComplete(): boolean {
    const agent = this.agent;
    if (!agent || this.format !== 'ice' || agent.role !== 'controlling') return false;
    for (let c = 1; c <= this.components; c++) if (!agent.selectedPair(c)) return false;
    return true;
  }

  private nominatedLocal(component: number): Candidate | undefined {
    return this.offerAfterNomination ? this.agent?.selectedPair(component)?.local : undefined;
  }

  private nominatedRemotes(): RemoteCandidate[] | undefined {
    if (!this.offerAfterNomination || !this.agent) return undefined;
    const out: RemoteCandidate[] = [];
    for (let c = 1; c <= this.components; c++) {
      const pair = this.agent.selectedPair(c);
      if (pair) out.push({ component: c, address: pair.remote.address, port: pair.remote.port });
    }
    return out;
  }

  /** Our SDP plus the precondition lines (RFC 3312 §5), when preconditions are in use. */
  private withExtensions(sdp: string): string {
    return this.preconditionLines ? withPreconditions(sdp, [this.preconditionLines]) : sdp;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.rtp?.stop();
    void this.sink?.close().catch((e) => this.log.warn(`closing recording: ${errorMessage(e)}`));
    void this.endpoints.sink?.close().catch((e) => this.log.warn(`closing the audio sink: ${errorMessage(e)}`));
    this.alt?.close();
    void this.agent?.close();
  }

  /** Resolves once the session is fully closed (sockets released, recording written). */
  async closeAndWait(): Promise<void> {
    const wasClosed = this.closed;
    this.closed = true;
    if (!wasClosed) this.rtp?.stop();
    this.alt?.close();
    await Promise.allSettled([wasClosed ? Promise.resolve() : this.sink?.close(), wasClosed ? Promise.resolve() : this.endpoints.sink?.close(), this.agent?.close()]);
  }

  /** A snapshot for the `--json` summary. */
  summary(): MediaSummary {
    const format: MediaSummary['ice']['format'] = this.format ?? (this.remote?.ice ? 'ice' : 'none');
    const altPath = format === 'alt' ? this.alt?.path(1) : undefined;
    // Before (or without) selection media uses the best valid pair (RFC 8445 §12.1): report that
    // pair, marked not nominated, rather than none.
    const mediaPair = format === 'alt' ? undefined : this.agent?.mediaPair(1);
    const selected = format === 'alt' ? (altPath ? altPairEnds(altPath) : undefined) : mediaPair?.pair;
    const st = this.rtp?.stats;
    // After close the agent says 'closed': report the state the call ended in.
    const agentState = this.agent?.state === 'closed' ? this.lastIceState : this.agent?.state;
    const iceState = format === 'alt' ? (altPath ? 'connected' : undefined) : agentState === 'checking' && mediaPair ? 'connected' : agentState;
    return {
      ice: {
        state: iceState === 'connected' || iceState === 'completed' ? iceState
          : iceState === 'failed' ? 'failed'
            : this.connectedAt !== undefined && format !== 'alt' ? 'connected' : 'failed',
        ...(iceState === 'failed' && this.agent?.failureReason ? { reason: this.agent.failureReason } : {}),
        role: this.agent?.role ?? this.role ?? 'controlling',
        format,
        localCandidates: this.agent ? [...this.agent.localCandidates] : [],
        remoteCandidates: format === 'alt' ? (this.alt?.remoteCandidates() ?? []) : format === 'ice' && this.remote?.ice ? [...this.remote.ice.candidates] : [],
        selectedPair: selected ? { local: pairEnd(selected.local), remote: pairEnd(selected.remote), nominated: format === 'alt' ? true : mediaPair?.selected === true } : null,
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
        stunUnauthorized: (this.agent?.stats.unauthorized401Sent ?? 0) + (this.alt?.serverStats.rejected ?? 0),
        stunRateLimited: (this.agent?.stats.errorResponsesSuppressed ?? 0) + (this.alt?.serverStats.rateLimited ?? 0),
        rtpMalformed: st?.malformedDropped ?? 0,
        srtp: this.srtpDropped,
        mediaFromStrangers: this.agent?.stats.mediaFromStrangers ?? 0,
        rtpUnconfirmed: st?.withheldUnconfirmed ?? 0,
      },
    };
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

  private async ensureAgent(role: IceRole, components: number): Promise<void> {
    if (this.agent) {
      await this.gathering;
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
    });
    this.agent = agent;
    this.role = agent.role;
    agent.on('candidate', (c) => this.safeEmit('candidate', c));
    agent.on('state', (s) => this.onIceState(s));
    agent.on('selected-pair', (component, pair) => this.safeEmit('selected-pair', component, pair));
    agent.on('check', (info) => this.safeEmit('check', info));
    agent.on('relay', (r) => this.safeEmit('relay', r));
    // RFC 8445 §12.1: media may use a valid pair before selection; starting RTP on the first one
    // saves the nomination round trip (and survives a lost nomination exchange on a lossy path).
    agent.on('valid-pair', (component) => {
      if (this.format === 'ice') this.confirmPeer('ICE check answered');
      if (component === 1 && this.format === 'ice') this.beginRtp();
    });
    agent.on('data', (component, data, from) => this.onData(component, data, from));
    this.gathering = agent.gather().then(() => undefined);
    await this.gathering;
  }

  /**
   * Our SDP. `kind` decides the direction line: an offer says what we want (RFC 6337 §5), an answer
   * follows RFC 3264 §6.1 from the peer's offer.
   */
  private build(codecs: CodecDescription[], rtcpMux: boolean, kind: 'offer' | 'answer'): string {
    const agent = this.agent!;
    this.ourDirection = kind === 'offer' || !this.remote
      ? offerDirection(this.localHold, this.peerHolds)
      : answerDirection(effectiveDirection(this.remote), this.localHold ? 'sendonly' : 'sendrecv');
    const rtpDefault = this.nominatedLocal(1) ?? agent.defaultCandidate(1);
    const rtcpDefault = this.components >= 2 ? (this.nominatedLocal(2) ?? agent.defaultCandidate(2)) : undefined;
    this.sessionVersion++;
    // lib/sdp/format.ts: an offer carries what the setting says, an answer (or a later offer) the
    // negotiated format only; m/c is the default candidate (relayed if any, draft §5.4).
    const carry = this.format === undefined ? (this.offered ?? { ice: true, alt: false }) : { ice: this.format === 'ice', alt: this.format === 'alt' };
    const alternates = carry.alt && this.alt ? this.alt.localAlternates() : [];
    if (carry.alt) this.alt?.markAnnounced();
    // RFC 4733 §2.4: telephone-event/8000 with events 0-16 in every offer; an answer carries it only
    // when the offer did (with the offerer's payload type).
    const te = kind === 'offer' && !this.telephoneEvent ? { codec: telephoneEventCodec(), fmtp: telephoneEventFmtp() } : this.telephoneEvent;
    const withEvents = codecs.length > 0 && te ? [...codecs, te.codec] : codecs;
    return this.withExtensions(buildDescription({
      sessionId: this.sessionId,
      sessionVersion: this.sessionVersion,
      originAddress: rtpDefault.address,
      codecs: withEvents,
      profile: this.profile,
      direction: this.ourDirection,
      defaultRtp: { address: rtpDefault.address, port: rtpDefault.port },
      defaultRtcp: rtcpDefault ? { address: rtcpDefault.address, port: rtcpDefault.port } : undefined,
      rtcpMux,
      ice: carry.ice ? { ufrag: agent.localUfrag, pwd: agent.localPwd, candidates: agent.localCandidates, remoteCandidates: this.nominatedRemotes(), lite: agent.lite } : undefined,
      // RFC 8839 §4.2.5: an answer to an offer whose m/c line is not among its candidates says so.
      extraMediaAttributes: [...cryptoSdpAttributes(this.cryptoLines), ...(withEvents !== codecs && te ? [te.fmtp] : []), ...altAttributes(alternates), ...(this.format === 'none' && this.remote?.ice?.mismatch && this.pendingAnswerToMismatch() ? [{ name: 'ice-mismatch' }] : [])],
    }));
  }

  /** Starts the draft-rosenberg-sipping-ice-01 engine on the gathered sockets (STUN servers from now on). */
  private ensureAlt(): void {
    if (this.alt || !this.agent) return;
    const alt = new AltAgent({
      bases: this.agent.sharedBases(),
      components: this.components,
      clock: this.clock,
      log: this.log.child('alt'),
      checkTimeoutMs: this.options.checkTimeoutMs,
      extraAlternates: this.options.testExtraAlternates,
    });
    this.alt = alt;
    alt.on('check', (info) => {
      if (info.result === 'sent') return;
      const remote: Candidate = {
        foundation: info.remote.id, component: info.component, transport: 'udp', priority: 0,
        address: info.component === 1 ? info.remote.address : (info.remote.rtcpAddress ?? info.remote.address),
        port: info.component === 1 ? info.remote.port : (info.remote.rtcpPort ?? info.remote.port + 1),
        type: info.remote.derivedFrom !== null ? 'prflx' : 'host',
      };
      const state = info.result === 'succeeded' ? 'succeeded' : 'failed';
      this.safeEmit('check', { pair: { local: info.base, remote, priority: 0n, state, nominated: false, component: info.component }, result: info.result === 'rejected' ? 'failed' : info.result });
    });
    alt.on('path', (path) => {
      const ends = altPairEnds(path);
      this.safeEmit('selected-pair', path.component, { local: ends.local, remote: ends.remote, priority: BigInt(path.priority), state: 'succeeded', nominated: true, component: path.component });
    });
    alt.on('state', (st) => this.onAltState(st));
    alt.on('renegotiate', (reason) => this.safeEmit('renegotiate', reason));
  }

  private onAltState(st: string): void {
    if (st === 'connected' || st === 'failed') this.safeEmit('ice-state', st === 'connected' ? 'connected' : 'failed');
    if (st === 'connected') this.confirmPeer('a=alt check answered');
    if (st === 'connected' && this.connectedAt === undefined) {
      this.connectedAt = this.clock.now();
      this.beginRtp();
    } else if (st === 'failed' && this.remote && this.agent) {
      // draft §5.5: media "MAY" go to the m/c line; with no alternate verified that is all that is left.
      this.agent.setFallbackRemote(1, { address: this.remote.address, port: this.remote.port });
      if (this.components >= 2 && this.remote.rtcp) this.agent.setFallbackRemote(2, this.remote.rtcp);
      this.beginRtp();
    }
  }

  /** Both descriptions known: start ICE checks (or plain RTP for a non-ICE peer) and the RTP session. */
  private startMedia(): void {
    if (this.started || !this.agent || !this.remote || !this.codec) return;
    this.started = true;
    this.startedAt = this.clock.now();
    const agent = this.agent;
    const remote = this.remote;
    void this.prepareRtp().catch((e) => this.log.error(`media: ${errorMessage(e)}`));
    if (this.format === 'alt' && this.alt) {
      // draft-rosenberg-sipping-ice-01 §5.5/§5.7: checks to every alternate; media once one answers.
      this.alt.useComponents(this.components);
      this.alt.setRemote(this.remoteAlternates);
    } else if (remote.ice && this.format !== 'none' && this.format !== 'alt') {
      agent.setRemoteCredentials(remote.ice.ufrag, remote.ice.pwd);
      for (const c of remote.ice.candidates) {
        if (c.component <= this.components && c.transport === 'udp') agent.addRemoteCandidate(c);
      }
      agent.start();
    } else {
      // RFC 8839 §4.1 / draft §5.4: a peer without ICE gets media on the m/c-line address.
      agent.setFallbackRemote(1, { address: remote.address, port: remote.port });
      if (this.components >= 2 && remote.rtcp) agent.setFallbackRemote(2, remote.rtcp);
      this.connectedAt = this.clock.now();
      this.beginRtp();
    }
  }

  /**
   * Connects this call's media (see `MediaEndpoints`); may be called before or after media starts.
   * @throws Error when `source` names a WAV file that cannot be read (before media starts: when it does).
   */
  async useEndpoints(endpoints: MediaEndpoints): Promise<void> {
    this.endpoints = { ...this.endpoints, ...endpoints };
    if (!this.rtp) return;
    if (endpoints.source !== undefined) this.rtp.setSource(typeof endpoints.source === 'string' ? await createSource(endpoints.source) : endpoints.source);
    if (endpoints.sink !== undefined || endpoints.record !== undefined) this.rtp.setSink(this.makeSink());
    if (endpoints.passthrough !== undefined) this.rtp.setPassthrough(endpoints.passthrough);
  }

  /**
   * Sends one RTP packet of the application's with this call's SSRC and sequence numbers (for
   * pass-through; see `MediaEndpoints.passthrough`). Honours the negotiated direction.
   * @returns false when media is not running or sending is not allowed now.
   */
  sendRtp(packet: OutgoingRtpPacket): boolean {
    return this.rtp?.sendExternal(packet) ?? false;
  }

  /** Live RTP statistics (RFC 3550 counters, jitter, loss), undefined before media starts. */
  get rtpStats(): RtpStats | undefined {
    return this.rtp?.stats;
  }

  /** The sink(s) for the peer's audio: the application's, a WAV recording, or both. */
  private makeSink(): AudioSink | undefined {
    const record = this.endpoints.record ?? this.options.record;
    if (record && !this.sink) this.sink = new WavFileSink(record, 8000);
    const app = this.endpoints.sink;
    if (app && this.sink) {
      const wav = this.sink;
      return { write: (s) => { wav.write(s); app.write(s); }, close: async () => { await Promise.all([wav.close(), app.close()]); } };
    }
    return app ?? this.sink;
  }

  private async prepareRtp(): Promise<void> {
    const codec = this.codec!;
    const source = this.endpoints.source ?? this.options.play ?? 'tone:440';
    this.source = typeof source === 'string' ? await createSource(source) : source;
    const sink = this.makeSink();
    if (this.closed) return;
    const name = codec.name.toUpperCase() === 'PCMA' ? 'PCMA' : 'PCMU';
    this.rtp = new RtpSession({
      clock: this.clock,
      log: this.log.child('rtp'),
      codec: name,
      payloadType: codec.payloadType,
      source: this.source,
      sink,
      telephoneEventPayloadType: this.telephoneEvent?.payloadType,
      unconfirmedPacketLimit: this.awaitingConfirmation ? (this.options.unconfirmedRtpPackets ?? DEFAULT_UNCONFIRMED_RTP_PACKETS) : undefined,
      sendRtp: (b) => {
        const out = this.protect(b, false);
        if (out) this.agent?.send(1, out);
      },
      sendRtcp: (plain) => {
        if (!this.agent) return;
        const b = this.protect(plain, true);
        if (!b) return;
        if (this.components >= 2) this.agent.send(2, b);
        // One component: RTCP goes on it only when multiplexing was agreed (RFC 5761 §5.1.3); a
        // one-component peer without rtcp-mux has RTCP switched off.
        else if (this.rtcpMux) this.agent.send(1, b);
      },
    });
    this.rtp.on('packet', (p) => this.endpoints.onRtp?.(p));
    for (const d of this.dtmfQueued.splice(0)) this.rtp.sendDtmf(d.tones, d.durationMs);
    if (this.endpoints.passthrough) this.rtp.setPassthrough(true);
    this.rtp.on('dtmf', (d: ReceivedDtmf) => {
      this.dtmfReceived += d.digit;
      this.safeEmit('dtmf', d.digit, d.durationMs, 'rtp');
    });
    this.applyDirection();
    if (this.rtpStarted) this.rtp.start();
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
    this.localHold = on;
    this.reofferRequested = true;
  }

  /** Whether we hold the peer, and whether the peer holds us, as the last offer/answer left it. */
  get holdState(): { local: boolean; remote: boolean } {
    return { local: this.localHoldApplied, remote: this.peerHolds };
  }

  /** An offer/answer exchange completed: the directions on both sides are known. */
  private offerAnswerDone(): void {
    this.markHold('local', this.localHold);
    this.markHold('remote', this.remote !== undefined && !receives(effectiveDirection(this.remote)));
    this.applyDirection();
  }

  private markHold(by: 'local' | 'remote', held: boolean): void {
    if (by === 'local') this.localHoldApplied = held;
    const open = [...this.holdPeriods].reverse().find((p) => p.by === by && p.endMs === undefined);
    if (held && !open) {
      this.holdPeriods.push({ by, startMs: this.clock.now() });
      this.log.info(by === 'local' ? 'holding the peer' : 'held by the peer');
      this.safeEmit('hold', by, true);
    } else if (!held && open) {
      open.endMs = this.clock.now();
      this.log.info(by === 'local' ? 'resumed the peer' : 'resumed by the peer');
      this.safeEmit('hold', by, false);
    }
  }

  /**
   * RTP follows the negotiated direction (RFC 3264 §5.1: "MUST NOT send" on a recvonly/inactive
   * stream, nor to a peer whose stream is sendonly/inactive or c=0.0.0.0); while we hold, nothing.
   */
  private applyDirection(): void {
    if (!this.rtp || !this.remote) return;
    const flows = mediaFlows(this.ourDirection, effectiveDirection(this.remote));
    this.rtp.setSending(flows.send && !this.localHoldApplied);
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
    this.rtp?.confirmPeer();
  }

  private beginRtp(): void {
    if (this.rtpStarted) return;
    this.rtpStarted = true;
    this.rtp?.start();
    this.safeEmit('media-ready');
  }

  private onIceState(s: IceState): void {
    if (s !== 'closed') this.lastIceState = s;
    this.safeEmit('ice-state', s);
    if (s === 'failed' && this.connectedAt !== undefined && !this.closed) {
      // After connecting only consent can fail the agent (RFC 7675 §5.1): media has stopped.
      this.safeEmit('media-failed', this.agent?.failureReason ?? 'ICE failed');
    }
    // Connected means an authenticated check went both ways with the peer (a lite agent: the peer's checks).
    if ((s === 'connected' || s === 'completed') && this.format === 'ice') this.confirmPeer('ICE connected');
    if ((s === 'connected' || s === 'completed') && this.connectedAt === undefined) {
      this.connectedAt = this.clock.now();
      this.beginRtp();
    }
  }

  /** RFC 3711: RTP → SRTP, RTCP → SRTCP when SRTP is in use; the packet as it is otherwise. */
  private protect(packet: Buffer, rtcp: boolean): Buffer | undefined {
    if (!this.srtp) return packet;
    const r = rtcp ? this.srtp.protectRtcp(packet) : this.srtp.protectRtp(packet);
    if (r.ok) return r.packet;
    this.log.debug(`SRTP protect refused: ${r.reason}`);
    return undefined;
  }

  private onData(component: number, raw: Buffer, _from: TransportAddress): void {
    if (!this.rtp) return;
    let data = raw;
    if (this.srtp) {
      // Every packet must authenticate (RFC 3711 §3.3 step 5): a forged, replayed or plain one is dropped.
      const r = component === 2 || looksLikeRtcp(raw) ? this.srtp.unprotectRtcp(raw) : this.srtp.unprotectRtp(raw);
      if (!r.ok) {
        this.srtpDropped++;
        return;
      }
      data = r.packet;
      this.confirmPeer('SRTP packet authenticated');
    }
    this.rtp.receive(data, this.clock.now());
    if (!this.firstPacketSeen && this.rtp.stats.packetsReceived > 0) {
      this.firstPacketSeen = true;
      this.safeEmit('media-received');
    }
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
