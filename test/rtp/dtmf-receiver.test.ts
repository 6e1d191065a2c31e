import { expect } from 'chai';
import { ManualClock } from '../../lib/base/clock.js';
import { DtmfReceiver, type ReceivedDtmf } from '../../lib/rtp/dtmf-receiver.js';
import { encodeTelephoneEvent, type TelephoneEvent } from '../../lib/rtp/telephone-event.js';
import { recordingSender, type SentPacket } from '../helpers/dtmf.js';

/** The packets DtmfSender sends for `digits` (100 ms each unless told), with their send times. */
function senderPackets(digits: string, durationMs?: number): SentPacket[] {
  const clock = new ManualClock();
  const { sender, sent } = recordingSender(clock);
  sender.start(digits, { sequenceNumber: 1000, timestamp: 5000, ...(durationMs !== undefined ? { durationMs } : {}) });
  clock.advance(durationMs !== undefined ? durationMs * digits.length * 2 + 1000 : 10_000);
  return sent;
}

interface Heard extends ReceivedDtmf {
  at: number;
}

/** A receiver on its own ManualClock; `deliver` feeds packets at their times (plus `delay`), `settle` lets timeouts run. */
function harness(): { receiver: DtmfReceiver; clock: ManualClock; heard: Heard[]; deliver: (packets: Array<SentPacket & { delay?: number }>) => void; settle: () => void } {
  const clock = new ManualClock();
  const receiver = new DtmfReceiver({ clock });
  const heard: Heard[] = [];
  receiver.on('dtmf', (d) => heard.push({ ...d, at: clock.now() }));
  const deliver = (packets: Array<SentPacket & { delay?: number }>): void => {
    // Arrival order is the order given; arrival time never goes backwards.
    for (const p of packets) {
      const at = p.at + (p.delay ?? 0);
      if (at > clock.now()) clock.advance(at - clock.now());
      receiver.receivePacket(p.packet);
    }
  };
  return { receiver, clock, heard, deliver, settle: () => clock.advance(1000) };
}

const summary = (heard: Heard[]): Array<[string, number, string, boolean]> => heard.map((h) => [h.digit, h.durationMs, h.endedBy, h.startSeen]);

describe('DtmfReceiver (RFC 4733 §2.5.2)', () => {
  const sent = senderPackets('1#');
  const isEnd = (p: SentPacket): boolean => p.packet.event.end;
  const ofDigit = (event: number) => (p: SentPacket): boolean => p.packet.event.event === event;

  it("hears the sender's '1#' as exactly '1' and '#', 100 ms each, reported at their first end packet", () => {
    const { heard, deliver, settle, receiver } = harness();
    deliver(sent);
    settle();
    expect(heard).to.have.length(2);
    expect(heard[0]).to.deep.equal({ digit: '1', event: 1, timestamp: 5000, durationSamples: 800, durationMs: 100, volume: 10, endedBy: 'end-bit', startSeen: true, at: 80 });
    expect(heard[1]).to.deep.equal({ digit: '#', event: 11, timestamp: 6280, durationSamples: 800, durationMs: 100, volume: 10, endedBy: 'end-bit', startSeen: true, at: 240 });
    expect(receiver.stats).to.deep.equal({ packets: 14, duplicates: 4, late: 0, malformed: 0, otherEvents: 0, digits: 2 });
  });

  it('ignores duplicated packets and retransmissions', () => {
    const { heard, deliver, settle, receiver } = harness();
    deliver(sent.flatMap((p) => [p, p]));
    deliver([sent[2]!, sent[4]!, sent[9]!, sent[13]!].map((p) => ({ ...p, at: 300 })));
    settle();
    expect(summary(heard)).to.deep.equal([['1', 100, 'end-bit', true], ['#', 100, 'end-bit', true]]);
    // Per digit: the copies after the first end report (2 + 3) are duplicates of an ended event;
    // repeated updates of the event in progress are merged, not counted. Plus the 4 late copies.
    expect(receiver.stats.duplicates).to.equal(2 * 5 + 4);
  });

  it('handles a lost start: the first packet seen is mid-event', () => {
    const { heard, deliver, settle } = harness();
    deliver(sent.filter((_, i) => i !== 0 && i !== 1));
    settle();
    expect(summary(heard)).to.deep.equal([['1', 100, 'end-bit', false], ['#', 100, 'end-bit', true]]);
  });

  it('handles lost end packets: the next event ends the digit, with the longest duration reported', () => {
    const { heard, deliver, settle } = harness();
    deliver(sent.filter((p) => !(ofDigit(1)(p) && isEnd(p))));
    settle();
    expect(summary(heard)).to.deep.equal([['1', 80, 'next-event', true], ['#', 100, 'end-bit', true]]);
    expect(heard[0]!.at).to.equal(160);
  });

  it('handles lost end packets of the last digit: the digit ends 200 ms after its last update', () => {
    const { heard, deliver, settle } = harness();
    deliver(sent.filter((p) => !(ofDigit(11)(p) && isEnd(p))));
    settle();
    expect(summary(heard)).to.deep.equal([['1', 100, 'end-bit', true], ['#', 80, 'timeout', true]]);
    expect(heard[1]!.at).to.equal(220 + 200);
  });

  it('a blocked event loop: the end timeout that fires before the reports already received are read does not end the digit (100 ms, not 60)', () => {
    // The loaded e2e run: '1' heard as 60 ms. Its reports 160, 320, 480 are read; then the
    // receiver's loop is blocked for 300 ms while 640 and the three 800 E reports arrive. Node
    // fires the expired end timeout before it reads them: the event must not end then.
    const { heard, deliver, clock, settle, receiver } = harness();
    const one = sent.filter(ofDigit(1));
    deliver(one.slice(0, 3));
    clock.stall(300, () => { for (const p of one.slice(3)) receiver.receivePacket(p.packet); });
    settle();
    expect(summary(heard)).to.deep.equal([['1', 100, 'end-bit', true]]);
    expect(receiver.stats).to.deep.include({ duplicates: 2, digits: 1 });
  });

  it('a blocked event loop with nothing received meanwhile: the lost end still ends the digit by timeout', () => {
    const { heard, deliver, clock } = harness();
    deliver(sent.filter(ofDigit(1)).slice(0, 3));
    clock.stall(300);
    expect(summary(heard)).to.deep.equal([['1', 60, 'timeout', true]]);
    expect(clock.pendingCount).to.equal(0);
  });

  it('keeps an event alive while any of its reports arrive (a late update resets the timeout)', () => {
    const { heard, clock, receiver } = harness();
    const report = (duration: number, end = false): TelephoneEvent => ({ event: 5, end, reserved: false, volume: 10, duration });
    receiver.receive(report(160), { timestamp: 0, sequenceNumber: 1, marker: true });
    clock.advance(190);
    receiver.receive(report(320), { timestamp: 0, sequenceNumber: 2, marker: false });
    clock.advance(190);
    expect(heard).to.have.length(0);
    clock.advance(10);
    expect(summary(heard)).to.deep.equal([['5', 40, 'timeout', true]]);
    expect(heard[0]!.at).to.equal(390);
  });

  it('hears reordered packets correctly (pairs swapped, end copies after the next start)', () => {
    const swapped = sent.map((p, i) => sent[i % 2 === 0 ? Math.min(i + 1, sent.length - 1) : i - 1]!);
    expect(new Set(swapped).size).to.equal(sent.length);
    const h1 = harness();
    h1.deliver(swapped);
    h1.settle();
    expect(summary(h1.heard)).to.deep.equal([['1', 100, 'end-bit', true], ['#', 100, 'end-bit', true]]);

    // The second and third copies of '1''s end arrive after '#' has begun: still duplicates.
    const order = [0, 1, 2, 3, 4, 7, 5, 6, 8, 9, 10, 11, 12, 13];
    const h2 = harness();
    h2.deliver(order.map((i) => sent[i]!));
    h2.settle();
    expect(summary(h2.heard)).to.deep.equal([['1', 100, 'end-bit', true], ['#', 100, 'end-bit', true]]);
    expect(h2.receiver.stats.duplicates).to.equal(4);
  });

  it("drops a late report of an earlier event (older timestamp and sequence number)", () => {
    const { heard, deliver, settle, receiver } = harness();
    deliver(sent);
    const report = encodeTelephoneEvent({ event: 7, end: false, volume: 10, duration: 160 });
    receiver.receivePacket({ timestamp: 4000, sequenceNumber: 990, marker: true, payload: report });
    settle();
    expect(heard.map((h) => h.digit)).to.deep.equal(['1', '#']);
    expect(receiver.stats.late).to.equal(1);
  });

  it('takes an older timestamp with a newer sequence number (or far behind) as a sender restart', () => {
    const { heard, deliver, settle, receiver } = harness();
    deliver(sent);
    const end = encodeTelephoneEvent({ event: 7, end: true, volume: 10, duration: 800 });
    receiver.receivePacket({ timestamp: 100, sequenceNumber: 2000, marker: true, payload: end });
    receiver.receivePacket({ timestamp: 100, sequenceNumber: 2001, marker: false, payload: end });
    // 20 s behind with an old sequence number: a restart too.
    receiver.receivePacket({ timestamp: (100 - 160_000) >>> 0, sequenceNumber: 5, marker: true, payload: encodeTelephoneEvent({ event: 8, end: true, volume: 10, duration: 400 }) });
    settle();
    expect(heard.map((h) => [h.digit, h.durationMs])).to.deep.equal([['1', 100], ['#', 100], ['7', 100], ['8', 50]]);
    expect(receiver.stats.duplicates).to.equal(5);
  });

  it('joins the segments of a long event (§2.5.2.3), even with the segment ends lost', () => {
    const long = senderPackets('9', 20_000);
    const h1 = harness();
    h1.deliver(long);
    h1.settle();
    expect(h1.heard.map((h) => [h.digit, h.durationSamples, h.durationMs, h.endedBy, h.timestamp])).to.deep.equal([['9', 160_000, 20_000, 'end-bit', 5000]]);

    const h2 = harness();
    h2.deliver(long.filter((p) => p.packet.event.duration !== 65535));
    h2.settle();
    expect(h2.heard.map((h) => [h.digit, h.durationSamples, h.endedBy])).to.deep.equal([['9', 160_000, 'end-bit']]);

    // A late report of the first segment after the second has begun changes nothing.
    const h3 = harness();
    const firstOfSecond = long.findIndex((p) => p.packet.timestamp === 5000 + 65535);
    h3.deliver([...long.slice(0, firstOfSecond + 1), { ...long[3]!, at: long[firstOfSecond]!.at }, ...long.slice(firstOfSecond + 1)]);
    h3.settle();
    expect(h3.heard.map((h) => [h.digit, h.durationSamples])).to.deep.equal([['9', 160_000]]);
    expect(h3.receiver.stats.late).to.equal(1);
  });

  it('reports an event whose only surviving packet is an end packet', () => {
    const { heard, deliver, settle } = harness();
    deliver(sent.filter((p) => isEnd(p)));
    settle();
    expect(summary(heard)).to.deep.equal([['1', 100, 'end-bit', false], ['#', 100, 'end-bit', false]]);
  });

  it('counts and drops malformed payloads and ignores non-DTMF events and the R bit', () => {
    const { heard, receiver, settle } = harness();
    expect(receiver.receivePacket({ timestamp: 0, sequenceNumber: 1, marker: true, payload: Buffer.from([1, 0x0a, 0]) })).to.equal(false);
    expect(receiver.receivePacket({ timestamp: 0, sequenceNumber: 2, marker: true, payload: encodeTelephoneEvent({ event: 32, end: true, volume: 10, duration: 800 }) })).to.equal(true);
    receiver.receivePacket({ timestamp: 800, sequenceNumber: 3, marker: true, payload: encodeTelephoneEvent({ event: 16, end: true, reserved: true, volume: 10, duration: 1600 }) });
    settle();
    expect(summary(heard)).to.deep.equal([['!', 200, 'end-bit', true]]);
    expect(receiver.stats).to.deep.include({ packets: 3, malformed: 1, otherEvents: 1, digits: 1 });
  });

  it('reset() ends the event in progress and forgets the history; close() drops it and leaves no timer', () => {
    const { heard, deliver, receiver, clock } = harness();
    deliver(sent.slice(0, 3));
    receiver.reset();
    expect(summary(heard)).to.deep.equal([['1', 60, 'timeout', true]]);
    // After reset the same timestamps are new again (a new source).
    deliver(sent.slice(0, 5).map((p) => ({ ...p, at: clock.now() })));
    expect(heard.map((h) => h.durationMs)).to.deep.equal([60, 100]);
    deliver(sent.slice(7, 9).map((p) => ({ ...p, at: clock.now() })));
    receiver.close();
    expect(clock.pendingCount).to.equal(0);
    deliver(sent.slice(9).map((p) => ({ ...p, at: clock.now() })));
    clock.advance(1000);
    expect(heard).to.have.length(2);
  });
});
