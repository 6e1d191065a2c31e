import { expect } from 'chai';
import { ParseError } from '../../lib/base/errors.js';
import fc from 'fast-check';
import { isRtcpPacket, parseRtp, parseRtpGeneral, sequenceDelta, serializeRtp, serializeRtpGeneral, timestampDelta, type RtpPacket } from '../../lib/rtp/packet.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('RTP packet (RFC 3550 §5.1)', () => {
  it('parses a hand-assembled PCMU packet', () => {
    // V=2, no P/X/CC; M=1, PT=0; seq 0x1234; ts 0x000000a0; SSRC 0xdeadbeef; 4 payload octets.
    const p = parseRtp(hex('80 80 1234 000000a0 deadbeef ff ff 7f 00'));
    expect(p).to.deep.include({
      version: 2, padding: false, marker: true, payloadType: 0, sequenceNumber: 0x1234, timestamp: 0xa0, ssrc: 0xdeadbeef, csrcs: [],
    });
    expect(p.extension).to.equal(undefined);
    expect(p.payload.toString('hex')).to.equal('ffff7f00');
  });

  it('serializes the same packet byte for byte', () => {
    const buf = serializeRtp({ marker: true, payloadType: 0, sequenceNumber: 0x1234, timestamp: 0xa0, ssrc: 0xdeadbeef, payload: hex('ffff7f00') });
    expect(buf.toString('hex')).to.equal('808012340000' + '00a0deadbeefffff7f00');
  });

  const roundTrips: Array<[string, Omit<RtpPacket, 'version'>]> = [
    ['minimal', { padding: false, marker: false, payloadType: 8, sequenceNumber: 0, timestamp: 0, ssrc: 0, csrcs: [], payload: Buffer.alloc(0) }],
    ['max fields', { padding: false, marker: true, payloadType: 127, sequenceNumber: 65535, timestamp: 0xffffffff, ssrc: 0xffffffff, csrcs: [], payload: Buffer.alloc(160, 0xd5) }],
    ['15 CSRCs', { padding: false, marker: false, payloadType: 0, sequenceNumber: 7, timestamp: 160, ssrc: 1, csrcs: Array.from({ length: 15 }, (_, i) => 0x01000000 + i), payload: Buffer.from([1, 2, 3]) }],
    ['header extension', { padding: false, marker: false, payloadType: 0, sequenceNumber: 9, timestamp: 320, ssrc: 2, csrcs: [5], extension: { profile: 0xbede, data: hex('10ff0000 22aabbcc') }, payload: Buffer.from([9]) }],
    ['empty header extension', { padding: false, marker: false, payloadType: 0, sequenceNumber: 9, timestamp: 320, ssrc: 2, csrcs: [], extension: { profile: 0x1000, data: Buffer.alloc(0) }, payload: Buffer.from([9]) }],
    ['padding', { padding: true, marker: false, payloadType: 0, sequenceNumber: 10, timestamp: 480, ssrc: 3, csrcs: [], payload: Buffer.from([1, 2, 3, 4, 5]) }],
  ];
  for (const [name, packet] of roundTrips) {
    it(`round-trips: ${name}`, () => {
      const buf = serializeRtp(packet);
      if (packet.padding) expect(buf.length % 4).to.equal(0);
      const parsed = parseRtp(buf);
      expect({ ...parsed, payload: parsed.payload.toString('hex'), extension: parsed.extension && { ...parsed.extension, data: parsed.extension.data.toString('hex') } })
        .to.deep.equal({ version: 2, ...packet, payload: packet.payload.toString('hex'), extension: packet.extension && { ...packet.extension, data: packet.extension.data.toString('hex') } });
    });
  }

  it('pads by an explicit length and strips it on parse', () => {
    const buf = serializeRtp({ marker: false, payloadType: 0, sequenceNumber: 1, timestamp: 2, ssrc: 3, payload: Buffer.from([0xaa]) }, 8);
    expect(buf.length).to.equal(12 + 1 + 8);
    expect(buf[buf.length - 1]).to.equal(8);
    expect(parseRtp(buf).payload.toString('hex')).to.equal('aa');
  });

  it('rejects out-of-range fields when serializing', () => {
    const base = { marker: false, payloadType: 0, sequenceNumber: 0, timestamp: 0, ssrc: 0, payload: Buffer.alloc(0) };
    expect(() => serializeRtp({ ...base, payloadType: 128 })).to.throw(RangeError);
    expect(() => serializeRtp({ ...base, sequenceNumber: 65536 })).to.throw(RangeError);
    expect(() => serializeRtp({ ...base, timestamp: -1 })).to.throw(RangeError);
    expect(() => serializeRtp({ ...base, csrcs: new Array(16).fill(1) })).to.throw(RangeError);
    expect(() => serializeRtp({ ...base, extension: { profile: 1, data: Buffer.alloc(3) } })).to.throw(RangeError);
  });

  const malformed: Array<[string, string]> = [
    ['empty', ''],
    ['one octet', '80'],
    ['11-octet header', '80 00 0001 00000000 000000'],
    ['version 0', '00 00 0001 00000000 00000001'],
    ['version 1', '40 00 0001 00000000 00000001'],
    ['version 3', 'c0 00 0001 00000000 00000001'],
    ['CC=2 with one CSRC', '82 00 0001 00000000 00000001 00000002'],
    ['CC=1 with a partial CSRC', '81 00 0001 00000000 00000001 0000'],
    ['X=1 without extension header', '90 00 0001 00000000 00000001'],
    ['X=1 with partial extension header', '90 00 0001 00000000 00000001 bede'],
    ['X=1 extension longer than the packet', '90 00 0001 00000000 00000001 bede 0002 00000000'],
    ['P=1 with no octet after the header', 'a0 00 0001 00000000 00000001'],
    ['P=1 with padding count 0', 'a0 00 0001 00000000 00000001 ff ff 00'],
    ['P=1 with padding count beyond the payload', 'a0 00 0001 00000000 00000001 ff ff 04'],
    ['P=1 with padding eating into the CSRC list', 'a1 00 0001 00000000 00000001 00000002 02'],
  ];
  for (const [name, bytes] of malformed) {
    it(`rejects ${name} with ParseError`, () => {
      expect(() => parseRtp(hex(bytes))).to.throw(ParseError);
    });
  }

  it('rejects every truncation of a packet with CSRCs and an extension', () => {
    const full = serializeRtp({ marker: false, payloadType: 0, sequenceNumber: 1, timestamp: 2, ssrc: 3, csrcs: [4, 5], extension: { profile: 1, data: Buffer.alloc(8) }, payload: Buffer.alloc(0) });
    for (let n = 0; n < full.length; n++) expect(() => parseRtp(full.subarray(0, n)), `${n} octets`).to.throw(ParseError);
    expect(() => parseRtp(full)).not.to.throw();
  });

  describe('isRtcpPacket (RFC 5761 §4)', () => {
    const cases: Array<[number, boolean]> = [
      [0, false], // PCMU
      [0x80, false], // PCMU with marker
      [8, false],
      [96, false],
      [0x80 | 96, false], // dynamic PT with marker = 224
      [191, false],
      [192, true],
      [200, true], // SR
      [201, true], // RR
      [206, true], // PSFB
      [223, true],
      [224, false],
    ];
    for (const [second, rtcp] of cases) {
      it(`second octet ${second} is ${rtcp ? 'RTCP' : 'RTP'}`, () => {
        expect(isRtcpPacket(Buffer.from([0x80, second, 0, 1]))).to.equal(rtcp);
      });
    }
    it('is false for datagrams shorter than two octets', () => {
      expect(isRtcpPacket(Buffer.alloc(0))).to.equal(false);
      expect(isRtcpPacket(Buffer.from([0x80]))).to.equal(false);
    });
  });

  it('compares sequence numbers and timestamps modulo their width', () => {
    expect(sequenceDelta(1, 65535)).to.equal(2);
    expect(sequenceDelta(65535, 1)).to.equal(-2);
    expect(sequenceDelta(5, 5)).to.equal(0);
    expect(timestampDelta(100, 0xffffff00)).to.equal(356);
    expect(timestampDelta(0xffffff00, 100)).to.equal(-356);
  });
});

describe('rtp/packet fast paths (issue 14): the same results as the general parser and serializer', () => {
  const fields = fc.record({
    marker: fc.boolean(),
    payloadType: fc.integer({ min: 0, max: 127 }),
    sequenceNumber: fc.integer({ min: 0, max: 0xffff }),
    timestamp: fc.integer({ min: 0, max: 0xffffffff }),
    ssrc: fc.integer({ min: 0, max: 0xffffffff }),
    payload: fc.uint8Array({ maxLength: 320 }).map((a) => Buffer.from(a)),
  });

  it('serializeRtp of a plain packet is byte-identical to the general serializer', () => {
    fc.assert(fc.property(fields, (p) => {
      expect(serializeRtp(p).equals(serializeRtpGeneral(p))).to.equal(true);
    }), { numRuns: 2000 });
  });

  it('parseRtp of any datagram gives what the general parser gives (or the same ParseError)', () => {
    const datagram = fc.oneof(
      fields.map((p) => serializeRtpGeneral(p)),
      fc.uint8Array({ minLength: 0, maxLength: 40 }).map((a) => Buffer.from(a)),
      fc.uint8Array({ minLength: 12, maxLength: 40 }).map((a) => { const b = Buffer.from(a); b[0] = 0x80; return b; }),
    );
    const outcome = (f: () => RtpPacket) => {
      try {
        const p = f();
        return { ...p, payload: Buffer.from(p.payload).toString('hex') };
      } catch (e) {
        return { error: (e as Error).constructor.name, message: (e as Error).message };
      }
    };
    fc.assert(fc.property(datagram, (d) => {
      expect(outcome(() => parseRtp(d))).to.deep.equal(outcome(() => parseRtpGeneral(d)));
    }), { numRuns: 3000 });
  });

  it('the fast paths round-trip and leave the payload a view of the datagram', () => {
    fc.assert(fc.property(fields, (p) => {
      const wire = serializeRtp(p);
      const back = parseRtp(wire);
      expect({ ...back, payload: undefined }).to.deep.equal({ version: 2, padding: false, marker: p.marker, payloadType: p.payloadType, sequenceNumber: p.sequenceNumber, timestamp: p.timestamp, ssrc: p.ssrc, csrcs: [], payload: undefined });
      expect(back.payload.equals(p.payload)).to.equal(true);
      expect(back.payload.buffer).to.equal(wire.buffer);
    }), { numRuns: 1000 });
  });
});
