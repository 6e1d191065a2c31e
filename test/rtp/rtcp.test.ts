import { expect } from 'chai';
import { ParseError } from '../../lib/base/errors.js';
import {
  buildBye,
  buildCnameSdes,
  buildReceiverReport,
  buildRtcpCompound,
  buildSenderReport,
  compactNtpToMs,
  findCname,
  msToCompactNtp,
  ntpFromUnixMs,
  ntpMiddle32,
  parseRtcpCompound,
  serializeRtcpPacket,
  unixMsFromNtp,
  type RtcpPacket,
} from '../../lib/rtp/rtcp.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('RTCP (RFC 3550 §6)', () => {
  const block1 = { ssrc: 0x11111111, fractionLost: 25, cumulativeLost: 5, highestSequence: 0x0001ffff, jitter: 80, lastSr: 0x12345678, delaySinceLastSr: 0x00010000 };
  const block2 = { ssrc: 0x22222222, fractionLost: 0, cumulativeLost: -3, highestSequence: 7, jitter: 0, lastSr: 0, delaySinceLastSr: 0 };

  it('round-trips a compound SR + SDES + BYE', () => {
    const packets: RtcpPacket[] = [
      buildSenderReport({ ssrc: 0xcafebabe, ntpTimestamp: 0xe8a1b2c3_80000000n, rtpTimestamp: 123456, packetCount: 50, octetCount: 8000, reports: [block1, block2] }),
      { type: 'SDES', chunks: [
        { ssrc: 0xcafebabe, items: [{ type: 1, value: 'alice@example.com' }, { type: 2, value: 'Alice' }] },
        { ssrc: 0x01020304, items: [{ type: 1, value: 'xy' }] },
      ] },
      buildBye([0xcafebabe, 0x01020304], 'call ended'),
    ];
    const buf = buildRtcpCompound(packets);
    expect(buf.length % 4).to.equal(0);
    expect(parseRtcpCompound(buf, { requireReportFirst: true })).to.deep.equal(packets);
  });

  it('round-trips an empty RR + CNAME + BYE without reason', () => {
    const packets: RtcpPacket[] = [buildReceiverReport(0x01), buildCnameSdes(0x01, 'c'), buildBye([0x01])];
    const buf = buildRtcpCompound(packets);
    expect(parseRtcpCompound(buf)).to.deep.equal(packets);
    expect(findCname(parseRtcpCompound(buf), 1)).to.equal('c');
  });

  it('round-trips an RR with a report block and keeps unknown packet types', () => {
    const packets: RtcpPacket[] = [buildReceiverReport(0x0a0b0c0d, [block1]), { type: 'other', packetType: 206, count: 1, body: hex('0000000100000002') }];
    expect(parseRtcpCompound(buildRtcpCompound(packets))).to.deep.equal(packets);
  });

  it('encodes an RR and a CNAME chunk as RFC 3550 lays them out', () => {
    expect(serializeRtcpPacket(buildReceiverReport(0xdeadbeef)).toString('hex')).to.equal('80c90001deadbeef');
    // SDES: header, SSRC, CNAME type 1 length 3 "abc", null terminator → 4 + 4 + 5 + 1 (+2 pad) = 16 octets, length 3.
    expect(serializeRtcpPacket(buildCnameSdes(1, 'abc')).toString('hex')).to.equal('81ca0003' + '00000001' + '0103616263' + '000000');
    // BYE with reason "x": header, SSRC, length 1, "x", 2 pad.
    expect(serializeRtcpPacket(buildBye([1], 'x')).toString('hex')).to.equal('81cb0002' + '00000001' + '0178' + '0000');
    // Report block fields, including a negative cumulative loss in 24-bit two's complement.
    const rr = serializeRtcpPacket(buildReceiverReport(1, [block2]));
    expect(rr.subarray(8).toString('hex')).to.equal('22222222' + '00fffffd' + '00000007' + '00000000' + '00000000' + '00000000');
  });

  it('clamps cumulative loss to 24 bits and fraction to 8 bits', () => {
    const rr = buildReceiverReport(1, [{ ...block2, cumulativeLost: 10_000_000, fractionLost: 300 }]);
    const parsed = parseRtcpCompound(serializeRtcpPacket(rr))[0] as { reports: Array<{ cumulativeLost: number; fractionLost: number }> };
    expect(parsed.reports[0]!.cumulativeLost).to.equal(0x7fffff);
    expect(parsed.reports[0]!.fractionLost).to.equal(255);
  });

  it('accepts padding on the last packet', () => {
    // RR (no blocks) with P=1 and 4 octets of padding: length 2.
    const [p] = parseRtcpCompound(hex('a0c90002 00000001 00000004'));
    expect(p).to.deep.equal({ type: 'RR', ssrc: 1, reports: [] });
  });

  const malformed: Array<[string, string]> = [
    ['empty', ''],
    ['3 octets', '80c900'],
    ['version 1', '40c90001 00000001'],
    ['length past the end', '80c90002 00000001'],
    ['trailing octets', '80c90001 00000001 0000'],
    ['second packet truncated', '80c90001 00000001 81ca0003 00000001'],
    ['padding on a packet that is not last', 'a0c90002 00000001 00000004 80c90001 00000002'],
    ['padding count 0', 'a0c90002 00000001 00000000'],
    ['padding count larger than the packet', 'a0c90002 00000001 0000000c'],
    ['SR shorter than its sender info', '80c80002 00000001 00000000'],
    ['RR claiming a report block it lacks', '81c90001 00000001'],
    ['SR claiming two blocks with room for one', '82c8000c 00000001 0000000000000000 00000000 00000000 00000000 000000020000000000000000000000000000000000000000'],
    ['SDES chunk without terminator', '81ca0002 00000001 01026162'],
    ['SDES item longer than the packet', '81ca0002 00000001 01096162'],
    ['SDES with fewer chunks than its count', '82ca0002 00000001 01016100'],
    ['BYE reason longer than the packet', '81cb0002 00000001 05616263'],
    ['BYE with fewer SSRCs than its count', '82cb0001 00000001'],
  ];
  for (const [name, bytes] of malformed) {
    it(`rejects ${name} with ParseError`, () => {
      expect(() => parseRtcpCompound(hex(bytes))).to.throw(ParseError);
    });
  }

  it('can require SR or RR first (RFC 3550 A.2)', () => {
    const sdesOnly = buildRtcpCompound([buildCnameSdes(1, 'x')]);
    expect(parseRtcpCompound(sdesOnly)).to.have.length(1);
    expect(() => parseRtcpCompound(sdesOnly, { requireReportFirst: true })).to.throw(ParseError);
  });

  describe('NTP timestamps (RFC 3550 §4)', () => {
    it('converts Unix milliseconds to 64-bit NTP', () => {
      expect(ntpFromUnixMs(0)).to.equal(2_208_988_800n << 32n);
      expect(ntpFromUnixMs(1500)).to.equal((2_208_988_801n << 32n) | 0x80000000n);
      expect(unixMsFromNtp(ntpFromUnixMs(1_700_000_000_250))).to.be.closeTo(1_700_000_000_250, 0.001);
    });
    it('takes the middle 32 bits for LSR and converts compact units', () => {
      expect(ntpMiddle32(0x11223344_55667788n)).to.equal(0x33445566);
      expect(compactNtpToMs(65536)).to.equal(1000);
      expect(msToCompactNtp(500)).to.equal(32768);
    });
  });
});
