/**
 * rtp/send-pacer: one clock timer for every RTP sender (issue 14). Timers fire at or after their
 * due time and in order, many senders share one clock timer, cancelled ones never run, and nothing
 * stays armed on the clock once no sender is.
 */
import { expect } from 'chai';
import { ManualClock, SystemClock } from '../../lib/base/clock.js';
import { SendPacer } from '../../lib/rtp/send-pacer.js';
import { RtpSession } from '../../lib/rtp/session.js';

/** A ManualClock that counts the timers set on it. */
class CountingClock extends ManualClock {
  set = 0;
  override setTimer(delayMs: number, fn: () => void) {
    this.set++;
    return super.setTimer(delayMs, fn);
  }
}

describe('rtp/send-pacer: one timer wheel for the RTP senders', () => {
  it('fires each timer once, not before its due time, in due order', () => {
    const clock = new ManualClock();
    const pacer = new SendPacer(clock);
    const fired: Array<[string, number]> = [];
    const dues: Array<[string, number]> = [['a', 20], ['b', 5.2], ['c', 20], ['d', 499], ['e', 0]];
    for (const [name, due] of dues) pacer.timer(() => fired.push([name, clock.now()])).at(due);
    for (let t = 0; t < 600; t++) clock.advance(1);
    expect(fired.map((f) => f[0])).to.deep.equal(['e', 'b', 'a', 'c', 'd']);
    for (const [name, at] of fired) expect(at, name).to.be.at.least(dues.find((d) => d[0] === name)![1]);
    expect(fired.find((f) => f[0] === 'b')![1], 'rounded up to the next ms, not later').to.equal(6);
    expect(pacer.armed).to.equal(0);
  });

  it('1,000 senders every 20 ms use one clock timer per slot, not one per sender', () => {
    const clock = new CountingClock();
    const pacer = new SendPacer(clock);
    let sent = 0;
    const timers = Array.from({ length: 1000 }, (_, i) => {
      const start = (i % 20) + 0.5; // spread over the 20 ms like calls set up at different times
      let k = 0;
      const t = pacer.timer(() => {
        sent++;
        t.at(start + ++k * 20);
      });
      t.at(start);
      return t;
    });
    clock.set = 0;
    clock.advance(1000);
    expect(sent, 'each sender about 50 times in 1 s').to.be.within(49_000, 51_000);
    expect(clock.set, 'at most one clock timer per ms').to.be.at.most(1001);
    for (const t of timers) t.cancel();
    expect(pacer.armed).to.equal(0);
    expect(clock.pendingCount, 'no clock timer left once nothing is armed').to.equal(0);
  });

  it('a cancelled timer never runs, even when cancelled by another of its slot; re-arming moves it', () => {
    const clock = new ManualClock();
    const pacer = new SendPacer(clock);
    const fired: string[] = [];
    const b = pacer.timer(() => fired.push('b'));
    const a = pacer.timer(() => {
      fired.push('a');
      b.cancel();
    });
    a.at(10);
    b.at(10);
    const c = pacer.timer(() => fired.push(`c@${clock.now()}`));
    c.at(10);
    c.at(30);
    clock.advance(50);
    expect(fired).to.deep.equal(['a', 'c@30']);
  });

  it('a due time beyond the wheel gets a clock timer of its own and still fires on time', () => {
    const clock = new ManualClock();
    const pacer = new SendPacer(clock);
    const fired: number[] = [];
    pacer.timer(() => fired.push(clock.now())).at(5000);
    expect(pacer.armed).to.equal(1);
    clock.advance(4999);
    expect(fired).to.deep.equal([]);
    clock.advance(1);
    expect(fired).to.deep.equal([5000]);
    expect(clock.pendingCount).to.equal(0);
  });

  it('a throwing function does not stop the others of its slot', () => {
    const clock = new ManualClock();
    const pacer = new SendPacer(clock);
    const fired: string[] = [];
    pacer.timer(() => { throw new Error('boom'); }).at(3);
    pacer.timer(() => fired.push('after')).at(3);
    clock.advance(5);
    expect(fired).to.deep.equal(['after']);
  });

  it('a stopped RtpSession leaves no timer on the system clock (a process can exit)', async () => {
    const clock = new SystemClock();
    const session = new RtpSession({ codec: 'PCMU', payloadType: 0, clock, sendRtp: () => undefined, sendRtcp: () => undefined, source: { ended: false, read: (n) => new Int16Array(n) } });
    session.start();
    await new Promise((r) => setTimeout(r, 70));
    expect(session.stats.packetsSent).to.be.within(3, 6);
    session.stop();
    const timers = (clock as unknown as { timers: Map<number, unknown> }).timers;
    expect(timers.size, 'RTCP and packet timers gone').to.equal(0);
  });
});
