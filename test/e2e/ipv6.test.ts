/**
 * Two icephone processes call each other over IPv6 on ::1: SIP over [::1], SDP with c=IN IP6,
 * IPv6 host candidates on the selected pair, a tone each way. The second case spells ::1 in
 * expanded forms on the command line and in the Request-URI (issue 10): everything on the wire
 * and in the summaries is the canonical `::1`.
 */
import { expect } from 'chai';
import { join } from 'node:path';
import { freePortPair } from '../helpers/ports.js';
import { exitWithin, runIcephone } from '../helpers/icephone.js';
import { assertToneInWav } from '../helpers/tone.js';
import { testTempDir } from '../helpers/tmp.js';

function checkSummary(s: any, role: 'controlling' | 'controlled'): void {
  expect(s.call.state).to.equal('ended');
  expect(['connected', 'completed']).to.include(s.ice.state);
  expect(s.ice.role).to.equal(role);
  expect(s.ice.format).to.equal('ice');
  for (const c of [...s.ice.localCandidates, ...s.ice.remoteCandidates]) expect(c.address, JSON.stringify(c)).to.equal('::1');
  expect(s.ice.selectedPair, 'selected pair').to.not.equal(null);
  expect(s.ice.selectedPair.local).to.include({ type: 'host', address: '::1', protocol: 'udp' });
  expect(s.ice.selectedPair.remote).to.include({ type: 'host', address: '::1', protocol: 'udp' });
  expect(s.rtp.packetsSent).to.be.greaterThan(50);
  expect(s.rtp.packetsReceived).to.be.greaterThan(50);
}

const cases = [
  { name: 'UDP signalling, ::1 written canonically', transport: 'udp', answerHost: '::1', uriHost: '::1', callerHost: '::1', mediaAddress: '::1' },
  {
    name: 'TCP signalling, ::1 spelled out in --listen, the Request-URI and --media-address',
    transport: 'tcp', answerHost: '0:0:0:0:0:0:0:1', uriHost: '0000:0000:0000:0000:0000:0000:0000:0001', callerHost: '0:0::1', mediaAddress: '0000::0001',
  },
] as const;

for (const c of cases) {
  describe(`icephone calls icephone over IPv6 on ::1 (${c.name})`, function () {
    this.timeout(40000);

    it('connects ICE on an IPv6 host pair and carries each tone to the other side', async () => {
      const dir = testTempDir('icephone-e2e-v6-');
      const port = await freePortPair('::1');
      const answer = runIcephone([
        'answer', '--listen', `[${c.answerHost}]:${port}`, '--transport', c.transport, '--max-calls', '1',
        '--play', 'tone:660', '--record', join(dir, 'callee.wav'), '--json',
      ]);
      await answer.waitForStderr(/sip: listening/, 15000);
      const tcp = c.transport === 'tcp' ? ';transport=tcp' : '';
      const call = runIcephone([
        'call', `sip:x@[${c.uriHost}]:${port}${tcp}`, '--listen', `[${c.callerHost}]:0`, '--media-address', c.mediaAddress,
        '--transport', c.transport, '--duration', '2', '--play', 'tone:440', '--record', join(dir, 'caller.wav'), '--json', '--trace',
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

      expect(answer.stderr()).to.contain(`sip: listening on [::1]:${port}/${c.transport} as sip:icephone@[::1]:${port}`);
      const trace = call.stderr();
      const T = c.transport.toUpperCase();
      // The Request-URI is sent as given; everything icephone writes itself is canonical.
      expect(trace).to.contain(`INVITE sip:x@[${c.uriHost}]:${port}${tcp} SIP/2.0`);
      expect(trace).to.match(new RegExp(`>>> to \\[::1\\]:${port} \\(${c.transport}\\)`));
      expect(trace).to.match(new RegExp(`Via: SIP/2\\.0/${T} \\[::1\\]:\\d+;`));
      expect(trace).to.match(/Contact: <sip:icephone@\[::1\]:\d+/);
      expect(trace).to.match(/^o=icephone \d+ \d+ IN IP6 ::1$/m);
      expect(trace).to.match(/^c=IN IP6 ::1$/m);
      expect(trace).to.match(/^a=candidate:\S+ 1 UDP \d+ ::1 \d+ typ host$/m);
      // The spelled-out --listen and --media-address forms never reach the wire or the logs.
      for (const spelled of [c.answerHost, c.callerHost, c.mediaAddress].filter((h) => h !== '::1')) {
        expect(trace, spelled).to.not.contain(spelled);
        expect(answer.stderr(), spelled).to.not.contain(spelled);
      }
      expect(trace).to.match(/SIP\/2\.0 200 OK/);
      expect(trace).to.match(/^BYE sip:icephone@\[::1\]:\d+/m);
      await assertToneInWav(join(dir, 'callee.wav'), 440);
      await assertToneInWav(join(dir, 'caller.wav'), 660);
    });
  });
}
