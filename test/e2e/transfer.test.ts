/**
 * Blind transfer (RFC 3515, RFC 5589 §6) between three icephone processes on loopback: A calls B,
 * B transfers A to C (REFER, NOTIFY message/sipfrag), A and C end in a call with tones both ways,
 * B's call ends, and A's summary shows the transfer.
 */
import { expect } from 'chai';
import { join } from 'node:path';
import { freePortPair } from '../helpers/ports.js';
import { exitWithin, runIcephone } from '../helpers/icephone.js';
import { assertToneInWav } from '../helpers/tone.js';
import { testTempDir } from '../helpers/tmp.js';

describe('e2e: call transfer by REFER', function () {
  this.timeout(60000);

  it('A calls B, B transfers A to C: A and C talk (tones both ways), B\'s call ends, A\'s summary shows the transfer', async () => {
    const dir = testTempDir('icephone-transfer-');
    const [portB, portC] = [await freePortPair(), await freePortPair()];
    const c = runIcephone(['answer', '--listen', `127.0.0.1:${portC}`, '--max-calls', '1', '--play', 'tone:880', '--record', join(dir, 'c.wav'), '--json']);
    const b = runIcephone(['answer', '--listen', `127.0.0.1:${portB}`, '--max-calls', '1', '--play', 'tone:660', '--json', '--trace',
      '--transfer-to', `sip:carol@127.0.0.1:${portC}`, '--transfer-at', '1.5']);
    await Promise.all([c.waitForStderr(/sip: listening/, 15000), b.waitForStderr(/sip: listening/, 15000)]);
    const a = runIcephone(['call', `sip:bob@127.0.0.1:${portB}`, '--listen', '127.0.0.1:0', '--duration', '4', '--accept-transfer',
      '--play', 'tone:440', '--record', join(dir, 'a.wav'), '--json', '--trace']);
    const [codeA, codeB, codeC] = await Promise.all([exitWithin(a, 40000), exitWithin(b, 40000), exitWithin(c, 40000)]);
    expect(codeA, a.stderr().slice(-3000)).to.equal(0);
    expect(codeB, b.stderr().slice(-3000)).to.equal(0);
    expect(codeC, c.stderr().slice(-3000)).to.equal(0);
    // On the wire: B's REFER with Refer-To C, A's 202, the sipfrag NOTIFYs ending in 200.
    expect(b.stderr()).to.match(new RegExp(`^REFER sip:`, 'm'));
    expect(b.stderr()).to.match(new RegExp(`^Refer-To: <?sip:carol@127\\.0\\.0\\.1:${portC}`, 'mi'));
    expect(b.stderr()).to.match(/^SIP\/2\.0 202 Accepted/m);
    expect(b.stderr()).to.match(/^NOTIFY sip:[\s\S]*?^SIP\/2\.0 200 OK/m);
    expect(b.stderr()).to.match(/sip: transfer to \S+ succeeded/);
    // RFC 3515 §2.4.7: the subscription is active until the final status, then terminated.
    expect(a.stderr()).to.match(/^Subscription-State: active/m);
    expect(a.stderr()).to.match(/^Subscription-State: terminated/m);
    const [first, second] = a.summaries();
    expect(first.call.transfer).to.deep.include({ direction: 'in', target: `sip:carol@127.0.0.1:${portC}`, accepted: true });
    expect(second, 'A reported the call to C').to.not.equal(undefined);
    expect(first.call.transfer.newCallId).to.equal(second.call.sipCallId);
    const [bs] = b.summaries();
    expect(bs.call.state).to.equal('ended');
    expect(bs.call.transfer).to.deep.include({ direction: 'out', status: 200, succeeded: true });
    const [cs] = c.summaries();
    expect(cs.call.sipCallId).to.equal(second.call.sipCallId);
    // A and C hear each other (A's recording is of its last call, the one with C).
    await assertToneInWav(join(dir, 'c.wav'), 440);
    await assertToneInWav(join(dir, 'a.wav'), 880);
  });
});
