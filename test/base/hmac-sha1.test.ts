/** lib/base/hmac-sha1.ts against RFC 2202 §3 test vectors and node:crypto createHmac. */
import { expect } from 'chai';
import fc from 'fast-check';
import { createHmac } from 'node:crypto';
import { HmacSha1Key, hmacSha1Key } from '../../lib/base/hmac-sha1.js';

const rep = (byte: number, n: number) => Buffer.alloc(n, byte);

// RFC 2202 §3, test cases 1-7 (HMAC-SHA-1).
const VECTORS: Array<[Buffer, Buffer, string]> = [
  [rep(0x0b, 20), Buffer.from('Hi There'), 'b617318655057264e28bc0b6fb378c8ef146be00'],
  [Buffer.from('Jefe'), Buffer.from('what do ya want for nothing?'), 'effcdf6ae5eb2fa2d27416d5f184df9c259a7c79'],
  [rep(0xaa, 20), rep(0xdd, 50), '125d7342b9ac11cd91a39af48aa17b4f63f175d3'],
  [Buffer.from('0102030405060708090a0b0c0d0e0f10111213141516171819', 'hex'), rep(0xcd, 50), '4c9007f4026250c6bc8414f9bf50c86c2d7235da'],
  [rep(0x0c, 20), Buffer.from('Test With Truncation'), '4c1a03424b55e07fe7f27be1d58bb9324a9a5a04'],
  [rep(0xaa, 80), Buffer.from('Test Using Larger Than Block-Size Key - Hash Key First'), 'aa4ae5e15272d00e95705637ce8a3b55ed402112'],
  [rep(0xaa, 80), Buffer.from('Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data'), 'e8e99d0f45237d786d6bbaa7965c7808bbff1a91'],
];

describe('HmacSha1Key (RFC 2104 with precomputed pad states)', () => {
  it('matches the RFC 2202 §3 HMAC-SHA-1 test vectors', () => {
    for (const [key, data, mac] of VECTORS) expect(new HmacSha1Key(key).mac([data]).toString('hex')).to.equal(mac);
  });

  it('equals createHmac for random keys (0..200 bytes) and messages (0..2000 bytes) in random pieces', () => {
    fc.assert(fc.property(
      fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ maxLength: 2000 }), fc.array(fc.nat(2000), { maxLength: 6 }),
      (key, data, cuts) => {
        const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
        const pieces: Uint8Array[] = [];
        let from = 0;
        for (const p of points) { pieces.push(data.subarray(from, p)); from = p; }
        pieces.push(data.subarray(from));
        const k = new HmacSha1Key(key);
        const expected = createHmac('sha1', key).update(data).digest();
        expect(k.mac(pieces).equals(expected)).to.equal(true);
        // A second use of the same key object gives the same answer (the states are not consumed).
        expect(k.mac([data]).equals(expected)).to.equal(true);
      },
    ), { numRuns: 300 });
  });

  it('writes into a given buffer at an offset', () => {
    const out = Buffer.alloc(30, 0xee);
    new HmacSha1Key(Buffer.from('Jefe')).mac([Buffer.from('what do ya want for nothing?')], out, 5);
    expect(out.subarray(5, 25).toString('hex')).to.equal(VECTORS[1]![2]);
    expect(out[4]).to.equal(0xee);
    expect(out[25]).to.equal(0xee);
  });

  it('hmacSha1Key caches one key object per key Buffer', () => {
    const key = Buffer.from('pw');
    expect(hmacSha1Key(key)).to.equal(hmacSha1Key(key));
  });
});
