/**
 * Issue 10: a peer signals its candidate as `2001:DB8::2` while its packets arrive from
 * `2001:db8::2` (what the OS reports). The addresses are the same; comparing their text made
 * the check fail as "asymmetric" (RFC 8445 §7.2.5.2.1) and the peer's own check create a
 * duplicate peer-reflexive remote candidate (§7.3.1.3). Under a ManualClock on the in-memory network.
 */
import { expect } from 'chai';
import { ManualClock } from '../../lib/base/clock.js';
import { IceAgent } from '../../lib/ice/agent.js';
import { computePriority, type Candidate } from '../../lib/ice/candidate.js';
import { parseCandidateAttribute } from '../../lib/sdp/ice-attributes.js';
import { buildCheckRequest } from '../../lib/ice/connectivity-check.js';
import type { TransportAddress } from '../../lib/net/socket.js';
import { shortTermKey } from '../../lib/stun/integrity.js';
import { StunAttr, StunMessage, StunMethod } from '../../lib/stun/message.js';
import { FakeNetwork, type FakeSocket } from './fake-network.js';

const PEER_UFRAG = 'peer';
const PEER_PWD = 'peerpasswordpeerpassword';

async function run(clock: ManualClock, ms: number, step = 5): Promise<void> {
  for (let t = 0; t < ms; t += step) {
    clock.advance(step);
    await new Promise((r) => setImmediate(r));
  }
}

function respond(to: StunMessage, from: FakeSocket, dest: TransportAddress): void {
  const res = new StunMessage({ method: StunMethod.Binding, messageClass: 'success', transactionId: to.transactionId });
  res.addXorAddress(StunAttr.XOR_MAPPED_ADDRESS, dest);
  from.send(res.encode({ integrityKey: shortTermKey(PEER_PWD), fingerprint: true }), dest);
}

const signalled: Array<[string, () => Candidate]> = [
  ['added as the peer spelled it (2001:DB8::2)', () => ({
    foundation: 'R1', component: 1, transport: 'udp', priority: computePriority('host', 65535, 1), address: '2001:DB8::2', port: 5000, type: 'host',
  })],
  ['parsed from a=candidate with 2001:DB8::2', () => parseCandidateAttribute('a=candidate:R1 1 UDP 2130706431 2001:DB8::2 5000 typ host')],
  ['parsed from a=candidate fully expanded and zero-padded', () => parseCandidateAttribute('a=candidate:R1 1 UDP 2130706431 2001:0DB8:0000:0000:0000:0000:0000:0002 5000 typ host')],
];

describe('IceAgent: an IPv6 candidate signalled in one spelling, checks arriving in another (issue 10)', () => {
  for (const [how, remote] of signalled) {
    it(`${how}: the check succeeds and no peer-reflexive candidate appears`, async () => {
      const clock = new ManualClock();
      const net = new FakeNetwork(clock);
      const peer = net.bindSync('2001:db8::2', 5000);
      expect(peer.local.address).to.equal('2001:db8::2'); // what the agent will see as the source
      const agent = new IceAgent({ role: 'controlling', components: 1, clock, addresses: ['2001:db8::1'], bindSocket: net.bind, taMs: 20, nominationWaitMs: 100 });
      try {
        await agent.gather();
        agent.setRemoteCredentials(PEER_UFRAG, PEER_PWD);
        agent.addRemoteCandidate(remote());
        const host = agent.localCandidates[0]!;
        const results: string[] = [];
        agent.on('check', (i) => results.push(i.result));
        const answers: StunMessage[] = [];
        let peerChecked = false;
        peer.onPacket((data, from) => {
          const msg = StunMessage.decode(data);
          if (msg.messageClass !== 'request') { answers.push(msg); return; }
          respond(msg, peer, from);
          if (peerChecked) return;
          peerChecked = true;
          // The peer's own check (its triggered check), from 2001:db8::2.
          const check = buildCheckRequest({ localUfrag: PEER_UFRAG, remoteUfrag: agent.localUfrag, priority: computePriority('prflx', 65535, 1), role: 'controlled', tieBreaker: 1n });
          peer.send(check.encode({ integrityKey: shortTermKey(agent.localPwd), fingerprint: true }), host);
        });
        agent.start();
        await run(clock, 500);

        expect(results, 'no asymmetric failure').to.not.include('failed');
        expect(results).to.include('succeeded');
        expect(agent.state).to.equal('completed');
        const selected = agent.selectedPair(1)!;
        expect(selected.nominated).to.equal(true);
        expect(selected.remote.type).to.equal('host');
        expect(selected.remote.port).to.equal(5000);
        if (how.startsWith('parsed')) expect(selected.remote.address, 'the SDP parser stores canonical text').to.equal('2001:db8::2');
        // The peer's check came from the signalled candidate: no peer-reflexive duplicate (§7.3.1.3).
        expect(answers.map((a) => a.messageClass)).to.include('success');
        expect(agent.remoteCandidates.map((c) => c.type)).to.deep.equal(['host']);
        expect(agent.peerReflexiveLocal).to.deep.equal([]);
        expect(agent.pairs()).to.have.length(1);
      } finally {
        await agent.close();
      }
    });
  }
});
