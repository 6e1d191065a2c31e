/**
 * Two MediaSessions talking to each other in process, under a ManualClock on the in-memory network
 * (no sockets, no real time): offer/answer both ways, ICE to `completed` on one pair, RTP both ways,
 * then re-offers for hold and resume (RFC 3264 §8.4) with the direction table applied and RTP
 * following it, and DTMF (RFC 4733) across.
 */
import { expect } from 'chai';
import { ManualClock } from '../../lib/base/clock.js';
import { MediaSession, type MediaOptions } from '../../lib/sip/session-description-handler.js';
import { FakeNetwork } from '../ice/fake-network.js';

async function run(clock: ManualClock, ms: number, step = 5): Promise<void> {
  for (let t = 0; t < ms; t += step) {
    clock.advance(step);
    await new Promise((r) => setImmediate(r));
  }
}

function pair(extra: Partial<MediaOptions> = {}) {
  const clock = new ManualClock();
  const net = new FakeNetwork(clock);
  const opts = (address: string): MediaOptions => ({ clock, bindSocket: net.bind, addresses: [address], play: 'silence', taMs: 20, sdpFormat: 'ice', ...extra });
  return { clock, net, a: new MediaSession(opts('10.0.0.1')), b: new MediaSession(opts('10.0.0.2')) };
}

/** RTP datagrams (first byte 0x80) from `from` counted on the network log since `since`. */
function rtpFrom(net: FakeNetwork, from: string, since: number): number {
  return net.log.slice(since).filter((d) => d.from.address === from && d.data.length >= 12 && d.data[0]! >> 6 === 2 && (d.data[1]! & 0x7f) < 64).length;
}

describe('MediaSession pairs in process (ManualClock, in-memory network)', function () {
  this.timeout(20000);

  for (const offerer of ['a', 'b'] as const) {
    it(`offer from ${offerer}: ICE completes on one pair, RTP both ways, hold and resume follow RFC 3264 §6.1`, async () => {
      const p = pair();
      const [off, ans] = offerer === 'a' ? [p.a, p.b] : [p.b, p.a];
      try {
        const offer = (await off.getDescription()).body;
        expect(offer).to.match(/^a=candidate:/m);
        expect(offer).to.match(/^a=sendrecv\r?$/m);
        await ans.setDescription(offer);
        const answer = (await ans.getDescription()).body;
        await off.setDescription(answer);
        await run(p.clock, 3000);
        const so = off.summary();
        const sa = ans.summary();
        expect(so.ice.state).to.equal('completed');
        expect(sa.ice.state).to.equal('completed');
        expect(so.ice.role).to.equal('controlling');
        expect(so.ice.selectedPair!.local.port).to.equal(sa.ice.selectedPair!.remote.port);
        expect(so.rtp.packetsReceived).to.be.greaterThan(50);
        expect(sa.rtp.packetsReceived).to.be.greaterThan(50);

        // Hold: our re-offer says sendonly, the answer recvonly; neither side sends RTP meanwhile.
        off.setLocalHold(true);
        const holdOffer = (await off.getDescription()).body;
        expect(holdOffer).to.match(/^a=sendonly\r?$/m);
        await ans.setDescription(holdOffer);
        const holdAnswer = (await ans.getDescription()).body;
        expect(holdAnswer).to.match(/^a=recvonly\r?$/m);
        await off.setDescription(holdAnswer);
        const mark = p.net.log.length;
        await run(p.clock, 2000);
        const offAddr = offerer === 'a' ? '10.0.0.1' : '10.0.0.2';
        const ansAddr = offerer === 'a' ? '10.0.0.2' : '10.0.0.1';
        expect(rtpFrom(p.net, offAddr, mark), 'holder sends no audio').to.equal(0);
        expect(rtpFrom(p.net, ansAddr, mark), 'held side sends no RTP').to.equal(0);
        expect(off.holdState).to.deep.equal({ local: true, remote: false });
        expect(ans.holdState).to.deep.equal({ local: false, remote: true });

        // Resume: sendrecv both ways again.
        off.setLocalHold(false);
        const resume = (await off.getDescription()).body;
        expect(resume).to.match(/^a=sendrecv\r?$/m);
        await ans.setDescription(resume);
        const resumeAnswer = (await ans.getDescription()).body;
        expect(resumeAnswer).to.match(/^a=sendrecv\r?$/m);
        await off.setDescription(resumeAnswer);
        const mark2 = p.net.log.length;
        await run(p.clock, 1000);
        expect(rtpFrom(p.net, offAddr, mark2)).to.be.greaterThan(40);
        expect(rtpFrom(p.net, ansAddr, mark2)).to.be.greaterThan(40);
        expect(off.holdPeriods.map((h) => [h.by, h.endMs !== undefined])).to.deep.equal([['local', true]]);
        expect(ans.holdPeriods.map((h) => [h.by, h.endMs !== undefined])).to.deep.equal([['remote', true]]);

        // DTMF across (RFC 4733, telephone-event negotiated in the first exchange).
        const heard: string[] = [];
        ans.on('dtmf', (d) => heard.push(d));
        expect(off.sendDtmf('42#')).to.equal(true);
        await run(p.clock, 1500);
        expect(heard.join('')).to.equal('42#');
      } finally {
        await Promise.all([p.a.closeAndWait(), p.b.closeAndWait()]);
      }
    });
  }

  it('an offer without telephone-event gets an answer without it, and sendDtmf says false', async () => {
    const p = pair();
    try {
      const offer = (await p.a.getDescription()).body.replace(/^a=rtpmap:101 .*\r?\n|^a=fmtp:101 .*\r?\n/gm, '').replace(/^(m=audio \d+ RTP\/AVP [\d ]+?) 101/m, '$1');
      await p.b.setDescription(offer);
      const answer = (await p.b.getDescription()).body;
      expect(answer).to.not.match(/telephone-event/);
      await p.a.setDescription(answer);
      await run(p.clock, 1000);
      expect(p.b.sendDtmf('1')).to.equal(false);
    } finally {
      await Promise.all([p.a.closeAndWait(), p.b.closeAndWait()]);
    }
  });
});
