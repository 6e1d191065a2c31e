import { expect } from 'chai';
import { computePriority, type Candidate } from '../../lib/ice/candidate.js';
import { CheckList, canPair } from '../../lib/ice/checklist.js';

function cand(type: Candidate['type'], address: string, port: number, component: number, foundation: string, extra: Partial<Candidate> = {}): Candidate {
  return { foundation, component, transport: 'udp', priority: computePriority(type, 65535, component), address, port, type, ...extra };
}

/** Local: host 10.0.0.1 (two components) and its srflx; remote: two hosts of different foundations. */
function fixture(components = 2) {
  const localHost = [1, 2].slice(0, components).map((c) => cand('host', '10.0.0.1', 5000 + c, c, 'L1'));
  const localSrflx = [1, 2].slice(0, components).map((c) => cand('srflx', '198.51.100.1', 6000 + c, c, 'L2', { relatedAddress: '10.0.0.1', relatedPort: 5000 + c }));
  const remoteHost = [1, 2].slice(0, components).map((c) => cand('host', '10.0.0.2', 7000 + c, c, 'R1'));
  const remoteSrflx = [1, 2].slice(0, components).map((c) => cand('srflx', '203.0.113.9', 8000 + c, c, 'R2', { relatedAddress: '10.0.0.2', relatedPort: 7000 + c }));
  const locals = [...localHost, ...localSrflx];
  const baseOf = (c: Candidate) => (c.type === 'host' ? c : localHost.find((h) => h.component === c.component && h.address === c.relatedAddress && h.port === c.relatedPort));
  return { localHost, localSrflx, remoteHost, remoteSrflx, locals, remotes: [...remoteHost, ...remoteSrflx], baseOf };
}

describe('CheckList (RFC 8445 §6.1.2)', () => {
  it('pairs only same component, transport and address family', () => {
    const a = cand('host', '10.0.0.1', 1, 1, 'x');
    expect(canPair(a, cand('host', '10.0.0.2', 1, 1, 'y'))).to.equal(true);
    expect(canPair(a, cand('host', '10.0.0.2', 1, 2, 'y'))).to.equal(false);
    expect(canPair(a, cand('host', '2001:db8::1', 1, 1, 'y'))).to.equal(false);
    expect(canPair(a, { ...cand('host', '10.0.0.2', 1, 1, 'y'), transport: 'tcp' })).to.equal(false);
    expect(canPair(cand('host', 'fe80::1', 1, 1, 'x'), cand('host', '2001:db8::1', 1, 1, 'y'))).to.equal(false);
  });

  it('forms pairs, replacing server-reflexive locals by their base and pruning redundant pairs (§6.1.2.4)', () => {
    const f = fixture();
    const list = new CheckList({ role: 'controlling', components: 2 });
    const added = list.formPairs(f.locals, f.remotes, f.baseOf);
    // 2 local bases x 2 remote per component (srflx local pairs are redundant with host ones).
    expect(added).to.have.length(4);
    expect(list.pairs.every((p) => p.local.type === 'host')).to.equal(true);
    // Adding the same again changes nothing.
    expect(list.formPairs(f.locals, f.remotes, f.baseOf)).to.have.length(0);
  });

  it('orders by pair priority, highest first, and recomputes on role change', () => {
    const f = fixture();
    const list = new CheckList({ role: 'controlling', components: 2 });
    list.formPairs(f.locals, f.remotes, f.baseOf);
    const prios = list.pairs.map((p) => p.priority);
    expect([...prios].sort((a, b) => (a > b ? -1 : a < b ? 1 : 0))).to.deep.equal(prios);
    // Host-host component 1 first.
    expect(list.pairs[0].component).to.equal(1);
    expect(list.pairs[0].remote.type).to.equal('host');
    const before = list.pairs[0].priority;
    list.setRole('controlled');
    expect(list.pairs[0].priority).to.equal(before); // host-host: G = D, symmetric
    const hostSrflx = list.pairs.find((p) => p.remote.type === 'srflx' && p.component === 1)!;
    list.setRole('controlling');
    const asControlling = hostSrflx.priority;
    list.setRole('controlled');
    expect(hostSrflx.priority).to.equal(asControlling - 1n); // G>D bit flips
  });

  it('initial states: per foundation, lowest component (then highest priority) Waiting, rest Frozen (§6.1.2.6)', () => {
    const f = fixture();
    const list = new CheckList({ role: 'controlling', components: 2 });
    list.formPairs(f.locals, f.remotes, f.baseOf);
    list.unfreezeInitial();
    const waiting = list.pairs.filter((p) => p.state === 'waiting');
    expect(waiting.map((p) => `${p.foundation}/${p.component}`).sort()).to.deep.equal(['L1:R1/1', 'L1:R2/1']);
    expect(list.pairs.filter((p) => p.state === 'frozen')).to.have.length(2);
  });

  it('runs Waiting pairs highest priority first, then unfreezes by foundation on success (§7.2.5.3.3)', () => {
    const f = fixture();
    const list = new CheckList({ role: 'controlling', components: 2 });
    list.formPairs(f.locals, f.remotes, f.baseOf);
    list.unfreezeInitial();
    const first = list.nextCheck()!;
    expect(first.pair.state).to.equal('in-progress');
    expect(first.pair.foundation).to.equal('L1:R1');
    expect(first.pair.component).to.equal(1);
    const second = list.nextCheck()!;
    expect(second.pair.foundation).to.equal('L1:R2');
    expect(list.nextCheck()).to.equal(undefined); // same foundations in progress: nothing to unfreeze
    const valid = list.checkSucceeded(first.pair, first.pair.local);
    expect(valid).to.equal(first.pair);
    expect(valid.valid).to.equal(true);
    const c2 = list.pairs.find((p) => p.component === 2 && p.foundation === 'L1:R1')!;
    expect(c2.state).to.equal('waiting');
    const c2other = list.pairs.find((p) => p.component === 2 && p.foundation === 'L1:R2')!;
    expect(c2other.state).to.equal('frozen');
    expect(list.nextCheck()!.pair).to.equal(c2);
  });

  it('unfreezes a frozen pair when its foundation has nothing waiting or in progress (§6.1.4.2)', () => {
    const f = fixture();
    const list = new CheckList({ role: 'controlling', components: 2 });
    list.formPairs(f.locals, f.remotes, f.baseOf);
    list.unfreezeInitial();
    const a = list.nextCheck()!;
    const b = list.nextCheck()!;
    list.checkFailed(a.pair);
    list.checkFailed(b.pair);
    const next = list.nextCheck()!;
    expect(next.pair.component).to.equal(2);
    expect(list.state).to.equal('running');
    list.checkFailed(next.pair);
    const last = list.nextCheck()!;
    list.checkFailed(last.pair);
    expect(list.nextCheck()).to.equal(undefined);
    expect(list.state).to.equal('failed');
  });

  it('triggered checks go first and follow §7.3.1.4 per pair state', () => {
    const f = fixture(1);
    const list = new CheckList({ role: 'controlled', components: 1 });
    list.formPairs(f.locals, f.remotes, f.baseOf);
    list.unfreezeInitial();
    const low = list.pairs[list.pairs.length - 1];
    expect(list.trigger(low)).to.equal('queued');
    const n = list.nextCheck()!;
    expect(n.pair).to.equal(low);
    expect(n.triggered).to.equal(true);
    // In progress: the caller cancels the in-flight transaction; a new check is queued at once.
    expect(list.trigger(low)).to.equal('cancel-in-progress');
    expect(low.state).to.equal('waiting');
    const again = list.nextCheck()!;
    expect(again.pair).to.equal(low);
    expect(again.triggered).to.equal(true);
    list.checkSucceeded(low, low.local);
    expect(list.trigger(low)).to.equal('none'); // succeeded: nothing
    // Failed: back to Waiting and queued.
    const other = list.pairs.find((p) => p !== low && p.state !== 'succeeded')!;
    if (other.state === 'frozen') other.transition('waiting');
    if (other.state === 'waiting') other.transition('in-progress');
    list.checkFailed(other);
    expect(list.trigger(other)).to.equal('queued');
    expect(other.state).to.equal('waiting');
  });

  it('builds a discovered valid pair for a peer-reflexive mapped address and completes on nomination (§8.1.2)', () => {
    const f = fixture(1);
    const list = new CheckList({ role: 'controlling', components: 1 });
    list.formPairs(f.localHost, f.remoteHost, f.baseOf);
    list.unfreezeInitial();
    const { pair } = list.nextCheck()!;
    const prflx = cand('prflx', '198.51.100.7', 9999, 1, 'P', { relatedAddress: '10.0.0.1', relatedPort: 5001 });
    const valid = list.checkSucceeded(pair, prflx);
    expect(valid).to.not.equal(pair);
    expect(valid.local).to.equal(prflx);
    expect(valid.base).to.equal(pair.local);
    expect(valid.state).to.equal('succeeded');
    expect(list.validList(1)).to.deep.equal([valid]);
    expect(list.state).to.equal('running');
    list.queueNomination(valid);
    const nom = list.nextCheck()!;
    expect(nom.nominate).to.equal(true);
    expect(nom.pair).to.equal(valid);
    list.nominate(valid);
    expect(list.nominated(1)).to.equal(valid);
    expect(list.state).to.equal('completed');
  });

  it('concludeComponent drops Frozen/Waiting pairs and returns lower-priority In-Progress ones', () => {
    const f = fixture(1);
    const list = new CheckList({ role: 'controlling', components: 1 });
    list.formPairs(f.locals, f.remotes, f.baseOf);
    list.unfreezeInitial();
    const hi = list.nextCheck()!.pair;
    const lo = list.nextCheck()!.pair;
    list.checkSucceeded(hi, hi.local);
    list.nominate(hi);
    const stop = list.concludeComponent(1);
    expect(stop).to.deep.equal([lo]);
    expect(list.pairs.filter((p) => p.state === 'waiting' || p.state === 'frozen')).to.have.length(0);
  });

  it('limits the number of pairs (§6.1.2.5)', () => {
    const list = new CheckList({ role: 'controlling', components: 1, maxPairs: 3 });
    const local = cand('host', '10.0.0.1', 1, 1, 'L');
    const remotes = [1, 2, 3, 4].map((i) => ({ ...cand('host', `10.0.1.${i}`, 100 + i, 1, `R${i}`), priority: 1000 * i }));
    list.formPairs([local], remotes);
    expect(list.pairs).to.have.length(3);
    expect(list.pairs.map((p) => p.remote.address)).to.not.include('10.0.1.1');
  });
});
