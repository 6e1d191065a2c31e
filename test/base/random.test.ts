/**
 * lib/base/random.ts: pooled CSPRNG values are used once each, cross pool refills, and look uniform
 * enough to catch a pool handed out twice or never refilled.
 */
import { expect } from 'chai';
import { randomBytesPooled, randomUint32, randomUint64 } from '../../lib/base/random.js';

describe('base: pooled random values', () => {
  it('20,000 32-bit values (past several 4 KiB refills) are distinct and spread over the range', () => {
    const seen = new Set<number>();
    let high = 0;
    for (let i = 0; i < 20000; i++) {
      const v = randomUint32();
      expect(Number.isInteger(v) && v >= 0 && v <= 0xffffffff).to.equal(true);
      seen.add(v);
      if (v >= 0x80000000) high++;
    }
    // A collision among 20,000 uniform 32-bit values has probability ~4.6%: allow a few, not a repeat of the pool.
    expect(seen.size).to.be.greaterThan(19990);
    expect(high).to.be.within(9500, 10500);
  });

  it('64-bit values and byte strings come from fresh bytes each time; larger than the pool is refused', () => {
    const a = randomUint64();
    const b = randomUint64();
    expect(a).to.not.equal(b);
    const x = randomBytesPooled(12);
    const y = randomBytesPooled(12);
    expect(x.length).to.equal(12);
    expect(x.equals(y)).to.equal(false);
    // A copy: later draws do not change what was handed out.
    const before = Buffer.from(x);
    for (let i = 0; i < 2000; i++) randomUint32();
    expect(x.equals(before)).to.equal(true);
    expect(() => randomBytesPooled(4097)).to.throw(RangeError);
  });
});
