/**
 * One direction of a gateway's media relay: RTP received on one leg is sent on the other without
 * decoding (RFC 7667 §3.2.1.3, the RTP translator). The outgoing leg's RtpSession writes its own
 * SSRC and sequence numbers (`MediaSession.sendRtp`, lib/rtp/session.ts `sendExternal`); this class
 * maps the payload type, transcodes PCMU↔PCMA when the legs settled on different codecs (per
 * packet, lib/rtp/g711.ts), and rewrites the timestamp so the outgoing stream stays continuous when
 * the incoming SSRC changes (a new ICE pair, an ICE restart, a re-INVITE to another device).
 * RFC 4733 events keep their timestamp relation (all packets of one event share a timestamp).
 */
import { randomBytes } from 'node:crypto';
import { decodePcma, decodePcmu, encodePcma, encodePcmu } from '../rtp/g711.js';
import type { OutgoingRtpPacket, ReceivedRtpPacket } from '../rtp/session.js';

/** What one leg negotiated (`MediaSession.negotiatedPayloads`). */
export interface LegPayloads {
  /** `PCMU` or `PCMA`. */
  codec: string;
  payloadType: number;
  /** RFC 4733 telephone-event payload type, when that leg has one. */
  telephoneEvent?: number;
}

/** Counters of one direction (all packets, RTP only; RTCP is terminated per leg). */
export interface TranslatorStats {
  /** Packets handed to the outgoing leg and sent by it. */
  relayed: number;
  /** Of those, audio packets transcoded PCMU↔PCMA. */
  transcoded: number;
  /** RFC 4733 event packets relayed. */
  events: number;
  /** Packets dropped: payload type the other leg has no mapping for (e.g. events to a leg without telephone-event). */
  unmapped: number;
  /** Packets the outgoing leg did not send (its media not running yet, or on hold). */
  notSent: number;
  /** Incoming SSRC changes absorbed (the outgoing stream kept its SSRC and timestamps). */
  sourceChanges: number;
}

/** 8 kHz: both G.711 codecs and their telephone-event (RFC 4733 §2.3.1: the codec's clock rate). */
const CLOCK_RATE = 8000;

export class RtpTranslator {
  readonly stats: TranslatorStats = { relayed: 0, transcoded: 0, events: 0, unmapped: 0, notSent: 0, sourceChanges: 0 };
  private ssrc?: number;
  /** Outgoing timestamp = incoming timestamp + offset (mod 2^32). */
  private offset = randomBytes(4).readUInt32BE(0);
  private last?: { in: number; out: number; arrivalMs: number };

  /**
   * @param send the outgoing leg's `MediaSession.sendRtp` (false when it did not send)
   * @param legs the negotiated payloads of the incoming and outgoing leg, read per packet (a
   *   re-INVITE may change them); undefined while a leg has not negotiated yet
   */
  constructor(
    private readonly send: (p: OutgoingRtpPacket) => boolean,
    private readonly legs: () => { from?: LegPayloads; to?: LegPayloads },
  ) {}

  /** Relays one packet received on the incoming leg (the `onRtp` tap). Never throws. */
  relay(p: ReceivedRtpPacket): void {
    const { from, to } = this.legs();
    if (!from || !to) {
      this.stats.notSent++;
      return;
    }
    let out: OutgoingRtpPacket;
    if (p.payloadType === from.payloadType) {
      const same = from.codec === to.codec;
      out = { payloadType: to.payloadType, payload: same ? p.payload : transcode(p.payload, from.codec, to.codec), marker: p.marker };
      if (!same) this.stats.transcoded++;
    } else if (from.telephoneEvent !== undefined && p.payloadType === from.telephoneEvent && to.telephoneEvent !== undefined) {
      out = { payloadType: to.telephoneEvent, payload: p.payload, marker: p.marker };
      this.stats.events++;
    } else {
      this.stats.unmapped++;
      return;
    }
    out.timestamp = this.timestamp(p);
    let sent = false;
    try {
      sent = this.send(out);
    } catch {
      // sendRtp refuses a payload type outside 0..127 (cannot come from a negotiated leg): counted.
    }
    if (sent) this.stats.relayed++;
    else this.stats.notSent++;
  }

  /** The outgoing timestamp for `p`: continuous across incoming SSRC changes (RFC 7667 §3.2.1.3). */
  private timestamp(p: ReceivedRtpPacket): number {
    if (this.ssrc !== undefined && p.ssrc !== this.ssrc && this.last) {
      // A new source: continue from where the old one left off, advanced by the time between them.
      this.stats.sourceChanges++;
      const elapsed = Math.max(1, Math.round(((p.arrivalMs - this.last.arrivalMs) * CLOCK_RATE) / 1000));
      this.offset = (this.last.out + elapsed - p.timestamp) >>> 0;
    }
    this.ssrc = p.ssrc;
    const out = (p.timestamp + this.offset) >>> 0;
    this.last = { in: p.timestamp, out, arrivalMs: p.arrivalMs };
    return out;
  }
}

/** G.711 µ-law ↔ A-law through linear PCM (ITU-T G.711), one payload. */
export function transcode(payload: Buffer, from: string, to: string): Buffer {
  if (from === to) return payload;
  const linear = from === 'PCMA' ? decodePcma(payload) : decodePcmu(payload);
  return to === 'PCMA' ? encodePcma(linear) : encodePcmu(linear);
}
