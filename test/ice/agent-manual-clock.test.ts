import { expect } from 'chai';
import { ManualClock } from '../../lib/base/clock.js';
import { IceAgent, type IceAgentOptions } from '../../lib/ice/agent.js';
import { computePriority, type Candidate } from '../../lib/ice/candidate.js';
import { buildCheckRequest } from '../../lib/ice/connectivity-check.js';
import type { TransportAddress } from '../../lib/net/socket.js';
import { shortTermKey, verifyMessageIntegrity } from '../../lib/stun/integrity.js';
import { StunAttr, StunMessage, StunMethod } from '../../lib/stun/message.js';
import { FakeNetwork, type FakeSocket } from './fake-network.js';

const PEER_UFRAG = 'peer';
const PEER_PWD = 'peerpasswordpeerpassword';

function hostCandidate(address: string, port: number, component = 1, foundation = 'R1'): Candidate {
  return { foundation, component, transport: 'udp', priority: computePriority('host', 65535, component), address, port, type: 'host' };
}

/** Advances the clock in small steps, letting promise callbacks run in between. */
async function run(clock: ManualClock, ms: number, step = 1): Promise<void> {
  for (let t = 0; t < ms; t += step) {
    clock.advance(step);
    await new Promise((r) => setImmediate(r));
  }
}

function respond(to: StunMessage, from: FakeSocket, dest: TransportAddress, opts: { key?: string; mapped?: { address: string; port: number }; errorCode?: number } = {}): void {
  const res = new StunMessage({ method: StunMethod.Binding, messageClass: opts.errorCode ? 'error' : 'success', transactionId: to.transactionId });
  if (opts.errorCode) res.addErrorCode(opts.errorCode, 'x');
  else res.addXorAddress(StunAttr.XOR_MAPPED_ADDRESS, opts.mapped ?? dest);
  from.send(res.encode({ integrityKey: shortTermKey(opts.key ?? PEER_PWD), fingerprint: true }), dest);
}

describe('IceAgent under a ManualClock (in-memory network)', () => {
  let clock: ManualClock;
  let net: FakeNetwork;
  let agent: IceAgent;
  let peer: FakeSocket;
  let requests: Array<{ msg: StunMessage; from: TransportAddress; at: number }>;

  async function setup(opts: Partial<IceAgentOptions> = {}, remotes: Candidate[] = [hostCandidate('10.0.0.2', 5000)]): Promise<void> {
    clock = new ManualClock();
    net = new FakeNetwork(clock);
    peer = net.bindSync('10.0.0.2', 5000);
    requests = [];
    agent = new IceAgent({ role: 'controlling', components: 1, clock, addresses: ['10.0.0.1'], bindSocket: net.bind, nominationWaitMs: 100, ...opts });
    await agent.gather();
    agent.setRemoteCredentials(PEER_UFRAG, PEER_PWD);
    for (const r of remotes) agent.addRemoteCandidate(r);
  }

  function onPeerRequest(fn: (msg: StunMessage, from: TransportAddress) => void): void {
    peer.onPacket((data, from) => {
      const msg = StunMessage.decode(data);
      if (msg.messageClass !== 'request') return;
      requests.push({ msg, from, at: clock.now() });
      fn(msg, from);
    });
  }

  afterEach(async () => {
    await agent?.close();
  });

  it('sends checks with the RFC 8445 §7.2.2 attributes, paced by Ta, and fails after checkTimeoutMs', async () => {
    await setup({ taMs: 50, checkTimeoutMs: 3000 }, [hostCandidate('10.0.0.2', 5000, 1, 'R1'), hostCandidate('10.0.0.3', 5000, 1, 'R2'), hostCandidate('10.0.0.4', 5000, 1, 'R3')]);
    const sent: Array<{ at: number; to: string }> = [];
    agent.on('check', (i) => { if (i.result === 'sent') sent.push({ at: clock.now(), to: i.pair.remote.address }); });
    onPeerRequest(() => {});
    const states: string[] = [];
    agent.on('state', (s) => states.push(s));
    agent.start();
    await run(clock, 120);
    expect(sent.map((s) => s.at)).to.deep.equal([0, 50, 100]);
    const { msg } = requests[0];
    expect(msg.getUsername()).to.equal(`${PEER_UFRAG}:${agent.localUfrag}`);
    expect(msg.getPriority()).to.equal(computePriority('prflx', 65535, 1));
    expect(msg.getIceControlling()).to.equal(agent.tieBreaker);
    expect(msg.has(StunAttr.USE_CANDIDATE)).to.equal(false);
    expect(msg.has(StunAttr.FINGERPRINT)).to.equal(true);
    expect(verifyMessageIntegrity(msg, shortTermKey(PEER_PWD))).to.equal(true);
    await run(clock, 3000, 50);
    expect(agent.state).to.equal('failed');
    expect(states).to.deep.equal(['checking', 'failed']);
  });

  it('connects with a responsive peer: valid pair, USE-CANDIDATE nomination, keepalives (§11) without consent checks', async () => {
    await setup({ taMs: 20, keepaliveMs: 1000, consent: false });
    onPeerRequest((msg, from) => respond(msg, peer, from));
    agent.start();
    await run(clock, 400, 5);
    expect(agent.state).to.equal('completed');
    const nominations = requests.filter((r) => r.msg.has(StunAttr.USE_CANDIDATE));
    expect(nominations).to.have.length(1);
    const sel = agent.selectedPair(1)!;
    expect(sel.nominated).to.equal(true);
    expect(sel.remote.port).to.equal(5000);
    // Keepalive: a Binding indication when nothing was sent for keepaliveMs.
    const before = net.log.length;
    await run(clock, 1100, 50);
    const indications = net.log.slice(before).filter((d) => d.to.port === 5000 && StunMessage.decode(d.data).messageClass === 'indication');
    expect(indications.length).to.equal(1);
    // Media sent resets the keepalive timer.
    const before2 = net.log.length;
    for (let i = 0; i < 10; i++) {
      agent.send(1, Buffer.from([0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]));
      await run(clock, 200, 50);
    }
    const stunAfter = net.log.slice(before2).filter((d) => d.data[0] < 4);
    expect(stunAfter).to.have.length(0);
  });

  it('fails the pair when the response comes from another address (§7.2.5.2.1, asymmetric)', async () => {
    await setup({ taMs: 20 });
    const other = net.bindSync('10.0.0.2', 5001);
    onPeerRequest((msg, from) => respond(msg, other, from));
    const results: string[] = [];
    agent.on('check', (i) => results.push(i.result));
    agent.start();
    await run(clock, 100, 5);
    expect(results).to.include('failed');
    expect(agent.pairs().filter((p) => p.state === 'succeeded')).to.have.length(0);
    expect(agent.state).to.equal('failed'); // the only pair failed
  });

  it('drops a response with a bad MESSAGE-INTEGRITY (counted) and accepts the retransmission\'s good one', async () => {
    await setup({ taMs: 20 });
    let n = 0;
    onPeerRequest((msg, from) => respond(msg, peer, from, { key: n++ === 0 ? 'wrong-wrong-wrong-wrong' : PEER_PWD }));
    agent.start();
    await run(clock, 50, 5);
    expect(agent.stats.integrityFailures).to.equal(1);
    expect(agent.pairs()[0].state).to.equal('in-progress');
    await run(clock, 600, 10); // RTO 500: retransmission
    expect(agent.pairs()[0].state).to.equal('succeeded');
    expect(agent.stats.responsesReceived).to.be.greaterThan(0);
  });

  it('switches role on a 487 and retries the pair (§7.2.5.1)', async () => {
    await setup({ taMs: 20 });
    onPeerRequest((msg, from) => {
      if (msg.has(StunAttr.ICE_CONTROLLING)) respond(msg, peer, from, { errorCode: 487 });
      else respond(msg, peer, from);
    });
    agent.start();
    await run(clock, 200, 5);
    expect(agent.role).to.equal('controlled');
    expect(agent.stats.roleConflicts).to.equal(1);
    expect(requests.length).to.equal(2);
    expect(requests[1].msg.getIceControlled()).to.equal(agent.tieBreaker);
    expect(agent.pairs()[0].state).to.equal('succeeded');
  });

  it('learns a local peer-reflexive candidate when XOR-MAPPED-ADDRESS differs from the base (§7.2.5.3.1)', async () => {
    await setup({ taMs: 20 });
    onPeerRequest((msg, from) => respond(msg, peer, from, { mapped: { address: '198.51.100.5', port: 7777 } }));
    agent.start();
    await run(clock, 300, 5);
    expect(agent.peerReflexiveLocal).to.have.length(1);
    const prflx = agent.peerReflexiveLocal[0];
    expect(prflx).to.include({ type: 'prflx', address: '198.51.100.5', port: 7777, priority: computePriority('prflx', 65535, 1), relatedAddress: '10.0.0.1' });
    const sel = agent.selectedPair(1)!;
    expect(sel.local.type).to.equal('prflx');
    // Media still goes out of the base's socket to the remote.
    const before = net.log.length;
    expect(agent.send(1, Buffer.from([0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]))).to.equal(true);
    expect(net.log[before].from.address).to.equal('10.0.0.1');
  });

  it('answers bad incoming requests: 400 without MESSAGE-INTEGRITY, 420 for unknown comprehension-required attributes', async () => {
    await setup();
    const replies: StunMessage[] = [];
    peer.onPacket((d) => replies.push(StunMessage.decode(d)));
    const host = agent.localCandidates[0];
    const noMi = buildCheckRequest({ localUfrag: PEER_UFRAG, remoteUfrag: agent.localUfrag, priority: 5, role: 'controlled', tieBreaker: 1n });
    peer.send(noMi.encode({ fingerprint: true }), host);
    const unknown = buildCheckRequest({ localUfrag: PEER_UFRAG, remoteUfrag: agent.localUfrag, priority: 5, role: 'controlled', tieBreaker: 1n });
    unknown.add(0x7ffe, Buffer.from([1, 2, 3, 4]));
    peer.send(unknown.encode({ integrityKey: shortTermKey(agent.localPwd), fingerprint: true }), host);
    const badFp = buildCheckRequest({ localUfrag: PEER_UFRAG, remoteUfrag: agent.localUfrag, priority: 5, role: 'controlled', tieBreaker: 1n });
    const bytes = badFp.encode({ integrityKey: shortTermKey(agent.localPwd), fingerprint: true });
    bytes[bytes.length - 1] ^= 0xff;
    peer.send(bytes, host);
    await run(clock, 10);
    expect(replies.map((r) => r.getErrorCode()?.code)).to.deep.equal([400, 420]);
    expect(replies[1].getUnknownAttributes()).to.deep.equal([0x7ffe]);
    expect(verifyMessageIntegrity(replies[1], shortTermKey(agent.localPwd))).to.equal(true);
    expect(agent.stats.malformedDropped).to.equal(1); // bad FINGERPRINT: not for us
    expect(agent.stats.unauthorized401Sent).to.equal(0);
  });

  it('controlled agent: USE-CANDIDATE before its own check succeeds nominates when it does (§7.3.1.5)', async () => {
    await setup({ role: 'controlled', taMs: 20 }, []);
    onPeerRequest((msg, from) => respond(msg, peer, from));
    const host = agent.localCandidates[0];
    agent.start();
    const req = buildCheckRequest({ localUfrag: PEER_UFRAG, remoteUfrag: agent.localUfrag, priority: 12345, role: 'controlling', tieBreaker: 1n, useCandidate: true });
    const answers: StunMessage[] = [];
    const prev = peer;
    prev.onPacket((data, from) => {
      const m = StunMessage.decode(data);
      if (m.messageClass === 'request') { requests.push({ msg: m, from, at: clock.now() }); respond(m, peer, from); } else answers.push(m);
    });
    peer.send(req.encode({ integrityKey: shortTermKey(agent.localPwd), fingerprint: true }), host);
    await run(clock, 100, 5);
    expect(answers[0].messageClass).to.equal('success');
    expect(answers[0].getXorMappedAddress()).to.deep.include({ address: '10.0.0.2', port: 5000 });
    expect(agent.remoteCandidates[0]).to.include({ type: 'prflx', priority: 12345 });
    expect(requests).to.have.length(1); // the triggered check
    expect(agent.selectedPair(1)?.nominated).to.equal(true);
    expect(agent.state).to.equal('completed');
  });

  it('two agents connect on the in-memory network under the ManualClock (2 components)', async () => {
    clock = new ManualClock();
    net = new FakeNetwork(clock, 3);
    const a = new IceAgent({ role: 'controlling', components: 2, clock, addresses: ['10.1.0.1'], bindSocket: net.bind, nominationWaitMs: 100 });
    const b = new IceAgent({ role: 'controlled', components: 2, clock, addresses: ['10.2.0.1'], bindSocket: net.bind });
    agent = a;
    try {
      const [ca, cb] = await Promise.all([a.gather(), b.gather()]);
      a.setRemoteCredentials(b.localUfrag, b.localPwd);
      b.setRemoteCredentials(a.localUfrag, a.localPwd);
      cb.forEach((c) => a.addRemoteCandidate(c));
      ca.forEach((c) => b.addRemoteCandidate(c));
      a.start();
      b.start();
      await run(clock, 500, 5);
      expect(a.state).to.equal('completed');
      expect(b.state).to.equal('completed');
      for (const c of [1, 2]) {
        expect(a.selectedPair(c)!.remote.port).to.equal(b.selectedPair(c)!.local.port);
        expect(b.selectedPair(c)!.remote.port).to.equal(a.selectedPair(c)!.local.port);
      }
    } finally {
      await b.close();
    }
  });

  it('the peer\'s checks before its answer and a rebuilt check list (rtcp-mux): host->host keeps its triggered check and is nominated, not the relayed path (lab 9.2.1 under load)', async () => {
    // The order the loaded lab run showed (scenarios/lab/9.2.1): the callee's host check reaches
    // the caller before the caller has read the 200 OK (its host is learned as peer-reflexive,
    // with the PRIORITY of a peer-reflexive candidate), the answer's rtcp-mux drops component 2
    // (the check list is rebuilt: that check's triggered check is gone), the callee's check
    // through its TURN allocation arrives (seen from inside as peer-reflexive, the coturn's
    // address, same PRIORITY), then the answer's candidates and start().
    clock = new ManualClock();
    net = new FakeNetwork(clock);
    peer = net.bindSync('10.0.0.2', 5000);
    const turnInside = net.bindSync('10.0.0.10', 6000);
    requests = [];
    agent = new IceAgent({ role: 'controlling', components: 2, clock, addresses: ['10.0.0.1'], bindSocket: net.bind, taMs: 50, nominationWaitMs: 1000 });
    await agent.gather();
    const host = agent.localCandidates.find((c) => c.component === 1)!;
    const checked: string[] = [];
    for (const [socket, name] of [[peer, 'host'], [turnInside, 'relay']] as const) {
      socket.onPacket((data, from) => {
        const msg = StunMessage.decode(data);
        if (msg.messageClass !== 'request') return;
        checked.push(`${name}${msg.has(StunAttr.USE_CANDIDATE) ? ' (USE-CANDIDATE)' : ''}`);
        respond(msg, socket, from);
      });
    }
    // The peer computes PRIORITY for either base alike (RFC 8445 §7.1.1: type preference of prflx).
    const peerCheck = () => buildCheckRequest({ localUfrag: PEER_UFRAG, remoteUfrag: agent.localUfrag, priority: computePriority('prflx', 65535, 1), role: 'controlled', tieBreaker: 1n })
      .encode({ integrityKey: shortTermKey(agent.localPwd), fingerprint: true });
    peer.send(peerCheck(), host);
    await run(clock, 5);
    await agent.useComponents(1);
    turnInside.send(peerCheck(), host);
    await run(clock, 5);
    expect(agent.remoteCandidates.map((c) => `${c.type} ${c.address}`)).to.deep.equal(['prflx 10.0.0.2', 'prflx 10.0.0.10']);
    agent.setRemoteCredentials(PEER_UFRAG, PEER_PWD);
    agent.addRemoteCandidate(hostCandidate('10.0.0.2', 5000));
    agent.addRemoteCandidate({ foundation: 'R2', component: 1, transport: 'udp', priority: computePriority('relay', 65535, 1), address: '203.0.113.1', port: 7000, type: 'relay', relatedAddress: '10.0.0.2', relatedPort: 5000 });
    agent.start();
    await run(clock, 2000, 5);
    expect(agent.state).to.equal('completed');
    expect(agent.selectedPair(1)!.remote).to.include({ type: 'host', address: '10.0.0.2', port: 5000, priority: computePriority('host', 65535, 1) });
    // Both triggered checks, host->host's (kept over the rebuild) first; only host->host nominated.
    expect(checked.slice(0, 2)).to.deep.equal(['host', 'relay']);
    expect(checked.filter((c) => c.includes('USE-CANDIDATE'))).to.deep.equal(['host (USE-CANDIDATE)']);
  });

  it('a remote host first learned as peer-reflexive takes the signalled priority: its slower check is waited for, the relayed path with the same PRIORITY is not nominated first', async () => {
    // The peer sends the same PRIORITY from every base, so before its answer its host and its
    // TURN path (seen as the coturn's inside address) are both peer-reflexive of equal priority.
    // host->host is checked first but answered late; the relayed path succeeds first.
    clock = new ManualClock();
    net = new FakeNetwork(clock);
    peer = net.bindSync('10.0.0.2', 5000);
    const turnInside = net.bindSync('10.0.0.10', 6000);
    requests = [];
    agent = new IceAgent({ role: 'controlling', components: 1, clock, addresses: ['10.0.0.1'], bindSocket: net.bind, taMs: 50, nominationWaitMs: 1000 });
    await agent.gather();
    const host = agent.localCandidates.find((c) => c.component === 1)!;
    const checked: string[] = [];
    for (const [socket, name] of [[peer, 'host'], [turnInside, 'relay']] as const) {
      socket.onPacket((data, from) => {
        const msg = StunMessage.decode(data);
        if (msg.messageClass !== 'request') return;
        checked.push(`${name}${msg.has(StunAttr.USE_CANDIDATE) ? ' (USE-CANDIDATE)' : ''}`);
        if (name === 'host' && !msg.has(StunAttr.USE_CANDIDATE)) clock.setTimer(100, () => respond(msg, socket, from));
        else respond(msg, socket, from);
      });
    }
    // The peer computes PRIORITY for either base alike (RFC 8445 §7.1.1: type preference of prflx).
    const peerCheck = () => buildCheckRequest({ localUfrag: PEER_UFRAG, remoteUfrag: agent.localUfrag, priority: computePriority('prflx', 65535, 1), role: 'controlled', tieBreaker: 1n })
      .encode({ integrityKey: shortTermKey(agent.localPwd), fingerprint: true });
    peer.send(peerCheck(), host);
    await run(clock, 5);
    turnInside.send(peerCheck(), host);
    await run(clock, 5);
    expect(agent.remoteCandidates.map((c) => `${c.type} ${c.address}`)).to.deep.equal(['prflx 10.0.0.2', 'prflx 10.0.0.10']);
    agent.setRemoteCredentials(PEER_UFRAG, PEER_PWD);
    agent.addRemoteCandidate(hostCandidate('10.0.0.2', 5000));
    agent.addRemoteCandidate({ foundation: 'R2', component: 1, transport: 'udp', priority: computePriority('relay', 65535, 1), address: '203.0.113.1', port: 7000, type: 'relay', relatedAddress: '10.0.0.2', relatedPort: 5000 });
    agent.start();
    await run(clock, 2000, 5);
    expect(agent.selectedPair(1)!.remote).to.include({ type: 'host', address: '10.0.0.2', port: 5000, priority: computePriority('host', 65535, 1) });
    expect(checked.slice(0, 2)).to.deep.equal(['host', 'relay']);
    expect(checked.filter((c) => c.includes('USE-CANDIDATE'))).to.deep.equal(['host (USE-CANDIDATE)']);
  });

  it('regular nomination: the wait for a better pair ends only after the check responses already received are read (a blocked event loop)', async () => {
    // 10.0.0.2 (higher priority) is checked first; its response arrives in time but the event
    // loop is blocked past the nomination deadline, so Node fires the deadline timer before it
    // reads the response. 10.0.0.3 answers at once and must not be nominated for that.
    await setup({ taMs: 50, nominationWaitMs: 100 }, [hostCandidate('10.0.0.2', 5000, 1, 'R1'), { ...hostCandidate('10.0.0.3', 5000, 1, 'R2'), priority: computePriority('host', 100, 1) }]);
    const low = net.bindSync('10.0.0.3', 5000);
    const held: Array<{ msg: StunMessage; from: TransportAddress }> = [];
    const nominatedTo: string[] = [];
    onPeerRequest((msg, from) => {
      if (msg.has(StunAttr.USE_CANDIDATE)) { nominatedTo.push('10.0.0.2'); respond(msg, peer, from); } else held.push({ msg, from });
    });
    low.onPacket((data, from) => {
      const msg = StunMessage.decode(data);
      if (msg.messageClass !== 'request') return;
      if (msg.has(StunAttr.USE_CANDIDATE)) nominatedTo.push('10.0.0.3');
      respond(msg, low, from);
    });
    agent.start();
    await run(clock, 60);
    // 10.0.0.2's check is out (unanswered yet), 10.0.0.3's succeeded: waiting until t=151 for a better pair.
    expect(held).to.have.length(1);
    expect(agent.selectedPair(1)).to.equal(undefined);
    // The loop is blocked until t=260; the response to 10.0.0.2 came in meanwhile.
    clock.stall(200, () => {
      const { msg, from } = held[0]!;
      const res = new StunMessage({ method: StunMethod.Binding, messageClass: 'success', transactionId: msg.transactionId });
      res.addXorAddress(StunAttr.XOR_MAPPED_ADDRESS, from);
      net.deliverNow(peer.local, from, res.encode({ integrityKey: shortTermKey(PEER_PWD), fingerprint: true }));
    });
    await run(clock, 300, 5);
    expect(nominatedTo).to.deep.equal(['10.0.0.2']);
    expect(agent.selectedPair(1)!.remote.address).to.equal('10.0.0.2');
    await low.close();
  });

  it('regular nomination under loss: a better pair whose first checks were lost succeeds after the nomination and is nominated then; media moves to it', async () => {
    // 10.0.0.2 (higher priority) loses its first two check requests (as on a lossy WAN), 10.0.0.3
    // answers at once: the 100-ms wait ends with 10.0.0.3 nominated. 10.0.0.2's third transmission
    // (RTO 500 ms, then 1000 ms) is answered; the agent then nominates it (lab 9.1.1 with 5% loss).
    await setup({ taMs: 50, nominationWaitMs: 100 }, [hostCandidate('10.0.0.2', 5000, 1, 'R1'), { ...hostCandidate('10.0.0.3', 5000, 1, 'R2'), priority: computePriority('host', 100, 1) }]);
    const low = net.bindSync('10.0.0.3', 5000);
    const nominatedTo: string[] = [];
    let dropped = 0;
    onPeerRequest((msg, from) => {
      if (msg.has(StunAttr.USE_CANDIDATE)) nominatedTo.push('10.0.0.2');
      else if (dropped < 2) { dropped++; return; }
      respond(msg, peer, from);
    });
    low.onPacket((data, from) => {
      const msg = StunMessage.decode(data);
      if (msg.messageClass !== 'request') return;
      if (msg.has(StunAttr.USE_CANDIDATE)) nominatedTo.push('10.0.0.3');
      respond(msg, low, from);
    });
    const selections: string[] = [];
    agent.on('selected-pair', (_c, pair) => selections.push(pair.remote.address));
    agent.start();
    await run(clock, 400, 5);
    expect(nominatedTo).to.deep.equal(['10.0.0.3']);
    expect(agent.selectedPair(1)!.remote.address).to.equal('10.0.0.3');
    await run(clock, 3000, 5);
    expect(dropped).to.equal(2);
    expect(nominatedTo).to.deep.equal(['10.0.0.3', '10.0.0.2']);
    expect(agent.selectedPair(1)!.remote.address).to.equal('10.0.0.2');
    expect(selections).to.deep.equal(['10.0.0.3', '10.0.0.2']);
    await low.close();
  });
});
