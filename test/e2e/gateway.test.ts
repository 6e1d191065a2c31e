/**
 * Issue 12, first slice, end to end: `icephone gateway` between `icephone call` (ICE only, on the
 * endpoint side) and SIPp as a plain PBX phone (scenarios/sipp-plain-uas.xml, `-rtp_echo`). The
 * caller's 440 Hz goes through the gateway to SIPp, SIPp echoes it, and it comes back through the
 * gateway: the caller finding its tone in its recording is audio both ways across both legs. SIPp's
 * message log shows what the PBX side received: no ICE or a=alt attribute, c= the gateway's PBX-side
 * address (127.0.0.3 here; the endpoint side is on 127.0.0.1). The other direction: SIPp
 * (scenarios/sipp-plain-uac.xml, `-rtp_echo`) calls the gateway's PBX side and reaches
 * `icephone answer` through `--endpoint`, which hears its own tone back.
 */
import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exitWithin, runIcephone } from '../helpers/icephone.js';
import { freePortPair, freeUdpPort } from '../helpers/ports.js';
import { isRoot, spawnProcess, which } from '../helpers/process.js';
import { assertToneInWav } from '../helpers/tone.js';
import { testTempDir } from '../helpers/tmp.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

describe('e2e: icephone gateway between icephone (ICE) and a plain SIPp PBX phone (issue 12)', function () {
  this.timeout(90000);
  before(function () {
    if (which('sipp')) return;
    if (isRoot()) throw new Error('sipp missing although running as root: run scripts/install-deps.sh');
    process.stderr.write('skipped: sipp is not installed (scripts/install-deps.sh as root installs it)\n');
    this.skip();
  });

  it('bad flags exit 2 with a one-line reason', async () => {
    for (const [args, re] of [
      [['--pbx', 'sip:127.0.0.1'], /--listen HOST:PORT is required/],
      [['--listen', '127.0.0.1:0'], /--pbx sip:HOST\[:PORT\] is required/],
      [['--listen', '127.0.0.1:0', '--pbx', 'http://x'], /--pbx: expected sip:HOST\[:PORT\]/],
      [['--listen', '127.0.0.1:0', '--pbx', 'sip:127.0.0.1', '--max-calls', '0'], /--max-calls: expected a positive integer/],
    ] as const) {
      const run = runIcephone(['gateway', ...args]);
      expect(await exitWithin(run, 20000)).to.equal(2);
      expect(run.stderr().trim().split('\n')).to.have.length(1);
      expect(run.stderr()).to.match(re);
    }
  });

  it('ICE caller → gateway → SIPp: plain SDP on the PBX side from its address, the caller hears its own tone back through both legs', async () => {
    const dir = testTempDir('icephone-gw-e2e-');
    const sipPort = await freePortPair();
    const mediaPort = await freePortPair();
    const sipp = spawnProcess('sipp', [
      '-sf', join(root, 'scenarios', 'sipp-plain-uas.xml'), '-i', '127.0.0.1', '-p', String(sipPort), '-m', '1',
      '-rtp_echo', '-mp', String(mediaPort), '-mi', '127.0.0.1', '-nostdin', '-timeout', '60s', '-timeout_error', '-trace_msg',
    ], { name: 'sipp-pbx', cwd: dir });
    const gwPort = await freeUdpPort();
    const gateway = runIcephone([
      'gateway', '--listen', `127.0.0.1:${gwPort}`, '--pbx-listen', '127.0.0.3:0', '--pbx', `sip:127.0.0.1:${sipPort}`, '--max-calls', '1', '--json',
    ]);
    try {
      await gateway.waitForStderr(/gateway: listening on/, 20000);
      const caller = runIcephone([
        'call', `sip:bob@127.0.0.1:${gwPort}`, '--listen', '127.0.0.1:0', '--sdp', 'ice', '--duration', '3',
        '--play', 'tone:440', '--record', join(dir, 'caller.wav'), '--json',
      ]);
      expect(await exitWithin(caller, 40000), caller.stderr().slice(-4000)).to.equal(0);
      expect(await exitWithin(gateway, 20000), gateway.stderr().slice(-4000)).to.equal(0);
      const [c] = caller.summaries();
      expect(c.ice.format).to.equal('ice');
      expect(c.rtp.packetsReceived, 'RTP back from the gateway').to.be.greaterThan(100);
      await assertToneInWav(join(dir, 'caller.wav'), 440, { skipMs: 500 });

      const [g] = gateway.summaries();
      expect(g.bridge).to.deep.include({ direction: 'endpoint-to-pbx', target: `sip:bob@127.0.0.1:${sipPort}`, outcome: 'answered' });
      expect(g.endpoint.ice.format).to.equal('ice');
      expect(g.endpoint.ice.selectedPair).to.not.equal(null);
      expect(g.pbx.ice.format).to.equal('none');
      expect(g.relayed.toPbx.relayed).to.be.greaterThan(100);
      expect(g.relayed.toEndpoint.relayed).to.be.greaterThan(100);

      expect(await sipp.waitForExit(20000), sipp.tail(3000)).to.equal(0);
      const log = readdirSync(dir).find((f) => f.endsWith('_messages.log'));
      expect(log, `SIPp message log in ${readdirSync(dir).join(', ')}`).to.not.equal(undefined);
      const messages = readFileSync(join(dir, log!), 'utf8');
      const invite = messages.slice(messages.indexOf('INVITE sip:bob@'));
      const sdp = invite.slice(invite.indexOf('v=0'), invite.indexOf('----', invite.indexOf('v=0')) >>> 0);
      expect(sdp).to.match(/^m=audio \d+ RTP\/AVP /m);
      expect(sdp).to.match(/^c=IN IP4 127\.0\.0\.3\s*$/m);
      expect(sdp).to.not.match(/^a=(candidate|alt|ice-ufrag|ice-pwd)/m);
    } finally {
      gateway.kill();
      await sipp.stop();
    }
  });
  it('SIPp (plain) → gateway → icephone answer (--endpoint): the callee answers, hears its own tone back through both legs, SIPp\'s BYE ends both', async () => {
    const dir = testTempDir('icephone-gw-e2e-');
    const calleePort = await freePortPair();
    const callee = runIcephone([
      'answer', '--listen', `127.0.0.1:${calleePort}`, '--max-calls', '1', '--play', 'tone:660', '--record', join(dir, 'callee.wav'), '--json',
    ]);
    await callee.waitForStderr(/sip: listening/, 20000);
    const gwPbxPort = await freeUdpPort('127.0.0.3');
    const gateway = runIcephone([
      'gateway', '--listen', '127.0.0.1:0', '--pbx-listen', `127.0.0.3:${gwPbxPort}`, '--pbx', 'sip:127.0.0.1:5060',
      '--endpoint', `sip:127.0.0.1:${calleePort}`, '--max-calls', '1', '--json',
    ]);
    const sipPort = await freeUdpPort();
    const mediaPort = await freePortPair();
    try {
      await gateway.waitForStderr(/gateway: listening on/, 20000);
      const sipp = spawnProcess('sipp', [
        `127.0.0.3:${gwPbxPort}`, '-sf', join(root, 'scenarios', 'sipp-plain-uac.xml'), '-s', 'alice', '-i', '127.0.0.1', '-p', String(sipPort), '-m', '1',
        '-rtp_echo', '-mp', String(mediaPort), '-mi', '127.0.0.1', '-nostdin', '-timeout', '40s', '-timeout_error',
      ], { name: 'sipp-pbx-uac', cwd: dir });
      try {
        expect(await sipp.waitForExit(40000), sipp.tail(3000)).to.equal(0);
      } finally {
        await sipp.stop();
      }
      expect(await exitWithin(callee, 20000), callee.stderr().slice(-4000)).to.equal(0);
      expect(await exitWithin(gateway, 20000), gateway.stderr().slice(-4000)).to.equal(0);
      const [c] = callee.summaries();
      expect(c.ice.format, 'the gateway offers ICE to the endpoint').to.equal('ice');
      expect(c.rtp.packetsReceived).to.be.greaterThan(100);
      await assertToneInWav(join(dir, 'callee.wav'), 660, { skipMs: 500 });
      const [g] = gateway.summaries();
      expect(g.bridge).to.deep.include({ direction: 'pbx-to-endpoint', target: `sip:alice@127.0.0.1:${calleePort}`, outcome: 'answered' });
      expect(g.pbx.ice.format).to.equal('none');
      expect(g.relayed.toPbx.relayed).to.be.greaterThan(100);
      expect(g.relayed.toEndpoint.relayed).to.be.greaterThan(100);
    } finally {
      gateway.kill();
      callee.kill();
    }
  });
});
