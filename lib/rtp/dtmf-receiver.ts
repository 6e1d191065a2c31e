/**
 * Turns received RFC 4733 telephone-event reports into DTMF digits (§2.5.2 receiver procedures):
 * one `dtmf` event per digit, when the digit has ended, with its duration.
 *
 * An event is known by its RTP timestamp, the instant it began (§2.2.1), which every report of it
 * carries; its duration is the largest duration field reported (durations are cumulative from
 * that instant, §2.3.5). So:
 * - the three copies of the final report (§2.5.1.4) and any retransmission or duplicate change
 *   nothing: once an event has ended, later packets with its timestamp are dropped;
 * - reordered updates cannot shorten an event (the largest duration wins), and a packet whose
 *   timestamp and sequence number are both older than the newest event's is a late one from an
 *   event already reported (or abandoned) and is dropped. An older timestamp with a newer
 *   sequence number (or a timestamp far behind) is a sender that restarted its timestamps: the
 *   receiver forgets what it saw and takes the report as a new event;
 * - a lost start (the first packet seen has no M bit) costs nothing but latency: the timestamp
 *   and cumulative duration of any later report still say when the event began and how long it
 *   lasted (`startSeen` is false then);
 * - a lost end: the event ends when a report of a newer event arrives (`endedBy: 'next-event'`),
 *   or when no report of it has arrived for `endTimeoutMs` (`'timeout'`, default 200 ms: ten
 *   missed 20 ms updates, four of the 50 ms that §2.5.1.2 allows at most); its duration is then
 *   the longest reported. The timeout is decided only after the input already received has been
 *   read (Clock.afterPendingInput): after a blocked event loop the timer fires before the reports
 *   waiting in the socket, which would otherwise end the event early (a 100 ms digit reported as
 *   60 ms) and then be dropped as duplicates;
 * - long events (§2.5.2.3): a report of the same event code, without M bit, whose timestamp is
 *   the current segment's plus 65535, continues the event as its next segment; the segments'
 *   durations add up.
 * Only DTMF events (codes 0-16, RFC 4733 §3.2) are reported; other event codes are counted in
 * `stats.otherEvents` and otherwise ignored. The R bit is ignored (§2.3.3).
 *
 * One receiver serves one remote source (SSRC): call `reset()` when the source changes. Time comes
 * from the injected Clock (ms); timestamps and durations are in samples at `clockRate`.
 */
import { afterPendingInput, systemClock, type Clock, type TimerHandle } from '../base/clock.js';
import { errorMessage } from '../base/errors.js';
import { TypedEmitter } from '../base/events.js';
import { silentLogger, type Logger } from '../base/log.js';
import { sequenceDelta, timestampDelta, type RtpPacket } from './packet.js';
import { decodeTelephoneEvent, dtmfDigitOf, MAX_EVENT_DURATION, type DtmfDigit, type TelephoneEvent } from './telephone-event.js';

/** Default time without reports after which an event without an end report ends, ms. */
export const DEFAULT_END_TIMEOUT_MS = 200;
/**
 * A report this far (in ms) behind the newest event seen is no reordering but a timestamp
 * restart of the sender, whatever its sequence number says (after 2^15 packets sequence numbers
 * no longer order). Longer than a segment (65535 samples is 8.2 s at 8000 Hz) so a late report
 * of an earlier segment is still recognised as late.
 */
const RESTART_AFTER_MS = 10_000;
/** How many ended events (their segment timestamps) are remembered for de-duplication. */
const ENDED_MEMORY = 16;

/** A digit received. */
export interface ReceivedDtmf {
  digit: DtmfDigit;
  /** Event code 0-16. */
  event: number;
  /** RTP timestamp of the event's start (of its first segment). */
  timestamp: number;
  /** Duration in timestamp units (samples), all segments together. */
  durationSamples: number;
  /** Duration in ms: durationSamples × 1000 / clockRate. */
  durationMs: number;
  /** Power level 0..63 (0 to -63 dBm0) of the last report. */
  volume: number;
  /** What ended it: its E report, a report of a newer event, or `endTimeoutMs` without reports. */
  endedBy: 'end-bit' | 'next-event' | 'timeout';
  /** True when the event's first packet (the one with the M bit) arrived, in order or not. */
  startSeen: boolean;
}

/** The RTP header fields the receiver needs beside the payload. */
export interface TelephoneEventHeader {
  timestamp: number;
  sequenceNumber: number;
  marker: boolean;
}

export interface DtmfReceiverOptions {
  clock?: Clock;
  log?: Logger;
  /** Clock rate of the telephone-event payload type in Hz; default 8000. */
  clockRate?: number;
  /** An event whose reports stop for this long (ms) ends; default 200. */
  endTimeoutMs?: number;
}

export interface DtmfReceiverStats {
  /** Reports handed to the receiver (malformed ones included). */
  packets: number;
  /** Reports with a timestamp of an event already ended (final report copies, retransmissions). */
  duplicates: number;
  /** Reports older than the newest event seen, not otherwise known: late arrivals, dropped. */
  late: number;
  /** Payloads that did not decode (receivePacket only). */
  malformed: number;
  /** Reports of event codes above 16. */
  otherEvents: number;
  /** Digits reported. */
  digits: number;
}

export type DtmfReceiverEvents = {
  /** A digit has ended. */
  dtmf: [digit: ReceivedDtmf];
};

/** The event being received. */
interface CurrentEvent {
  event: number;
  volume: number;
  timestamp: number;
  startSeen: boolean;
  /** RTP timestamp of the current segment (§2.5.1.3). */
  segmentTimestamp: number;
  /** Samples in the segments before the current one. */
  earlierSegments: number;
  /** Largest duration reported for the current segment. */
  segmentDuration: number;
  /** Timestamps of this event's earlier segments. */
  segmentTimestamps: number[];
  timer: TimerHandle | undefined;
  /** Reports taken so far: the end timeout sees whether one came while it waited. */
  reports: number;
}

export class DtmfReceiver extends TypedEmitter<DtmfReceiverEvents> {
  readonly clockRate: number;
  readonly endTimeoutMs: number;

  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly restartSamples: number;
  private current: CurrentEvent | undefined;
  /** Newest (segment) timestamp seen; reports behind it are late. */
  private newest: number | undefined;
  /** Highest sequence number of an accepted report (RFC 3550 modular order). */
  private newestSequence: number | undefined;
  /** Segment timestamps of recently ended events. */
  private ended: number[] = [];
  private closed = false;
  private readonly counters: DtmfReceiverStats = { packets: 0, duplicates: 0, late: 0, malformed: 0, otherEvents: 0, digits: 0 };

  constructor(opts: DtmfReceiverOptions = {}) {
    super();
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log ?? silentLogger;
    this.clockRate = opts.clockRate ?? 8000;
    if (!(this.clockRate > 0) || !Number.isInteger(this.clockRate)) throw new RangeError(`clock rate ${this.clockRate} Hz is not a positive integer`);
    this.endTimeoutMs = opts.endTimeoutMs ?? DEFAULT_END_TIMEOUT_MS;
    if (!(this.endTimeoutMs > 0) || !Number.isFinite(this.endTimeoutMs)) throw new RangeError(`end timeout ${this.endTimeoutMs} ms is not positive`);
    this.restartSamples = (RESTART_AFTER_MS * this.clockRate) / 1000;
  }

  get stats(): DtmfReceiverStats {
    return { ...this.counters };
  }

  /**
   * Handles one RTP packet of the telephone-event payload type: decodes its payload and calls
   * `receive`. Never throws; a malformed payload is counted, logged and dropped.
   * @returns false when the payload did not decode.
   */
  receivePacket(packet: Pick<RtpPacket, 'timestamp' | 'sequenceNumber' | 'marker' | 'payload'>): boolean {
    let report: TelephoneEvent;
    try {
      report = decodeTelephoneEvent(packet.payload);
    } catch (e) {
      this.counters.packets++;
      this.counters.malformed++;
      this.log.debug(`dropped telephone-event packet seq ${packet.sequenceNumber}: ${errorMessage(e)}`);
      return false;
    }
    this.receive(report, packet);
    return true;
  }

  /** Handles one decoded report with its packet's RTP header fields. Ignored after `close()`. */
  receive(report: TelephoneEvent, header: TelephoneEventHeader): void {
    if (this.closed) return;
    this.counters.packets++;
    if (dtmfDigitOf(report.event) === undefined) {
      this.counters.otherEvents++;
      return;
    }
    const ts = header.timestamp >>> 0;
    if (this.ended.includes(ts)) {
      this.counters.duplicates++;
      return;
    }
    const current = this.current;
    if (current) {
      if (ts === current.segmentTimestamp && report.event === current.event) {
        this.noteSequence(header.sequenceNumber);
        this.update(current, report, header.marker);
        return;
      }
      if (report.event === current.event && !header.marker && timestampDelta(ts, current.segmentTimestamp) === MAX_EVENT_DURATION) {
        // §2.5.2.3: the next segment of a long event starts where the previous one ended.
        current.segmentTimestamps.push(current.segmentTimestamp);
        current.earlierSegments += MAX_EVENT_DURATION;
        current.segmentTimestamp = ts;
        current.segmentDuration = 0;
        this.newest = ts;
        this.noteSequence(header.sequenceNumber);
        this.update(current, report, false);
        return;
      }
    }
    if (this.newest !== undefined) {
      const behind = -timestampDelta(ts, this.newest);
      if (behind >= 0) {
        const sequenceAhead = this.newestSequence !== undefined && sequenceDelta(header.sequenceNumber, this.newestSequence) > 0;
        if (!sequenceAhead && behind <= this.restartSamples) {
          // Older than (or as old as) the newest event, and sent before it: a late report of an
          // event already handled.
          this.counters.late++;
          return;
        }
        this.log.debug(`telephone-event timestamp ${ts} is ${behind} samples behind ${this.newest} (seq ${header.sequenceNumber}): sender restarted`);
        if (this.current) this.finish(this.current, 'next-event');
        this.forget();
      }
    }
    if (this.current) this.finish(this.current, 'next-event');
    this.noteSequence(header.sequenceNumber);
    this.begin(report, ts, header.marker);
  }

  /**
   * For a new remote source: ends the event in progress (as a timeout would) and forgets which
   * events were seen.
   */
  reset(): void {
    if (this.current) this.finish(this.current, 'timeout');
    this.forget();
  }

  /** Drops the event in progress without reporting it, cancels the timer, ignores further input. */
  close(): void {
    this.closed = true;
    if (this.current) this.clock.clearTimer(this.current.timer);
    this.current = undefined;
    this.forget();
  }

  private forget(): void {
    this.newest = undefined;
    this.newestSequence = undefined;
    this.ended = [];
  }

  private noteSequence(sequenceNumber: number): void {
    if (this.newestSequence === undefined || sequenceDelta(sequenceNumber, this.newestSequence) > 0) this.newestSequence = sequenceNumber & 0xffff;
  }

  private begin(report: TelephoneEvent, ts: number, marker: boolean): void {
    const current: CurrentEvent = {
      event: report.event,
      volume: report.volume,
      timestamp: ts,
      startSeen: false,
      segmentTimestamp: ts,
      earlierSegments: 0,
      segmentDuration: 0,
      segmentTimestamps: [],
      timer: undefined,
      reports: 0,
    };
    this.current = current;
    this.newest = ts;
    this.update(current, report, marker);
  }

  private update(current: CurrentEvent, report: TelephoneEvent, marker: boolean): void {
    if (marker) current.startSeen = true;
    current.reports++;
    current.segmentDuration = Math.max(current.segmentDuration, report.duration);
    current.volume = report.volume;
    if (report.end) {
      this.finish(current, 'end-bit');
      return;
    }
    this.clock.clearTimer(current.timer);
    current.timer = this.clock.setTimer(this.endTimeoutMs, () => {
      current.timer = undefined;
      // The timeout fires first after a blocked event loop, before the reports that arrived in
      // time are read: decide once they have been (one of them re-arms the timer or ends the event).
      const reports = current.reports;
      afterPendingInput(this.clock, () => {
        if (this.current === current && current.reports === reports && current.timer === undefined && !this.closed) this.finish(current, 'timeout');
      });
    });
  }

  private finish(current: CurrentEvent, endedBy: ReceivedDtmf['endedBy']): void {
    this.clock.clearTimer(current.timer);
    current.timer = undefined;
    if (this.current === current) this.current = undefined;
    this.ended.push(...current.segmentTimestamps, current.segmentTimestamp);
    if (this.ended.length > ENDED_MEMORY) this.ended.splice(0, this.ended.length - ENDED_MEMORY);
    const durationSamples = current.earlierSegments + current.segmentDuration;
    this.counters.digits++;
    this.safeEmit('dtmf', {
      digit: dtmfDigitOf(current.event)!,
      event: current.event,
      timestamp: current.timestamp,
      durationSamples,
      durationMs: (durationSamples * 1000) / this.clockRate,
      volume: current.volume,
      endedBy,
      startSeen: current.startSeen,
    });
  }
}
