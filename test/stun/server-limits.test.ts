/** Issue 13: the draft-era per-dialog STUN server answers unauthenticated requests briefly and rarely. */
import { expect } from 'chai';
import { ManualClock } from '../../lib/base/clock.js';
import { DEFAULT_ERROR_RESPONSE_LIMITS, ErrorResponseLimiter } from '../../lib/stun/error-response-limiter.js';
import { StunMessage, StunMethod } from '../../lib/stun/message.js';
import { DialogStunServer } from '../../lib/stun/server.js';

describe('DialogStunServer error responses (issue 13)', () => {
  it('sends empty-reason errors, at most the per-source burst, and counts the rest as rate-limited', () => {
    const server = new DialogStunServer(new ErrorResponseLimiter(new ManualClock()));
    server.add({ username: 'u1', password: 'p1', id: 'a1' });
    const sent: Buffer[] = [];
    const request = StunMessage.decode(new StunMessage({ method: StunMethod.Binding, messageClass: 'request', legacy: true }).encode());
    for (let i = 0; i < 100; i++) {
      const r = server.handle(request, { address: '203.0.113.5', port: 1000 + i, family: 'IPv4' as const }, { address: '127.0.0.1', port: 9 }, (b) => sent.push(b));
      expect(r.kind).to.equal('rejected');
    }
    expect(sent).to.have.length(DEFAULT_ERROR_RESPONSE_LIMITS.perSourceBurst);
    for (const b of sent) {
      expect(StunMessage.decode(b).getErrorCode()).to.deep.equal({ code: 401, reason: '' });
      expect(b.length).to.equal(20 + 8);
    }
    expect(server.stats.rejected).to.equal(100);
    expect(server.stats.rateLimited).to.equal(100 - DEFAULT_ERROR_RESPONSE_LIMITS.perSourceBurst);
  });
});
