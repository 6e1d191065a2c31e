import { expect } from 'chai';
import { createCipheriv } from 'node:crypto';
import { aesCmKeystream, aesCmXor, counterModeIv } from '../../lib/srtp/aes-cm.js';
import { deriveSessionKey, deriveSessionKeys, SRTP_LABEL } from '../../lib/srtp/key-derivation.js';
import { SRTP_SUITES } from '../../lib/srtp/suites.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** One AES-128 block in ECB: an implementation of the PRF and of AES-CM independent of aes-cm.ts. */
function aesBlock(key: Buffer, block: Buffer): Buffer {
  const c = createCipheriv('aes-128-ecb', key, null).setAutoPadding(false);
  return Buffer.concat([c.update(block), c.final()]);
}

describe('srtp/aes-cm (RFC 3711 §4.1.1, Appendix B.2)', () => {
  const sessionKey = hex('2B7E151628AED2A6ABF7158809CF4F3C');
  const sessionSalt = hex('F0F1F2F3F4F5F6F7F8F9FAFBFCFD');

  it('builds the B.2 counter block from salt, SSRC 0, ROC 0 and SEQ 0', () => {
    expect(counterModeIv(sessionSalt, 0, 0).toString('hex').toUpperCase()).to.equal('F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000');
  });

  it('produces the B.2 keystream segment (65282 blocks: first three and last three)', () => {
    const iv = counterModeIv(sessionSalt, 0, 0);
    const keystream = aesCmKeystream(sessionKey, iv, 1044512);
    const block = (j: number) => keystream.subarray(j * 16, j * 16 + 16).toString('hex').toUpperCase();
    expect(block(0x0000)).to.equal('E03EAD0935C95E80E166B16DD92B4EB4');
    expect(block(0x0001)).to.equal('D23513162B02D0F72A43A2FE4A5F97AB');
    expect(block(0x0002)).to.equal('41E95B3BB0A2E8DD477901E4FCA894C0');
    expect(block(0xfeff)).to.equal('EC8CDF7398607CB0F2D21675EA9EA1E4');
    expect(block(0xff00)).to.equal('362B7C3C6773516318A077D7FC5073AE');
    expect(block(0xff01)).to.equal('6A2CC3787889374FBEB4C81B17BA6C44');
    expect(keystream.length / 16).to.equal(65282);
  });

  it('XORs SSRC into octets 4..7 and the 48-bit index into octets 8..13 (checked with bigint arithmetic)', () => {
    const salt = hex('0102030405060708090A0B0C0D0E');
    for (const [ssrc, index] of [[0xdeadbeef, 0], [0, 2 ** 48 - 1], [0x12345678, 65536 * 7 + 33], [0xffffffff, 2 ** 32 + 5]] as const) {
      const expected = (BigInt(`0x${salt.toString('hex')}`) << 16n) ^ (BigInt(ssrc) << 64n) ^ (BigInt(index) << 16n);
      expect(counterModeIv(salt, ssrc, index).toString('hex')).to.equal(expected.toString(16).padStart(32, '0'));
    }
  });

  it('matches AES-ECB of the successive counter blocks, and decrypts what it encrypts', () => {
    const iv = counterModeIv(sessionSalt, 0xcafebabe, 123456789);
    const plain = Buffer.from(Array.from({ length: 77 }, (_, i) => (i * 7) & 0xff));
    const out = Buffer.alloc(plain.length);
    aesCmXor(sessionKey, iv, plain, out);
    for (let j = 0; j * 16 < plain.length; j++) {
      const counter = Buffer.from(iv);
      counter.writeUInt16BE(j, 14);
      const ks = aesBlock(sessionKey, counter);
      for (let k = 0; k < 16 && j * 16 + k < plain.length; k++) expect(out[j * 16 + k]).to.equal(plain[j * 16 + k]! ^ ks[k]!);
    }
    const back = Buffer.alloc(plain.length);
    aesCmXor(sessionKey, iv, out, back);
    expect(back.equals(plain)).to.equal(true);
  });

  it('rejects a wrong-sized salt, key, IV or index with RangeError', () => {
    expect(() => counterModeIv(Buffer.alloc(13), 0, 0)).to.throw(RangeError);
    expect(() => counterModeIv(sessionSalt, 0, 2 ** 48)).to.throw(RangeError);
    expect(() => counterModeIv(sessionSalt, -1, 0)).to.throw(RangeError);
    expect(() => aesCmXor(Buffer.alloc(15), Buffer.alloc(16), Buffer.alloc(1), Buffer.alloc(1))).to.throw(RangeError);
    expect(() => aesCmXor(sessionKey, Buffer.alloc(16), Buffer.alloc(2), Buffer.alloc(1))).to.throw(RangeError);
  });
});

describe('srtp/key-derivation (RFC 3711 §4.3, Appendix B.3)', () => {
  const masterKey = hex('E1F97A0D3E018BE0D64FA32C06DE4139');
  const masterSalt = hex('0EC675AD498AFEEBB6960B3AABE6');

  it('derives the B.3 cipher key, cipher salt and the whole 94-octet auth key', () => {
    expect(deriveSessionKey(masterKey, masterSalt, SRTP_LABEL.rtpEncryption, 16).toString('hex').toUpperCase())
      .to.equal('C61E7A93744F39EE10734AFE3FF7A087');
    expect(deriveSessionKey(masterKey, masterSalt, SRTP_LABEL.rtpSalt, 14).toString('hex').toUpperCase())
      .to.equal('30CBBC08863D8C85D49DB34A9AE1');
    expect(deriveSessionKey(masterKey, masterSalt, SRTP_LABEL.rtpAuthentication, 94).toString('hex').toUpperCase()).to.equal(
      'CEBE321F6FF7716B6FD4AB49AF256A15' + '6D38BAA48F0A0ACF3C34E2359E6CDBCE' + 'E049646C43D9327AD175578EF7227098' +
      '6371C10C9A369AC2F94A8C5FBCDDDC25' + '6D6E919A48B610EF17C2041E47403576' + '6B68642C59BBFC2F34DB60DBDFB2',
    );
  });

  it('deriveSessionKeys gives the suite-sized SRTP keys of B.3 (k_a is the first 20 octets)', () => {
    const { rtp } = deriveSessionKeys(SRTP_SUITES.AES_CM_128_HMAC_SHA1_80, masterKey, masterSalt);
    expect(rtp.encryptionKey.toString('hex').toUpperCase()).to.equal('C61E7A93744F39EE10734AFE3FF7A087');
    expect(rtp.authenticationKey.toString('hex').toUpperCase()).to.equal('CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4');
    expect(rtp.salt.toString('hex').toUpperCase()).to.equal('30CBBC08863D8C85D49DB34A9AE1');
  });

  it('SRTCP keys use labels 3, 4, 5 (checked against AES-ECB of (label XOR salt) * 2^16)', () => {
    const { rtcp, rtp } = deriveSessionKeys(SRTP_SUITES.AES_CM_128_HMAC_SHA1_32, masterKey, masterSalt);
    const prf = (label: number, blocks: number) => {
      const out: Buffer[] = [];
      for (let j = 0; j < blocks; j++) {
        const x = Buffer.alloc(16);
        masterSalt.copy(x);
        x[7]! ^= label;
        x.writeUInt16BE(j, 14);
        out.push(aesBlock(masterKey, x));
      }
      return Buffer.concat(out);
    };
    expect(rtcp.encryptionKey.equals(prf(3, 1))).to.equal(true);
    expect(rtcp.authenticationKey.equals(prf(4, 2).subarray(0, 20))).to.equal(true);
    expect(rtcp.salt.equals(prf(5, 1).subarray(0, 14))).to.equal(true);
    expect(rtcp.encryptionKey.equals(rtp.encryptionKey)).to.equal(false);
  });

  it('rejects master keys and salts of the wrong length', () => {
    expect(() => deriveSessionKeys(SRTP_SUITES.AES_CM_128_HMAC_SHA1_80, Buffer.alloc(15), masterSalt)).to.throw(RangeError, /master key/);
    expect(() => deriveSessionKeys(SRTP_SUITES.AES_CM_128_HMAC_SHA1_80, masterKey, Buffer.alloc(16))).to.throw(RangeError, /master salt/);
    expect(() => deriveSessionKey(masterKey, masterSalt, 256, 16)).to.throw(RangeError);
  });
});
