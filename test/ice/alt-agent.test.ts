/**
 * The draft-rosenberg-sipping-ice-01 engine (lib/ice/alt-agent.ts) under a ManualClock on an
 * in-memory network, driving the IceAgent hooks through a small stand-in host (sockets per base,
 * an optional full-cone NAT): legacy checks, the §5.2 collision, the §5.5 retry rule, upgrade-only
 * media, peer derived addresses and §5.8, and the §5.5 relay release with the §9.1.2 rule.
 */
import { expect } from 'chai';
import { ManualClock } from '../../lib/base/clock.js';
import { AltAgent, type AltAgentOptions } from '../../lib/ice/alt-agent.js';
import type { SharedBases, StunInterceptor } from '../../lib/ice/local-bases.js';
import type { Candidate, CandidateType } from '../../lib/ice/candidate.js';
import { sameAddress, type TransportAddress } from '../../lib/net/socket.js';
import type { AltCandidate } from '../../lib/ice/alternate.js';
import { encodeLegacyErrorResponse } from '../../lib/stun/legacy.js';
import { MAGIC_COOKIE, StunMessage } from '../../lib/stun/message.js';
import { FakeNetwork, type FakeSocket } from './fake-network.js';

/** The IceAgent surface the engine uses, over FakeNetwork sockets (one per host/relay candidate). */
class FakeHost  implements SharedBases {
  localCandidates: Candidate[] = [];
  readonly mediaPaths = new Map<number, { base: Candidate; remote: { address: string; port: number } }>();
  readonly released: Candidate[] = [];
  private readonly sockets: Array<{ candidate: Candidate; socket: FakeSocket }> = [];
  private interceptor?: StunInterceptor;

  constructor(net: FakeNetwork, specs: Array<{ type: CandidateType; address: string; port: number; related?: { address: string; port: number } }>) {
    specs.forEach((s, i) => {
      const c: Candidate = { foundation: String(i + 1), component: 1, transport: 'udp', priority: 1000 - i, address: s.address, port: s.port, type: s.type };
      if (s.related) Object.assign(c, { relatedAddress: s.related.address, relatedPort: s.related.port });
      this.localCandidates.push(c);
      if (s.type === 'host' || s.type === 'relay') {
        const socket = net.bindSync(s.address, s.port);
        socket.onPacket((data, from) => {
          if (data[0]! > 3) return;
          this.interceptor?.(c, StunMessage.decode(data), from);
        });
        this.sockets.push({ candidate: c, socket });
      }
    });
  }

  baseCandidates(): Candidate[] { return this.sockets.filter((s) => !s.socket.closed).map((s) => ({ ...s.candidate })); }
  interceptStun(h: StunInterceptor | undefined): void { this.interceptor = h; }
  readonly trusted: Array<{ component: number; address: string; port: number }> = [];
  trustMediaFrom(component: number, address: { address: string; port: number }): void { this.trusted.push({ component, ...address }); }
  setMediaPath(component: number, path: { base: Candidate; remote: { address: string; port: number } } | undefined): void {
    if (path) this.mediaPaths.set(component, path);
    else this.mediaPaths.delete(component);
  }
  sendFrom(local: Candidate, data: Buffer, to: { address: string; port: number }): boolean {
    const base = local.type === 'srflx' ? { address: local.relatedAddress!, port: local.relatedPort! } : local;
    const s = this.sockets.find((x) => sameAddress(x.candidate, base) && !x.socket.closed);
    s?.socket.send(data, to);
    return s !== undefined;
  }
  async releaseRelay(relay: Candidate): Promise<boolean> {
    this.released.push(relay);
    await this.sockets.find((x) => sameAddress(x.candidate, relay))?.socket.close();
    return true;
  }
}

/** Advances the clock in steps, letting promise callbacks run in between. */
async function run(clock: ManualClock, ms: number, step = 5): Promise<void> {
  for (let t = 0; t < ms; t += step) {
    clock.advance(step);
    await new Promise((r) => setImmediate(r));
  }
}

describe('AltAgent (draft-rosenberg-sipping-ice-01 §5) on an in-memory network', () => {
  let clock: ManualClock;
  let net: FakeNetwork;
  let drop: (from: { address: string; port: number }, to: { address: string; port: number }, data: Buffer) => boolean;
  let engines: AltAgent[];

  beforeEach(() => {
    clock = new ManualClock();
    net = new FakeNetwork(clock);
    drop = () => false;
    engines = [];
    const transmit = net.transmit.bind(net);
    net.transmit = (from, to, data) => {
      if (!drop(from, to, data)) transmit(from, to, data);
    };
  });
  afterEach(() => engines.forEach((e) => e.close()));

  function engine(host: FakeHost, opts: Partial<AltAgentOptions> = {}): AltAgent {
    const e = new AltAgent({ bases: host, components: 1, clock, ...opts });
    engines.push(e);
    return e;
  }

  it('connects both ways with RFC 3489 checks; media goes to the verified alternate from the checking base', async () => {
    const ha = new FakeHost(net, [{ type: 'host', address: '10.0.0.1', port: 1000 }]);
    const hb = new FakeHost(net, [{ type: 'host', address: '10.0.0.2', port: 2000 }]);
    const a = engine(ha);
    const b = engine(hb);
    const [altA] = a.localAlternates();
    expect(altA).to.deep.include({ id: '1', qvalue: 1, derivedFrom: null, address: '10.0.0.1', port: 1000 });
    b.setRemote(a.localAlternates());
    a.setRemote(b.localAlternates());
    await run(clock, 200);
    expect(a.state).to.equal('connected');
    expect(b.state).to.equal('connected');
    expect(ha.mediaPaths.get(1)).to.deep.include({ remote: { address: '10.0.0.2', port: 2000 } });
    expect(hb.mediaPaths.get(1)!.base).to.deep.include({ address: '10.0.0.2', port: 2000 });
    // On the wire: legacy requests carrying the peer alternate's username.
    const check = net.log.find((d) => d.to.port === 1000 && d.data[0] === 0x00 && d.data[1] === 0x01)!;
    expect(check.data.readUInt32BE(4)).to.not.equal(MAGIC_COOKIE);
    expect(StunMessage.decode(check.data).getUsername()).to.equal(altA!.username);
    expect(a.localAlternateStates()[0]!.reachedAt).to.be.a('number');
    // Media is accepted only from what passed the checks: the alternate A reached, and the source
    // of B's authenticated request (IceAgent drops the rest as mediaFromStrangers).
    expect(ha.trusted).to.deep.include({ component: 1, address: '10.0.0.2', port: 2000 });
    expect(ha.trusted.every((t) => t.address === '10.0.0.2' && t.port === 2000), JSON.stringify(ha.trusted)).to.equal(true);
    expect(hb.trusted).to.deep.include({ component: 1, address: '10.0.0.1', port: 1000 });
  });

  it('§5.2 collision: an alternate served by another dialog is rejected there (430, retried per §5.5) and never selected', async () => {
    const hc = new FakeHost(net, [{ type: 'host', address: '10.0.0.3', port: 3000 }]);
    const c = engine(hc); // another dialog on another host with its own credentials
    const fake: AltCandidate = { id: 'x', qvalue: 1, derivedFrom: null, username: 'notC', password: 'pw', address: '10.0.0.3', port: 3000 };
    const ha = new FakeHost(net, [{ type: 'host', address: '10.0.0.1', port: 1000 }]);
    const hb = new FakeHost(net, [{ type: 'host', address: '10.0.0.2', port: 2000 }]);
    const a = engine(ha, { extraAlternates: [fake] });
    const b = engine(hb);
    const results: string[] = [];
    b.on('check', (i) => { if (i.remote.id === 'x' && i.result !== 'sent') results.push(`${i.result}: ${i.detail}`); });
    const offered = a.localAlternates();
    expect(offered[0]!.id).to.equal('x'); // listed first: it would win if it were accepted
    b.setRemote(offered);
    await run(clock, 2000);
    expect(b.state).to.equal('connected');
    expect(b.path(1)!.remote.id).to.equal('1');
    expect(results).to.deep.equal(['rejected: error response 430']);
    expect(c.serverStats.unknownUsername).to.equal(3); // first try and two retries
    expect(c.serverStats.accepted).to.equal(0);
  });

  for (const [code, requests] of [[431, 1], [400, 1], [600, 1], [430, 3], [500, 3], [401, 3], [432, 3]] as const) {
    it(`§5.5: error ${code} is ${requests > 1 ? 'retried' : 'not retried'} (${requests} request${requests > 1 ? 's' : ''})`, async () => {
      const peer = net.bindSync('10.0.0.9', 9000);
      const seen = new Set<string>();
      peer.onPacket((data, from) => {
        const m = StunMessage.decode(data);
        seen.add(m.transactionId.toString('hex'));
        peer.send(encodeLegacyErrorResponse(m, code, 'x'), from);
      });
      const b = engine(new FakeHost(net, [{ type: 'host', address: '10.0.0.2', port: 2000 }]), { checkTimeoutMs: 5000 });
      b.setRemote([{ id: '1', qvalue: 1, derivedFrom: null, username: 'u', password: 'p', address: '10.0.0.9', port: 9000 }]);
      await run(clock, 5100, 20);
      expect(seen.size).to.equal(requests);
      expect(b.state).to.equal('failed');
    });
  }

  it('§5.5: media only upgrades, never moves to a lower-priority alternate that answers later', async () => {
    const ha = new FakeHost(net, [{ type: 'host', address: '10.0.0.1', port: 1000 }, { type: 'relay', address: '10.0.0.7', port: 7000 }, { type: 'relay', address: '10.0.0.8', port: 8000 }]);
    const hb = new FakeHost(net, [{ type: 'host', address: '10.0.0.2', port: 2000 }]);
    const a = engine(ha);
    const b = engine(hb);
    // A's host (q 1.0) answers only after 1 s; its first relay (q 0.4) at once; its second relay (q 0.39) after 3 s.
    drop = (_f, to) => (to.port === 1000 && clock.now() < 1000) || (to.port === 8000 && clock.now() < 3000);
    const paths: number[] = [];
    b.on('path', (p) => paths.push(p.remoteAddress.port));
    b.setRemote(a.localAlternates());
    await run(clock, 6000, 20);
    expect(paths).to.deep.equal([7000, 1000]);
    expect(hb.mediaPaths.get(1)!.remote.port).to.equal(1000);
  });

  it('§5.5/§5.8: a MAPPED-ADDRESS we did not have becomes a peer derived alternate with the qvalue it came through; a new offer only if it outranks what the peer reached', async () => {
    // A behind a full-cone NAT: 10.0.0.1:1000 <-> 192.0.2.1:1000; B on 192.0.2.2 cannot reach 10/8.
    const transmit = FakeNetwork.prototype.transmit;
    net.transmit = function (from, to, data) {
      if (from.address.startsWith('192.') && to.address.startsWith('10.')) return;
      const outFrom = from.address === '10.0.0.1' ? { ...from, address: '192.0.2.1' } : from;
      const inTo = to.address === '192.0.2.1' ? { ...to, address: '10.0.0.1' } : to;
      transmit.call(this, outFrom as TransportAddress, inTo, data);
    };
    const ha = new FakeHost(net, [{ type: 'host', address: '10.0.0.1', port: 1000 }]);
    const hb = new FakeHost(net, [{ type: 'host', address: '192.0.2.2', port: 2000 }]);
    const a = engine(ha, { renegotiationDelayMs: 2000 });
    const b = engine(hb);
    const reasons: string[] = [];
    a.on('renegotiate', (r) => reasons.push(r));
    a.markAnnounced();
    b.setRemote(a.localAlternates()); // B's check to 10.0.0.1 goes nowhere
    a.setRemote(b.localAlternates());
    await run(clock, 300);
    const derived = a.localAlternateStates().find((l) => l.kind === 'peer-derived')!;
    expect(derived.alt).to.deep.include({ address: '192.0.2.1', port: 1000, qvalue: 1, derivedFrom: '1' });
    await run(clock, 2000);
    expect(reasons).to.have.length(1);
    expect(reasons[0]).to.match(/192\.0\.2\.1:1000 \(q 1\.0\) outranks every alternate the peer reached \(none yet\)/);
    // The new cycle: B checks the peer derived alternate (sending from the base it names), reaches it.
    const reoffer = a.localAlternates();
    a.markAnnounced();
    expect(reoffer.find((x) => x.derivedFrom === '1')).to.not.equal(undefined);
    b.setRemote(reoffer);
    await run(clock, 300);
    expect(derived.reachedAt).to.be.a('number');
    expect(a.renegotiationReason()).to.equal(undefined);
  });

  describe('§5.5 relay release and the §9.1.2 rule', () => {
    async function setup(opts: { aChecks: 'host' | 'derived-from-relay' | 'none' }) {
      const ha = new FakeHost(net, [{ type: 'host', address: '10.0.0.1', port: 1000 }, { type: 'relay', address: '10.0.0.7', port: 7000 }]);
      const hb = new FakeHost(net, [{ type: 'host', address: '10.0.0.2', port: 2000 }]);
      const a = engine(ha);
      const b = engine(hb);
      const [host, relay] = a.localAlternates();
      expect(relay).to.deep.include({ qvalue: 0.4, address: '10.0.0.7' });
      if (opts.aChecks === 'host') a.setRemote(b.localAlternates());
      if (opts.aChecks === 'derived-from-relay') {
        // B's alternate 7 of §9.1.2: peer derived from A's relayed alternate, so A must send from its relay (§7).
        a.setRemote(b.localAlternates().map((x) => ({ ...x, qvalue: 0.4, derivedFrom: relay!.id })));
      }
      await run(clock, 200);
      b.setRemote([host!]); // B reaches A's host alternate (q 1.0 > 0.4)
      await run(clock, 200);
      return { ha, a, relay: relay! };
    }

    it('frees the relay no earlier than 3 s after the peer reached a higher-priority alternate', async () => {
      const { ha, a } = await setup({ aChecks: 'host' });
      await run(clock, 2500);
      expect(ha.released).to.deep.equal([]);
      await run(clock, 600);
      expect(ha.released.map((c) => c.port)).to.deep.equal([7000]);
      expect(a.localAlternates().map((x) => x.port)).to.deep.equal([1000]);
    });

    it('keeps the relay while its own media is sent from it (a peer alternate derived from it): the §9.1.2 open issue', async () => {
      const { ha, a } = await setup({ aChecks: 'derived-from-relay' });
      expect(ha.mediaPaths.get(1)!.base.port).to.equal(7000);
      await run(clock, 5000);
      expect(ha.released).to.deep.equal([]);
      expect(a.state).to.equal('connected');
    });

    it('keeps the relay while it has no verified path of its own', async () => {
      const { ha } = await setup({ aChecks: 'none' });
      await run(clock, 5000);
      expect(ha.released).to.deep.equal([]);
    });
  });
});
