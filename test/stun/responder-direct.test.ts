/**
 * The direct Binding responder encoding and its helpers (issue 14): encodeSuccessResponse writes
 * one Buffer of the final size and must give the bytes the general encoder gives; the length-patched
 * HMAC and CRC-32 read the received bytes as if the length field were adjusted; the IP byte cache
 * is bounded.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { createHmac } from 'node:crypto';
import { HmacSha1Key } from '../../lib/base/hmac-sha1.js';
import { canonicalIp } from '../../lib/base/address.js';
import { IP_BYTES_CACHE_SIZE, bytesToIp, ipBytesCacheSize, ipBytesCached, ipToBytes } from '../../lib/stun/attributes.js';
import { shortTermKey, verifyFingerprint, verifyMessageIntegrity } from '../../lib/stun/integrity.js';
import { StunAttr, StunMessage, StunMethod, crc32, crc32Patched16 } from '../../lib/stun/message.js';
import { buildCheckRequest, encodeSuccessResponse, judgeIncomingCheck } from '../../lib/ice/connectivity-check.js';

/** The success response as the general encoder writes it (what encodeSuccessResponse did before). */
function reference(request: StunMessage, source: { address: string; port: number }, pwd: string): Buffer {
  const res = new StunMessage({ method: request.method, messageClass: 'success', transactionId: request.transactionId });
  res.addXorAddress(StunAttr.XOR_MAPPED_ADDRESS, source);
  return res.encode({ integrityKey: shortTermKey(pwd), fingerprint: true });
}

/** `data` with the big-endian u16 at `at` replaced, as a copy. */
function patched(data: Uint8Array, end: number, at: number, value: number): Buffer {
  const copy = Buffer.from(data.subarray(0, end));
  copy.writeUInt16BE(value, at);
  return copy;
}

const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'));
const ipv6 = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => bytesToIp(b));
/** Text forms that are not canonical (upper case, leading zeros, no `::`) must encode the same. */
const ipv6Long = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) =>
  Array.from({ length: 8 }, (_, i) => ((b[2 * i]! << 8) | b[2 * i + 1]!).toString(16).padStart(4, '0').toUpperCase()).join(':'));

describe('stun: direct success response and length-patched integrity', () => {
  it('encodeSuccessResponse gives the general encoder\'s bytes for any transaction ID, method, source and password', () => {
    fc.assert(fc.property(
      fc.uint8Array({ minLength: 12, maxLength: 12 }), fc.nat(0xfff), fc.oneof(ipv4, ipv6, ipv6Long), fc.nat(65535),
      fc.string({ minLength: 0, maxLength: 80 }),
      (tid, method, address, port, pwd) => {
        const request = new StunMessage({ method, messageClass: 'request', transactionId: Buffer.from(tid) });
        const source = { address, port };
        const direct = encodeSuccessResponse(request, source, pwd);
        expect(direct.toString('hex')).to.equal(reference(request, source, pwd).toString('hex'));
        // And it reads back: the source, integrity with the password, FINGERPRINT.
        const back = StunMessage.decode(direct);
        expect(back.messageClass).to.equal('success');
        expect(back.getXorMappedAddress()).to.deep.include({ address: canonicalIp(address), port });
        expect(verifyFingerprint(back) && verifyMessageIntegrity(back, shortTermKey(pwd))).to.equal(true);
      },
    ), { numRuns: 500 });
  });

  it('encodeSuccessResponse answers a decoded check like the general encoder, for IPv4 and IPv6 sources', () => {
    const pwd = 'responderPassword012345';
    const bytes = buildCheckRequest({ localUfrag: 'R', remoteUfrag: 'L', priority: 100, role: 'controlled', tieBreaker: 9n })
      .encode({ integrityKey: shortTermKey(pwd), fingerprint: true });
    const msg = StunMessage.decode(bytes);
    expect(judgeIncomingCheck(msg, { localUfrag: 'L', localPwd: pwd, remoteUfrag: 'R' }).kind).to.equal('accept');
    for (const source of [{ address: '192.0.2.1', port: 3478 }, { address: '2001:db8::1', port: 50000 }, { address: 'fe80::1%eth0', port: 1 }]) {
      const out = encodeSuccessResponse(msg, source, pwd);
      expect(out.equals(reference(msg, source, pwd))).to.equal(true);
      expect(out.length).to.equal(source.address.includes(':') ? 76 : 64);
    }
  });

  it('encodeSuccessResponse refuses what the general encoder refuses: a bad port, a non-IP source, an RFC 3489 transaction ID', () => {
    const request = new StunMessage({ method: StunMethod.Binding, messageClass: 'request' });
    expect(() => encodeSuccessResponse(request, { address: '192.0.2.1', port: 65536 }, 'pw')).to.throw(RangeError, /port 65536/);
    expect(() => encodeSuccessResponse(request, { address: '192.0.2.1', port: 1.5 }, 'pw')).to.throw(RangeError, /port/);
    expect(() => encodeSuccessResponse(request, { address: 'example.com', port: 1 }, 'pw')).to.throw(RangeError, /not an IP address/);
    const legacy = new StunMessage({ method: StunMethod.Binding, messageClass: 'request', legacy: true });
    expect(() => encodeSuccessResponse(legacy, { address: '192.0.2.1', port: 1 }, 'pw')).to.throw(RangeError, /transaction ID must be 12 bytes/);
  });

  it('ipBytesCached gives ipToBytes\' bytes, keeps at most IP_BYTES_CACHE_SIZE texts, and keeps none that do not parse', () => {
    expect(ipBytesCached('192.0.2.7').equals(ipToBytes('192.0.2.7'))).to.equal(true);
    expect(ipBytesCached('192.0.2.7')).to.equal(ipBytesCached('192.0.2.7'));
    for (let i = 0; i < 3 * IP_BYTES_CACHE_SIZE; i++) ipBytesCached(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    expect(ipBytesCacheSize()).to.equal(IP_BYTES_CACHE_SIZE);
    // Evicted texts are parsed again, equal in value.
    expect(ipBytesCached('10.0.0.0').equals(Buffer.from([10, 0, 0, 0]))).to.equal(true);
    const before = ipBytesCacheSize();
    for (const bad of ['', 'host.example', '1.2.3', '01.2.3.4', '::1::2']) expect(() => ipBytesCached(bad)).to.throw(RangeError);
    expect(ipBytesCacheSize()).to.equal(before);
  });

  it('macPatched16 equals createHmac over a copy with the u16 replaced, and leaves the input alone', () => {
    fc.assert(fc.property(
      fc.uint8Array({ maxLength: 100 }), fc.uint8Array({ minLength: 2, maxLength: 300 }), fc.nat(), fc.nat(), fc.nat(0xffff),
      (key, data, atSeed, endSeed, value) => {
        const at = atSeed % (data.length - 1);
        const end = at + 2 + (endSeed % (data.length - at - 1));
        const before = Buffer.from(data).toString('hex');
        const expected = createHmac('sha1', key).update(patched(data, end, at, value)).digest();
        const k = new HmacSha1Key(key);
        expect(k.macPatched16(data, end, at, value).equals(expected)).to.equal(true);
        const out = Buffer.alloc(24, 0xee);
        k.macPatched16(data, end, at, value, out, 2);
        expect(out.subarray(2, 22).equals(expected) && out[1] === 0xee && out[22] === 0xee).to.equal(true);
        expect(Buffer.from(data).toString('hex')).to.equal(before);
      },
    ), { numRuns: 300 });
  });

  it('crc32Patched16 equals crc32 over a copy with the u16 replaced (and crc32 is still zlib\'s)', () => {
    expect(crc32Patched16(Buffer.from('The quick brown fox jumps over the lazy dog'), 43, 0, 0x5468)).to.equal(0x414fa339);
    fc.assert(fc.property(fc.uint8Array({ minLength: 2, maxLength: 300 }), fc.nat(), fc.nat(), fc.nat(0xffff), (data, atSeed, endSeed, value) => {
      const at = atSeed % (data.length - 1);
      const end = at + 2 + (endSeed % (data.length - at - 1));
      expect(crc32Patched16(data, end, at, value)).to.equal(crc32(patched(data, end, at, value)));
    }), { numRuns: 300 });
  });

  it('shortTermKey still hands back one Buffer per password when calls alternate between passwords', () => {
    const a = shortTermKey('alternatingPasswordA0');
    const b = shortTermKey('alternatingPasswordB0');
    for (let i = 0; i < 5; i++) {
      expect(shortTermKey('alternatingPasswordA0')).to.equal(a);
      expect(shortTermKey('alternatingPasswordA0')).to.equal(a);
      expect(shortTermKey('alternatingPasswordB0')).to.equal(b);
    }
    expect(a.toString()).to.equal('alternatingPasswordA0');
  });
});
