/**
 * Our SDP for one exchange (RFC 3264 offer or answer), from what the media session knows: codecs
 * (with RFC 4733 telephone-event), the direction, the default candidates on m/c, the ICE
 * attributes (RFC 8839), the draft's `a=alt` lines, `a=crypto` (RFC 4568), `a=ice-mismatch`
 * (RFC 8839 §4.2.5) and the RFC 3312 precondition lines.
 */
import type { AltCandidate } from '../ice/alternate.js';
import type { Candidate } from '../ice/candidate.js';
import type { RemoteCandidate } from '../sdp/ice-attributes.js';
import { altAttributes } from '../sdp/format.js';
import { buildDescription, type CodecDescription, type MediaDirection, type SdpAttribute } from '../sdp/offer-answer.js';
import { withPreconditions, type PreconditionAttribute } from '../sdp/preconditions.js';
import type { CryptoAttribute } from '../sdp/crypto-attributes.js';
import { cryptoSdpAttributes } from './srtp-negotiation.js';

export interface LocalDescriptionParts {
  sessionId: string;
  /** o= version: one more for every SDP we write (RFC 3264 §8). */
  sessionVersion: number;
  codecs: CodecDescription[];
  /** RFC 4733 telephone-event to add after the codecs, with its fmtp line; undefined: none. */
  telephoneEvent?: { codec: CodecDescription; fmtp: SdpAttribute };
  profile: 'RTP/AVP' | 'RTP/SAVP';
  direction: MediaDirection;
  /** The default candidates (RFC 8839 §4.2.1.1): m= port and c= address, a=rtcp. */
  defaultRtp: Candidate;
  defaultRtcp?: Candidate;
  rtcpMux: boolean;
  ice?: {
    ufrag: string; pwd: string; candidates: Candidate[]; remoteCandidates?: RemoteCandidate[]; lite: boolean;
    /** a=ice-options tokens (`trickle`, RFC 8840 §4.1). */
    options?: string[];
    /** a=end-of-candidates: we gathered every candidate (RFC 8840 §4.1, §4.3). */
    endOfCandidates?: boolean;
  };
  alternates: AltCandidate[];
  crypto: readonly CryptoAttribute[];
  /** RFC 8839 §4.2.5: the offer's m/c line was none of its candidates. */
  iceMismatch: boolean;
  preconditions?: PreconditionAttribute[];
}

/** @throws RangeError on parts that would make invalid SDP (lib/sdp/offer-answer.ts). */
export function writeLocalDescription(p: LocalDescriptionParts): string {
  const codecs = p.codecs.length > 0 && p.telephoneEvent ? [...p.codecs, p.telephoneEvent.codec] : p.codecs;
  const sdp = buildDescription({
    sessionId: p.sessionId,
    sessionVersion: p.sessionVersion,
    originAddress: p.defaultRtp.address,
    codecs,
    profile: p.profile,
    direction: p.direction,
    defaultRtp: { address: p.defaultRtp.address, port: p.defaultRtp.port },
    defaultRtcp: p.defaultRtcp ? { address: p.defaultRtcp.address, port: p.defaultRtcp.port } : undefined,
    rtcpMux: p.rtcpMux,
    ice: p.ice,
    extraMediaAttributes: [
      ...cryptoSdpAttributes(p.crypto),
      ...(codecs !== p.codecs && p.telephoneEvent ? [p.telephoneEvent.fmtp] : []),
      ...altAttributes(p.alternates),
      ...(p.iceMismatch ? [{ name: 'ice-mismatch' }] : []),
    ],
  });
  return p.preconditions ? withPreconditions(sdp, [p.preconditions]) : sdp;
}
