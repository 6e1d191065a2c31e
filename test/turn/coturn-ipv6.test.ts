import { expect } from 'chai';
import { silentLogger } from '../../lib/base/log.js';
import { allocateRelay } from '../../lib/ice/relay.js';
import { UdpSocket } from '../../lib/net/udp.js';
import { TurnClient, TurnError, type TurnAllocateOptions } from '../../lib/turn/client.js';
import { haveCoturn, startCoturn, type Coturn } from '../helpers/coturn.js';
import { skipUnless } from '../helpers/process.js';

/**
 * IPv6 relayed addresses (RFC 8656 §7.1 REQUESTED-ADDRESS-FAMILY, RFC 6156) against Debian's
 * coturn 4.6 listening and relaying on 127.0.0.1 and ::1. coturn follows RFC 8656 §7.2: without
 * the attribute it allocates IPv4 even for a client that reached it over IPv6, and it answers 440
 * when it has no relay address of the family asked for.
 */

const USER = 'alice';
const PASSWORD = 'wonderland-42';

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms))]);
}

async function exchange(a: TurnClient, b: TurnClient, text: string): Promise<void> {
  const atB = within(b.waitFor('data'), 3000, `${text} at B`);
  a.send(Buffer.from(`${text} A→B`), b.relayedAddress);
  const [dataB, fromA] = await atB;
  expect(dataB.toString()).to.equal(`${text} A→B`);
  expect(fromA).to.deep.include({ address: a.relayedAddress.address, port: a.relayedAddress.port, family: 'IPv6' });
  const atA = within(a.waitFor('data'), 3000, `${text} at A`);
  b.send(Buffer.from(`${text} B→A`), a.relayedAddress);
  const [dataA] = await atA;
  expect(dataA.toString()).to.equal(`${text} B→A`);
}

describe('turn/client IPv6 relays against coturn on ::1 (interop)', function () {
  this.timeout(30_000);
  let coturn: Coturn;
  const clients: TurnClient[] = [];

  const allocate = async (server: string, transport: 'udp' | 'tcp', extra: Partial<TurnAllocateOptions> = {}): Promise<TurnClient> => {
    const c = await TurnClient.allocate({ server: { address: server, port: coturn.port }, transport, username: USER, password: PASSWORD, ...extra });
    clients.push(c);
    return c;
  };

  before(async function () {
    skipUnless.call(this, haveCoturn(), 'coturn (turnserver) is not installed');
    coturn = await startCoturn({ ipv6: true });
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
  });

  after(async () => {
    await coturn?.stop();
  });

  for (const [server, transport] of [['127.0.0.1', 'udp'], ['::1', 'udp'], ['::1', 'tcp']] as const) {
    it(`family IPv6 over ${transport.toUpperCase()} to ${server}: a relayed address on ::1`, async () => {
      const mark = coturn.process.mark();
      const c = await allocate(server, transport, { family: 'IPv6' });
      expect(c.relayedAddress).to.deep.include({ address: '::1', family: 'IPv6' });
      expect(c.mappedAddress?.address).to.equal(server);
      await coturn.waitForLog(/new, realm=<icephone\.test>, username=<alice>, lifetime=\d+/, 2000, mark);
    });
  }

  it('without a family, a client reaching it over IPv6 still gets an IPv4 relay (RFC 8656 §7.2)', async () => {
    const c = await allocate('::1', 'udp');
    expect(c.relayedAddress).to.deep.include({ address: '127.0.0.1', family: 'IPv4' });
  });

  it('relays between two IPv6 allocations: IPv6 XOR-PEER-ADDRESS in ChannelBind, then ChannelData (UDP ↔ TCP)', async () => {
    const a = await allocate('127.0.0.1', 'udp', { family: 'IPv6' });
    const b = await allocate('::1', 'tcp', { family: 'IPv6' });
    expect(await a.bindChannel(b.relayedAddress)).to.equal(0x4000);
    expect(await b.bindChannel(a.relayedAddress)).to.equal(0x4000);
    await exchange(a, b, 'channel6');
    expect(a.stats.channelDataSent).to.equal(1);
    expect(b.stats.channelDataReceived).to.equal(1);
    expect(a.stats.sendIndications + b.stats.sendIndications).to.equal(0);
  });

  it('relays with IPv6 permissions and Send/Data indications', async () => {
    const a = await allocate('::1', 'udp', { family: 'IPv6', autoChannel: false });
    const b = await allocate('127.0.0.1', 'udp', { family: 'IPv6', autoChannel: false });
    await Promise.all([a.createPermission(b.relayedAddress), b.createPermission(a.relayedAddress)]);
    await exchange(a, b, 'indication6');
    expect(a.stats.sendIndications).to.equal(1);
    expect(b.stats.dataIndications).to.equal(1);
  });

  it('an IPv4 peer from an IPv6 relay is refused by the client (kind family)', async () => {
    const a = await allocate('127.0.0.1', 'udp', { family: 'IPv6' });
    const b = await allocate('127.0.0.1', 'udp');
    try {
      await a.createPermission(b.relayedAddress);
      expect.fail('created');
    } catch (e) {
      expect(e).to.be.instanceOf(TurnError);
      expect((e as TurnError).kind).to.equal('family');
    }
  });

  it('allocateRelay with family IPv6 on the shared IPv4 host socket: an IPv6 relay socket', async () => {
    const host = await UdpSocket.bind('127.0.0.1');
    const attached = new Set<TurnClient>();
    host.onPacket((d, from) => { for (const c of attached) if (c.handlePacket(d, from)) return; });
    try {
      const { socket, result } = await allocateRelay({
        component: 1,
        servers: [{ address: '127.0.0.1', port: coturn.port, transport: 'udp', username: USER, password: PASSWORD }],
        hostSocket: host,
        attachToHost: (c) => attached.add(c),
        detachFromHost: (c) => attached.delete(c),
        family: 'IPv6',
        log: silentLogger,
      });
      expect(socket, JSON.stringify(result)).to.not.equal(undefined);
      expect(socket!.local).to.deep.include({ address: '::1', family: 'IPv6' });
      expect(socket!.client.mappedAddress).to.deep.include({ address: '127.0.0.1', port: host.local.port });
      await socket!.close();
    } finally {
      await host.close();
    }
  });
});

describe('turn/client IPv6 against coturn without IPv6 relays: 440', function () {
  this.timeout(20_000);
  let coturn: Coturn;

  before(async function () {
    skipUnless.call(this, haveCoturn(), 'coturn (turnserver) is not installed');
    coturn = await startCoturn();
  });

  after(async () => {
    await coturn?.stop();
  });

  it('family IPv6: 440 Address Family not Supported, kind family, one line', async () => {
    try {
      const c = await TurnClient.allocate({ server: { address: '127.0.0.1', port: coturn.port }, transport: 'udp', username: USER, password: PASSWORD, family: 'IPv6' });
      await c.close();
      expect.fail('allocated');
    } catch (e) {
      expect(e).to.be.instanceOf(TurnError);
      const err = e as TurnError;
      expect(err.kind).to.equal('family');
      expect(err.code).to.equal(440);
      expect(err.message).to.match(new RegExp(`^TURN server 127\\.0\\.0\\.1:${coturn.port}/udp: Allocate failed: no IPv6 relayed addresses on this server \\(440 [^)]*\\)$`));
    }
  });
});
