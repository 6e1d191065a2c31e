/**
 * Issue 11 (hold, RFC 3264 §8.4 / RFC 6337 §5): `call.hold()` while the call is still ringing, in
 * the early dialog of a call with preconditions (the reliable 183 completed the initial offer/answer,
 * RFC 3262), goes as an UPDATE (RFC 3311 §5.1), not a re-INVITE; the callee answers recvonly and
 * the caller's RTP stops; after the 200, `unhold()` is a re-INVITE and RTP flows again.
 * Two Phones in process on loopback.
 */
import { expect } from 'chai';
import { Phone, type Call } from '../../lib/sip/user-agent.js';
import type { PhoneOptions } from '../../lib/sip/user-agent.js';

function options(trace: string[]): PhoneOptions {
  return {
    listen: { address: '127.0.0.1', port: 0 },
    preconditions: 'mandatory',
    media: { addresses: ['127.0.0.1'], includeLoopback: true, play: 'silence', sdpFormat: 'ice' },
    trace: (direction, text) => trace.push(`${direction} ${text.split('\r\n')[0]}${/\r\na=(sendonly|recvonly|inactive|sendrecv)\r\n/.exec(text)?.[0].trim().replace(/^/, ' ') ?? ''}`),
  };
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('hold in an early dialog goes by UPDATE (issue 11)', function () {
  this.timeout(40000);

  it('hold while ringing: UPDATE sendonly → 200 recvonly, the caller stops sending; resume after the answer: re-INVITE sendrecv', async () => {
    const callerTrace: string[] = [];
    const calleeTrace: string[] = [];
    const callee = await Phone.start(options(calleeTrace));
    const caller = await Phone.start(options(callerTrace));
    let incoming: Call | undefined;
    callee.on('incoming', (c) => { incoming = c; }); // rings; answered later by the test
    try {
      const call = caller.call(`sip:bob@127.0.0.1:${callee.port}`);
      let alerted = false;
      call.on('alerting', () => { alerted = true; });
      await until(() => alerted && incoming !== undefined, 20000, 'alerting (preconditions met)');
      await until(() => (call.media?.rtpStats?.packetsSent ?? 0) > 10, 10000, 'early media');
      expect(call.session.state).to.equal('Establishing');

      await call.hold();
      expect(call.holdState.local).to.equal(true);
      expect(incoming!.holdState.remote).to.equal(true);
      const updates = callerTrace.filter((l) => l.startsWith('send UPDATE'));
      expect(updates.at(-1), callerTrace.join('\n')).to.match(/ a=sendonly$/);
      expect(callerTrace.some((l) => /^recv SIP\/2\.0 200 OK a=recvonly$/.test(l)), callerTrace.join('\n')).to.equal(true);
      expect(callerTrace.filter((l) => l.startsWith('send INVITE')), 'no re-INVITE in the early dialog').to.have.length(1);
      const sentAtHold = call.media!.rtpStats!.packetsSent;
      await new Promise((r) => setTimeout(r, 600));
      expect(call.media!.rtpStats!.packetsSent, 'the holder sends no audio').to.equal(sentAtHold);

      await callee.answer(incoming!);
      await until(() => call.session.state === 'Established', 10000, 'the 200');
      await call.unhold();
      expect(call.holdState.local).to.equal(false);
      expect(callerTrace.filter((l) => l.startsWith('send INVITE')).at(-1)).to.match(/ a=sendrecv$/);
      const resumedAt = call.media!.rtpStats!.packetsSent;
      await until(() => call.media!.rtpStats!.packetsSent > resumedAt + 10, 5000, 'RTP after resume');
      expect(call.media!.holdPeriods.map((p) => [p.by, p.endMs !== undefined])).to.deep.equal([['local', true]]);
      await call.hangup();
    } finally {
      await Promise.all([caller.stop(), callee.stop()]);
    }
  });
});
