/**
 * Two icephone processes on loopback call each other: ICE connects, a tone flows each way and
 * each side's recording contains the other side's frequency. Over UDP and over TCP signalling.
 */
import { expect } from 'chai';
import { join } from 'node:path';
import { freePortPair } from '../helpers/ports.js';
import { exitWithin, runIcephone } from '../helpers/icephone.js';
import { assertToneInWav } from '../helpers/tone.js';
import { testTempDir } from '../helpers/tmp.js';

function checkSummary(s: any, role: 'controlling' | 'controlled'): void {
  expect(s.call.state).to.equal('ended');
  expect(s.call.sipCallId).to.be.a('string').and.not.equal('');
  expect(['connected', 'completed']).to.include(s.ice.state);
  expect(s.ice.role).to.equal(role);
  expect(s.ice.format).to.equal('ice');
  expect(s.ice.localCandidates.length).to.be.greaterThan(0);
  expect(s.ice.remoteCandidates.length).to.be.greaterThan(0);
  expect(s.ice.selectedPair, 'selected pair').to.not.equal(null);
  expect(s.ice.selectedPair.local.address).to.equal('127.0.0.1');
  expect(s.ice.selectedPair.remote.address).to.equal('127.0.0.1');
  expect(s.ice.selectedPair.local.type).to.equal('host');
  expect(s.rtp.packetsSent).to.be.greaterThan(50);
  expect(s.rtp.packetsReceived).to.be.greaterThan(50);
}

for (const transport of ['udp', 'tcp'] as const) {
  describe(`icephone calls icephone on loopback over ${transport.toUpperCase()} signalling`, function () {
    this.timeout(40000);

    it('connects ICE, selects the same host pair on both sides and carries each tone to the other side', async () => {
      const dir = testTempDir('icephone-e2e-');
      const port = await freePortPair();
      const answer = runIcephone([
        'answer', '--listen', `127.0.0.1:${port}`, '--transport', transport, '--max-calls', '1',
        '--play', 'tone:660', '--record', join(dir, 'callee.wav'), '--json',
      ]);
      await answer.waitForStderr(/sip: listening/, 15000);
      const call = runIcephone([
        'call', `sip:bob@127.0.0.1:${port}${transport === 'tcp' ? ';transport=tcp' : ''}`, '--listen', '127.0.0.1:0',
        '--transport', transport, '--duration', '2', '--play', 'tone:440', '--record', join(dir, 'caller.wav'), '--json', '--trace',
      ]);
      const [callCode, answerCode] = await Promise.all([exitWithin(call, 30000), exitWithin(answer, 30000)]);
      expect(callCode, `caller stderr:\n${call.stderr().slice(-3000)}`).to.equal(0);
      expect(answerCode, `callee stderr:\n${answer.stderr().slice(-3000)}`).to.equal(0);
      const [cs] = call.summaries();
      const [as] = answer.summaries();
      checkSummary(cs, 'controlling');
      checkSummary(as, 'controlled');
      expect(cs.call.sipCallId).to.equal(as.call.sipCallId);
      // Both ends agree on the pair: my local is your remote.
      expect(cs.ice.selectedPair.local.port).to.equal(as.ice.selectedPair.remote.port);
      expect(cs.ice.selectedPair.remote.port).to.equal(as.ice.selectedPair.local.port);
      // The trace shows the signalling on the chosen transport.
      const trace = call.stderr();
      expect(trace).to.match(new RegExp(`INVITE sip:bob@127\\.0\\.0\\.1:${port}`));
      expect(trace).to.match(new RegExp(`Via: SIP/2\\.0/${transport.toUpperCase()} 127\\.0\\.0\\.1:\\d+`));
      expect(trace).to.match(/a=candidate:\S+ 1 UDP \d+ 127\.0\.0\.1 \d+ typ host/);
      expect(trace).to.match(/SIP\/2\.0 200 OK/);
      expect(trace).to.match(/^BYE sip:/m);
      await assertToneInWav(join(dir, 'callee.wav'), 440);
      await assertToneInWav(join(dir, 'caller.wav'), 660);
    });
  });
}

describe('icephone calls icephone without rtcp-mux (two components)', function () {
  this.timeout(40000);

  it('connects both components, and RTCP reports reach each side over component 2', async () => {
    const dir = testTempDir('icephone-e2e-');
    const port = await freePortPair();
    const answer = runIcephone(['answer', '--listen', `127.0.0.1:${port}`, '--max-calls', '1', '--play', 'tone:660', '--record', join(dir, 'callee.wav'), '--json']);
    await answer.waitForStderr(/sip: listening/, 15000);
    const call = runIcephone(['call', `sip:bob@127.0.0.1:${port}`, '--listen', '127.0.0.1:0', '--no-rtcp-mux', '--duration', '5', '--play', 'tone:440', '--json', '--trace']);
    const [callCode, answerCode] = await Promise.all([exitWithin(call, 30000), exitWithin(answer, 30000)]);
    expect(callCode, call.stderr().slice(-3000)).to.equal(0);
    expect(answerCode, answer.stderr().slice(-3000)).to.equal(0);
    expect(call.stderr()).to.not.match(/a=rtcp-mux/);
    expect(call.stderr()).to.match(/a=candidate:\S+ 2 UDP \d+ 127\.0\.0\.1 \d+ typ host/);
    expect(call.stderr()).to.match(/ice: selected pair for component 2/);
    expect(answer.stderr()).to.match(/ice: selected pair for component 2/);
    const [cs] = call.summaries();
    const [as] = answer.summaries();
    checkSummary(cs, 'controlling');
    checkSummary(as, 'controlled');
    expect(cs.rtp.rtcpReceived, 'caller got RTCP').to.be.at.least(1);
    expect(as.rtp.rtcpReceived, 'callee got RTCP').to.be.at.least(1);
    await assertToneInWav(join(dir, 'callee.wav'), 440);
  });
});
