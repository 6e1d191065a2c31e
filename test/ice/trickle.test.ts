/**
 * Trickle ICE in the agent (RFC 8838): candidates as they are gathered, remote candidates added to a
 * running agent, end-of-candidates, and the check list's completion rules. Two agents on the
 * in-memory network under a ManualClock; a STUN server nobody answers makes gathering last its
 * full 2.5 s, which is what trickle ICE is meant not to wait for.
 */
import { expect } from 'chai';
import { ManualClock } from '../../lib/base/clock.js';
import { IceAgent, type IceAgentOptions } from '../../lib/ice/agent.js';
import { computePriority, type Candidate } from '../../lib/ice/candidate.js';
import { CheckList } from '../../lib/ice/checklist.js';
import { FakeNetwork } from './fake-network.js';

const A_ADDR = '10.0.0.1';
const B_ADDR = '10.0.0.2';
/** No socket is bound there: Binding requests to it go unanswered (RTO 500 ms, 3 sends, 2.5 s). */
const DEAD_STUN = { host: '192.0.2.99', port: 3478 };

async function run(clock: ManualClock, ms: number, step = 5): Promise<void> {
  for (let t = 0; t < ms; t += step) {
    clock.advance(step);
    await new Promise((r) => setImmediate(r));
  }
}

function cand(type: Candidate['type'], address: string, port: number, foundation: string): Candidate {
  return { foundation, component: 1, transport: 'udp', priority: computePriority(type, 65535, 1), address, port, type };
}

describe('trickle ICE in the agent (RFC 8838)', () => {
  const open: IceAgent[] = [];
  afterEach(async () => {
    for (const a of open.splice(0)) await a.close();
  });

  function agents(aOpts: Partial<IceAgentOptions> = {}, bOpts: Partial<IceAgentOptions> = {}) {
    const clock = new ManualClock();
    const net = new FakeNetwork(clock, 1);
    const common = { components: 1, clock, bindSocket: net.bind, taMs: 50, nominationWaitMs: 0, trickle: true };
    const a = new IceAgent({ role: 'controlling', addresses: [A_ADDR], stunServers: [DEAD_STUN], ...common, ...aOpts });
    const b = new IceAgent({ role: 'controlled', addresses: [B_ADDR], ...common, ...bOpts });
    open.push(a, b);
    return { clock, net, a, b };
  }

  it('emits host candidates and hosts-gathered long before gathering completes (a slow STUN server)', async () => {
    const { clock, a } = agents();
    const events: Array<{ what: string; at: number }> = [];
    a.on('candidate', (c) => events.push({ what: `candidate ${c.type}`, at: clock.now() }));
    a.on('hosts-gathered', () => events.push({ what: 'hosts-gathered', at: clock.now() }));
    a.on('gathering-complete', () => events.push({ what: 'gathering-complete', at: clock.now() }));
    await a.hostsGathered();
    expect(a.localCandidates.map((c) => c.type)).to.deep.equal(['host']);
    expect(a.gatheringComplete).to.equal(false);
    await run(clock, 3000);
    expect(a.gatheringComplete).to.equal(true);
    expect(events.map((e) => e.what)).to.deep.equal(['candidate host', 'hosts-gathered', 'gathering-complete']);
    expect(events[2].at - events[1].at).to.be.at.least(2000);
  });

  it('checks run and a pair is selected on both sides while gathering still goes on, candidates trickled one way after start', async () => {
    const { clock, a, b } = agents();
    await Promise.all([a.hostsGathered(), b.hostsGathered()]);
    a.setRemoteCredentials(b.localUfrag, b.localPwd);
    b.setRemoteCredentials(a.localUfrag, a.localPwd);
    // A's "offer" carries its host candidate; B answers and starts with no remote candidates at all
    // except those; B's candidates reach A only after A already started (an INFO, RFC 8840).
    for (const c of a.localCandidates) b.addRemoteCandidate(c);
    a.start();
    expect(a.pairs()).to.have.length(0);
    await run(clock, 20);
    for (const c of b.localCandidates) a.addRemoteCandidate(c);
    expect(a.pairs()).to.have.length(1);
    expect(a.pairs()[0].state).to.equal('waiting'); // RFC 8838 §10: its foundation has nothing running
    b.start();
    await run(clock, 600);
    const sa = a.selectedPair(1);
    const sb = b.selectedPair(1);
    expect(sa, 'A selected').to.not.equal(undefined);
    expect(sb, 'B selected').to.not.equal(undefined);
    expect(`${sa!.local.address}->${sa!.remote.address}`).to.equal(`${A_ADDR}->${B_ADDR}`);
    expect(`${sb!.local.address}->${sb!.remote.address}`).to.equal(`${B_ADDR}->${A_ADDR}`);
    expect(a.gatheringComplete, 'A still gathering (the dead STUN server)').to.equal(false);
    expect(clock.now()).to.be.below(2500);
  });

  it('a check list whose pairs all failed is not Failed before end-of-candidates arrived and gathering ended (RFC 8838 §8)', async () => {
    const { clock, net, a, b } = agents({ checkTimeoutMs: 60000 });
    net.filter = () => false; // nothing gets through: every check fails
    await Promise.all([a.hostsGathered(), b.hostsGathered()]);
    a.setRemoteCredentials(b.localUfrag, b.localPwd);
    for (const c of b.localCandidates) a.addRemoteCandidate(c);
    a.start();
    // Rc=7 with RTO 500 ms: the one pair's check gives up within ~40 s; our gathering ends at 2.5 s.
    await run(clock, 45000, 50);
    expect(a.pairs().map((p) => p.state)).to.deep.equal(['failed']);
    expect(a.gatheringComplete).to.equal(true);
    expect(a.state).to.equal('checking');
    a.remoteEndOfCandidates();
    expect(a.state).to.equal('failed');
    expect(a.failureReason).to.equal('every candidate pair failed');
  });

  it('without trickle the same agent fails as soon as its pairs failed (RFC 8445 rules)', async () => {
    const { clock, net, a, b } = agents({ checkTimeoutMs: 60000, trickle: false, stunServers: undefined }, { trickle: false });
    net.filter = () => false;
    await Promise.all([a.gather(), b.gather()]);
    a.setRemoteCredentials(b.localUfrag, b.localPwd);
    for (const c of b.localCandidates) a.addRemoteCandidate(c);
    a.start();
    await run(clock, 45000, 50);
    expect(a.state).to.equal('failed');
  });

  it('a remote candidate trickled after every pair failed brings the agent back to checks and it connects', async () => {
    const { clock, net, a, b } = agents({ checkTimeoutMs: 60000 });
    await Promise.all([a.hostsGathered(), b.hostsGathered()]);
    a.setRemoteCredentials(b.localUfrag, b.localPwd);
    b.setRemoteCredentials(a.localUfrag, a.localPwd);
    for (const c of a.localCandidates) b.addRemoteCandidate(c);
    // A first learns an address of B's that goes nowhere.
    a.addRemoteCandidate(cand('host', '10.9.9.9', 9, 'X'));
    // B answers checks but sends none of its own (not started), so A learns nothing peer-reflexive.
    a.start();
    await run(clock, 45000, 50);
    expect(a.pairs().map((p) => p.state)).to.deep.equal(['failed']);
    expect(a.state).to.equal('checking');
    for (const c of b.localCandidates) a.addRemoteCandidate(c);
    a.remoteEndOfCandidates();
    expect(a.state).to.equal('checking');
    await run(clock, 600);
    expect(a.state).to.be.oneOf(['connected', 'completed']);
    expect(a.selectedPair(1)?.remote.address).to.equal(B_ADDR);
    expect(net.dropped).to.have.length(0);
  });
});

describe('a local address added mid-call (trickled, checked, used when better)', () => {
  const open: IceAgent[] = [];
  afterEach(async () => {
    for (const a of open.splice(0)) await a.close();
  });

  async function connected() {
    const clock = new ManualClock();
    const net = new FakeNetwork(clock, 1);
    const common = { components: 1, clock, bindSocket: net.bind, taMs: 20, nominationWaitMs: 0, trickle: true };
    // A's first address (local preference 65535) reaches nothing, so the call runs on its second
    // (65534) and an address added with 65535 is better.
    const a = new IceAgent({ role: 'controlling', addresses: ['10.0.9.1', A_ADDR], ...common });
    const b = new IceAgent({ role: 'controlled', addresses: [B_ADDR], ...common });
    net.filter = (d) => d.from.address !== '10.0.9.1' && d.to.address !== '10.0.9.1';
    open.push(a, b);
    const [ac, bc] = await Promise.all([a.gather(), b.gather()]);
    a.setRemoteCredentials(b.localUfrag, b.localPwd);
    b.setRemoteCredentials(a.localUfrag, a.localPwd);
    for (const c of bc) a.addRemoteCandidate(c);
    for (const c of ac) b.addRemoteCandidate(c);
    a.remoteEndOfCandidates();
    b.remoteEndOfCandidates();
    a.start();
    b.start();
    await run(clock, 500);
    expect(a.selectedPair(1)?.local.address).to.equal(A_ADDR);
    return { clock, net, a, b };
  }

  it('a better address: its candidate is emitted, paired, checked and nominated; both ends move to it without a restart', async () => {
    const x = await connected();
    const ufrag = x.a.localUfrag;
    const emitted: Candidate[] = [];
    x.a.on('candidate', (c) => emitted.push(c));
    const added = await x.a.addHostAddress('10.0.2.1');
    expect(added.map((c) => c.address)).to.deep.equal(['10.0.2.1']);
    expect(emitted).to.deep.equal(added);
    for (const c of added) x.b.addRemoteCandidate(c); // what the trickle INFO carries
    await run(x.clock, 500);
    expect(x.a.selectedPair(1)?.local.address).to.equal('10.0.2.1');
    expect(x.b.selectedPair(1)?.remote.address).to.equal('10.0.2.1');
    expect(x.b.selectedPair(1)?.remote.port).to.equal(x.a.selectedPair(1)?.local.port);
    expect(x.a.localUfrag, 'no ICE restart').to.equal(ufrag);
    expect(x.a.state).to.be.oneOf(['connected', 'completed']);
    // Media follows the new pair.
    const before = x.net.log.length;
    x.a.send(1, Buffer.from([0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]));
    await run(x.clock, 10);
    expect(x.net.log.slice(before).some((d) => d.from.address === '10.0.2.1' && d.data[0] === 0x80)).to.equal(true);
  });

  it('a worse address is checked but the selected pair stays', async () => {
    const x = await connected();
    const selected = x.a.selectedPair(1);
    const added = await x.a.addHostAddress('10.0.3.1', 100);
    for (const c of added) x.b.addRemoteCandidate(c);
    await run(x.clock, 500);
    expect(x.a.pairs().some((p) => p.local.address === '10.0.3.1' && p.state === 'succeeded'), 'checked').to.equal(true);
    expect(x.a.selectedPair(1)?.local.address).to.equal(selected?.local.address);
  });
});

describe('CheckList: trickled pairs (RFC 8838 §10)', () => {
  const local1 = cand('host', '10.0.0.1', 5000, 'L1');
  const local2 = cand('host', '10.0.0.3', 5002, 'L3');
  const remote1 = cand('host', '10.0.0.2', 7000, 'R1');
  const remote2 = cand('host', '10.0.0.4', 7002, 'R1');

  it('a new pair is Waiting when its foundation has no pair Waiting or In-Progress, else Frozen until one succeeds', () => {
    const list = new CheckList({ role: 'controlling', components: 1, awaitingCandidates: () => true });
    list.addPair(local1, remote1);
    list.unfreezeInitial();
    const first = list.nextCheck()!.pair;
    expect(first.state).to.equal('in-progress');
    // Same foundation (L1 with R1) as the pair in progress: Frozen.
    const same = list.addPair(local1, remote2)!.pair;
    expect(same.state).to.equal('frozen');
    // Another foundation (L3 with R1): nothing of it runs, so Waiting at once.
    const other = list.addPair(local2, remote1)!.pair;
    expect(other.state).to.equal('waiting');
    list.checkSucceeded(first, local1);
    expect(same.state).to.equal('waiting');
  });

  it('without trickle a late pair of a new foundation stays Frozen until §6.1.4.2 step 2', () => {
    const list = new CheckList({ role: 'controlling', components: 1 });
    list.addPair(local1, remote1);
    list.unfreezeInitial();
    list.nextCheck();
    expect(list.addPair(local2, remote1)!.pair.state).to.equal('frozen');
  });

  it('is Running, not Failed, while candidates may come, and Failed once they cannot', () => {
    let awaiting = true;
    const list = new CheckList({ role: 'controlling', components: 1, awaitingCandidates: () => awaiting });
    list.addPair(local1, remote1);
    list.unfreezeInitial();
    list.checkFailed(list.nextCheck()!.pair);
    expect(list.state).to.equal('running');
    awaiting = false;
    expect(list.state).to.equal('failed');
  });
});
