/**
 * lib/sip/sipjs/header-names.ts: sip.js's header accessors with the name normalisation memoised
 * give what sip.js's own give, on every message of the SIP corpus and for outgoing requests.
 */
import { expect } from 'chai';
import { Core, Grammar } from 'sip.js';
import { headerize } from 'sip.js/lib/core/messages/utils.js';
import { headerName, installHeaderNameMemo, STOCK_HEADER_ACCESSORS } from '../../lib/sip/sipjs/header-names.js';
import { sipCorpus } from '../fixtures/sip-corpus/index.js';

installHeaderNameMemo();

const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined } as unknown as Core.Logger;

/** Spellings of a name as sip.js's callers and ours pass them. */
function spellings(name: string): string[] {
  return [name, name.toLowerCase(), name.toUpperCase(), name.replace(/-/g, '_'), headerize(name) as string];
}

function stock(kind: 'incoming' | 'outgoing', method: string, target: object, ...args: unknown[]): unknown {
  return STOCK_HEADER_ACCESSORS[kind][method]!.apply(target, args);
}

describe('sip.js header accessors with memoised names', () => {
  it('normalise a name exactly as sip.js does, compact forms, underscores and case included', () => {
    for (const n of ['via', 'Via', 'v', 'call-id', 'CALL-ID', 'call_id', 'cseq', 'CSeq', 'rack', 'rseq', 'min-se', 'www-authenticate', 'X-Foo-bar', 'p-asserted-identity', '', '-', 'a--b']) {
      expect(headerName(n), n).to.equal(headerize(n));
      expect(headerName(n), `${n} (memoised)`).to.equal(headerize(n));
    }
  });

  it('read and write every header of every corpus message as sip.js does', () => {
    let messages = 0;
    for (const m of sipCorpus()) {
      const ours = Core.Parser.parseMessage(m.text, quiet);
      const theirs = Core.Parser.parseMessage(m.text, quiet);
      if (!ours || !theirs) continue;
      messages++;
      const names = [...new Set(Object.keys(theirs.headers).flatMap(spellings))].concat(['X-Absent', 'v', 'i', 'm', 'l']);
      for (const n of names) {
        const what = `${m.name}: ${n}`;
        expect(ours.getHeader(n), what).to.deep.equal(stock('incoming', 'getHeader', theirs, n));
        expect(ours.getHeaders(n), what).to.deep.equal(stock('incoming', 'getHeaders', theirs, n));
        expect(ours.hasHeader(n), what).to.equal(stock('incoming', 'hasHeader', theirs, n));
        for (const idx of [0, 1, 5]) expect(ours.parseHeader(n, idx), `${what} [${idx}]`).to.deep.equal(stock('incoming', 'parseHeader', theirs, n, idx));
      }
      ours.addHeader('x-added', 'one');
      stock('incoming', 'addHeader', theirs, 'x-added', 'one');
      ours.addHeader('X-ADDED', 'two');
      stock('incoming', 'addHeader', theirs, 'X-ADDED', 'two');
      ours.setHeader('subject', 'set');
      stock('incoming', 'setHeader', theirs, 'subject', 'set');
      expect(ours.headers, m.name).to.deep.equal(theirs.headers);
    }
    expect(messages).to.be.greaterThan(20);
  });

  it('read and write an outgoing request as sip.js does, its extra headers included', () => {
    const uri = (s: string) => Grammar.URIParse(s)!;
    const make = () => new Core.OutgoingRequestMessage('INVITE', uri('sip:b@127.0.0.1'), uri('sip:a@127.0.0.1'), uri('sip:b@127.0.0.1'), { callId: 'c1', fromTag: 't1' },
      ['Subject: hello', 'X-Extra:  two words ', 'x-extra: again']);
    const ours = make();
    const theirs = make();
    for (const [n, v] of [['route', '<sip:p@127.0.0.1;lr>'], ['RSeq', '1'], ['min_se', '90']] as const) {
      ours.setHeader(n, v);
      stock('outgoing', 'setHeader', theirs, n, v);
    }
    ours.setHeader('record-route', ['<sip:r1>', '<sip:r2>']);
    stock('outgoing', 'setHeader', theirs, 'record-route', ['<sip:r1>', '<sip:r2>']);
    expect(ours.headers).to.deep.equal(theirs.headers);
    for (const n of ['Route', 'route', 'rseq', 'Min-SE', 'record_route', 'subject', 'X-Extra', 'x-extra', 'X-Absent']) {
      expect(ours.getHeader(n), n).to.deep.equal(stock('outgoing', 'getHeader', theirs, n));
      expect(ours.getHeaders(n), n).to.deep.equal(stock('outgoing', 'getHeaders', theirs, n));
      expect(ours.hasHeader(n), n).to.equal(stock('outgoing', 'hasHeader', theirs, n));
    }
    expect(ours.getHeaders('x-extra')).to.deep.equal(['two words', 'again']);
    // A copy, as sip.js's: changing what was returned changes nothing in the message.
    ours.getHeaders('record-route').push('<sip:r3>');
    expect(ours.getHeaders('record-route')).to.deep.equal(['<sip:r1>', '<sip:r2>']);
    (ours.getHeaders('X-Extra') as string[]).push('x');
    expect(ours.extraHeaders).to.have.length(3);
  });
});
