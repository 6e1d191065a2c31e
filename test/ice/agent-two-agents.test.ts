/**
 * Two ICE agents on the in-memory network under a ManualClock: the defects of issue 10, each
 * shown end to end between a full agent and a full (or lite) peer.
 */
import { expect } from 'chai';
import { ManualClock } from '../../lib/base/clock.js';
import { IceAgent, type IceAgentOptions } from '../../lib/ice/agent.js';
import type { CandidatePairInfo } from '../../lib/ice/candidate-pair.js';
import { StunAttr, StunMessage } from '../../lib/stun/message.js';
import { FakeNetwork, type Datagram } from './fake-network.js';
import { rtp } from './helpers.js';

const A_ADDR = '10.0.0.1';
const B_ADDR = '10.0.0.2';

/** Advances the clock in steps, letting promise callbacks run in between. */
async function run(clock: ManualClock, ms: number, step = 1): Promise<void> {
  for (let t = 0; t < ms; t += step) {
    clock.advance(step);
    await new Promise((r) => setImmediate(r));
  }
}

function stunOf(d: Datagram): StunMessage | undefined {
  if (d.data.length < 20 || d.data[0] > 3) return undefined;
  try {
    return StunMessage.decode(d.data);
  } catch {
    return undefined;
  }
}

function pairKey(p: CandidatePairInfo | undefined): string {
  return p ? `${p.local.address}:${p.local.port}->${p.remote.address}:${p.remote.port}` : 'none';
}
function mirrored(p: CandidatePairInfo | undefined): string {
  return p ? `${p.remote.address}:${p.remote.port}->${p.local.address}:${p.local.port}` : 'none';
}

interface Duo { clock: ManualClock; net: FakeNetwork; a: IceAgent; b: IceAgent }

/** A (10.0.0.1, `addrsA`) and B (10.0.0.2, `addrsB`) with each other's credentials and candidates. */
async function duo(aOpts: Partial<IceAgentOptions> = {}, bOpts: Partial<IceAgentOptions> = {}, opts: { addrsA?: string[]; addrsB?: string[]; latencyMs?: number } = {}): Promise<Duo> {
  const clock = new ManualClock();
  const net = new FakeNetwork(clock, opts.latencyMs ?? 1);
  const common = { components: 1, clock, bindSocket: net.bind, taMs: 50, nominationWaitMs: 0 };
  const a = new IceAgent({ role: 'controlling', addresses: opts.addrsA ?? [A_ADDR], ...common, ...aOpts });
  const b = new IceAgent({ role: 'controlled', addresses: opts.addrsB ?? [B_ADDR], ...common, ...bOpts });
  const [ac, bc] = await Promise.all([a.gather(), b.gather()]);
  a.setRemoteCredentials(b.localUfrag, b.localPwd);
  b.setRemoteCredentials(a.localUfrag, a.localPwd);
  for (const c of bc) a.addRemoteCandidate(c);
  for (const c of ac) b.addRemoteCandidate(c);
  return { clock, net, a, b };
}

describe('ICE between two agents (ManualClock, in-memory network)', () => {
  const open: IceAgent[] = [];
  afterEach(async () => {
    for (const x of open.splice(0)) await x.close();
  });
  function keep(d: Duo): Duo {
    open.push(d.a, d.b);
    return d;
  }

  describe('triggered checks on In-Progress pairs (RFC 8445 §7.3.1.4)', () => {
    // B sits behind an address-restricted filter: it drops datagrams from addresses it has not
    // sent to. A starts D ms before B, so A's first check is dropped; B's check opens the filter.
    for (const d of [300, 600, 1600]) {
      it(`the late side selects within Ta plus a round trip of its own first check (D = ${d} ms)`, async () => {
        const x = keep(await duo());
        const sentByB = new Set<string>();
        x.net.filter = (dg) => {
          if (dg.from.address === B_ADDR) sentByB.add(dg.to.address);
          if (dg.to.address === B_ADDR) return sentByB.has(dg.from.address);
          return true;
        };
        let bSelectedAt: number | undefined;
        x.b.on('selected-pair', () => { bSelectedAt ??= x.clock.now(); });
        x.a.start();
        await run(x.clock, d, 5);
        x.b.start();
        await run(x.clock, 5000, 5);
        expect(bSelectedAt, 'B selected a pair').to.not.equal(undefined);
        // B's check at D reaches A (1 ms); A's triggered check goes out at once (its Ta timer
        // was idle) and succeeds; the USE-CANDIDATE follows one Ta later: D + Ta + a few ms.
        // Before the fix A waited for its dropped check's retransmission (D = 300: 502 ms).
        expect(bSelectedAt! - d).to.be.at.most(50 + 10);
        expect(pairKey(x.a.selectedPair(1))).to.equal(mirrored(x.b.selectedPair(1)));
      });
    }
  });

  describe('nomination agreement (RFC 8445 §8.1.1)', () => {
    it('every response to the first USE-CANDIDATE lost: both ends end on the same pair', async () => {
      // Two host addresses on A give two pairs; B answers A's USE-CANDIDATE on the first, but
      // every answer to it is lost, so A nominates the second.
      const x = keep(await duo({ checkMaxRequests: 4 }, {}, { addrsA: [A_ADDR, '10.0.0.3'] }));
      const useCandidate = new Set<string>();
      let firstNominated: string | undefined;
      x.net.filter = (dg) => {
        const msg = stunOf(dg);
        if (!msg) return true;
        const id = msg.transactionId.toString('hex');
        if (msg.messageClass === 'request' && msg.has(StunAttr.USE_CANDIDATE)) {
          firstNominated ??= `${dg.from.address}:${dg.from.port}`;
          if (firstNominated === `${dg.from.address}:${dg.from.port}`) useCandidate.add(id);
        }
        return !(msg.messageClass !== 'request' && useCandidate.has(id));
      };
      x.a.start();
      x.b.start();
      await run(x.clock, 20000, 10);
      expect(useCandidate.size, 'USE-CANDIDATE requests whose answers were dropped').to.be.greaterThan(0);
      const aSel = x.a.selectedPair(1);
      const bSel = x.b.selectedPair(1);
      expect(aSel, 'A selected').to.not.equal(undefined);
      expect(`${aSel!.local.address}:${aSel!.local.port}`).to.not.equal(firstNominated);
      expect(pairKey(aSel)).to.equal(mirrored(bSel));
      // Media follows: what A sends arrives at B from A's selected local address.
      let from = '';
      x.b.on('data', (_c, _d, f) => { from = `${f.address}:${f.port}`; });
      x.a.send(1, rtp('after'));
      await run(x.clock, 10, 1);
      expect(from).to.equal(`${aSel!.local.address}:${aSel!.local.port}`);
    });
  });

  describe('ICE-lite (RFC 8445 §6.1.1, §8.2)', () => {
    it('a full agent facing a lite one is controlling, nominates, and both complete on the same pair', async () => {
      // The lite side offered (it would be controlling by offer/answer): the lite agent is controlled anyway.
      const x = keep(await duo({ role: 'controlling' }, { lite: true, role: 'controlling' }));
      expect(x.b.role).to.equal('controlled');
      const bChecks: string[] = [];
      x.net.filter = (dg) => {
        const msg = stunOf(dg);
        if (msg?.messageClass === 'request' && dg.from.address === B_ADDR) bChecks.push('request');
        return true;
      };
      x.a.start();
      x.b.start();
      await run(x.clock, 2000, 5);
      expect(x.a.state).to.equal('completed');
      expect(x.b.state).to.equal('completed');
      expect(bChecks, 'checks sent by the lite agent').to.deep.equal([]);
      expect(x.b.selectedPair(1)?.nominated).to.equal(true);
      expect(pairKey(x.a.selectedPair(1))).to.equal(mirrored(x.b.selectedPair(1)));
      expect(x.b.localCandidates.every((c) => c.type === 'host')).to.equal(true);
    });

    it('a lite agent gathers host candidates only, even with STUN and TURN servers configured', async () => {
      const clock = new ManualClock();
      const net = new FakeNetwork(clock);
      const lite = new IceAgent({
        role: 'controlled', components: 1, lite: true, clock, bindSocket: net.bind, addresses: [B_ADDR],
        stunServers: [{ host: '10.9.9.9', port: 3478 }], turnServers: [{ address: '10.9.9.9', port: 3478, transport: 'udp', username: 'u', password: 'p' }],
      });
      open.push(lite);
      const gathered = lite.gather();
      await run(clock, 10, 1);
      const cands = await gathered;
      expect(cands.map((c) => c.type)).to.deep.equal(['host']);
      expect(net.log.filter((d) => d.to.address === '10.9.9.9')).to.have.length(0);
    });
  });

  describe('consent freshness (RFC 7675)', () => {
    it('checks every 4-6 s; when the peer stops answering, media stops and the agent fails naming consent within 30 s', async () => {
      const x = keep(await duo({ consentIntervalMs: 5000, consentExpiryMs: 30000 }, { consentIntervalMs: 5000 }));
      x.a.start();
      x.b.start();
      await run(x.clock, 1000, 10);
      expect(x.a.state).to.equal('completed');
      // Consent checks from A while B answers.
      const before = x.net.log.length;
      await run(x.clock, 20000, 50);
      const consentTimes = x.net.log.slice(before).filter((d) => d.from.address === A_ADDR && stunOf(d)?.messageClass === 'request').map((d) => d.at);
      expect(consentTimes.length).to.be.within(3, 5);
      for (let i = 1; i < consentTimes.length; i++) expect(consentTimes[i] - consentTimes[i - 1]).to.be.within(4000, 6000);
      expect(x.a.state).to.equal('completed');
      // Now B vanishes: nothing from B reaches A.
      const cutAt = x.clock.now();
      x.net.filter = (dg) => dg.from.address !== B_ADDR;
      let lostAt: number | undefined;
      x.a.on('consent-lost', () => { lostAt ??= x.clock.now(); });
      await run(x.clock, 40000, 50);
      expect(lostAt, 'consent lost').to.not.equal(undefined);
      expect(lostAt! - cutAt).to.be.at.most(30000);
      expect(lostAt! - cutAt).to.be.at.least(30000 - 6000);
      expect(x.a.state).to.equal('failed');
      expect(x.a.failureReason).to.match(/consent/);
      const sentAfter = x.net.log.filter((d) => d.at > lostAt! && d.from.address === A_ADDR).length;
      expect(x.a.send(1, rtp('x'))).to.equal(false);
      await run(x.clock, 10, 1);
      expect(x.net.log.filter((d) => d.at > lostAt! && d.from.address === A_ADDR).length).to.equal(sentAfter);
    });
  });

  describe('keepalives (RFC 8445 §11)', () => {
    it('a valid pair carrying media before any selection gets keepalives', async () => {
      // B never nominates (it is controlled) and A never starts: B's valid pair carries media unselected.
      const x = keep(await duo({}, { keepaliveMs: 15000, consent: false }));
      x.b.start();
      // A answers B's checks (its sockets are open) without running checks of its own.
      await run(x.clock, 500, 10);
      expect(x.b.mediaPair(1)?.selected).to.equal(false);
      const before = x.net.log.length;
      await run(x.clock, 16000, 100);
      const indications = x.net.log.slice(before).filter((d) => d.from.address === B_ADDR && stunOf(d)?.messageClass === 'indication');
      expect(indications.length).to.be.at.least(1);
    });
  });

  describe('transport policy relay', () => {
    it('an authenticated check arriving on a host socket creates no pair and gets no answer', async () => {
      const x = keep(await duo({}, { transportPolicy: 'relay' }));
      // B signals nothing (it has no relay); A learns B's host socket anyway (an attacker, or a stale offer).
      const host = x.b.localSockets()[0].local;
      x.a.addRemoteCandidate({ foundation: 'h', component: 1, transport: 'udp', priority: 2130706431, address: host.address, port: host.port, type: 'host' });
      x.a.start();
      await run(x.clock, 500, 10);
      expect(x.b.pairs()).to.have.length(0);
      expect(x.b.stats.policyDropped).to.be.greaterThan(0);
      expect(x.net.log.filter((d) => d.from.address === B_ADDR)).to.have.length(0);
    });
  });

  describe('unsigned error responses (RFC 8489 §6.3.4)', () => {
    it('a forged 401 without MESSAGE-INTEGRITY does not fail the pair', async () => {
      const x = keep(await duo());
      // Replace B's answers with unsigned 401s for the first 600 ms.
      x.net.filter = (dg) => {
        const msg = stunOf(dg);
        if (dg.from.address !== B_ADDR || msg?.messageClass !== 'success' || x.clock.now() > 600) return true;
        const forged = new StunMessage({ method: msg.method, messageClass: 'error', transactionId: msg.transactionId });
        forged.addErrorCode(401, 'Unauthenticated');
        const sock = { address: dg.from.address, port: dg.from.port, family: dg.from.family };
        x.clock.setTimer(1, () => x.net.transmit(sock, dg.to, forged.encode({ fingerprint: true })));
        return false;
      };
      x.a.start();
      x.b.start();
      await run(x.clock, 3000, 10);
      expect(x.a.stats.unauthenticatedErrorsDropped).to.be.greaterThan(0);
      expect(x.a.state).to.equal('completed');
    });
  });

  describe('media only from the peer (issue 13)', () => {
    it('RTP from an address that is no valid pair\'s remote is counted and dropped; the peer\'s arrives', async () => {
      const x = keep(await duo());
      x.a.start();
      x.b.start();
      await run(x.clock, 1000, 10);
      expect(x.a.state).to.equal('completed');
      const got: string[] = [];
      x.a.on('data', (_c, d) => got.push(d.subarray(12).toString()));
      const stranger = x.net.bindSync('10.0.0.66', 7000);
      const target = x.a.localSockets()[0]!.local;
      stranger.send(rtp('stranger'), target);
      x.b.send(1, rtp('peer'));
      await run(x.clock, 20, 1);
      expect(got).to.deep.equal(['peer']);
      expect(x.a.stats.mediaFromStrangers).to.equal(1);
    });

    it('a peer without ICE: its m/c address is accepted; another source only after 5 packets in a row, then latched (RFC 4961)', async () => {
      const clock = new ManualClock();
      const net = new FakeNetwork(clock);
      const agent = new IceAgent({ role: 'controlling', components: 1, clock, bindSocket: net.bind, addresses: [A_ADDR] });
      open.push(agent);
      await agent.gather();
      agent.setFallbackRemote(1, { address: '10.0.0.20', port: 6000 });
      const got: string[] = [];
      agent.on('data', (_c, d) => got.push(d.subarray(12).toString()));
      const target = agent.localSockets()[0]!.local;
      const nat = net.bindSync('203.0.113.9', 41000);
      const other = net.bindSync('10.0.0.66', 7000);
      for (let i = 0; i < 4; i++) nat.send(rtp(`nat${i}`), target);
      await run(clock, 10, 1);
      expect(got, 'not latched yet').to.deep.equal([]);
      nat.send(rtp('nat4'), target);
      await run(clock, 10, 1);
      expect(got).to.deep.equal(['nat4']);
      // Media now goes back to the latched source; a third source stays out.
      let back = 0;
      nat.onPacket(() => back++);
      agent.send(1, rtp('to-peer'));
      other.send(rtp('other'), target);
      await run(clock, 10, 1);
      expect(back).to.equal(1);
      expect(got).to.deep.equal(['nat4']);
      expect(agent.stats.mediaFromStrangers).to.equal(5);
    });
  });

  describe('pairing cost', () => {
    it('adding remote candidates one by one pairs each new one with the local candidates only', async () => {
      const clock = new ManualClock();
      const net = new FakeNetwork(clock);
      const agent = new IceAgent({ role: 'controlling', components: 1, clock, bindSocket: net.bind, addresses: [A_ADDR, '10.0.0.3'] });
      open.push(agent);
      await agent.gather();
      // Count candidate-pair constructions through the check list's work: with N remotes each
      // added once, the pairs examined grow as N x locals, not N^2 x locals.
      const list = (agent as unknown as { checklist: { addPair: (...a: unknown[]) => unknown } }).checklist;
      let calls = 0;
      const original = list.addPair.bind(list);
      list.addPair = (...args: unknown[]) => { calls++; return original(...args); };
      for (let i = 0; i < 1000; i++) {
        agent.addRemoteCandidate({ foundation: `r${i}`, component: 1, transport: 'udp', priority: 1000 + i, address: `10.1.${i >> 8}.${i & 255}`, port: 4000, type: 'host' });
      }
      expect(calls).to.equal(1000 * agent.localCandidates.length);
      expect(agent.pairs().length).to.equal(100); // RFC 8445 §6.1.2.5 limit
    });
  });
});
