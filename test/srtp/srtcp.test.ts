import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { SrtpContext, type SrtpResult } from '../../lib/srtp/srtp-context.js';
import { SRTP_SUITE_NAMES, type SrtpSuiteName } from '../../lib/srtp/suites.js';
import { hex, referenceSrtcp, rtcpSenderReport, rtpPacket } from './reference.js';

const masterKey = hex('00112233445566778899AABBCCDDEEFF');
const masterSalt = hex('0102030405060708090A0B0C0D0E');

function pair(suite: SrtpSuiteName = 'AES_CM_128_HMAC_SHA1_80', replayWindowSize?: number) {
  return {
    sender: new SrtpContext({ direction: 'outbound', suite, masterKey, masterSalt, replayWindowSize }),
    receiver: new SrtpContext({ direction: 'inbound', suite, masterKey, masterSalt, replayWindowSize }),
  };
}

function ok(result: SrtpResult): Extract<SrtpResult, { ok: true }> {
  if (!result.ok) expect.fail(`expected ok, got ${result.reason}: ${result.detail}`);
  return result;
}

function reason(result: SrtpResult): string {
  if (result.ok) expect.fail('expected the packet to be dropped');
  return result.reason;
}

describe('srtp/srtp-context: SRTCP (RFC 3711 §3.4)', () => {
  for (const suite of SRTP_SUITE_NAMES) {
    it(`${suite}: round trip with E=1, SRTCP index 0, 1, 2 and an 80-bit tag`, () => {
      const { sender, receiver } = pair(suite);
      for (let i = 0; i < 3; i++) {
        const plain = rtcpSenderReport(0xabcdef01, i + 1);
        const sent = ok(sender.protectRtcp(plain));
        expect(sent.index).to.equal(i);
        expect(sent.packet.length).to.equal(plain.length + 4 + 10);
        expect(sent.packet.subarray(0, 8).equals(plain.subarray(0, 8))).to.equal(true);
        expect(sent.packet.subarray(8, plain.length).equals(plain.subarray(8))).to.equal(false);
        expect(sent.packet.readUInt32BE(plain.length)).to.equal((0x80000000 | i) >>> 0);
        const back = ok(receiver.unprotectRtcp(sent.packet));
        expect(back.packet.equals(plain)).to.equal(true);
        expect(back.index).to.equal(i);
        expect(back.ssrc).to.equal(0xabcdef01);
      }
      expect(receiver.stats.rtcp).to.equal(3);
    });
  }

  it('protect output equals an independent node:crypto computation (labels 3-5, IV from the SRTCP index)', () => {
    const { sender } = pair('AES_CM_128_HMAC_SHA1_32');
    for (let i = 0; i < 3; i++) {
      const plain = rtcpSenderReport(0x5eed0001, i);
      expect(ok(sender.protectRtcp(plain)).packet.toString('hex')).to.equal(referenceSrtcp(masterKey, masterSalt, plain, i, true).toString('hex'));
    }
  });

  it('an authenticated packet with E=0 is accepted unchanged (sent unencrypted)', () => {
    const { receiver } = pair();
    const plain = rtcpSenderReport(0x77, 9);
    const back = ok(receiver.unprotectRtcp(referenceSrtcp(masterKey, masterSalt, plain, 41, false)));
    expect(back.packet.equals(plain)).to.equal(true);
    expect(back.index).to.equal(41);
  });

  it('replays are rejected, out-of-order packets within the window accepted once, older ones refused', () => {
    const { sender, receiver } = pair('AES_CM_128_HMAC_SHA1_80', 64);
    const packets: Buffer[] = [];
    for (let i = 0; i <= 100; i++) packets.push(ok(sender.protectRtcp(rtcpSenderReport(0x10, i))).packet);
    ok(receiver.unprotectRtcp(packets[100]!));
    expect(reason(receiver.unprotectRtcp(packets[100]!))).to.equal('replayed');
    ok(receiver.unprotectRtcp(packets[50]!));
    expect(reason(receiver.unprotectRtcp(packets[50]!))).to.equal('replayed');
    expect(reason(receiver.unprotectRtcp(packets[36]!))).to.equal('too-old');
    expect(receiver.stats.dropped).to.include({ replayed: 2, 'too-old': 1 });
  });

  it('a flipped bit in header, body, E bit, index or tag is rejected', () => {
    const { sender, receiver } = pair();
    const sent = ok(sender.protectRtcp(rtcpSenderReport(0x42))).packet;
    for (let bit = 0; bit < sent.length * 8; bit += 5) {
      const tampered = Buffer.from(sent);
      tampered[bit >> 3]! ^= 1 << (bit & 7);
      expect(receiver.unprotectRtcp(tampered).ok, `bit ${bit}`).to.equal(false);
    }
    const eBit = Buffer.from(sent);
    eBit[28]! ^= 0x80;
    expect(reason(receiver.unprotectRtcp(eBit))).to.equal('authentication-failed');
    expect(ok(receiver.unprotectRtcp(sent)).index).to.equal(0);
  });

  it('truncated, non-RTCP and garbage packets give typed results', () => {
    const { sender, receiver } = pair();
    const sent = ok(sender.protectRtcp(rtcpSenderReport(0x42))).packet;
    for (let length = 0; length < 22; length++) expect(reason(receiver.unprotectRtcp(sent.subarray(0, length))), `length ${length}`).to.equal('truncated');
    for (let length = 22; length < sent.length; length++) expect(receiver.unprotectRtcp(sent.subarray(0, length)).ok).to.equal(false);
    expect(reason(sender.protectRtcp(Buffer.from([0x80, 200, 0, 1, 0, 0, 0])))).to.equal('truncated');
    expect(reason(sender.protectRtcp(rtpPacket({ sequence: 1 })))).to.equal('malformed'); // PT 0 is RTP, not RTCP
    const version0 = Buffer.from(sent);
    version0[0] = 0x00;
    expect(reason(receiver.unprotectRtcp(version0))).to.equal('malformed');
    for (let i = 0; i < 200; i++) expect(receiver.unprotectRtcp(randomBytes(i)).ok).to.equal(false);
    expect(receiver.ssrcCount).to.equal(0);
  });

  it('SRTP and SRTCP use separate keys: an SRTCP packet is not accepted as SRTP', () => {
    const { sender, receiver } = pair();
    expect(receiver.unprotectRtp(ok(sender.protectRtcp(rtcpSenderReport(0x42))).packet).ok).to.equal(false);
  });
});
