/**
 * Trickle ICE over SIP (issue 15; RFC 8838 in the agent, RFC 8840 INFO requests of the trickle-ice
 * Info Package) between two icephone processes on loopback. The TURN list starts with a server that
 * never answers (a UDP socket of the test's that swallows everything; `--turn-timeout 3`) and goes
 * on to a live coturn: without trickle the INVITE waits those 3 s for gathering; with full trickle
 * it leaves with the host candidates, the relayed ones follow in INFO requests, and media flows
 * before the dead server's timeout is over.
 */
import { expect } from 'chai';
import { createSocket, type Socket } from 'node:dgram';
import { join } from 'node:path';
import { haveCoturn, startCoturn, type Coturn } from '../helpers/coturn.js';
import { exitWithin, runIcephone, type IcephoneRun } from '../helpers/icephone.js';
import { freePortPair, freeUdpPort } from '../helpers/ports.js';
import { isRoot } from '../helpers/process.js';
import { assertToneInWav } from '../helpers/tone.js';
import { parseTrace, type TracedMessage } from './preconditions-trace.js';
import { testTempDir } from '../helpers/tmp.js';

/**
 * How long the callee rings before its 200 in the early-dialog test: the relayed candidates (a live
 * TURN server on loopback: milliseconds) and end-of-candidates are found long before.
 */
const RING_S = 2;

/** The configured timeout of the dead first TURN server, seconds. */
const DEAD_TIMEOUT_S = 3;

interface Calls { caller: IcephoneRun; callee: IcephoneRun; dir: string }

describe('trickle ICE over SIP (RFC 8838, RFC 8840)', function () {
  this.timeout(120000);
  let coturn: Coturn | undefined;
  let blackHole: Socket | undefined;
  let deadPort = 0;

  before(async function () {
    if (!haveCoturn()) {
      if (isRoot()) throw new Error('turnserver (coturn) missing although running as root: run scripts/install-deps.sh');
      process.stderr.write('skipped: coturn is not installed (scripts/install-deps.sh as root installs it)\n');
      this.skip();
    }
    coturn = await startCoturn({ users: [{ name: 'alice', password: 'wonderland-42' }] });
    deadPort = await freeUdpPort();
    blackHole = createSocket('udp4');
    blackHole.on('message', () => undefined); // read and never answer
    await new Promise<void>((resolve) => blackHole!.bind(deadPort, '127.0.0.1', resolve));
  });
  after(async () => {
    await coturn?.stop();
    await new Promise<void>((resolve) => (blackHole ? blackHole.close(() => resolve()) : resolve()));
  });

  const turnArgs = () => [
    '--turn', `turn:127.0.0.1:${deadPort}`, '--turn', `turn:127.0.0.1:${coturn!.port}`,
    '--turn-user', 'alice', '--turn-pass', 'wonderland-42', '--turn-timeout', String(DEAD_TIMEOUT_S),
  ];

  /** The live TURN server alone. */
  const liveTurnArgs = () => ['--turn', `turn:127.0.0.1:${coturn!.port}`, '--turn-user', 'alice', '--turn-pass', 'wonderland-42'];

  async function call(trickle: 'off' | 'half' | 'full', seconds = 5, extra: string[] = [], turn = turnArgs(), calleeExtra: string[] = []): Promise<Calls> {
    const dir = testTempDir('icephone-trickle-');
    const port = await freePortPair();
    const callee = runIcephone(['answer', '--listen', `127.0.0.1:${port}`, '--max-calls', '1', '--play', 'tone:660', '--record', join(dir, 'callee.wav'), '--json', '--trickle', trickle, '--trace', ...turn, ...extra, ...calleeExtra]);
    try {
      await callee.waitForStderr(/sip: listening/, 15000);
      const caller = runIcephone(['call', `sip:bob@127.0.0.1:${port}`, '--listen', '127.0.0.1:0', '--duration', String(seconds), '--play', 'tone:440', '--record', join(dir, 'caller.wav'), '--json', '--trickle', trickle, '--trace', ...turn, ...extra]);
      try {
        await Promise.all([exitWithin(caller, 60000), exitWithin(callee, 60000)]);
      } finally {
        caller.kill();
      }
      return { caller, callee, dir };
    } finally {
      callee.kill();
    }
  }

  const candidatesOf = (m: TracedMessage) => m.sdp.filter((l) => l.startsWith('a=candidate:'));

  it('full on both sides: the INVITE leaves before gathering completes, INFO sdpfrags follow, tones both ways before the dead server times out', async () => {
    const { caller, callee, dir } = await call('full');
    expect(caller.child.exitCode, caller.stderr().slice(-3000)).to.equal(0);
    expect(callee.child.exitCode, callee.stderr().slice(-3000)).to.equal(0);
    const [cs] = caller.summaries();
    const [as] = callee.summaries();
    const trace = parseTrace(caller.stderr());
    const invite = trace.find((m) => m.dir === 'send' && m.label === 'INVITE')!;
    expect(invite, 'INVITE in the trace').to.not.equal(undefined);
    expect(invite.header('Recv-Info')).to.equal('trickle-ice');
    expect(invite.sdp).to.include('a=ice-options:trickle');
    expect(invite.sdp).to.not.include('a=end-of-candidates');
    // Gathering was not over: only host candidates in the INVITE, more gathered (relayed, from coturn).
    const offered = candidatesOf(invite);
    expect(offered.every((l) => / typ host\b/.test(l)), offered.join('\n')).to.equal(true);
    expect(cs.ice.localCandidates.some((c: any) => c.type === 'relay'), 'a relayed candidate was gathered').to.equal(true);
    // Component 2 was withdrawn once rtcp-mux was accepted: compare component 1.
    expect(offered.filter((l) => / 1 UDP /.test(l)).length).to.be.below(cs.ice.localCandidates.length);
    // INFO requests of the trickle-ice package with sdpfrag bodies, after the INVITE, each answered 200.
    const infos = trace.filter((m) => m.dir === 'send' && m.label === 'INFO');
    expect(infos.length, 'INFO requests sent').to.be.at.least(1);
    expect(trace.indexOf(infos[0]!)).to.be.above(trace.indexOf(invite));
    for (const info of infos) {
      expect(info.header('Info-Package')).to.equal('trickle-ice');
      expect(info.header('Content-Type')).to.equal('application/trickle-ice-sdpfrag');
      expect(info.sdp[0]).to.match(/^a=ice-ufrag:/);
      expect(info.sdp.some((l) => /^m=audio 9 /.test(l))).to.equal(true);
    }
    const relayInfo = infos.find((m) => candidatesOf(m).some((l) => / typ relay\b/.test(l)));
    expect(relayInfo, 'the relayed candidate trickled').to.not.equal(undefined);
    expect(infos.some((m) => m.sdp.includes('a=end-of-candidates')), 'end-of-candidates trickled').to.equal(true);
    // One INFO at a time, in CSeq order (a retransmission repeats its CSeq).
    const cseqs = [...new Set(infos.map((m) => Number(m.header('CSeq')!.split(' ')[0])))];
    expect(cseqs, 'INFOs in CSeq order').to.deep.equal([...cseqs].sort((a, b) => a - b));
    const answered = new Set(trace.filter((m) => m.dir === 'recv' && m.label === '200 INFO').map((m) => Number(m.header('CSeq')!.split(' ')[0])));
    expect([...answered].sort((a, b) => a - b)).to.deep.equal(cseqs);
    expect(cs.call.trickle).to.include({ mode: 'full', infoRefused: 0 });
    expect(as.call.trickle.fragmentsApplied).to.be.at.least(1);
    expect(as.call.trickle.fragmentsStale).to.equal(0);
    // The callee's candidates came the same way.
    expect(cs.call.trickle.fragmentsApplied).to.be.at.least(1);
    // Media both ways before the dead TURN server's timeout ended.
    expect(cs.call.firstMediaMs).to.be.a('number').and.below(DEAD_TIMEOUT_S * 1000);
    expect(as.call.firstMediaMs).to.be.a('number').and.below(DEAD_TIMEOUT_S * 1000);
    await assertToneInWav(join(dir, 'callee.wav'), 440);
    await assertToneInWav(join(dir, 'caller.wav'), 660);
  });

  it('full with preconditions (a reliable 183 with the answer; the callee rings before its 200): INFOs flow both ways in the early dialog, before the 200 INVITE, each answered 200; tones both ways', async () => {
    const { caller, callee, dir } = await call('full', 3, ['--preconditions', 'optional'], liveTurnArgs(), ['--ring-seconds', String(RING_S)]);
    expect(caller.child.exitCode, caller.stderr().slice(-3000)).to.equal(0);
    expect(callee.child.exitCode, callee.stderr().slice(-3000)).to.equal(0);
    const [cs] = caller.summaries();
    const [as] = callee.summaries();
    expect(cs.call.preconditions).to.equal('met');
    expect(as.call.preconditions).to.equal('met');
    // Each side's INFO exchange and the early-dialog messages around it, for the failure messages.
    const exchange = (run: IcephoneRun) => parseTrace(run.stderr())
      .filter((m) => /INFO|INVITE|PRACK/.test(m.label))
      .map((m) => `${m.dir} ${m.label} (CSeq ${m.header('CSeq')})`).join('; ');
    const both = `caller: ${exchange(caller)} | callee: ${exchange(callee)}`;
    for (const [side, run] of [['caller', caller], ['callee', callee]] as const) {
      const trace = parseTrace(run.stderr());
      const ok = trace.findIndex((m) => m.label === '200 INVITE');
      expect(ok, `${side}: 200 INVITE in the trace`).to.be.above(-1);
      const reliable = trace.findIndex((m) => m.label === '183 INVITE' && m.header('RSeq') !== undefined);
      expect(reliable, `${side}: the reliable 183`).to.be.above(-1);
      // RFC 8840 §4.1: the trickle-ice option tag in Supported, beside 100rel and precondition.
      const invite = trace.find((m) => m.dir === (side === 'caller' ? 'send' : 'recv') && m.label === 'INVITE')!;
      for (const m of [invite, trace[reliable]!]) expect(m.header('Supported'), `${side}: ${m.label} Supported`).to.match(/\btrickle-ice\b/).and.match(/\b100rel\b/);
      const sent = trace.filter((m) => m.dir === 'send' && m.label === 'INFO');
      const early = sent.filter((m) => trace.indexOf(m) < ok);
      expect(early.length, `${side}: INFO requests sent before the 200 INVITE`).to.be.at.least(1);
      // Only after the reliable 183 (RFC 8840 §4.3), and in its dialog: the To tag of the 183.
      expect(trace.indexOf(early[0]!)).to.be.above(reliable);
      const tag = (h: string | undefined) => /;tag=([^;>\s]+)/.exec(h ?? '')?.[1];
      const dialogTag = tag(trace[reliable]!.header('To'));
      for (const info of early) {
        expect(info.header('Info-Package')).to.equal('trickle-ice');
        expect(info.header('Content-Type')).to.equal('application/trickle-ice-sdpfrag');
        expect([tag(info.header('To')), tag(info.header('From'))], `${side}: INFO in the 183's dialog`).to.include(dialogTag);
      }
      // Every INFO answered 200, in CSeq order, the early ones included.
      const cseqs = [...new Set(sent.map((m) => Number(m.header('CSeq')!.split(' ')[0])))];
      expect(cseqs, `${side}: INFOs in CSeq order`).to.deep.equal([...cseqs].sort((a, b) => a - b));
      const answered = new Set(trace.filter((m) => m.dir === 'recv' && m.label === '200 INFO').map((m) => Number(m.header('CSeq')!.split(' ')[0])));
      expect(trace.some((m) => m.dir === 'recv' && /^[3-6]\d\d INFO$/.test(m.label)), `${side}: no INFO refused (${both})`).to.equal(false);
      expect([...answered].sort((a, b) => a - b), `${side}: every INFO answered 200 (${both})`).to.deep.equal(cseqs);
    }
    expect(cs.call.trickle).to.include({ mode: 'full', infoRefused: 0 });
    expect(as.call.trickle).to.include({ mode: 'full', infoRefused: 0 });
    expect(cs.call.trickle.fragmentsApplied).to.be.at.least(1);
    expect(as.call.trickle.fragmentsApplied).to.be.at.least(1);
    await assertToneInWav(join(dir, 'callee.wav'), 440);
    await assertToneInWav(join(dir, 'caller.wav'), 660);
  });

  it('off: the INVITE waits for gathering (the dead server\'s full timeout), carries the relayed candidate, and no INFO is sent', async () => {
    const { caller, callee, dir } = await call('off', 2);
    expect(caller.child.exitCode, caller.stderr().slice(-3000)).to.equal(0);
    expect(callee.child.exitCode, callee.stderr().slice(-3000)).to.equal(0);
    const [cs] = caller.summaries();
    const trace = parseTrace(caller.stderr());
    const invite = trace.find((m) => m.dir === 'send' && m.label === 'INVITE')!;
    expect(invite.header('Recv-Info')).to.equal(undefined);
    expect(invite.sdp.some((l) => l.startsWith('a=ice-options'))).to.equal(false);
    expect(candidatesOf(invite).some((l) => / typ relay\b/.test(l))).to.equal(true);
    expect(trace.some((m) => m.label === 'INFO')).to.equal(false);
    expect(cs.call.trickle).to.equal(undefined);
    expect(cs.call.firstMediaMs).to.be.a('number').and.above(DEAD_TIMEOUT_S * 1000);
    await assertToneInWav(join(dir, 'callee.wav'), 440);
    await assertToneInWav(join(dir, 'caller.wav'), 660);
  });
});
