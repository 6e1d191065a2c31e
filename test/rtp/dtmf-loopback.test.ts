/**
 * DtmfSender to DtmfReceiver through real RTP packets (serializeRtp/parseRtp, as RtpSession will
 * carry them) over a deterministic lossy, duplicating, reordering path: whatever the network
 * does short of losing every packet of a digit, the digits heard are the digits sent.
 */
import { expect } from 'chai';
import { ManualClock } from '../../lib/base/clock.js';
import { DtmfReceiver, type ReceivedDtmf } from '../../lib/rtp/dtmf-receiver.js';
import { DtmfSender } from '../../lib/rtp/dtmf-sender.js';
import { parseRtp, serializeRtp } from '../../lib/rtp/packet.js';

/** mulberry32: a small seeded PRNG, so every run sees the same "network". */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const DIGITS = '0123456789*#ABCD!';

interface Outcome {
  heard: ReceivedDtmf[];
  /** The digits sent, by event timestamp, in sending order. */
  sent: Map<number, string>;
  /**
   * Per event timestamp: whether any of its packets, and whether any of its end packets, arrived
   * in time: before any packet of a later event (after that they are late, the later event has
   * ended this one).
   */
  arrived: Map<number, { any: boolean; end: boolean }>;
}

function run(seed: number, lossRate: number): Outcome {
  const random = prng(seed);
  const clock = new ManualClock();
  const receiver = new DtmfReceiver({ clock });
  const heard: ReceivedDtmf[] = [];
  receiver.on('dtmf', (d) => heard.push(d));
  const arrived = new Map<number, { any: boolean; end: boolean }>();
  const sent = new Map<number, string>();
  let held: Buffer | undefined; // a packet delayed by one packet interval, behind the next one (reordering)
  const deliver = (wire: Buffer): void => {
    const packet = parseRtp(wire);
    const laterArrived = [...arrived.keys()].some((ts) => ((ts - packet.timestamp) | 0) > 0);
    if (!laterArrived) {
      const seen = arrived.get(packet.timestamp) ?? { any: false, end: false };
      seen.any = true;
      if ((packet.payload[1]! & 0x80) !== 0) seen.end = true;
      arrived.set(packet.timestamp, seen);
    }
    receiver.receivePacket(packet);
  };
  const sender = new DtmfSender({
    clock,
    payloadType: 101,
    send: (p) => {
      if (p.marker) sent.set(p.timestamp, DIGITS[sent.size]!);
      const wire = serializeRtp({ marker: p.marker, payloadType: p.payloadType, sequenceNumber: p.sequenceNumber, timestamp: p.timestamp, ssrc: 0x1234, payload: p.payload });
      const previous = held;
      held = undefined;
      if (random() >= lossRate) {
        const copies = random() < 0.05 ? 2 : 1;
        for (let i = 0; i < copies; i++) {
          if (!previous && !held && random() < 0.1) held = wire;
          else deliver(wire);
        }
      }
      if (previous) deliver(previous);
    },
  });
  sender.on('done', () => {
    if (held) deliver(held);
    held = undefined;
  });
  sender.start(DIGITS, { sequenceNumber: Math.floor(random() * 65536), timestamp: Math.floor(random() * 2 ** 32) });
  clock.advance(10_000);
  return { heard, sent, arrived };
}

describe('DtmfSender -> RTP -> DtmfReceiver over a lossy path', () => {
  it('a clean path: every digit, 100 ms each, ended by its E report', () => {
    const { heard } = run(1, 0);
    expect(heard.map((h) => h.digit).join('')).to.equal(DIGITS);
    expect(heard.every((h) => h.durationMs === 100 && h.endedBy === 'end-bit' && h.startSeen)).to.equal(true);
  });

  for (const lossRate of [0.1, 0.3]) {
    it(`${lossRate * 100}% loss, 5% duplication, 10% reordering, 200 seeds: exactly the digits that got through, in order`, () => {
      let lostDigits = 0;
      let cutShort = 0;
      for (let seed = 1; seed <= 200; seed++) {
        const { heard, sent, arrived } = run(seed, lossRate);
        // Exactly the digits of which some packet got through, once each, in order, at their timestamps.
        const expected = [...sent].filter(([ts]) => arrived.get(ts)?.any).map(([ts, digit]) => [ts, digit]);
        expect(heard.map((h) => [h.timestamp, h.digit]), `seed ${seed}`).to.deep.equal(expected);
        lostDigits += sent.size - expected.length;
        for (const h of heard) {
          // An E report in time gives the exact duration; without one, what the updates said.
          if (arrived.get(h.timestamp)!.end) expect(h.durationMs, `seed ${seed} '${h.digit}'`).to.equal(100);
          else expect(h.durationMs, `seed ${seed} '${h.digit}'`).to.be.within(20, 80);
          if (h.durationMs < 100) cutShort++;
        }
      }
      // The path really did lose things (the test is not vacuous).
      expect(cutShort + lostDigits).to.be.greaterThan(0);
    });
  }
});
