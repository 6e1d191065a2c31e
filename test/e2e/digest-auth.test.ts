/**
 * Digest authentication between two icephone processes (RFC 3261 §22.4, RFC 7616, RFC 8760): an
 * answerer with --auth-user/--auth-pass challenges every INVITE; a caller with the right credentials
 * gets through (sip.js answers the MD5 challenge) and audio flows both ways; a wrong password, no
 * credentials, or the right credentials for a user the answerer does not serve get no call.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { exitWithin, runIcephone, type IcephoneRun } from '../helpers/icephone.js';
import { freePortPair } from '../helpers/ports.js';
import { assertToneInWav } from '../helpers/tone.js';
import { testTempDir } from '../helpers/tmp.js';

describe('e2e: digest authentication (icephone answer --auth-user/--auth-pass)', function () {
  this.timeout(90000);
  const password = randomBytes(9).toString('base64url');
  let answerer: IcephoneRun | undefined;
  let port = 0;
  const dir = testTempDir('icephone-auth-');

  before(async () => {
    port = await freePortPair();
    answerer = runIcephone([
      'answer', '--listen', `127.0.0.1:${port}`, '--user', 'alice', '--auth-user', 'alice', '--auth-pass', password,
      '--max-calls', '1', '--play', 'tone:660', '--record', join(dir, 'answerer.wav'), '--json',
    ]);
    await answerer.waitForStderr(/sip: digest authentication on/, 20000);
  });
  after(() => answerer?.kill('SIGKILL'));

  const call = (user: string, creds: string[]) => runIcephone([
    'call', `sip:${user}@127.0.0.1:${port}`, '--listen', '127.0.0.1:0', ...creds, '--duration', '2', '--play', 'tone:440', '--json', '--trace',
  ]);

  it('a caller without credentials gets the 401 challenge: SHA-256 and MD5, qop="auth"; no call', async () => {
    const c = call('alice', []);
    expect(await exitWithin(c, 30000)).to.not.equal(0);
    const err = c.stderr();
    expect(err).to.match(/<<< from 127\.0\.0\.1:\d+ \(udp\)\nSIP\/2\.0 401 Unauthorized/);
    expect(err).to.match(/^WWW-Authenticate: Digest realm="icephone", nonce="[A-Za-z0-9_-]+", algorithm=SHA-256, qop="auth"$/m);
    expect(err).to.match(/^WWW-Authenticate: Digest realm="icephone", nonce="[A-Za-z0-9_-]+", algorithm=MD5, qop="auth"$/m);
    expect(err).to.match(/icephone: call failed: 401 Unauthorized/);
    expect(answerer!.stderr()).not.to.match(/sip: incoming call/);
  });

  it('a wrong password: 401 again after the Authorization, no call, exit non-zero; the answerer counts it', async () => {
    const c = call('alice', ['--auth-user', 'alice', '--auth-pass', `${password}x`]);
    expect(await exitWithin(c, 30000)).to.not.equal(0);
    expect(c.stderr()).to.match(/^Authorization: Digest algorithm=MD5, username="alice", realm="icephone"/m);
    expect(c.stderr()).to.match(/icephone: call failed: 401 Unauthorized/);
    expect(c.summaries()[0]?.call.reason).to.equal('401 Unauthorized');
    await answerer!.waitForStderr(/sip: auth: INVITE from 127\.0\.0\.1 failed: wrong username or password/, 10000);
    expect(answerer!.stderr()).not.to.match(/sip: incoming call/);
  });

  it('the right credentials for a user it does not serve: 404, only after authentication', async () => {
    const c = call('bob', ['--auth-user', 'alice', '--auth-pass', password]);
    expect(await exitWithin(c, 30000)).to.not.equal(0);
    const err = c.stderr();
    const challenge = err.search(/SIP\/2\.0 401 Unauthorized/);
    const notFound = err.search(/SIP\/2\.0 404 Not Found/);
    expect(challenge).to.be.greaterThan(-1);
    expect(notFound).to.be.greaterThan(challenge);
    expect(answerer!.stderr()).not.to.match(/sip: incoming call/);
  });

  it('the right credentials: the call connects and each side hears the other', async () => {
    const c = runIcephone([
      'call', `sip:alice@127.0.0.1:${port}`, '--listen', '127.0.0.1:0', '--auth-user', 'alice', '--auth-pass', password,
      '--duration', '2', '--play', 'tone:440', '--record', join(dir, 'caller.wav'), '--json', '--trace',
    ]);
    const [a, b] = await Promise.all([exitWithin(c, 40000), exitWithin(answerer!, 40000)]);
    expect(a, c.stderr().slice(-3000)).to.equal(0);
    expect(b, answerer!.stderr().slice(-3000)).to.equal(0);
    expect(c.stderr()).to.match(/SIP\/2\.0 401 Unauthorized[\s\S]*^Authorization: Digest [^\n]*response="[0-9a-f]{32}"[\s\S]*SIP\/2\.0 200 OK/m);
    const [cs] = c.summaries();
    const [as] = answerer!.summaries();
    expect(cs.call.sipCallId).to.equal(as.call.sipCallId);
    expect(cs.rtp.packetsReceived).to.be.greaterThan(50);
    expect(as.rtp.packetsReceived).to.be.greaterThan(50);
    await assertToneInWav(join(dir, 'caller.wav'), 660);
    await assertToneInWav(join(dir, 'answerer.wav'), 440);
    // Accepted twice: the INVITE to bob (then 404) and this one; the wrong password failed.
    expect(answerer!.stderr()).to.match(/sip: auth: \d+ challenged, 2 accepted, [1-9]\d* failed/);
  });

  it('over TCP too: challenged, then the call connects with two-way media', async () => {
    const tcpPort = await freePortPair();
    const a = runIcephone(['answer', '--transport', 'tcp', '--listen', `127.0.0.1:${tcpPort}`, '--auth-user', 'alice', '--auth-pass', password,
      '--max-calls', '1', '--play', 'tone:660', '--json']);
    try {
      await a.waitForStderr(/sip: digest authentication on/, 20000);
      const c = runIcephone(['call', `sip:alice@127.0.0.1:${tcpPort}`, '--transport', 'tcp', '--listen', '127.0.0.1:0', '--auth-user', 'alice', '--auth-pass', password,
        '--duration', '2', '--play', 'tone:440', '--json', '--trace']);
      const [cc, ac] = await Promise.all([exitWithin(c, 40000), exitWithin(a, 40000)]);
      expect([cc, ac], `${c.stderr().slice(-1500)}\n----\n${a.stderr().slice(-1500)}`).to.deep.equal([0, 0]);
      expect(c.stderr()).to.match(/\(tcp\)\nSIP\/2\.0 401 Unauthorized/);
      expect(a.stderr()).to.match(/sip: auth: 1 challenged, 1 accepted, 0 failed/);
    } finally {
      a.kill('SIGKILL');
    }
  });
});
