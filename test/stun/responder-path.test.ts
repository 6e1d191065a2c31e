/**
 * The Binding request → response path without per-message key derivation or message copies
 * (issue 14): the short-term key is computed once per password and bounded, integrity and
 * FINGERPRINT are still verified over the adjusted-length prefix, and a decoded message owns
 * its bytes.
 */
import { expect } from 'chai';
import { createHmac } from 'node:crypto';
import { shortTermKey, shortTermKeyCacheSize, verifyFingerprint, verifyMessageIntegrity } from '../../lib/stun/integrity.js';
import { StunAttr, StunMessage, crc32 } from '../../lib/stun/message.js';
import { buildCheckRequest, encodeSuccessResponse, judgeIncomingCheck } from '../../lib/ice/connectivity-check.js';

const request = (pwd: string) => buildCheckRequest({ localUfrag: 'R', remoteUfrag: 'L', priority: 100, role: 'controlling', tieBreaker: 7n })
  .encode({ integrityKey: shortTermKey(pwd), fingerprint: true });

describe('stun: responder path (cached keys, fewer copies)', () => {
  it('derives a short-term key once per password (the same Buffer), and keeps at most 4,096 of them', () => {
    const a = shortTermKey('passwordOfCallOne0123');
    expect(shortTermKey('passwordOfCallOne0123')).to.equal(a);
    expect(a.toString('utf8')).to.equal('passwordOfCallOne0123');
    for (let i = 0; i < 10_000; i++) shortTermKey(`password-${i}-abcdefghij`);
    expect(shortTermKeyCacheSize()).to.equal(4096);
    // Evicted keys are derived again, equal in value.
    expect(shortTermKey('password-0-abcdefghij').equals(Buffer.from('password-0-abcdefghij'))).to.equal(true);
  });

  it('crc32 continues over pieces: crc32(b, crc32(a)) equals crc32(a ++ b)', () => {
    const whole = Buffer.from('The quick brown fox jumps over the lazy dog');
    for (const cut of [0, 1, 2, 4, 20, whole.length]) {
      expect(crc32(whole.subarray(cut), crc32(whole.subarray(0, cut)))).to.equal(crc32(whole));
    }
    expect(crc32(whole)).to.equal(0x414fa339);
  });

  it('still verifies MESSAGE-INTEGRITY and FINGERPRINT over the adjusted-length prefix, and rejects one flipped bit anywhere', () => {
    const pwd = 'responderPassword012345';
    const bytes = request(pwd);
    const msg = StunMessage.decode(bytes);
    expect(verifyFingerprint(msg)).to.equal(true);
    expect(verifyMessageIntegrity(msg, shortTermKey(pwd))).to.equal(true);
    expect(verifyMessageIntegrity(msg, shortTermKey(pwd + 'x'))).to.equal(false);
    // The HMAC is over the header with the length field adjusted to end after MESSAGE-INTEGRITY.
    const miAt = bytes.length - 8 - 24;
    const prefix = Buffer.from(bytes.subarray(0, miAt));
    prefix.writeUInt16BE(miAt + 24 - 20, 2);
    expect(msg.get(StunAttr.MESSAGE_INTEGRITY)!.equals(createHmac('sha1', Buffer.from(pwd)).update(prefix).digest())).to.equal(true);
    for (let i = 0; i < bytes.length; i++) {
      if (i === 2 || i === 3) continue; // the length field: decode refuses a wrong one
      const bad = Buffer.from(bytes);
      bad[i]! ^= 0x01;
      let decoded: StunMessage;
      try { decoded = StunMessage.decode(bad); } catch { continue; }
      const ok = verifyFingerprint(decoded) && verifyMessageIntegrity(decoded, shortTermKey(pwd));
      if (ok) expect.fail(`bit flip at byte ${i} still verified`);
    }
  });

  it('a decoded request owns its bytes: the response is right after the caller reuses its receive buffer', () => {
    const pwd = 'responderPassword012345';
    const bytes = request(pwd);
    const msg = StunMessage.decode(bytes);
    const tid = Buffer.from(msg.transactionId);
    bytes.fill(0);
    expect(judgeIncomingCheck(msg, { localUfrag: 'L', localPwd: pwd, remoteUfrag: 'R' }).kind).to.equal('accept');
    const response = StunMessage.decode(encodeSuccessResponse(msg, { address: '127.0.0.1', port: 4000 }, pwd));
    expect(response.transactionId.equals(tid)).to.equal(true);
    expect(response.getXorMappedAddress()).to.deep.include({ address: '127.0.0.1', port: 4000 });
    expect(verifyFingerprint(response) && verifyMessageIntegrity(response, shortTermKey(pwd))).to.equal(true);
  });
});
