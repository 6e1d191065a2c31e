/** The Reason header of a BYE ending a call whose media died (lib/sip/reason.ts, RFC 3326). */
import { expect } from 'chai';
import { mediaFailureReason, parseReason } from '../../lib/sip/reason.js';

describe('Reason header for media failure (RFC 3326)', () => {
  it('is Q.850 cause 41 with the media reason as a quoted-string', () => {
    expect(mediaFailureReason('consent expired')).to.equal('Reason: Q.850;cause=41;text="consent expired"');
  });

  it('escapes quotes and backslashes and drops control characters, so the header stays one line', () => {
    const line = mediaFailureReason('a "b" \\ c\r\nInjected: x');
    expect(line).to.not.match(/[\r\n]/);
    expect(parseReason(line.slice('Reason: '.length))).to.deep.equal({ protocol: 'Q.850', cause: 41, text: 'a "b" \\ c  Injected: x' });
  });

  it('parses SIP and Q.850 values and refuses what is not one', () => {
    expect(parseReason('SIP;cause=200;text="Call completed elsewhere"')).to.deep.equal({ protocol: 'SIP', cause: 200, text: 'Call completed elsewhere' });
    expect(parseReason('Q.850 ; cause=16')).to.deep.equal({ protocol: 'Q.850', cause: 16 });
    expect(parseReason('')).to.equal(undefined);
  });
});
