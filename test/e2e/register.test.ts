/**
 * Registration and calls by address-of-record through a real proxy/registrar (Debian's kamailio,
 * started by the test on loopback): both icephones REGISTER, the caller dials the callee's AOR
 * through the outbound proxy, and the call carries audio both ways.
 */
import { expect } from 'chai';
import { join } from 'node:path';
import { haveKamailio, startKamailio, type Kamailio } from '../helpers/kamailio.js';
import { exitWithin, runIcephone } from '../helpers/icephone.js';
import { freePortPair, freeUdpPort } from '../helpers/ports.js';
import { isRoot } from '../helpers/process.js';
import { assertToneInWav } from '../helpers/tone.js';
import { testTempDir } from '../helpers/tmp.js';

describe('REGISTER and a call by AOR through kamailio', function () {
  this.timeout(60000);
  let proxy: Kamailio | undefined;
  let proxyPort = 0;

  before(async function () {
    if (!haveKamailio()) {
      if (isRoot()) throw new Error('kamailio missing although running as root: run scripts/install-deps.sh');
      process.stderr.write('skipped: kamailio is not installed (scripts/install-deps.sh as root installs it)\n');
      this.skip();
    }
    proxyPort = await freeUdpPort();
    proxy = await startKamailio({ listen: '127.0.0.1', port: proxyPort, domain: 'icephone.test' });
  });
  after(async () => {
    await proxy?.stop();
  });

  it('both register, alice calls sip:bob@icephone.test via the proxy, tones heard both ways', async () => {
    const dir = testTempDir('icephone-reg-');
    const via = `sip:127.0.0.1:${proxyPort}`;
    const bobPort = await freePortPair();
    const bob = runIcephone([
      'answer', '--listen', `127.0.0.1:${bobPort}`, '--register', 'sip:bob@icephone.test', '--registrar', via, '--outbound-proxy', via,
      '--max-calls', '1', '--play', 'tone:660', '--record', join(dir, 'bob.wav'), '--json', '--trace',
    ]);
    await bob.waitForStderr(/sip: listening/, 20000);
    expect(bob.stderr()).to.match(/^REGISTER sip:127\.0\.0\.1/m);
    expect(bob.stderr()).to.match(/SIP\/2\.0 200 OK[\s\S]*CSeq: \d+ REGISTER/);
    const alice = runIcephone([
      'call', 'sip:bob@icephone.test', '--listen', '127.0.0.1:0', '--register', 'sip:alice@icephone.test', '--registrar', via,
      '--outbound-proxy', via, '--duration', '2', '--play', 'tone:440', '--record', join(dir, 'alice.wav'), '--json', '--trace',
    ]);
    const [a, b] = await Promise.all([exitWithin(alice, 40000), exitWithin(bob, 40000)]);
    expect(a, alice.stderr().slice(-4000)).to.equal(0);
    expect(b, bob.stderr().slice(-4000)).to.equal(0);
    // The INVITE left alice for the proxy with its Route, and reached bob with the proxy's Record-Route.
    expect(alice.stderr()).to.match(new RegExp(`>>> to 127\\.0\\.0\\.1:${proxyPort} \\(udp\\)\\nINVITE sip:bob@icephone\\.test SIP/2\\.0`));
    expect(alice.stderr()).to.match(/^Route: <sip:127\.0\.0\.1:\d+;lr>/m);
    expect(bob.stderr()).to.match(/^Record-Route: <sip:127\.0\.0\.1:\d+;lr/m);
    const [as] = alice.summaries();
    const [bs] = bob.summaries();
    expect(as.call.sipCallId).to.equal(bs.call.sipCallId);
    expect(as.ice.selectedPair.local.type).to.equal('host');
    await assertToneInWav(join(dir, 'bob.wav'), 440);
    await assertToneInWav(join(dir, 'alice.wav'), 660);
    // On exit each phone removed its binding (REGISTER with Expires 0).
    expect(bob.stderr()).to.match(/^REGISTER [^\n]+\n(?:[^\n]+\n)*?(Expires: 0|Contact: [^\n]*;expires=0)/m);
  });
});
