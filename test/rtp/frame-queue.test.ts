import { expect } from 'chai';
import { FrameQueue } from '../../lib/rtp/frame-queue.js';

describe('rtp/FrameQueue (PCM FIFO source + sink)', () => {
  it('reads back what was written, in order, padded with silence when dry', () => {
    const q = new FrameQueue(1000);
    q.write(Int16Array.from([1, 2, 3]));
    q.write(Int16Array.from([4, 5]));
    expect([...q.read(4)]).to.deep.equal([1, 2, 3, 4]);
    expect([...q.read(3)]).to.deep.equal([5, 0, 0]);
    expect(q.length).to.equal(0);
  });

  it('stays within its bound by dropping the oldest samples', () => {
    const q = new FrameQueue(4);
    q.write(Int16Array.from([1, 2, 3]));
    q.write(Int16Array.from([4, 5, 6]));
    expect(q.length).to.equal(4);
    expect(q.dropped).to.equal(2);
    expect([...q.read(4)]).to.deep.equal([3, 4, 5, 6]);
  });

  it('ignores writes after close and refuses a bad bound', async () => {
    const q = new FrameQueue(10);
    await q.close();
    q.write(Int16Array.from([1]));
    expect(q.length).to.equal(0);
    expect(() => new FrameQueue(0)).to.throw(RangeError);
  });
});
