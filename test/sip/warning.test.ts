/**
 * Only our own reasons go on the wire (RFC 3261 §20.43 Warning): a typed ParseError's message,
 * sanitized to printable ASCII, or a fixed phrase when the exception was not ours. The unexpected
 * one is logged with its stack instead. The last case runs a live Phone whose offer check throws a
 * TypeError mid-INVITE, as a codec-negotiation bug once did, and reads the 488 off the wire.
 */
import { expect } from 'chai';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { ParseError } from '../../lib/base/errors.js';
import { StderrLogger } from '../../lib/base/log.js';
import { Phone } from '../../lib/sip/user-agent.js';
import { UNEXPECTED_OFFER_PROBLEM, offerProblem, sanitizeWarningText, warningHeader } from '../../lib/sip/warning.js';

describe('sip/warning: Warning text is ours, sanitized', function () {
  this.timeout(20000);

  it('sanitizeWarningText keeps printable ASCII only, no quote or backslash, one line, bounded', () => {
    expect(sanitizeWarningText('c= address "\x1b[31m" not usable')).to.equal("c= address ' [31m' not usable");
    expect(sanitizeWarningText('a\\b\r\nWarning: 399 forged "x"')).to.equal("a/b Warning: 399 forged 'x'");
    expect(sanitizeWarningText('ünï\u009bcode')).to.equal('n code');
    expect(sanitizeWarningText('\x00\x01')).to.equal('unspecified');
    expect(sanitizeWarningText('x'.repeat(500))).to.have.length(200);
    expect(warningHeader('no common codec (PCMU, PCMA)')).to.equal('Warning: 399 icephone "no common codec (PCMU, PCMA)"');
  });

  it('offerProblem passes a ParseError message, hides any other exception behind a fixed phrase', () => {
    expect(offerProblem(new ParseError('no c= line for the audio stream', 'c='))).to.deep.equal({ wire: 'no c= line for the audio stream (at c=)', detail: 'no c= line for the audio stream (at c=)', expected: true });
    const bug = offerProblem(new TypeError("Cannot read properties of undefined (reading 'payloadType') at /srv/icephone/lib/sdp/codec.ts:12"));
    expect(bug.wire).to.equal(UNEXPECTED_OFFER_PROBLEM);
    expect(bug.expected).to.equal(false);
    expect(bug.detail).to.include('payloadType');
  });

  it('a live Phone whose offer check throws a TypeError answers 488 with the fixed Warning and logs the stack', async () => {
    const lines: string[] = [];
    let armed = false;
    const media = {
      addresses: ['127.0.0.1'],
      play: 'silence' as const,
      // A getter that blows up inside the offer check once armed: an internal bug, not bad input.
      get srtp(): 'off' {
        if (armed) throw new TypeError("Cannot read properties of undefined (reading 'suite') in /srv/secret/negotiate.ts");
        return 'off';
      },
    };
    const phone = await Phone.start({ listen: { address: '127.0.0.1', port: 0 }, media, log: new StderrLogger('warn', '', (l) => lines.push(l)) });
    const sock = createSocket('udp4');
    sock.bind(0, '127.0.0.1');
    await once(sock, 'listening');
    const local = (sock.address() as { port: number }).port;
    try {
      armed = true;
      const body = ['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', `m=audio ${local} RTP/AVP 0`, 'a=rtpmap:0 PCMU/8000', ''].join('\r\n');
      const final = new Promise<string>((resolve) => sock.on('message', (m) => { const t = m.toString(); if (/^SIP\/2\.0 [3-6]/.test(t)) resolve(t); }));
      sock.send([
        `INVITE sip:bob@127.0.0.1:${phone.port} SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:${local};branch=z9hG4bK-warn1;rport`,
        'Max-Forwards: 70', 'From: <sip:a@127.0.0.1>;tag=w1', 'To: <sip:bob@127.0.0.1>', 'Call-ID: warn-1@127.0.0.1', 'CSeq: 1 INVITE',
        `Contact: <sip:a@127.0.0.1:${local}>`, 'Content-Type: application/sdp', `Content-Length: ${Buffer.byteLength(body)}`, '', body,
      ].join('\r\n'), phone.port, '127.0.0.1');
      const response = await final;
      armed = false;
      // ACK the 488 (RFC 3261 §17.1.1.3), else the Phone keeps its transaction until Timer H.
      const to = /^To:[^\r\n]*/im.exec(response)![0];
      await new Promise<void>((resolve) => sock.send([
        `ACK sip:bob@127.0.0.1:${phone.port} SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:${local};branch=z9hG4bK-warn1;rport`,
        'Max-Forwards: 70', 'From: <sip:a@127.0.0.1>;tag=w1', to, 'Call-ID: warn-1@127.0.0.1', 'CSeq: 1 ACK', 'Content-Length: 0', '', '',
      ].join('\r\n'), phone.port, '127.0.0.1', () => resolve()));
      expect(response).to.match(/^SIP\/2\.0 488/);
      expect(/^Warning:\s*(.*)$/im.exec(response)?.[1]?.trim()).to.equal(`399 icephone "${UNEXPECTED_OFFER_PROBLEM}"`);
      expect(response).not.to.match(/suite|secret|TypeError|negotiate\.ts/);
      const logged = lines.find((l) => l.includes('checking the offer of INVITE (Call-ID warn-1@127.0.0.1) failed'));
      expect(logged, lines.join('\n')).to.be.a('string');
      expect(logged).to.match(/TypeError: Cannot read properties of undefined \(reading 'suite'\).*\\n {4}at /);
      expect(phone.offersRejected).to.equal(1);
    } finally {
      armed = false;
      sock.close();
      await phone.stop();
    }
  });
});
