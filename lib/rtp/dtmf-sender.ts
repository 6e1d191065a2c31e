/**
 * Sends DTMF digits as RFC 4733 telephone events (§2.5.1 sender procedures) in the RTP stream of
 * an audio session.
 *
 * The sender owns only the event packets' timing and payloads. The RTP session stays the owner of
 * the SSRC and of the sequence number space: it passes its next sequence number and the RTP
 * timestamp of the packet slot being replaced to `start()`, puts its SSRC on every packet the
 * `send` callback hands it, and takes its sequence number back from those packets (or from the
 * `done` result). Time comes from the injected Clock (milliseconds); RTP timestamps and event
 * durations are in samples at `clockRate`.
 *
 * ## The packets of one digit (packet interval p = 20 ms, 8000 Hz: 160 samples per interval)
 * - One RTP timestamp for the whole event: the instant it starts (§2.2.1, §2.3.5); every
 *   report of the event carries it, and its duration field grows by one interval per packet from
 *   the start (160, 320, …), so each packet describes the media up to the end of its interval,
 *   like the audio packet whose slot it takes.
 * - The M bit on the first packet of the event only (§2.2.2), a report every packet interval
 *   (§2.5.1.2: the audio codec's packet interval when known, else 50 ms).
 * - The last report has the E bit and the full duration (rounded to whole samples), and is sent
 *   three times, one interval apart, with the same timestamp and duration (§2.5.1.4: "The final
 *   packet for each event and for each segment SHOULD be sent a total of three times at the
 *   interval used by the source for updates").
 * - Every packet, retransmissions included, takes the next sequence number (RFC 3550 §5.1).
 * - A 100 ms digit: 160, 320, 480, 640 (M on the first), then 800 with E three times: 7 packets,
 *   at 0, 20, …, 120 ms.
 * - Long events (§2.5.1.3): when the duration of a segment would pass 65535, the segment ends
 *   with a report of duration 65535 without the E bit (sent three times as §2.5.1.4 says), and a
 *   new segment starts with the RTP timestamp where the previous one ended (+65535) and the
 *   duration counted from there; no M bit on later segments. Only the final segment's last report
 *   has the E bit.
 *
 * ## Between digits
 * The next digit starts on the packet-interval grid, at least `interDigitGapMs` after the end of
 * the previous digit's media and after its last retransmission, so digits never overlap. Its
 * timestamp is the first timestamp plus the elapsed time in samples, so every event's timestamp
 * is the one the audio packet of that slot would have had.
 *
 * ## The voice stream
 * While a digit is sent its tone is carried by the events; audio packets for the same time would
 * carry it twice (or contradict it with speech or silence), so the voice stream pauses. The caller
 * must send no audio packets from `start()` until the `done` event (`sending` is true for that
 * whole period), but keep its timestamp clock running: the first audio packet after `done` takes
 * the timestamp of its own slot (later than any event's end) and the M bit (RFC 3551 §4.1, the
 * first packet after a silence).
 */
import { systemClock, type Clock, type TimerHandle } from '../base/clock.js';
import { errorMessage, StateError } from '../base/errors.js';
import { TypedEmitter } from '../base/events.js';
import { silentLogger, type Logger } from '../base/log.js';
import {
  dtmfEventOf,
  encodeTelephoneEvent,
  MAX_EVENT_DURATION,
  MAX_EVENT_VOLUME,
  type TelephoneEvent,
} from './telephone-event.js';

/** Default tone duration, ms (a common keypad length; RFC 4733 sets none). */
export const DEFAULT_DTMF_DURATION_MS = 100;
/** Shortest accepted tone, ms: the usual lower bound for DTMF recognition (ITU-T Q.24). */
export const MIN_DTMF_DURATION_MS = 40;
/** Longest accepted tone, ms (segments make longer events possible; this bounds mistakes). */
export const MAX_DTMF_DURATION_MS = 60_000;
/** Default silence between two digits, ms. */
export const DEFAULT_INTER_DIGIT_GAP_MS = 50;
/** Default power level: -10 dBm0 (RFC 4733 §2.3.4; within the range every receiver must accept). */
export const DEFAULT_DTMF_VOLUME = 10;
/** How many times a final report is sent (§2.5.1.4). */
const FINAL_REPORT_COPIES = 3;

/** One RTP packet to send: every header field but the SSRC, which the session adds. */
export interface DtmfPacket {
  payloadType: number;
  /** M bit: set on the first packet of an event (§2.2.2). */
  marker: boolean;
  /** 16-bit sequence number continuing the one given to `start()`. */
  sequenceNumber: number;
  /** 32-bit RTP timestamp of the event's (or segment's) start, in samples. */
  timestamp: number;
  /** The 4-octet telephone-event payload (RFC 4733 §2.3). */
  payload: Buffer;
  /** The report in `payload`, decoded (for logs and tests). */
  event: TelephoneEvent;
}

export interface DtmfSenderOptions {
  clock?: Clock;
  log?: Logger;
  /** The negotiated telephone-event payload type (dynamic, e.g. 101; see lib/sdp/telephone-event-attributes.ts). */
  payloadType: number;
  /** RTP clock rate in Hz, the voice codec's (RFC 4733 §2.1); default 8000. */
  clockRate?: number;
  /** Interval between reports in ms, the audio packetization time (§2.5.1.2); default 20. */
  packetIntervalMs?: number;
  /** Power level 0..63 (0 to -63 dBm0); default 10. */
  volume?: number;
  /** Least silence between digits, ms; default 50. */
  interDigitGapMs?: number;
  /** Sends one packet. A throw is logged and the sequence goes on (the packet counts as sent). */
  send: (packet: DtmfPacket) => void;
}

export interface DtmfStartOptions {
  /** The stream's next RTP sequence number: the first event packet takes it. */
  sequenceNumber: number;
  /** RTP timestamp of the first event's start: the timestamp of the audio slot it replaces. */
  timestamp: number;
  /** Tone duration per digit in ms, 40..60000; default 100. */
  durationMs?: number;
}

export interface DtmfSendResult {
  /** The digits sent (upper case), or those sent before `stop()`. */
  digits: string;
  /** False when `stop()` ended the sequence early. */
  completed: boolean;
  /** The sequence number the stream continues with. */
  nextSequenceNumber: number;
  /** RTP timestamp of the packet slot after the last packet sent. */
  nextTimestamp: number;
}

export type DtmfSenderEvents = {
  /** The last copy of a digit's final report went out. */
  'digit-sent': [digit: string];
  /** The sequence is over (all digits sent, or stopped): audio may resume. */
  done: [result: DtmfSendResult];
};

type SenderState = 'idle' | 'sending' | 'closed';
const PREDECESSORS: Record<SenderState, SenderState[]> = { idle: ['sending'], sending: ['idle'], closed: ['idle', 'sending'] };

/** One planned packet: its slot (packet intervals after the first) and contents. */
interface PlannedPacket {
  slot: number;
  marker: boolean;
  /** Samples from the first event's timestamp to this report's timestamp. */
  timestampOffset: number;
  event: TelephoneEvent;
  /** Set on the last copy of a digit's final report. */
  lastOfDigit?: string;
}

export class DtmfSender extends TypedEmitter<DtmfSenderEvents> {
  readonly payloadType: number;
  readonly clockRate: number;
  readonly packetIntervalMs: number;
  /** Samples per packet interval. */
  readonly samplesPerInterval: number;

  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly volume: number;
  private readonly interDigitGapMs: number;

  private state: SenderState = 'idle';
  private timer: TimerHandle | undefined;
  private plan: PlannedPacket[] = [];
  private next = 0;
  private startMs = 0;
  private firstTimestamp = 0;
  private sequence = 0;
  private digitsSent = '';

  constructor(private readonly opts: DtmfSenderOptions) {
    super();
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log ?? silentLogger;
    if (!Number.isInteger(opts.payloadType) || opts.payloadType < 0 || opts.payloadType > 127) {
      throw new RangeError(`telephone-event payload type ${opts.payloadType} is not in 0..127`);
    }
    this.payloadType = opts.payloadType;
    this.clockRate = opts.clockRate ?? 8000;
    this.packetIntervalMs = opts.packetIntervalMs ?? 20;
    this.samplesPerInterval = (this.clockRate * this.packetIntervalMs) / 1000;
    if (!Number.isInteger(this.samplesPerInterval) || this.samplesPerInterval <= 0 || this.samplesPerInterval > MAX_EVENT_DURATION) {
      throw new RangeError(`packet interval ${this.packetIntervalMs} ms at ${this.clockRate} Hz is not a whole number of samples in 1..65535`);
    }
    this.volume = opts.volume ?? DEFAULT_DTMF_VOLUME;
    if (!Number.isInteger(this.volume) || this.volume < 0 || this.volume > MAX_EVENT_VOLUME) {
      throw new RangeError(`DTMF volume ${this.volume} is not an integer in 0..63`);
    }
    this.interDigitGapMs = opts.interDigitGapMs ?? DEFAULT_INTER_DIGIT_GAP_MS;
    if (!(this.interDigitGapMs >= 0) || !Number.isFinite(this.interDigitGapMs)) {
      throw new RangeError(`inter-digit gap ${this.interDigitGapMs} ms is not a non-negative number`);
    }
  }

  /** True from `start()` until `done`: the caller sends no audio packets meanwhile. */
  get sending(): boolean {
    return this.state === 'sending';
  }

  /**
   * Starts sending `digits` ('0'-'9', '*', '#', 'A'-'D' in either case, '!' for flash): the
   * first packet goes out synchronously, the others on the clock, one per packet interval.
   * @throws RangeError on an empty string, a character that is no DTMF event, or out-of-range options.
   * @throws StateError while a sequence is being sent, or after `close()`.
   */
  start(digits: string, options: DtmfStartOptions): void {
    if (this.state !== 'idle') throw new StateError(`DTMF sender is ${this.state}: cannot start "${digits}"`);
    const events = [...digits].map((d) => {
      const event = dtmfEventOf(d);
      if (event === undefined) throw new RangeError(`${JSON.stringify(d)} in ${JSON.stringify(digits)} is not a DTMF digit (0-9 * # A-D !)`);
      return event;
    });
    if (events.length === 0) throw new RangeError('no DTMF digits to send');
    const durationMs = options.durationMs ?? DEFAULT_DTMF_DURATION_MS;
    if (!(durationMs >= MIN_DTMF_DURATION_MS && durationMs <= MAX_DTMF_DURATION_MS)) {
      throw new RangeError(`DTMF duration ${durationMs} ms is not in ${MIN_DTMF_DURATION_MS}..${MAX_DTMF_DURATION_MS}`);
    }
    const { sequenceNumber, timestamp } = options;
    if (!Number.isInteger(sequenceNumber) || sequenceNumber < 0 || sequenceNumber > 0xffff) {
      throw new RangeError(`RTP sequence number ${sequenceNumber} is not in 0..65535`);
    }
    if (!Number.isInteger(timestamp) || timestamp < 0 || timestamp > 0xffffffff) {
      throw new RangeError(`RTP timestamp ${timestamp} is not in 0..4294967295`);
    }
    this.plan = this.planDigits(digits.toUpperCase(), events, durationMs);
    this.next = 0;
    this.startMs = this.clock.now();
    this.firstTimestamp = timestamp;
    this.sequence = sequenceNumber;
    this.digitsSent = '';
    this.transition('sending');
    this.onTimer();
  }

  /**
   * Stops at once: no further packet, `done` with `completed: false`. A digit cut short gets no
   * end report; the receiver ends it by its timeout. Harmless when idle.
   */
  stop(): void {
    if (this.state !== 'sending') return;
    this.finish(false);
  }

  /** Stops (as `stop()`) and refuses further use; for the end of the call. */
  close(): void {
    this.stop();
    if (this.state !== 'closed') this.transition('closed');
  }

  private transition(to: SenderState): void {
    if (!PREDECESSORS[to].includes(this.state)) throw new StateError(`DTMF sender cannot go from ${this.state} to ${to}`);
    this.state = to;
  }

  /** The packets of every digit, in slot order (see the module comment). */
  private planDigits(digits: string, events: number[], durationMs: number): PlannedPacket[] {
    const plan: PlannedPacket[] = [];
    const spi = this.samplesPerInterval;
    const total = Math.max(1, Math.round((durationMs * this.clockRate) / 1000));
    let startSlot = 0;
    events.forEach((event, i) => {
      const startOffset = startSlot * spi;
      const report = (duration: number, end: boolean): TelephoneEvent => ({ event, end, reserved: false, volume: this.volume, duration });
      let slot = startSlot;
      let segmentStart = 0; // samples from the event's start to the current segment's start
      let first = true;
      for (;;) {
        const elapsed = Math.min((slot - startSlot + 1) * spi, total);
        const segmentDuration = elapsed - segmentStart;
        if (segmentDuration > MAX_EVENT_DURATION) {
          // §2.5.1.3: report the full segment without E, three times (§2.5.1.4), then a new segment.
          for (let copy = 0; copy < FINAL_REPORT_COPIES; copy++) {
            plan.push({ slot: slot + copy, marker: first && copy === 0, timestampOffset: startOffset + segmentStart, event: report(MAX_EVENT_DURATION, false) });
          }
          first = false;
          segmentStart += MAX_EVENT_DURATION;
          slot += FINAL_REPORT_COPIES;
          continue;
        }
        if (elapsed === total) {
          for (let copy = 0; copy < FINAL_REPORT_COPIES; copy++) {
            const packet: PlannedPacket = { slot: slot + copy, marker: first && copy === 0, timestampOffset: startOffset + segmentStart, event: report(segmentDuration, true) };
            if (copy === FINAL_REPORT_COPIES - 1) packet.lastOfDigit = digits[i]!;
            plan.push(packet);
          }
          slot += FINAL_REPORT_COPIES - 1;
          break;
        }
        plan.push({ slot, marker: first, timestampOffset: startOffset + segmentStart, event: report(segmentDuration, false) });
        first = false;
        slot++;
      }
      // Next digit: after the last copy, and at least the gap after this digit's media ends.
      const afterRetransmissions = slot + 1;
      const afterGap = startSlot + Math.ceil((durationMs + this.interDigitGapMs) / this.packetIntervalMs - 1e-9);
      startSlot = Math.max(afterRetransmissions, afterGap);
    });
    return plan;
  }

  /** Sends every planned packet due by now, then waits for the next one's slot. */
  private onTimer(): void {
    this.timer = undefined;
    if (this.state !== 'sending') return;
    const now = this.clock.now();
    const plan = this.plan;
    while (this.next < plan.length) {
      const planned = plan[this.next]!;
      const dueMs = this.startMs + planned.slot * this.packetIntervalMs;
      if (dueMs > now + 1e-9) {
        this.timer = this.clock.setTimer(dueMs - now, () => this.onTimer());
        return;
      }
      this.next++;
      this.sendPlanned(planned);
      if (this.state !== 'sending' || this.plan !== plan) return; // a listener stopped (or restarted) us
    }
    this.finish(true);
  }

  private sendPlanned(planned: PlannedPacket): void {
    const packet: DtmfPacket = {
      payloadType: this.payloadType,
      marker: planned.marker,
      sequenceNumber: this.sequence,
      timestamp: (this.firstTimestamp + planned.timestampOffset) >>> 0,
      payload: encodeTelephoneEvent(planned.event),
      event: planned.event,
    };
    this.sequence = (this.sequence + 1) & 0xffff;
    try {
      this.opts.send(packet);
    } catch (e) {
      this.log.warn(`DTMF send threw: ${errorMessage(e)}`);
    }
    if (planned.lastOfDigit !== undefined) {
      this.digitsSent += planned.lastOfDigit;
      this.safeEmit('digit-sent', planned.lastOfDigit);
    }
  }

  private finish(completed: boolean): void {
    this.clock.clearTimer(this.timer);
    this.timer = undefined;
    const lastSlot = this.next > 0 ? this.plan[this.next - 1]!.slot : -1;
    const result: DtmfSendResult = {
      digits: this.digitsSent,
      completed,
      nextSequenceNumber: this.sequence,
      nextTimestamp: (this.firstTimestamp + (lastSlot + 1) * this.samplesPerInterval) >>> 0,
    };
    this.plan = [];
    this.next = 0;
    this.transition('idle');
    this.safeEmit('done', result);
  }
}
