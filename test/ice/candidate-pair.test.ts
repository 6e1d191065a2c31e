import { expect } from 'chai';
import { StateError } from '../../lib/base/errors.js';
import { computePriority, type Candidate } from '../../lib/ice/candidate.js';
import { CandidatePair, pairPriority, pairPriorityFor } from '../../lib/ice/candidate-pair.js';

function cand(type: Candidate['type'], address: string, port: number, component = 1, localPreference = 65535): Candidate {
  return { foundation: type, component, transport: 'udp', priority: computePriority(type, localPreference, component), address, port, type };
}

describe('candidate priorities (RFC 8445 §5.1.2.1)', () => {
  it('computes the formula for each type with the recommended type preferences', () => {
    expect(computePriority('host', 65535, 1)).to.equal(2130706431); // 126*2^24 + 65535*2^8 + 255
    expect(computePriority('host', 65535, 2)).to.equal(2130706430);
    expect(computePriority('prflx', 65535, 2)).to.equal(1862270974); // 110*2^24 + 65535*2^8 + 254
    expect(computePriority('srflx', 65535, 1)).to.equal(1694498815); // 100*2^24 + ...
    expect(computePriority('relay', 65535, 1)).to.equal(16777215); // 0*2^24 + ...
    expect(computePriority('relay', 0, 256)).to.equal(0);
  });
});

describe('pairPriority (RFC 8445 §6.1.2.3)', () => {
  it('is 2^32*MIN(G,D) + 2*MAX(G,D) + (G>D?1:0) as bigint', () => {
    const host = 2130706431;
    const srflx = 1694498815;
    expect(pairPriority(host, srflx)).to.equal(7277816997797167103n); // G > D: +1
    expect(pairPriority(srflx, host)).to.equal(7277816997797167102n); // G < D
    expect(pairPriority(host, host)).to.equal(9151314442783293438n); // equal: no +1
    expect(pairPriority(16777215, 2130706430)).to.equal(72057594004373500n);
  });

  it('handles the 32-bit extremes exactly (beyond Number precision)', () => {
    expect(pairPriority(0xffffffff, 0xffffffff)).to.equal(18446744078004518910n);
    expect(pairPriority(0xffffffff, 0)).to.equal(8589934591n);
    expect(pairPriority(0, 0xffffffff)).to.equal(8589934590n);
    expect(pairPriority(0, 0)).to.equal(0n);
  });

  it('rejects priorities outside 0..2^32-1', () => {
    expect(() => pairPriority(-1, 0)).to.throw(RangeError);
    expect(() => pairPriority(2 ** 32, 0)).to.throw(RangeError);
    expect(() => pairPriority(1.5, 0)).to.throw(RangeError);
  });

  it('gives both agents the same priority for the same pair (roles swap G and D)', () => {
    const a = cand('host', '10.0.0.1', 1000);
    const b = cand('srflx', '192.0.2.1', 2000);
    // Agent A controlling: G = A's candidate. Agent B controlled sees the same pair from its side.
    expect(pairPriorityFor('controlling', a, b)).to.equal(7277816997797167103n);
    expect(pairPriorityFor('controlled', b, a)).to.equal(7277816997797167103n);
    // Roles swapped: B controlling.
    expect(pairPriorityFor('controlled', a, b)).to.equal(7277816997797167102n);
    expect(pairPriorityFor('controlling', b, a)).to.equal(7277816997797167102n);
  });
});

describe('CandidatePair state machine', () => {
  const l = cand('host', '10.0.0.1', 1000);
  const r = cand('host', '10.0.0.2', 2000);

  it('follows frozen -> waiting -> in-progress -> succeeded', () => {
    const p = new CandidatePair(l, r, 'controlling');
    expect(p.state).to.equal('frozen');
    p.transition('waiting');
    p.transition('in-progress');
    p.transition('succeeded');
    expect(p.state).to.equal('succeeded');
    expect(p.foundation).to.equal('host:host');
  });

  it('rejects illegal transitions with StateError', () => {
    const p = new CandidatePair(l, r, 'controlling');
    expect(() => p.transition('in-progress')).to.throw(StateError);
    expect(() => p.transition('succeeded')).to.throw(StateError);
    expect(() => p.transition('failed')).to.throw(StateError);
    p.transition('waiting');
    expect(() => p.transition('frozen')).to.throw(StateError);
    p.transition('in-progress');
    p.transition('failed');
    expect(() => p.transition('succeeded')).to.throw(StateError);
    p.transition('waiting'); // triggered check on a failed pair (§7.3.1.4)
    p.transition('in-progress');
    p.transition('succeeded');
    expect(() => p.transition('waiting')).to.throw(StateError);
    expect(() => p.transition('failed')).to.throw(StateError);
  });

  it('refuses to pair different components', () => {
    expect(() => new CandidatePair(l, cand('host', '10.0.0.2', 2001, 2), 'controlling')).to.throw(RangeError);
  });
});
