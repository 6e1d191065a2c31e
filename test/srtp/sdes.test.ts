import { expect } from 'chai';
import {
  formatCryptoAttribute,
  parseCryptoAttribute,
  parseCryptoAttributes,
  selectCryptoAnswer,
  type CryptoAttribute,
} from '../../lib/sdp/crypto-attributes.js';
import { generateSdesKeySalt, mkiBytes, splitKeySalt, srtpSessionFromSdes } from '../../lib/srtp/sdes.js';
import type { SrtpResult } from '../../lib/srtp/srtp-context.js';
import { rtcpSenderReport, rtpPacket } from './reference.js';

function ok(result: SrtpResult): Buffer {
  if (!result.ok) expect.fail(`expected ok, got ${result.reason}: ${result.detail}`);
  return result.packet;
}

describe('srtp/sdes (RFC 4568 keying to SrtpSession)', () => {
  it('offer, answer, and media both ways with the keys each side announced', () => {
    const offerLines = [
      `a=${formatCryptoAttribute({ tag: 1, suite: 'AES_CM_128_HMAC_SHA1_80', usable: true, keyParams: [{ method: 'inline', keySalt: generateSdesKeySalt('AES_CM_128_HMAC_SHA1_80'), lifetime: 2n ** 31n, mki: { value: 1n, length: 4 } }], sessionParams: { windowSizeHint: 1024 } })}`,
      `a=${formatCryptoAttribute({ tag: 2, suite: 'AES_CM_128_HMAC_SHA1_32', usable: true, keyParams: [{ method: 'inline', keySalt: generateSdesKeySalt('AES_CM_128_HMAC_SHA1_32') }], sessionParams: {} })}`,
    ];
    const offered = parseCryptoAttributes(offerLines).attributes;
    const choice = selectCryptoAnswer(offered);
    if (!choice.ok) expect.fail('no answer');
    const answerLine = `a=${formatCryptoAttribute(choice.answer)}`;

    const bob = srtpSessionFromSdes(choice.answer, choice.offer);
    const alice = srtpSessionFromSdes(offered[0]!, parseCryptoAttribute(answerLine));
    expect(bob.inbound.replayWindowSize).to.equal(1024); // Alice's WSH sizes Bob's window for her stream
    expect(alice.inbound.replayWindowSize).to.equal(128);

    const fromAlice = rtpPacket({ sequence: 10, ssrc: 0xa11ce });
    const sent = ok(alice.protectRtp(fromAlice));
    expect(sent.subarray(fromAlice.length, fromAlice.length + 4).equals(mkiBytes({ value: 1n, length: 4 }))).to.equal(true);
    expect(ok(bob.unprotectRtp(sent)).equals(fromAlice)).to.equal(true);
    const fromBob = rtpPacket({ sequence: 20, ssrc: 0xb0b });
    expect(ok(alice.unprotectRtp(ok(bob.protectRtp(fromBob)))).equals(fromBob)).to.equal(true);
    const report = rtcpSenderReport(0xb0b);
    expect(ok(alice.unprotectRtcp(ok(bob.protectRtcp(report)))).equals(report)).to.equal(true);
  });

  it('splits key||salt as 16 + 14 octets and encodes MKIs big-endian', () => {
    const keySalt = Buffer.from(Array.from({ length: 30 }, (_, i) => i));
    const { masterKey, masterSalt } = splitKeySalt('AES_CM_128_HMAC_SHA1_32', keySalt);
    expect(masterKey.toString('hex')).to.equal('000102030405060708090a0b0c0d0e0f');
    expect(masterSalt.toString('hex')).to.equal('101112131415161718191a1b1c1d');
    expect(() => splitKeySalt('AES_CM_128_HMAC_SHA1_80', Buffer.alloc(29))).to.throw(RangeError);
    expect(mkiBytes({ value: 0x0102n, length: 4 }).toString('hex')).to.equal('00000102');
    expect(() => mkiBytes({ value: 256n, length: 1 })).to.throw(RangeError);
    expect(generateSdesKeySalt('AES_CM_128_HMAC_SHA1_80').length).to.equal(30);
  });

  it('refuses attributes it cannot key with RangeError', () => {
    const line = (suite: string, keys = 1): CryptoAttribute => parseCryptoAttribute(
      `crypto:1 ${suite} ${Array.from({ length: keys }, (_, i) => `inline:${Buffer.alloc(30, i).toString('base64')}|${i + 1}:1`).join(';')}`,
    );
    expect(() => srtpSessionFromSdes(line('AES_CM_128_HMAC_SHA1_80'), line('AES_CM_128_HMAC_SHA1_32'))).to.throw(RangeError, /differ/);
    expect(() => srtpSessionFromSdes(line('F8_128_HMAC_SHA1_80'), line('F8_128_HMAC_SHA1_80'))).to.throw(RangeError, /not implemented/);
    expect(() => srtpSessionFromSdes(line('AES_CM_128_HMAC_SHA1_80', 2), line('AES_CM_128_HMAC_SHA1_80'))).to.throw(RangeError, /exactly one/);
    expect(srtpSessionFromSdes(line('aes_cm_128_hmac_sha1_80'), line('AES_CM_128_HMAC_SHA1_80')).outbound.suite.name).to.equal('AES_CM_128_HMAC_SHA1_80');
  });
});
