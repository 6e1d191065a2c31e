/**
 * ICE-lite both ways (RFC 8445 §6.1.1, §8.2) and one-component peers (§6.1.2.2) between icephone
 * processes on loopback: ICE must end `completed`, the full side controlling, the pair nominated
 * on both sides, tones found both ways.
 */
import { expect } from 'chai';
import { join } from 'node:path';
import { freePortPair } from '../helpers/ports.js';
import { exitWithin, runIcephone } from '../helpers/icephone.js';
import { assertToneInWav } from '../helpers/tone.js';
import { testTempDir } from '../helpers/tmp.js';

async function callPair(answerArgs: string[], callArgs: string[]) {
  const dir = testTempDir('icephone-lite-');
  const port = await freePortPair();
  const answer = runIcephone([
    'answer', '--listen', `127.0.0.1:${port}`, '--max-calls', '1', '--play', 'tone:660', '--record', join(dir, 'callee.wav'), '--json', '--trace', ...answerArgs,
  ]);
  await answer.waitForStderr(/sip: listening/, 15000);
  const call = runIcephone([
    'call', `sip:bob@127.0.0.1:${port}`, '--listen', '127.0.0.1:0', '--duration', '3', '--play', 'tone:440', '--record', join(dir, 'caller.wav'), '--json', '--trace', ...callArgs,
  ]);
  const [callCode, answerCode] = await Promise.all([exitWithin(call, 30000), exitWithin(answer, 30000)]);
  expect(callCode, `caller stderr:\n${call.stderr().slice(-3000)}`).to.equal(0);
  expect(answerCode, `callee stderr:\n${answer.stderr().slice(-3000)}`).to.equal(0);
  const [cs] = call.summaries();
  const [as] = answer.summaries();
  await assertToneInWav(join(dir, 'callee.wav'), 440);
  await assertToneInWav(join(dir, 'caller.wav'), 660);
  return { call, answer, cs, as };
}

function expectAgreedCompleted(cs: any, as: any): void {
  for (const s of [cs, as]) {
    expect(s.ice.state).to.equal('completed');
    expect(s.ice.selectedPair).to.not.equal(null);
    expect(s.ice.selectedPair.nominated, 'pair nominated').to.equal(true);
  }
  expect(cs.ice.selectedPair.local.port).to.equal(as.ice.selectedPair.remote.port);
  expect(cs.ice.selectedPair.remote.port).to.equal(as.ice.selectedPair.local.port);
}

describe('e2e: ICE-lite (RFC 8445 §6.1.1, §8.2)', function () {
  this.timeout(40000);

  it('a full icephone calls an `--ice-lite` answerer: the caller controls, both complete on one pair', async () => {
    const { cs, as, answer } = await callPair(['--ice-lite'], []);
    expectAgreedCompleted(cs, as);
    expect(cs.ice.role).to.equal('controlling');
    expect(as.ice.role).to.equal('controlled');
    expect(answer.stderr()).to.match(/^a=ice-lite\r?$/m);
    expect(as.ice.localCandidates.every((c: any) => c.type === 'host')).to.equal(true);
  });

  it('an `--ice-lite` caller offers a=ice-lite: the full answerer takes the controlling role and nominates', async () => {
    const { cs, as, call } = await callPair([], ['--ice-lite']);
    expectAgreedCompleted(cs, as);
    expect(call.stderr()).to.match(/^a=ice-lite\r?$/m);
    expect(as.ice.role, 'the full answerer').to.equal('controlling');
    expect(cs.ice.role, 'the lite offerer').to.equal('controlled');
  });

  it('refuses --ice-lite with --stun in one line (host candidates only)', async () => {
    const run = runIcephone(['call', 'sip:bob@127.0.0.1:5999', '--listen', '127.0.0.1:0', '--ice-lite', '--stun', 'stun:127.0.0.1:3478']);
    const code = await exitWithin(run, 15000);
    expect(code).to.equal(2);
    expect(run.stderr().trim().split('\n')).to.have.length(1);
    expect(run.stderr()).to.match(/--ice-lite/);
  });
});

describe('e2e: a peer with one component and no rtcp-mux (RTCP off, RFC 8445 §6.1.2.2)', function () {
  this.timeout(40000);

  it('the peer offers one component: the call ends `completed`, not `failed`', async () => {
    const { cs, as, call } = await callPair([], ['--no-rtcp']);
    expect(call.stderr()).to.not.match(/a=rtcp-mux/);
    expect(call.stderr()).to.not.match(/a=candidate:\S+ 2 UDP/);
    expectAgreedCompleted(cs, as);
  });

  it('the peer answers with one component: our two-component offer reduces to one and completes', async () => {
    const { cs, as, answer, call } = await callPair(['--no-rtcp'], ['--no-rtcp-mux']);
    expect(call.stderr()).to.match(/a=candidate:\S+ 2 UDP/);
    // The answer (in the callee's trace) carries component 1 only, and no rtcp-mux.
    const sent = answer.stderr();
    const answerSdp = sent.slice(sent.indexOf('SIP/2.0 200 OK'));
    expect(answerSdp).to.not.match(/a=candidate:\S+ 2 UDP/);
    expectAgreedCompleted(cs, as);
  });
});
