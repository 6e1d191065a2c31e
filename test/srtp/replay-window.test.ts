import { expect } from 'chai';
import { ReplayWindow } from '../../lib/srtp/replay-window.js';

describe('srtp/replay-window (RFC 3711 §3.3.2)', () => {
  it('accepts each index once, in or out of order within the window', () => {
    const w = new ReplayWindow(64);
    expect(w.highest).to.equal(undefined);
    for (const i of [1000, 1002, 1001, 999, 1003]) {
      expect(w.check(i), `first ${i}`).to.equal('new');
      expect(w.accept(i)).to.equal(true);
      expect(w.check(i), `again ${i}`).to.equal('replayed');
      expect(w.accept(i)).to.equal(false);
    }
    expect(w.highest).to.equal(1003);
  });

  it('rejects indices that left the window as too old, keeps the edge', () => {
    const w = new ReplayWindow(64);
    w.accept(500);
    expect(w.check(500 - 63)).to.equal('new');
    expect(w.check(500 - 64)).to.equal('too-old');
    w.accept(600);
    expect(w.check(500)).to.equal('too-old');
    expect(w.check(537)).to.equal('new');
  });

  it('forgets old bits when sliding so a slot reused by a later index starts clear', () => {
    const w = new ReplayWindow(64);
    for (let i = 0; i < 64; i++) w.accept(i);
    w.accept(70); // slots of 65..69 cleared, 64 untouched before; all of 0..6 left the window
    for (let i = 64; i < 70; i++) expect(w.check(i), String(i)).to.equal('new');
    expect(w.check(7)).to.equal('replayed');
    expect(w.check(6)).to.equal('too-old');
    w.accept(70 + 1000);
    expect(w.check(70 + 1000 - 1)).to.equal('new');
  });

  it('a larger configured window accepts older packets once', () => {
    const w = new ReplayWindow(1024);
    w.accept(5000);
    expect(w.check(5000 - 1000)).to.equal('new');
    w.accept(5000 - 1000);
    expect(w.check(5000 - 1000)).to.equal('replayed');
    expect(w.check(5000 - 1024)).to.equal('too-old');
  });

  it('works near 2^48 (numbers stay exact)', () => {
    const w = new ReplayWindow(64);
    const top = 2 ** 48 - 1;
    w.accept(top - 1);
    w.accept(top);
    expect(w.check(top)).to.equal('replayed');
    expect(w.check(top - 2)).to.equal('new');
  });

  it('rejects sizes below 64, above 32768 or fractional', () => {
    for (const size of [63, 32769, 100.5, Number.NaN]) expect(() => new ReplayWindow(size), String(size)).to.throw(RangeError);
    expect(new ReplayWindow(100).size).to.equal(100);
  });
});
