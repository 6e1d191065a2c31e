/**
 * Aggressive nomination (RFC 5245 §8.1.1.2, RFC 8445 Appendix B) between two agents on the
 * in-memory network under a ManualClock: the controlling agent puts USE-CANDIDATE on every check
 * and sends no separate nomination check; several pairs get nominated and both agents select the
 * same one, the highest-priority nominated pair. A regular controlled agent accepts an aggressive
 * controlling one (it nominates on USE-CANDIDATE either way).
 */
import { expect } from 'chai';
import { ManualClock } from '../../lib/base/clock.js';
import { IceAgent, type IceAgentOptions } from '../../lib/ice/agent.js';
import type { CandidatePairInfo } from '../../lib/ice/candidate-pair.js';
import { StunAttr, StunMessage } from '../../lib/stun/message.js';
import { FakeNetwork, type Datagram } from './fake-network.js';

async function run(clock: ManualClock, ms: number, step = 5): Promise<void> {
  for (let t = 0; t < ms; t += step) {
    clock.advance(step);
    await new Promise((r) => setImmediate(r));
  }
}

function stunRequest(d: Datagram): StunMessage | undefined {
  if (d.data.length < 20 || d.data[0]! > 3) return undefined;
  try {
    const m = StunMessage.decode(d.data);
    return m.messageClass === 'request' ? m : undefined;
  } catch {
    return undefined;
  }
}

const key = (p: CandidatePairInfo | undefined) => (p ? `${p.local.address}:${p.local.port}->${p.remote.address}:${p.remote.port}` : 'none');
const mirror = (p: CandidatePairInfo | undefined) => (p ? `${p.remote.address}:${p.remote.port}->${p.local.address}:${p.local.port}` : 'none');

describe('aggressive nomination (RFC 5245 §8.1.1.2, RFC 8445 Appendix B)', () => {
  const open: IceAgent[] = [];
  afterEach(async () => {
    for (const a of open.splice(0)) await a.close();
  });

  async function duo(aOpts: Partial<IceAgentOptions>, bOpts: Partial<IceAgentOptions>) {
    const clock = new ManualClock();
    const net = new FakeNetwork(clock, 1);
    const common = { components: 1, clock, bindSocket: net.bind, taMs: 20 };
    // Two addresses each: four pairs, of which several succeed and get nominated.
    const a = new IceAgent({ role: 'controlling', addresses: ['10.0.0.1', '10.0.1.1'], ...common, ...aOpts });
    const b = new IceAgent({ role: 'controlled', addresses: ['10.0.0.2', '10.0.1.2'], ...common, ...bOpts });
    open.push(a, b);
    const [ac, bc] = await Promise.all([a.gather(), b.gather()]);
    a.setRemoteCredentials(b.localUfrag, b.localPwd);
    b.setRemoteCredentials(a.localUfrag, a.localPwd);
    for (const c of bc) a.addRemoteCandidate(c);
    for (const c of ac) b.addRemoteCandidate(c);
    return { clock, net, a, b };
  }

  it('every check of the controlling agent carries USE-CANDIDATE; both select the same highest-priority nominated pair', async () => {
    const x = await duo({ nomination: 'aggressive' }, { nomination: 'aggressive' });
    const sentBefore = x.net.log.length;
    x.a.start();
    x.b.start();
    await run(x.clock, 2000);
    const aChecks = x.net.log.slice(sentBefore).filter((d) => d.from.address.startsWith('10.0.') && d.from.address.endsWith('.1')).map(stunRequest).filter((m) => m !== undefined);
    expect(aChecks.length).to.be.at.least(1);
    expect(aChecks.every((m) => m!.has(StunAttr.USE_CANDIDATE)), 'USE-CANDIDATE on each of A\'s checks').to.equal(true);
    const sa = x.a.selectedPair(1);
    const sb = x.b.selectedPair(1);
    expect(sa).to.not.equal(undefined);
    expect(key(sa)).to.equal(mirror(sb));
    // The highest-priority nominated pair on A's side is the selected one.
    const nominated = x.a.pairs().filter((p) => p.nominated);
    expect(nominated.length).to.be.at.least(1);
    expect(key(sa)).to.equal(key(nominated.sort((p, q) => (q.priority > p.priority ? 1 : q.priority < p.priority ? -1 : 0))[0]));
    expect(x.a.state).to.equal('completed');
  });

  it('regular nomination sends ordinary checks first and USE-CANDIDATE only on the pair it nominates', async () => {
    const x = await duo({ nominationWaitMs: 0 }, {});
    const sentBefore = x.net.log.length;
    x.a.start();
    x.b.start();
    await run(x.clock, 2000);
    const aChecks = x.net.log.slice(sentBefore).filter((d) => d.from.address.endsWith('.1')).map(stunRequest).filter((m) => m !== undefined);
    expect(aChecks.some((m) => !m!.has(StunAttr.USE_CANDIDATE))).to.equal(true);
    expect(key(x.a.selectedPair(1))).to.equal(mirror(x.b.selectedPair(1)));
  });

  it('an aggressive controlling agent with a regular controlled one: media flows on one pair both ends agree on', async () => {
    const x = await duo({ nomination: 'aggressive' }, {});
    x.a.start();
    x.b.start();
    await run(x.clock, 2000);
    const sa = x.a.selectedPair(1);
    expect(sa).to.not.equal(undefined);
    expect(x.b.selectedPair(1)).to.not.equal(undefined);
    expect(key(sa)).to.equal(mirror(x.b.selectedPair(1)));
    // Both selected pairs are valid on both ends: data sent on A's selection reaches B.
    let got = 0;
    x.b.on('data', () => got++);
    expect(x.a.send(1, Buffer.from([0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]))).to.equal(true);
    await run(x.clock, 20);
    expect(got).to.equal(1);
  });
});

describe('CheckList selection rules', () => {
  const cand = (address: string, port: number, foundation: string, priority: number) => ({ foundation, component: 1, transport: 'udp' as const, priority, address, port, type: 'host' as const });

  for (const [selection, expected] of [['highest-priority', 'high'], ['latest', 'low']] as const) {
    it(`${selection}: two nominated valid pairs, the ${expected}er-priority one nominated ${expected === 'high' ? 'first' : 'last'} is selected`, async () => {
      const { CheckList } = await import('../../lib/ice/checklist.js');
      const list = new CheckList({ role: 'controlling', components: 1, selection });
      const local = cand('10.0.0.1', 1000, 'L', 2130706431);
      const high = list.addPair(local, cand('10.0.0.2', 2000, 'R1', 2130706431))!.pair;
      const low = list.addPair(local, cand('10.0.0.3', 3000, 'R2', 1694498815))!.pair;
      list.unfreezeInitial();
      for (const p of [high, low]) {
        if (p.state === 'frozen') p.transition('waiting');
        p.transition('in-progress');
        list.checkSucceeded(p, local);
      }
      list.nominate(high);
      list.nominate(low);
      expect(list.selected(1)).to.equal(expected === 'high' ? high : low);
    });
  }
});
