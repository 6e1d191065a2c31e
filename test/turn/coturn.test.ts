import { expect } from 'chai';
import { TimeoutError } from '../../lib/base/errors.js';
import type { TransportAddress } from '../../lib/net/socket.js';
import { TurnClient, TurnError, type TurnAllocateOptions } from '../../lib/turn/client.js';
import { EphemeralCredentialProvider, ephemeralCredentials } from '../../lib/turn/credentials.js';
import { firstWorking, parseIceServerUri, resolveIceServer } from '../../lib/turn/servers.js';
import { haveCoturn, haveTinyproxy, startCoturn, startTinyproxy, type Coturn } from '../helpers/coturn.js';
import { freeTcpPort, freeUdpPort } from '../helpers/ports.js';
import { skipUnless } from '../helpers/process.js';

/**
 * TurnClient against Debian's coturn 4.6 on 127.0.0.1. Assertions on coturn's log use these
 * lines (printed with --verbose --simple-log):
 *   "session <id>: new, realm=<R>, username=<U>, lifetime=<S>"          allocation created
 *   "session <id>: refreshed, realm=<R>, username=<U>, lifetime=<S>"    Refresh (lifetime=0: deallocation)
 *   "incoming packet ALLOCATE processed, success"
 */

const USER = 'alice';
const PASSWORD = 'wonderland-42';

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms))]);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Sends from `a` to `b`'s relayed address and back; resolves when both arrived. */
async function exchange(a: TurnClient, b: TurnClient, text: string): Promise<void> {
  const atB = within(b.waitFor('data'), 3000, `${text} at B`);
  a.send(Buffer.from(`${text} A→B`), b.relayedAddress);
  const [dataB, fromA] = await atB;
  expect(dataB.toString()).to.equal(`${text} A→B`);
  expect(fromA).to.deep.include({ address: a.relayedAddress.address, port: a.relayedAddress.port });
  const atA = within(a.waitFor('data'), 3000, `${text} at A`);
  b.send(Buffer.from(`${text} B→A`), a.relayedAddress);
  const [dataA, fromB] = await atA;
  expect(dataA.toString()).to.equal(`${text} B→A`);
  expect(fromB).to.deep.include({ address: b.relayedAddress.address, port: b.relayedAddress.port });
}

describe('turn/client against coturn (interop)', function () {
  this.timeout(30_000);
  let coturn: Coturn;
  const clients: TurnClient[] = [];

  const options = (transport: 'udp' | 'tcp' | 'tls', extra: Partial<TurnAllocateOptions> = {}): TurnAllocateOptions => ({
    server: { address: '127.0.0.1', port: transport === 'tls' ? coturn.tlsPort! : coturn.port },
    transport,
    username: USER,
    password: PASSWORD,
    ca: coturn.certPem,
    ...extra,
  });

  const allocate = async (transport: 'udp' | 'tcp' | 'tls', extra: Partial<TurnAllocateOptions> = {}): Promise<TurnClient> => {
    const c = await TurnClient.allocate(options(transport, extra));
    clients.push(c);
    return c;
  };

  before(async function () {
    skipUnless.call(this, haveCoturn(), 'coturn (turnserver) is not installed');
    coturn = await startCoturn({ tls: true });
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
  });

  after(async () => {
    await coturn?.stop();
  });

  for (const transport of ['udp', 'tcp', 'tls'] as const) {
    it(`allocates over ${transport.toUpperCase()}: a relayed address on 127.0.0.1`, async () => {
      const mark = coturn.process.mark();
      const c = await allocate(transport);
      expect(c.relayedAddress.address).to.equal('127.0.0.1');
      expect(c.relayedAddress.port).to.be.greaterThan(0);
      expect(c.mappedAddress?.address).to.equal('127.0.0.1');
      expect(c.lifetimeSec).to.be.within(1, 3600);
      await coturn.waitForLog(/new, realm=<icephone\.test>, username=<alice>, lifetime=\d+/, 2000, mark);
    });
  }

  it('TLS without the self-signed certificate trusted fails with a one-line connect error', async () => {
    try {
      await allocate('tls', { ca: undefined });
      expect.fail('allocated');
    } catch (e) {
      expect(e).to.be.instanceOf(TurnError);
      expect((e as TurnError).kind).to.equal('connect');
      expect((e as Error).message).to.match(new RegExp(`^TURN server 127\\.0\\.0\\.1:${coturn.tlsPort}/tls: cannot connect: .*certificate`));
      expect((e as Error).message).to.not.include('\n');
    }
  });

  it('relays data between two allocations through channels (UDP client ↔ TCP client)', async () => {
    const a = await allocate('udp');
    const b = await allocate('tcp');
    expect(await b.bindChannel(a.relayedAddress)).to.equal(0x4000);
    expect(await a.bindChannel(b.relayedAddress)).to.equal(0x4000);
    await exchange(a, b, 'channel');
    await exchange(a, b, 'again');
    expect(a.stats.channelDataSent).to.equal(2);
    expect(a.stats.channelDataReceived).to.equal(2);
    expect(b.stats.channelDataReceived).to.equal(2); // TCP: padded ChannelData framed correctly
    expect(a.stats.sendIndications + b.stats.sendIndications).to.equal(0);
  });

  it('relays with Send/Data indications before any channel (UDP ↔ TLS)', async () => {
    const a = await allocate('udp', { autoChannel: false });
    const b = await allocate('tls', { autoChannel: false });
    await Promise.all([a.createPermission(b.relayedAddress), b.createPermission(a.relayedAddress)]);
    await exchange(a, b, 'indication');
    expect(a.stats.sendIndications).to.equal(1);
    expect(a.stats.dataIndications).to.equal(1);
    expect(b.stats.dataIndications).to.equal(1);
    expect(a.stats.channelDataSent).to.equal(0);
  });

  it('send() to a new peer queues until the permission/channel exists, then delivers', async () => {
    const a = await allocate('udp');
    const b = await allocate('udp');
    await b.createPermission(a.relayedAddress);
    const atB = within(b.waitFor('data'), 3000, 'queued data');
    a.send(Buffer.from('first'), b.relayedAddress); // no permission yet: queued
    expect((await atB)[0].toString()).to.equal('first');
  });

  it('close() deallocates: coturn logs a Refresh with lifetime=0', async () => {
    const c = await TurnClient.allocate(options('udp', { username: 'bob', password: 'builder-7' }));
    const mark = coturn.process.mark();
    await c.close();
    await coturn.waitForLog(/refreshed, realm=<icephone\.test>, username=<bob>, lifetime=0/, 3000, mark);
  });

  it('wrong password: one-line auth error naming the server, without the password', async () => {
    const wrong = 'not-the-password-9';
    try {
      await allocate('udp', { password: wrong });
      expect.fail('allocated');
    } catch (e) {
      expect(e).to.be.instanceOf(TurnError);
      const err = e as TurnError;
      expect(err.kind).to.equal('auth');
      expect(err.message).to.equal(`TURN server 127.0.0.1:${coturn.port}/udp: Allocate failed: wrong credentials for user 'alice' (401 Unauthorized)`);
      expect(err.message).to.not.include(wrong);
    }
  });

  it('firstWorking: a dead UDP server costs only its timeout, then the live one answers', async () => {
    const dead = { address: '127.0.0.1', port: await freeUdpPort(), transport: 'udp' as const };
    const live = { address: '127.0.0.1', port: coturn.port, transport: 'udp' as const };
    const r = await firstWorking([dead, live], (s, signal) => TurnClient.allocate(options(s.transport, { server: s, signal })), 1500, { dispose: (c) => c.close() });
    clients.push(r.result);
    expect(r.server).to.equal(live);
    expect(r.failures).to.have.length(1);
    expect(r.failures[0]!.server).to.equal(dead);
    expect(r.failures[0]!.error).to.be.instanceOf(TimeoutError);
    expect(r.elapsedMs).to.be.within(1500, 2500);
    expect(r.result.relayedAddress.address).to.equal('127.0.0.1');
  });

  it('firstWorking: a refused TCP port fails at once', async () => {
    const uri = parseIceServerUri(`turn:127.0.0.1:${await freeTcpPort()}?transport=tcp`);
    const servers = [...(await resolveIceServer(uri)), { address: '127.0.0.1', port: coturn.port, transport: 'tcp' as const }];
    const r = await firstWorking(servers, (s, signal) => TurnClient.allocate(options(s.transport, { server: s, signal })), 3000);
    clients.push(r.result);
    expect(r.failures).to.have.length(1);
    expect(r.failures[0]!.error.message).to.match(/cannot connect: .*ECONNREFUSED/);
    expect(r.elapsedMs).to.be.below(1000);
  });

  describe('through an HTTP CONNECT proxy (tinyproxy)', () => {
    let proxy: Awaited<ReturnType<typeof startTinyproxy>>;

    before(async function () {
      skipUnless.call(this, haveTinyproxy(), 'tinyproxy is not installed');
      proxy = await startTinyproxy([coturn.port, coturn.tlsPort!]);
    });

    after(async () => {
      await proxy?.stop();
    });

    for (const transport of ['tcp', 'tls'] as const) {
      it(`allocates over ${transport.toUpperCase()} via CONNECT and relays data`, async () => {
        const mark = proxy.process.mark();
        const viaProxy = await allocate(transport, { proxy: { host: proxy.host, port: proxy.port } });
        const port = transport === 'tls' ? coturn.tlsPort! : coturn.port;
        await proxy.process.waitForOutput(new RegExp(`CONNECT 127\\.0\\.0\\.1:${port}`), 2000, { since: mark });
        expect(viaProxy.relayedAddress.address).to.equal('127.0.0.1');
        const direct = await allocate('udp');
        await direct.createPermission(viaProxy.relayedAddress);
        await exchange(viaProxy, direct, `proxied ${transport}`);
      });
    }

    it('a CONNECT the proxy refuses is a connect error naming the proxy answer', async () => {
      const other = await freeTcpPort();
      try {
        await allocate('tcp', { server: { address: '127.0.0.1', port: other }, proxy: { host: proxy.host, port: proxy.port } });
        expect.fail('allocated');
      } catch (e) {
        expect((e as TurnError).kind).to.equal('connect');
        expect((e as Error).message).to.match(/HTTP proxy 127\.0\.0\.1:\d+ \(CONNECT 127\.0\.0\.1:\d+\): proxy answered 403/);
      }
    });
  });
});

describe('turn/client refresh against coturn with --max-allocate-lifetime=10', function () {
  this.timeout(40_000);
  let coturn: Coturn;

  before(async function () {
    skipUnless.call(this, haveCoturn(), 'coturn (turnserver) is not installed');
    coturn = await startCoturn({ maxAllocateLifetime: 10 });
  });

  after(async () => {
    await coturn?.stop();
  });

  it('asks 600 s, gets 10 s, refreshes before 10 s, and the allocation outlives 12 s', async () => {
    const started = performance.now();
    const mark = coturn.process.mark();
    const a = await TurnClient.allocate({ server: { address: '127.0.0.1', port: coturn.port }, transport: 'udp', username: USER, password: PASSWORD, lifetimeSec: 600 });
    const b = await TurnClient.allocate({ server: { address: '127.0.0.1', port: coturn.port }, transport: 'tcp', username: USER, password: PASSWORD, lifetimeSec: 600 });
    try {
      expect(a.lifetimeSec).to.equal(10);
      const refreshes: number[] = [];
      a.on('refresh', () => refreshes.push(performance.now() - started));
      const [lifetime] = await within(a.waitFor('refresh'), 10_000, 'refresh');
      expect(lifetime).to.equal(10);
      expect(refreshes[0]).to.be.below(10_000);
      await coturn.waitForLog(/refreshed, realm=<icephone\.test>, username=<alice>, lifetime=10/, 2000, mark);
      await sleep(Math.max(0, 12_500 - (performance.now() - started)));
      expect(a.allocated).to.equal(true);
      await Promise.all([a.bindChannel(b.relayedAddress), b.bindChannel(a.relayedAddress)]);
      await exchange(a, b, 'after 12 s');
      expect(a.stats.refreshes).to.be.at.least(2);
      expect(b.stats.refreshes).to.be.at.least(2);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});

describe('turn/client with REST-style ephemeral credentials (coturn --use-auth-secret)', function () {
  this.timeout(20_000);
  const SECRET = 'shared-rest-secret-5';
  let coturn: Coturn;

  before(async function () {
    skipUnless.call(this, haveCoturn(), 'coturn (turnserver) is not installed');
    coturn = await startCoturn({ authSecret: SECRET });
  });

  after(async () => {
    await coturn?.stop();
  });

  const server = () => ({ address: '127.0.0.1', port: coturn.port });

  it('allocates with ephemeralCredentials(secret, user, ttl)', async () => {
    const creds = ephemeralCredentials(SECRET, 'dave', 600);
    const mark = coturn.process.mark();
    const c = await TurnClient.allocate({ server: server(), transport: 'udp', ...creds });
    try {
      expect(c.relayedAddress.address).to.equal('127.0.0.1');
      await coturn.waitForLog(new RegExp(`new, realm=<icephone\\.test>, username=<${creds.username}>`), 2000, mark);
    } finally {
      await c.close();
    }
  });

  it('allocates with an EphemeralCredentialProvider', async () => {
    const c = await TurnClient.allocate({ server: server(), transport: 'tcp', credentials: new EphemeralCredentialProvider(SECRET, 'erin', 3600) });
    await c.close();
  });

  it('a wrong secret and expired credentials are refused as wrong credentials', async () => {
    for (const creds of [ephemeralCredentials('wrong-secret-1', 'dave', 600), ephemeralCredentials(SECRET, 'dave', 60, Date.now() - 3_600_000)]) {
      try {
        const c = await TurnClient.allocate({ server: server(), transport: 'udp', ...creds });
        await c.close();
        expect.fail(`allocated with ${creds.username}`);
      } catch (e) {
        expect(e).to.be.instanceOf(TurnError);
        expect((e as TurnError).kind).to.equal('auth');
        expect((e as Error).message).to.not.include(creds.password);
        expect((e as Error).message).to.not.include('wrong-secret-1');
      }
    }
  });
});
