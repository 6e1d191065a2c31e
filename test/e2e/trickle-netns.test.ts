/**
 * A local address added mid-call (issue 15): the caller runs in a network namespace of the test's
 * own with two interfaces: a veth whose address (203.0.113.1, listed first, so local preference
 * 65535) reaches nothing, and the veth to the callee's namespace (198.51.100.1, 65534), which the
 * call uses. Once media flows the test adds 198.51.100.11 to that veth: `--watch-interfaces` sees
 * it, its host candidate (local preference 65535, so better) is trickled to the callee in an INFO,
 * checked, nominated, and both ends move to it without an ICE restart; tones heard both ways.
 * Then the other way (issue 15: "an address that goes away triggers an ICE restart with a reason in
 * the log"): a second call moves to a new address the same way, the test deletes it with `ip addr
 * del`, and the caller restarts ICE by re-INVITE, logs why, moves back to 198.51.100.1 and the tones
 * go on to the end of the call.
 */
import { expect } from 'chai';
import { join } from 'node:path';
import { exitWithin, runIcephone } from '../helpers/icephone.js';
import { NetnsLab, netnsSupport } from '../helpers/netns.js';
import { isRoot } from '../helpers/process.js';
import { analyzeWav, assertToneInWav } from '../helpers/tone.js';
import { parseTrace } from './preconditions-trace.js';
import { testTempDir } from '../helpers/tmp.js';

const CALLER_IP = '198.51.100.1';
const CALLEE_IP = '198.51.100.2';
const NEW_IP = '198.51.100.11';
/** The address the second test adds and then takes away. */
const GONE_IP = '198.51.100.12';
const DEAD_END_IP = '203.0.113.1';

describe('trickle ICE: an address added mid-call in a network namespace', function () {
  this.timeout(90000);
  let lab: NetnsLab | undefined;
  let nsCaller = '';
  let nsCallee = '';
  let callerIf = '';

  before(function () {
    if (!isRoot()) {
      process.stderr.write('skipped: the mid-call address test needs root for network namespaces (run make test as root)\n');
      this.skip();
    }
    const ns = netnsSupport();
    if (!ns.ok) throw new Error(`network namespaces unavailable: ${ns.reason}`);
    lab = new NetnsLab();
    nsCaller = lab.createNamespace('tra');
    nsCallee = lab.createNamespace('trb');
    // The dead-end interfaces first (a veth pair inside the caller's namespace: both ends are its own
    // addresses, listed before the veth to the callee, and reach nothing of the callee's).
    lab.connect(nsCaller, `${DEAD_END_IP}/32`, nsCaller, '203.0.113.254/32');
    callerIf = lab.connect(nsCaller, `${CALLER_IP}/24`, nsCallee, `${CALLEE_IP}/24`).ifA;
  });
  after(() => lab?.destroy());

  it('the new, better address is trickled in an INFO, checked and selected on both ends, no ICE restart, tones both ways', async () => {
    const dir = testTempDir('icephone-trickle-netns-');
    const callee = runIcephone(
      ['answer', '--listen', `${CALLEE_IP}:5070`, '--max-calls', '1', '--trickle', 'full', '--play', 'tone:660', '--record', join(dir, 'callee.wav'), '--json'],
      { prefix: ['ip', 'netns', 'exec', nsCallee] },
    );
    try {
      await callee.waitForStderr(/sip: listening/, 15000);
      const caller = runIcephone(
        ['call', `sip:bob@${CALLEE_IP}:5070`, '--listen', '0.0.0.0:5070', '--trickle', 'full', '--watch-interfaces', '0.5', '--duration', '8',
          '--play', 'tone:440', '--record', join(dir, 'caller.wav'), '--json', '--trace'],
        { prefix: ['ip', 'netns', 'exec', nsCaller] },
      );
      try {
        await caller.waitForStderr(new RegExp(`selected pair for component 1: host ${CALLER_IP.replace(/\./g, '\\.')}:\\d+`), 20000);
        lab!.exec(nsCaller, 'ip', ['addr', 'add', `${NEW_IP}/24`, 'dev', callerIf]);
        await caller.waitForStderr(new RegExp(`selected pair for component 1: host ${NEW_IP.replace(/\./g, '\\.')}:\\d+`), 20000);
        const [callerCode, calleeCode] = await Promise.all([exitWithin(caller, 30000), exitWithin(callee, 30000)]);
        expect(callerCode, caller.stderr().slice(-3000)).to.equal(0);
        expect(calleeCode, callee.stderr().slice(-3000)).to.equal(0);
      } finally {
        caller.kill();
      }
      const [cs] = caller.summaries();
      const [as] = callee.summaries();
      expect(cs.ice.selectedPair.local.address).to.equal(NEW_IP);
      expect(as.ice.selectedPair.remote.address).to.equal(NEW_IP);
      expect(as.ice.remoteCandidates.some((c: any) => c.address === NEW_IP)).to.equal(true);
      expect(as.call.trickle.fragmentsApplied).to.be.at.least(1);
      const trace = parseTrace(caller.stderr());
      const info = trace.find((m) => m.dir === 'send' && m.label === 'INFO' && m.sdp.some((l) => l.includes(` ${NEW_IP} `)));
      expect(info, 'an INFO carried the new candidate').to.not.equal(undefined);
      expect(info!.header('Info-Package')).to.equal('trickle-ice');
      // Watching interfaces, the caller's gathering never ends: it never says end-of-candidates, so the
      // new candidate may be trickled without an ICE restart (RFC 8838 §13).
      expect(trace.filter((m) => m.dir === 'send' && m.sdp.includes('a=end-of-candidates')).map((m) => m.label)).to.deep.equal([]);
      // No ICE restart: a single INVITE (no re-INVITE with new credentials).
      expect(new Set(trace.filter((m) => m.dir === 'send' && m.label === 'INVITE').map((m) => m.header('CSeq'))).size).to.equal(1);
      await assertToneInWav(join(dir, 'callee.wav'), 440);
      await assertToneInWav(join(dir, 'caller.wav'), 660);
    } finally {
      callee.kill();
    }
  });

  it('the address in use goes away (ip addr del): ICE restart by re-INVITE with the reason logged, media moves to the remaining address, tones to the end', async () => {
    // The first test's address stays on the interface unless it was never added: take it off so the
    // call starts on CALLER_IP alone.
    try { lab!.exec(nsCaller, 'ip', ['addr', 'del', `${NEW_IP}/24`, 'dev', callerIf]); } catch { /* not there */ }
    const dir = testTempDir('icephone-trickle-netns-gone-');
    const callee = runIcephone(
      ['answer', '--listen', `${CALLEE_IP}:5071`, '--max-calls', '1', '--trickle', 'full', '--play', 'tone:660', '--record', join(dir, 'callee.wav'), '--json', '--trace'],
      { prefix: ['ip', 'netns', 'exec', nsCallee] },
    );
    const esc = (ip: string) => ip.replace(/\./g, '\\.');
    try {
      await callee.waitForStderr(/sip: listening/, 15000);
      const caller = runIcephone(
        ['call', `sip:bob@${CALLEE_IP}:5071`, '--listen', '0.0.0.0:5071', '--trickle', 'full', '--watch-interfaces', '0.5', '--duration', '12',
          '--play', 'tone:440', '--record', join(dir, 'caller.wav'), '--json', '--trace'],
        { prefix: ['ip', 'netns', 'exec', nsCaller] },
      );
      try {
        await caller.waitForStderr(new RegExp(`selected pair for component 1: host ${esc(CALLER_IP)}:\\d+`), 20000);
        lab!.exec(nsCaller, 'ip', ['addr', 'add', `${GONE_IP}/24`, 'dev', callerIf]);
        await caller.waitForStderr(new RegExp(`selected pair for component 1: host ${esc(GONE_IP)}:\\d+`), 20000);
        lab!.exec(nsCaller, 'ip', ['addr', 'del', `${GONE_IP}/24`, 'dev', callerIf]);
        await caller.waitForStderr(new RegExp(`local address ${esc(GONE_IP)} of the media path went away: ICE restart`), 20000);
        // Back on the remaining address, after the restart.
        await caller.waitForStderr(new RegExp(`went away: ICE restart[\\s\\S]*selected pair for component 1: host ${esc(CALLER_IP)}:\\d+`), 20000);
        const [callerCode, calleeCode] = await Promise.all([exitWithin(caller, 40000), exitWithin(callee, 40000)]);
        expect(callerCode, caller.stderr().slice(-3000)).to.equal(0);
        expect(calleeCode, callee.stderr().slice(-3000)).to.equal(0);
      } finally {
        caller.kill();
      }
      const [cs] = caller.summaries();
      const [as] = callee.summaries();
      expect(cs.ice.selectedPair.local.address).to.equal(CALLER_IP);
      expect(as.ice.selectedPair.remote.address).to.equal(CALLER_IP);
      // The restart on the wire: a re-INVITE (second INVITE CSeq) whose offer has new credentials, answered 200.
      const trace = parseTrace(caller.stderr());
      const invites = trace.filter((m) => m.dir === 'send' && m.label === 'INVITE');
      const byCSeq = new Map(invites.map((m) => [m.header('CSeq'), m]));
      expect(byCSeq.size, 'the initial INVITE and the restart re-INVITE').to.equal(2);
      const [first, restart] = [...byCSeq.values()];
      const ufrag = (m: typeof first) => m!.sdp.find((l) => l.startsWith('a=ice-ufrag:'));
      expect(ufrag(restart)).to.be.a('string').and.not.equal(ufrag(first));
      expect(restart!.sdp.some((l) => l.startsWith('a=candidate:') && l.includes(` ${GONE_IP} `)), 'the gone address is not offered').to.equal(false);
      expect(trace.some((m) => m.dir === 'recv' && m.label === '200 INVITE' && m.header('CSeq') === restart!.header('CSeq')), 're-INVITE answered 200').to.equal(true);
      // Tones both ways, and still at the end of the call (the last 3 s came after the move back).
      for (const [file, hz] of [['callee.wav', 440], ['caller.wav', 660]] as const) {
        const path = join(dir, file);
        await assertToneInWav(path, hz);
        const { durationMs } = await analyzeWav(path, hz);
        await assertToneInWav(path, hz, { skipMs: Math.max(0, durationMs - 3000) });
      }
    } finally {
      callee.kill();
    }
  });
});
