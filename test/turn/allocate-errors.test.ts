import { expect } from 'chai';
import { ManualClock } from '../../lib/base/clock.js';
import type { PacketHandler, TransportAddress } from '../../lib/net/socket.js';
import { StunAttr, StunMethod, type StunMessage } from '../../lib/stun/message.js';
import { TurnClient, TurnError, type TurnAllocateOptions } from '../../lib/turn/client.js';
import type { TurnSocket, TurnSocketRequest } from '../../lib/turn/client-socket.js';
import { FakeNetwork, type FakeSocket } from '../ice/fake-network.js';
import { FakeTurnServer } from './fake-turn-server.js';

/**
 * Allocate error responses that RFC 8656 §7.4 says to act on, against scripted servers on the
 * in-memory network under a ManualClock: 300 (Try Alternate, RFC 8489 §10) and 437 (Allocation
 * Mismatch). The client's own sockets come from an injected factory bound to that network.
 */

const USER = 'alice';
const PASSWORD = 'secret-1';

async function run(clock: ManualClock, ms: number, step = 1): Promise<void> {
  for (let t = 0; t < ms; t += step) {
    clock.advance(step);
    for (let i = 0; i < 3; i++) await new Promise<void>((r) => setImmediate(r));
  }
}

async function settle<T>(clock: ManualClock, p: Promise<T>, limitMs = 1000): Promise<{ value?: T; error?: unknown }> {
  let out: { value?: T; error?: unknown } | undefined;
  p.then((value) => { out = { value }; }, (error: unknown) => { out = { error }; });
  for (let t = 0; t < limitMs && !out; t++) await run(clock, 1);
  expect(out, `settled within ${limitMs} ms of clock time`).to.not.equal(undefined);
  return out!;
}

/** A FakeSocket seen as a TCP/TLS stream (protocol 'tcp'), for the TLS redirection case. */
class StreamLike implements TurnSocket {
  readonly protocol = 'tcp' as const;
  constructor(private readonly inner: FakeSocket) {}
  get local(): TransportAddress { return this.inner.local; }
  get closed(): boolean { return this.inner.closed; }
  send(data: Buffer, to: { address: string; port: number }): void { this.inner.send(data, to); }
  onPacket(handler: PacketHandler): void { this.inner.onPacket(handler); }
  close(): Promise<void> { return this.inner.close(); }
}

describe('turn/client: Allocate errors RFC 8656 §7.4 acts on (300, 437)', () => {
  let clock: ManualClock;
  let net: FakeNetwork;
  let opened: Array<{ request: TurnSocketRequest; socket: TurnSocket }>;

  beforeEach(() => {
    clock = new ManualClock();
    net = new FakeNetwork(clock);
    opened = [];
  });

  const openSocket = async (request: TurnSocketRequest): Promise<TurnSocket> => {
    const local = request.localAddress === '0.0.0.0' ? '10.0.0.1' : request.localAddress === '::' ? 'fd00::1' : request.localAddress;
    const raw = net.bindSync(local);
    const socket = request.transport === 'udp' ? raw : new StreamLike(raw);
    opened.push({ request, socket });
    return socket;
  };

  const client = (server: FakeTurnServer, extra: Partial<TurnAllocateOptions> = {}): TurnClient =>
    new TurnClient({ server: server.address, transport: 'udp', username: USER, password: PASSWORD, clock, openSocket, ...extra });

  /** Allocate requests the server got, with their source, after the 401 (those carrying USERNAME). */
  const authenticated = (server: FakeTurnServer) => server.requests.filter((r) => r.message.method === StunMethod.Allocate && r.message.has(StunAttr.USERNAME));

  const mismatchOnce = (server: FakeTurnServer, times: number) => {
    let left = times;
    server.script = (m) => (m.method === StunMethod.Allocate && m.has(StunAttr.USERNAME) && left-- > 0 ? server.error(m, 437) : undefined);
  };

  describe('437 Allocation Mismatch', () => {
    it('retries the Allocate from a new local port (a new 5-tuple) and closes the old socket', async () => {
      const server = new FakeTurnServer(net, '192.0.2.1', 3478);
      mismatchOnce(server, 1);
      const c = client(server);
      const { value, error } = await settle(clock, c.start());
      expect(error).to.equal(undefined);
      expect(value!.allocated).to.equal(true);
      const sources = authenticated(server).map((r) => r.from.port);
      expect(sources).to.have.length(2);
      expect(sources[0]).to.not.equal(sources[1]);
      expect(opened).to.have.length(2);
      expect(opened[0]!.socket.closed).to.equal(true);
      expect(opened[1]!.socket.closed).to.equal(false);
      expect(opened[1]!.request.localAddress).to.equal('10.0.0.1'); // the same interface, a new port
      expect([...server.allocations.keys()]).to.deep.equal([`10.0.0.1:${sources[1]}`]);
      // The nonce of the first 401 still holds: no second challenge.
      expect(server.received(StunMethod.Allocate)).to.have.length(3);
    });

    it('gives up after three new client transport addresses: kind mismatch, every socket closed', async () => {
      const server = new FakeTurnServer(net, '192.0.2.1', 3478);
      mismatchOnce(server, 10);
      const { error } = await settle(clock, client(server).start());
      expect(error).to.be.instanceOf(TurnError);
      const e = error as TurnError;
      expect(e.kind).to.equal('mismatch');
      expect(e.code).to.equal(437);
      expect(e.message).to.equal('TURN server 192.0.2.1:3478/udp: Allocate failed: allocation mismatch (437 Allocation Mismatch) from 4 client transport addresses');
      expect(new Set(authenticated(server).map((r) => r.from.port)).size).to.equal(4);
      expect(opened.every((o) => o.socket.closed)).to.equal(true);
    });

    it('with a shared socket: the retry moves to a socket of the client\'s own, the shared one stays open', async () => {
      const server = new FakeTurnServer(net, '192.0.2.1', 3478);
      mismatchOnce(server, 1);
      const shared = net.bindSync('10.0.0.1', 5000);
      const c = client(server, { socket: shared });
      shared.onPacket((d, from) => c.handlePacket(d, from));
      const { value } = await settle(clock, c.start());
      expect(value!.allocated).to.equal(true);
      expect(authenticated(server).map((r) => r.from.port)[0]).to.equal(5000);
      expect(opened).to.have.length(1);
      expect(opened[0]!.request.localAddress).to.equal('10.0.0.1');
      expect(shared.closed).to.equal(false);
      const closing = c.close();
      await settle(clock, closing);
      expect(opened[0]!.socket.closed).to.equal(true); // the client's own socket goes with it
      expect(shared.closed).to.equal(false);
    });
  });

  describe('300 Try Alternate (RFC 8489 §10 ALTERNATE-SERVER)', () => {
    const redirectTo = (server: FakeTurnServer, alternate: { address: string; port: number }, domain?: string) => {
      server.script = (m) => (m.method === StunMethod.Allocate && m.has(StunAttr.USERNAME)
        ? server.error(m, 300, (r) => {
          r.addMappedAddress(StunAttr.ALTERNATE_SERVER, alternate);
          if (domain) r.add(StunAttr.ALTERNATE_DOMAIN, Buffer.from(domain));
        })
        : undefined);
    };

    it('allocates on the alternate: a fresh 401 challenge there, same credentials, same UDP socket', async () => {
      const first = new FakeTurnServer(net, '192.0.2.1', 3478);
      const alternate = new FakeTurnServer(net, '192.0.2.2', 3479, { realm: 'other.test' });
      redirectTo(first, alternate.address);
      const c = client(first, { label: 'turn:turn.example.org' });
      const { value, error } = await settle(clock, c.start());
      expect(error).to.equal(undefined);
      expect(value!.allocated).to.equal(true);
      expect(c.server).to.deep.include({ address: '192.0.2.2', port: 3479 });
      expect(c.label).to.equal('turn:turn.example.org (redirected to 192.0.2.2:3479)');
      const there = alternate.received(StunMethod.Allocate);
      expect(there).to.have.length(2);
      expect(there[0]!.has(StunAttr.USERNAME)).to.equal(false); // the old realm/nonce are not reused
      expect(there[1]!.getUsername()).to.equal(USER);
      expect(there[1]!.get(StunAttr.REALM)!.toString()).to.equal('other.test');
      expect(opened).to.have.length(1); // UDP reaches the alternate from the same socket
      expect(first.allocations.size).to.equal(0);
      expect(alternate.allocations.size).to.equal(1);
      // Refreshes and data go to the alternate.
      const p = c.createPermission({ address: '198.51.100.1', port: 1 });
      await settle(clock, p);
      expect(alternate.received(StunMethod.CreatePermission)).to.have.length(1);
    });

    it('follows one redirection only: a second 300 fails the allocation, naming both', async () => {
      const a = new FakeTurnServer(net, '192.0.2.1', 3478);
      const b = new FakeTurnServer(net, '192.0.2.2', 3478);
      const third = new FakeTurnServer(net, '192.0.2.3', 3478);
      redirectTo(a, b.address);
      redirectTo(b, third.address);
      const { error } = await settle(clock, client(a).start());
      const e = error as TurnError;
      expect(e).to.be.instanceOf(TurnError);
      expect(e.code).to.equal(300);
      expect(e.message).to.equal('TURN server 192.0.2.1:3478/udp (redirected to 192.0.2.2:3478): Allocate failed: 300 Try Alternate to 192.0.2.3:3478: not following a second redirection (to 192.0.2.3:3478)');
      expect(third.requests).to.have.length(0);
      expect(opened.every((o) => o.socket.closed)).to.equal(true);
    });

    it('a redirection back to a server already tried is a loop: fails without another request', async () => {
      const a = new FakeTurnServer(net, '192.0.2.1', 3478);
      redirectTo(a, a.address);
      const { error } = await settle(clock, client(a).start());
      expect((error as TurnError).message).to.match(/redirection loop \(192\.0\.2\.1:3478 was already tried\)$/);
      expect(a.received(StunMethod.Allocate)).to.have.length(2);
    });

    it('an IPv6 alternate for an IPv4 client: a socket of the alternate\'s family is opened', async () => {
      const a = new FakeTurnServer(net, '192.0.2.1', 3478);
      const b = new FakeTurnServer(net, '2001:db8::2', 3478, { relayIPv4: '192.0.2.22' });
      redirectTo(a, b.address);
      const { value } = await settle(clock, client(a).start());
      expect(value!.allocated).to.equal(true);
      expect(opened.map((o) => o.request.localAddress)).to.deep.equal(['0.0.0.0', '::']);
      expect(opened[0]!.socket.closed).to.equal(true);
      expect(b.allocations.size).to.equal(1);
    });

    it('TLS: connects anew, SNI and certificate name from ALTERNATE-DOMAIN, else the original name', async () => {
      for (const [domain, servername, identity] of [['alt.example.org', 'alt.example.org', 'alt.example.org'], [undefined, 'turn.example.org', 'turn.example.org']] as const) {
        opened = [];
        const a = new FakeTurnServer(net, '192.0.2.1', 5349);
        const b = new FakeTurnServer(net, '192.0.2.2', 5349);
        redirectTo(a, b.address, domain);
        const { value } = await settle(clock, client(a, { transport: 'tls', servername: 'turn.example.org' }).start());
        expect(value!.allocated).to.equal(true);
        expect(opened).to.have.length(2);
        expect(opened[0]!.request.tls).to.deep.include({ servername: 'turn.example.org', identity: undefined });
        expect(opened[1]!.request.tls).to.deep.include({ servername, identity });
        expect(opened[1]!.request.server).to.deep.include({ address: '192.0.2.2', port: 5349 });
        await settle(clock, value!.close(), 5000);
        a.socket.close();
        b.socket.close();
      }
    });

    it('a 300 without ALTERNATE-SERVER is a plain failure', async () => {
      const a = new FakeTurnServer(net, '192.0.2.1', 3478);
      a.script = (m: StunMessage) => (m.has(StunAttr.USERNAME) ? a.error(m, 300) : undefined);
      const { error } = await settle(clock, client(a).start());
      expect((error as TurnError).message).to.equal('TURN server 192.0.2.1:3478/udp: Allocate failed: 300 Try Alternate without a usable ALTERNATE-SERVER');
    });
  });
});
