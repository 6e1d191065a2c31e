/**
 * The draft's alternates as a model (lib/ice/alternate.ts): qvalue ranking as RFC 8445 priorities
 * (draft-rosenberg-sipping-ice-01 §5.3, §5.5, §2) and an alternate's candidates (RFC 8445 §5.1).
 */
import { expect } from 'chai';
import { computePriority, TYPE_PREFERENCE } from '../../lib/ice/candidate.js';
import {
  ALT_EXTENSION,
  alternatesToCandidates,
  alternateToCandidates,
  compareQvalues,
  priorityToQvalue,
  qvalueToPriority,
  toQvalueScale,
  type AltCandidate,
} from '../../lib/ice/alternate.js';
import { DRAFT_FIGURES, figure } from '../fixtures/draft/figures.js';

function draftOrder(alternates: AltCandidate[]): string[] {
  return alternates
    .map((alt, index) => ({ alt, index }))
    .sort((a, b) => b.alt.qvalue - a.alt.qvalue || Number(b.alt.derivedFrom !== null) - Number(a.alt.derivedFrom !== null) || a.index - b.index)
    .map(({ alt }) => alt.id);
}

describe('ice/alternate', () => {
  describe('draft-rosenberg-sipping-ice-01 §9 figures', () => {
    for (const fig of DRAFT_FIGURES) {
      it(`Figure ${fig.figure}: priority order of the RTP candidates is the draft's order of preference, with an RTCP candidate for each`, () => {
        const candidates = alternatesToCandidates(fig.alternates);
        const byPriority = candidates
          .filter((c) => c.component === 1)
          .sort((a, b) => b.priority - a.priority)
          .map((c) => c.extensions!.find(([n]) => n === ALT_EXTENSION.id)![1]);
        expect(byPriority).to.deep.equal(draftOrder(fig.alternates));
        for (const alt of fig.alternates) {
          const rtcp = candidates.find((c) => c.component === 2 && c.extensions!.some(([n, v]) => n === ALT_EXTENSION.id && v === alt.id))!;
          expect([rtcp.address, rtcp.port]).to.deep.equal(alt.rtcpAddress !== undefined ? [alt.rtcpAddress, alt.rtcpPort] : [alt.address, alt.port + 1]);
        }
      });
    }

    it('Figure 5, alternate 2: the RTCP pair becomes a component 2 candidate with the same foundation', () => {
      const [rtp, rtcp] = alternateToCandidates(figure(5).alternates[1]!, 1);
      expect(rtp).to.include({ component: 1, address: '192.0.2.1', port: 9988, foundation: '2' });
      expect(rtcp).to.include({ component: 2, address: '192.0.2.1', port: 9990, foundation: '2' });
      expect(rtcp!.extensions!.map(([n]) => n)).to.not.include(ALT_EXTENSION.rtcp);
      expect(rtp!.priority - rtcp!.priority).to.equal(1);
    });

    it('Figure 8, alternate 7: derived-from becomes a prflx candidate with alt-derived-from and the credentials', () => {
      const [rtp, rtcp] = alternateToCandidates(figure(8).alternates[3]!, 3);
      expect(rtp).to.include({ type: 'prflx', relatedAddress: '0.0.0.0', relatedPort: 9, address: '192.0.2.10', port: 5556 });
      expect(rtcp).to.include({ type: 'prflx', address: '192.0.2.10', port: 5557 });
      expect(rtp!.extensions).to.deep.include([ALT_EXTENSION.derivedFrom, '3']);
      // Same qvalue as alternate 6, but peer derived wins the tie (draft §5.5, §9.1.2).
      const [six] = alternateToCandidates(figure(8).alternates[2]!, 2);
      expect(rtp!.priority).to.be.greaterThan(six!.priority);
      expect(six!.type).to.equal('host');
      expect(six!.relatedAddress).to.equal(undefined);
    });
  });

  describe('qvalue ↔ priority', () => {
    it('puts the qvalue in the type preference and local preference (RFC 8445 §5.1.2.1)', () => {
      // preference = 1000 * 8192 + 4095 → type preference 125, local preference 4095.
      expect(qvalueToPriority(1)).to.equal(computePriority('host', 4095, 1, 125));
      expect(qvalueToPriority(1, { peerDerived: true, component: 2, index: 5 })).to.equal(computePriority('host', 4096 + 4090, 2, 125));
      expect(qvalueToPriority(0, { index: 10_000, component: 2 })).to.equal(254);
      expect(qvalueToPriority(0.4)).to.equal(computePriority('host', (400 * 8192 + 4095) % 65536, 1, Math.floor((400 * 8192 + 4095) / 65536)));
    });

    it('gives back every qvalue exactly', () => {
      for (let milli = 0; milli <= 1000; milli++) {
        const q = milli / 1000;
        for (const peerDerived of [false, true]) {
          for (const index of [0, 7, 4095]) expect(priorityToQvalue(qvalueToPriority(q, { peerDerived, index, component: 2 }))).to.equal(q);
        }
      }
    });

    it('orders by qvalue, then peer derived, then position', () => {
      expect(qvalueToPriority(0.401)).to.be.greaterThan(qvalueToPriority(0.4, { peerDerived: true }));
      expect(qvalueToPriority(0.4, { peerDerived: true, index: 9 })).to.be.greaterThan(qvalueToPriority(0.4, { index: 0 }));
      expect(qvalueToPriority(0.4, { index: 1 })).to.be.greaterThan(qvalueToPriority(0.4, { index: 2 }));
      expect(qvalueToPriority(0.4, { component: 1 })).to.be.greaterThan(qvalueToPriority(0.4, { component: 2 }));
    });

    it('maps RFC 8445 recommended priorities monotonically: host 1.0, prflx 0.88x, srflx 0.80x, relay 0.00x', () => {
      const table: Array<[number, number]> = [
        [computePriority('host', 65535, 1), 1],
        [computePriority('host', 0, 1), 1],
        [computePriority('prflx', 65535, 1), 0.887],
        [computePriority('prflx', 0, 2), 0.88],
        [computePriority('srflx', 65535, 1), 0.807],
        [computePriority('srflx', 0, 1), 0.8],
        [computePriority('relay', 65535, 1), 0.007],
        [computePriority('relay', 0, 1), 0],
      ];
      for (const [priority, q] of table) expect(priorityToQvalue(priority), String(priority)).to.equal(q);
      expect(TYPE_PREFERENCE.host).to.equal(126);
      let previous = -1;
      for (let p = 1; p < 2 ** 31; p += 9_999_991) {
        const q = priorityToQvalue(p);
        expect(q).to.be.at.least(previous);
        previous = q;
      }
    });
  });

  describe('integer ranks, read liberally (draft §7 qvalue: "relative preference … in this media stream")', () => {
    it('compares qvalues and ranks as numbers: 0..1 below every rank, "1" equal to 1.0, higher ranks higher', () => {
      const ascending = [0, 0.4, 0.999, 1, 2, 3, 10, 4294967295];
      for (let i = 0; i < ascending.length; i++) {
        for (let j = 0; j < ascending.length; j++) expect(Math.sign(compareQvalues(ascending[i]!, ascending[j]!)), `${ascending[i]} vs ${ascending[j]}`).to.equal(Math.sign(i - j));
      }
      expect(compareQvalues(1, 1.0)).to.equal(0);
    });

    const alt = (id: string, qvalue: number, derivedFrom: string | null = null): AltCandidate => ({ id, qvalue, derivedFrom, username: 'u', password: 'p', address: '10.0.1.1', port: 1000 + Number(id) * 2 });
    const scaleTable: Array<[what: string, qvalues: number[], scaled: number[]]> = [
      ['no ranks: unchanged', [1, 0.8, 0.4, 0], [1, 0.8, 0.4, 0]],
      ['ranks 2 over 1', [2, 1], [1, 0.5]],
      ['ranks written worst first', [1, 2, 3], [0.333, 0.667, 1]],
      ['ranks above 0..1 qvalues of the same m-section', [3, 2, 1, 0.5], [1, 0.75, 0.5, 0.25]],
      ['ties stay ties', [5, 5, 2, 0.4, 0.4], [1, 1, 0.667, 0.333, 0.333]],
      ['sparse ranks keep their order', [1000, 7, 2], [1, 0.667, 0.333]],
    ];
    for (const [what, qvalues, scaled] of scaleTable) {
      it(`toQvalueScale: ${what}`, () => {
        const list = qvalues.map((q, i) => alt(String(i + 1), q));
        const out = toQvalueScale(list);
        expect(out.map((a) => a.qvalue)).to.deep.equal(scaled);
        expect(list.map((a) => a.qvalue), 'input untouched').to.deep.equal(qvalues);
        expect(out.map(({ qvalue, ...rest }) => rest)).to.deep.equal(list.map(({ qvalue, ...rest }) => rest));
      });
    }

    it('toQvalueScale keeps the order of 1000 distinct values exactly', () => {
      const list = Array.from({ length: 1000 }, (_, i) => alt(String(i + 1), i + 2));
      const scaled = toQvalueScale(list).map((a) => a.qvalue);
      expect(new Set(scaled).size).to.equal(1000);
      for (let i = 1; i < scaled.length; i++) expect(scaled[i]!).to.be.greaterThan(scaled[i - 1]!);
    });

    it('alternatesToCandidates ranks by the ranks (then peer derived, then order) and writes alt-q on the 0..1 scale', () => {
      const list = [alt('1', 1), alt('2', 3), alt('3', 2), alt('4', 2, '9'), alt('5', 0.5)];
      const candidates = alternatesToCandidates(list, { impliedRtcp: false });
      const byPriority = [...candidates].sort((a, b) => b.priority - a.priority).map((c) => c.extensions!.find(([n]) => n === ALT_EXTENSION.id)![1]);
      expect(byPriority).to.deep.equal(['2', '4', '3', '1', '5']);
      expect(candidates.map((c) => c.extensions!.find(([n]) => n === ALT_EXTENSION.qvalue)![1])).to.deep.equal(['0.5', '1.0', '0.75', '0.75', '0.25']);
    });

    it('one alternate alone cannot be ranked: qvalueToPriority and alternateToCandidates refuse a rank', () => {
      expect(() => qvalueToPriority(2)).to.throw(RangeError, 'not in 0..1');
      expect(() => alternateToCandidates(alt('1', 2))).to.throw(RangeError);
    });
  });

  it('ids that are not ice-chars get a hashed foundation; a peer derived IPv6 alternate is prflx with raddr ::', () => {
    const alt: AltCandidate = { id: 'alt.1~a', qvalue: 0.3, derivedFrom: 'peer-2', username: 'u', password: 'p', address: '2001:db8::5', port: 1010 };
    const candidates = alternatesToCandidates([alt], { impliedRtcp: false });
    expect(candidates).to.have.length(1);
    expect(candidates[0]!.foundation).to.match(/^x[0-9a-f]{8}$/);
    expect(candidates[0]).to.include({ relatedAddress: '::', relatedPort: 9, type: 'prflx' });
  });
});
