/**
 * One RTP session for one G.711 audio stream (RFC 3550, RFC 3551 §4.5.14): packetizes an
 * AudioSource every ptime, sends RTCP SR/RR + SDES CNAME compounds, and on the receive side
 * validates sequence numbers (RFC 3550 A.1), computes loss (A.3) and interarrival jitter (A.8),
 * and plays decoded audio into an AudioSink with gaps filled by silence.
 *
 * Transport is left to the caller (`sendRtp`/`sendRtcp` callbacks and `receive*` calls), so the
 * session runs unchanged over a UDP socket, a TURN channel, or back to back in tests.
 * All timing comes from the injected Clock; times are milliseconds unless stated otherwise.
 */
import { randomInt } from 'node:crypto';
import { randomBytesPooled, randomUint32 } from '../base/random.js';
import { systemClock, type Clock, type TimerHandle } from '../base/clock.js';
import { sendPacerFor, type PacedTimer } from './send-pacer.js';
import { DtmfSender, type DtmfPacket, type DtmfSendResult } from './dtmf-sender.js';
import { DtmfReceiver, type ReceivedDtmf } from './dtmf-receiver.js';
import { errorMessage, StateError } from '../base/errors.js';
import { TypedEmitter } from '../base/events.js';
import { silentLogger, type Logger } from '../base/log.js';
import { decodePcma, decodePcmu, encodePcma, encodePcmu } from './g711.js';
import { isRtcpPacket, parseRtp, sequenceDelta, serializeRtp, timestampDelta, type RtpPacket } from './packet.js';
import {
  buildBye,
  buildCnameSdes,
  buildReceiverReport,
  buildRtcpCompound,
  buildSenderReport,
  compactNtpToMs,
  msToCompactNtp,
  ntpFromUnixMs,
  ntpMiddle32,
  parseRtcpCompound,
  type ReportBlock,
  type RtcpPacket,
} from './rtcp.js';
import type { AudioSink } from './sinks.js';
import type { AudioSource } from './sources.js';

export interface RtpSessionOptions {
  clock?: Clock;
  log?: Logger;
  codec: 'PCMU' | 'PCMA';
  /** Payload type negotiated in SDP (0 for PCMU, 8 for PCMA when static). */
  payloadType: number;
  /** Media clock rate in Hz; default 8000. */
  clockRate?: number;
  /** Packetization time in ms; default 20 (RFC 3551 §4.5 default for G.711). */
  ptimeMs?: number;
  /** Our SSRC; random by default (RFC 3550 §8). */
  ssrc?: number;
  /** Our SDES CNAME; a random 96-bit base64 string by default (RFC 7022 §4.2). */
  cname?: string;
  /** Audio to send; absent: send no RTP (receive-only, RTCP RR only). */
  source?: AudioSource;
  /** Receives decoded audio of the remote source; gaps filled with silence (bounded). */
  sink?: AudioSink;
  sendRtp: (packet: Buffer) => void;
  sendRtcp: (packet: Buffer) => void;
  /** Deterministic RTCP interval; default 5000 ms (RFC 3550 §6.2 minimum), randomized ×0.5..1.5. */
  rtcpIntervalMs?: number;
  /**
   * Longest gap (ms) filled with silence in the sink, per gap; default 60000, so a hold (no RTP
   * from the held side) stays in the recording as silence. The fill is also bounded by the wall
   * clock (`playoutSlackMs`), so timestamps alone cannot stretch a recording.
   */
  maxGapFillMs?: number;
  /**
   * How far (ms) the audio played into the sink may run ahead of the wall-clock time since the first
   * played packet arrived; default 500. Silence fill is cut first, then audio, so a peer's wild
   * timestamps cannot make a recording longer than the call (plus this slack).
   */
  playoutSlackMs?: number;
  /**
   * RTP packets that may be sent before `confirmPeer()` (the peer proved it wants our media: ACK,
   * ICE check, authenticated SRTP); later ones are withheld and counted (`withheldUnconfirmed`)
   * until then. Absent: no limit. Bounds the reflection an unconfirmed SDP address can draw.
   */
  unconfirmedPacketLimit?: number;
  /** Random source in [0, 1) for RTCP interval randomization; default Math.random. */
  random?: () => number;
  /** Wallclock in Unix ms for SR NTP timestamps; default Date.now() read once, then advanced by `clock`. */
  wallclockMs?: () => number;
  /** RFC 4733 telephone-event payload type negotiated in SDP; absent: no DTMF events sent or recognised. */
  telephoneEventPayloadType?: number;
}

export interface RemoteReport {
  /** Fraction of our packets the peer lost in its last interval, 0..1. */
  fractionLost: number;
  /** Cumulative packets of ours the peer lost (RFC 3550 §6.4.1, may be negative). */
  cumulativeLost: number;
  /** Interarrival jitter the peer measured on our stream, ms. */
  jitterMs: number;
  /** Round-trip time from LSR/DLSR (RFC 3550 §6.4.1), ms; absent until the peer echoes one of our SRs. */
  rttMs?: number;
}

export interface RtpStats {
  packetsSent: number;
  /** Payload octets sent (RFC 3550 §6.4.1 sender's octet count). */
  octetsSent: number;
  /** Valid RTP packets received, duplicates included (RFC 3550 A.1 `received`), over all sources. */
  packetsReceived: number;
  /** Payload octets received. */
  octetsReceived: number;
  /** RFC 3550 A.3 cumulative loss: expected - received (summed over SSRCs seen). */
  packetsLost: number;
  /** RFC 3550 A.8 interarrival jitter of the current remote source, ms. */
  jitterMs: number;
  /** Datagrams dropped because they did not parse as RTP or RTCP. */
  malformedDropped: number;
  /** RTP packets not sent because the peer had not confirmed yet (`unconfirmedPacketLimit`). */
  withheldUnconfirmed: number;
  /** Samples (silence fill first, then audio) not played into the sink: they would have run ahead of the wall clock. */
  playoutTrimmedSamples: number;
  rtcpSent: number;
  rtcpReceived: number;
  remoteSsrc?: number;
  lastRemoteReport?: RemoteReport;
}

/** One received RTP packet as the RTP-level tap sees it (RFC 3550 §5.1 fields). */
export interface ReceivedRtpPacket {
  payloadType: number;
  sequenceNumber: number;
  /** RTP timestamp, in samples of the payload's clock rate. */
  timestamp: number;
  ssrc: number;
  marker: boolean;
  payload: Buffer;
  /** Arrival time, ms on the session's clock. */
  arrivalMs: number;
}

/** A packet the application sends in place of the built-in encoder (pass-through, e.g. a gateway relaying media). */
export interface OutgoingRtpPacket {
  payloadType: number;
  payload: Buffer;
  /** RTP timestamp; default: the one the built-in encoder would use now (our clock, our random base). */
  timestamp?: number;
  marker?: boolean;
}

export type RtpSessionEvents = {
  /** Every received RTP packet that passed validation, any payload type (the RTP-level tap). */
  packet: [ReceivedRtpPacket];
  /** One RFC 4733 digit received (retransmitted end packets de-duplicated), with its duration. */
  dtmf: [ReceivedDtmf];
  /** A `sendDtmf` string has been sent (or stopped). */
  'dtmf-sent': [DtmfSendResult];
  /** The first valid RTP packet arrived (once per session). */
  'first-packet': [];
  /** A compound RTCP packet arrived; the argument is its RtcpPacket[]. */
  rtcp: [report: unknown];
  /** The remote source sent RTCP BYE (RFC 3550 §6.6). */
  'remote-bye': [];
};

type SessionState = 'idle' | 'running' | 'stopped';
/** Allowed predecessors of each state. */
const PREDECESSORS: Record<SessionState, SessionState[]> = { idle: [], running: ['idle'], stopped: ['idle', 'running'] };

/** RFC 3550 A.1 constants. */
const MAX_DROPOUT = 3000;
const MAX_MISORDER = 100;
const SEQ_MOD = 0x1_0000;
/** At most this many overdue packets are sent back to back after a stalled timer; older ones are skipped. */
const MAX_CATCH_UP = 5;

/** Per-source receive state, RFC 3550 A.1 `source` plus A.8 jitter. */
interface RemoteSource {
  ssrc: number;
  maxSeq: number;
  /** Shifted count of sequence number wraps (multiples of 65536). */
  cycles: number;
  baseSeq: number;
  /** Sequence number that would confirm a restart after a large jump (-1: none). */
  badSeq: number;
  received: number;
  expectedPrior: number;
  receivedPrior: number;
  /** A.8 jitter estimate in timestamp units (floating point). */
  jitter: number;
  lastArrivalTs?: number;
  lastTimestamp?: number;
}

export class RtpSession extends TypedEmitter<RtpSessionEvents> {
  readonly ssrc: number;
  readonly cname: string;
  readonly clockRate: number;
  readonly ptimeMs: number;
  /** RTP timestamp units (samples) per packet. */
  readonly samplesPerPacket: number;

  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly encode: (s: Int16Array) => Buffer;
  private readonly decode: (b: Buffer) => Int16Array;
  private readonly rtcpIntervalMs: number;
  private readonly maxGapSamples: number;
  /** A timestamp up to 2 s in the past is late audio (dropped); further back it is a reset (played). */
  private readonly maxBackwardSamples: number;
  private readonly playoutSlackMs: number;
  /** Packets still allowed before confirmPeer(); Infinity when confirmed or unlimited. */
  private unconfirmedBudget: number;
  private withheldUnconfirmed = 0;
  private playoutTrimmedSamples = 0;
  /** Wall-clock origin of playout (first played packet's arrival minus its duration) and samples played since. */
  private playoutOrigin: { startMs: number; samples: number } | undefined;
  private readonly random: () => number;
  private readonly wallclockMs: () => number;

  private state: SessionState = 'idle';
  /** The packet clock: one timer of the clock's shared SendPacer, re-armed for each packet time. */
  private readonly sendTimer: PacedTimer;
  private rtcpTimer: TimerHandle | undefined;
  private sequence: number;
  private readonly timestampBase: number;
  private sendStartMs = 0;
  /** Packet periods elapsed since start (sent or skipped). */
  private packetIndex = 0;
  private lastRtpSentMs = -Infinity;
  /** RTP is sent (false while the negotiated direction forbids it, RFC 3264 §5.1, or on hold). */
  private sending = true;
  /** The next packet sent starts a talkspurt (marker bit, RFC 3551 §4.1). */
  private talkspurtStart = true;
  /** Packets not sent while `sending` was false (the source still advanced in time). */
  private packetsWithheld = 0;
  /** The application sends packets itself (`sendExternal`): the paced encoder stays quiet. */
  private passthrough = false;
  private source: AudioSource | undefined;
  private sink: AudioSink | undefined;
  private readonly dtmfSender?: DtmfSender;
  private readonly dtmfReceiver?: DtmfReceiver;
  private pendingDtmf: Array<{ digits: string; durationMs?: number }> = [];

  private packetsSent = 0;
  private octetsSent = 0;
  private packetsReceived = 0;
  private octetsReceived = 0;
  private lostInRetiredSources = 0;
  private malformedDropped = 0;
  private rtcpSent = 0;
  private rtcpReceived = 0;
  private remote: RemoteSource | undefined;
  private gotFirstPacket = false;
  /** Last SR from the remote source: LSR value and local arrival time. */
  private lastSr: { ssrc: number; middle: number; arrivalMs: number } | undefined;
  private lastRemoteReport: RemoteReport | undefined;
  /** Sink playout position: last played sequence number and the timestamp that follows it. */
  private playout: { sequence: number; nextTimestamp: number } | undefined;

  constructor(private readonly opts: RtpSessionOptions) {
    super();
    this.clock = opts.clock ?? systemClock;
    this.sendTimer = sendPacerFor(this.clock).timer(() => this.onSendTimer());
    this.log = opts.log ?? silentLogger;
    this.clockRate = opts.clockRate ?? 8000;
    this.ptimeMs = opts.ptimeMs ?? 20;
    this.samplesPerPacket = (this.clockRate * this.ptimeMs) / 1000;
    if (!Number.isInteger(this.samplesPerPacket) || this.samplesPerPacket <= 0) {
      throw new RangeError(`ptime ${this.ptimeMs} ms at ${this.clockRate} Hz is not a whole number of samples`);
    }
    if (!Number.isInteger(opts.payloadType) || opts.payloadType < 0 || opts.payloadType > 127) {
      throw new RangeError(`RTP payload type ${opts.payloadType} is not in 0..127`);
    }
    [this.encode, this.decode] = opts.codec === 'PCMA' ? [encodePcma, decodePcma] : [encodePcmu, decodePcmu];
    this.rtcpIntervalMs = opts.rtcpIntervalMs ?? 5000;
    this.maxGapSamples = Math.round(((opts.maxGapFillMs ?? 60000) * this.clockRate) / 1000);
    this.maxBackwardSamples = Math.round((2000 * this.clockRate) / 1000);
    this.playoutSlackMs = opts.playoutSlackMs ?? 500;
    const limit = opts.unconfirmedPacketLimit;
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) throw new RangeError(`unconfirmedPacketLimit must be an integer >= 0, got ${limit}`);
    this.unconfirmedBudget = limit ?? Infinity;
    this.random = opts.random ?? Math.random;
    if (opts.wallclockMs) {
      this.wallclockMs = opts.wallclockMs;
    } else {
      const offset = Date.now() - this.clock.now();
      this.wallclockMs = () => offset + this.clock.now();
    }
    this.source = opts.source;
    this.sink = opts.sink;
    const tePt = opts.telephoneEventPayloadType;
    if (tePt !== undefined) {
      this.dtmfSender = new DtmfSender({ clock: this.clock, log: this.log, payloadType: tePt, clockRate: this.clockRate, packetIntervalMs: this.ptimeMs, send: (p) => this.sendEventPacket(p) });
      this.dtmfSender.on('done', (r) => {
        // The voice stream resumes as a new talkspurt (RFC 4733 §2.5.1.4 / RFC 3551 §4.1).
        this.talkspurtStart = true;
        this.safeEmit('dtmf-sent', r);
      });
      this.dtmfReceiver = new DtmfReceiver({ clock: this.clock, log: this.log, clockRate: this.clockRate });
      this.dtmfReceiver.on('dtmf', (d) => this.safeEmit('dtmf', d));
    }
    this.ssrc = opts.ssrc ?? randomUint32();
    this.cname = opts.cname ?? randomBytesPooled(12).toString('base64');
    // RFC 3550 §5.1: "The initial value of the sequence number SHOULD be random", likewise the timestamp.
    this.sequence = randomInt(0, SEQ_MOD);
    this.timestampBase = randomUint32();
  }

  /**
   * Starts sending: the first RTP packet (marker set) at once, then one every ptime, each due
   * at start + k × ptime so timer lateness does not accumulate; RTCP after half an interval
   * (RFC 3550 §6.2), then every rtcpIntervalMs × 0.5..1.5 (§6.3.1).
   */
  start(): void {
    if (this.state !== 'idle') {
      // Idempotent; a stopped session stays stopped (its SSRC has said BYE, RFC 3550 §6.6).
      this.log.debug(`start() ignored in state ${this.state}`);
      return;
    }
    this.transition('running');
    this.sendStartMs = this.clock.now();
    this.scheduleRtcp(this.rtcpIntervalMs / 2);
    this.onSendTimer();
  }

  /**
   * Replaces the audio source (PCM frames, 8 kHz mono 16-bit, read 160 samples = 20 ms per packet;
   * this session paces the reads) or, with `undefined`, sends no audio. Takes effect at the next packet.
   */
  setSource(source: AudioSource | undefined): void {
    this.source = source;
  }

  /** Replaces the sink that receives the decoded remote audio (written as packets play out). */
  setSink(sink: AudioSink | undefined): void {
    this.sink = sink;
  }

  /**
   * Pass-through (RFC 3550 §5.1): the application sends each packet itself with `sendExternal`,
   * keeping this session's SSRC and sequence numbering; the built-in encoder stops reading the
   * source while it is on.
   */
  setPassthrough(on: boolean): void {
    this.passthrough = on;
    if (!on) this.talkspurtStart = true;
  }

  /**
   * Queues RFC 4733 events for `digits` (0-9, *, #, A-D; RFC 4733 §3.2 events 0-15; '!' flash = 16),
   * each `durationMs` long (default 100, 40..60000): sent from the next packet slot on, audio paused
   * meanwhile, the end packet three times (RFC 4733 §2.5.1.4).
   * @throws StateError when no telephone-event payload type was negotiated; RangeError for a bad digit or duration.
   */
  sendDtmf(digits: string, durationMs?: number): void {
    if (!this.dtmfSender) throw new StateError('the peer did not agree to telephone-event (RFC 4733): no DTMF by RTP');
    if (!/^[0-9*#A-Da-d!]+$/.test(digits)) throw new RangeError(`not DTMF digits: ${JSON.stringify(digits)}`);
    if (durationMs !== undefined && !(durationMs >= 40 && durationMs <= 60000)) throw new RangeError(`DTMF duration ${durationMs} ms not in 40..60000`);
    this.pendingDtmf.push({ digits, durationMs });
  }

  /** Whether DTMF can be sent by RTP (a telephone-event payload type was negotiated). */
  get dtmfAvailable(): boolean {
    return this.dtmfSender !== undefined;
  }

  private sendEventPacket(p: DtmfPacket): void {
    if (!this.sending) return;
    const packet = serializeRtp({ marker: p.marker, payloadType: p.payloadType, sequenceNumber: p.sequenceNumber, timestamp: p.timestamp, ssrc: this.ssrc, payload: p.payload });
    this.sequence = (p.sequenceNumber + 1) & 0xffff;
    this.packetsSent++;
    this.octetsSent += p.payload.length;
    this.lastRtpSentMs = this.clock.now();
    try {
      this.opts.sendRtp(packet);
    } catch (e) {
      this.log.warn(`sendRtp threw: ${errorMessage(e)}`);
    }
  }

  /**
   * Sends one packet of the application's (see `setPassthrough`); honours the negotiated
   * direction (nothing is sent while sending is off).
   * @returns false when not sent (not running, or sending is off).
   * @throws RangeError for a payload type outside 0..127.
   */
  sendExternal(p: OutgoingRtpPacket): boolean {
    if (!Number.isInteger(p.payloadType) || p.payloadType < 0 || p.payloadType > 127) throw new RangeError(`RTP payload type ${p.payloadType} is not in 0..127`);
    if (this.state !== 'running' || !this.sending) return false;
    this.emitPacket(p.payloadType, p.payload, p.timestamp ?? this.currentRtpTimestamp(), p.marker ?? false);
    return true;
  }

  /**
   * Stops the session: sends a final compound report ending in BYE (RFC 3550 §6.6) and cancels
   * timers. Per §6.3.7 no BYE is sent if nothing was ever sent. The sink is not closed.
   */
  stop(reason?: string): void {
    if (this.state === 'stopped') return;
    const wasRunning = this.state === 'running';
    this.transition('stopped');
    this.sendTimer.cancel();
    this.clock.clearTimer(this.rtcpTimer);
    this.rtcpTimer = undefined;
    this.dtmfSender?.close();
    this.dtmfReceiver?.close();
    if (wasRunning && (this.packetsSent > 0 || this.rtcpSent > 0)) this.sendReport(reason ?? '');
  }

  private transition(to: SessionState): void {
    if (!PREDECESSORS[to].includes(this.state)) throw new StateError(`RTP session cannot go from ${this.state} to ${to}`);
    this.state = to;
  }

  get running(): boolean {
    return this.state === 'running';
  }

  get stats(): RtpStats {
    const stats: RtpStats = {
      packetsSent: this.packetsSent,
      octetsSent: this.octetsSent,
      packetsReceived: this.packetsReceived,
      octetsReceived: this.octetsReceived,
      packetsLost: this.lostInRetiredSources + (this.remote ? lostOf(this.remote) : 0),
      jitterMs: this.remote ? (this.remote.jitter * 1000) / this.clockRate : 0,
      malformedDropped: this.malformedDropped,
      withheldUnconfirmed: this.withheldUnconfirmed,
      playoutTrimmedSamples: this.playoutTrimmedSamples,
      rtcpSent: this.rtcpSent,
      rtcpReceived: this.rtcpReceived,
    };
    if (this.remote) stats.remoteSsrc = this.remote.ssrc;
    if (this.lastRemoteReport) stats.lastRemoteReport = { ...this.lastRemoteReport };
    return stats;
  }

  // -------------------------------------------------------------------------------------------
  // Sending

  private onSendTimer(): void {
    if (this.state !== 'running') return;
    const now = this.clock.now();
    // Packets 0..lastDue are due by now.
    const lastDue = Math.floor((now - this.sendStartMs) / this.ptimeMs + 1e-9);
    if (lastDue - this.packetIndex + 1 > MAX_CATCH_UP) {
      const skip = lastDue - this.packetIndex + 1 - MAX_CATCH_UP;
      this.log.debug(`send timer ${Math.round(now - this.sendStartMs - this.packetIndex * this.ptimeMs)} ms late: skipping ${skip} packets`);
      this.source?.read(skip * this.samplesPerPacket); // keep file sources in step with time
      this.packetIndex += skip;
    }
    while (this.packetIndex <= lastDue) {
      const next = this.dtmfSender && !this.dtmfSender.sending ? this.pendingDtmf.shift() : undefined;
      if (next) {
        this.dtmfSender!.start(next.digits, {
          sequenceNumber: this.sequence, timestamp: (this.timestampBase + this.packetIndex * this.samplesPerPacket) >>> 0, durationMs: next.durationMs,
        });
      }
      if (this.dtmfSender?.sending) this.source?.read(this.samplesPerPacket); // audio paused, the source kept in step
      else this.sendPacket(this.packetIndex);
      this.packetIndex++;
    }
    const nextDue = this.sendStartMs + this.packetIndex * this.ptimeMs;
    this.sendTimer.at(nextDue);
  }

  /**
   * Whether RTP packets go out (RTCP always does, RFC 3264 §5.1: "RTCP is still sent" for sendonly,
   * recvonly and inactive streams). While off, the source keeps advancing with time and so do the
   * timestamps; the sequence number continues without a gap and the first packet after resuming
   * carries the marker bit (a new talkspurt, RFC 3551 §4.1).
   */
  setSending(on: boolean): void {
    if (on === this.sending) return;
    this.sending = on;
    if (on) this.talkspurtStart = true;
  }

  get isSending(): boolean {
    return this.sending;
  }

  /**
   * The peer has shown it wants our media (the ACK for our 2xx, an ICE check or response, an
   * authenticated SRTP packet): RTP withheld under `unconfirmedPacketLimit` flows again. Idempotent.
   */
  confirmPeer(): void {
    if (this.unconfirmedBudget === Infinity) return;
    this.unconfirmedBudget = Infinity;
    this.talkspurtStart = true;
  }

  /** Whether RTP may flow without limit (confirmed, or no `unconfirmedPacketLimit`). */
  get peerConfirmed(): boolean {
    return this.unconfirmedBudget === Infinity;
  }

  private sendPacket(index: number): void {
    if (!this.source || this.passthrough) return;
    const samples = this.source.read(this.samplesPerPacket);
    if (!this.sending) {
      this.packetsWithheld++;
      return;
    }
    // RFC 3551 §4.1: marker on the first packet of a talkspurt: the first one sent, and the first after a hold.
    const marker = this.talkspurtStart;
    this.talkspurtStart = false;
    this.emitPacket(this.opts.payloadType, this.encode(samples), (this.timestampBase + index * this.samplesPerPacket) >>> 0, marker);
  }

  private emitPacket(payloadType: number, payload: Buffer, timestamp: number, marker: boolean): void {
    if (this.unconfirmedBudget <= 0) {
      this.withheldUnconfirmed++;
      return;
    }
    this.unconfirmedBudget--;
    const packet = serializeRtp({
      marker,
      payloadType,
      sequenceNumber: this.sequence,
      timestamp: timestamp >>> 0,
      ssrc: this.ssrc,
      payload,
    });
    this.sequence = (this.sequence + 1) & 0xffff;
    this.packetsSent++;
    this.octetsSent += payload.length;
    this.lastRtpSentMs = this.clock.now();
    try {
      this.opts.sendRtp(packet);
    } catch (e) {
      this.log.warn(`sendRtp threw: ${errorMessage(e)}`);
    }
  }

  private scheduleRtcp(baseMs: number): void {
    // RFC 3550 §6.3.1: the interval is multiplied by a random factor uniform in [0.5, 1.5].
    const delay = baseMs * (0.5 + this.random());
    this.rtcpTimer = this.clock.setTimer(delay, () => {
      this.rtcpTimer = undefined;
      if (this.state !== 'running') return;
      this.sendReport();
      this.scheduleRtcp(this.rtcpIntervalMs);
    });
  }

  /** RTP timestamp corresponding to the current time (for the SR, RFC 3550 §6.4.1). */
  private currentRtpTimestamp(): number {
    const elapsed = ((this.clock.now() - this.sendStartMs) * this.clockRate) / 1000;
    return (this.timestampBase + Math.round(elapsed)) >>> 0;
  }

  /** Builds and sends one compound RTCP packet: SR or RR, SDES CNAME, and BYE when `byeReason` is given. */
  private sendReport(byeReason?: string): void {
    const now = this.clock.now();
    const reports: ReportBlock[] = this.remote ? [this.makeReportBlock(this.remote, now)] : [];
    const packets: RtcpPacket[] = [];
    // §6.4: a participant that sent RTP since the report before last sends an SR.
    if (this.packetsSent > 0 && now - this.lastRtpSentMs <= 2 * this.rtcpIntervalMs) {
      packets.push(
        buildSenderReport({
          ssrc: this.ssrc,
          ntpTimestamp: ntpFromUnixMs(this.wallclockMs()),
          rtpTimestamp: this.currentRtpTimestamp(),
          packetCount: this.packetsSent >>> 0,
          octetCount: this.octetsSent >>> 0,
          reports,
        }),
      );
    } else {
      packets.push(buildReceiverReport(this.ssrc, reports));
    }
    // §6.1: "Each compound RTCP packet MUST include an SDES CNAME".
    packets.push(buildCnameSdes(this.ssrc, this.cname));
    if (byeReason !== undefined) packets.push(buildBye([this.ssrc], byeReason === '' ? undefined : byeReason));
    const buf = buildRtcpCompound(packets);
    this.rtcpSent++;
    try {
      this.opts.sendRtcp(buf);
    } catch (e) {
      this.log.warn(`sendRtcp threw: ${errorMessage(e)}`);
    }
  }

  /** RFC 3550 A.3 report block for `source`; updates the interval counters. */
  private makeReportBlock(source: RemoteSource, now: number): ReportBlock {
    const extendedMax = source.cycles + source.maxSeq;
    const expected = extendedMax - source.baseSeq + 1;
    const expectedInterval = expected - source.expectedPrior;
    source.expectedPrior = expected;
    const receivedInterval = source.received - source.receivedPrior;
    source.receivedPrior = source.received;
    const lostInterval = expectedInterval - receivedInterval;
    const fraction = expectedInterval === 0 || lostInterval <= 0 ? 0 : Math.min(255, Math.floor((lostInterval * 256) / expectedInterval));
    const sr = this.lastSr && this.lastSr.ssrc === source.ssrc ? this.lastSr : undefined;
    return {
      ssrc: source.ssrc,
      fractionLost: fraction,
      cumulativeLost: expected - source.received,
      highestSequence: extendedMax >>> 0,
      jitter: Math.floor(source.jitter),
      lastSr: sr ? sr.middle : 0,
      delaySinceLastSr: sr ? msToCompactNtp(now - sr.arrivalMs) : 0,
    };
  }

  // -------------------------------------------------------------------------------------------
  // Receiving

  /**
   * Handles one datagram from the media path: RTCP if its second octet is 192..223
   * (RFC 5761 §4), RTP otherwise. Never throws; malformed datagrams are counted and dropped.
   * @param arrivalMs arrival time on `clock` (default clock.now()), for jitter.
   */
  receive(buf: Buffer, arrivalMs?: number): void {
    if (isRtcpPacket(buf)) this.receiveRtcp(buf);
    else this.receiveRtp(buf, arrivalMs);
  }

  /** Handles one RTP packet. Never throws. */
  receiveRtp(buf: Buffer, arrivalMs?: number): void {
    if (this.state === 'stopped') return;
    let packet: RtpPacket;
    try {
      packet = parseRtp(buf);
    } catch (e) {
      this.malformedDropped++;
      this.log.debug(`dropped malformed RTP packet (${buf.length} octets): ${errorMessage(e)}`);
      return;
    }
    try {
      this.handleRtp(packet, arrivalMs ?? this.clock.now());
    } catch (e) {
      this.log.warn(`RTP packet handling failed: ${errorMessage(e)}`);
    }
  }

  private handleRtp(packet: RtpPacket, arrivalMs: number): void {
    let source = this.remote;
    if (!source || source.ssrc !== packet.ssrc) {
      if (source) {
        this.log.debug(`remote SSRC changed from ${source.ssrc} to ${packet.ssrc}`);
        this.lostInRetiredSources += lostOf(source);
      }
      source = this.newSource(packet.ssrc, packet.sequenceNumber);
      this.remote = source;
      this.playout = undefined; // the wall-clock origin stays: a new SSRC does not reset the bound
      this.dtmfReceiver?.reset();
    } else if (!this.updateSequence(source, packet.sequenceNumber)) {
      return; // A.1: first packet after a large jump, held back until the next one confirms it
    }
    this.packetsReceived++;
    this.octetsReceived += packet.payload.length;
    if (!this.gotFirstPacket) {
      this.gotFirstPacket = true;
      this.safeEmit('first-packet');
    }
    if (this.listenerCount('packet') > 0) {
      this.safeEmit('packet', {
        payloadType: packet.payloadType, sequenceNumber: packet.sequenceNumber, timestamp: packet.timestamp, ssrc: packet.ssrc,
        marker: packet.marker, payload: packet.payload, arrivalMs,
      });
    }
    if (this.dtmfReceiver && packet.payloadType === this.opts.telephoneEventPayloadType) {
      this.dtmfReceiver.receivePacket(packet);
      return;
    }
    if (packet.payloadType !== this.opts.payloadType) return; // e.g. comfort noise
    this.updateJitter(source, packet.timestamp, arrivalMs);
    this.play(packet, arrivalMs);
  }

  private newSource(ssrc: number, sequence: number): RemoteSource {
    const source: RemoteSource = {
      ssrc, maxSeq: 0, cycles: 0, baseSeq: 0, badSeq: -1, received: 0, expectedPrior: 0, receivedPrior: 0, jitter: 0,
    };
    this.initSequence(source, sequence);
    source.received = 1;
    return source;
  }

  /** RFC 3550 A.1 init_seq. */
  private initSequence(source: RemoteSource, sequence: number): void {
    source.baseSeq = sequence;
    source.maxSeq = sequence;
    source.badSeq = -1;
    source.cycles = 0;
    source.received = 0;
    source.receivedPrior = 0;
    source.expectedPrior = 0;
    source.lastArrivalTs = undefined;
    source.lastTimestamp = undefined;
  }

  /**
   * RFC 3550 A.1 update_seq (without probation): accepts in-order packets, counts wraps, accepts
   * duplicates and misordered packets, and treats a jump of MAX_DROPOUT or more as a restart
   * only once the following packet confirms it. Returns false for a packet to drop.
   */
  private updateSequence(source: RemoteSource, sequence: number): boolean {
    const udelta = (sequence - source.maxSeq) & 0xffff;
    if (udelta < MAX_DROPOUT) {
      // In order, with a permissible gap.
      if (sequence < source.maxSeq) source.cycles += SEQ_MOD;
      source.maxSeq = sequence;
    } else if (udelta <= SEQ_MOD - MAX_MISORDER) {
      // A very large jump.
      if (sequence === source.badSeq) {
        // Two sequential packets: assume the other side restarted without telling us.
        this.lostInRetiredSources += lostOf(source);
        this.initSequence(source, sequence);
        this.playout = undefined;
      } else {
        source.badSeq = (sequence + 1) & 0xffff;
        return false;
      }
    }
    // else: duplicate or misordered packet, counted as A.1 does.
    source.received++;
    return true;
  }

  /** RFC 3550 A.8: J += (|D(i-1,i)| - J) / 16, with D from arrival and RTP timestamps. */
  private updateJitter(source: RemoteSource, timestamp: number, arrivalMs: number): void {
    const arrivalTs = (arrivalMs * this.clockRate) / 1000;
    if (source.lastArrivalTs !== undefined && source.lastTimestamp !== undefined) {
      // D = (Rj - Ri) - (Sj - Si), the timestamp difference taken modulo 2^32.
      const d = arrivalTs - source.lastArrivalTs - timestampDelta(timestamp, source.lastTimestamp);
      source.jitter += (Math.abs(d) - source.jitter) / 16;
    }
    source.lastArrivalTs = arrivalTs;
    source.lastTimestamp = timestamp;
  }

  /** Decodes into the sink in sequence order; late and duplicate packets are dropped, gaps become silence. */
  private play(packet: RtpPacket, arrivalMs: number): void {
    const sink = this.sink;
    if (!sink) return;
    let samples = this.decode(packet.payload);
    // Wall-clock bound: what the sink holds may not run more than playoutSlackMs ahead of the time
    // since playout began, whatever the timestamps say (a jump is silence only as long as it was real).
    this.playoutOrigin ??= { startMs: arrivalMs - (samples.length * 1000) / this.clockRate, samples: 0 };
    const origin = this.playoutOrigin;
    let budget = Math.floor(((arrivalMs - origin.startMs + this.playoutSlackMs) * this.clockRate) / 1000) - origin.samples;
    if (this.playout) {
      if (sequenceDelta(packet.sequenceNumber, this.playout.sequence) <= 0) return; // late or duplicate
      const gap = timestampDelta(packet.timestamp, this.playout.nextTimestamp);
      if (gap > 0) {
        const wanted = Math.min(gap, this.maxGapSamples);
        const fill = Math.max(0, Math.min(wanted, budget - samples.length));
        this.playoutTrimmedSamples += wanted - fill;
        if (fill > 0) {
          sink.write(new Int16Array(fill));
          origin.samples += fill;
          budget -= fill;
        }
      } else if (gap < 0 && -gap < samples.length) {
        samples = samples.subarray(-gap); // overlaps what was already played
      } else if (gap < 0 && -gap <= this.maxBackwardSamples) {
        return; // entirely in the past
      }
      // A larger backward jump is a timestamp reset: play from here.
    }
    this.playout = { sequence: packet.sequenceNumber, nextTimestamp: (packet.timestamp + packet.payload.length) >>> 0 };
    if (samples.length > budget) {
      this.playoutTrimmedSamples += samples.length - Math.max(0, budget);
      samples = samples.subarray(0, Math.max(0, budget));
    }
    if (samples.length > 0) {
      sink.write(samples);
      origin.samples += samples.length;
    }
  }

  /** Handles one compound RTCP packet. Never throws. */
  receiveRtcp(buf: Buffer): void {
    if (this.state === 'stopped') return;
    let packets: RtcpPacket[];
    try {
      packets = parseRtcpCompound(buf);
    } catch (e) {
      this.malformedDropped++;
      this.log.debug(`dropped malformed RTCP packet (${buf.length} octets): ${errorMessage(e)}`);
      return;
    }
    this.rtcpReceived++;
    const now = this.clock.now();
    let bye = false;
    for (const p of packets) {
      if (p.type === 'SR') {
        this.lastSr = { ssrc: p.ssrc, middle: ntpMiddle32(p.ntpTimestamp), arrivalMs: now };
      }
      if (p.type === 'SR' || p.type === 'RR') {
        const block = p.reports.find((b) => b.ssrc === this.ssrc);
        if (block) this.lastRemoteReport = this.remoteReportFrom(block);
      }
      if (p.type === 'BYE' && p.ssrcs.some((s) => s !== this.ssrc)) bye = true;
    }
    this.safeEmit('rtcp', packets);
    if (bye) this.safeEmit('remote-bye');
  }

  /** RFC 3550 §6.4.1: RTT = A - LSR - DLSR in compact NTP units, A being our arrival time. */
  private remoteReportFrom(block: ReportBlock): RemoteReport {
    const report: RemoteReport = {
      fractionLost: block.fractionLost / 256,
      cumulativeLost: block.cumulativeLost,
      jitterMs: (block.jitter * 1000) / this.clockRate,
    };
    if (block.lastSr !== 0) {
      const arrival = ntpMiddle32(ntpFromUnixMs(this.wallclockMs()));
      const rtt = (arrival - block.lastSr - block.delaySinceLastSr) | 0;
      report.rttMs = Math.max(0, compactNtpToMs(rtt));
    }
    return report;
  }
}

/** RFC 3550 A.3: cumulative number of packets lost = expected - received. */
function lostOf(source: RemoteSource): number {
  return source.cycles + source.maxSeq - source.baseSeq + 1 - source.received;
}
