import { expect } from 'chai';
import { ParseError } from '../../lib/base/errors.js';
import { notifyIsFinal, sipfragStatus } from '../../lib/sip/refer.js';

describe('sip/refer (RFC 3515 sipfrag NOTIFY bodies)', () => {
  const table: Array<[string, number]> = [
    ['SIP/2.0 100 Trying\r\n', 100],
    ['SIP/2.0 180 Ringing', 180],
    ['SIP/2.0 200 OK\r\nContent-Length: 0\r\n', 200],
    ['  SIP/2.0 486 Busy Here\n', 486],
  ];
  for (const [body, code] of table) it(`reads ${code} from ${JSON.stringify(body)}`, () => expect(sipfragStatus(body)).to.equal(code));
  for (const bad of ['', 'INVITE sip:a@b SIP/2.0', 'SIP/2.0 2000 OK', 'HTTP/1.1 200 OK']) {
    it(`refuses ${JSON.stringify(bad)} with a ParseError`, () => expect(() => sipfragStatus(bad)).to.throw(ParseError));
  }
  it('a transfer ends on a final sipfrag status, not on sip.js\'s terminated 1xx NOTIFYs', () => {
    expect(notifyIsFinal('active;expires=60', 180)).to.equal(false);
    expect(notifyIsFinal('terminated', 100)).to.equal(false);
    expect(notifyIsFinal(undefined, 200)).to.equal(true);
    expect(notifyIsFinal('active', 603)).to.equal(true);
  });
});
