/**
 * The gateway's RTP translator (RFC 7667 §3.2.1.3): payload types mapped between legs, PCMU↔PCMA
 * transcoded, RFC 4733 events relayed with the other leg's payload type, timestamps continuous
 * across an incoming SSRC change, unmappable packets counted and dropped.
 */
import { expect } from 'chai';
import { RtpTranslator, transcode, type LegPayloads } from '../../lib/gateway/rtp-translator.js';
import { decodePcma, encodePcmu } from '../../lib/rtp/g711.js';
import type { OutgoingRtpPacket, ReceivedRtpPacket } from '../../lib/rtp/session.js';

function packet(p: Partial<ReceivedRtpPacket>): ReceivedRtpPacket {
  return { payloadType: 0, sequenceNumber: 1, timestamp: 1000, ssrc: 0x1111, marker: false, payload: Buffer.alloc(160, 0xff), arrivalMs: 0, ...p };
}

function setup(from: LegPayloads | undefined, to: LegPayloads | undefined, accept = true) {
  const sent: OutgoingRtpPacket[] = [];
  const t = new RtpTranslator((p) => {
    if (accept) sent.push(p);
    return accept;
  }, () => ({ from, to }));
  return { t, sent };
}

describe('RtpTranslator (gateway media relay, issue 12)', () => {
  it('same codec: payload as received, the other leg\'s payload type, timestamps keep their spacing', () => {
    const { t, sent } = setup({ codec: 'PCMU', payloadType: 0, telephoneEvent: 101 }, { codec: 'PCMU', payloadType: 0, telephoneEvent: 96 });
    const payload = Buffer.from(Array.from({ length: 160 }, (_, i) => i));
    t.relay(packet({ timestamp: 1000, payload, marker: true }));
    t.relay(packet({ timestamp: 1160, sequenceNumber: 2, payload, arrivalMs: 20 }));
    expect(sent).to.have.length(2);
    expect(sent[0]!.payload).to.equal(payload);
    expect(sent[0]!.marker).to.equal(true);
    expect(((sent[1]!.timestamp! - sent[0]!.timestamp!) >>> 0)).to.equal(160);
    expect(t.stats).to.deep.include({ relayed: 2, transcoded: 0, unmapped: 0 });
  });

  it('PCMU → PCMA: transcoded per packet (the same audio), payload type 8', () => {
    const { t, sent } = setup({ codec: 'PCMU', payloadType: 0 }, { codec: 'PCMA', payloadType: 8 });
    const samples = Int16Array.from({ length: 160 }, (_, i) => Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / 8000)));
    t.relay(packet({ payload: encodePcmu(samples) }));
    expect(sent[0]!.payloadType).to.equal(8);
    const back = decodePcma(sent[0]!.payload);
    const maxError = Math.max(...Array.from(samples, (s, i) => Math.abs(s - back[i]!)));
    expect(maxError, 'G.711 quantisation only').to.be.lessThan(600);
    expect(t.stats.transcoded).to.equal(1);
    expect(transcode(sent[0]!.payload, 'PCMA', 'PCMA')).to.equal(sent[0]!.payload);
  });

  it('RFC 4733 events: relayed with the other leg\'s telephone-event payload type, same timestamp for one event', () => {
    const { t, sent } = setup({ codec: 'PCMU', payloadType: 0, telephoneEvent: 101 }, { codec: 'PCMU', payloadType: 0, telephoneEvent: 96 });
    const ev = Buffer.from([5, 0x0a, 0x00, 0xa0]);
    t.relay(packet({ payloadType: 101, timestamp: 5000, payload: ev, marker: true }));
    t.relay(packet({ payloadType: 101, timestamp: 5000, payload: ev, sequenceNumber: 2, arrivalMs: 50 }));
    expect(sent.map((p) => p.payloadType)).to.deep.equal([96, 96]);
    expect(sent[0]!.timestamp).to.equal(sent[1]!.timestamp);
    expect(sent[0]!.payload).to.equal(ev);
    expect(t.stats.events).to.equal(2);
  });

  it('events to a leg without telephone-event, and unknown payload types, are counted and dropped', () => {
    const { t, sent } = setup({ codec: 'PCMU', payloadType: 0, telephoneEvent: 101 }, { codec: 'PCMU', payloadType: 0 });
    t.relay(packet({ payloadType: 101, payload: Buffer.from([1, 0, 0, 160]) }));
    t.relay(packet({ payloadType: 13, payload: Buffer.alloc(1) }));
    expect(sent).to.have.length(0);
    expect(t.stats.unmapped).to.equal(2);
  });

  it('a new incoming SSRC (ICE pair switch, restart): the outgoing timestamps continue, advanced by the time between', () => {
    const { t, sent } = setup({ codec: 'PCMU', payloadType: 0 }, { codec: 'PCMU', payloadType: 0 });
    t.relay(packet({ ssrc: 1, timestamp: 1000, arrivalMs: 0 }));
    t.relay(packet({ ssrc: 1, timestamp: 1160, arrivalMs: 20 }));
    t.relay(packet({ ssrc: 2, timestamp: 0xfffffff0, arrivalMs: 40 }));
    t.relay(packet({ ssrc: 2, timestamp: 0x00000090, arrivalMs: 60 }));
    const ts = sent.map((p) => p.timestamp!);
    expect((ts[1]! - ts[0]!) >>> 0).to.equal(160);
    expect((ts[2]! - ts[1]!) >>> 0, '20 ms of 8 kHz after the last packet of the old source').to.equal(160);
    expect((ts[3]! - ts[2]!) >>> 0, 'the new source\'s spacing kept (across its wrap)').to.equal(160);
    expect(t.stats.sourceChanges).to.equal(1);
  });

  it('a leg that has not negotiated yet, or does not send (media not running, hold): counted as not sent', () => {
    const a = setup(undefined, { codec: 'PCMU', payloadType: 0 });
    a.t.relay(packet({}));
    expect(a.t.stats).to.deep.include({ relayed: 0, notSent: 1 });
    const b = setup({ codec: 'PCMU', payloadType: 0 }, { codec: 'PCMU', payloadType: 0 }, false);
    b.t.relay(packet({}));
    expect(b.t.stats).to.deep.include({ relayed: 0, notSent: 1 });
  });
});
