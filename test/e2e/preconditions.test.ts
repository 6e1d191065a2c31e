/**
 * Connectivity preconditions between two icephone processes on loopback: the draft's Figure 2 on
 * the wire (draft-rosenberg-sipping-ice-01 §8, RFC 3312 tables with RFC 5898 `conn`), the policies
 * against each other (420 and retry, 421), and an ICE restart on a live call (RFC 8445 §9).
 */
import { expect } from 'chai';
import { join } from 'node:path';
import { exitWithin, runIcephone } from '../helpers/icephone.js';
import { freePortPair } from '../helpers/ports.js';
import { assertToneInWav } from '../helpers/tone.js';
import { FIGURE_2_AT_A, FIGURE_2_AT_B, checkFigure2Tables, parseTrace, sequence } from './preconditions-trace.js';
import { testTempDir } from '../helpers/tmp.js';

describe('e2e: connectivity preconditions between two icephones (loopback)', function () {
  this.timeout(60000);

  for (const transport of ['udp', 'tcp'] as const) {
    it(`mandatory on both sides over ${transport.toUpperCase()}: exactly Figure 2, the callee alerts only after ICE, two-way media`, async () => {
      const dir = testTempDir('icephone-pre-');
      const port = await freePortPair();
      const callee = runIcephone([
        'answer', '--listen', `127.0.0.1:${port}`, '--transport', transport, '--max-calls', '1', '--preconditions', 'mandatory',
        '--play', 'tone:660', '--record', join(dir, 'callee.wav'), '--json', '--trace',
      ]);
      await callee.waitForStderr(/sip: listening/, 15000);
      const caller = runIcephone([
        'call', `sip:bob@127.0.0.1:${port}${transport === 'tcp' ? ';transport=tcp' : ''}`, '--listen', '127.0.0.1:0', '--transport', transport,
        '--preconditions', 'mandatory', '--duration', '2', '--play', 'tone:440', '--json', '--trace',
      ]);
      const [callerCode, calleeCode] = await Promise.all([exitWithin(caller, 40000), exitWithin(callee, 40000)]);
      expect(callerCode, caller.stderr().slice(-4000)).to.equal(0);
      expect(calleeCode, callee.stderr().slice(-4000)).to.equal(0);

      const atA = parseTrace(caller.stderr());
      const atB = parseTrace(callee.stderr());
      const a = sequence(atA);
      const b = sequence(atB);
      expect(a.slice(0, FIGURE_2_AT_A.length), a.join('\n')).to.deep.equal(FIGURE_2_AT_A);
      expect(b.slice(0, FIGURE_2_AT_B.length), b.join('\n')).to.deep.equal(FIGURE_2_AT_B);
      // Then only the hang-up.
      expect(a.slice(FIGURE_2_AT_A.length, FIGURE_2_AT_A.length + 1)).to.deep.equal(['send BYE']);
      checkFigure2Tables(atA);
      checkFigure2Tables(atB, (d) => (d === 'send' ? 'recv' : 'send'));
      // (5): connectivity checks ran between (4) and (6); the callee's "ringing" came after them.
      const bErr = callee.stderr();
      expect(bErr.indexOf('ice: state connected'), 'callee ICE connected before its 180').to.be.lessThan(bErr.search(/^SIP\/2\.0 180 Ringing/m));
      // The UPDATE is the controlling agent's post-nomination offer (RFC 8839 §4.4.1.2.2).
      const update = atA.find((m) => m.dir === 'send' && m.label === 'UPDATE')!;
      expect(update.sdp.join('\n')).to.match(/^a=remote-candidates:1 127\.0\.0\.1 \d+$/m);

      const [cs] = caller.summaries();
      const [bs] = callee.summaries();
      for (const s of [cs, bs]) {
        expect(s.call.state).to.equal('ended');
        expect(s.call.alertedAfterConnected, JSON.stringify(s.call)).to.equal(true);
        expect(s.call.preconditions).to.equal('met');
        expect(s.rtp.packetsReceived).to.be.greaterThan(50);
      }
      await assertToneInWav(join(dir, 'callee.wav'), 440);
    });
  }

  it('a callee without preconditions (default none) answers a mandatory INVITE with 420 Unsupported: precondition', async () => {
    const port = await freePortPair();
    const callee = runIcephone(['answer', '--listen', `127.0.0.1:${port}`, '--max-calls', '1', '--trace']);
    await callee.waitForStderr(/sip: listening/, 15000);
    const caller = runIcephone(['call', `sip:bob@127.0.0.1:${port}`, '--listen', '127.0.0.1:0', '--preconditions', 'mandatory', '--json', '--trace']);
    const code = await exitWithin(caller, 20000);
    callee.kill();
    await exitWithin(callee, 10000);
    expect(code).to.equal(1);
    const reply = parseTrace(caller.stderr()).find((m) => m.dir === 'recv' && m.label === '420 INVITE');
    expect(reply, caller.stderr().slice(-3000)).to.not.equal(undefined);
    expect(reply!.header('Unsupported')).to.match(/\bprecondition\b/);
    expect(caller.stderr()).to.match(/icephone: call failed: 420/);
    const [s] = caller.summaries();
    expect(s.call.state).to.equal('failed');
    expect(s.call.alertedAfterConnected).to.equal(false);
  });

  it('optional caller, callee without preconditions: no Require, so a normal call (the callee ignores the lines)', async () => {
    const port = await freePortPair();
    const callee = runIcephone(['answer', '--listen', `127.0.0.1:${port}`, '--max-calls', '1', '--json']);
    await callee.waitForStderr(/sip: listening/, 15000);
    const caller = runIcephone(['call', `sip:bob@127.0.0.1:${port}`, '--listen', '127.0.0.1:0', '--preconditions', 'optional', '--duration', '1', '--json', '--trace']);
    const [code, calleeCode] = await Promise.all([exitWithin(caller, 30000), exitWithin(callee, 30000)]);
    expect(code, caller.stderr().slice(-3000)).to.equal(0);
    expect(calleeCode).to.equal(0);
    const trace = parseTrace(caller.stderr());
    expect(sequence(trace).slice(0, 4)).to.deep.equal(['send INVITE', 'recv 180 INVITE', 'recv 200 INVITE', 'send ACK']);
    const invite = trace.find((m) => m.dir === 'send' && m.label === 'INVITE')!;
    expect(invite.header('Require')).to.equal(undefined);
    expect(invite.preconditions()).to.deep.equal(['curr:conn e2e none', 'des:conn optional e2e sendrecv']);
    const [s] = caller.summaries();
    expect(s.call.state).to.equal('ended');
    expect(s.call.preconditions).to.equal('not-used');
    expect(s.rtp.packetsReceived).to.be.greaterThan(20);
  });

  it('optional on both sides: preconditions are used (Figure 2 with optional strength)', async () => {
    const port = await freePortPair();
    const callee = runIcephone(['answer', '--listen', `127.0.0.1:${port}`, '--max-calls', '1', '--preconditions', 'optional', '--json', '--trace']);
    await callee.waitForStderr(/sip: listening/, 15000);
    const caller = runIcephone(['call', `sip:bob@127.0.0.1:${port}`, '--listen', '127.0.0.1:0', '--preconditions', 'optional', '--duration', '1', '--json', '--trace']);
    const [code, calleeCode] = await Promise.all([exitWithin(caller, 30000), exitWithin(callee, 30000)]);
    expect(code, caller.stderr().slice(-3000)).to.equal(0);
    expect(calleeCode, callee.stderr().slice(-3000)).to.equal(0);
    const trace = parseTrace(caller.stderr());
    expect(sequence(trace).slice(0, FIGURE_2_AT_A.length)).to.deep.equal(FIGURE_2_AT_A);
    expect(trace.find((m) => m.label === 'UPDATE')!.preconditions()).to.deep.equal(['curr:conn e2e sendrecv', 'des:conn optional e2e sendrecv']);
    for (const s of [caller.summaries()[0], callee.summaries()[0]]) {
      expect(s.call.preconditions).to.equal('met');
      expect(s.call.alertedAfterConnected).to.equal(true);
    }
  });

  it('a mandatory callee refuses an INVITE without preconditions with 421 Extension Required', async () => {
    const port = await freePortPair();
    const callee = runIcephone(['answer', '--listen', `127.0.0.1:${port}`, '--preconditions', 'mandatory']);
    await callee.waitForStderr(/sip: listening/, 15000);
    const caller = runIcephone(['call', `sip:bob@127.0.0.1:${port}`, '--listen', '127.0.0.1:0', '--trace']);
    const code = await exitWithin(caller, 20000);
    callee.kill();
    await exitWithin(callee, 10000);
    expect(code).to.equal(1);
    const reply = parseTrace(caller.stderr()).find((m) => m.dir === 'recv' && m.label === '421 INVITE');
    expect(reply, caller.stderr().slice(-3000)).to.not.equal(undefined);
    expect(reply!.header('Require')).to.match(/\bprecondition\b/);
    expect(callee.stderr()).to.match(/refused INVITE .*421/);
  });

  it('ICE restart on a live call (SIGUSR2): re-INVITE with new credentials, checks run again, the tone continues', async () => {
    const dir = testTempDir('icephone-restart-');
    const port = await freePortPair();
    const callee = runIcephone([
      'answer', '--listen', `127.0.0.1:${port}`, '--max-calls', '1', '--preconditions', 'mandatory',
      '--play', 'tone:660', '--record', join(dir, 'callee.wav'), '--json', '--trace',
    ]);
    await callee.waitForStderr(/sip: listening/, 15000);
    const caller = runIcephone([
      'call', `sip:bob@127.0.0.1:${port}`, '--listen', '127.0.0.1:0', '--preconditions', 'mandatory',
      '--duration', '7', '--play', 'tone:440', '--record', join(dir, 'caller.wav'), '--json', '--trace',
    ]);
    await caller.waitForStderr(/sip: answered/, 20000);
    await new Promise((r) => setTimeout(r, 1500));
    caller.kill('SIGUSR2');
    await caller.waitForStderr(/ice: restart offer answered/, 10000);
    const [code, calleeCode] = await Promise.all([exitWithin(caller, 30000), exitWithin(callee, 30000)]);
    expect(code, caller.stderr().slice(-4000)).to.equal(0);
    expect(calleeCode, callee.stderr().slice(-4000)).to.equal(0);

    const atA = parseTrace(caller.stderr());
    const invites = atA.filter((m) => m.dir === 'send' && m.label === 'INVITE');
    expect(invites).to.have.length(2);
    const ufrag = (m: { sdp: string[] }) => m.sdp.find((l) => l.startsWith('a=ice-ufrag:'));
    expect(ufrag(invites[1]!)).to.be.a('string').and.not.equal(ufrag(invites[0]!));
    const answers = atA.filter((m) => m.dir === 'recv' && m.label === '200 INVITE');
    expect(ufrag(answers.at(-1)!)).to.be.a('string').and.not.equal(ufrag(answers[0]!));
    // Both agents ran their checks again and selected a pair again.
    for (const err of [caller.stderr(), callee.stderr()]) {
      expect(err).to.match(/ice: restart/);
      expect(err.match(/ice: state checking/g), err.slice(-3000)).to.have.length(2);
      expect(err.match(/ice: selected pair for component 1/g)).to.have.length.at.least(2);
    }
    // Audio after the restart (about 4.5 s into the recordings, which start at the early dialog).
    const [cs] = caller.summaries();
    const [bs] = callee.summaries();
    expect(cs.ice.selectedPair).to.not.equal(null);
    expect(bs.ice.selectedPair).to.not.equal(null);
    await assertToneInWav(join(dir, 'callee.wav'), 440, { skipMs: 4500 });
    await assertToneInWav(join(dir, 'caller.wav'), 660, { skipMs: 4500 });
  });
});
