/**
 * lib/cli/idle-compaction.ts: full collections only after a busy period followed by `idleMs` of
 * no calls, three per round, none while calls are up; and the memory comes back.
 */
import { expect } from 'chai';
import { startIdleCompaction } from '../../lib/cli/idle-compaction.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('cli/idle-compaction: a full GC once the answerer has been idle after calls', function () {
  this.timeout(10000);

  it('never collects in a process that carried no calls', async () => {
    const rss: number[] = [];
    const stop = startIdleCompaction({ busy: () => 0, idleMs: 50, pollMs: 10, roundGapMs: 10, onCompacted: (r) => rss.push(r) });
    await sleep(300);
    stop();
    expect(rss).to.deep.equal([]);
  });

  it('collects three times after calls end and the idle time passes, not while calls are up, and again after the next busy period', async () => {
    let calls = 1;
    const rounds: number[] = [];
    const stop = startIdleCompaction({ busy: () => calls, idleMs: 100, pollMs: 10, roundGapMs: 20, onCompacted: (r) => rounds.push(r) });
    await sleep(250);
    expect(rounds, 'nothing while a call is up').to.have.length(0);
    calls = 0;
    await sleep(60);
    expect(rounds, 'nothing before the idle time').to.have.length(0);
    await sleep(250);
    expect(rounds, 'one round of three').to.have.length(3);
    expect(rounds.every((r) => r > 0)).to.equal(true);
    await sleep(250);
    expect(rounds, 'idle without new calls: no second round').to.have.length(3);
    calls = 2;
    await sleep(50);
    calls = 0;
    await sleep(400);
    stop();
    expect(rounds, 'a second round after the second busy period').to.have.length(6);
  });

  it('gives back a heap of freed garbage (the heap used after the round is near where it started)', async () => {
    const before = process.memoryUsage().heapUsed;
    let held: unknown[] | undefined = Array.from({ length: 200_000 }, (_, i) => ({ i, s: `call-${i}` }));
    let calls = 1;
    const after: number[] = [];
    const stop = startIdleCompaction({ busy: () => calls, idleMs: 50, pollMs: 10, roundGapMs: 10, onCompacted: () => after.push(process.memoryUsage().heapUsed) });
    await sleep(50);
    expect(held.length).to.equal(200_000);
    held = undefined; // the calls ended: their state is garbage now
    calls = 0;
    await sleep(300);
    stop();
    expect(after).to.have.length(3);
    // 200,000 objects with strings are well over 10 MB; after the collections the heap is back within 5 MB.
    expect(after[2]! - before).to.be.lessThan(5 * 1048576);
  });
});
