/**
 * Issue 10 for TURN: a server or a peer is the same whatever the spelling of its address
 * (base/address.ts). The client against a scripted server under a ManualClock (as in
 * client.test.ts); server resolution with a table resolver (as in servers.test.ts).
 */
import { expect } from 'chai';
import { ManualClock } from '../../lib/base/clock.js';
import type { PacketHandler, PacketSocket, TransportAddress } from '../../lib/net/socket.js';
import { longTermKey } from '../../lib/stun/integrity.js';
import { isStunPacket, StunAttr, StunMessage, StunMethod, type StunClass } from '../../lib/stun/message.js';
import { TurnClient } from '../../lib/turn/client.js';
import { parseIceServerUri, resolveIceServer, resolveServerAddress, type IceServerResolver } from '../../lib/turn/servers.js';

/** Configured as an operator might write it; packets come from what the OS reports. */
const SERVER_AS_CONFIGURED = { address: '2001:DB8:0:0:0:0:0:5', port: 3478 };
const SERVER_ON_THE_WIRE = { address: '2001:db8::5', port: 3478 };
const USER = 'alice';
const PASSWORD = 'pa55-word-xyz';
const REALM = 'example.org';
const KEY = longTermKey(USER, REALM, PASSWORD);

class FakeSocket implements PacketSocket {
  readonly local: TransportAddress = { address: '2001:db8::10', port: 40000, family: 'IPv6' };
  readonly protocol = 'udp' as const;
  closed = false;
  sent: Buffer[] = [];
  send(data: Buffer): void { this.sent.push(data); }
  onPacket(_handler: PacketHandler): void {}
  async close(): Promise<void> { this.closed = true; }
  requests(): StunMessage[] {
    return this.sent.filter(isStunPacket).map((b) => StunMessage.decode(b)).filter((m) => m.messageClass === 'request');
  }
  last(): StunMessage {
    const r = this.requests();
    return r[r.length - 1]!;
  }
}

const flush = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
};

function reply(client: TurnClient, req: StunMessage, cls: StunClass, add: (m: StunMessage) => void, key?: Buffer): boolean {
  const res = new StunMessage({ method: req.method, messageClass: cls, transactionId: req.transactionId });
  add(res);
  return client.handlePacket(res.encode({ integrityKey: key, fingerprint: true }), SERVER_ON_THE_WIRE);
}

/** close() deallocates and waits for the (unanswered) Refresh: let the clock run it out. */
async function closeClient(client: TurnClient, clock: ManualClock): Promise<void> {
  const closing = client.close();
  await flush();
  clock.advance(10_000);
  await closing;
}

async function allocate() {
  const clock = new ManualClock();
  const socket = new FakeSocket();
  const client = new TurnClient({ server: SERVER_AS_CONFIGURED, transport: 'udp', username: USER, password: PASSWORD, socket, clock, family: 'IPv6' });
  const started = client.start();
  await flush();
  // The answer comes from the canonical spelling of the configured server: it is the server's.
  expect(reply(client, socket.last(), 'error', (m) => {
    m.addErrorCode(401);
    m.add(StunAttr.REALM, Buffer.from(REALM));
    m.add(StunAttr.NONCE, Buffer.from('nonce-1'));
  }), 'packet from the server accepted').to.equal(true);
  await flush();
  reply(client, socket.last(), 'success', (m) => {
    m.addXorAddress(StunAttr.XOR_RELAYED_ADDRESS, { address: '2001:DB8::5', port: 50000 });
    m.addXorAddress(StunAttr.XOR_MAPPED_ADDRESS, { address: '2001:0db8::0010', port: 40000 });
    const lifetime = Buffer.alloc(4);
    lifetime.writeUInt32BE(600);
    m.add(StunAttr.LIFETIME, lifetime);
  }, KEY);
  await started;
  return { clock, socket, client };
}

describe('turn/client: addresses compared as addresses, not text (issue 10)', () => {
  it('accepts the server\'s packets from another spelling of its address; relayed and mapped addresses are canonical', async () => {
    const { client, clock } = await allocate();
    expect(client.relayedAddress).to.deep.equal({ address: '2001:db8::5', port: 50000, family: 'IPv6' });
    expect(client.mappedAddress).to.deep.equal({ address: '2001:db8::10', port: 40000, family: 'IPv6' });
    await closeClient(client, clock);
  });

  it('one peer in two spellings gets one channel and one permission', async () => {
    const { client, socket, clock } = await allocate();
    client.send(Buffer.from('a'), { address: '2001:DB8::20', port: 6000 });
    client.send(Buffer.from('b'), { address: '2001:0db8:0000:0000:0000:0000:0000:0020', port: 6000 });
    await flush();
    const binds = socket.requests().filter((m) => m.method === StunMethod.ChannelBind);
    expect(binds, 'ChannelBind requests').to.have.length(1);
    expect(socket.requests().filter((m) => m.method === StunMethod.CreatePermission)).to.have.length(0);
    const permissions: string[] = [];
    client.on('permission', (a) => permissions.push(a));
    reply(client, binds[0]!, 'success', () => {}, KEY);
    await flush();
    expect(permissions).to.have.length(1);
    // Both queued datagrams left on the one channel, and a later send in a third spelling uses it too.
    const channelData = () => socket.sent.filter((b) => b[0]! >= 0x40 && b[0]! <= 0x4f);
    expect(channelData()).to.have.length(2);
    client.send(Buffer.from('c'), { address: '2001:db8::20', port: 6000 });
    expect(channelData()).to.have.length(3);
    expect(socket.requests().filter((m) => m.method === StunMethod.ChannelBind)).to.have.length(1);
    await closeClient(client, clock);
  });
});

describe('turn/servers: resolved addresses are canonical (issue 10)', () => {
  const resolver = (hosts: Record<string, string[]>): IceServerResolver => ({
    async resolveSrv() { throw Object.assign(new Error('querySrv ENOTFOUND'), { code: 'ENOTFOUND' }); },
    async lookup(host) { return (hosts[host] ?? []).map((address) => ({ address, family: address.includes(':') ? 6 : 4 })); },
  });

  it('an IPv6 literal in the URI, in any spelling', async () => {
    expect(await resolveIceServer(parseIceServerUri('turn:[2001:DB8:0:0::5]:3478'), resolver({}))).to.deep.equal([{ address: '2001:db8::5', port: 3478, transport: 'udp' }]);
    expect(await resolveServerAddress(parseIceServerUri('stun:[2001:0DB8::0005]:3478'))).to.equal('2001:db8::5');
  });

  it('lookup results: canonical, and one server listed in two spellings is tried once', async () => {
    const r = resolver({ 'turn.example.net': ['2001:DB8::5', '2001:db8:0:0:0:0:0:5', '::ffff:192.0.2.5', '192.0.2.5'] });
    expect(await resolveIceServer(parseIceServerUri('turn:turn.example.net:3478'), r)).to.deep.equal([
      { address: '2001:db8::5', port: 3478, transport: 'udp' },
      { address: '192.0.2.5', port: 3478, transport: 'udp' },
    ]);
  });
});
