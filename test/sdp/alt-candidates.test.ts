/**
 * Alternates through RFC 8839 `a=candidate` lines and back: lib/ice/alternate.ts writes the
 * candidates (with the `alt-*` extensions), lib/sdp/alt-candidates.ts reads them back.
 */
import { expect } from 'chai';
import type { Candidate } from '../../lib/ice/candidate.js';
import { ALT_EXTENSION, alternatesToCandidates, alternateToCandidates, type AltCandidate } from '../../lib/ice/alternate.js';
import { formatAltAttribute } from '../../lib/sdp/alt-attributes.js';
import { candidatesToAlternates } from '../../lib/sdp/alt-candidates.js';
import { formatCandidateAttribute, parseCandidateAttribute } from '../../lib/sdp/ice-attributes.js';
import { DRAFT_FIGURES, figure } from '../fixtures/draft/figures.js';
import { expectParseError } from '../helpers/parse-error.js';

/** Through the wire: each candidate written as RFC 8839 text and parsed back. */
function viaCandidateLines(candidates: Candidate[]): Candidate[] {
  return candidates.map((c) => parseCandidateAttribute(`a=${formatCandidateAttribute(c)}`));
}

describe('sdp/alt-candidates', () => {
  describe('draft-rosenberg-sipping-ice-01 §9 figures', () => {
    for (const fig of DRAFT_FIGURES) {
      describe(`Figure ${fig.figure} (${fig.caption})`, () => {
        it('alt → a=candidate → alt keeps id, qvalue, derived-from, credentials and RTCP', () => {
          const candidates = viaCandidateLines(alternatesToCandidates(fig.alternates));
          const { alternates, skipped } = candidatesToAlternates(candidates);
          expect(skipped).to.deep.equal([]);
          expect(alternates).to.deep.equal(fig.alternates);
        });

        it('keeps the qvalue in the priority even without the alt-q extension', () => {
          const candidates = alternatesToCandidates(fig.alternates).map((c) => ({
            ...c,
            extensions: c.extensions!.filter(([n]) => n !== ALT_EXTENSION.qvalue),
          }));
          const { alternates } = candidatesToAlternates(candidates);
          expect(alternates.map((a) => a.qvalue)).to.deep.equal(fig.alternates.map((a) => a.qvalue));
        });
      });
    }

    it('Figure 8, alternate 7: derived-from becomes a prflx candidate with alt-derived-from and the credentials', () => {
      const [rtp, rtcp] = alternateToCandidates(figure(8).alternates[3]!, 3);
      expect(formatCandidateAttribute(rtp!)).to.equal(
        `candidate:7 1 UDP ${rtp!.priority} 192.0.2.10 5556 typ prflx raddr 0.0.0.0 rport 9 alt-id 7 alt-q 0.4 alt-derived-from 3 alt-username peer3 alt-password as88ml`,
      );
      expect(formatCandidateAttribute(rtcp!)).to.match(/ 192\.0\.2\.10 5557 typ prflx .* alt-rtcp implied$/);
    });
  });

  describe('candidatesToAlternates from plain RFC 8839 candidates', () => {
    const ice = [
      'candidate:1 1 UDP 2130706431 10.0.1.1 8998 typ host',
      'candidate:1 2 UDP 2130706430 10.0.1.1 8999 typ host',
      'candidate:2 1 UDP 1694498815 192.0.2.3 45664 typ srflx raddr 10.0.1.1 rport 8998',
      'candidate:2 2 UDP 1694498814 192.0.2.3 45667 typ srflx raddr 10.0.1.1 rport 8999',
      'candidate:3 1 TCP 1518280447 10.0.1.1 9 typ host tcptype active',
      'candidate:9 2 UDP 16777214 192.0.2.99 3000 typ relay raddr 192.0.2.3 rport 45667',
    ].map(parseCandidateAttribute);

    it('takes credentials from the session, qvalue from the priority, and writes RTCP only when not port + 1', () => {
      const { alternates, skipped } = candidatesToAlternates(ice, { username: 'ufrag8', password: 'asd88fgpdd777uzjYhagZg' });
      expect(alternates.map(formatAltAttribute)).to.deep.equal([
        'alt:1 1.0 : ufrag8 asd88fgpdd777uzjYhagZg 10.0.1.1 8998',
        'alt:2 0.807 : ufrag8 asd88fgpdd777uzjYhagZg 192.0.2.3 45664 192.0.2.3 45667',
      ]);
      expect(skipped.map((c) => `${c.transport} ${c.component} ${c.address}`)).to.deep.equal(['tcp 1 10.0.1.1', 'udp 2 192.0.2.99']);
    });

    it('generates ids that do not collide with alt-id extensions', () => {
      const tagged: Candidate = { ...ice[0]!, port: 7000, extensions: [[ALT_EXTENSION.id, '1'], [ALT_EXTENSION.username, 'u'], [ALT_EXTENSION.password, 'p']] };
      const { alternates } = candidatesToAlternates([tagged, ice[2]!], { username: 'x', password: 'y' });
      expect(alternates.map((a) => [a.id, a.username])).to.deep.equal([
        ['1', 'u'],
        ['2', 'x'],
      ]);
    });

    it('throws ParseError naming username or password when there are no credentials', () => {
      expectParseError(() => candidatesToAlternates(ice), 'username');
      expectParseError(() => candidatesToAlternates(ice, { username: 'ufrag8' }), 'password');
      const badQ: Candidate = { ...ice[0]!, extensions: [[ALT_EXTENSION.qvalue, '1.5']] };
      expectParseError(() => candidatesToAlternates([badQ], { username: 'u', password: 'p' }), ALT_EXTENSION.qvalue);
    });
  });

  describe('credentials and ports with no a=alt form', () => {
    const host: Candidate = { foundation: '1', component: 1, transport: 'udp', priority: 2130706431, address: '10.0.1.1', port: 1010, type: 'host' };
    const table: Array<[what: string, candidate: Candidate, options: { username?: string; password?: string }, where: string]> = [
      ['NUL in the ice-pwd', host, { username: 'ufrag', password: 'pa\u0000ss' }, 'password'],
      ['a space in the ice-ufrag', host, { username: 'uf rag', password: 'pass' }, 'username'],
      ['a control character in alt-password', { ...host, extensions: [[ALT_EXTENSION.password, 'p\u0001w']] }, { username: 'u' }, 'password'],
      ['an empty alt-username', { ...host, extensions: [[ALT_EXTENSION.username, '']] }, { password: 'p' }, 'username'],
    ];
    for (const [what, candidate, options, where] of table) {
      it(`${what}: ParseError at ${where} (was a RangeError from the writer)`, () => {
        const e = expectParseError(() => candidatesToAlternates([candidate], options), where);
        expect(e.message).to.include('non-ws-string');
      });
    }

    it('a port 0 candidate is skipped, not written (draft §7 ports are 1..65535)', () => {
      const { alternates, skipped } = candidatesToAlternates([{ ...host, port: 0 }, { ...host, component: 2, port: 0 }, { ...host, address: '10.0.1.2' }], { username: 'u', password: 'p' });
      expect(alternates.map(formatAltAttribute)).to.deep.equal(['alt:1 1.0 : u p 10.0.1.2 1010']);
      expect(skipped.map((c) => `${c.component} ${c.port}`)).to.deep.equal(['1 0', '2 0']);
    });
  });

  it('an explicit RTCP pair at port + 1 survives alt → candidate → alt', () => {
    const alt: AltCandidate = { id: 'x_y', qvalue: 0.3, derivedFrom: null, username: 'u', password: 'p', address: '10.0.1.1', port: 1010, rtcpAddress: '10.0.1.1', rtcpPort: 1011 };
    const { alternates } = candidatesToAlternates(viaCandidateLines(alternatesToCandidates([alt])));
    expect(alternates).to.deep.equal([alt]);
  });

  it('ids that are not ice-chars get a hashed foundation and still round trip', () => {
    const alt: AltCandidate = { id: 'alt.1~a', qvalue: 0.3, derivedFrom: 'peer-2', username: 'u', password: 'p', address: '2001:db8::5', port: 1010 };
    const candidates = alternatesToCandidates([alt], { impliedRtcp: false });
    expect(candidates).to.have.length(1);
    expect(candidates[0]!.foundation).to.match(/^x[0-9a-f]{8}$/);
    expect(candidates[0]).to.include({ relatedAddress: '::', relatedPort: 9, type: 'prflx' });
    expect(candidatesToAlternates(viaCandidateLines(candidates)).alternates).to.deep.equal([alt]);
  });
});
