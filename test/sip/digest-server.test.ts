import { expect } from 'chai';
import { ManualClock } from '../../lib/base/clock.js';
import { DigestServer, digestResponse, parseDigestParams, type DigestAlgorithm, type DigestRequest } from '../../lib/sip/digest-server.js';

/** RFC 7616 §3.9.1: the example's inputs (an HTTP request; the computation is the same for SIP). */
const RFC7616 = {
  username: 'Mufasa',
  password: 'Circle of Life',
  realm: 'http-auth@example.org',
  method: 'GET',
  uri: '/dir/index.html',
  nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v',
  nc: '00000001',
  cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
};

describe('sip/digest-server: digest authentication as a UAS (RFC 3261 §22.4, RFC 7616, RFC 8760)', () => {
  describe('digestResponse against RFC 7616 §3.9.1', () => {
    it('MD5: response="8ca523f5e9506fed4657c9700eebdbec"', () => {
      expect(digestResponse({ ...RFC7616, algorithm: 'MD5' })).to.equal('8ca523f5e9506fed4657c9700eebdbec');
    });
    it('SHA-256: response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"', () => {
      expect(digestResponse({ ...RFC7616, algorithm: 'SHA-256' })).to.equal('753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1');
    });
  });

  describe('parseDigestParams', () => {
    it('reads quoted and bare values, escapes, any case of names', () => {
      const p = parseDigestParams('Digest username="Mu\\"fasa", Realm="r", nc=00000001, qop=auth, algorithm=SHA-256, uri="sip:a@b;x=1,y"');
      expect(p?.get('username')).to.equal('Mu"fasa');
      expect(p?.get('realm')).to.equal('r');
      expect(p?.get('nc')).to.equal('00000001');
      expect(p?.get('algorithm')).to.equal('SHA-256');
      expect(p?.get('uri')).to.equal('sip:a@b;x=1,y');
    });
    for (const bad of ['Basic dXNlcjpwYXNz', 'Digest username="unterminated', 'Digest =x', 'Digest a="1" b="2"', '']) {
      it(`rejects ${JSON.stringify(bad)}`, () => expect(parseDigestParams(bad)).to.equal(undefined));
    }
  });

  /** A client that answers the server's challenge the way a UAC does (RFC 7616 §3.4). */
  function answer(challenge: string, o: { password?: string; username?: string; nc?: string; method?: string; uri?: string; algorithm?: DigestAlgorithm } = {}): string {
    const c = parseDigestParams(challenge)!;
    const algorithm = o.algorithm ?? (c.get('algorithm') as DigestAlgorithm);
    const params = {
      algorithm, username: o.username ?? 'alice', realm: c.get('realm')!, password: o.password ?? 'pw-1',
      method: o.method ?? 'INVITE', uri: o.uri ?? 'sip:alice@127.0.0.1:5070', nonce: c.get('nonce')!, nc: o.nc ?? '00000001', cnonce: 'c0ffee',
    };
    const response = digestResponse(params);
    return `Digest username="${params.username}", realm="${params.realm}", nonce="${params.nonce}", uri="${params.uri}", response="${response}", algorithm=${algorithm}, qop=auth, nc=${params.nc}, cnonce="c0ffee"`;
  }
  const request = (authorization: string[], source = '192.0.2.7', method = 'INVITE'): DigestRequest => ({ method, requestUri: 'sip:alice@127.0.0.1:5070', authorization, source });

  function firstChallenge(server: DigestServer): string[] {
    const v = server.check(request([]));
    if (v.action !== 'challenge') throw new Error(`expected a challenge, got ${v.action}`);
    return v.headers;
  }

  it('challenges without credentials: SHA-256 then MD5 (RFC 8760 §2.4), qop="auth", the same nonce, no stale', () => {
    const server = new DigestServer({ username: 'alice', password: 'pw-1' });
    const v = server.check(request([]));
    expect(v.action).to.equal('challenge');
    if (v.action !== 'challenge') return;
    expect(v.failure).to.equal(false);
    expect(v.headers).to.have.length(2);
    const [sha, md5] = v.headers.map((h) => parseDigestParams(h)!);
    expect(sha!.get('algorithm')).to.equal('SHA-256');
    expect(md5!.get('algorithm')).to.equal('MD5');
    expect(sha!.get('qop')).to.equal('auth');
    expect(sha!.get('realm')).to.equal('icephone');
    expect(sha!.get('nonce')).to.equal(md5!.get('nonce'));
    expect(v.headers.join()).not.to.include('stale');
    expect(server.stats.challenged).to.equal(1);
  });

  for (const algorithm of ['SHA-256', 'MD5'] as const) {
    it(`accepts a correct ${algorithm} response to its own challenge`, () => {
      const server = new DigestServer({ username: 'alice', password: 'pw-1', realm: 'example.test' });
      const headers = firstChallenge(server);
      const h = headers.find((x) => x.includes(`algorithm=${algorithm}`))!;
      const v = server.check(request([answer(h)]));
      expect(v).to.deep.equal({ action: 'accept', username: 'alice', algorithm });
      expect(server.stats.accepted).to.equal(1);
      expect(server.stats.failed).to.equal(0);
    });
  }

  it('a wrong password, wrong username, other method or uri is a failure and gets a new challenge', () => {
    const server = new DigestServer({ username: 'alice', password: 'pw-1', maxFailures: 100 });
    const [h] = firstChallenge(server);
    for (const auth of [answer(h!, { password: 'nope' }), answer(h!, { username: 'bob' }), answer(h!, { method: 'REGISTER' }), answer(h!, { uri: 'sip:bob@127.0.0.1:5070' })]) {
      const v = server.check(request([auth]));
      expect(v.action).to.equal('challenge');
      if (v.action === 'challenge') expect(v.failure).to.equal(true);
    }
    expect(server.stats.failed).to.equal(4);
    expect(server.stats.accepted).to.equal(0);
  });

  it('a nonce not made with its secret is refused, even with the right password', () => {
    const other = new DigestServer({ username: 'alice', password: 'pw-1' });
    const server = new DigestServer({ username: 'alice', password: 'pw-1' });
    const [h] = firstChallenge(other);
    const v = server.check(request([answer(h!)]));
    expect(v.action).to.equal('challenge');
    if (v.action === 'challenge') expect(v.why).to.match(/nonce/);
    expect(server.nonceState(parseDigestParams(h!)!.get('nonce')!)).to.equal('invalid');
  });

  it('nonce expiry: fresh until the lifetime, then stale=true (not a failure); a new nonce works', () => {
    const clock = new ManualClock();
    const server = new DigestServer({ username: 'alice', password: 'pw-1', nonceLifetimeMs: 30_000, clock });
    const [h] = firstChallenge(server);
    const nonce = parseDigestParams(h!)!.get('nonce')!;
    clock.advance(30_000);
    expect(server.nonceState(nonce)).to.equal('fresh');
    clock.advance(1);
    expect(server.nonceState(nonce)).to.equal('stale');
    const v = server.check(request([answer(h!)]));
    expect(v.action).to.equal('challenge');
    if (v.action !== 'challenge') return;
    expect(v.stale).to.equal(true);
    expect(v.failure).to.equal(false);
    expect(v.headers.every((x) => /, stale=true$/.test(x))).to.equal(true);
    expect(server.stats.stale).to.equal(1);
    expect(server.stats.failed).to.equal(0);
    expect(server.check(request([answer(v.headers[0]!)])).action).to.equal('accept');
  });

  it('a stale nonce with a wrong password is a failure, not a stale (it proves nothing)', () => {
    const clock = new ManualClock();
    const server = new DigestServer({ username: 'alice', password: 'pw-1', nonceLifetimeMs: 1000, clock });
    const [h] = firstChallenge(server);
    clock.advance(5000);
    const v = server.check(request([answer(h!, { password: 'guess' })]));
    expect(v.action === 'challenge' && v.failure && !v.stale).to.equal(true);
  });

  it('replay: the same nc again is refused; a higher nc on the same nonce is accepted (RFC 7616 §3.4)', () => {
    const server = new DigestServer({ username: 'alice', password: 'pw-1' });
    const [h] = firstChallenge(server);
    const once = answer(h!, { nc: '00000001' });
    expect(server.check(request([once])).action).to.equal('accept');
    const replay = server.check(request([once]));
    expect(replay.action).to.equal('challenge');
    if (replay.action === 'challenge') expect(replay.why).to.match(/replayed nc/);
    expect(server.check(request([answer(h!, { nc: '00000002' })])).action).to.equal('accept');
    expect(server.check(request([answer(h!, { nc: '00000002' })])).action).to.equal('challenge');
    expect(server.stats.accepted).to.equal(2);
    expect(server.stats.failed).to.equal(2);
  });

  it('refuses an algorithm it did not offer and qop other than auth', () => {
    const server = new DigestServer({ username: 'alice', password: 'pw-1', algorithms: ['SHA-256'] });
    const headers = firstChallenge(server);
    expect(headers).to.have.length(1);
    expect(server.check(request([answer(headers[0]!, { algorithm: 'MD5' })])).action).to.equal('challenge');
    const noQop = answer(headers[0]!).replace(', qop=auth', '');
    expect(server.check(request([noQop])).action).to.equal('challenge');
    expect(server.stats.failed).to.equal(2);
    expect(server.check(request([answer(headers[0]!)])).action).to.equal('accept');
  });

  it('credentials for another realm get a plain challenge; malformed ones count as a failure', () => {
    const server = new DigestServer({ username: 'alice', password: 'pw-1' });
    const other = server.check(request(['Digest username="alice", realm="elsewhere", nonce="x", uri="sip:alice@127.0.0.1:5070", response="00"']));
    expect(other.action === 'challenge' && !other.failure).to.equal(true);
    const broken = server.check(request(['Digest username="alice']));
    expect(broken.action === 'challenge' && broken.failure).to.equal(true);
  });

  it('rate limit: the K-th failure from one source gets 403, then that source is refused for blockMs; others are not', () => {
    const clock = new ManualClock();
    const server = new DigestServer({ username: 'alice', password: 'pw-1', maxFailures: 3, failureWindowMs: 10_000, blockMs: 20_000, clock });
    const [h] = firstChallenge(server);
    const bad = () => answer(h!, { password: 'guess' });
    expect(server.check(request([bad()])).action).to.equal('challenge');
    expect(server.check(request([bad()])).action).to.equal('challenge');
    const third = server.check(request([bad()]));
    expect(third).to.include({ action: 'refuse', newlyBlocked: true });
    // Refused now whatever it sends, the right password included (a cracker learns nothing).
    const later = server.check(request([answer(h!, { nc: '00000009' })]));
    expect(later).to.include({ action: 'refuse', newlyBlocked: false });
    expect(server.check(request([])).action).to.equal('refuse');
    // Another source is unaffected.
    expect(server.check(request([answer(h!, { nc: '0000000a' })], '192.0.2.8')).action).to.equal('accept');
    expect(server.stats).to.include({ sourcesBlocked: 1, refused: 3, failed: 3 });
    clock.advance(20_001);
    expect(server.isBlocked('192.0.2.7')).to.equal(false);
    expect(server.check(request([answer(h!, { nc: '0000000b' })])).action).to.equal('accept');
  });

  it('failures older than the window do not add up', () => {
    const clock = new ManualClock();
    const server = new DigestServer({ username: 'alice', password: 'pw-1', maxFailures: 3, failureWindowMs: 10_000, nonceLifetimeMs: 600_000, clock });
    const [h] = firstChallenge(server);
    for (let i = 0; i < 10; i++) {
      expect(server.check(request([answer(h!, { password: 'guess' })])).action).to.equal('challenge');
      clock.advance(5_001);
    }
    expect(server.stats.sourcesBlocked).to.equal(0);
  });

  it('refuses to start without a username or password, or with a quote in the realm', () => {
    expect(() => new DigestServer({ username: '', password: 'x' })).to.throw(RangeError);
    expect(() => new DigestServer({ username: 'a', password: '' })).to.throw(RangeError);
    expect(() => new DigestServer({ username: 'a', password: 'b', realm: 'a"b' })).to.throw(RangeError);
  });
});

describe('sip/sipjs/digest-sha256: sip.js\'s client digest against our server (MD5 and, with the adapter, SHA-256)', () => {
  for (const algorithm of ['MD5', 'SHA-256'] as const) {
    it(`a ${algorithm} challenge: sip.js's Authorization verifies`, async () => {
      const { installSipJsAdapter } = await import('../../lib/sip/sipjs/install.js');
      const { DigestAuthentication } = await import('sip.js/lib/core/messages/digest-authentication.js');
      const { Core } = await import('sip.js');
      installSipJsAdapter();
      const server = new DigestServer({ username: 'alice', password: 'pw-1', algorithms: [algorithm] });
      const v = server.check({ method: 'INVITE', requestUri: 'sip:alice@127.0.0.1:5070', authorization: [], source: '192.0.2.1' });
      if (v.action !== 'challenge') throw new Error('no challenge');
      const c = parseDigestParams(v.headers[0]!)!;
      const client = new DigestAuthentication(new Core.LoggerFactory(), undefined, 'alice', 'pw-1');
      const ok = client.authenticate({ method: 'INVITE', ruri: 'sip:alice@127.0.0.1:5070' } as never, { algorithm: c.get('algorithm'), realm: c.get('realm'), nonce: c.get('nonce'), qop: c.get('qop') } as never);
      expect(ok).to.equal(true);
      const header = client.toString();
      expect(header).to.include(`algorithm=${algorithm}`);
      expect(server.check({ method: 'INVITE', requestUri: 'sip:alice@127.0.0.1:5070', authorization: [header], source: '192.0.2.1' }).action).to.equal('accept');
    });
  }
});
