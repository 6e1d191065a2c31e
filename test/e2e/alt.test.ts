/**
 * Calls between icephone processes using the legacy `a=alt` format of
 * draft-rosenberg-sipping-ice-01 (§7) and its connectivity procedures (§5.2-§5.5), and the format
 * negotiation of lib/sdp/format.ts (`--sdp ice|alt|both`): what each side's SDP carries is asserted
 * on the wire (`--trace`), the format in use from the `--json` summary, media by tone detection.
 * Also the §5.2 collision: an alternate served by another icephone process (another dialog, other
 * credentials) is checked, rejected by that process, and never selected.
 */
import { expect } from 'chai';
import { join } from 'node:path';
import { haveCoturn, startCoturn } from '../helpers/coturn.js';
import { exitWithin, runIcephone, type IcephoneRun } from '../helpers/icephone.js';
import { freePortPair } from '../helpers/ports.js';
import { assertToneInWav } from '../helpers/tone.js';
import { testTempDir } from '../helpers/tmp.js';

type Setting = 'ice' | 'alt' | 'both';

interface Sdps { offer: string; answer: string }

/** The SDP body (its consecutive `x=` lines) after the header block of the first message matching `start`. */
function bodyAfter(trace: string, start: RegExp): string | undefined {
  const m = start.exec(trace);
  if (!m) return undefined;
  const rest = trace.slice(m.index);
  const blank = rest.indexOf('\n\n');
  if (blank < 0) return undefined;
  const lines: string[] = [];
  for (const line of rest.slice(blank + 2).split('\n')) {
    if (!/^[a-z]=/.test(line)) break;
    lines.push(line);
  }
  return lines.length ? lines.join('\n') : undefined;
}

/** The SDP bodies of the INVITE and of the 200 OK answering it, from the caller's trace. */
function sdpsFromTrace(trace: string): Sdps {
  const offer = bodyAfter(trace, /^INVITE sip:/m);
  const answer = bodyAfter(trace, /^SIP\/2\.0 200 OK\n(?:.+\n)*?CSeq: \d+ INVITE\n/m);
  expect(offer, `no INVITE with SDP in trace:\n${trace.slice(0, 3000)}`).to.be.a('string');
  expect(answer, `no 200 OK with SDP in trace:\n${trace.slice(-3000)}`).to.be.a('string');
  return { offer: offer!, answer: answer! };
}

function carries(sdp: string): { ice: boolean; alt: boolean } {
  return { ice: /^a=candidate:/m.test(sdp) || /^a=ice-ufrag:/m.test(sdp), alt: /^a=alt:/m.test(sdp) };
}

interface CallResult { caller: IcephoneRun; callee: IcephoneRun; dir: string; sdps: Sdps }

async function call(callerSdp: Setting, calleeSdp: Setting, opts: { callerPrefix?: string[]; calleeArgs?: string[]; callerArgs?: string[]; seconds?: number } = {}): Promise<CallResult> {
  const dir = testTempDir('icephone-alt-');
  const port = await freePortPair();
  const callee = runIcephone([
    'answer', '--listen', `127.0.0.1:${port}`, '--max-calls', '1', '--sdp', calleeSdp,
    '--play', 'tone:660', '--record', join(dir, 'callee.wav'), '--json', '--trace', ...(opts.calleeArgs ?? []),
  ]);
  await callee.waitForStderr(/sip: listening/, 15000);
  const caller = runIcephone([
    'call', `sip:bob@127.0.0.1:${port}`, '--listen', '127.0.0.1:0', '--sdp', callerSdp, '--duration', String(opts.seconds ?? 2),
    '--play', 'tone:440', '--record', join(dir, 'caller.wav'), '--json', '--trace', ...(opts.callerArgs ?? []),
  ], { prefix: opts.callerPrefix });
  const [callerCode, calleeCode] = await Promise.all([exitWithin(caller, 30000), exitWithin(callee, 30000)]);
  expect(callerCode, `caller stderr:\n${caller.stderr().slice(-4000)}`).to.equal(0);
  expect(calleeCode, `callee stderr:\n${callee.stderr().slice(-4000)}`).to.equal(0);
  return { caller, callee, dir, sdps: sdpsFromTrace(caller.stderr()) };
}

async function expectTones(r: CallResult): Promise<void> {
  await assertToneInWav(join(r.dir, 'callee.wav'), 440);
  await assertToneInWav(join(r.dir, 'caller.wav'), 660);
}

function expectConnectedPair(r: CallResult, format: 'ice' | 'alt'): { caller: any; callee: any } {
  const [cs] = r.caller.summaries();
  const [as] = r.callee.summaries();
  for (const [s, run] of [[cs, r.caller], [as, r.callee]] as const) {
    expect(s.ice.format, run.stderr().slice(-2000)).to.equal(format);
    expect(['connected', 'completed']).to.include(s.ice.state);
    expect(s.ice.selectedPair, run.stderr().slice(-2000)).to.not.equal(null);
    expect(s.rtp.packetsSent).to.be.greaterThan(50);
    expect(s.rtp.packetsReceived).to.be.greaterThan(50);
  }
  // Both ends agree on the path: my local is your remote.
  expect(cs.ice.selectedPair.local.port).to.equal(as.ice.selectedPair.remote.port);
  expect(cs.ice.selectedPair.remote.port).to.equal(as.ice.selectedPair.local.port);
  return { caller: cs, callee: as };
}

describe('e2e: a=alt (draft-rosenberg-sipping-ice-01) between icephone processes', function () {
  this.timeout(60000);

  it('--sdp alt on both sides: connects through a=alt checks alone, no a=candidate on the wire, tone both ways', async () => {
    const r = await call('alt', 'alt');
    expect(carries(r.sdps.offer)).to.deep.equal({ ice: false, alt: true });
    expect(carries(r.sdps.answer)).to.deep.equal({ ice: false, alt: true });
    // Nowhere in either side's trace (INVITE, 200 OK, and whatever else) is there an a=candidate.
    for (const run of [r.caller, r.callee]) expect(run.stderr()).to.not.match(/^a=(candidate|ice-ufrag|ice-pwd):/m);
    // The m/c line is also an alternate (draft §5.4), and the offer's alternates have distinct credentials (§7).
    const m = /^m=audio (\d+)/m.exec(r.sdps.offer)!;
    expect(r.sdps.offer).to.match(new RegExp(`^a=alt:\\S+ 1\\.0 : \\S+ \\S+ 127\\.0\\.0\\.1 ${m[1]}`, 'm'));
    const { caller, callee } = expectConnectedPair(r, 'alt');
    expect(caller.ice.remoteCandidates.length).to.be.greaterThan(0);
    expect(callee.ice.remoteCandidates.length).to.be.greaterThan(0);
    await expectTones(r);
  });

  const matrix: Array<{ caller: Setting; callee: Setting; offer: { ice: boolean; alt: boolean }; answer: { ice: boolean; alt: boolean }; format: 'ice' | 'alt' }> = [
    // The answer mirrors the offer, whatever the callee's setting.
    { caller: 'alt', callee: 'ice', offer: { ice: false, alt: true }, answer: { ice: false, alt: true }, format: 'alt' },
    // An offer with both: the answerer picks one (alt when its setting is alt), the offerer follows.
    { caller: 'both', callee: 'alt', offer: { ice: true, alt: true }, answer: { ice: false, alt: true }, format: 'alt' },
    // ... and ice when it speaks ice.
    { caller: 'both', callee: 'both', offer: { ice: true, alt: true }, answer: { ice: true, alt: false }, format: 'ice' },
    { caller: 'ice', callee: 'alt', offer: { ice: true, alt: false }, answer: { ice: true, alt: false }, format: 'ice' },
  ];
  for (const row of matrix) {
    it(`${row.caller} calling ${row.callee}: offer ${JSON.stringify(row.offer)}, answer ${JSON.stringify(row.answer)}, format ${row.format}`, async () => {
      const r = await call(row.caller, row.callee);
      expect(carries(r.sdps.offer), r.sdps.offer).to.deep.equal(row.offer);
      expect(carries(r.sdps.answer), r.sdps.answer).to.deep.equal(row.answer);
      expectConnectedPair(r, row.format);
      await expectTones(r);
    });
  }

  it('rejects an unknown --sdp value with exit status 2 and a one-line reason', async () => {
    const run = runIcephone(['call', 'sip:x@127.0.0.1:5999', '--listen', '127.0.0.1:0', '--sdp', 'sdp4']);
    expect(await exitWithin(run, 15000)).to.equal(2);
    expect(run.stderr()).to.match(/--sdp: expected ice, alt or both, got 'sdp4'/);
  });

  it('with TURN: the relayed address is on the m/c line and an alternate; once the peer proved a host alternate, each side frees its relay after 3 s', async function () {
    if (!haveCoturn()) return this.skip();
    const coturn = await startCoturn({ users: [{ name: 'alice', password: 'wonderland-42' }] });
    try {
      const turn = ['--turn', `turn:127.0.0.1:${coturn.port}`, '--turn-user', 'alice', '--turn-pass', 'wonderland-42', '--verbose'];
      const r = await call('alt', 'alt', { callerArgs: turn, calleeArgs: turn, seconds: 5 });
      for (const sdp of [r.sdps.offer, r.sdps.answer]) {
        const [, c, m] = /^c=IN IP4 (\S+)[\s\S]*^m=audio (\d+)/m.exec(sdp)!;
        // draft §5.4: m/c is the relayed address, which is also an alternate (q 0.4); the host one is q 1.0.
        expect(sdp).to.match(new RegExp(`^a=alt:\\S+ 0\\.4 : \\S+ \\S+ ${c!.replace(/\./g, '\\.')} ${m}`, 'm'));
        expect(sdp).to.match(/^a=alt:\S+ 1\.0 : \S+ \S+ 127\.0\.0\.1 \d+/m);
        expect(sdp).to.not.match(/^a=candidate:/m);
      }
      const { caller, callee } = expectConnectedPair(r, 'alt');
      expect(caller.ice.selectedPair.local.type).to.equal('host');
      expect(callee.ice.selectedPair.local.type).to.equal('host');
      for (const run of [r.caller, r.callee]) expect(run.stderr(), run.stderr().split('\n').filter((l) => /alt|relay|turn/.test(l)).join('\n')).to.match(/alt: freeing relayed alternate \S+ 127\.0\.0\.1:\d+: the peer reached a higher-priority address/);
      await expectTones(r);
    } finally {
      await coturn.stop();
    }
  });

  it('§5.2 collision: an alternate served by another icephone (another dialog) is rejected there and never selected', async () => {
    // C and D: a call of their own, up until the A/B call is over (D hangs up on SIGTERM then, not
    // after a guessed duration: under load the A/B processes may start later than any fixed call
    // length allows, and B's check would reach a closed port instead of C's §5.2 STUN server, which
    // knows only the credentials of the C/D dialog).
    const cPort = await freePortPair();
    const c = runIcephone(['answer', '--listen', `127.0.0.1:${cPort}`, '--max-calls', '1', '--sdp', 'alt', '--play', 'tone:880', '--json', '--trace']);
    let d: IcephoneRun | undefined;
    try {
      await c.waitForStderr(/sip: listening/, 15000);
      // --duration: only a bound should the test fail before the SIGTERM below.
      d = runIcephone(['call', `sip:carol@127.0.0.1:${cPort}`, '--listen', '127.0.0.1:0', '--sdp', 'alt', '--duration', '50', '--play', 'tone:330', '--json']);
      const [, cMedia] = await c.waitForStderr(/SIP\/2\.0 200 OK\n[\s\S]*?\nm=audio (\d+)/, 20000);
      await c.waitForStderr(/media: flowing/, 15000);

      // A offers, first and with qvalue 1.0, a fake alternate: C's media address with credentials C never handed out.
      const r = await call('alt', 'alt', { callerPrefix: ['env', `ICEPHONE_TEST_EXTRA_ALT=127.0.0.1:${cMedia}`], calleeArgs: ['--verbose'] });
      expect(r.sdps.offer).to.match(new RegExp(`^a=alt:test1 1\\.0 : \\S+ \\S+ 127\\.0\\.0\\.1 ${cMedia}\\r?$`, 'm'));
      const { callee } = expectConnectedPair(r, 'alt');
      // B checked the fake alternate, C rejected it (430: unknown username), B never selected it.
      expect(callee.ice.selectedPair.remote.port).to.not.equal(Number(cMedia));
      expect(r.callee.stderr()).to.match(new RegExp(`check to alternate test1 127\\.0\\.0\\.1:${cMedia} from \\S+ \\S+ rejected: error response 430`));
      await expectTones(r);

      // The A/B call is over: D hangs up (SIGTERM: hang up, report, exit 0), C exits after its one call.
      expect(d.child.exitCode === null && c.child.exitCode === null, 'the C/D call outlived the A/B call').to.equal(true);
      d.kill('SIGTERM');
      const [dCode, cCode] = await Promise.all([exitWithin(d, 30000), exitWithin(c, 30000)]);
      expect(cCode, c.stderr().slice(-3000)).to.equal(0);
      expect(dCode, d.stderr().slice(-3000)).to.equal(0);
      const [cs] = c.summaries();
      expect(cs.ice.format).to.equal('alt');
      expect(cs.dropped.stunUnauthorized, 'C answered the foreign checks with errors').to.be.greaterThan(0);
      // C's own call was unaffected: still on D.
      expect(cs.rtp.packetsReceived).to.be.greaterThan(100);
    } finally {
      for (const run of [d, c]) if (run && run.child.exitCode === null && run.child.signalCode === null) run.kill('SIGKILL');
    }
  });
});
