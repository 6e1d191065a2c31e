/**
 * A tiny reader for classic libpcap capture files (the format of tcpdump -w and of the captures
 * SIPp plays with `play_pcap_audio`), enough to pull UDP datagrams out of them:
 * global header, records, then Ethernet (with 802.1Q tags), Linux cooked (SLL) or raw IP link
 * layers, IPv4 (unfragmented) or IPv6 (UDP as the first next header), UDP.
 * Every read is bounds-checked: a truncated file or header is a ParseError naming the field.
 * pcapng files are not supported (ParseError on their magic).
 */
import { readFileSync } from 'node:fs';
import { ParseError } from '../../lib/base/errors.js';

/** One UDP datagram of a capture. */
export interface CapturedDatagram {
  /** Capture time, ms since the Unix epoch (fractional). */
  timeMs: number;
  /** Index of the record in the file (0-based). */
  record: number;
  source: { address: string; port: number };
  destination: { address: string; port: number };
  payload: Buffer;
}

export interface Capture {
  linkType: number;
  /** Records in the file (UDP or not). */
  records: number;
  datagrams: CapturedDatagram[];
}

/** LINKTYPE_* values (tcpdump.org link-layer header types). */
const LINKTYPE_ETHERNET = 1;
const LINKTYPE_RAW = 101;
const LINKTYPE_LINUX_SLL = 113;
const LINKTYPE_IPV4 = 228;
const LINKTYPE_IPV6 = 229;

function need(buf: Buffer, offset: number, length: number, what: string): void {
  if (offset < 0 || length < 0 || offset + length > buf.length) {
    throw new ParseError(`truncated ${what}: need ${length} octets at ${offset}, have ${Math.max(0, buf.length - offset)}`, offset);
  }
}

/** Reads a capture file. */
export function readPcapFile(path: string): Capture {
  return parsePcap(readFileSync(path));
}

/** Parses a classic pcap capture. */
export function parsePcap(buf: Buffer): Capture {
  need(buf, 0, 24, 'pcap global header');
  const magicLe = buf.readUInt32LE(0);
  let littleEndian: boolean;
  let nanoseconds: boolean;
  switch (magicLe) {
    case 0xa1b2c3d4: littleEndian = true; nanoseconds = false; break;
    case 0xa1b23c4d: littleEndian = true; nanoseconds = true; break;
    case 0xd4c3b2a1: littleEndian = false; nanoseconds = false; break;
    case 0x4d3cb2a1: littleEndian = false; nanoseconds = true; break;
    case 0x0a0d0d0a: throw new ParseError('pcapng files are not supported', 'magic');
    default: throw new ParseError(`not a pcap file (magic 0x${magicLe.toString(16)})`, 'magic');
  }
  const u16 = (o: number): number => (littleEndian ? buf.readUInt16LE(o) : buf.readUInt16BE(o));
  const u32 = (o: number): number => (littleEndian ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const major = u16(4);
  if (major !== 2) throw new ParseError(`pcap version ${major}.${u16(6)}, expected 2.x`, 'version');
  const linkType = u32(20) & 0x0fffffff; // the top bits may carry FCS information
  const datagrams: CapturedDatagram[] = [];
  let offset = 24;
  let record = 0;
  while (offset < buf.length) {
    need(buf, offset, 16, `pcap record ${record} header`);
    const seconds = u32(offset);
    const fraction = u32(offset + 4);
    const capturedLength = u32(offset + 8);
    offset += 16;
    need(buf, offset, capturedLength, `pcap record ${record} data`);
    const frame = buf.subarray(offset, offset + capturedLength);
    offset += capturedLength;
    const timeMs = seconds * 1000 + (nanoseconds ? fraction / 1e6 : fraction / 1e3);
    const datagram = decodeFrame(frame, linkType, record);
    if (datagram) datagrams.push({ timeMs, record, ...datagram });
    record++;
  }
  return { linkType, records: record, datagrams };
}

type Decoded = Omit<CapturedDatagram, 'timeMs' | 'record'>;

function decodeFrame(frame: Buffer, linkType: number, record: number): Decoded | undefined {
  const where = `record ${record}`;
  switch (linkType) {
    case LINKTYPE_ETHERNET: {
      need(frame, 0, 14, `${where} Ethernet header`);
      let etherType = frame.readUInt16BE(12);
      let offset = 14;
      while (etherType === 0x8100 || etherType === 0x88a8) {
        need(frame, offset, 4, `${where} 802.1Q tag`);
        etherType = frame.readUInt16BE(offset + 2);
        offset += 4;
      }
      return decodeNetwork(frame.subarray(offset), etherType, where);
    }
    case LINKTYPE_LINUX_SLL:
      need(frame, 0, 16, `${where} Linux cooked header`);
      return decodeNetwork(frame.subarray(16), frame.readUInt16BE(14), where);
    case LINKTYPE_RAW:
    case LINKTYPE_IPV4:
    case LINKTYPE_IPV6: {
      need(frame, 0, 1, `${where} IP header`);
      return decodeNetwork(frame, frame[0]! >> 4 === 6 ? 0x86dd : 0x0800, where);
    }
    default:
      throw new ParseError(`pcap link type ${linkType} not supported`, 'network');
  }
}

function decodeNetwork(packet: Buffer, etherType: number, where: string): Decoded | undefined {
  if (etherType === 0x0800) {
    need(packet, 0, 20, `${where} IPv4 header`);
    const version = packet[0]! >> 4;
    const headerLength = (packet[0]! & 0x0f) * 4;
    if (version !== 4 || headerLength < 20) throw new ParseError(`${where}: IPv4 version ${version}, header length ${headerLength}`, 'IPv4');
    const totalLength = packet.readUInt16BE(2);
    need(packet, 0, Math.max(totalLength, headerLength), `${where} IPv4 packet`);
    const fragment = packet.readUInt16BE(6);
    if ((fragment & 0x3fff) !== 0) return undefined; // a fragment (MF set or offset non-zero)
    if (packet[9] !== 17) return undefined; // not UDP
    const source = [...packet.subarray(12, 16)].join('.');
    const destination = [...packet.subarray(16, 20)].join('.');
    return decodeUdp(packet.subarray(headerLength, totalLength), source, destination, where);
  }
  if (etherType === 0x86dd) {
    need(packet, 0, 40, `${where} IPv6 header`);
    const payloadLength = packet.readUInt16BE(4);
    if (packet[6] !== 17) return undefined; // not UDP (extension headers are not followed)
    need(packet, 40, payloadLength, `${where} IPv6 payload`);
    const text = (b: Buffer): string => Array.from({ length: 8 }, (_, i) => b.readUInt16BE(i * 2).toString(16)).join(':');
    return decodeUdp(packet.subarray(40, 40 + payloadLength), text(packet.subarray(8, 24)), text(packet.subarray(24, 40)), where);
  }
  return undefined; // ARP and the like
}

function decodeUdp(segment: Buffer, source: string, destination: string, where: string): Decoded {
  need(segment, 0, 8, `${where} UDP header`);
  const length = segment.readUInt16BE(4);
  if (length < 8) throw new ParseError(`${where}: UDP length ${length} is less than its header`, 'UDP length');
  need(segment, 0, length, `${where} UDP datagram`);
  return {
    source: { address: source, port: segment.readUInt16BE(0) },
    destination: { address: destination, port: segment.readUInt16BE(2) },
    payload: segment.subarray(8, length),
  };
}
