/**
 * The Binding responder's helpers (issue 14): the length-patched HMAC and CRC-32 read the received
 * bytes as if the length field were adjusted, without copies or views.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { createHmac } from 'node:crypto';
import { HmacSha1Key } from '../../lib/base/hmac-sha1.js';
import { shortTermKey } from '../../lib/stun/integrity.js';
import { crc32, crc32Patched16 } from '../../lib/stun/message.js';

/** `data` with the big-endian u16 at `at` replaced, as a copy. */
function patched(data: Uint8Array, end: number, at: number, value: number): Buffer {
  const copy = Buffer.from(data.subarray(0, end));
  copy.writeUInt16BE(value, at);
  return copy;
}

describe('stun: length-patched integrity and FINGERPRINT', () => {
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
