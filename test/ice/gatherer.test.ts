import { expect } from 'chai';
import { ManualClock } from '../../lib/base/clock.js';
import { IceAgent } from '../../lib/ice/agent.js';
import { computePriority, type Candidate } from '../../lib/ice/candidate.js';
import { FoundationRegistry, interleaveFamilies } from '../../lib/ice/gatherer.js';
import { StunAttr, StunMessage } from '../../lib/stun/message.js';
import { FakeNetwork } from './fake-network.js';

async function run(clock: ManualClock, ms: number, step = 10): Promise<void> {
  for (let t = 0; t < ms; t += step) {
    clock.advance(step);
    await new Promise((r) => setImmediate(r));
  }
}

describe('gathering (RFC 8445 §5.1.1)', () => {
  it('assigns foundations by type, base IP, server and transport (§5.1.1.3)', () => {
    const f = new FoundationRegistry();
    const a = f.get('host', '10.0.0.1');
    expect(f.get('host', '10.0.0.1')).to.equal(a);
    expect(f.get('host', '10.0.0.2')).to.not.equal(a);
    expect(f.get('srflx', '10.0.0.1', '192.0.2.1')).to.not.equal(a);
    expect(f.get('srflx', '10.0.0.1', '192.0.2.1')).to.equal(f.get('srflx', '10.0.0.1', '192.0.2.1'));
    expect(f.get('srflx', '10.0.0.1', '192.0.2.2')).to.not.equal(f.get('srflx', '10.0.0.1', '192.0.2.1'));
    expect(f.get('host', '10.0.0.1', '', 'tcp')).to.not.equal(a);
  });

  it('one IP address in any spelling is one foundation (issue 10)', () => {
    const f = new FoundationRegistry();
    expect(f.get('prflx', '2001:DB8::1')).to.equal(f.get('prflx', '2001:db8:0:0:0:0:0:1'));
    expect(f.get('srflx', '2001:db8::1', '::FFFF:192.0.2.1')).to.equal(f.get('srflx', '2001:db8::1', '192.0.2.1'));
    expect(f.get('prflx', '2001:db8::1')).to.not.equal(f.get('prflx', '2001:db8::2'));
  });

  it('gathers host and server-reflexive candidates; a dead STUN server costs at most ~2.5 s', async () => {
    const clock = new ManualClock();
    const net = new FakeNetwork(clock);
    const stun = net.bindSync('192.0.2.1', 3478);
    // A "NAT": the server reports the client at 203.0.113.7 with the port + 1000.
    stun.onPacket((data, from) => {
      const req = StunMessage.decode(data);
      const res = new StunMessage({ method: req.method, messageClass: 'success', transactionId: req.transactionId });
      res.addXorAddress(StunAttr.XOR_MAPPED_ADDRESS, { address: '203.0.113.7', port: from.port + 1000 });
      stun.send(res.encode({ fingerprint: true }), from);
    });
    const agent = new IceAgent({
      role: 'controlling', components: 2, clock, addresses: ['10.0.0.1', '10.0.0.2'], bindSocket: net.bind,
      stunServers: [{ host: '192.0.2.1', port: 3478 }, { host: '192.0.2.99', port: 3478 } /* dead */],
    });
    const emitted: Candidate[] = [];
    agent.on('candidate', (c) => emitted.push(c));
    let complete = false;
    agent.on('gathering-complete', () => { complete = true; });
    // The default candidate read once the hosts are up (and kept by the agent) must follow the
    // server-reflexive candidates found after.
    let defaultAtHosts: string | undefined;
    agent.once('hosts-gathered', () => { defaultAtHosts = agent.defaultCandidate(1).type; });
    let done: Candidate[] | undefined;
    void agent.gather().then((c) => { done = c; });
    await run(clock, 2400);
    expect(done).to.equal(undefined); // still waiting for the dead server
    expect(defaultAtHosts).to.equal('host');
    await run(clock, 200);
    expect(complete).to.equal(true);
    expect(done).to.have.length(8);
    expect(emitted).to.have.length(8);
    const hosts = done!.filter((c) => c.type === 'host');
    const srflx = done!.filter((c) => c.type === 'srflx');
    expect(hosts).to.have.length(4);
    expect(srflx).to.have.length(4);
    expect(hosts[0].priority).to.equal(computePriority('host', 65535, 1));
    expect(hosts.find((h) => h.address === '10.0.0.2' && h.component === 2)!.priority).to.equal(computePriority('host', 65534, 2));
    for (const s of srflx) {
      const base = hosts.find((h) => h.address === s.relatedAddress && h.port === s.relatedPort)!;
      expect(base.component).to.equal(s.component);
      expect(s.port).to.equal(base.port + 1000);
      expect(s.priority).to.equal(computePriority('srflx', base.address === '10.0.0.1' ? 65535 : 65534, s.component));
    }
    // Components of the same base share a foundation; different bases do not.
    expect(new Set(hosts.map((h) => h.foundation)).size).to.equal(2);
    expect(new Set(srflx.map((h) => h.foundation)).size).to.equal(2);
    // RFC 8445 §5.1.4: the default candidate is server-reflexive over host.
    expect(agent.defaultCandidate(1).type).to.equal('srflx');
    expect(agent.defaultCandidate(1).relatedAddress).to.equal('10.0.0.1');
    await agent.close();
  });

  it('drops a server-reflexive candidate equal to its base (§5.1.3)', async () => {
    const clock = new ManualClock();
    const net = new FakeNetwork(clock);
    const stun = net.bindSync('192.0.2.1', 3478);
    stun.onPacket((data, from) => {
      const req = StunMessage.decode(data);
      const res = new StunMessage({ method: req.method, messageClass: 'success', transactionId: req.transactionId });
      res.addXorAddress(StunAttr.XOR_MAPPED_ADDRESS, from);
      stun.send(res.encode(), from);
    });
    const agent = new IceAgent({ role: 'controlled', components: 1, clock, addresses: ['10.0.0.1'], bindSocket: net.bind, stunServers: [{ host: '192.0.2.1', port: 3478 }] });
    let done: Candidate[] | undefined;
    void agent.gather().then((c) => { done = c; });
    await run(clock, 50);
    expect(done!.map((c) => c.type)).to.deep.equal(['host']);
    expect(agent.defaultCandidate(1).type).to.equal('host');
    expect(() => agent.defaultCandidate(2)).to.throw();
    await agent.close();
  });
});

describe('RFC 8421 dual-stack ordering', () => {
  it('interleaves the address families, IPv6 first, keeping the order within each family', () => {
    expect(interleaveFamilies(['10.0.0.1', '10.0.0.2', '10.0.0.3', '2001:db8::1', '2001:db8::2'])).to.deep.equal([
      '2001:db8::1', '10.0.0.1', '2001:db8::2', '10.0.0.2', '10.0.0.3',
    ]);
    expect(interleaveFamilies(['10.0.0.1'])).to.deep.equal(['10.0.0.1']);
  });

  it('gives the host candidates alternating families in priority order, so the check list alternates', async () => {
    const clock = new ManualClock();
    const net = new FakeNetwork(clock);
    const agent = new IceAgent({ role: 'controlling', components: 1, clock, bindSocket: net.bind, addresses: ['10.0.0.1', '10.0.0.2', '2001:db8::1', '2001:db8::2'] });
    await agent.gather();
    const byPriority = [...agent.localCandidates].sort((a, b) => b.priority - a.priority).map((c) => c.address);
    expect(byPriority).to.deep.equal(['2001:db8::1', '10.0.0.1', '2001:db8::2', '10.0.0.2']);
    agent.setRemoteCredentials('peer', 'peerpasswordpeerpassword');
    for (const [i, a] of ['10.0.0.9', '2001:db8::9'].entries()) {
      agent.addRemoteCandidate({ foundation: `r${i}`, component: 1, transport: 'udp', priority: 2130706431 - i, address: a, port: 5000, type: 'host' });
    }
    const families = agent.pairs().map((p) => (p.remote.address.includes(':') ? 6 : 4));
    expect(families).to.deep.equal([6, 4, 6, 4]);
    await agent.close();
  });
});
