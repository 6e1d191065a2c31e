import type { TransportAddress } from './socket.js';

/**
 * Demultiplexing of STUN, TURN ChannelData, and RTP/RTCP on one socket by the first byte
 * (RFC 7983 §7, updating RFC 5764 §5.1.2):
 *
 * ```
 *   [0..3]     STUN
 *   [16..19]   ZRTP
 *   [20..63]   DTLS
 *   [64..79]   TURN ChannelData
 *   [128..191] RTP/RTCP
 *   else       drop
 * ```
 * icephone carries no DTLS or ZRTP, so those ranges are dropped (and counted) like any
 * other unrecognised byte.
 */
export type PacketKind = 'stun' | 'zrtp' | 'dtls' | 'channel-data' | 'rtp' | 'unknown';

/** RFC 7983 §7 classification of one datagram by its first byte. Empty input is 'unknown'. */
export function classifyPacket(data: Uint8Array): PacketKind {
  if (data.length === 0) return 'unknown';
  const b = data[0];
  if (b <= 3) return 'stun';
  if (b >= 16 && b <= 19) return 'zrtp';
  if (b >= 20 && b <= 63) return 'dtls';
  if (b >= 64 && b <= 79) return 'channel-data';
  if (b >= 128 && b <= 191) return 'rtp';
  return 'unknown';
}

/**
 * RFC 5761 §4: with RTP and RTCP multiplexed, an RTCP packet has a second byte (packet
 * type) in 192..223 (the range RTP payload types avoid when muxing). Only meaningful for
 * packets classified 'rtp'.
 */
export function isRtcp(data: Uint8Array): boolean {
  return data.length >= 2 && data[1] >= 192 && data[1] <= 223;
}

/** Smallest datagram passed on as RTP/RTCP: an RTCP header plus SSRC (RFC 3550 §6.4). */
export const MIN_RTP_LENGTH = 8;
/** A STUN header is 20 bytes (RFC 8489 §5). */
export const MIN_STUN_LENGTH = 20;
/** A ChannelData header is 4 bytes (RFC 8656 §12.4). */
export const MIN_CHANNEL_DATA_LENGTH = 4;

export interface DemuxHandlers {
  stun?: (data: Buffer, from: TransportAddress) => void;
  channelData?: (data: Buffer, from: TransportAddress) => void;
  rtp?: (data: Buffer, from: TransportAddress) => void;
}

export interface DemuxCounters {
  stun: number;
  channelData: number;
  rtp: number;
  /** Datagrams of no handled kind, too short for their kind, or with no handler. */
  dropped: number;
}

/**
 * Routes datagrams to per-kind handlers. Never throws: a handler that throws has its
 * datagram counted as dropped, and `onDrop` (when given) hears about every dropped one.
 */
export class PacketDemux {
  readonly counters: DemuxCounters = { stun: 0, channelData: 0, rtp: 0, dropped: 0 };

  constructor(
    private readonly handlers: DemuxHandlers,
    private readonly onDrop?: (data: Buffer, from: TransportAddress, reason: string) => void,
  ) {}

  handle(data: Buffer, from: TransportAddress): PacketKind {
    const kind = classifyPacket(data);
    switch (kind) {
      case 'stun':
        if (data.length < MIN_STUN_LENGTH || !this.handlers.stun) return this.drop(data, from, 'short or unhandled STUN', kind);
        this.counters.stun++;
        return this.run(this.handlers.stun, data, from, kind);
      case 'channel-data':
        if (data.length < MIN_CHANNEL_DATA_LENGTH || !this.handlers.channelData) return this.drop(data, from, 'unhandled ChannelData', kind);
        this.counters.channelData++;
        return this.run(this.handlers.channelData, data, from, kind);
      case 'rtp':
        if (data.length < MIN_RTP_LENGTH || !this.handlers.rtp) return this.drop(data, from, 'short or unhandled RTP/RTCP', kind);
        this.counters.rtp++;
        return this.run(this.handlers.rtp, data, from, kind);
      default:
        return this.drop(data, from, `first byte ${data.length ? data[0] : 'none'} (${kind})`, kind);
    }
  }

  private run(fn: (d: Buffer, f: TransportAddress) => void, data: Buffer, from: TransportAddress, kind: PacketKind): PacketKind {
    try {
      fn(data, from);
    } catch (e) {
      return this.drop(data, from, `handler threw: ${e instanceof Error ? e.message : String(e)}`, kind);
    }
    return kind;
  }

  private drop(data: Buffer, from: TransportAddress, reason: string, kind: PacketKind): PacketKind {
    this.counters.dropped++;
    this.onDrop?.(data, from, reason);
    return kind;
  }
}
