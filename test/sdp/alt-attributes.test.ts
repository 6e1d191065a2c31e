/**
 * The `a=alt` syntax of draft-rosenberg-sipping-ice-01 §7 (lib/sdp/alt-attributes.ts) and the
 * qvalue spelling it uses (RFC 3261 §20.10, lib/base/qvalue.ts): the draft's §9 figures, then
 * tables of valid and invalid lines.
 */
import { expect } from 'chai';
import { ParseError } from '../../lib/base/errors.js';
import { formatQvalue, parseQvalue, qvalueText, readQvalue } from '../../lib/base/qvalue.js';
import type { AltCandidate } from '../../lib/ice/alternate.js';
import { checkDerivedFrom, formatAltAttribute, parseAltAttribute, parseAltAttributes } from '../../lib/sdp/alt-attributes.js';
import { altLines, DRAFT_FIGURES, EXCHANGES, figure, readFigure } from '../fixtures/draft/figures.js';
import { FULL_ALT_LINE, INVALID_ALT_LINES, TRUNCATED_AT_FIELD, VALID_ALT_LINES } from '../fixtures/alt/lines.js';
import { expectParseError } from '../helpers/parse-error.js';

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
      });
    }

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

    it('checkDerivedFrom compares integer ranks too (it used to throw a RangeError on them)', () => {
      const peer = parseAltAttributes(['alt:1 2 : u p 10.0.1.1 1010', 'alt:2 1 : u p 192.0.2.1 9988']).alternates;
      const ours = parseAltAttributes(['alt:7 2 1 v q 192.0.2.10 5556', 'alt:8 0.4 2 v q 192.0.2.10 5558']).alternates;
      const warnings = checkDerivedFrom(ours, peer);
      expect(warnings.map((w) => [w.line, w.code])).to.deep.equal([[1, 'derived-from-qvalue']]);
      expect(warnings[0]!.message).to.include('has qvalue 0.4 but peer alternate "2" it is derived from has 1.0');
    });

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

    it('reads an integer qvalue above 1 as a rank (deployed endpoints), flagged qvalue-rank; "1" stays the qvalue 1.0', () => {
      const table: Array<[text: string, qvalue: number, rank: boolean]> = [
        ['2', 2, true], ['3', 3, true], ['10', 10, true], ['4294967295', 4294967295, true],
        ['1', 1, false], ['1.0', 1, false], ['0.5', 0.5, false], ['0', 0, false],
      ];
      for (const [text, qvalue, rank] of table) {
        expect(readQvalue(text), text).to.deep.equal({ value: qvalue, rank });
        const { alternate, warnings } = parseAltAttribute(`a=alt:1 ${text} : user 9kksj== 10.0.1.1 1010`);
        expect(alternate.qvalue, text).to.equal(qvalue);
        expect(warnings.map((w) => [w.code, w.field]), text).to.deep.equal(rank ? [['qvalue-rank', 'qvalue']] : []);
      }
    });

    describe('valid lines (test/fixtures/alt/lines.ts)', () => {
      for (const [what, line, alternate, codes] of VALID_ALT_LINES) {
        it(`${what}: ${JSON.stringify(line)}`, () => {
          const result = parseAltAttribute(line);
          expect(result.alternate).to.deep.equal(alternate);
          expect(result.warnings.map((w) => w.code)).to.deep.equal(codes);
        });
      }
    });

    describe('truncated lines: every prefix reads as an alternate or throws a ParseError', () => {
      it(`all ${FULL_ALT_LINE.length + 1} prefixes of ${JSON.stringify(FULL_ALT_LINE)}`, () => {
        for (let n = 0; n <= FULL_ALT_LINE.length; n++) {
          const prefix = FULL_ALT_LINE.slice(0, n);
          for (const text of [prefix, `${prefix}\r\n`]) {
            try {
              parseAltAttribute(text);
            } catch (e) {
              expect(e, JSON.stringify(text)).to.be.instanceOf(ParseError);
              expect((e as ParseError).message.length, JSON.stringify(text)).to.be.greaterThan(0);
            }
          }
        }
      });
      for (const [length, where] of TRUNCATED_AT_FIELD) {
        it(`cut after ${JSON.stringify(FULL_ALT_LINE.slice(0, length))} → ${where}`, () => {
          expectParseError(() => parseAltAttribute(FULL_ALT_LINE.slice(0, length)), where);
        });
      }
    });

    describe('throws ParseError naming the field', () => {
      for (const [what, line, where] of INVALID_ALT_LINES) {
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
      expect(e.message).to.match(/^alt line 1: qvalue "1\.5" is neither in 0\.\.1 \(RFC 3261\) nor an integer rank above 1 \(at qvalue\)$/);
    });

    it('with dropInvalid, drops (and lists) bad lines and repeated ids, keeping the others and their warnings only', () => {
      const values = ['alt:1 2 : u p 10.0.1.1 1010', 'alt:2 0.5 : u p\u0000 10.0.1.2 1010', 'alt:1 1 : u p 10.0.1.3 1010', 'alt:3  1 : u p 10.0.1.4 1010'];
      expect(() => parseAltAttributes(values)).to.throw(ParseError, /^alt line 1: password/);
      const { alternates, warnings, dropped } = parseAltAttributes(values, { dropInvalid: true });
      expect(alternates.map((a) => a.id)).to.deep.equal(['1', '3']);
      expect(warnings.map((w) => [w.line, w.code])).to.deep.equal([[0, 'qvalue-rank'], [3, 'extra-whitespace']]);
      expect(dropped.map((d) => [d.line, d.value, d.error.where])).to.deep.equal([[1, values[1], 'password'], [2, values[2], 'id']]);
      expect(dropped.every((d) => d.error instanceof ParseError)).to.equal(true);
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
      ['an integer rank (read liberally, never written)', { qvalue: 2 }, 'qvalue'],
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


  describe('qvalue text (RFC 3261 §20.10)', () => {
    it('writes qvalues canonically', () => {
      expect([1, 0.8, 0.5, 0.4, 0.125, 0.05, 0].map(formatQvalue)).to.deep.equal(['1.0', '0.8', '0.5', '0.4', '0.125', '0.05', '0.0']);
      expect(() => formatQvalue(1.5)).to.throw(RangeError);
      expect(() => formatQvalue(2)).to.throw(RangeError);
      expect([1, 0.4, 2, 17].map(qvalueText)).to.deep.equal(['1.0', '0.4', '2', '17']);
    });
  });
});
