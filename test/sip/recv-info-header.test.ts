import { expect } from 'chai';
import { addRecvInfo, addSupportedOptionTags } from '../../lib/sip/sipjs/recv-info-header.js';

const msg = (start: string, cseq: string, extra: string[] = [], body = '') =>
  [start, 'Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1', `CSeq: ${cseq}`, ...extra, `Content-Length: ${body.length}`, '', body].join('\r\n');

describe('Recv-Info on INVITEs and their 18x/2xx (RFC 6086 §5.2, RFC 8840 §5)', () => {
  it('adds Recv-Info to an INVITE, a 180 and a 200 to an INVITE, leaving the body alone', () => {
    for (const m of [msg('INVITE sip:b@x SIP/2.0', '1 INVITE', [], 'v=0\r\n'), msg('SIP/2.0 180 Ringing', '1 INVITE'), msg('SIP/2.0 200 OK', '2 INVITE', [], 'v=0\r\n')]) {
      const out = addRecvInfo(m, ['trickle-ice']);
      expect(out).to.match(/\r\nRecv-Info: trickle-ice\r\n\r\n/);
      expect(out.slice(out.indexOf('\r\n\r\n'))).to.equal(m.slice(m.indexOf('\r\n\r\n')));
    }
  });

  it('leaves other requests and responses, 100 Trying, errors and messages that have Recv-Info as they are', () => {
    for (const m of [
      msg('BYE sip:b@x SIP/2.0', '3 BYE'), msg('SIP/2.0 200 OK', '3 BYE'), msg('SIP/2.0 100 Trying', '1 INVITE'),
      msg('SIP/2.0 486 Busy Here', '1 INVITE'), msg('INVITE sip:b@x SIP/2.0', '1 INVITE', ['Recv-Info: foo']), 'garbage',
    ]) expect(addRecvInfo(m, ['trickle-ice'])).to.equal(m);
  });

  it('adds the trickle-ice option tag to Supported (RFC 8840 §4.1): appended, added when absent, never twice, only on INVITE and its 18x/2xx', () => {
    const invite = msg('INVITE sip:b@x SIP/2.0', '1 INVITE', ['Supported: 100rel, precondition'], 'v=0\r\n');
    const out = addSupportedOptionTags(invite, ['trickle-ice']);
    expect(out).to.include('\r\nSupported: 100rel, precondition, trickle-ice\r\n');
    expect(out.slice(out.indexOf('\r\n\r\n'))).to.equal(invite.slice(invite.indexOf('\r\n\r\n')));
    expect(addSupportedOptionTags(out, ['trickle-ice'])).to.equal(out);
    expect(addSupportedOptionTags(msg('SIP/2.0 183 Session Progress', '1 INVITE', ['k: timer']), ['trickle-ice'])).to.include('\r\nk: timer, trickle-ice\r\n');
    expect(addSupportedOptionTags(msg('SIP/2.0 200 OK', '1 INVITE'), ['trickle-ice'])).to.match(/\r\nSupported: trickle-ice\r\n/);
    for (const m of [msg('SIP/2.0 200 OK', '3 INFO'), msg('INFO sip:b@x SIP/2.0', '3 INFO'), msg('SIP/2.0 100 Trying', '1 INVITE')]) {
      expect(addSupportedOptionTags(m, ['trickle-ice'])).to.equal(m);
    }
  });
});
