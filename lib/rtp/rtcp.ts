/**
 * RTCP packets, RFC 3550 §6.4 (SR, RR, report blocks), §6.5 (SDES), §6.6 (BYE), and compound
 * packets (§6.1). Other packet types (APP, RFC 4585 feedback, XR) are kept as opaque bodies.
 *
 * Every RTCP packet starts with the common header:
 * ```
 * |V=2|P|    RC   |   PT=SR=200   |             length            |
 * ```
 * where `length` is the packet length in 32-bit words minus one, including header and padding.
 *
 * NTP timestamps (§4) are 64-bit unsigned fixed-point seconds since 1900-01-01 and are `bigint`.
 */
import { ByteReader, ByteWriter } from '../base/bytes.js';
import { ParseError } from '../base/errors.js';

/** RTCP packet types (RFC 3550 §12.1). */
export const RTCP_SR = 200;
export const RTCP_RR = 201;
export const RTCP_SDES = 202;
export const RTCP_BYE = 203;
export const RTCP_APP = 204;

/** SDES item types (RFC 3550 §6.5, §12.2). */
export const SDES_CNAME = 1;

/** RFC 3550 §6.4.1 report block: reception statistics about one source. */
export interface ReportBlock {
  /** SSRC of the source this block reports on. */
  ssrc: number;
  /** Fraction of packets lost since the previous report, 8-bit fixed point (lost/expected × 256). */
  fractionLost: number;
  /** Cumulative number of packets lost, signed 24-bit (negative when duplicates arrived). */
  cumulativeLost: number;
  /** Extended highest sequence number received: cycles << 16 | highest sequence number. */
  highestSequence: number;
  /** Interarrival jitter in RTP timestamp units (RFC 3550 A.8). */
  jitter: number;
  /** LSR: middle 32 bits of the NTP timestamp of the last SR received from the source, 0 if none. */
  lastSr: number;
  /** DLSR: delay since that SR was received, in units of 1/65536 s; 0 if no SR received. */
  delaySinceLastSr: number;
}

/** RFC 3550 §6.4.1 sender report. */
export interface SenderReport {
  type: 'SR';
  ssrc: number;
  /** Wallclock time the report was sent, 64-bit NTP format. */
  ntpTimestamp: bigint;
  /** The same instant in RTP timestamp units of the sender's media clock. */
  rtpTimestamp: number;
  /** Sender's packet count since starting transmission. */
  packetCount: number;
  /** Sender's payload octet count (headers and padding excluded). */
  octetCount: number;
  reports: ReportBlock[];
  /** Profile-specific extension octets after the report blocks, if any. */
  extension?: Buffer;
}

/** RFC 3550 §6.4.2 receiver report. */
export interface ReceiverReport {
  type: 'RR';
  ssrc: number;
  reports: ReportBlock[];
  extension?: Buffer;
}

export interface SdesItem {
  /** Item type, 1..255 (1 = CNAME, 2 = NAME, ... 8 = PRIV). */
  type: number;
  /** Item text, UTF-8, at most 255 octets. */
  value: string;
}

export interface SdesChunk {
  ssrc: number;
  items: SdesItem[];
}

/** RFC 3550 §6.5 source description. */
export interface SourceDescription {
  type: 'SDES';
  chunks: SdesChunk[];
}

/** RFC 3550 §6.6 goodbye. */
export interface Goodbye {
  type: 'BYE';
  ssrcs: number[];
  reason?: string;
}

/** Any other packet type, kept as its count field and body (after the 4-octet header, padding removed). */
export interface OtherRtcpPacket {
  type: 'other';
  packetType: number;
  count: number;
  body: Buffer;
}

export type RtcpPacket = SenderReport | ReceiverReport | SourceDescription | Goodbye | OtherRtcpPacket;

// ---------------------------------------------------------------------------------------------
// NTP time (RFC 3550 §4)

/** Seconds from the NTP epoch (1900) to the Unix epoch (1970). */
const NTP_UNIX_OFFSET_SECONDS = 2_208_988_800n;

/** 64-bit NTP timestamp for a Unix time in milliseconds (fractional milliseconds kept). */
export function ntpFromUnixMs(unixMs: number): bigint {
  const wholeSeconds = Math.floor(unixMs / 1000);
  const fraction = Math.min(2 ** 32 - 1, Math.floor((unixMs / 1000 - wholeSeconds) * 2 ** 32));
  const seconds = (BigInt(wholeSeconds) + NTP_UNIX_OFFSET_SECONDS) & 0xffff_ffffn;
  return (seconds << 32n) | BigInt(fraction);
}

/** Unix time in milliseconds of a 64-bit NTP timestamp (era 0). */
export function unixMsFromNtp(ntp: bigint): number {
  const seconds = Number(ntp >> 32n) - Number(NTP_UNIX_OFFSET_SECONDS);
  const fraction = Number(ntp & 0xffff_ffffn) / 2 ** 32;
  return (seconds + fraction) * 1000;
}

/** The middle 32 bits of an NTP timestamp ("compact" NTP, units of 1/65536 s): the LSR field. */
export function ntpMiddle32(ntp: bigint): number {
  return Number((ntp >> 16n) & 0xffff_ffffn);
}

/** Converts a duration in compact-NTP units (1/65536 s) to milliseconds. */
export function compactNtpToMs(units: number): number {
  return (units * 1000) / 65536;
}

/** Converts milliseconds to compact-NTP units (1/65536 s), rounded, 32-bit. */
export function msToCompactNtp(ms: number): number {
  return Math.round((ms * 65536) / 1000) >>> 0;
}

// ---------------------------------------------------------------------------------------------
// Parsing

const REPORT_BLOCK_LENGTH = 24;

function readReportBlock(r: ByteReader): ReportBlock {
  const ssrc = r.u32('report block SSRC');
  const lossWord = r.u32('report block loss');
  let cumulativeLost = lossWord & 0x00ff_ffff;
  if (cumulativeLost & 0x0080_0000) cumulativeLost -= 0x0100_0000;
  return {
    ssrc,
    fractionLost: lossWord >>> 24,
    cumulativeLost,
    highestSequence: r.u32('report block highest sequence'),
    jitter: r.u32('report block jitter'),
    lastSr: r.u32('report block LSR'),
    delaySinceLastSr: r.u32('report block DLSR'),
  };
}

function readReports(r: ByteReader, count: number, kind: string): { reports: ReportBlock[]; extension?: Buffer } {
  if (r.remaining < count * REPORT_BLOCK_LENGTH) {
    throw new ParseError(`${kind} claims ${count} report blocks but has room for ${Math.floor(r.remaining / REPORT_BLOCK_LENGTH)}`, r.offset);
  }
  const reports: ReportBlock[] = [];
  for (let i = 0; i < count; i++) reports.push(readReportBlock(r));
  return r.remaining > 0 ? { reports, extension: r.bytes(r.remaining) } : { reports };
}

function parseSdes(r: ByteReader, count: number): SourceDescription {
  const chunks: SdesChunk[] = [];
  for (let c = 0; c < count; c++) {
    const chunkStart = r.offset;
    const ssrc = r.u32('SDES chunk SSRC');
    const items: SdesItem[] = [];
    for (;;) {
      const type = r.u8('SDES item type');
      if (type === 0) {
        // §6.5: the list of items ends with a null octet, then null octets up to the next 32-bit boundary.
        const used = r.offset - chunkStart;
        const pad = (4 - (used % 4)) % 4;
        const fill = r.bytes(pad, 'SDES chunk padding');
        if (fill.some((b) => b !== 0)) throw new ParseError('SDES chunk padding is not zero', r.offset);
        break;
      }
      const length = r.u8('SDES item length');
      items.push({ type, value: r.bytes(length, 'SDES item text').toString('utf8') });
    }
    chunks.push({ ssrc, items });
  }
  if (r.remaining !== 0) throw new ParseError(`SDES has ${r.remaining} octets after its ${count} chunks`, r.offset);
  return { type: 'SDES', chunks };
}

function parseBye(r: ByteReader, count: number): Goodbye {
  const ssrcs: number[] = [];
  for (let i = 0; i < count; i++) ssrcs.push(r.u32('BYE SSRC'));
  const bye: Goodbye = { type: 'BYE', ssrcs };
  if (r.remaining > 0) {
    const length = r.u8('BYE reason length');
    bye.reason = r.bytes(length, 'BYE reason').toString('utf8');
  }
  return bye;
}

/**
 * Parses one RTCP packet whose header starts at the reader's position and whose extent
 * (header plus `length` words) is [start, end), padding included.
 */
function parseOne(buf: Buffer, start: number, end: number, isLast: boolean): RtcpPacket {
  const b0 = buf[start]!;
  const version = b0 >> 6;
  if (version !== 2) throw new ParseError(`RTCP version ${version}, expected 2`, start);
  const count = b0 & 0x1f;
  const packetType = buf[start + 1]!;
  let bodyEnd = end;
  if (b0 & 0x20) {
    // RFC 3550 §6.4.1: padding "should only be set on the last packet of a compound packet".
    if (!isLast) throw new ParseError('RTCP padding bit set on a packet that is not last in the compound', start);
    const pad = buf[end - 1]!;
    if (pad === 0 || pad > end - start - 4) throw new ParseError(`RTCP padding count ${pad} is invalid`, end - 1);
    bodyEnd = end - pad;
  }
  const r = new ByteReader(buf, start + 4, bodyEnd);
  switch (packetType) {
    case RTCP_SR: {
      const ssrc = r.u32('SR SSRC');
      const ntpTimestamp = r.u64('SR NTP timestamp');
      const rtpTimestamp = r.u32('SR RTP timestamp');
      const packetCount = r.u32('SR packet count');
      const octetCount = r.u32('SR octet count');
      return { type: 'SR', ssrc, ntpTimestamp, rtpTimestamp, packetCount, octetCount, ...readReports(r, count, 'SR') };
    }
    case RTCP_RR: {
      const ssrc = r.u32('RR SSRC');
      return { type: 'RR', ssrc, ...readReports(r, count, 'RR') };
    }
    case RTCP_SDES:
      return parseSdes(r, count);
    case RTCP_BYE:
      return parseBye(r, count);
    default:
      return { type: 'other', packetType, count, body: r.bytes(r.remaining) };
  }
}

export interface ParseRtcpOptions {
  /**
   * RFC 3550 A.2 validity check: the first packet must be SR or RR. Off by default because
   * RFC 5506 reduced-size RTCP allows other first packets.
   */
  requireReportFirst?: boolean;
}

/**
 * Parses a compound RTCP packet (RFC 3550 §6.1) into its packets, in order.
 * @throws ParseError on a version other than 2, a length field running past the datagram or
 *   leaving trailing octets, padding on a non-final packet or with a bad count, or a packet
 *   whose body does not match its type (truncated report blocks, unterminated SDES chunk).
 */
export function parseRtcpCompound(buf: Buffer, opts: ParseRtcpOptions = {}): RtcpPacket[] {
  if (buf.length < 4) throw new ParseError(`RTCP packet of ${buf.length} octets is shorter than its 4-octet header`, 0);
  const packets: RtcpPacket[] = [];
  let offset = 0;
  while (offset < buf.length) {
    if (buf.length - offset < 4) {
      throw new ParseError(`${buf.length - offset} trailing octets after the last RTCP packet`, offset);
    }
    const words = buf.readUInt16BE(offset + 2) + 1;
    const end = offset + words * 4;
    if (end > buf.length) {
      throw new ParseError(`RTCP length field says ${words * 4} octets but ${buf.length - offset} remain`, offset + 2);
    }
    packets.push(parseOne(buf, offset, end, end === buf.length));
    offset = end;
  }
  if (opts.requireReportFirst && packets[0]!.type !== 'SR' && packets[0]!.type !== 'RR') {
    throw new ParseError('compound RTCP packet does not start with SR or RR', 0);
  }
  return packets;
}

// ---------------------------------------------------------------------------------------------
// Building

function checkUint32(value: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff) throw new RangeError(`RTCP ${what} ${value} is not a 32-bit unsigned integer`);
}

function header(w: ByteWriter, count: number, packetType: number): number {
  if (count > 31) throw new RangeError(`RTCP count field ${count} exceeds 31`);
  const at = w.length;
  w.u8((2 << 6) | count).u8(packetType).u16(0);
  return at;
}

/** Fills in the length field (words minus one) of the packet that started at `at`. */
function finish(w: ByteWriter, at: number): void {
  const octets = w.length - at;
  if (octets % 4 !== 0) throw new Error(`internal: RTCP packet of ${octets} octets is not word aligned`);
  w.patchU16(at + 2, octets / 4 - 1);
}

function writeReportBlock(w: ByteWriter, b: ReportBlock): void {
  checkUint32(b.ssrc, 'report block SSRC');
  w.u32(b.ssrc);
  const fraction = Math.max(0, Math.min(255, Math.floor(b.fractionLost)));
  // §6.4.1: cumulative loss is clamped to the signed 24-bit range.
  const lost = Math.max(-0x80_0000, Math.min(0x7f_ffff, Math.trunc(b.cumulativeLost)));
  w.u32(((fraction << 24) | (lost & 0xff_ffff)) >>> 0);
  w.u32(b.highestSequence >>> 0);
  w.u32(Math.max(0, Math.min(0xffff_ffff, Math.floor(b.jitter))));
  w.u32(b.lastSr >>> 0);
  w.u32(b.delaySinceLastSr >>> 0);
}

function writePacket(w: ByteWriter, p: RtcpPacket): void {
  switch (p.type) {
    case 'SR': {
      const at = header(w, p.reports.length, RTCP_SR);
      checkUint32(p.ssrc, 'SR SSRC');
      w.u32(p.ssrc).u64(BigInt.asUintN(64, p.ntpTimestamp)).u32(p.rtpTimestamp >>> 0).u32(p.packetCount >>> 0).u32(p.octetCount >>> 0);
      for (const b of p.reports) writeReportBlock(w, b);
      if (p.extension) w.bytes(p.extension);
      finish(w, at);
      return;
    }
    case 'RR': {
      const at = header(w, p.reports.length, RTCP_RR);
      checkUint32(p.ssrc, 'RR SSRC');
      w.u32(p.ssrc);
      for (const b of p.reports) writeReportBlock(w, b);
      if (p.extension) w.bytes(p.extension);
      finish(w, at);
      return;
    }
    case 'SDES': {
      const at = header(w, p.chunks.length, RTCP_SDES);
      for (const chunk of p.chunks) {
        checkUint32(chunk.ssrc, 'SDES SSRC');
        const chunkStart = w.length;
        w.u32(chunk.ssrc);
        for (const item of chunk.items) {
          const text = Buffer.from(item.value, 'utf8');
          if (item.type < 1 || item.type > 255) throw new RangeError(`SDES item type ${item.type} is not in 1..255`);
          if (text.length > 255) throw new RangeError(`SDES item text of ${text.length} octets exceeds 255`);
          w.u8(item.type).u8(text.length).bytes(text);
        }
        // §6.5: one null octet ends the item list, more pad the chunk to a 32-bit boundary.
        const used = w.length - chunkStart + 1;
        w.zeros(1 + ((4 - (used % 4)) % 4));
      }
      finish(w, at);
      return;
    }
    case 'BYE': {
      const at = header(w, p.ssrcs.length, RTCP_BYE);
      for (const s of p.ssrcs) {
        checkUint32(s, 'BYE SSRC');
        w.u32(s);
      }
      if (p.reason !== undefined) {
        const text = Buffer.from(p.reason, 'utf8');
        if (text.length > 255) throw new RangeError(`BYE reason of ${text.length} octets exceeds 255`);
        w.u8(text.length).bytes(text);
        w.zeros((4 - ((1 + text.length) % 4)) % 4);
      }
      finish(w, at);
      return;
    }
    case 'other': {
      if (p.body.length % 4 !== 0) throw new RangeError(`RTCP packet body of ${p.body.length} octets is not a multiple of 4`);
      const at = header(w, p.count, p.packetType);
      w.bytes(p.body);
      finish(w, at);
      return;
    }
  }
}

/** Serializes one RTCP packet. @throws RangeError on out-of-range fields. */
export function serializeRtcpPacket(p: RtcpPacket): Buffer {
  const w = new ByteWriter(64);
  writePacket(w, p);
  return w.toBuffer();
}

/**
 * Serializes a compound RTCP packet (RFC 3550 §6.1): the packets concatenated, no padding.
 * §6.1 requires the first to be SR or RR and an SDES with CNAME to be included; the caller
 * chooses the order, this function only checks that the list is not empty.
 */
export function buildRtcpCompound(packets: RtcpPacket[]): Buffer {
  if (packets.length === 0) throw new RangeError('a compound RTCP packet needs at least one packet');
  const w = new ByteWriter(256);
  for (const p of packets) writePacket(w, p);
  return w.toBuffer();
}

/** An SR packet object (RFC 3550 §6.4.1). */
export function buildSenderReport(fields: Omit<SenderReport, 'type' | 'reports'> & { reports?: ReportBlock[] }): SenderReport {
  return { type: 'SR', ...fields, reports: fields.reports ?? [] };
}

/** An RR packet object (RFC 3550 §6.4.2). */
export function buildReceiverReport(ssrc: number, reports: ReportBlock[] = []): ReceiverReport {
  return { type: 'RR', ssrc, reports };
}

/** An SDES packet object carrying one CNAME item (RFC 3550 §6.5.1). */
export function buildCnameSdes(ssrc: number, cname: string): SourceDescription {
  return { type: 'SDES', chunks: [{ ssrc, items: [{ type: SDES_CNAME, value: cname }] }] };
}

/** A BYE packet object (RFC 3550 §6.6). */
export function buildBye(ssrcs: number[], reason?: string): Goodbye {
  return reason === undefined ? { type: 'BYE', ssrcs } : { type: 'BYE', ssrcs, reason };
}

/** The CNAME of `ssrc` in a parsed compound packet, if present. */
export function findCname(packets: RtcpPacket[], ssrc: number): string | undefined {
  for (const p of packets) {
    if (p.type !== 'SDES') continue;
    for (const chunk of p.chunks) {
      if (chunk.ssrc !== ssrc) continue;
      const item = chunk.items.find((i) => i.type === SDES_CNAME);
      if (item) return item.value;
    }
  }
  return undefined;
}
