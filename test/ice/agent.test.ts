import { expect } from 'chai';
import { IceAgent } from '../../lib/ice/agent.js';
import { computePriority } from '../../lib/ice/candidate.js';
import { buildCheckRequest } from '../../lib/ice/connectivity-check.js';
import { UdpSocket } from '../../lib/net/udp.js';
import { shortTermKey } from '../../lib/stun/integrity.js';
import { StunAttr, StunMessage } from '../../lib/stun/message.js';
import { makePair, rtp, waitFor, waitForState } from './helpers.js';

describe('IceAgent on 127.0.0.1', () => {
  const agents: IceAgent[] = [];
  afterEach(async () => {
    await Promise.all(agents.splice(0).map((a) => a.close()));
  });

  for (const components of [1, 2]) {
    it(`connects with ${components} component(s), same selected pair, data both ways`, async () => {
      const [a, b] = await makePair({}, {}, components);
      agents.push(a, b);
      a.start();
      b.start();
      await Promise.all([waitForState(a, ['completed']), waitForState(b, ['completed'])]);
      for (let c = 1; c <= components; c++) {
        const pa = a.selectedPair(c)!;
        const pb = b.selectedPair(c)!;
        expect(pa.nominated).to.equal(true);
        expect(pb.nominated).to.equal(true);
        expect({ address: pa.local.address, port: pa.local.port }).to.deep.equal({ address: pb.remote.address, port: pb.remote.port });
        expect({ address: pa.remote.address, port: pa.remote.port }).to.deep.equal({ address: pb.local.address, port: pb.local.port });
      }
      const got: string[] = [];
      a.on('data', (c, d) => got.push(`a${c}:${d.subarray(12).toString()}`));
      b.on('data', (c, d) => got.push(`b${c}:${d.subarray(12).toString()}`));
      for (let c = 1; c <= components; c++) {
        expect(a.send(c, rtp(`to-b-${c}`))).to.equal(true);
        expect(b.send(c, rtp(`to-a-${c}`))).to.equal(true);
      }
      await waitFor(() => got.length === 2 * components, 2000, 'data');
      for (let c = 1; c <= components; c++) expect(got).to.include.members([`b${c}:to-b-${c}`, `a${c}:to-a-${c}`]);
    });
  }
});

describe('IceAgent edge cases on 127.0.0.1', () => {
  const agents: IceAgent[] = [];
  const sockets: UdpSocket[] = [];
  afterEach(async () => {
    await Promise.all(agents.splice(0).map((a) => a.close()));
    await Promise.all(sockets.splice(0).map((s) => s.close()));
  });

  async function connected(a: IceAgent, b: IceAgent): Promise<void> {
    await Promise.all([waitForState(a, ['completed']), waitForState(b, ['completed'])]);
    const pa = a.selectedPair(1)!;
    const pb = b.selectedPair(1)!;
    expect(pa.local.port).to.equal(pb.remote.port);
    expect(pa.remote.port).to.equal(pb.local.port);
  }

  for (const [name, roleA, roleB, tbA, tbB] of [
    ['both controlling, A has the larger tie-breaker', 'controlling', 'controlling', 2n ** 63n, 5n],
    ['both controlling, B has the larger tie-breaker', 'controlling', 'controlling', 5n, 2n ** 63n],
    ['both controlled', 'controlled', 'controlled', 7n, 2n ** 64n - 1n],
  ] as const) {
    it(`resolves a role conflict (${name}) and connects`, async () => {
      const [a, b] = await makePair({ role: roleA, tieBreaker: tbA }, { role: roleB, tieBreaker: tbB });
      agents.push(a, b);
      a.start();
      b.start();
      await connected(a, b);
      expect(a.role).to.not.equal(b.role);
      const bigger = tbA > tbB ? a : b;
      expect(bigger.role).to.equal('controlling');
      expect(a.stats.roleConflicts + b.stats.roleConflicts).to.be.greaterThan(0);
    });
  }

  it('answers a check with a wrong password 401, counts it, and learns nothing from it', async () => {
    const a = new IceAgent({ role: 'controlled', components: 1, addresses: ['127.0.0.1'], taMs: 5 });
    agents.push(a);
    const [host] = await a.gather();
    const raw = await UdpSocket.bind('127.0.0.1');
    sockets.push(raw);
    const replies: StunMessage[] = [];
    raw.onPacket((d) => replies.push(StunMessage.decode(d)));
    const req = buildCheckRequest({ localUfrag: 'evil', remoteUfrag: a.localUfrag, priority: 1, role: 'controlling', tieBreaker: 1n, useCandidate: true });
    raw.send(req.encode({ integrityKey: shortTermKey('not-the-password-at-all'), fingerprint: true }), host);
    // Unknown USERNAME: 401 as well.
    const req2 = buildCheckRequest({ localUfrag: 'evil', remoteUfrag: 'nobody', priority: 1, role: 'controlling', tieBreaker: 1n });
    raw.send(req2.encode({ integrityKey: shortTermKey(a.localPwd), fingerprint: true }), host);
    await waitFor(() => replies.length === 2, 2000, '401 responses');
    for (const r of replies) {
      expect(r.messageClass).to.equal('error');
      expect(r.getErrorCode()!.code).to.equal(401);
      expect(r.has(StunAttr.MESSAGE_INTEGRITY)).to.equal(false);
    }
    expect(a.stats.unauthorized401Sent).to.equal(2);
    expect(a.stats.integrityFailures).to.equal(1);
    expect(a.remoteCandidates).to.have.length(0);
    expect(a.pairs()).to.have.length(0);
  });

  it('an agent with the wrong remote password gets no valid pair from its own checks', async () => {
    const [a, b] = await makePair({ checkTimeoutMs: 1500, checkMaxRequests: 2 }, {});
    agents.push(a, b);
    a.setRemoteCredentials(b.localUfrag, 'wrong-password-wrong-password');
    a.start();
    b.start();
    await waitFor(() => b.stats.unauthorized401Sent > 0, 3000, '401 from b');
    await waitForState(a, ['failed'], 4000);
    expect(a.pairs().filter((p) => p.state === 'succeeded')).to.have.length(0);
    expect(a.selectedPair(1)).to.equal(undefined);
  });

  it('counts garbage datagrams on candidate sockets and still connects', async () => {
    const [a, b] = await makePair();
    agents.push(a, b);
    const raw = await UdpSocket.bind('127.0.0.1');
    sockets.push(raw);
    const target = a.localCandidates[0];
    const garbage = [
      Buffer.from([0xff, 0x01, 0x02]), // no RFC 7983 range
      Buffer.from([0x00, 0x01, 0x00, 0x08, ...new Array(16).fill(0x42)]), // STUN range, bad length/cookie
      Buffer.from([0x01, ...new Array(27).fill(0x99)]), // STUN range, garbage attributes
      Buffer.from([0x80, 0x00]), // RTP range, too short
      Buffer.alloc(0),
      Buffer.from([0x20, 0x01, 0x02, 0x03]), // DTLS range: not handled
      Buffer.from([0x40, 0x00, 0x00, 0x04, 1, 2, 3, 4]), // ChannelData: no TURN here
    ];
    for (const g of garbage) raw.send(g, target);
    await waitFor(() => a.stats.malformedDropped >= garbage.length - 1, 2000, 'garbage counted'); // the empty datagram may not arrive
    a.start();
    b.start();
    await connected(a, b);
  });

  it('learns a peer-reflexive remote candidate from checks arriving from an unsignalled address', async () => {
    const a = new IceAgent({ role: 'controlling', components: 1, addresses: ['127.0.0.1'], taMs: 5, nominationWaitMs: 50 });
    const b = new IceAgent({ role: 'controlled', components: 1, addresses: ['127.0.0.1'], taMs: 5 });
    agents.push(a, b);
    const [, rc] = await Promise.all([a.gather(), b.gather()]);
    a.setRemoteCredentials(b.localUfrag, b.localPwd);
    b.setRemoteCredentials(a.localUfrag, a.localPwd);
    for (const c of rc) a.addRemoteCandidate(c);
    // b is told nothing about a's candidates.
    b.start();
    a.start();
    await connected(a, b);
    const prflx = b.remoteCandidates.filter((c) => c.type === 'prflx');
    expect(prflx).to.have.length(1);
    expect(prflx[0].address).to.equal('127.0.0.1');
    expect(prflx[0].port).to.equal(a.localCandidates[0].port);
    expect(prflx[0].priority).to.equal(computePriority('prflx', 65535, 1));
    expect(b.selectedPair(1)!.remote.type).to.equal('prflx');
  });

  it('answers checks that arrive before start() and uses the fallback before any pair is valid', async () => {
    const [a, b] = await makePair();
    agents.push(a, b);
    const raw = await UdpSocket.bind('127.0.0.1');
    sockets.push(raw);
    const seen: Buffer[] = [];
    raw.onPacket((d) => seen.push(d));
    expect(b.send(1, rtp('x'))).to.equal(false);
    b.setFallbackRemote(1, raw.local);
    expect(b.send(1, rtp('fallback'))).to.equal(true);
    await waitFor(() => seen.length === 1, 2000, 'fallback datagram');
    expect(b.defaultCandidate(1).type).to.equal('host');
    a.start(); // b not started: it must still answer, queue triggered checks, then run them on start()
    await waitFor(() => b.stats.checksReceived > 0, 2000, 'early check');
    expect(b.state).to.equal('gathering');
    b.start();
    await connected(a, b);
  });
});
