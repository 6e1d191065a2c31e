import { expect } from 'chai';
import { ParseError } from '../../lib/base/errors.js';
import { formatTrickleFragment, parseTrickleFragment } from '../../lib/sdp/trickle-fragment.js';
import type { Candidate } from '../../lib/ice/candidate.js';

const srflx: Candidate = { foundation: '2', component: 1, transport: 'udp', priority: 1694498815, address: '198.51.100.7', port: 40001, type: 'srflx', relatedAddress: '10.0.0.1', relatedPort: 40000 };
const relay: Candidate = { foundation: '3', component: 1, transport: 'udp', priority: 16777215, address: '203.0.113.5', port: 50000, type: 'relay', relatedAddress: '198.51.100.7', relatedPort: 40001 };
const creds = { ufrag: 'abcd', pwd: 'a'.repeat(22) };

describe('trickle-ice sdpfrag (RFC 8840 §4.3, §9)', () => {
  it('writes credentials, the m= line with port 9, a=mid, candidates and end-of-candidates', () => {
    const text = formatTrickleFragment({ ...creds, mid: 'audio', candidates: [srflx, relay], endOfCandidates: true }, { media: 'audio', profile: 'RTP/AVP', formats: [0, 101] });
    expect(text.split('\r\n')).to.deep.equal([
      'a=ice-ufrag:abcd',
      `a=ice-pwd:${'a'.repeat(22)}`,
      'm=audio 9 RTP/AVP 0 101',
      'a=mid:audio',
      'a=candidate:2 1 UDP 1694498815 198.51.100.7 40001 typ srflx raddr 10.0.0.1 rport 40000',
      'a=candidate:3 1 UDP 16777215 203.0.113.5 50000 typ relay raddr 198.51.100.7 rport 40001',
      'a=end-of-candidates',
      '',
    ]);
  });

  it('round-trips', () => {
    const text = formatTrickleFragment({ ...creds, candidates: [relay], endOfCandidates: false }, { media: 'audio', profile: 'RTP/AVP', formats: [8] });
    const back = parseTrickleFragment(text);
    expect(back).to.deep.equal({ ...creds, candidates: [relay], endOfCandidates: false, invalidLines: [] });
  });

  it('takes media-level credentials, end-of-candidates alone, LF line ends; a bad candidate line is reported, not fatal', () => {
    const back = parseTrickleFragment(`m=audio 9 RTP/AVP 0\na=ice-ufrag:wxyz\na=ice-pwd:${'b'.repeat(24)}\na=candidate:garbage\na=end-of-candidates\n`);
    expect(back.ufrag).to.equal('wxyz');
    expect(back.candidates).to.deep.equal([]);
    expect(back.endOfCandidates).to.equal(true);
    expect(back.invalidLines).to.deep.equal(['a=candidate:garbage']);
  });

  for (const [what, body] of [
    ['no ufrag', `a=ice-pwd:${'a'.repeat(22)}\r\n`],
    ['a short pwd', 'a=ice-ufrag:abcd\r\na=ice-pwd:short\r\n'],
    ['an empty body', ''],
    ['a huge body', 'a=x\r\n'.repeat(20000)],
  ] as const) {
    it(`refuses ${what} with a ParseError`, () => {
      expect(() => parseTrickleFragment(body)).to.throw(ParseError);
    });
  }
});
