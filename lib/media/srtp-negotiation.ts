/**
 * SRTP keyed by SDES (RFC 4568) in offer/answer: which `a=crypto` lines an offer carries, how an
 * answerer picks one, and the SrtpSession (lib/srtp) the exchange yields. Pure; the media session
 * (lib/media/media-session.ts) calls it.
 *
 * Policies (`--srtp`):
 * - `off`: no a=crypto; an offer with RTP/SAVP is refused (we cannot do its profile);
 * - `optional`: offers RTP/AVP with a=crypto (the best-effort SRTP deployed softphones use); an
 *   answer without a=crypto falls back to RTP; answers an offer's a=crypto when it can;
 * - `mandatory`: offers RTP/SAVP with a=crypto and refuses a peer without SRTP.
 * SDES puts the keys in the SDP, so they travel only over TLS (RFC 4568 §8.3; the Phone says so
 * with `secureSignalling` when its transport is tls, `keysAllowed` here) unless the
 * application says otherwise (`allowInsecureKeys`).
 */
import { ParseError } from '../base/errors.js';
import { formatCryptoAttribute, parseCryptoAttributes, selectCryptoAnswer, type CryptoAttribute } from '../sdp/crypto-attributes.js';
import type { RemoteDescription, SdpAttribute } from '../sdp/offer-answer.js';
import { generateSdesKeySalt, srtpSessionFromSdes } from '../srtp/sdes.js';
import type { SrtpSession } from '../srtp/srtp-session.js';
import type { SrtpSuiteName } from '../srtp/suites.js';

export type SrtpPolicy = 'off' | 'optional' | 'mandatory';

/** Suites we offer, in preference order (RFC 4568 §6.2). */
export const OFFERED_SUITES: readonly SrtpSuiteName[] = ['AES_CM_128_HMAC_SHA1_80', 'AES_CM_128_HMAC_SHA1_32'];

/** Our a=crypto lines for an offer: one per suite, tags 1.., fresh 30-octet keys. */
export function offerCrypto(): CryptoAttribute[] {
  return OFFERED_SUITES.map((suite, i) => ({
    tag: i + 1,
    suite,
    usable: true,
    keyParams: [{ method: 'inline', keySalt: generateSdesKeySalt(suite) }],
    sessionParams: {},
  }));
}

/** The attributes to write for crypto lines. */
export function cryptoSdpAttributes(lines: readonly CryptoAttribute[]): SdpAttribute[] {
  return lines.map((c) => ({ name: 'crypto', value: formatCryptoAttribute(c).replace(/^a=crypto:|^crypto:/, '') }));
}

/** The peer's a=crypto lines (bad ones are dropped; `errors` says which). */
export function remoteCrypto(remote: RemoteDescription): { attributes: CryptoAttribute[]; errors: string[] } {
  const values = remote.mediaAttributes.filter((a) => a.name === 'crypto').map((a) => a.value ?? '');
  const { attributes, errors } = parseCryptoAttributes(values);
  return { attributes, errors: errors.map((e) => `${e.line}: ${e.error.message}`) };
}

export type AnswerCryptoResult =
  | { kind: 'srtp'; answer: CryptoAttribute; session: SrtpSession; suite: string }
  | { kind: 'plain' };

/**
 * Our side of an offer's SRTP (RFC 4568 §7.1.2): pick one offered line and answer it with our key.
 * @throws ParseError (the caller answers 488 with its message) when the offer needs SRTP we will not
 *   or cannot do, or our policy needs SRTP the offer does not have.
 */
export function answerCrypto(policy: SrtpPolicy, remote: RemoteDescription): AnswerCryptoResult {
  const savp = remote.profile.toUpperCase() === 'RTP/SAVP';
  const { attributes } = remoteCrypto(remote);
  if (policy === 'off') {
    if (savp) throw new ParseError('the offer requires SRTP (RTP/SAVP) and SRTP is off here', 'm=audio');
    return { kind: 'plain' };
  }
  if (attributes.length === 0) {
    if (policy === 'mandatory' || savp) throw new ParseError(savp ? 'RTP/SAVP offered without a usable a=crypto line' : 'SRTP is mandatory here and the offer has no a=crypto', 'a=crypto');
    return { kind: 'plain' };
  }
  const chosen = selectCryptoAnswer(attributes, { suites: OFFERED_SUITES });
  if (!chosen.ok) {
    if (policy === 'mandatory' || savp) throw new ParseError(`no offered a=crypto line we can honour (${chosen.skipped.map((s) => `${s.tag}: ${s.reason}`).join('; ')})`, 'a=crypto');
    return { kind: 'plain' };
  }
  return { kind: 'srtp', answer: chosen.answer, session: srtpSessionFromSdes(chosen.answer, chosen.offer), suite: chosen.answer.suite };
}

/**
 * The offerer's SRTP after the answer: the answer's line names one of ours by tag (RFC 4568 §7.1.3).
 * @returns undefined when the answer has no a=crypto (plain RTP)
 * @throws ParseError when the answer's line matches none of ours or changes the suite.
 */
export function applyAnswerCrypto(offered: readonly CryptoAttribute[], remote: RemoteDescription): { session: SrtpSession; suite: string } | undefined {
  const { attributes } = remoteCrypto(remote);
  const answer = attributes[0];
  if (!answer) return undefined;
  const ours = offered.find((c) => c.tag === answer.tag);
  if (!ours || ours.suite.toUpperCase() !== answer.suite.toUpperCase()) throw new ParseError(`the answer's a=crypto tag ${answer.tag} (${answer.suite}) matches none of our offer`, 'a=crypto');
  return { session: srtpSessionFromSdes(ours, answer), suite: answer.suite };
}

/** True for an RTCP packet on a muxed port (RFC 5761 §4: payload types 192-223 are RTCP). */
export function looksLikeRtcp(packet: Buffer): boolean {
  return packet.length >= 2 && packet[1]! >= 192 && packet[1]! <= 223;
}

/**
 * Whether we can answer this offer's SRTP, without answering it (the Phone's 488 check before sip.js
 * sees the INVITE). `keysAllowed`: SDES keys may travel on this signalling (TLS, or allowed).
 * @throws ParseError saying why not.
 */
export function checkSrtpOffer(policy: SrtpPolicy, remote: RemoteDescription, keysAllowed: boolean): void {
  const wantsSrtp = remote.profile.toUpperCase() === 'RTP/SAVP' || (policy === 'mandatory');
  if (policy !== 'off' && !keysAllowed && (wantsSrtp || remoteCrypto(remote).attributes.length > 0)) {
    if (wantsSrtp) throw new ParseError('SRTP keys (SDES, RFC 4568 §8.3) travel only over TLS here', 'a=crypto');
    return; // optional: answered in the clear
  }
  answerCrypto(keysAllowed ? policy : 'off', remote);
}
