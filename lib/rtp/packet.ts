/**
 * RTP data packets, RFC 3550 §5.1 (fixed header), §5.3.1 (header extension), and the
 * RTP/RTCP demultiplexing rule of RFC 5761 §4.
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * |V=2|P|X|  CC   |M|     PT      |       sequence number         |
 * |                           timestamp                           |
 * |           synchronization source (SSRC) identifier            |
 * |            contributing source (CSRC) identifiers (CC)        |
 * ```
 */
import { ByteReader, ByteWriter } from '../base/bytes.js';
import { ParseError } from '../base/errors.js';

/** Size of the fixed RTP header in octets (RFC 3550 §5.1). */
export const RTP_HEADER_LENGTH = 12;

export interface RtpPacket {
  version: 2;
  /** P bit: the packet ended with padding (already removed from `payload` when parsed). */
  padding: boolean;
  /** M bit; for audio, the first packet of a talkspurt (RFC 3551 §4.1). */
  marker: boolean;
  /** 7-bit payload type (RFC 3551 §6 static types: 0 = PCMU, 8 = PCMA). */
  payloadType: number;
  /** 16-bit sequence number. */
  sequenceNumber: number;
  /** 32-bit media timestamp in units of the payload's clock rate. */
  timestamp: number;
  /** 32-bit synchronization source identifier. */
  ssrc: number;
  /** Up to 15 contributing source identifiers. */
  csrcs: number[];
  /** RFC 3550 §5.3.1 header extension: 16-bit profile-defined id and data (a multiple of 4 octets). */
  extension?: { profile: number; data: Buffer };
  payload: Buffer;
}

/** Fields accepted by serializeRtp: version, padding and CSRCs may be left out. */
export type RtpPacketInit = Omit<RtpPacket, 'version' | 'padding' | 'csrcs'> & Partial<RtpPacket>;

/**
 * Parses an RTP packet (RFC 3550 §5.1). The returned payload is a view into `buf`, with any
 * padding removed.
 * @throws ParseError on a version other than 2, a truncated header, CSRC list or extension,
 *   or a padding count of 0 or larger than what follows the header.
 */
export function parseRtp(buf: Buffer): RtpPacket {
  // Fast path for the packet a voice call carries (no CSRC, extension or padding): the same
  // fields read directly, without a reader (per-packet cost, issue 14).
  if (buf.length >= RTP_HEADER_LENGTH && (buf[0]! & 0xff) === 0x80) {
    const b1 = buf[1]!;
    return {
      version: 2,
      padding: false,
      marker: (b1 & 0x80) !== 0,
      payloadType: b1 & 0x7f,
      sequenceNumber: buf.readUInt16BE(2),
      timestamp: buf.readUInt32BE(4),
      ssrc: buf.readUInt32BE(8),
      csrcs: [],
      payload: buf.subarray(RTP_HEADER_LENGTH),
    };
  }
  return parseRtpGeneral(buf);
}

/**
 * parseRtp without its fast path (every header form). Internal: exported for the property test
 * that both paths agree (test/rtp/packet.test.ts).
 */
export function parseRtpGeneral(buf: Buffer): RtpPacket {
  const r = new ByteReader(buf);
  const b0 = r.u8('RTP header');
  const version = b0 >> 6;
  if (version !== 2) throw new ParseError(`RTP version ${version}, expected 2`, 'version');
  const padding = (b0 & 0x20) !== 0;
  const hasExtension = (b0 & 0x10) !== 0;
  const csrcCount = b0 & 0x0f;
  const b1 = r.u8('RTP header');
  const sequenceNumber = r.u16('RTP sequence number');
  const timestamp = r.u32('RTP timestamp');
  const ssrc = r.u32('RTP SSRC');
  const csrcs: number[] = [];
  for (let i = 0; i < csrcCount; i++) csrcs.push(r.u32(`RTP CSRC ${i + 1} of ${csrcCount}`));
  let extension: RtpPacket['extension'];
  if (hasExtension) {
    const profile = r.u16('RTP header extension profile');
    const words = r.u16('RTP header extension length');
    extension = { profile, data: r.bytes(words * 4, 'RTP header extension data') };
  }
  let end = buf.length;
  if (padding) {
    // RFC 3550 §5.1: "The last octet of the padding contains a count of how many padding
    // octets should be ignored, including itself."
    const count = end > r.offset ? buf[end - 1]! : 0;
    if (count === 0) throw new ParseError('RTP padding bit set but padding count is 0 or absent', 'padding');
    if (count > end - r.offset) {
      throw new ParseError(`RTP padding count ${count} exceeds the ${end - r.offset} octets after the header`, 'padding');
    }
    end -= count;
  }
  const packet: RtpPacket = {
    version: 2,
    padding,
    marker: (b1 & 0x80) !== 0,
    payloadType: b1 & 0x7f,
    sequenceNumber,
    timestamp,
    ssrc,
    csrcs,
    payload: buf.subarray(r.offset, end),
  };
  if (extension) packet.extension = extension;
  return packet;
}

const NO_CSRCS: readonly number[] = [];

function checkUint(value: number, bits: number, what: string): void {
  const max = bits === 32 ? 0xffffffff : (1 << bits) - 1;
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(`RTP ${what} ${value} is not an integer in 0..${max}`);
  }
}

/**
 * Serializes an RTP packet (RFC 3550 §5.1). When `padding` is true the packet is padded to a
 * multiple of 4 octets (at least one padding octet), or by `paddingLength` octets (1..255).
 * @throws RangeError on out-of-range fields, more than 15 CSRCs, or extension data that is not
 *   a multiple of 4 octets.
 */
export function serializeRtp(p: RtpPacketInit, paddingLength?: number): Buffer {
  const csrcs = p.csrcs ?? NO_CSRCS;
  checkUint(p.payloadType, 7, 'payload type');
  checkUint(p.sequenceNumber, 16, 'sequence number');
  checkUint(p.timestamp, 32, 'timestamp');
  checkUint(p.ssrc, 32, 'SSRC');
  if (csrcs.length === 0 && !p.extension && p.padding !== true && paddingLength === undefined) {
    // Fast path for the packet a voice call sends: one allocation, header written in place,
    // the payload copied once (per-packet cost, issue 14; same bytes as the general path).
    const out = Buffer.allocUnsafe(RTP_HEADER_LENGTH + p.payload.length);
    out[0] = 0x80;
    out[1] = (p.marker ? 0x80 : 0) | p.payloadType;
    out.writeUInt16BE(p.sequenceNumber, 2);
    out.writeUInt32BE(p.timestamp, 4);
    out.writeUInt32BE(p.ssrc, 8);
    out.set(p.payload, RTP_HEADER_LENGTH);
    return out;
  }
  return serializeRtpGeneral(p, paddingLength);
}

/**
 * serializeRtp without its fast path (every header form). Internal: exported for the property
 * test that both paths agree (test/rtp/packet.test.ts).
 */
export function serializeRtpGeneral(p: RtpPacketInit, paddingLength?: number): Buffer {
  const csrcs = p.csrcs ?? NO_CSRCS;
  checkUint(p.payloadType, 7, 'payload type');
  checkUint(p.sequenceNumber, 16, 'sequence number');
  checkUint(p.timestamp, 32, 'timestamp');
  checkUint(p.ssrc, 32, 'SSRC');
  if (csrcs.length > 15) throw new RangeError(`RTP allows at most 15 CSRCs, got ${csrcs.length}`);
  csrcs.forEach((c) => checkUint(c, 32, 'CSRC'));
  if (p.extension) {
    checkUint(p.extension.profile, 16, 'extension profile');
    if (p.extension.data.length % 4 !== 0 || p.extension.data.length / 4 > 0xffff) {
      throw new RangeError(`RTP header extension data must be a multiple of 4 octets up to 262140, got ${p.extension.data.length}`);
    }
  }
  const padding = p.padding === true || paddingLength !== undefined;
  const w = new ByteWriter(RTP_HEADER_LENGTH + csrcs.length * 4 + p.payload.length + 8);
  w.u8((2 << 6) | (padding ? 0x20 : 0) | (p.extension ? 0x10 : 0) | csrcs.length);
  w.u8((p.marker ? 0x80 : 0) | p.payloadType);
  w.u16(p.sequenceNumber);
  w.u32(p.timestamp);
  w.u32(p.ssrc);
  for (const c of csrcs) w.u32(c);
  if (p.extension) {
    w.u16(p.extension.profile);
    w.u16(p.extension.data.length / 4);
    w.bytes(p.extension.data);
  }
  w.bytes(p.payload);
  if (padding) {
    const count = paddingLength ?? 4 - (w.length % 4);
    if (!Number.isInteger(count) || count < 1 || count > 255) {
      throw new RangeError(`RTP padding length ${count} is not in 1..255`);
    }
    w.zeros(count - 1);
    w.u8(count);
  }
  return w.toBuffer();
}

/**
 * RFC 5761 §4: with RTP and RTCP multiplexed on one port, a packet is RTCP when its second
 * octet (RTCP packet type, or RTP marker bit plus payload type) is in 192..223. RTP payload
 * types 64..95 are thereby excluded.
 */
export function isRtcpPacket(buf: Buffer): boolean {
  if (buf.length < 2) return false;
  const b1 = buf[1]!;
  return b1 >= 192 && b1 <= 223;
}

/**
 * Signed difference a - b of two 16-bit sequence numbers, in -32768..32767 (RFC 3550 A.1
 * modular arithmetic).
 */
export function sequenceDelta(a: number, b: number): number {
  return (((a - b) & 0xffff) << 16) >> 16;
}

/** Signed difference a - b of two 32-bit RTP timestamps. */
export function timestampDelta(a: number, b: number): number {
  return (a - b) | 0;
}
