/**
 * One direction of an SRTP/SRTCP cryptographic context (RFC 3711 §3.2): the session keys derived
 * from one master key, and per-SSRC state inside — rollover counter, highest sequence number and
 * replay list for SRTP, SRTCP index and replay list for SRTCP.
 *
 * ```
 * SRTP  (RFC 3711 §3.1):  RTP header | encrypted payload (incl. RTP padding) | [MKI] | auth tag
 *                         \________________ authenticated portion ___________/
 *                         tag = HMAC-SHA1(k_a, authenticated portion || ROC)  truncated to 80 or 32 bits
 *
 * SRTCP (RFC 3711 §3.4):  first 8 octets (V,P,RC,PT,length,SSRC) | encrypted rest | E | SRTCP index | [MKI] | auth tag
 *                         \____________________ authenticated portion _______________________/
 *                         tag = HMAC-SHA1(k_a, authenticated portion)  80 bits for both suites
 * ```
 *
 * An outbound context protects, an inbound one unprotects. Every packet that is malformed,
 * truncated, unauthenticated, replayed or otherwise unusable gives `{ ok: false, reason, detail }`
 * (counted in `stats`) for the caller to drop; nothing a peer sends can make these methods throw.
 * State changes only after a packet authenticated (RFC 3711 §3.3 step 7, after the tag check of step 5), so forged packets
 * move neither the rollover counter nor the replay window.
 *
 * Not implemented (not signalled by icephone, refused by lib/sdp/crypto-attributes.ts when
 * offered): key derivation rates other than 0, several master keys selected by MKI, master key
 * lifetimes, unencrypted or unauthenticated SRTP.
 */
import { timingSafeEqual } from 'node:crypto';
import { hmacSha1Key } from '../base/hmac-sha1.js';
import { ByteReader } from '../base/bytes.js';
import { ParseError, StateError } from '../base/errors.js';
import { aesCmXor, counterModeIv, SRTP_INDEX_LIMIT } from './aes-cm.js';
import { deriveSessionKeys, type SessionKeys } from './key-derivation.js';
import { DEFAULT_REPLAY_WINDOW_SIZE, ReplayWindow } from './replay-window.js';
import { srtpSuite, type SrtpSuite, type SrtpSuiteName } from './suites.js';

export type SrtpDirection = 'outbound' | 'inbound';

/** Why a packet was not protected or unprotected. */
export type SrtpDropReason =
  /** Shorter than the fixed header, or than header + MKI + tag (or than its own CSRC list/extension). */
  | 'truncated'
  /** Not RTP/RTCP version 2, or (SRTCP) a packet type outside RTCP's 192..223 (RFC 5761 §4). */
  | 'malformed'
  /** The MKI field does not name this context's master key (RFC 3711 §3.3 step 3). */
  | 'unknown-mki'
  /** The authentication tag does not match (RFC 3711 §3.3 step 5). */
  | 'authentication-failed'
  /** The index was already accepted (RFC 3711 §3.3.2). */
  | 'replayed'
  /** The index is behind the replay window (RFC 3711 §3.3.2); also an estimated index below zero. */
  | 'too-old'
  /** A new SSRC while `maxSsrcs` SSRCs are already tracked. */
  | 'ssrc-limit'
  /** 2^48 SRTP or 2^31 SRTCP packets under this master key: it must be replaced (RFC 3711 §3.2.1, §3.3.1, §3.4). */
  | 'index-exhausted'
  /** Outbound: this SSRC and index were protected before; protecting again would reuse keystream (RFC 3711 §9.1). */
  | 'index-reused';

export const SRTP_DROP_REASONS: readonly SrtpDropReason[] = Object.freeze([
  'truncated', 'malformed', 'unknown-mki', 'authentication-failed', 'replayed', 'too-old', 'ssrc-limit', 'index-exhausted', 'index-reused',
]);

/**
 * Outcome of protect/unprotect. On success `packet` is a new buffer (the input is never modified),
 * `ssrc` the packet's SSRC and `index` the 48-bit SRTP packet index (ROC * 2^16 + SEQ) or the
 * 31-bit SRTCP index.
 */
export type SrtpResult =
  | { readonly ok: true; readonly packet: Buffer; readonly ssrc: number; readonly index: number }
  | { readonly ok: false; readonly reason: SrtpDropReason; readonly detail: string };

export interface SrtpContextOptions {
  direction: SrtpDirection;
  suite: SrtpSuiteName;
  /** Master key, 16 octets for both suites. */
  masterKey: Buffer;
  /** Master salt, 14 octets for both suites. */
  masterSalt: Buffer;
  /**
   * MKI carried in (outbound) or required in (inbound) every packet, 1..128 octets (RFC 3711
   * §3.1, RFC 4568 §6.1 mki-length). Absent: no MKI field.
   */
  mki?: Buffer;
  /** Replay window per SSRC, in packets: 64..32768, default 128 (RFC 3711 §3.3.2). */
  replayWindowSize?: number;
  /** Most SSRCs tracked at once; packets of further SSRCs are dropped with 'ssrc-limit'. Default 64. */
  maxSsrcs?: number;
}

/** Counters since construction. */
export interface SrtpStats {
  /** Packets protected (outbound) or unprotected (inbound) successfully. */
  rtp: number;
  rtcp: number;
  /** Packets refused, by reason. */
  dropped: Record<SrtpDropReason, number>;
}

/** SRTP state of one SSRC (RFC 3711 §3.2.1: ROC, s_l, replay list). */
interface RtpState {
  roc: number;
  highestSequence: number;
  /** Inbound: replay list. Outbound: indices already used, so keystream is never reused. */
  window: ReplayWindow;
}

/** SRTCP state of one SSRC. */
interface RtcpState {
  /** Outbound: the next SRTCP index to send (RFC 3711 §3.4: starts at 0, +1 per packet). */
  nextIndex: number;
  /** Inbound: replay list over SRTCP indices. */
  window?: ReplayWindow;
}

interface SsrcState {
  rtp?: RtpState;
  rtcp?: RtcpState;
}

type Failure = Extract<SrtpResult, { ok: false }>;

const RTP_HEADER_LENGTH = 12;
const RTCP_HEADER_LENGTH = 8;
const SRTCP_INDEX_LENGTH = 4;
const SRTCP_INDEX_LIMIT = 2 ** 31;
const SEQUENCE_HALF = 32768;
const MAX_MKI_LENGTH = 128;
const DEFAULT_MAX_SSRCS = 64;

export class SrtpContext {
  readonly direction: SrtpDirection;
  readonly suite: SrtpSuite;
  readonly replayWindowSize: number;
  readonly maxSsrcs: number;
  private readonly rtpKeys: SessionKeys;
  private readonly rtcpKeys: SessionKeys;
  private readonly mki: Buffer;
  private readonly ssrcs = new Map<number, SsrcState>();
  private readonly iv = Buffer.alloc(16);
  private readonly word = Buffer.alloc(4);
  private readonly counters: SrtpStats;

  /**
   * Derives the session keys (RFC 3711 §4.3, rate 0) for one direction.
   * @throws RangeError on an unsupported suite, a master key or salt of the wrong length, an MKI
   *   outside 1..128 octets, or a window size or SSRC limit out of range.
   */
  constructor(options: SrtpContextOptions) {
    if (options.direction !== 'outbound' && options.direction !== 'inbound') {
      throw new RangeError(`SRTP direction ${JSON.stringify(options.direction)} is neither outbound nor inbound`);
    }
    this.direction = options.direction;
    this.suite = srtpSuite(options.suite);
    const keys = deriveSessionKeys(this.suite, options.masterKey, options.masterSalt);
    this.rtpKeys = keys.rtp;
    this.rtcpKeys = keys.rtcp;
    const mki = options.mki ?? Buffer.alloc(0);
    if (options.mki !== undefined && (mki.length < 1 || mki.length > MAX_MKI_LENGTH)) {
      throw new RangeError(`MKI is ${mki.length} octets, expected 1..${MAX_MKI_LENGTH}`);
    }
    this.mki = Buffer.from(mki);
    this.replayWindowSize = options.replayWindowSize ?? DEFAULT_REPLAY_WINDOW_SIZE;
    new ReplayWindow(this.replayWindowSize); // validates the size now rather than on the first packet
    this.maxSsrcs = options.maxSsrcs ?? DEFAULT_MAX_SSRCS;
    if (!Number.isInteger(this.maxSsrcs) || this.maxSsrcs < 1) throw new RangeError(`maxSsrcs ${this.maxSsrcs} is not a positive integer`);
    const dropped = Object.fromEntries(SRTP_DROP_REASONS.map((r) => [r, 0])) as Record<SrtpDropReason, number>;
    this.counters = { rtp: 0, rtcp: 0, dropped };
  }

  /** A snapshot of the counters. */
  get stats(): SrtpStats {
    return { rtp: this.counters.rtp, rtcp: this.counters.rtcp, dropped: { ...this.counters.dropped } };
  }

  /** SSRCs with state in this context (at most `maxSsrcs`). */
  get ssrcCount(): number {
    return this.ssrcs.size;
  }

  /**
   * Turns an RTP packet into an SRTP packet (RFC 3711 §3.3): encrypts everything after the header
   * (CSRCs and header extension stay clear), appends the MKI if any and the tag.
   * The packet index comes from the sequence number and this SSRC's rollover counter, which
   * increments when the sequence number wraps (RFC 3711 §3.3.1).
   * @throws StateError on an inbound context (a wiring mistake, not packet content).
   */
  protectRtp(packet: Buffer): SrtpResult {
    this.expect('outbound', 'protectRtp');
    const header = readRtpHeader(packet, packet.length);
    if ('reason' in header) return this.drop(header);
    const { ssrc, sequence, length: headerLength } = header;
    const found = this.state(ssrc);
    if (!found) return this.dropSsrcLimit(ssrc);
    const rtp = found.rtp;
    const index = rtp ? estimateIndex(rtp.roc, rtp.highestSequence, sequence) : sequence;
    const refused = this.checkRtpIndex(index, ssrc, sequence, rtp);
    if (refused) return this.drop(refused);

    const tagLength = this.suite.srtpTagLength;
    const out = Buffer.allocUnsafe(packet.length + this.mki.length + tagLength);
    packet.copy(out, 0, 0, headerLength);
    aesCmXor(this.rtpKeys.encryptionKey, counterModeIv(this.rtpKeys.salt, ssrc, index, this.iv), packet.subarray(headerLength), out, headerLength);
    this.mki.copy(out, packet.length);
    this.rtpTag(out.subarray(0, packet.length), rocOf(index)).copy(out, packet.length + this.mki.length, 0, tagLength);

    this.commitRtp(found, index, sequence);
    this.counters.rtp++;
    return { ok: true, packet: out, ssrc, index };
  }

  /**
   * Checks and decrypts an SRTP packet (RFC 3711 §3.3): index estimation (§3.3.1), replay check
   * (§3.3.2), tag check in constant time, then decryption. Returns the RTP packet without MKI and
   * tag.
   * @throws StateError on an outbound context.
   */
  unprotectRtp(packet: Buffer): SrtpResult {
    this.expect('inbound', 'unprotectRtp');
    const tagLength = this.suite.srtpTagLength;
    const authenticatedLength = packet.length - this.mki.length - tagLength;
    if (authenticatedLength < RTP_HEADER_LENGTH) {
      return this.drop(fail('truncated', `SRTP packet of ${packet.length} octets is shorter than the RTP header, MKI and ${tagLength}-octet tag`));
    }
    const header = readRtpHeader(packet, authenticatedLength);
    if ('reason' in header) return this.drop(header);
    const { ssrc, sequence, length: headerLength } = header;
    const mkiRefused = this.checkMki(packet, authenticatedLength);
    if (mkiRefused) return this.drop(mkiRefused);

    const existing = this.ssrcs.get(ssrc);
    if (!existing && this.ssrcs.size >= this.maxSsrcs) return this.dropSsrcLimit(ssrc);
    const rtp = existing?.rtp;
    // RFC 3711 §3.3.1: a receiver without state for the SSRC takes ROC = 0 and s_l = SEQ.
    const index = rtp ? estimateIndex(rtp.roc, rtp.highestSequence, sequence) : sequence;
    const refused = this.checkRtpIndex(index, ssrc, sequence, rtp);
    if (refused) return this.drop(refused);

    const expected = this.rtpTag(packet.subarray(0, authenticatedLength), rocOf(index));
    const received = packet.subarray(packet.length - tagLength);
    if (!timingSafeEqual(expected.subarray(0, tagLength), received)) {
      return this.drop(fail('authentication-failed', `SRTP tag mismatch for SSRC ${hex32(ssrc)} index ${index}`));
    }

    const out = Buffer.allocUnsafe(authenticatedLength);
    packet.copy(out, 0, 0, headerLength);
    aesCmXor(this.rtpKeys.encryptionKey, counterModeIv(this.rtpKeys.salt, ssrc, index, this.iv), packet.subarray(headerLength, authenticatedLength), out, headerLength);

    const state = existing ?? this.create(ssrc);
    this.commitRtp(state, index, sequence);
    this.counters.rtp++;
    return { ok: true, packet: out, ssrc, index };
  }

  /**
   * Turns an RTCP (compound) packet into SRTCP (RFC 3711 §3.4): the first 8 octets stay clear, the
   * rest is encrypted, then E=1 with the 31-bit SRTCP index, the MKI if any, and the 80-bit tag.
   * @throws StateError on an inbound context.
   */
  protectRtcp(packet: Buffer): SrtpResult {
    this.expect('outbound', 'protectRtcp');
    const header = readRtcpHeader(packet, packet.length);
    if ('reason' in header) return this.drop(header);
    const { ssrc } = header;
    const found = this.state(ssrc);
    if (!found) return this.dropSsrcLimit(ssrc);
    const rtcp = (found.rtcp ??= { nextIndex: 0 });
    const index = rtcp.nextIndex;
    if (index >= SRTCP_INDEX_LIMIT) {
      return this.drop(fail('index-exhausted', `SRTCP index of SSRC ${hex32(ssrc)} reached 2^31: the master key must be replaced`));
    }

    const tagLength = this.suite.srtcpTagLength;
    const indexOffset = packet.length;
    const out = Buffer.allocUnsafe(packet.length + SRTCP_INDEX_LENGTH + this.mki.length + tagLength);
    packet.copy(out, 0, 0, RTCP_HEADER_LENGTH);
    aesCmXor(this.rtcpKeys.encryptionKey, counterModeIv(this.rtcpKeys.salt, ssrc, index, this.iv), packet.subarray(RTCP_HEADER_LENGTH), out, RTCP_HEADER_LENGTH);
    out.writeUInt32BE((0x80000000 | index) >>> 0, indexOffset); // E = 1: encrypted
    this.mki.copy(out, indexOffset + SRTCP_INDEX_LENGTH);
    const authenticated = out.subarray(0, indexOffset + SRTCP_INDEX_LENGTH);
    this.hmac(this.rtcpKeys.authenticationKey, authenticated).copy(out, authenticated.length + this.mki.length, 0, tagLength);

    rtcp.nextIndex = index + 1;
    this.counters.rtcp++;
    return { ok: true, packet: out, ssrc, index };
  }

  /**
   * Checks and decrypts an SRTCP packet (RFC 3711 §3.4): replay check on the SRTCP index, tag check
   * in constant time, decryption when the E bit is set (a packet with E=0 was sent unencrypted and
   * is returned as it is, once authenticated). Returns the RTCP packet without the SRTCP trailer.
   * @throws StateError on an outbound context.
   */
  unprotectRtcp(packet: Buffer): SrtpResult {
    this.expect('inbound', 'unprotectRtcp');
    const tagLength = this.suite.srtcpTagLength;
    const authenticatedLength = packet.length - this.mki.length - tagLength;
    const rtcpLength = authenticatedLength - SRTCP_INDEX_LENGTH;
    if (rtcpLength < RTCP_HEADER_LENGTH) {
      return this.drop(fail('truncated', `SRTCP packet of ${packet.length} octets is shorter than the RTCP header, E/index, MKI and ${tagLength}-octet tag`));
    }
    const header = readRtcpHeader(packet, rtcpLength);
    if ('reason' in header) return this.drop(header);
    const { ssrc } = header;
    const mkiRefused = this.checkMki(packet, authenticatedLength);
    if (mkiRefused) return this.drop(mkiRefused);

    const existing = this.ssrcs.get(ssrc);
    if (!existing && this.ssrcs.size >= this.maxSsrcs) return this.dropSsrcLimit(ssrc);
    const word = packet.readUInt32BE(rtcpLength);
    const encrypted = word >>> 31 === 1;
    const index = word & 0x7fffffff;
    const verdict = existing?.rtcp?.window?.check(index) ?? 'new';
    if (verdict !== 'new') {
      return this.drop(fail(verdict, `SRTCP index ${index} of SSRC ${hex32(ssrc)} ${verdict === 'replayed' ? 'was already received' : 'is behind the replay window'}`));
    }

    const expected = this.hmac(this.rtcpKeys.authenticationKey, packet.subarray(0, authenticatedLength));
    if (!timingSafeEqual(expected.subarray(0, tagLength), packet.subarray(packet.length - tagLength))) {
      return this.drop(fail('authentication-failed', `SRTCP tag mismatch for SSRC ${hex32(ssrc)} index ${index}`));
    }

    const out = Buffer.allocUnsafe(rtcpLength);
    packet.copy(out, 0, 0, RTCP_HEADER_LENGTH);
    const body = packet.subarray(RTCP_HEADER_LENGTH, rtcpLength);
    if (encrypted) aesCmXor(this.rtcpKeys.encryptionKey, counterModeIv(this.rtcpKeys.salt, ssrc, index, this.iv), body, out, RTCP_HEADER_LENGTH);
    else body.copy(out, RTCP_HEADER_LENGTH);

    const state = existing ?? this.create(ssrc);
    const rtcp = (state.rtcp ??= { nextIndex: 0 });
    (rtcp.window ??= new ReplayWindow(this.replayWindowSize)).accept(index);
    this.counters.rtcp++;
    return { ok: true, packet: out, ssrc, index };
  }

  private expect(direction: SrtpDirection, method: string): void {
    if (this.direction !== direction) throw new StateError(`${method} needs an ${direction} SRTP context, this one is ${this.direction}`);
  }

  /** Outbound: the state of an SSRC, created on first use; undefined when the SSRC limit is reached. */
  private state(ssrc: number): SsrcState | undefined {
    const existing = this.ssrcs.get(ssrc);
    if (existing) return existing;
    if (this.ssrcs.size >= this.maxSsrcs) return undefined;
    return this.create(ssrc);
  }

  private create(ssrc: number): SsrcState {
    const state: SsrcState = {};
    this.ssrcs.set(ssrc, state);
    return state;
  }

  /** Refusals that depend on the estimated index alone (RFC 3711 §3.3.1, §3.3.2). */
  private checkRtpIndex(index: number, ssrc: number, sequence: number, rtp: RtpState | undefined): Failure | undefined {
    if (index < 0) return fail('too-old', `SEQ ${sequence} of SSRC ${hex32(ssrc)} is before the first packet (estimated ROC -1)`);
    if (index >= SRTP_INDEX_LIMIT) return fail('index-exhausted', `SRTP index of SSRC ${hex32(ssrc)} passed 2^48: the master key must be replaced`);
    const verdict = rtp?.window.check(index) ?? 'new';
    if (verdict === 'new') return undefined;
    if (verdict === 'too-old') return fail('too-old', `SRTP index ${index} of SSRC ${hex32(ssrc)} is behind the replay window`);
    return this.direction === 'outbound'
      ? fail('index-reused', `SRTP index ${index} of SSRC ${hex32(ssrc)} was already protected; protecting another packet under it would reuse keystream`)
      : fail('replayed', `SRTP index ${index} of SSRC ${hex32(ssrc)} was already received`);
  }

  /** RFC 3711 §3.3.1 update after authentication: ROC and s_l follow the highest index seen. */
  private commitRtp(state: SsrcState, index: number, sequence: number): void {
    const rtp = (state.rtp ??= { roc: rocOf(index), highestSequence: sequence, window: new ReplayWindow(this.replayWindowSize) });
    if (index > rtp.roc * 65536 + rtp.highestSequence) {
      rtp.roc = rocOf(index);
      rtp.highestSequence = sequence;
    }
    rtp.window.accept(index);
  }

  private checkMki(packet: Buffer, authenticatedLength: number): Failure | undefined {
    if (this.mki.length === 0) return undefined;
    const field = packet.subarray(authenticatedLength, authenticatedLength + this.mki.length);
    return field.equals(this.mki) ? undefined : fail('unknown-mki', `MKI ${field.toString('hex')} is not this context's ${this.mki.toString('hex')}`);
  }

  /** HMAC-SHA1 over the authenticated portion and the 32-bit ROC (RFC 3711 §4.2), untruncated. */
  private rtpTag(authenticated: Buffer, roc: number): Buffer {
    this.word.writeUInt32BE(roc >>> 0, 0);
    return hmacSha1Key(this.rtpKeys.authenticationKey).mac([authenticated, this.word]);
  }

  private hmac(key: Buffer, data: Buffer): Buffer {
    return hmacSha1Key(key).mac([data]);
  }

  private dropSsrcLimit(ssrc: number): Failure {
    return this.drop(fail('ssrc-limit', `SSRC ${hex32(ssrc)} would exceed the limit of ${this.maxSsrcs} SSRCs in this context`));
  }

  private drop(failure: Failure): Failure {
    this.counters.dropped[failure.reason]++;
    return failure;
  }
}

/**
 * RFC 3711 §3.3.1 / Appendix A: the index of a packet with sequence number `sequence`, given the
 * rollover counter and highest sequence number s_l of its SSRC. May be negative (ROC - 1 with
 * ROC = 0) or reach 2^48 (ROC + 1 with ROC = 2^32 - 1); the caller refuses both.
 */
export function estimateIndex(roc: number, highestSequence: number, sequence: number): number {
  let v = roc;
  if (highestSequence < SEQUENCE_HALF) {
    if (sequence - highestSequence > SEQUENCE_HALF) v = roc - 1;
  } else if (highestSequence - SEQUENCE_HALF > sequence) {
    v = roc + 1;
  }
  return v * 65536 + sequence;
}

function rocOf(index: number): number {
  return Math.floor(index / 65536);
}

function fail(reason: SrtpDropReason, detail: string): Failure {
  return { ok: false, reason, detail };
}

function hex32(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

/**
 * Reads the RTP header (RFC 3550 §5.1, §5.3.1) within the first `end` octets: its length including
 * CSRCs and header extension, the SSRC and the sequence number.
 */
function readRtpHeader(packet: Buffer, end: number): { length: number; ssrc: number; sequence: number } | Failure {
  try {
    const r = new ByteReader(packet, 0, end);
    const first = r.u8('RTP header');
    if (first >> 6 !== 2) return fail('malformed', `RTP version ${first >> 6}, expected 2`);
    r.u8('RTP header');
    const sequence = r.u16('RTP sequence number');
    r.u32('RTP timestamp');
    const ssrc = r.u32('RTP SSRC');
    r.skip((first & 0x0f) * 4, 'RTP CSRC list');
    if (first & 0x10) {
      r.u16('RTP header extension profile');
      r.skip(r.u16('RTP header extension length') * 4, 'RTP header extension data');
    }
    return { length: r.offset, ssrc, sequence };
  } catch (e) {
    if (e instanceof ParseError) return fail('truncated', e.message);
    throw e;
  }
}

/** Reads the first RTCP header (RFC 3550 §6.4) within the first `end` octets: the sender SSRC. */
function readRtcpHeader(packet: Buffer, end: number): { ssrc: number } | Failure {
  try {
    const r = new ByteReader(packet, 0, end);
    const first = r.u8('RTCP header');
    if (first >> 6 !== 2) return fail('malformed', `RTCP version ${first >> 6}, expected 2`);
    const packetType = r.u8('RTCP packet type');
    if (packetType < 192 || packetType > 223) return fail('malformed', `packet type ${packetType} is not RTCP (192..223, RFC 5761 §4)`);
    r.u16('RTCP length');
    return { ssrc: r.u32('RTCP SSRC') };
  } catch (e) {
    if (e instanceof ParseError) return fail('truncated', e.message);
    throw e;
  }
}
