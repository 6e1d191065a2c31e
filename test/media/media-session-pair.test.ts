/**
 * Two MediaSessions talking to each other in process, under a ManualClock on the in-memory network
 * (no sockets, no real time): offer/answer both ways, ICE to `completed` on one pair, RTP both ways,
 * then re-offers for hold and resume (RFC 3264 §8.4) with the direction table applied and RTP
 * following it, and DTMF (RFC 4733) across. Issue 11: the offer/answer state on both ends through
 * re-offers from either side, an offerless re-INVITE (we offer in the 2xx), UPDATE exchanges and
 * UPDATE glare (491 both ways, then the retry), and the RFC 3264 §6.1 answer-direction table.
 */
import { expect } from 'chai';
import { ManualClock } from '../../lib/base/clock.js';
import { MediaSession, type MediaOptions } from '../../lib/media/media-session.js';
import { GlareError } from '../../lib/media/offer-answer-state.js';
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

  /** a offers, b answers, ICE completes; both stable after one exchange. */
  async function connected(p: ReturnType<typeof pair>): Promise<void> {
    await p.b.setDescription((await p.a.getDescription()).body);
    expect(p.a.offerAnswerState).to.equal('local-offer');
    expect(p.b.offerAnswerState).to.equal('remote-offer');
    await p.a.setDescription((await p.b.getDescription()).body);
    await run(p.clock, 2500);
    expect([p.a.offerAnswerState, p.b.offerAnswerState]).to.deep.equal(['stable', 'stable']);
    expect([p.a.exchanges, p.b.exchanges]).to.deep.equal([1, 1]);
    expect(p.a.summary().ice.state).to.equal('completed');
  }

  it('re-offers from either side and an offerless re-INVITE (the offer in our 2xx) keep both ends in step', async () => {
    const p = pair();
    try {
      await connected(p);
      // The answerer re-offers (a re-INVITE of its own): roles in offer/answer swap, ICE stays.
      const reoffer = (await p.b.getDescription()).body;
      expect(p.b.offerAnswerState).to.equal('local-offer');
      await p.a.setDescription(reoffer);
      expect(p.a.offerAnswerState).to.equal('remote-offer');
      await p.b.setDescription((await p.a.getDescription()).body);
      expect([p.a.exchanges, p.b.exchanges]).to.deep.equal([2, 2]);
      // An offerless re-INVITE to a: sip.js asks a for an offer for its 2xx; b's answer comes in the ACK.
      const inTwoHundred = (await p.a.getDescription()).body;
      expect(inTwoHundred).to.match(/^a=sendrecv\r?$/m);
      await p.b.setDescription(inTwoHundred);
      await p.a.setDescription((await p.b.getDescription()).body);
      expect([p.a.offerAnswerState, p.b.offerAnswerState]).to.deep.equal(['stable', 'stable']);
      expect([p.a.exchanges, p.b.exchanges]).to.deep.equal([3, 3]);
      // Media went on through all of it, on the same pair.
      const before = p.b.summary().rtp.packetsReceived;
      await run(p.clock, 1000);
      expect(p.b.summary().rtp.packetsReceived - before).to.be.greaterThan(40);
      expect(p.a.summary().ice.selectedPair!.remote.port).to.equal(p.b.summary().ice.selectedPair!.local.port);
    } finally {
      await Promise.all([p.a.closeAndWait(), p.b.closeAndWait()]);
    }
  });

  it('UPDATE glare: an UPDATE offer crossing our re-INVITE offer gets 491 (RFC 3311 §5.2); crossed UPDATEs retried after their 491s complete; a failed offer rolls back', async () => {
    const p = pair();
    try {
      await connected(p);
      // a's re-INVITE offer (hold) is out; b's UPDATE offer crosses it.
      p.a.setLocalHold(true);
      const reinvite = (await p.a.getDescription()).body;
      const update = await p.b.createUpdateOffer();
      let glare: unknown;
      try { await p.a.answerUpdateOffer(update); } catch (e) { glare = e; }
      expect(glare).to.be.instanceOf(GlareError);
      expect((glare as GlareError).statusCode).to.equal(491);
      expect(p.a.offerAnswerState, 'our offer still pending').to.equal('local-offer');
      // b's UPDATE got 491 and will be retried; meanwhile a's re-INVITE is answered.
      p.b.abandonUpdateOffer();
      await p.b.setDescription(reinvite);
      await p.a.setDescription((await p.b.getDescription()).body);
      expect(p.a.holdState.local).to.equal(true);
      // Both offer by UPDATE at once: update.ts answers each with 491 (the dialog has an offer out),
      // so neither reaches the media; a's retry then reaches b, whose own refused offer is withdrawn.
      await p.a.createUpdateOffer();
      await p.b.createUpdateOffer();
      const retry = await p.a.createUpdateOffer(); // replaces a's refused one
      const answer = await p.b.answerUpdateOffer(retry);
      await p.a.applyUpdateAnswer(answer);
      expect([p.a.offerAnswerState, p.b.offerAnswerState]).to.deep.equal(['stable', 'stable']);
      expect([p.a.exchanges, p.b.exchanges]).to.deep.equal([3, 3]);
      // An answer nobody asked for is refused, and changes nothing.
      let late: unknown;
      try { await p.a.applyUpdateAnswer(answer); } catch (e) { late = e; }
      expect(String(late)).to.match(/StateError: an UPDATE answer in offer\/answer state stable/);
      // A resume whose re-INVITE is refused (sip.js rolls the offer back): the hold stays in place.
      p.a.setLocalHold(false);
      expect((await p.a.getDescription()).body).to.match(/^a=sendrecv\r?$/m);
      await p.a.rollbackDescription();
      expect(p.a.offerAnswerState).to.equal('stable');
      expect(p.a.holdState.local).to.equal(true);
      expect((await p.a.getDescription()).body, 'the next offer still holds').to.match(/^a=sendonly\r?$/m);
    } finally {
      await Promise.all([p.a.closeAndWait(), p.b.closeAndWait()]);
    }
  });

  /**
   * RFC 3264 §6.1 (and RFC 3264 §8.4, RFC 6337 §5.3): the answer to each offered direction, with the
   * answerer wanting sendrecv or itself holding (sendonly); whether the answerer then sends RTP.
   * `c=0.0.0.0` is the RFC 2543 hold: the offerer does not want media.
   */
  const DIRECTIONS: Array<[offer: string, answererHolds: boolean, answer: string, answererSends: boolean]> = [
    ['sendrecv', false, 'sendrecv', true],
    ['sendonly', false, 'recvonly', false],
    ['recvonly', false, 'sendonly', true],
    ['inactive', false, 'inactive', false],
    ['c=0.0.0.0', false, 'recvonly', false],
    ['sendrecv', true, 'sendonly', false],
    ['sendonly', true, 'inactive', false],
    ['recvonly', true, 'sendonly', false],
    ['inactive', true, 'inactive', false],
  ];
  for (const [offered, holds, expected, sends] of DIRECTIONS) {
    it(`direction table: offer ${offered}${holds ? ', answerer holding' : ''} → answer ${expected}, answerer ${sends ? 'sends' : 'sends no'} RTP`, async () => {
      const p = pair();
      try {
        await connected(p);
        if (holds) {
          // b holds a first (its own completed re-offer), then a re-offers with the direction under test.
          p.b.setLocalHold(true);
          await p.a.setDescription((await p.b.getDescription()).body);
          await p.b.setDescription((await p.a.getDescription()).body);
          expect(p.b.holdState.local).to.equal(true);
        }
        let offer = (await p.a.getDescription()).body;
        offer = offered === 'c=0.0.0.0'
          ? offer.replace(/^c=IN IP4 \S+/gm, 'c=IN IP4 0.0.0.0')
          : offer.replace(/^a=(sendrecv|sendonly|recvonly|inactive)(\r?)$/m, `a=${offered}$2`);
        await p.b.setDescription(offer);
        const answer = (await p.b.getDescription()).body;
        expect(answer.match(/^a=(sendrecv|sendonly|recvonly|inactive)\r?$/m)?.[1]).to.equal(expected);
        await p.a.setDescription(answer);
        const mark = p.net.log.length;
        await run(p.clock, 1000);
        const sent = rtpFrom(p.net, '10.0.0.2', mark);
        if (sends) expect(sent, 'answerer RTP').to.be.greaterThan(40);
        else expect(sent, 'answerer RTP').to.equal(0);
        expect(p.b.holdState.remote, 'the answerer is held when the offer does not receive').to.equal(!['sendrecv', 'recvonly'].includes(offered));
      } finally {
        await Promise.all([p.a.closeAndWait(), p.b.closeAndWait()]);
      }
    });
  }
});
