import { expect } from 'chai';
import { ParseError } from '../../lib/base/errors.js';
import { computePriority, TYPE_PREFERENCE, type Candidate } from '../../lib/ice/candidate.js';
import {
  ALT_EXTENSION,
  alternatesToCandidates,
  alternateToCandidates,
  candidatesToAlternates,
  checkDerivedFrom,
  formatAltAttribute,
  formatQvalue,
  parseAltAttribute,
  parseAltAttributes,
  parseQvalue,
  priorityToQvalue,
  qvalueToPriority,
  type AltCandidate,
} from '../../lib/sdp/alt-attributes.js';
import { formatCandidateAttribute, parseCandidateAttribute } from '../../lib/sdp/ice-attributes.js';
import { altLines, DRAFT_FIGURES, EXCHANGES, figure, readFigure } from '../fixtures/draft/figures.js';

function expectParseError(fn: () => unknown, where: string): ParseError {
  try {
    fn();
  } catch (e) {
    expect(e, String(e)).to.be.instanceOf(ParseError);
    expect((e as ParseError).where, (e as Error).message).to.equal(where);
    expect((e as Error).message).to.include(where === 'alt' ? 'alt' : where.split('-').pop()!);
    return e as ParseError;
  }
  expect.fail(`expected a ParseError at ${where}`);
}

/** The draft's order of preference: qvalue, then peer derived, then document order (§2, §5.5). */
function draftOrder(alternates: AltCandidate[]): string[] {
  return alternates
    .map((alt, index) => ({ alt, index }))
    .sort((a, b) => b.alt.qvalue - a.alt.qvalue || Number(b.alt.derivedFrom !== null) - Number(a.alt.derivedFrom !== null) || a.index - b.index)
    .map(({ alt }) => alt.id);
}

/** Through the wire: each candidate written as RFC 8839 text and parsed back. */
function viaCandidateLines(candidates: Candidate[]): Candidate[] {
  return candidates.map((c) => parseCandidateAttribute(`a=${formatCandidateAttribute(c)}`));
}

describe('sdp/alt-attributes', () => {
  describe('draft-rosenberg-sipping-ice-01 §9 figures', () => {
    for (const fig of DRAFT_FIGURES) {
      describe(`Figure ${fig.figure} (${fig.caption})`, () => {
        const lines = altLines(readFigure(fig.figure));

        it('parses every a=alt line into the values read from the draft', () => {
          const { alternates } = parseAltAttributes(lines);
          expect(alternates).to.deep.equal(fig.alternates);
        });

        it('reports exactly the deviations found in the figure', () => {
          const { warnings } = parseAltAttributes(lines);
          expect(warnings.map((w) => [w.line, w.code])).to.deep.equal(fig.deviations);
        });

        it('strict writer output re-parses with zero warnings (and equals the figure where it was well formed)', () => {
          const { alternates } = parseAltAttributes(lines);
          const written = alternates.map(formatAltAttribute);
          const reread = parseAltAttributes(written);
          expect(reread.warnings).to.deep.equal([]);
          expect(reread.alternates).to.deep.equal(fig.alternates);
          written.forEach((line, i) => {
            if (!fig.deviations.some(([l]) => l === i)) expect(line).to.equal(lines[i]);
          });
        });

        it('alt → a=candidate → alt keeps id, priority order, derived-from, credentials and RTCP', () => {
          const candidates = viaCandidateLines(alternatesToCandidates(fig.alternates));
          const { alternates, skipped } = candidatesToAlternates(candidates);
          expect(skipped).to.deep.equal([]);
          expect(alternates).to.deep.equal(fig.alternates);
          // Priority order of the RTP candidates is the draft's order of preference.
          const byPriority = candidates
            .filter((c) => c.component === 1)
            .sort((a, b) => b.priority - a.priority)
            .map((c) => c.extensions!.find(([n]) => n === ALT_EXTENSION.id)![1]);
          expect(byPriority).to.deep.equal(draftOrder(fig.alternates));
          // Every alternate has an RTCP (component 2) candidate at its explicit or implied address.
          for (const alt of fig.alternates) {
            const rtcp = candidates.find((c) => c.component === 2 && c.extensions!.some(([n, v]) => n === ALT_EXTENSION.id && v === alt.id))!;
            expect([rtcp.address, rtcp.port]).to.deep.equal(alt.rtcpAddress !== undefined ? [alt.rtcpAddress, alt.rtcpPort] : [alt.address, alt.port + 1]);
          }
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

    it('Figure 5, alternate 2: the RTCP pair becomes a component 2 candidate with the same foundation', () => {
      const [rtp, rtcp] = alternateToCandidates(figure(5).alternates[1]!, 1);
      expect(rtp).to.include({ component: 1, address: '192.0.2.1', port: 9988, foundation: '2' });
      expect(rtcp).to.include({ component: 2, address: '192.0.2.1', port: 9990, foundation: '2' });
      expect(rtcp!.extensions!.map(([n]) => n)).to.not.include(ALT_EXTENSION.rtcp);
      expect(rtp!.priority - rtcp!.priority).to.equal(1);
    });

    it('Figure 8, alternate 7: derived-from becomes a prflx candidate with alt-derived-from and the credentials', () => {
      const [rtp, rtcp] = alternateToCandidates(figure(8).alternates[3]!, 3);
      expect(formatCandidateAttribute(rtp!)).to.equal(
        `candidate:7 1 UDP ${rtp!.priority} 192.0.2.10 5556 typ prflx raddr 0.0.0.0 rport 9 alt-id 7 alt-q 0.4 alt-derived-from 3 alt-username peer3 alt-password as88ml`,
      );
      expect(formatCandidateAttribute(rtcp!)).to.match(/ 192\.0\.2\.10 5557 typ prflx .* alt-rtcp implied$/);
      // Same qvalue as alternate 6, but peer derived wins the tie (draft §5.5, §9.1.2).
      const [six] = alternateToCandidates(figure(8).alternates[2]!, 2);
      expect(rtp!.priority).to.be.greaterThan(six!.priority);
      expect(six!.type).to.equal('host');
      expect(six!.relatedAddress).to.equal(undefined);
    });

    it('checkDerivedFrom flags Figure 19 alternate 7 (derived from 2, qvalue 0.5, but written 0.4)', () => {
      const warnings = checkDerivedFrom(figure(19).alternates, figure(16).alternates);
      expect(warnings.map((w) => [w.line, w.code, w.field])).to.deep.equal([[3, 'derived-from-qvalue', 'qvalue']]);
      expect(warnings[0]!.message).to.include('0.5');
    });

    for (const [answer, offer] of EXCHANGES.filter(([a]) => a !== 19)) {
      it(`checkDerivedFrom finds Figure ${answer} consistent with Figure ${offer}`, () => {
        expect(checkDerivedFrom(figure(answer).alternates, figure(offer).alternates)).to.deep.equal([]);
      });
    }

    it('checkDerivedFrom flags a derived-from id the peer never sent', () => {
      const warnings = checkDerivedFrom(figure(8).alternates, figure(16).alternates.slice(0, 2));
      expect(warnings.map((w) => w.code)).to.deep.equal(['derived-from-unknown']);
    });
  });

  describe('parseAltAttribute', () => {
    it('accepts a=alt:…, alt:… and the bare value', () => {
      for (const text of ['a=alt:1 1.0 : user 9kksj== 10.0.1.1 1010', 'alt:1 1.0 : user 9kksj== 10.0.1.1 1010', '1 1.0 : user 9kksj== 10.0.1.1 1010\r\n']) {
        const { alternate, warnings } = parseAltAttribute(text);
        expect(alternate).to.deep.equal(figure(5).alternates[0]);
        expect(warnings).to.deep.equal([]);
      }
    });

    it('reads IPv6 and FQDN addresses, and bracketed IPv6 joined to its port (flagged)', () => {
      expect(parseAltAttribute('alt:a.b-c 0.125 x-1 u p 2001:db8::1 5000 rtcp.example.com 5003')).to.deep.equal({
        alternate: { id: 'a.b-c', qvalue: 0.125, derivedFrom: 'x-1', username: 'u', password: 'p', address: '2001:db8::1', port: 5000, rtcpAddress: 'rtcp.example.com', rtcpPort: 5003 },
        warnings: [],
      });
      const joined = parseAltAttribute('alt:1 1 : u p [2001:db8::1]:5000 10.0.0.1:5001');
      expect(joined.alternate).to.include({ address: '2001:db8::1', port: 5000, rtcpAddress: '10.0.0.1', rtcpPort: 5001 });
      expect(joined.warnings.map((w) => [w.code, w.field])).to.deep.equal([
        ['address-port-joined', 'address'],
        ['address-port-joined', 'rtcp-address'],
      ]);
    });

    it('accepts runs of white space with an extra-whitespace warning', () => {
      const { alternate, warnings } = parseAltAttribute('a=alt:1  1.0\t: user 9kksj== 10.0.1.1 1010 ');
      expect(alternate).to.deep.equal(figure(5).alternates[0]);
      expect(warnings.map((w) => w.code)).to.deep.equal(['extra-whitespace']);
    });

    it('does not take credentials that look like addresses for missing fields when the line is complete', () => {
      expect(parseAltAttribute('alt:1 0.5 : u pass:123 10.0.0.1 5000').alternate).to.include({ password: 'pass:123', address: '10.0.0.1', port: 5000 });
      expect(parseAltAttribute('alt:1 0.5 : 10.0.0.9 1.2.3.4 10.0.0.1 5000').alternate).to.include({ username: '10.0.0.9', password: '1.2.3.4' });
    });

    it('accepts every RFC 3261 qvalue form', () => {
      const table: Array<[string, number]> = [['0', 0], ['0.', 0], ['0.5', 0.5], ['0.05', 0.05], ['0.999', 0.999], ['1', 1], ['1.', 1], ['1.000', 1]];
      for (const [text, q] of table) expect(parseQvalue(text), text).to.equal(q);
    });

    describe('throws ParseError naming the field', () => {
      const table: Array<[string, string, string]> = [
        ['qvalue 1.5', 'alt:1 1.5 : user pw 10.0.1.1 1010', 'qvalue'],
        ['qvalue with four decimals', 'alt:1 0.8000 : user pw 10.0.1.1 1010', 'qvalue'],
        ['qvalue 1.1', 'alt:1 1.1 : user pw 10.0.1.1 1010', 'qvalue'],
        ['qvalue not a number', 'alt:1 high : user pw 10.0.1.1 1010', 'qvalue'],
        ['negative qvalue', 'alt:1 -0.5 : user pw 10.0.1.1 1010', 'qvalue'],
        ['port 70000', 'alt:1 0.5 : user pw 10.0.1.1 70000', 'port'],
        ['port 0', 'alt:1 0.5 : user pw 10.0.1.1 0', 'port'],
        ['port not a number', 'alt:1 0.5 : user pw 10.0.1.1 http', 'port'],
        ['joined port 70000', 'alt:1 0.5 : user pw 10.0.1.1:70000', 'port'],
        ['rtcp-port 70000', 'alt:1 0.5 : user pw 10.0.1.1 1010 10.0.1.1 70000', 'rtcp-port'],
        ['rtcp-address without rtcp-port', 'alt:1 0.5 : user pw 10.0.1.1 1010 10.0.1.1', 'rtcp-port'],
        ['bad rtcp-address', 'alt:1 0.5 : user pw 10.0.1.1 1010 10.0.1.300 1011', 'rtcp-address'],
        ['a field after rtcp-port', 'alt:1 0.5 : user pw 10.0.1.1 1010 10.0.1.1 1011 extra', 'rtcp-port'],
        ['empty value', 'alt:', 'id'],
        ['id not a token', 'alt:a/b 0.5 : user pw 10.0.1.1 1010', 'id'],
        ['missing qvalue', 'alt:1', 'qvalue'],
        ['missing derived-from', 'alt:1 0.5', 'derived-from'],
        ['derived-from neither ":" nor an id', 'alt:1 0.5 ;3 user pw 10.0.1.1 1010', 'derived-from'],
        ['missing username and password', 'alt:1 0.5 : 10.0.1.1 1010', 'username'],
        ['missing password', 'alt:1 0.5 : user 10.0.1.1 1010', 'password'],
        ['missing password (joined address)', 'alt:1 0.5 : user 10.0.2.88:6584', 'password'],
        ['missing password before an RTCP pair', 'alt:2 0.8 : user1 192.0.2.1 9988 192.0.2.1 9990', 'password'],
        ['missing address', 'alt:1 0.5 : user pw', 'address'],
        ['missing port', 'alt:1 0.5 : user pw 10.0.1.1', 'port'],
        ['bad address', 'alt:1 0.5 : user pw 999.0.1.1 1010', 'address'],
        ['control character in password', 'alt:1 0.5 : user p\u0001w 10.0.1.1 1010', 'password'],
        ['another attribute name', 'a=alt :1 0.5 : user pw 10.0.1.1 1010', 'alt'],
      ];
      for (const [what, line, where] of table) {
        it(`${what} → ${where}`, () => {
          expectParseError(() => parseAltAttribute(line), where);
        });
      }
    });
  });

  describe('parseAltAttributes', () => {
    it('throws on a repeated id (derived-from would be ambiguous)', () => {
      const e = expectParseError(() => parseAltAttributes(['alt:1 1.0 : u p 10.0.1.1 1010', 'alt:1 0.5 : u p 10.0.1.2 1010']), 'id');
      expect(e.message).to.match(/^alt line 1: duplicate id/);
    });

    it('names the line of a broken entry', () => {
      const e = expectParseError(() => parseAltAttributes(['alt:1 1.0 : u p 10.0.1.1 1010', 'alt:2 1.5 : u p 10.0.1.2 1010']), 'qvalue');
      expect(e.message).to.match(/^alt line 1: qvalue "1\.5" not in 0\.\.1 \(at qvalue\)$/);
    });

    it('warns on a repeated transport address (§7 MUST differ) and keeps both', () => {
      const { alternates, warnings } = parseAltAttributes(['alt:1 1.0 : u p 10.0.1.1 1010', 'alt:2 0.5 : u p 10.0.1.1 1010']);
      expect(alternates).to.have.length(2);
      expect(warnings.map((w) => [w.line, w.code])).to.deep.equal([[1, 'duplicate-address']]);
    });
  });

  describe('formatAltAttribute', () => {
    const good: AltCandidate = { id: '1', qvalue: 1, derivedFrom: null, username: 'user', password: '9kksj==', address: '10.0.1.1', port: 1010 };

    it('writes the §7 grammar with one SP between fields and before the RTCP pair', () => {
      expect(formatAltAttribute(good)).to.equal('alt:1 1.0 : user 9kksj== 10.0.1.1 1010');
      expect(formatAltAttribute({ ...good, qvalue: 0.125, derivedFrom: '23', rtcpAddress: '192.0.2.1', rtcpPort: 9990 })).to.equal('alt:1 0.125 23 user 9kksj== 10.0.1.1 1010 192.0.2.1 9990');
    });

    const invalid: Array<[string, Partial<Record<keyof AltCandidate, unknown>>, string]> = [
      ['qvalue 1.5', { qvalue: 1.5 }, 'qvalue'],
      ['qvalue with four decimals', { qvalue: 0.1234 }, 'qvalue'],
      ['port 70000', { port: 70000 }, 'port'],
      ['rtcp-port 70000', { rtcpAddress: '10.0.1.1', rtcpPort: 70000 }, 'rtcp-port'],
      ['rtcp-port without rtcp-address', { rtcpPort: 1011 }, 'rtcp-address'],
      ['missing password', { password: undefined }, 'password'],
      ['username with a space', { username: 'a b' }, 'username'],
      ['missing address', { address: undefined }, 'address'],
      ['id not a token', { id: 'a b' }, 'id'],
      ['derived-from not an id', { derivedFrom: ':' }, 'derived-from'],
    ];
    for (const [what, change, field] of invalid) {
      it(`refuses ${what} with a RangeError naming ${field}`, () => {
        expect(() => formatAltAttribute({ ...good, ...change } as AltCandidate)).to.throw(RangeError, `alt ${field}:`);
      });
    }
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

    it('writes qvalues canonically', () => {
      expect([1, 0.8, 0.5, 0.4, 0.125, 0.05, 0].map(formatQvalue)).to.deep.equal(['1.0', '0.8', '0.5', '0.4', '0.125', '0.05', '0.0']);
      expect(() => formatQvalue(1.5)).to.throw(RangeError);
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
