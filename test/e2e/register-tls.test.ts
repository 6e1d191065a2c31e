/**
 * Registration and a call by address-of-record through kamailio over TLS (RFC 3261 §26.2, RFC 5630):
 * kamailio (started by the test on loopback) serves a TLS socket with the test CA's server leaf
 * and verifies nobody's client certificate; an icephone answerer registers sip:bob@icephone.test
 * over TLS, another icephone calls that AOR with kamailio as its outbound proxy over TLS, and the
 * call carries each side's tone. Both phones verify kamailio's certificate with `--tls-ca`.
 * Checked as a user would: every REGISTER and INVITE in the traces went to / came from the
 * proxy's TLS socket with a `SIP/2.0/TLS` Via, kamailio logged the binding, the summaries say
 * `sip.transport` tls and share one Call-ID, the recordings hold the tones.
 */
import { expect } from 'chai';
import { join } from 'node:path';
import { testCertificates, type TestCertificates } from '../helpers/certs.js';
import { haveKamailioTls, startKamailio, type Kamailio } from '../helpers/kamailio.js';
import { exitWithin, runIcephone } from '../helpers/icephone.js';
import { freePortPair, freeTcpPort, freeUdpPort } from '../helpers/ports.js';
import { isRoot } from '../helpers/process.js';
import { assertToneInWav } from '../helpers/tone.js';
import { testTempDir } from '../helpers/tmp.js';

describe('REGISTER and a call by AOR through kamailio over TLS', function () {
  this.timeout(60000);
  let proxy: Kamailio | undefined;
  let tlsPort = 0;
  let certs: TestCertificates;

  before(async function () {
    if (!haveKamailioTls()) {
      if (isRoot()) throw new Error('kamailio or its tls module missing although running as root: run scripts/install-deps.sh');
      process.stderr.write('skipped: kamailio with kamailio-tls-modules is not installed (scripts/install-deps.sh as root installs it)\n');
      this.skip();
    }
    certs = await testCertificates();
    tlsPort = await freeTcpPort();
    proxy = await startKamailio({
      listen: '127.0.0.1', port: await freeUdpPort(), domain: 'icephone.test',
      tls: { port: tlsPort, certFile: certs.server.certFile, keyFile: certs.server.keyFile, caFile: certs.caFile },
    });
  });
  after(async () => {
    await proxy?.stop();
  });

  it('bob registers over TLS, alice calls sip:bob@icephone.test via the proxy over TLS, tones heard both ways', async () => {
    const dir = testTempDir('icephone-reg-tls-');
    const via = `sip:127.0.0.1:${tlsPort};transport=tls`;
    const tls = ['--transport', 'tls', '--tls-cert', certs.client.certFile, '--tls-key', certs.client.keyFile, '--tls-ca', certs.caFile];
    const bobPort = await freePortPair();
    const bob = runIcephone([
      'answer', '--listen', `127.0.0.1:${bobPort}`, ...tls, '--register', 'sip:bob@icephone.test', '--registrar', via, '--outbound-proxy', via,
      '--max-calls', '1', '--play', 'tone:660', '--record', join(dir, 'bob.wav'), '--json', '--trace',
    ]);
    await bob.waitForStderr(/sip: listening/, 20000);
    await proxy!.process.waitForOutput(/registered sip:bob@icephone\.test contact .*from 127\.0\.0\.1:\d+/, 20000);
    const toProxy = (method: string) => new RegExp(`>>> to 127\\.0\\.0\\.1:${tlsPort} \\(tls\\)\\n${method} sip:[^\\n]+\\n(?:[^\\n]+\\n)*?Via: SIP/2\\.0/TLS `);
    expect(bob.stderr(), bob.stderr().slice(0, 1500)).to.match(toProxy('REGISTER'));
    expect(bob.stderr()).to.match(/SIP\/2\.0 200 OK[\s\S]*CSeq: \d+ REGISTER/);
    expect(proxy!.process.output()).to.match(/registered sip:bob@icephone\.test contact <?sip:[^@\s]*@127\.0\.0\.1:\d+;transport=tls/);

    const alice = runIcephone([
      'call', 'sip:bob@icephone.test', '--listen', '127.0.0.1:0', ...tls, '--register', 'sip:alice@icephone.test', '--registrar', via,
      '--outbound-proxy', via, '--duration', '2', '--play', 'tone:440', '--record', join(dir, 'alice.wav'), '--json', '--trace',
    ]);
    const [a, b] = await Promise.all([exitWithin(alice, 40000), exitWithin(bob, 40000)]);
    expect(a, alice.stderr().slice(-4000)).to.equal(0);
    expect(b, bob.stderr().slice(-4000)).to.equal(0);
    // The INVITE left alice for the proxy's TLS socket, and reached bob from it, over TLS.
    expect(alice.stderr()).to.match(toProxy('INVITE'));
    expect(bob.stderr()).to.match(new RegExp(`<<< from 127\\.0\\.0\\.1:${tlsPort} \\(tls\\)\\nINVITE sip:`));
    expect(bob.stderr()).to.match(/^Record-Route: <sip:127\.0\.0\.1:\d+;transport=tls;lr/m);
    for (const t of [alice, bob]) expect(t.stderr(), 'no SIP over UDP or TCP').to.not.match(/^(>>> to|<<< from) \S+ \((udp|tcp)\)$/m);
    const [as] = alice.summaries();
    const [bs] = bob.summaries();
    expect(as.sip.transport).to.equal('tls');
    expect(bs.sip.transport).to.equal('tls');
    expect(as.call.sipCallId).to.equal(bs.call.sipCallId);
    await assertToneInWav(join(dir, 'bob.wav'), 440);
    await assertToneInWav(join(dir, 'alice.wav'), 660);
  });
});
