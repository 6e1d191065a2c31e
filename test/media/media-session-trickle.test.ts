/**
 * Trickle ICE between two MediaSessions (RFC 8838, RFC 8840 bodies), in process under a ManualClock
 * on the in-memory network: the 'trickle' fragments one session emits are handed to the other's
 * applyTrickleFragment, as the SIP layer does with INFO requests. A STUN server nobody answers keeps
 * gathering going for 2.5 s, which full trickle does not wait for and half trickle does.
 */
import { expect } from 'chai';
import { ManualClock } from '../../lib/base/clock.js';
import { StateError } from '../../lib/base/errors.js';
import { MediaSession, type MediaOptions } from '../../lib/media/media-session.js';
import { formatTrickleFragment } from '../../lib/sdp/trickle-fragment.js';
import { FakeNetwork } from '../ice/fake-network.js';

const DEAD_STUN = { host: '192.0.2.99', port: 3478 };

async function run(clock: ManualClock, ms: number, step = 5): Promise<void> {
  for (let t = 0; t < ms; t += step) {
    clock.advance(step);
    await new Promise((r) => setImmediate(r));
  }
}

function pair(a: Partial<MediaOptions>, b: Partial<MediaOptions>) {
  const clock = new ManualClock();
  const net = new FakeNetwork(clock);
  const opts = (address: string): MediaOptions => ({ clock, bindSocket: net.bind, addresses: [address], play: 'silence', taMs: 20, sdpFormat: 'ice', stunServers: [DEAD_STUN] });
  return { clock, net, a: new MediaSession({ ...opts('10.0.0.1'), ...a }), b: new MediaSession({ ...opts('10.0.0.2'), ...b }) };
}

/** Each side's fragments go to the other on the next turn of the event loop (an INFO's trip). */
function wire(x: MediaSession, y: MediaSession): { xToY: string[]; yToX: string[] } {
  const sent = { xToY: [] as string[], yToX: [] as string[] };
  x.on('trickle', (f) => { sent.xToY.push(f); setImmediate(() => y.applyTrickleFragment(f)); });
  y.on('trickle', (f) => { sent.yToX.push(f); setImmediate(() => x.applyTrickleFragment(f)); });
  return sent;
}

describe('MediaSession trickle ICE (RFC 8838, RFC 8840)', function () {
  this.timeout(20000);

  it('full: offer and answer leave with host candidates only, media flows both ways before gathering ends, end-of-candidates follows', async () => {
    const p = pair({ trickle: 'full' }, { trickle: 'full' });
    try {
      const sent = wire(p.a, p.b);
      const offer = (await p.a.getDescription()).body;
      expect(p.clock.now()).to.equal(0);
      expect(offer).to.match(/^a=ice-options:trickle\r?$/m);
      expect(offer).to.not.match(/^a=end-of-candidates/m);
      expect(offer.match(/^a=candidate:.* typ host/gm)).to.have.length(2); // RTP and RTCP (mux proposed)
      await p.b.setDescription(offer);
      const answer = (await p.b.getDescription()).body;
      expect(answer).to.match(/^a=ice-options:trickle\r?$/m);
      expect(answer).to.not.match(/^a=end-of-candidates/m);
      await p.a.setDescription(answer);
      await run(p.clock, 1500);
      expect(p.a.iceAgent!.gatheringComplete, 'A still gathering').to.equal(false);
      const sa = p.a.summary();
      const sb = p.b.summary();
      expect(sa.ice.state).to.be.oneOf(['connected', 'completed']);
      expect(sb.ice.state).to.be.oneOf(['connected', 'completed']);
      expect(sa.rtp.packetsReceived).to.be.greaterThan(20);
      expect(sb.rtp.packetsReceived).to.be.greaterThan(20);
      expect(sent.xToY).to.have.length(0);
      await run(p.clock, 1500);
      // Gathering ended (the STUN server never answered): each side trickles its end-of-candidates.
      expect(sent.xToY).to.have.length(1);
      expect(sent.yToX).to.have.length(1);
      expect(sent.xToY[0]).to.match(/^a=end-of-candidates\r?$/m);
      // (ice-chars include '+' and '/': compare the line, not a RegExp built from the ufrag)
      expect(sent.xToY[0]!.split(/\r?\n/)).to.include(`a=ice-ufrag:${p.a.iceAgent!.localUfrag}`);
      expect(p.b.iceAgent!.remoteCandidatesComplete).to.equal(true);
      expect(p.a.iceAgent!.remoteCandidatesComplete).to.equal(true);
      expect(p.a.trickleStats.fragmentsSent).to.equal(1);
      expect(p.b.trickleStats.fragmentsApplied).to.equal(1);
    } finally {
      await Promise.all([p.a.closeAndWait(), p.b.closeAndWait()]);
    }
  });

  it('full: a candidate gathered after the answer reaches the peer in a fragment and is paired there', async () => {
    // B's host 10.0.0.3 comes "late": its second address joins through a fragment as a trickled candidate.
    const p = pair({ trickle: 'full' }, { trickle: 'full' });
    try {
      wire(p.a, p.b);
      await p.b.setDescription((await p.a.getDescription()).body);
      await p.a.setDescription((await p.b.getDescription()).body);
      const agentB = p.b.iceAgent!;
      const late = { foundation: '9', component: 1, transport: 'udp' as const, priority: 2113937151, address: '10.0.0.3', port: 41234, type: 'host' as const };
      const body = formatTrickleFragment({ ufrag: agentB.localUfrag, pwd: agentB.localPwd, candidates: [late], endOfCandidates: false }, { media: 'audio', profile: 'RTP/AVP', formats: [0] });
      await run(p.clock, 10);
      expect(p.a.applyTrickleFragment(body)).to.equal('applied');
      expect(p.a.iceAgent!.pairs().some((x) => x.remote.address === '10.0.0.3')).to.equal(true);
      expect(p.a.summary().ice.remoteCandidates.some((c) => c.address === '10.0.0.3')).to.equal(true);
      // Another generation's credentials: dropped and counted.
      const stale = formatTrickleFragment({ ufrag: 'zzzz', pwd: 'z'.repeat(22), candidates: [late], endOfCandidates: true }, { media: 'audio', profile: 'RTP/AVP', formats: [0] });
      expect(p.a.applyTrickleFragment(stale)).to.equal('stale');
      expect(p.a.iceAgent!.remoteCandidatesComplete).to.equal(false);
      expect(p.a.trickleStats.fragmentsStale).to.equal(1);
      // The peer's end-of-candidates, then a candidate after it: ignored and counted (RFC 8838 §14).
      const end = formatTrickleFragment({ ufrag: agentB.localUfrag, pwd: agentB.localPwd, candidates: [], endOfCandidates: true }, { media: 'audio', profile: 'RTP/AVP', formats: [0] });
      expect(p.a.applyTrickleFragment(end)).to.equal('applied');
      expect(p.a.iceAgent!.remoteCandidatesComplete).to.equal(true);
      const afterEnd = { ...late, foundation: '10', address: '10.0.0.4', port: 41235 };
      const tooLate = formatTrickleFragment({ ufrag: agentB.localUfrag, pwd: agentB.localPwd, candidates: [afterEnd], endOfCandidates: false }, { media: 'audio', profile: 'RTP/AVP', formats: [0] });
      p.a.applyTrickleFragment(tooLate);
      expect(p.a.iceAgent!.pairs().some((x) => x.remote.address === '10.0.0.4'), 'no pair with a candidate after end-of-candidates').to.equal(false);
      expect(p.a.trickleStats.candidatesAfterEnd).to.equal(1);
    } finally {
      await Promise.all([p.a.closeAndWait(), p.b.closeAndWait()]);
    }
  });

  it('half: the offer waits for gathering and carries every candidate with end-of-candidates', async () => {
    const p = pair({ trickle: 'half' }, { trickle: 'half' });
    try {
      const sent = wire(p.a, p.b);
      let offer: string | undefined;
      const pending = p.a.getDescription().then((d) => { offer = d.body; });
      await run(p.clock, 1000);
      expect(offer, 'no offer before gathering ends').to.equal(undefined);
      await run(p.clock, 2000);
      await pending;
      expect(p.clock.now()).to.be.at.least(2500);
      expect(offer).to.match(/^a=ice-options:trickle\r?$/m);
      expect(offer).to.match(/^a=end-of-candidates\r?$/m);
      // B gathers (2.5 s) before it takes the offer and answers: the clock runs meanwhile.
      let answer: string | undefined;
      const pa = p.b.setDescription(offer!).then(() => p.b.getDescription()).then((d) => { answer = d.body; });
      await run(p.clock, 3000);
      await pa;
      expect(answer).to.match(/^a=end-of-candidates\r?$/m);
      await p.a.setDescription(answer!);
      await run(p.clock, 1500);
      expect(p.a.summary().ice.state).to.be.oneOf(['connected', 'completed']);
      expect(sent.xToY).to.deep.equal([]);
      expect(sent.yToX).to.deep.equal([]);
    } finally {
      await Promise.all([p.a.closeAndWait(), p.b.closeAndWait()]);
    }
  });

  it('an address that appears mid-call is trickled, checked and used; when it goes away an ICE restart is asked for, with the reason', async () => {
    let addressesA = ['10.0.9.1', '10.0.0.1'];
    const p = pair(
      { trickle: 'full', stunServers: undefined, addresses: ['10.0.9.1', '10.0.0.1'], watchInterfacesMs: 100, listAddresses: () => addressesA },
      { trickle: 'full', stunServers: undefined },
    );
    // A's first address reaches nothing: the call runs on 10.0.0.1 (local preference 65534).
    p.net.filter = (d) => d.from.address !== '10.0.9.1' && d.to.address !== '10.0.9.1';
    try {
      const sent = wire(p.a, p.b);
      const offerA = (await p.a.getDescription()).body;
      // Watching interfaces, A's gathering never ends: no end-of-candidates (RFC 8838 §13 would then
      // forbid trickling the new address without an ICE restart).
      expect(offerA).to.not.match(/^a=end-of-candidates/m);
      await p.b.setDescription(offerA);
      await p.a.setDescription((await p.b.getDescription()).body);
      await run(p.clock, 1500);
      expect(p.a.summary().ice.selectedPair?.local.address).to.equal('10.0.0.1');
      expect(sent.xToY.some((f) => /^a=end-of-candidates/m.test(f)), 'A never signals end-of-candidates').to.equal(false);
      const fragmentsBefore = sent.xToY.length;
      const renegotiate: string[] = [];
      p.a.on('renegotiate', (r) => renegotiate.push(r));
      addressesA = [...addressesA, '10.0.2.1'];
      await run(p.clock, 1500);
      expect(sent.xToY.slice(fragmentsBefore).some((f) => / 10\.0\.2\.1 \d+ typ host/.test(f)), 'the new candidate trickled').to.equal(true);
      expect(p.b.summary().ice.remoteCandidates.some((c) => c.address === '10.0.2.1')).to.equal(true);
      expect(p.a.summary().ice.selectedPair?.local.address).to.equal('10.0.2.1');
      expect(p.b.summary().ice.selectedPair?.remote.address).to.equal('10.0.2.1');
      expect(renegotiate).to.deep.equal([]);
      addressesA = addressesA.filter((x) => x !== '10.0.2.1');
      await run(p.clock, 300);
      expect(renegotiate).to.have.length(1);
      expect(renegotiate[0]).to.match(/10\.0\.2\.1 .*went away: ICE restart/);
      const restartOffer = (await p.a.getDescription()).body;
      expect(restartOffer).to.not.include(`a=ice-ufrag:${/a=ice-ufrag:(\S+)/.exec(sent.xToY[0] ?? 'a=ice-ufrag:x')![1]}\r`);
      // The gone address is offered no more, nor is it the m/c default.
      expect(restartOffer).to.not.include('10.0.2.1');
      expect(restartOffer).to.match(/^a=candidate:.* 10\.0\.0\.1 \d+ typ host/m);
    } finally {
      await Promise.all([p.a.closeAndWait(), p.b.closeAndWait()]);
    }
  });

  it('a candidate found after our end-of-candidates is not trickled: an ICE restart carries it (RFC 8838 §13)', async () => {
    const p = pair({ trickle: 'full', stunServers: undefined }, { trickle: 'full', stunServers: undefined });
    try {
      const sent = wire(p.a, p.b);
      const offer = (await p.a.getDescription()).body;
      // Nothing to wait for (host candidates only): the offer already says end-of-candidates.
      expect(offer).to.match(/^a=end-of-candidates/m);
      await p.b.setDescription(offer);
      await p.a.setDescription((await p.b.getDescription()).body);
      await run(p.clock, 1500);
      expect(p.a.summary().ice.state).to.be.oneOf(['connected', 'completed']);
      const oldUfrag = p.a.iceAgent!.localUfrag;
      const renegotiate: string[] = [];
      p.a.on('renegotiate', (r) => renegotiate.push(r));
      const fragmentsBefore = sent.xToY.length;
      await p.a.iceAgent!.addHostAddress('10.0.2.1');
      await run(p.clock, 200);
      expect(sent.xToY.slice(fragmentsBefore), 'no fragment after end-of-candidates').to.deep.equal([]);
      expect(renegotiate).to.have.length(1);
      expect(renegotiate[0]).to.match(/after our end-of-candidates: ICE restart \(RFC 8838 §13\)/);
      const restartOffer = (await p.a.getDescription()).body;
      expect(restartOffer).to.not.include(`a=ice-ufrag:${oldUfrag}`);
      expect(restartOffer).to.match(/^a=candidate:.* 10\.0\.2\.1 \d+ typ host/m);
    } finally {
      await Promise.all([p.a.closeAndWait(), p.b.closeAndWait()]);
    }
  });

  it('off: no ice-options, and a fragment is refused', async () => {
    const p = pair({ stunServers: undefined }, { stunServers: undefined });
    try {
      const offer = (await p.a.getDescription()).body;
      expect(offer).to.not.match(/ice-options/);
      expect(offer).to.not.match(/end-of-candidates/);
      expect(() => p.a.applyTrickleFragment('a=ice-ufrag:abcd\r\n')).to.throw(StateError);
    } finally {
      await Promise.all([p.a.closeAndWait(), p.b.closeAndWait()]);
    }
  });
});
