/**
 * Issue 14, bounded state and instance isolation: `answer --max-concurrent N` refuses the call
 * beyond N in progress with 503 + Retry-After (the call in progress is unaffected), and
 * `--rtp-ports MIN-MAX` keeps every media socket inside the range.
 */
import { expect } from 'chai';
import { join } from 'node:path';
import { freePortPair, freeUdpPort } from '../helpers/ports.js';
import { exitWithin, runIcephone } from '../helpers/icephone.js';
import { assertToneInWav } from '../helpers/tone.js';
import { testTempDir } from '../helpers/tmp.js';

describe('icephone answer --max-concurrent and --rtp-ports (issue 14)', function () {
  this.timeout(60000);

  it('refuses the second concurrent call with 503 Retry-After while the first goes on, with media ports in the range', async () => {
    const dir = testTempDir('icephone-admission-');
    const port = await freePortPair();
    // A 20-port range starting at a port that was free: the walk skips any taken meanwhile.
    const rtpMin = await freeUdpPort();
    const rtpMax = Math.min(rtpMin + 19, 65535);
    const answer = runIcephone([
      'answer', '--listen', `127.0.0.1:${port}`, '--max-concurrent', '1', '--max-calls', '1', '--rtp-ports', `${rtpMin}-${rtpMax}`,
      '--play', 'tone:660', '--record', join(dir, 'callee.wav'), '--json',
    ]);
    await answer.waitForStderr(/sip: listening/, 15000);
    // The first call lasts until the second was refused (a loaded machine may take seconds to
    // start the second caller): SIGTERM then hangs it up, and it still exits 0 (it had two-way media).
    const first = runIcephone(['call', `sip:bob@127.0.0.1:${port}`, '--listen', '127.0.0.1:0', '--duration', '60', '--play', 'tone:440', '--record', join(dir, 'caller.wav'), '--json']);
    await answer.waitForStderr(/sip: incoming call/, 15000);
    const second = runIcephone(['call', `sip:carol@127.0.0.1:${port}`, '--listen', '127.0.0.1:0', '--duration', '1', '--trace', '--json']);
    const secondCode = await exitWithin(second, 20000);
    expect(secondCode, second.stderr().slice(-2000)).to.not.equal(0);
    const trace = second.stderr();
    expect(trace).to.match(/SIP\/2\.0 503 Too Many Calls/);
    expect(trace).to.match(/^Retry-After: 5\r?$/m);
    expect(trace, 'the refusal is the only final response').to.not.match(/SIP\/2\.0 200 OK/);

    // Two seconds of two-way media (two progress lines with packets received), then hang up.
    const flowing = () => (first.stderr().match(/rtp: \d+ pkt\/s sent, [1-9]\d* pkt\/s received/g) ?? []).length >= 2;
    for (const end = Date.now() + 20000; !flowing() && Date.now() < end;) await new Promise((r) => setTimeout(r, 50));
    expect(flowing(), first.stderr().slice(-2000)).to.equal(true);
    first.kill('SIGTERM');
    const [firstCode, answerCode] = await Promise.all([exitWithin(first, 30000), exitWithin(answer, 30000)]);
    expect(firstCode, first.stderr().slice(-2000)).to.equal(0);
    expect(answerCode, answer.stderr().slice(-2000)).to.equal(0);
    const summaries = answer.summaries();
    expect(summaries, 'the answerer reports only the call it took').to.have.length(1);
    const [s] = summaries;
    expect(s.rtp.packetsReceived).to.be.greaterThan(40);
    expect(s.ice.localCandidates.length).to.be.greaterThan(0);
    for (const c of s.ice.localCandidates) expect(c.port, JSON.stringify(c)).to.be.within(rtpMin, rtpMax);
    expect(s.ice.selectedPair.local.port).to.be.within(rtpMin, rtpMax);
    await assertToneInWav(join(dir, 'callee.wav'), 440);
    await assertToneInWav(join(dir, 'caller.wav'), 660);
  });

  it('a bad --rtp-ports or --max-concurrent exits 2 with a one-line reason', async () => {
    for (const [flag, value, reason] of [['--rtp-ports', '300-200', /--rtp-ports: expected 1024 <= MIN <= MAX/], ['--max-concurrent', '0', /--max-concurrent: expected a positive integer/]] as const) {
      const run = runIcephone(['answer', '--listen', '127.0.0.1:0', flag, value]);
      expect(await exitWithin(run, 15000)).to.equal(2);
      expect(run.stderr().trim().split('\n')).to.have.length(1);
      expect(run.stderr()).to.match(reason);
    }
  });
});
