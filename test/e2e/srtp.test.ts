/**
 * SRTP (RFC 3711) keyed by SDES (RFC 4568) between icephone processes on loopback: with
 * `--srtp mandatory` the offer is RTP/SAVP with a=crypto, the answer picks a suite, tones are found
 * both ways in the recordings (decrypted), and a tcpdump capture of the media packets decoded as
 * plain PCMU holds no tone. `--srtp optional` against a peer with SRTP off falls back to RTP, and a
 * mandatory caller is refused by an SRTP-off callee (488). Keys never appear in `--trace`.
 */
import { expect } from 'chai';
import { join } from 'node:path';
import { exitWithin, runIcephone } from '../helpers/icephone.js';
import { assertToneUnreadableOnWire } from '../helpers/srtp-capture.js';
import { freePortPair } from '../helpers/ports.js';
import { isRoot, spawnProcess, which } from '../helpers/process.js';
import { assertToneInWav } from '../helpers/tone.js';
import { testTempDir } from '../helpers/tmp.js';

const SRTP = ['--srtp-allow-insecure-keys'];

async function callPair(calleeArgs: string[], callerArgs: string[], dir: string, calleeAnswers = true) {
  const port = await freePortPair();
  const callee = runIcephone(['answer', '--listen', `127.0.0.1:${port}`, '--max-calls', '1', '--play', 'tone:660', '--record', join(dir, 'callee.wav'), '--json', '--trace', ...calleeArgs]);
  await callee.waitForStderr(/sip: listening/, 15000);
  const caller = runIcephone(['call', `sip:bob@127.0.0.1:${port}`, '--listen', '127.0.0.1:0', '--duration', '3', '--play', 'tone:440', '--record', join(dir, 'caller.wav'), '--json', '--trace', ...callerArgs]);
  const cc = await exitWithin(caller, 30000);
  // A callee that refused the INVITE (488) has no call to end: stop it.
  if (!calleeAnswers) callee.kill('SIGTERM');
  const ac = await exitWithin(callee, 30000);
  return { caller, callee, cc, ac, port };
}

describe('e2e: SRTP with SDES keys', function () {
  this.timeout(60000);

  it('--srtp mandatory both ways: RTP/SAVP, tones in the recordings, no tone in the captured packets, no key in the trace', async function () {
    if (!which('tcpdump')) {
      if (isRoot()) throw new Error('tcpdump missing although running as root: run scripts/install-deps.sh');
      process.stderr.write('skipped: tcpdump not installed\n');
      this.skip();
    }
    const dir = testTempDir('icephone-srtp-');
    const pcap = join(dir, 'media.pcap');
    const dump = spawnProcess('tcpdump', ['-i', 'lo', '--immediate-mode', '-U', '-w', pcap, 'udp'], { name: 'tcpdump' });
    await dump.waitForOutput(/listening on/, 15000);
    let run;
    try {
      run = await callPair(['--srtp', 'mandatory', ...SRTP], ['--srtp', 'mandatory', ...SRTP], dir);
    } finally {
      await new Promise((r) => setTimeout(r, 500));
      await dump.stop();
    }
    const { caller, callee, cc, ac } = run;
    expect(cc, caller.stderr().slice(-3000)).to.equal(0);
    expect(ac, callee.stderr().slice(-3000)).to.equal(0);
    expect(caller.stderr()).to.match(/^m=audio \d+ RTP\/SAVP /m);
    expect(caller.stderr()).to.match(/^a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:\*\*\*/m);
    for (const t of [caller.stderr(), callee.stderr()]) expect(t, 'no key material in the trace').to.not.match(/inline:[A-Za-z0-9+/]{20,}/);
    const [cs] = caller.summaries();
    const [as] = callee.summaries();
    expect(cs.srtp).to.deep.equal({ suite: 'AES_CM_128_HMAC_SHA1_80' });
    expect(as.srtp).to.deep.equal({ suite: 'AES_CM_128_HMAC_SHA1_80' });
    await assertToneInWav(join(dir, 'callee.wav'), 440);
    await assertToneInWav(join(dir, 'caller.wav'), 660);
    // What went over the wire between the two media sockets, decoded as if it were plain PCMU.
    assertToneUnreadableOnWire(pcap, cs.ice.selectedPair.local.port, as.ice.selectedPair.local.port, 440);
  });

  it('--srtp optional calling a callee with SRTP off: a=crypto offered over RTP/AVP, plain RTP after the answer, tones both ways', async () => {
    const dir = testTempDir('icephone-srtp-');
    const { caller, callee, cc, ac } = await callPair([], ['--srtp', 'optional', ...SRTP], dir);
    expect(cc, caller.stderr().slice(-3000)).to.equal(0);
    expect(ac, callee.stderr().slice(-3000)).to.equal(0);
    expect(caller.stderr()).to.match(/^m=audio \d+ RTP\/AVP /m);
    expect(caller.stderr()).to.match(/^a=crypto:/m);
    const [cs] = caller.summaries();
    expect(cs.srtp).to.equal(null);
    await assertToneInWav(join(dir, 'callee.wav'), 440);
    await assertToneInWav(join(dir, 'caller.wav'), 660);
  });

  it('--srtp mandatory calling a callee with SRTP off: 488, the call fails with one line', async () => {
    const dir = testTempDir('icephone-srtp-');
    const { caller, callee, cc } = await callPair([], ['--srtp', 'mandatory', ...SRTP], dir, false);
    expect(callee.stderr()).to.match(/refused INVITE \S+: .*SRTP/);
    expect(cc).to.equal(1);
    expect(caller.stderr()).to.match(/^SIP\/2\.0 488 /m);
    expect(caller.stderr()).to.match(/icephone: call failed: 488/);
  });

  it('refuses --srtp without TLS or --srtp-allow-insecure-keys, in one line', async () => {
    const run = runIcephone(['call', 'sip:bob@127.0.0.1:5999', '--listen', '127.0.0.1:0', '--srtp', 'mandatory']);
    expect(await exitWithin(run, 15000)).to.equal(2);
    expect(run.stderr().trim().split('\n')).to.have.length(1);
    expect(run.stderr()).to.match(/TLS/);
  });
});
