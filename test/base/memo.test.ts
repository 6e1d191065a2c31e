import { expect } from 'chai';
import { boundedMemo } from '../../lib/base/memo.js';

describe('boundedMemo', () => {
  it('computes each of the first `max` keys once, and keys past them every time, with the same results', () => {
    const calls: string[] = [];
    const upper = boundedMemo((k) => { calls.push(k); return k.toUpperCase(); }, 2);
    expect([upper('a'), upper('b'), upper('a'), upper('b')]).to.deep.equal(['A', 'B', 'A', 'B']);
    expect(calls).to.deep.equal(['a', 'b']);
    expect([upper('c'), upper('c'), upper('a')]).to.deep.equal(['C', 'C', 'A']);
    expect(calls).to.deep.equal(['a', 'b', 'c', 'c']); // 'c' came past the bound: never stored
  });
});
