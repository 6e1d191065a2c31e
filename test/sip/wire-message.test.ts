/**
 * The transport's wire view (lib/sip/wire-message.ts): the text handed to sip.js is the message
 * serialised, whatever its bytes; the single-pass header checks refuse what they refused before.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { parseWireMessage, serializeWireMessage, serializeWireMessageText, type WireMessage } from '../../lib/sip/wire-message.js';
import { sipCorpus } from '../fixtures/sip-corpus/index.js';

function parsed(text: string): WireMessage | undefined {
  try {
    return parseWireMessage(Buffer.from(text, 'utf8'));
  } catch {
    return undefined;
  }
}

const INVITE = [
  'INVITE sip:service@127.0.0.1:5070 SIP/2.0',
  'Via: SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bK-1',
  'From: <sip:a@127.0.0.1>;tag=1',
  'To: <sip:service@127.0.0.1>',
  'Call-ID: 1@127.0.0.1',
  'CSeq: 1 INVITE',
];

describe('sip wire message', () => {
  it('gives sip.js the same text as the serialised bytes decoded, for every corpus message', () => {
    let n = 0;
    for (const m of sipCorpus()) {
      const msg = parsed(m.text);
      if (!msg) continue;
      n++;
      expect(serializeWireMessageText(msg), m.name).to.equal(serializeWireMessage(msg).toString('utf8'));
    }
    expect(n).to.be.greaterThan(20);
  });

  it('gives the same text for any body bytes and any characters in header values (invalid UTF-8 included)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.string({ unit: 'grapheme', maxLength: 40 }), (body, value) => {
        const msg = parseWireMessage(Buffer.from(`${INVITE.join('\r\n')}\r\nContent-Length: 0\r\n\r\n`, 'utf8'));
        msg.body = Buffer.from(body);
        msg.headers.push({ name: 'Subject', value });
        expect(serializeWireMessageText(msg)).to.equal(serializeWireMessage(msg).toString('utf8'));
      }),
      { numRuns: 500 },
    );
  });

  it('reads the first of each header, with continuation lines, and refuses a repeated single-valued one', () => {
    const ok = parseWireMessage(Buffer.from(`${INVITE.join('\r\n')}\r\nContent-Length:\r\n  4\r\n\r\nabcdef`, 'utf8'));
    expect(ok.body.toString()).to.equal('abcd'); // the folded Content-Length counts (RFC 3261 §7.3.1)
    const twice = `${INVITE.join('\r\n')}\r\nCall-ID: 2@127.0.0.1\r\n\r\n`;
    expect(() => parseWireMessage(Buffer.from(twice, 'utf8'))).to.throw(/repeated call-id header/);
    const compact = `${INVITE.join('\r\n')}\r\ni: 2@127.0.0.1\r\n\r\n`;
    expect(() => parseWireMessage(Buffer.from(compact, 'utf8'))).to.throw(/repeated call-id header/);
    // A list header may repeat; the top Via is the first line's.
    const vias = parseWireMessage(Buffer.from(`${INVITE.join('\r\n')}\r\nv: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK-2\r\n\r\n`, 'utf8'));
    expect(vias.headers.filter((h) => /^(via|v)$/i.test(h.name))).to.have.length(2);
    const noBranch = [INVITE[0], 'Via: SIP/2.0/UDP 127.0.0.1:5090', 'v: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK-2', ...INVITE.slice(2)].join('\r\n');
    expect(() => parseWireMessage(Buffer.from(`${noBranch}\r\n\r\n`, 'utf8'))).to.throw(/top Via has no branch/);
    const emptyCallId = INVITE.map((l) => (l.startsWith('Call-ID') ? 'Call-ID:' : l)).join('\r\n');
    expect(() => parseWireMessage(Buffer.from(`${emptyCallId}\r\n\r\n`, 'utf8'))).to.throw(/missing mandatory header call-id/);
  });
});
