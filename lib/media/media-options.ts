/**
 * The options of one call's media: what it is connected to (`MediaEndpoints`, per call) and how it
 * reaches the peer (`MediaOptions`, per phone or per call).
 */
import type { Clock } from '../base/clock.js';
import type { Logger } from '../base/log.js';
import type { IceServer, TurnServer } from '../ice/agent.js';
import type { AltCandidate } from '../ice/alternate.js';
import type { PacketSocket } from '../net/socket.js';
import type { ReceivedRtpPacket } from '../rtp/session.js';
import type { AudioSink } from '../rtp/sinks.js';
import type { AudioSource } from '../rtp/sources.js';
import type { SdpFormatSetting } from '../sdp/format.js';
import type { SrtpPolicy } from './srtp-negotiation.js';
import type { RemoteDescription } from '../sdp/offer-answer.js';

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
  /** RFC 7675 §5.1 consent check interval, ms, randomised ±20% (default 5000; keep it well under `consentExpiryMs`). */
  consentIntervalMs?: number;
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
   * Trickle ICE (RFC 8838, RFC 8840 over SIP INFO). 'off' (default): neither advertised nor
   * accepted. 'half': `a=ice-options:trickle` in our SDP, every offer and answer written after
   * gathering finished (RFC 8838 §4 half trickle), candidates the peer trickles accepted, ours found
   * later (mid-call) trickled to a peer that showed support. 'full': the initial offer leaves once
   * the host candidates exist, and so does the answer to an offer that showed support; the rest
   * follows in 'trickle' fragments (MediaEvents). Under transport policy 'relay' or ICE-lite,
   * 'full' writes the first SDP after gathering as 'half' does.
   */
  trickle?: 'off' | 'half' | 'full';
  /** ICE nomination of the controlling agent (IceAgentOptions.nomination): 'regular' (default) or 'aggressive'. */
  nomination?: 'regular' | 'aggressive';
  /**
   * Watch the local interfaces every this many ms while the call runs (only when `addresses` is not
   * given, i.e. media gathers on every interface): an address that appears becomes new host
   * candidates, trickled and checked (IceAgent.addHostAddress); one that carried the media path and
   * goes away asks for an ICE restart ('renegotiate' with the reason). Default: not watched.
   */
  watchInterfacesMs?: number;
  /**
   * RTP timeout, ms: once media has started, no RTP or RTCP from the peer for this long while it is
   * expected to send (not on hold) ends the call: 'media-failed' with the reason, then the Phone's
   * BYE with `Reason: Q.850;cause=41` (lib/media/rtp-timeout.ts; baresip `rtp_timeout`, rtpengine
   * `--timeout`). Checked once a second. Default (absent, 0 or less): off.
   */
  rtpTimeoutMs?: number;
  /** Interface table reader for the watcher (tests); default lib/net/interfaces.ts listLocalAddresses. */
  listAddresses?: () => string[];
  /**
   * TEST HOOK (set from the ICEPHONE_TEST_EXTRA_ALT environment variable by lib/cli/options.ts):
   * alternates advertised in our `a=alt` lines that we do not serve, e.g. another process's media
   * address, to exercise the draft §5.2 collision case. Never set in normal use.
   */
  testExtraAlternates?: AltCandidate[];
  /**
   * Parses the peer's SDP (the phone passes its DescriptionCache, so an offer it already checked is
   * not parsed again); default `parseDescription`. @throws ParseError for an unusable SDP.
   */
  describe?: (sdp: string) => RemoteDescription;
  clock?: Clock;
  log?: Logger;
  /** Socket factory for the ICE agent's host candidates (tests: an in-memory network); default real UDP. */
  bindSocket?: (address: string) => Promise<PacketSocket>;
}
