import { expect } from 'chai';
import { ManualClock, type Clock, type TimerHandle } from '../../lib/base/clock.js';
import { decodePcmu } from '../../lib/rtp/g711.js';
import { parseRtp, serializeRtp, type RtpPacket } from '../../lib/rtp/packet.js';
import { parseRtcpCompound, type RtcpPacket, type SenderReport, type ReceiverReport } from '../../lib/rtp/rtcp.js';
import { RtpSession, type RtpSessionOptions } from '../../lib/rtp/session.js';
import { MemorySink } from '../../lib/rtp/sinks.js';
import { SilenceSource, ToneSource } from '../../lib/rtp/sources.js';

function session(clock: Clock, extra: Partial<RtpSessionOptions> = {}): RtpSession {
  return new RtpSession({
    clock,
    codec: 'PCMU',
    payloadType: 0,
    sendRtp: () => {},
    sendRtcp: () => {},
    random: () => 0.5, // RTCP exactly every rtcpIntervalMs
    ...extra,
  });
}

/** A packet from a fake remote source, for receive-side tests. */
function remotePacket(seq: number, timestamp: number, fields: Partial<RtpPacket> = {}): Buffer {
  return serializeRtp({ marker: false, payloadType: 0, sequenceNumber: seq & 0xffff, timestamp: timestamp >>> 0, ssrc: 0x5eed, payload: Buffer.alloc(160, 0xff), ...fields });
}

/** A clock whose timers all fire `lateMs` after they are due (an overloaded event loop). */
class LateClock implements Clock {
  constructor(readonly inner: ManualClock, private readonly lateMs: number) {}
  now(): number { return this.inner.now(); }
  setTimer(delayMs: number, fn: () => void): TimerHandle { return this.inner.setTimer(delayMs + this.lateMs, fn); }
  clearTimer(h: TimerHandle | undefined): void { this.inner.clearTimer(h); }
}

describe('RtpSession (RFC 3550)', () => {
  describe('sending', () => {
    it('sends 1 s of tone as 50 packets of 160 octets with consecutive sequence numbers and timestamps', () => {
      const clock = new ManualClock();
      const sent: Array<{ at: number; packet: RtpPacket }> = [];
      const s = session(clock, { source: new ToneSource(440), ssrc: 0x01020304, sendRtp: (b) => sent.push({ at: clock.now(), packet: parseRtp(b) }) });
      s.start();
      clock.advance(999);
      expect(sent).to.have.length(50);
      sent.forEach(({ at, packet }, i) => {
        expect(at).to.equal(i * 20);
        expect(packet.payload).to.have.length(160);
        expect(packet.payloadType).to.equal(0);
        expect(packet.ssrc).to.equal(0x01020304);
        expect(packet.marker).to.equal(i === 0);
        expect(packet.sequenceNumber).to.equal((sent[0]!.packet.sequenceNumber + i) & 0xffff);
        expect(packet.timestamp).to.equal((sent[0]!.packet.timestamp + i * 160) >>> 0);
      });
      expect(s.stats).to.include({ packetsSent: 50, octetsSent: 8000 });
      // The payload decodes back to the tone.
      const first = decodePcmu(sent[1]!.packet.payload);
      expect(Math.max(...first)).to.be.greaterThan(9000);
    });

    it('starts from random sequence numbers and timestamps (RFC 3550 §5.1)', () => {
      const starts = new Set<string>();
      for (let i = 0; i < 8; i++) {
        let first: RtpPacket | undefined;
        const s = session(new ManualClock(), { source: new SilenceSource(), sendRtp: (b) => (first ??= parseRtp(b)) });
        s.start();
        starts.add(`${first!.sequenceNumber}/${first!.timestamp}/${first!.ssrc}`);
      }
      expect(starts.size).to.equal(8);
    });

    it('schedules packets from the start time, so late timers do not accumulate drift', () => {
      const inner = new ManualClock();
      const sentAt: number[] = [];
      const s = session(new LateClock(inner, 7), { source: new SilenceSource(), sendRtp: () => sentAt.push(inner.now()) });
      s.start();
      inner.advance(1000);
      expect(sentAt).to.have.length(50);
      expect(sentAt.slice(1).every((t, i) => t === (i + 1) * 20 + 7)).to.equal(true);
    });

    it('catches up a few overdue packets after a stall and skips the rest', () => {
      const inner = new ManualClock();
      const sent: RtpPacket[] = [];
      const s = session(new LateClock(inner, 200), { source: new SilenceSource(), sendRtp: (b) => sent.push(parseRtp(b)) });
      s.start();
      inner.advance(220); // first timer (due at 20) fires at 220: packets 1..11 are due
      expect(sent).to.have.length(1 + 5);
      // Skipped packets still advance the timestamp (it tracks the sampling instant), not the sequence.
      expect(sent[5]!.timestamp - sent[0]!.timestamp).to.equal(11 * 160);
      expect(sent[5]!.sequenceNumber - sent[0]!.sequenceNumber).to.equal(5);
    });

    it('sends PCMA silence as 0xD5', () => {
      const clock = new ManualClock();
      const sent: RtpPacket[] = [];
      const s = session(clock, { codec: 'PCMA', payloadType: 8, source: new SilenceSource(), sendRtp: (b) => sent.push(parseRtp(b)) });
      s.start();
      expect(sent[0]!.payloadType).to.equal(8);
      expect(sent[0]!.payload.every((b) => b === 0xd5)).to.equal(true);
    });

    it('sends nothing without a source but still reports (RR)', () => {
      const clock = new ManualClock();
      const rtcp: RtcpPacket[][] = [];
      let rtp = 0;
      const s = session(clock, { rtcpIntervalMs: 1000, sendRtp: () => rtp++, sendRtcp: (b) => rtcp.push(parseRtcpCompound(b)) });
      s.start();
      clock.advance(3000);
      expect(rtp).to.equal(0);
      expect(rtcp.length).to.equal(3); // at 500, 1500, 2500
      expect(rtcp[0]!.map((p) => p.type)).to.deep.equal(['RR', 'SDES']);
    });

    it('randomizes the RTCP interval between 0.5 and 1.5 times the nominal value (RFC 3550 §6.3.1)', () => {
      const clock = new ManualClock();
      const at: number[] = [];
      const values = [0, 0.999, 0.25];
      let i = 0;
      const s = session(clock, { rtcpIntervalMs: 1000, random: () => values[i++ % values.length]!, sendRtcp: () => at.push(clock.now()) });
      s.start();
      clock.advance(5000);
      // First after half an interval × 0.5; then × 1.499, × 0.75, × 0.5 ...
      expect(at[0]).to.equal(250);
      expect(at[1]).to.be.closeTo(250 + 1499, 0.01);
      expect(at[2]).to.be.closeTo(250 + 1499 + 750, 0.01);
    });
  });

  describe('an unconfirmed peer (unconfirmedPacketLimit)', () => {
    it('sends at most the limit until confirmPeer(), then resumes with a marker bit', () => {
      const clock = new ManualClock();
      const sent: RtpPacket[] = [];
      const s = session(clock, { source: new ToneSource(440), unconfirmedPacketLimit: 25, sendRtp: (b) => sent.push(parseRtp(b)) });
      s.start();
      clock.advance(30_000); // a 200 OK never ACKed: sip.js gives up after 64*T1 = 32 s
      expect(sent).to.have.length(25);
      expect(s.stats.packetsSent).to.equal(25);
      expect(s.stats.withheldUnconfirmed).to.equal(1501 - 25);
      expect(s.peerConfirmed).to.equal(false);
      s.confirmPeer();
      clock.advance(1000);
      expect(sent).to.have.length(25 + 50);
      expect(sent[25]!.marker).to.equal(true);
      expect(sent[25]!.sequenceNumber).to.equal((sent[24]!.sequenceNumber + 1) & 0xffff);
      s.stop();
    });

    it('has no limit without the option', () => {
      const clock = new ManualClock();
      let n = 0;
      const s = session(clock, { source: new ToneSource(440), sendRtp: () => n++ });
      s.start();
      clock.advance(2000);
      expect(n).to.equal(101);
      expect(s.peerConfirmed).to.equal(true);
      s.stop();
    });
  });

  describe('receiving', () => {
    it('computes interarrival jitter as RFC 3550 A.8 for a known arrival pattern', () => {
      const s = session(new ManualClock());
      // Arrivals at 0, 30, 40 ms for timestamps 0, 160, 320 (8 kHz):
      // D1 = 30×8 - 160 = 80 → J = 80/16 = 5; D2 = 10×8 - 160 = -80 → J = 5 + (80 - 5)/16 = 9.6875 units.
      s.receiveRtp(remotePacket(1, 0), 0);
      s.receiveRtp(remotePacket(2, 160), 30);
      s.receiveRtp(remotePacket(3, 320), 40);
      expect(s.stats.jitterMs).to.be.closeTo(9.6875 / 8, 1e-9);
    });

    it('converges as J_n = |D|(1 - (15/16)^n) for alternating ±5 ms arrivals', () => {
      const s = session(new ManualClock());
      const n = 100;
      for (let i = 0; i <= n; i++) s.receiveRtp(remotePacket(1000 + i, 5000 + i * 160), i * 20 + (i % 2 ? 5 : 0));
      expect(s.stats.jitterMs).to.be.closeTo(5 * (1 - (15 / 16) ** n), 1e-9);
    });

    it('reports zero jitter for perfectly paced packets and wraps timestamps', () => {
      const s = session(new ManualClock());
      for (let i = 0; i < 20; i++) s.receiveRtp(remotePacket(i, 0xffffff00 + i * 160), 1000 + i * 20);
      expect(s.stats.jitterMs).to.equal(0);
    });

    it('counts loss as RFC 3550 A.3 across a sequence number wrap', () => {
      const clock = new ManualClock();
      const rtcp: RtcpPacket[][] = [];
      const s = session(clock, { rtcpIntervalMs: 1000, sendRtcp: (b) => rtcp.push(parseRtcpCompound(b)) });
      s.start();
      for (let i = 0; i < 20; i++) if (i !== 7) s.receive(remotePacket(65530 + i, i * 160));
      expect(s.stats).to.include({ packetsReceived: 19, packetsLost: 1, remoteSsrc: 0x5eed });
      clock.advance(500);
      const rr = rtcp[0]![0] as ReceiverReport;
      expect(rr.type).to.equal('RR');
      expect(rr.reports[0]).to.deep.include({ ssrc: 0x5eed, cumulativeLost: 1, highestSequence: 0x10000 + 13, fractionLost: Math.floor(256 / 20) });
    });

    it('counts duplicates as received (A.1) and drops duplicates and late packets from the sink', () => {
      const sink = new MemorySink();
      const s = session(new ManualClock(), { sink });
      const order = [0, 1, 2, 4, 3, 5, 5];
      for (const i of order) s.receive(remotePacket(100 + i, i * 160, { payload: Buffer.alloc(160, 0x80 + i) }));
      // expected 6 (100..105), received 7 → A.3 cumulative loss -1.
      expect(s.stats.packetsLost).to.equal(-1);
      const out = sink.samples;
      expect(out).to.have.length(6 * 160);
      const firstOf = (k: number): number => out[k * 160]!;
      expect([0, 1, 2, 4, 5].map((k) => firstOf(k))).to.deep.equal([0, 1, 2, 4, 5].map((k) => decodePcmu(Buffer.from([0x80 + k]))[0]!));
      expect(out.subarray(3 * 160, 4 * 160).every((v) => v === 0)).to.equal(true); // packet 3 came late: silence
    });

    it('fills timestamp gaps with bounded silence', () => {
      const sink = new MemorySink();
      const s = session(new ManualClock(), { sink, maxGapFillMs: 1000 });
      // Arrival times as the wall clock saw them: the gaps were real, so only maxGapFillMs bounds the fill.
      s.receive(remotePacket(1, 0), 0);
      s.receive(remotePacket(2, 160 + 320), 60); // two packets' worth of timestamps missing
      s.receive(remotePacket(3, 480 + 160 + 80_000), 10_080); // 10 s jump: only 1 s filled
      expect(sink.samples.length).to.equal(160 + 320 + 160 + 8000 + 160);
      expect(s.stats.playoutTrimmedSamples).to.equal(0); // within the wall clock: nothing cut
    });

    it('a 10-s hold (no RTP from the held side, timestamps running on) stays in the recording as silence by default', () => {
      const sink = new MemorySink();
      const s = session(new ManualClock(), { sink });
      s.receive(remotePacket(1, 0), 0);
      s.receive(remotePacket(2, 160 + 80_000), 10_020); // resumed after 10 s of real time
      expect(sink.samples.length).to.equal(160 + 80_000 + 160);
      expect(s.stats.playoutTrimmedSamples).to.equal(0);
    });

    it('keeps playout within the wall-clock time since the first packet (+ playoutSlackMs), whatever the timestamps', () => {
      const sink = new MemorySink();
      const clock = new ManualClock();
      const s = session(clock, { sink, maxGapFillMs: 5000, playoutSlackMs: 500 });
      // 8 s of packets every 20 ms, each timestamp jumping 1 s ahead (an 8-s call would become 400 s).
      let ts = 0;
      for (let i = 0; i < 400; i++) {
        s.receive(remotePacket(1 + i, ts), clock.now());
        ts = (ts + 160 + 8000) >>> 0;
        clock.advance(20);
      }
      const seconds = sink.samples.length / 8000;
      expect(seconds).to.be.within(8 - 0.05, 8 + 0.5 + 0.05);
      expect(s.stats.playoutTrimmedSamples).to.be.greaterThan(390 * 8000 - 0.6 * 8000);
      // Every packet's audio still played: the silence was cut, not the speech.
      expect(s.stats.packetsReceived).to.equal(400);
    });

    it('trims audio too when a peer sends faster than real time', () => {
      const sink = new MemorySink();
      const s = session(new ManualClock(), { sink, playoutSlackMs: 500 });
      for (let i = 0; i < 1000; i++) s.receive(remotePacket(1 + i, i * 160), 0); // 20 s of audio at one instant
      expect(sink.samples.length).to.equal(160 + 4000); // the first packet plus 500 ms of slack
      expect(s.stats.playoutTrimmedSamples).to.equal(1000 * 160 - 160 - 4000);
    });

    it('treats a large sequence jump as a restart only when the next packet confirms it (A.1)', () => {
      const s = session(new ManualClock());
      s.receive(remotePacket(100, 0));
      s.receive(remotePacket(101, 160));
      s.receive(remotePacket(30000, 320)); // stray: dropped
      expect(s.stats.packetsReceived).to.equal(2);
      s.receive(remotePacket(102, 320));
      s.receive(remotePacket(20000, 480));
      s.receive(remotePacket(20001, 640)); // confirms the restart
      s.receive(remotePacket(20003, 960));
      expect(s.stats.packetsReceived).to.equal(5);
      expect(s.stats.packetsLost).to.equal(1);
    });

    it('emits first-packet once and never throws on malformed input', () => {
      const s = session(new ManualClock());
      let first = 0;
      s.on('first-packet', () => first++);
      const garbage = [Buffer.alloc(0), Buffer.from([0x80]), Buffer.from('00000000000000000000000000', 'hex'), Buffer.from('80c8000600000001', 'hex'), Buffer.from('80c90002000000', 'hex')];
      for (const g of garbage) expect(() => s.receive(g)).not.to.throw();
      expect(s.stats.malformedDropped).to.equal(garbage.length);
      s.receive(remotePacket(1, 0));
      s.receive(remotePacket(2, 160));
      expect(first).to.equal(1);
      expect(s.stats).to.include({ packetsReceived: 2, octetsReceived: 320, malformedDropped: garbage.length });
    });

    it('counts but does not play packets of other payload types (e.g. RFC 4733 events)', () => {
      const sink = new MemorySink();
      const s = session(new ManualClock(), { sink });
      s.receive(remotePacket(1, 0));
      s.receive(remotePacket(2, 160, { payloadType: 101, payload: Buffer.alloc(4) }));
      expect(s.stats.packetsReceived).to.equal(2);
      expect(sink.samples.length).to.equal(160);
    });
  });

  describe('two sessions back to back', () => {
    /** Wires a and b: RTP synchronously (a→b dropping every 10th packet), RTCP with 5 ms one-way delay. */
    function wire(clock: ManualClock) {
      const sink = new MemorySink();
      const links: { a?: RtpSession; b?: RtpSession } = {};
      let index = 0;
      let dropped = 0;
      const rtcpFromB: RtcpPacket[][] = [];
      const rtcpFromA: RtcpPacket[][] = [];
      const bLossAtReport: number[] = [];
      const a = session(clock, {
        source: new ToneSource(440),
        rtcpIntervalMs: 1000,
        cname: 'a@test',
        sendRtp: (p) => {
          if (index++ % 10 === 3) dropped++;
          else links.b!.receive(p, clock.now());
        },
        sendRtcp: (p) => {
          rtcpFromA.push(parseRtcpCompound(p));
          clock.setTimer(5, () => links.b!.receive(p));
        },
      });
      const b = session(clock, {
        source: new ToneSource(1000),
        sink,
        rtcpIntervalMs: 1000,
        cname: 'b@test',
        sendRtp: (p) => links.a!.receive(p, clock.now()),
        sendRtcp: (p) => {
          rtcpFromB.push(parseRtcpCompound(p));
          bLossAtReport.push(links.b!.stats.packetsLost);
          clock.setTimer(5, () => links.a!.receive(p));
        },
      });
      links.a = a;
      links.b = b;
      return { a, b, sink, rtcpFromA, rtcpFromB, bLossAtReport, dropped: () => dropped };
    }

    it('reports packetsLost matching 10% deterministic loss, exchanges SR/RR and measures RTT', () => {
      const clock = new ManualClock();
      const w = wire(clock);
      w.a.start();
      w.b.start();
      clock.advance(4999); // 250 packets each way
      expect(w.a.stats.packetsSent).to.equal(250);
      expect(w.dropped()).to.equal(25);
      expect(w.b.stats).to.include({ packetsReceived: 225, packetsLost: 25, remoteSsrc: w.a.ssrc });
      expect(w.a.stats).to.include({ packetsReceived: 250, packetsLost: 0, remoteSsrc: w.b.ssrc });
      // Every 20 ms at 8 kHz with synchronous delivery: no jitter.
      expect(w.b.stats.jitterMs).to.equal(0);

      // Both send SR + SDES(CNAME) at 500, 1500, ... 4500.
      expect(w.rtcpFromA).to.have.length(5);
      for (const compound of [...w.rtcpFromA, ...w.rtcpFromB]) expect(compound.map((p) => p.type)).to.deep.equal(['SR', 'SDES']);
      const lastSrFromA = w.rtcpFromA.at(-1)![0] as SenderReport;
      expect(lastSrFromA.ssrc).to.equal(w.a.ssrc);
      expect(lastSrFromA.packetCount).to.be.within(225, 227);
      expect(lastSrFromA.octetCount).to.equal(lastSrFromA.packetCount * 160);
      const lastSrFromB = w.rtcpFromB.at(-1)![0] as SenderReport;
      expect(lastSrFromB.reports).to.have.length(1);
      expect(lastSrFromB.reports[0]!.ssrc).to.equal(w.a.ssrc);
      expect(lastSrFromB.reports[0]!.cumulativeLost).to.equal(w.bLossAtReport.at(-1));
      expect(w.b.stats.rtcpReceived).to.equal(5);

      // A learns B's view of its stream, and the RTT from LSR/DLSR (5 ms each way).
      const report = w.a.stats.lastRemoteReport!;
      expect(report.cumulativeLost).to.equal(w.bLossAtReport.at(-1));
      expect(report.cumulativeLost).to.be.within(22, 23);
      expect(report.fractionLost).to.be.closeTo(0.1, 0.01);
      expect(report.jitterMs).to.equal(0);
      expect(report.rttMs).to.be.closeTo(10, 0.1);
      expect(w.b.stats.lastRemoteReport!.cumulativeLost).to.equal(0);

      // The sink got every packet's worth of audio, losses as silence.
      expect(w.sink.samples.length).to.equal(250 * 160);
      expect(w.sink.samples.subarray(3 * 160, 4 * 160).every((v) => v === 0)).to.equal(true);
    });

    it('sends BYE on stop, stops its timers, and the peer emits remote-bye', () => {
      const clock = new ManualClock();
      const w = wire(clock);
      let byes = 0;
      w.b.on('remote-bye', () => byes++);
      w.a.start();
      w.b.start();
      clock.advance(1000);
      w.a.stop();
      const last = w.rtcpFromA.at(-1)!;
      expect(last.map((p) => p.type)).to.deep.equal(['SR', 'SDES', 'BYE']);
      clock.advance(10);
      expect(byes).to.equal(1);
      const sent = w.a.stats.packetsSent;
      w.b.stop();
      clock.advance(10_000);
      expect(w.a.stats.packetsSent).to.equal(sent);
      expect(clock.pendingCount).to.equal(0);
      w.a.stop(); // idempotent
    });
  });
});
