/**
 * Hold and resume (RFC 3264 §8.4, RFC 6337 §5) between icephone processes on loopback: the caller
 * holds with a re-INVITE saying sendonly, the callee answers recvonly and stops sending, the caller
 * sends nothing while holding, and a second re-INVITE with sendrecv brings both streams back.
 */
import { expect } from 'chai';
import { join } from 'node:path';
import { freePortPair } from '../helpers/ports.js';
import { exitWithin, runIcephone } from '../helpers/icephone.js';
import { assertToneInWav } from '../helpers/tone.js';
import { testTempDir } from '../helpers/tmp.js';

describe('e2e: hold and resume by re-INVITE', function () {
  this.timeout(40000);

  it('icephone holds icephone: sendonly/recvonly on the wire, no RTP either way while held, both streams back after resume', async () => {
    const dir = testTempDir('icephone-hold-');
    const port = await freePortPair();
    const answer = runIcephone(['answer', '--listen', `127.0.0.1:${port}`, '--max-calls', '1', '--play', 'tone:660', '--record', join(dir, 'callee.wav'), '--json', '--trace']);
    await answer.waitForStderr(/sip: listening/, 15000);
    const call = runIcephone([
      'call', `sip:bob@127.0.0.1:${port}`, '--listen', '127.0.0.1:0', '--duration', '6', '--hold-at', '1.5', '--resume-at', '4',
      '--play', 'tone:440', '--record', join(dir, 'caller.wav'), '--json', '--trace',
    ]);
    const [callCode, answerCode] = await Promise.all([exitWithin(call, 30000), exitWithin(answer, 30000)]);
    expect(callCode, call.stderr().slice(-3000)).to.equal(0);
    expect(answerCode, answer.stderr().slice(-3000)).to.equal(0);
    const trace = call.stderr();
    // Three INVITEs from the caller: the call, the hold (sendonly), the resume (sendrecv).
    const invites = trace.split(/\n(?=(?:>>>|<<<|sip: |ice: |rtp: |media: ))/).filter((b) => /^INVITE sip:/m.test(b));
    expect(invites.length, 'INVITEs sent').to.be.at.least(3);
    expect(trace).to.match(/a=sendonly/);
    expect(answer.stderr()).to.match(/a=recvonly/);
    expect(answer.stderr()).to.match(/sip: held by the peer/);
    expect(answer.stderr()).to.match(/sip: resumed by the peer/);
    const [cs] = call.summaries();
    const [as] = answer.summaries();
    expect(cs.call.holds).to.have.length(1);
    expect(cs.call.holds[0].by).to.equal('local');
    expect(as.call.holds).to.have.length(1);
    expect(as.call.holds[0].by).to.equal('remote');
    for (const h of [cs.call.holds[0], as.call.holds[0]]) {
      expect(h.startMs).to.be.within(1300, 2500);
      expect(h.endMs).to.be.within(3800, 5000);
    }
    // 6 s at 50 packets/s, about 2.5 s of it held: each side sent and received ~175 packets, not ~300.
    for (const s of [cs, as]) {
      expect(s.rtp.packetsSent, 'RTP sent').to.be.within(120, 240);
      expect(s.rtp.packetsReceived, 'RTP received').to.be.within(120, 240);
      expect(s.rtp.rtcpSent, 'RTCP kept flowing').to.be.at.least(1);
    }
    await assertToneInWav(join(dir, 'callee.wav'), 440);
    await assertToneInWav(join(dir, 'caller.wav'), 660);
  });
});
