/**
 * The RTP stream of one call: its endpoints (audio source and sink, the RTP tap, pass-through;
 * `MediaEndpoints`), the RTP session (lib/rtp/session.ts) once the codec is negotiated, SRTP
 * protect/unprotect (RFC 3711) when keys were agreed, DTMF (RFC 4733) queued until media runs, the
 * negotiated direction and the limit toward a peer that has not confirmed it wants our media.
 * Packets go out and come in through the media session's connectivity (`send`, `receive`).
 */
import type { Clock } from '../base/clock.js';
import { errorMessage } from '../base/errors.js';
import { TypedEmitter } from '../base/events.js';
import type { Logger } from '../base/log.js';
import type { ReceivedDtmf } from '../rtp/dtmf-receiver.js';
import { RtpSession, type OutgoingRtpPacket, type RtpStats } from '../rtp/session.js';
import { WavFileSink, type AudioSink } from '../rtp/sinks.js';
import { createSource } from '../rtp/sources.js';
import type { CodecDescription } from '../sdp/offer-answer.js';
import type { SrtpSession } from '../srtp/srtp-session.js';
import type { MediaEndpoints } from './media-options.js';
import { looksLikeRtcp } from './srtp-negotiation.js';

export interface MediaStreamEvents {
  /** One DTMF digit from the peer's RFC 4733 events (de-duplicated). */
  dtmf: [ReceivedDtmf];
  /** The first RTP packet from the peer was accepted. */
  'first-packet': [];
}

export interface MediaStreamOptions {
  clock: Clock;
  log: Logger;
  /** The phone-wide source (`tone:HZ`, `silence`, a WAV path) when the call's endpoints give none. */
  defaultSource?: string;
  /** The phone-wide recording (WAV path) when the call's endpoints give none. */
  defaultRecord?: string;
  /** Sends one datagram on a component (1: RTP, 2: RTCP). */
  send(component: number, data: Buffer): void;
}

/** What the negotiation settled, for `prepare()`. */
export interface NegotiatedStream {
  codec: CodecDescription;
  /** RFC 4733 telephone-event payload type, when negotiated. */
  telephoneEventPayloadType?: number;
  srtp?: SrtpSession;
  /** RTP packets allowed before `confirmPeer()`; undefined: no limit. */
  unconfirmedPacketLimit?: number;
  /** Components in use now (2: RTCP on its own; may drop to 1 after the answer). */
  components: () => number;
  /** RTP/RTCP multiplexing agreed (RFC 5761). */
  rtcpMux: () => boolean;
}

export class MediaStream extends TypedEmitter<MediaStreamEvents> {
  /** SRTP/SRTCP packets that failed authentication, replay or parsing: counted and dropped. */
  srtpDropped = 0;
  private endpoints: MediaEndpoints = {};
  private rtp?: RtpSession;
  private recording?: AudioSink;
  private srtp?: SrtpSession;
  private started = false;
  private sending = true;
  private confirmed = false;
  private stopped = false;
  private closing?: Promise<void>;
  private firstPacketSeen = false;
  private readonly dtmfQueued: Array<{ tones: string; durationMs?: number }> = [];

  constructor(private readonly o: MediaStreamOptions) {
    super();
  }

  /** Live RTP statistics (RFC 3550 counters, jitter, loss), undefined before media starts. */
  get stats(): RtpStats | undefined {
    return this.rtp?.stats;
  }

  /**
   * Connects the call's media (see `MediaEndpoints`); before or after media starts.
   * @throws Error when `source` names a WAV file that cannot be read (before media starts: when it does).
   */
  async useEndpoints(endpoints: MediaEndpoints): Promise<void> {
    this.endpoints = { ...this.endpoints, ...endpoints };
    if (!this.rtp) return;
    if (endpoints.source !== undefined) this.rtp.setSource(typeof endpoints.source === 'string' ? await createSource(endpoints.source) : endpoints.source);
    if (endpoints.sink !== undefined || endpoints.record !== undefined) this.rtp.setSink(this.makeSink());
    if (endpoints.passthrough !== undefined) this.rtp.setPassthrough(endpoints.passthrough);
  }

  /** One RTP packet of the application's (pass-through). @returns false when media is not running or may not be sent. */
  sendRtp(packet: OutgoingRtpPacket): boolean {
    return this.rtp?.sendExternal(packet) ?? false;
  }

  /** RFC 4733 events for `tones` (queued until the RTP session exists). @throws RangeError from the RTP session for bad digits. */
  sendDtmf(tones: string, durationMs?: number): void {
    if (this.rtp) this.rtp.sendDtmf(tones, durationMs);
    else this.dtmfQueued.push({ tones, durationMs });
  }

  /** Creates the RTP session for the negotiated codec (and SRTP); it sends once `start()` was called. */
  async prepare(n: NegotiatedStream): Promise<void> {
    const source = this.endpoints.source ?? this.o.defaultSource ?? 'tone:440';
    const audio = typeof source === 'string' ? await createSource(source) : source;
    const sink = this.makeSink();
    if (this.stopped) return;
    this.srtp = n.srtp;
    const name = n.codec.name.toUpperCase() === 'PCMA' ? 'PCMA' : 'PCMU';
    this.rtp = new RtpSession({
      clock: this.o.clock,
      log: this.o.log,
      codec: name,
      payloadType: n.codec.payloadType,
      source: audio,
      sink,
      telephoneEventPayloadType: n.telephoneEventPayloadType,
      unconfirmedPacketLimit: this.confirmed ? undefined : n.unconfirmedPacketLimit,
      sendRtp: (b) => {
        const out = this.protect(b, false);
        if (out) this.o.send(1, out);
      },
      sendRtcp: (plain) => {
        const b = this.protect(plain, true);
        if (!b) return;
        if (n.components() >= 2) this.o.send(2, b);
        // One component: RTCP goes on it only when multiplexing was agreed (RFC 5761 §5.1.3); a
        // one-component peer without rtcp-mux has RTCP switched off.
        else if (n.rtcpMux()) this.o.send(1, b);
      },
    });
    this.rtp.on('packet', (p) => this.endpoints.onRtp?.(p));
    for (const d of this.dtmfQueued.splice(0)) this.rtp.sendDtmf(d.tones, d.durationMs);
    if (this.endpoints.passthrough) this.rtp.setPassthrough(true);
    this.rtp.on('dtmf', (d: ReceivedDtmf) => this.safeEmit('dtmf', d));
    this.rtp.setSending(this.sending);
    if (this.started) this.rtp.start();
  }

  /** Media may flow: the RTP session starts (now, or when prepared). Idempotent. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.rtp?.start();
  }

  /** Whether audio goes out (the negotiated direction, RFC 3264 §5.1, and our hold); RTCP goes on. */
  setSending(on: boolean): void {
    this.sending = on;
    this.rtp?.setSending(on);
  }

  /** The peer confirmed it wants our media: RTP held back flows again. */
  confirmPeer(): void {
    this.confirmed = true;
    this.rtp?.confirmPeer();
  }

  /**
   * A datagram from the peer on `component`. With SRTP every packet must authenticate (RFC 3711
   * §3.3 step 5): a forged, replayed or plain one is counted and dropped.
   * @returns 'authenticated' when an SRTP packet passed (the peer is confirmed), else whether it was taken.
   */
  receive(component: number, raw: Buffer): 'authenticated' | boolean {
    if (!this.rtp) return false;
    let data = raw;
    let authenticated = false;
    if (this.srtp) {
      const r = component === 2 || looksLikeRtcp(raw) ? this.srtp.unprotectRtcp(raw) : this.srtp.unprotectRtp(raw);
      if (!r.ok) {
        this.srtpDropped++;
        return false;
      }
      data = r.packet;
      authenticated = true;
    }
    this.rtp.receive(data, this.o.clock.now());
    if (!this.firstPacketSeen && this.rtp.stats.packetsReceived > 0) {
      this.firstPacketSeen = true;
      this.safeEmit('first-packet');
    }
    return authenticated ? 'authenticated' : true;
  }

  /** Stops sending and closes the sinks (the recording is written); resolves when they are closed. */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.stopped = true;
    this.rtp?.stop();
    this.closing = Promise.allSettled([
      this.recording?.close().catch((e) => this.o.log.warn(`closing recording: ${errorMessage(e)}`)),
      this.endpoints.sink?.close().catch((e) => this.o.log.warn(`closing the audio sink: ${errorMessage(e)}`)),
    ]).then(() => undefined);
    return this.closing;
  }

  /** The sink(s) for the peer's audio: the application's, a WAV recording, or both. */
  private makeSink(): AudioSink | undefined {
    const record = this.endpoints.record ?? this.o.defaultRecord;
    if (record && !this.recording) this.recording = new WavFileSink(record, 8000);
    const app = this.endpoints.sink;
    if (app && this.recording) {
      const wav = this.recording;
      return { write: (s) => { wav.write(s); app.write(s); }, close: async () => { await Promise.all([wav.close(), app.close()]); } };
    }
    return app ?? this.recording;
  }

  /** RFC 3711: RTP → SRTP, RTCP → SRTCP when SRTP is in use; the packet as it is otherwise. */
  private protect(packet: Buffer, rtcp: boolean): Buffer | undefined {
    if (!this.srtp) return packet;
    const r = rtcp ? this.srtp.protectRtcp(packet) : this.srtp.protectRtp(packet);
    if (r.ok) return r.packet;
    this.o.log.debug(`SRTP protect refused: ${r.reason}`);
    return undefined;
  }
}
