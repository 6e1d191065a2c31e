/**
 * Issue 13, reflection: a forged 20-byte Binding request used to draw an 88-byte error response,
 * every time. Now an unauthenticated request gets an error with an empty reason phrase, and only a
 * few per source address per second (plus a global cap); the rest are dropped and counted.
 */
import { expect } from 'chai';
import { ManualClock } from '../../lib/base/clock.js';
import { silentLogger } from '../../lib/base/log.js';
import { CheckResponder, type CheckResponderStats, type ResponderContext } from '../../lib/ice/check-responder.js';
import type { LocalBase } from '../../lib/ice/gatherer.js';
import type { TransportAddress } from '../../lib/net/socket.js';
import { DEFAULT_ERROR_RESPONSE_LIMITS, ErrorResponseLimiter } from '../../lib/stun/error-response-limiter.js';
import { StunMessage, StunMethod } from '../../lib/stun/message.js';

function setup(clock: ManualClock) {
  const sent: Array<{ bytes: Buffer; to: TransportAddress }> = [];
  const base = {
    socket: { send: (bytes: Buffer, to: TransportAddress) => { sent.push({ bytes, to }); } },
    candidate: { foundation: '1', component: 1, transport: 'udp', priority: 1, address: '127.0.0.1', port: 4000, type: 'host' },
    localPreference: 65535,
  } as unknown as LocalBase;
  const stats: CheckResponderStats = { checksReceived: 0, malformedDropped: 0, integrityFailures: 0, roleConflicts: 0, unauthorized401Sent: 0, errorResponsesSuppressed: 0 };
  const responder = new CheckResponder(stats, silentLogger, new ErrorResponseLimiter(clock));
  const ctx: ResponderContext = {
    localUfrag: 'abcd', localPwd: 'a-password-of-22-chars', role: 'controlled', tieBreaker: 1n, lite: false,
    switchRole: () => undefined, findRemote: () => undefined, addRemote: () => undefined,
  };
  return { sent, base, stats, responder, ctx };
}

/** The cheapest request an attacker can forge: a bare 20-byte Binding request. */
function bareRequest(): StunMessage {
  const bytes = new StunMessage({ method: StunMethod.Binding, messageClass: 'request' }).encode();
  expect(bytes.length).to.equal(20);
  return StunMessage.decode(bytes);
}

describe('CheckResponder: error responses to unauthenticated requests (issue 13)', () => {
  it('answers a forged request with an error of no reason phrase, at most 36 bytes', () => {
    const clock = new ManualClock();
    const { sent, base, responder, ctx } = setup(clock);
    responder.respond(base, bareRequest(), { address: '192.0.2.1', port: 1, family: 'IPv4' as const }, ctx);
    expect(sent).to.have.length(1);
    const res = StunMessage.decode(sent[0]!.bytes);
    expect(res.getErrorCode()).to.deep.equal({ code: 400, reason: '' });
    expect(sent[0]!.bytes.length).to.be.at.most(20 + 8 + 8); // header, ERROR-CODE without reason, FINGERPRINT
  });

  it('answers a spoofed flood from one source only as often as the per-source bucket allows, counting the rest', () => {
    const clock = new ManualClock();
    const { sent, base, stats, responder, ctx } = setup(clock);
    const victim = { address: '203.0.113.9', port: 5000, family: 'IPv4' as const };
    for (let i = 0; i < 1000; i++) responder.respond(base, bareRequest(), { ...victim, port: 5000 + i }, ctx); // ports vary: still one source
    expect(sent).to.have.length(DEFAULT_ERROR_RESPONSE_LIMITS.perSourceBurst);
    expect(stats.errorResponsesSuppressed).to.equal(1000 - DEFAULT_ERROR_RESPONSE_LIMITS.perSourceBurst);
    // Ten seconds of 100 requests per second: the refill rate, no more.
    for (let s = 0; s < 10; s++) {
      clock.advance(1000);
      for (let i = 0; i < 100; i++) responder.respond(base, bareRequest(), victim, ctx);
    }
    const total = sent.length;
    expect(total).to.be.at.most(DEFAULT_ERROR_RESPONSE_LIMITS.perSourceBurst + 10 * DEFAULT_ERROR_RESPONSE_LIMITS.perSourcePerSecond);
    const reflected = sent.reduce((n, s) => n + s.bytes.length, 0);
    expect(reflected, 'bytes reflected toward the victim for 2,000 requests (40,000 bytes)').to.be.at.most(total * 36);
    expect(stats.errorResponsesSuppressed).to.equal(2000 - total);
  });

  it('caps the total over many sources (global bucket)', () => {
    const clock = new ManualClock();
    const { sent, base, stats, responder, ctx } = setup(clock);
    for (let i = 0; i < 500; i++) responder.respond(base, bareRequest(), { address: `198.51.100.${i % 250}`, port: 9, family: 'IPv4' as const }, ctx);
    expect(sent).to.have.length(DEFAULT_ERROR_RESPONSE_LIMITS.globalBurst);
    expect(stats.errorResponsesSuppressed).to.equal(500 - DEFAULT_ERROR_RESPONSE_LIMITS.globalBurst);
  });

  it('gives a 401 for a wrong USERNAME an empty reason too', () => {
    const clock = new ManualClock();
    const { sent, base, stats, responder, ctx } = setup(clock);
    const req = new StunMessage({ method: StunMethod.Binding, messageClass: 'request' });
    req.addUsername('nope:x');
    req.addPriority(1);
    responder.respond(base, StunMessage.decode(req.encode({ integrityKey: Buffer.from('k'), fingerprint: true })), { address: '192.0.2.7', port: 7, family: 'IPv4' as const }, ctx);
    expect(StunMessage.decode(sent[0]!.bytes).getErrorCode()).to.deep.equal({ code: 401, reason: '' });
    expect(stats.unauthorized401Sent).to.equal(1);
  });
});

describe('ErrorResponseLimiter', () => {
  it('tracks at most maxSources addresses', () => {
    const clock = new ManualClock();
    const l = new ErrorResponseLimiter(clock, { maxSources: 8, globalBurst: 1e6 });
    for (let i = 0; i < 100; i++) l.allow({ address: `10.0.0.${i}` });
    expect(l.trackedSources).to.equal(8);
  });

  it('refuses bad limits', () => {
    expect(() => new ErrorResponseLimiter(new ManualClock(), { perSourceBurst: -1 })).to.throw(RangeError);
    expect(() => new ErrorResponseLimiter(new ManualClock(), { maxSources: 0 })).to.throw(RangeError);
  });
});
