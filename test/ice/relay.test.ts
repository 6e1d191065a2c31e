import { expect } from 'chai';
import { ManualClock } from '../../lib/base/clock.js';
import { silentLogger } from '../../lib/base/log.js';
import { allocateRelay, type AllocateRelayOptions, type TurnServer } from '../../lib/ice/relay.js';
import type { PacketSocket } from '../../lib/net/socket.js';
import { StunAttr, StunMethod } from '../../lib/stun/message.js';
import type { TurnClient } from '../../lib/turn/client.js';
import { FakeTurnServer } from '../turn/fake-turn-server.js';
import { FakeNetwork, type FakeSocket } from './fake-network.js';

/**
 * allocateRelay (RFC 8445 §5.1.1.2 relayed candidates, RFC 8656 allocations) entirely under a
 * ManualClock on the in-memory network: the per-server timeout, the STUN retransmissions, the
 * refresh timers and every socket are the test's, so a dead first server costs exactly its
 * timeout and nothing leaves the process.
 */

const USER = 'alice';
const PASSWORD = 'secret-1';

/** Advances the clock in steps, letting promise callbacks run in between. */
async function run(clock: ManualClock, ms: number, step = 1): Promise<void> {
  for (let t = 0; t < ms; t += step) {
    clock.advance(step);
    for (let i = 0; i < 3; i++) await new Promise<void>((r) => setImmediate(r));
  }
}

/** Runs the clock until `p` settles (at most `limitMs` of clock time). */
async function settle<T>(clock: ManualClock, p: Promise<T>, limitMs: number, step = 1): Promise<T> {
  let done = false;
  void p.then(() => { done = true; }, () => { done = true; });
  for (let t = 0; t < limitMs && !done; t += step) await run(clock, step, step);
  expect(done, `settled within ${limitMs} ms of clock time`).to.equal(true);
  return p;
}

describe('ice/relay: allocateRelay under a ManualClock with in-memory sockets', function () {
  this.timeout(5000); // the per-server timeout is 20 s of clock time: real timers could not finish

  let clock: ManualClock;
  let net: FakeNetwork;
  let host: FakeSocket;
  let clients: Set<TurnClient>;

  beforeEach(() => {
    clock = new ManualClock();
    net = new FakeNetwork(clock);
    host = net.bindSync('10.0.0.1', 5000);
    clients = new Set();
    host.onPacket((data, from) => {
      for (const c of clients) if (c.handlePacket(data, from)) return;
    });
  });

  const server = (address: string, port = 3478): TurnServer => ({ address, port, transport: 'udp', username: USER, password: PASSWORD, label: `turn:${address}` });

  const options = (servers: TurnServer[], extra: Partial<AllocateRelayOptions> = {}): AllocateRelayOptions => ({
    component: 1,
    servers,
    hostSocket: host,
    attachToHost: (c) => clients.add(c),
    detachFromHost: (c) => clients.delete(c),
    perServerTimeoutMs: 20_000,
    clock,
    log: silentLogger,
    ...extra,
  });

  it('first server dead, second answers: failover costs exactly the per-server timeout, on the shared host socket', async () => {
    const live = new FakeTurnServer(net, '203.0.113.2', 3478);
    const allocation = allocateRelay(options([server('203.0.113.1'), server('203.0.113.2')]));
    await run(clock, 19_900, 100);
    const { socket, result } = await settle(clock, allocation, 1000);
    expect(socket, JSON.stringify(result)).to.not.equal(undefined);
    // 20 s on the dead server, then 401 + Allocate, 1 ms each way on the fake network.
    expect(result.elapsedMs).to.equal(20_004);
    expect(result.server).to.equal('turn:203.0.113.2');
    expect(result.failures).to.have.length(1);
    expect(result.failures[0]).to.deep.include({ server: 'turn:203.0.113.1' });
    expect(result.failures[0]!.error).to.match(/no answer within 20000 ms/);
    expect(socket!.local).to.deep.equal(live.allocations.get('10.0.0.1:5000'));
    // The dead server saw the retransmissions from the host socket; the live one the 401 dance.
    const toDead = net.log.filter((d) => d.to.address === '203.0.113.1');
    expect(toDead.length).to.be.at.least(5);
    expect(toDead.every((d) => d.from.port === 5000)).to.equal(true);
    expect(live.received(StunMethod.Allocate)).to.have.length(2);

    // The relay works as a socket: the first send to a peer binds a channel (the packet waits for it), then ChannelData.
    const peer = { address: '198.51.100.9', port: 7000 };
    socket!.send(Buffer.from('hello'), peer);
    await run(clock, 5);
    expect(live.received(StunMethod.ChannelBind)).to.have.length(1);
    socket!.send(Buffer.from('again'), peer);
    await run(clock, 2);
    expect(live.channelData.map((c) => c.data.toString())).to.deep.equal(['hello', 'again']);

    // Refreshes run on the ManualClock too: lifetime 600 s, refreshed at 540 s.
    await run(clock, 540_000, 10_000);
    expect(live.received(StunMethod.Refresh)).to.have.length(1);

    const closing = socket!.close();
    await settle(clock, closing, 100);
    const refreshes = live.received(StunMethod.Refresh);
    expect(refreshes[refreshes.length - 1]!.get(StunAttr.LIFETIME)!.readUInt32BE(0)).to.equal(0);
  });

  it('clients that cannot share the host socket bind through the injected bindSocket, on the ManualClock', async () => {
    const live = new FakeTurnServer(net, '127.0.0.3', 34780);
    const bound: string[] = [];
    const bindSocket = async (address: string): Promise<PacketSocket> => {
      bound.push(address);
      return net.bindSync(address === '0.0.0.0' ? '127.0.0.1' : address);
    };
    // An IPv6 host socket: IPv4 servers need the client's own socket.
    const host6 = net.bindSync('fd00::1', 5000);
    const allocation = allocateRelay(options([server('127.0.0.2', 34780), server('127.0.0.3', 34780)], { hostSocket: host6, bindSocket }));
    await run(clock, 19_900, 100);
    const { socket, result } = await settle(clock, allocation, 1000);
    expect(socket, JSON.stringify(result)).to.not.equal(undefined);
    expect(bound).to.deep.equal(['0.0.0.0', '0.0.0.0']);
    expect(result.elapsedMs).to.equal(20_004);
    expect(result.failures[0]!.error).to.match(/no answer within 20000 ms/);
    expect([...live.allocations.keys()]).to.have.length(1);
    expect([...live.allocations.keys()][0]).to.match(/^127\.0\.0\.1:\d+$/);
    // The abandoned client closed its own socket: nothing left bound but the live one and the hosts.
    await run(clock, 10);
    const closing = socket!.close();
    await settle(clock, closing, 100);
    expect(clock.pendingCount).to.equal(0);
  });

  it('family IPv6: REQUESTED-ADDRESS-FAMILY to each server; a 440 moves on to the next, whose IPv6 relay becomes the socket', async () => {
    const noV6 = new FakeTurnServer(net, '203.0.113.1', 3478);
    const dual = new FakeTurnServer(net, '203.0.113.2', 3478, { relayIPv6: '2001:db8::9' });
    const allocation = allocateRelay(options([server('203.0.113.1'), server('203.0.113.2')], { family: 'IPv6' }));
    await new Promise<void>((r) => setImmediate(r)); // the first Allocate leaves at 0 ms
    const { socket, result } = await settle(clock, allocation, 100);
    expect(socket, JSON.stringify(result)).to.not.equal(undefined);
    expect(result.failures).to.have.length(1);
    expect(result.failures[0]!.error).to.match(/no IPv6 relayed addresses on this server \(440 Address Family not Supported\)$/);
    expect(result.elapsedMs).to.equal(8); // two 401 dances on the 1 ms network, no waiting
    expect(socket!.local).to.deep.include({ address: '2001:db8::9', family: 'IPv6' });
    for (const s of [noV6, dual]) {
      for (const m of s.received(StunMethod.Allocate)) expect(m.get(StunAttr.REQUESTED_ADDRESS_FAMILY)!.toString('hex')).to.equal('02000000');
    }
    // Both servers are IPv4: the IPv4 host socket reached them (the relay family is independent).
    expect([...dual.allocations.keys()]).to.deep.equal(['10.0.0.1:5000']);
    await settle(clock, socket!.close(), 100);
  });
});
