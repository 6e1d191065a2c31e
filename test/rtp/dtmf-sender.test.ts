import { expect } from 'chai';
import { ManualClock } from '../../lib/base/clock.js';
import { StateError } from '../../lib/base/errors.js';
import { DtmfSender } from '../../lib/rtp/dtmf-sender.js';
import { parseRtp, serializeRtp } from '../../lib/rtp/packet.js';
import { decodeTelephoneEvent } from '../../lib/rtp/telephone-event.js';
import { recordingSender, type SentPacket } from '../helpers/dtmf.js';

/** [time ms, seq, timestamp, M, event, E, duration] of each packet. */
type Row = [number, number, number, boolean, number, boolean, number];
const rows = (sent: SentPacket[]): Row[] =>
  sent.map(({ at, packet: p }) => [at, p.sequenceNumber, p.timestamp, p.marker, p.event.event, p.event.end, p.event.duration]);

describe('DtmfSender (RFC 4733 §2.5.1)', () => {
  it("sends '1#' as the exact packet sequence: one timestamp per event, M first, growing durations, E x3, consecutive seq", () => {
    const clock = new ManualClock();
    clock.advance(1000);
    const { sender, sent, done } = recordingSender(clock);
    sender.start('1#', { sequenceNumber: 1000, timestamp: 5000 });
    expect(sender.sending).to.equal(true);
    clock.advance(1000);
    // 100 ms at 8000 Hz = 800 samples, a report every 20 ms (160 samples). '#' starts on the grid
    // at 160 ms: 100 ms of tone + 50 ms gap = 150 ms, rounded up to the next 20 ms slot.
    expect(rows(sent)).to.deep.equal([
      [1000, 1000, 5000, true, 1, false, 160],
      [1020, 1001, 5000, false, 1, false, 320],
      [1040, 1002, 5000, false, 1, false, 480],
      [1060, 1003, 5000, false, 1, false, 640],
      [1080, 1004, 5000, false, 1, true, 800],
      [1100, 1005, 5000, false, 1, true, 800],
      [1120, 1006, 5000, false, 1, true, 800],
      [1160, 1007, 6280, true, 11, false, 160],
      [1180, 1008, 6280, false, 11, false, 320],
      [1200, 1009, 6280, false, 11, false, 480],
      [1220, 1010, 6280, false, 11, false, 640],
      [1240, 1011, 6280, false, 11, true, 800],
      [1260, 1012, 6280, false, 11, true, 800],
      [1280, 1013, 6280, false, 11, true, 800],
    ]);
    for (const { packet } of sent) {
      expect(packet.payloadType).to.equal(101);
      expect(packet.event.volume).to.equal(10);
      expect(packet.event.reserved).to.equal(false);
      expect(decodeTelephoneEvent(packet.payload)).to.deep.equal(packet.event);
    }
    expect(done).to.deep.equal([{ digits: '1#', completed: true, nextSequenceNumber: 1014, nextTimestamp: 5000 + 300 * 8 }]);
    expect(sender.sending).to.equal(false);
    expect(clock.pendingCount).to.equal(0);
  });

  it('hands over fields that serializeRtp takes with the session SSRC added', () => {
    const clock = new ManualClock();
    const { sender, sent } = recordingSender(clock);
    sender.start('5', { sequenceNumber: 7, timestamp: 160 });
    const p = sent[0]!.packet;
    const wire = parseRtp(serializeRtp({ marker: p.marker, payloadType: p.payloadType, sequenceNumber: p.sequenceNumber, timestamp: p.timestamp, ssrc: 0xabc, payload: p.payload }));
    expect(wire).to.deep.include({ marker: true, payloadType: 101, sequenceNumber: 7, timestamp: 160, ssrc: 0xabc });
    expect(wire.payload.toString('hex')).to.equal('050a00a0');
    sender.close();
  });

  const durations: Array<[string, number, number[], number]> = [
    // [name, durationMs, durations of the packets before the three final ones, final duration]
    ['the minimum 40 ms', 40, [160], 320],
    ['50 ms (not a multiple of the interval)', 50, [160, 320], 400],
    ['250 ms', 250, [160, 320, 480, 640, 800, 960, 1120, 1280, 1440, 1600, 1760, 1920], 2000],
  ];
  for (const [name, durationMs, updates, final] of durations) {
    it(`sends ${name}: updates every 20 ms, then the exact duration with E three times`, () => {
      const clock = new ManualClock();
      const { sender, sent } = recordingSender(clock);
      sender.start('7', { sequenceNumber: 0, timestamp: 0, durationMs });
      clock.advance(durationMs + 200);
      expect(sent.map((s) => s.packet.event.duration)).to.deep.equal([...updates, final, final, final]);
      expect(sent.map((s) => s.packet.event.end)).to.deep.equal([...updates.map(() => false), true, true, true]);
      expect(sent.map((s) => s.at)).to.deep.equal(sent.map((_, i) => i * 20));
    });
  }

  it('spaces digits by the gap, on the packet grid and never before the last retransmission', () => {
    const clock = new ManualClock();
    const { sender, sent } = recordingSender(clock, { interDigitGapMs: 0 });
    sender.start('12', { sequenceNumber: 0, timestamp: 0, durationMs: 40 });
    clock.advance(1000);
    // '1': 0, 20, 40 (E), 60 (E); with no gap '2' would start at 40 ms, but the last copy of '1' goes at 60.
    const starts = sent.filter((s) => s.packet.marker).map((s) => [s.at, s.packet.timestamp]);
    expect(starts).to.deep.equal([[0, 0], [80, 640]]);
  });

  it('sequence numbers and timestamps wrap modulo 2^16 and 2^32', () => {
    const clock = new ManualClock();
    const { sender, sent, done } = recordingSender(clock);
    sender.start('*0', { sequenceNumber: 65533, timestamp: 0xffffff00 });
    clock.advance(1000);
    expect(sent.map((s) => s.packet.sequenceNumber).slice(0, 5)).to.deep.equal([65533, 65534, 65535, 0, 1]);
    expect(sent[7]!.packet.timestamp).to.equal((0xffffff00 + 1280) >>> 0);
    expect(done[0]!.nextSequenceNumber).to.equal((65533 + 14) & 0xffff);
  });

  it('splits an event longer than 65535 samples into segments (§2.5.1.3), each final report sent three times', () => {
    const clock = new ManualClock();
    const { sender, sent, done } = recordingSender(clock);
    // 20 000 ms = 160 000 samples = 65535 + 65535 + 28930.
    sender.start('9', { sequenceNumber: 100, timestamp: 1_000_000, durationMs: 20_000 });
    clock.advance(30_000);
    const segments = [...new Set(sent.map((s) => s.packet.timestamp))];
    expect(segments).to.deep.equal([1_000_000, 1_065_535, 1_131_070]);
    expect(sent.filter((s) => s.packet.marker).map((s) => s.packet.timestamp)).to.deep.equal([1_000_000]);
    for (const [i, ts] of segments.entries()) {
      const packets = sent.filter((s) => s.packet.timestamp === ts).map((s) => s.packet.event);
      const last = packets.slice(-3);
      const isFinal = i === segments.length - 1;
      expect(last.map((e) => e.duration), `segment ${i}`).to.deep.equal(isFinal ? [28930, 28930, 28930] : [65535, 65535, 65535]);
      expect(last.map((e) => e.end), `segment ${i}`).to.deep.equal([isFinal, isFinal, isFinal]);
      expect(packets.slice(0, -3).every((e) => !e.end && e.duration < 65535), `segment ${i}`).to.equal(true);
      // Durations never shrink inside a segment.
      expect(packets.every((e, j) => j === 0 || e.duration >= packets[j - 1]!.duration)).to.equal(true);
    }
    // The reports of a later segment describe the media up to the end of their slot.
    const second = sent.filter((s) => s.packet.timestamp === 1_065_535);
    const firstOfSecond = second[0]!;
    expect(firstOfSecond.packet.event.duration).to.equal((firstOfSecond.at / 20 + 1) * 160 - 65535);
    // One packet per slot, consecutive sequence numbers.
    expect(sent.every((s, i) => s.at === i * 20 && s.packet.sequenceNumber === 100 + i)).to.equal(true);
    expect(done[0]!.completed).to.equal(true);
  });

  it('emits digit-sent after the last copy of each final report', () => {
    const clock = new ManualClock();
    const { sender, sent } = recordingSender(clock);
    const seen: Array<[string, number]> = [];
    sender.on('digit-sent', (d) => seen.push([d, sent.length]));
    sender.start('a#', { sequenceNumber: 0, timestamp: 0 });
    clock.advance(1000);
    expect(seen).to.deep.equal([['A', 7], ['#', 14]]);
  });

  it('stop() sends nothing more and reports what was finished', () => {
    const clock = new ManualClock();
    const { sender, sent, done } = recordingSender(clock);
    sender.start('123', { sequenceNumber: 10, timestamp: 0 });
    clock.advance(170); // '1' done, '2' has sent its first packet
    sender.stop();
    const count = sent.length;
    clock.advance(1000);
    expect(sent.length).to.equal(count);
    expect(count).to.equal(8);
    expect(done).to.deep.equal([{ digits: '1', completed: false, nextSequenceNumber: 18, nextTimestamp: 180 * 8 }]);
    expect(clock.pendingCount).to.equal(0);
    sender.stop(); // harmless when idle
    expect(done).to.have.length(1);
  });

  it('can start again after done (from the done listener too)', () => {
    const clock = new ManualClock();
    const { sender, sent } = recordingSender(clock);
    sender.once('done', (r) => sender.start('2', { sequenceNumber: r.nextSequenceNumber, timestamp: r.nextTimestamp }));
    sender.start('1', { sequenceNumber: 0, timestamp: 0 });
    clock.advance(1000);
    expect(sent.map((s) => s.packet.sequenceNumber)).to.deep.equal([...Array(14).keys()]);
    expect(sent[7]!.packet).to.deep.include({ marker: true, timestamp: 140 * 8 });
  });

  it('keeps going when send throws', () => {
    const clock = new ManualClock();
    let calls = 0;
    const sender = new DtmfSender({ clock, payloadType: 96, send: () => { calls++; throw new Error('socket closed'); } });
    sender.start('0', { sequenceNumber: 0, timestamp: 0 });
    clock.advance(1000);
    expect(calls).to.equal(7);
  });

  it('refuses bad input', () => {
    const clock = new ManualClock();
    const { sender } = recordingSender(clock);
    const ok = { sequenceNumber: 0, timestamp: 0 };
    expect(() => sender.start('', ok)).to.throw(RangeError, /no DTMF digits/);
    expect(() => sender.start('12E', ok)).to.throw(RangeError, /"E"/);
    expect(() => sender.start('1,2', ok)).to.throw(RangeError, /","/);
    expect(() => sender.start('1', { ...ok, durationMs: 39 })).to.throw(RangeError, /40\.\.60000/);
    expect(() => sender.start('1', { ...ok, durationMs: 60_001 })).to.throw(RangeError);
    expect(() => sender.start('1', { ...ok, durationMs: NaN })).to.throw(RangeError);
    expect(() => sender.start('1', { ...ok, sequenceNumber: 65536 })).to.throw(RangeError);
    expect(() => sender.start('1', { ...ok, timestamp: -1 })).to.throw(RangeError);
    expect(sender.sending).to.equal(false);
    sender.start('1', ok);
    expect(() => sender.start('2', ok)).to.throw(StateError);
    sender.close();
    expect(() => sender.start('2', ok)).to.throw(StateError, /closed/);
    expect(() => new DtmfSender({ clock, payloadType: 128, send: () => {} })).to.throw(RangeError);
    expect(() => new DtmfSender({ clock, payloadType: 101, volume: 64, send: () => {} })).to.throw(RangeError);
    expect(() => new DtmfSender({ clock, payloadType: 101, packetIntervalMs: 0.01, send: () => {} })).to.throw(RangeError);
  });
});
