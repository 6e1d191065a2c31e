import { expect } from 'chai';
import { StateError } from '../../lib/base/errors.js';
import type { TransportAddress } from '../../lib/net/socket.js';
import { longTermKey, verifyFingerprint, verifyMessageIntegrity } from '../../lib/stun/integrity.js';
import { StunAttr, StunMessage, StunMethod } from '../../lib/stun/message.js';
import { decodeChannelData, encodeChannelData, isChannelData } from '../../lib/turn/channel-data.js';
import { TurnClient, TurnError } from '../../lib/turn/client.js';
import {
  allocate, allocated, challenge, flush, KEY, MAPPED, PASSWORD, PEER, REALM, RELAYED, rejection, reply, SERVER, setup, u32, USER,
} from './scripted-server.js';

/**
 * TurnClient against a scripted server under a ManualClock: the test plays the server by
 * reading what the client sent on a fake shared socket and feeding answers to handlePacket().
 */

describe('turn/client (RFC 8656) against a scripted server', () => {
  it('Allocate: unauthenticated first, then USERNAME/REALM/NONCE/MESSAGE-INTEGRITY after the 401', async () => {
    const { client, socket } = setup();
    const started = client.start();
    await flush();
    const first = socket.last();
    expect(first.method).to.equal(StunMethod.Allocate);
    expect(first.has(StunAttr.USERNAME)).to.equal(false);
    expect(first.get(StunAttr.REQUESTED_TRANSPORT)!.toString('hex')).to.equal('11000000');
    expect(first.get(StunAttr.LIFETIME)!.readUInt32BE(0)).to.equal(600);
    expect(first.has(StunAttr.REQUESTED_ADDRESS_FAMILY)).to.equal(false); // IPv4 is the default (RFC 8656 §7.2)
    expect(verifyFingerprint(first)).to.equal(true);
    reply(client, first, 'error', challenge());
    await flush();
    const second = socket.last();
    expect(second.transactionId.equals(first.transactionId)).to.equal(false);
    expect(second.getUsername()).to.equal(USER);
    expect(second.get(StunAttr.REALM)!.toString()).to.equal(REALM);
    expect(second.get(StunAttr.NONCE)!.toString()).to.equal('nonce-1');
    expect(verifyMessageIntegrity(second, KEY)).to.equal(true);
    reply(client, second, 'success', allocated(), { key: KEY });
    await started;
    expect(client.relayedAddress).to.deep.equal({ ...RELAYED, family: 'IPv4' });
    expect(client.mappedAddress).to.deep.equal({ ...MAPPED, family: 'IPv4' });
    expect(client.lifetimeSec).to.equal(600);
  });

  it('drops responses with a bad MESSAGE-INTEGRITY or FINGERPRINT and waits for a good one', async () => {
    const { client, socket } = setup();
    const started = client.start();
    await flush();
    reply(client, socket.last(), 'error', challenge());
    await flush();
    const req = socket.last();
    expect(reply(client, req, 'success', allocated(), { key: longTermKey(USER, REALM, 'not-the-password') })).to.equal(true);
    expect(reply(client, req, 'success', allocated(), { key: KEY, corruptFingerprint: true })).to.equal(true);
    await flush();
    expect(client.allocated).to.equal(false);
    expect(client.stats.droppedResponses).to.equal(2);
    reply(client, req, 'success', allocated(), { key: KEY });
    await started;
    expect(client.allocated).to.equal(true);
  });

  it('only a forged response: the request times out as "unreachable"', async () => {
    const { client, socket, clock } = setup();
    const started = rejection(client.start());
    await flush();
    reply(client, socket.last(), 'error', challenge());
    await flush();
    reply(client, socket.last(), 'success', allocated(), { key: Buffer.alloc(16) });
    clock.advance(39_500);
    const e = await started;
    expect(e.kind).to.equal('timeout');
    expect(e.message).to.match(/^TURN server 203\.0\.113\.5:3478\/udp: unreachable: no response to Allocate within 39500 ms$/);
  });

  it('438 Stale Nonce: retries with the new nonce', async () => {
    const { client, socket } = setup();
    const started = client.start();
    await flush();
    reply(client, socket.last(), 'error', challenge('n1'));
    await flush();
    reply(client, socket.last(), 'error', (m) => {
      m.addErrorCode(438);
      m.add(StunAttr.REALM, Buffer.from(REALM));
      m.add(StunAttr.NONCE, Buffer.from('n2'));
    });
    await flush();
    expect(socket.last().get(StunAttr.NONCE)!.toString()).to.equal('n2');
    reply(client, socket.last(), 'success', allocated(), { key: KEY });
    await started;
    expect(socket.requests()).to.have.length(3);
  });

  it('401 after credentials: one-line "wrong credentials" error naming the server, never the password', async () => {
    const { client, socket } = setup({ label: 'turn:turn.example.org' });
    const started = rejection(client.start());
    await flush();
    reply(client, socket.last(), 'error', challenge());
    await flush();
    reply(client, socket.last(), 'error', challenge('n2'));
    const e = await started;
    expect(e.kind).to.equal('auth');
    expect(e.code).to.equal(401);
    expect(e.message).to.equal("TURN server turn:turn.example.org: Allocate failed: wrong credentials for user 'alice' (401 Unauthenticated)");
    expect(e.message).to.not.include(PASSWORD);
    expect(socket.closed).to.equal(false); // a shared socket is not the client's to close
  });

  for (const [code, kind, text] of [[486, 'quota', /allocation quota reached/], [403, 'rejected', /403 Forbidden/], [508, 'rejected', /508 Insufficient Capacity/]] as const) {
    it(`${code} → kind '${kind}'`, async () => {
      const { client, socket } = setup();
      const started = rejection(client.start());
      await flush();
      reply(client, socket.last(), 'error', challenge());
      await flush();
      reply(client, socket.last(), 'error', (m) => m.addErrorCode(code), { key: KEY });
      const e = await started;
      expect(e.kind).to.equal(kind);
      expect(e.message).to.match(text);
      expect(e.message).to.match(/^TURN server 203\.0\.113\.5:3478\/udp: Allocate failed: /);
    });
  }

  it('refreshes at lifetime - 60 s, or at half a short lifetime, and emits refresh', async () => {
    const { client, socket, clock } = await allocate({}, 600);
    const refreshed: number[] = [];
    client.on('refresh', (l) => refreshed.push(l));
    clock.advance(539_000);
    await flush();
    expect(socket.last().method).to.equal(StunMethod.Allocate);
    clock.advance(1000);
    await flush();
    const refresh = socket.last();
    expect(refresh.method).to.equal(StunMethod.Refresh);
    expect(refresh.get(StunAttr.LIFETIME)!.readUInt32BE(0)).to.equal(600);
    expect(verifyMessageIntegrity(refresh, KEY)).to.equal(true);
    reply(client, refresh, 'success', (m) => m.add(StunAttr.LIFETIME, u32(10)), { key: KEY });
    await flush();
    expect(refreshed).to.deep.equal([10]);
    clock.advance(5000);
    await flush();
    expect(socket.last().method).to.equal(StunMethod.Refresh);
    expect(socket.last().transactionId.equals(refresh.transactionId)).to.equal(false);
    const closing = client.close();
    await flush();
    clock.advance(10_000); // the deallocation goes unanswered: close() still finishes
    await closing;
  });

  it('a 437 on Refresh means the allocation is gone: emits closed', async () => {
    const { client, socket, clock } = await allocate({}, 100);
    const closed: string[] = [];
    client.on('closed', (r) => closed.push(r));
    clock.advance(50_000);
    await flush();
    reply(client, socket.last(), 'error', (m) => m.addErrorCode(437), { key: KEY });
    await flush();
    expect(closed).to.have.length(1);
    expect(closed[0]).to.match(/allocation expired: .*437/);
    expect(client.allocated).to.equal(false);
  });

  it('send: permission first (data queued), Send indications, Data indications received', async () => {
    const { client, socket, clock } = await allocate({ autoChannel: false });
    const received: Array<[string, TransportAddress]> = [];
    client.on('data', (d, p) => received.push([d.toString(), p]));
    client.send(Buffer.from('one'), PEER);
    client.send(Buffer.from('two'), PEER);
    await flush();
    const perm = socket.last();
    expect(perm.method).to.equal(StunMethod.CreatePermission);
    expect(perm.getXorAddress(StunAttr.XOR_PEER_ADDRESS)!.address).to.equal(PEER.address);
    const before = socket.sent.length;
    reply(client, perm, 'success', () => {}, { key: KEY });
    await flush();
    const indications = socket.sent.slice(before).map((b) => StunMessage.decode(b));
    expect(indications.map((m) => [m.method, m.messageClass, m.get(StunAttr.DATA)!.toString()])).to.deep.equal([
      [StunMethod.Send, 'indication', 'one'], [StunMethod.Send, 'indication', 'two'],
    ]);
    expect(indications[0]!.getXorAddress(StunAttr.XOR_PEER_ADDRESS)).to.deep.include(PEER);
    const data = new StunMessage({ method: StunMethod.Data, messageClass: 'indication' });
    data.addXorAddress(StunAttr.XOR_PEER_ADDRESS, PEER).add(StunAttr.DATA, Buffer.from('back'));
    expect(client.handlePacket(data.encode(), SERVER)).to.equal(true);
    expect(received).to.deep.equal([['back', { ...PEER, family: 'IPv4' }]]);
    // RFC 8656 §9: permissions last 5 minutes; refreshed at 4.
    clock.advance(240_000);
    await flush();
    expect(socket.last().method).to.equal(StunMethod.CreatePermission);
    expect(client.stats.sendIndications).to.equal(2);
  });

  it('bindChannel: channel numbers from 0x4000, ChannelData both ways, rebinding at 9 minutes', async () => {
    const { client, socket, clock } = await allocate();
    const received: string[] = [];
    client.on('data', (d) => received.push(d.toString()));
    const bound = client.bindChannel(PEER);
    await flush();
    const bind = socket.last();
    expect(bind.method).to.equal(StunMethod.ChannelBind);
    expect(bind.get(StunAttr.CHANNEL_NUMBER)!.toString('hex')).to.equal('40000000');
    reply(client, bind, 'success', () => {}, { key: KEY });
    expect(await bound).to.equal(0x4000);
    client.send(Buffer.from('hello'), PEER);
    const out = socket.sent[socket.sent.length - 1]!;
    expect(isChannelData(out)).to.equal(true);
    expect(decodeChannelData(out)).to.deep.include({ channel: 0x4000 });
    expect(out.length).to.equal(9); // UDP: no padding
    expect(client.handlePacket(encodeChannelData(0x4000, Buffer.from('hi')), SERVER)).to.equal(true);
    expect(client.handlePacket(encodeChannelData(0x4001, Buffer.from('nobody')), SERVER)).to.equal(true);
    expect(received).to.deep.equal(['hi']);
    const other = client.bindChannel({ address: PEER.address, port: 6001 });
    await flush();
    expect(socket.last().get(StunAttr.CHANNEL_NUMBER)!.readUInt16BE(0)).to.equal(0x4001);
    reply(client, socket.last(), 'success', () => {}, { key: KEY });
    await other;
    clock.advance(540_000);
    await flush();
    const rebinds = socket.requests().filter((m) => m.method === StunMethod.ChannelBind);
    expect(rebinds.length).to.be.at.least(4);
  });

  it('handlePacket leaves other sources and other transactions to the socket owner', async () => {
    const { client } = await allocate();
    const foreign = new StunMessage({ method: StunMethod.Binding, messageClass: 'success' });
    expect(client.handlePacket(foreign.encode(), SERVER)).to.equal(false);
    expect(client.handlePacket(encodeChannelData(0x4000, Buffer.from('x')), { address: '198.51.100.1', port: 3478 })).to.equal(false);
    expect(client.handlePacket(Buffer.from([0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), SERVER)).to.equal(false);
  });

  it('close: deallocates with LIFETIME 0, leaves a shared socket open, is idempotent', async () => {
    const { client, socket } = await allocate();
    const closed = client.close();
    await flush();
    const dealloc = socket.last();
    expect(dealloc.method).to.equal(StunMethod.Refresh);
    expect(dealloc.get(StunAttr.LIFETIME)!.readUInt32BE(0)).to.equal(0);
    reply(client, dealloc, 'success', (m) => m.add(StunAttr.LIFETIME, u32(0)), { key: KEY });
    await closed;
    await client.close();
    expect(socket.closed).to.equal(false);
    expect(() => client.createPermission(PEER)).to.throw(StateError);
    const count = socket.sent.length;
    client.send(Buffer.from('late'), PEER);
    expect(socket.sent.length).to.equal(count);
    expect(client.stats.droppedSends).to.equal(1);
  });

  it('an AbortSignal cancels the allocation', async () => {
    const controller = new AbortController();
    const { client } = setup({ signal: controller.signal });
    const started = rejection(client.start());
    await flush();
    controller.abort();
    const e = await started;
    expect(e.kind).to.equal('aborted');
  });

  it('needs credentials, and a proxy only with tcp/tls', () => {
    expect(() => new TurnClient({ server: SERVER, transport: 'udp' })).to.throw(TurnError, /no username/);
    expect(() => new TurnClient({ server: SERVER, transport: 'udp', username: 'u', password: 'p', proxy: { host: '127.0.0.1', port: 1 } })).to.throw(TurnError, /proxy needs transport tcp or tls/);
  });

  describe('IPv6 relayed addresses (RFC 8656 §7.1 REQUESTED-ADDRESS-FAMILY, RFC 6156)', () => {
    const RELAYED6 = { address: '2001:db8::5', port: 50000 };
    const PEER6 = { address: '2001:db8:1::20', port: 6000 };

    async function allocate6(relayed: { address: string; port: number } = RELAYED6) {
      const s = setup({ family: 'IPv6', autoChannel: false });
      const started = s.client.start();
      await flush();
      const first = s.socket.last();
      reply(s.client, first, 'error', challenge());
      await flush();
      const second = s.socket.last();
      reply(s.client, second, 'success', (m) => {
        m.addXorAddress(StunAttr.XOR_RELAYED_ADDRESS, relayed);
        m.addXorAddress(StunAttr.XOR_MAPPED_ADDRESS, MAPPED);
        m.add(StunAttr.LIFETIME, u32(600));
      }, { key: KEY });
      return { ...s, started, first, second };
    }

    /** The 16-byte XOR pad of a message: magic cookie, then transaction ID (RFC 8489 §14.2). */
    const pad = (m: StunMessage): Buffer => Buffer.concat([Buffer.from([0x21, 0x12, 0xa4, 0x42]), m.transactionId]);

    it('asks with REQUESTED-ADDRESS-FAMILY 0x02 and decodes the IPv6 XOR-RELAYED-ADDRESS with the transaction ID', async () => {
      const { client, started, first, second } = await allocate6();
      await started;
      for (const m of [first, second]) expect(m.get(StunAttr.REQUESTED_ADDRESS_FAMILY)!.toString('hex')).to.equal('02000000');
      expect(client.relayedAddress).to.deep.equal({ ...RELAYED6, family: 'IPv6' });
      expect(client.family).to.equal('IPv6');
    });

    it('IPv6 peers: XOR-PEER-ADDRESS of family 0x02, address XOR-ed with cookie and transaction ID; Send and Data indications', async () => {
      const { client, socket, started } = await allocate6();
      await started;
      const received: Array<[string, TransportAddress]> = [];
      client.on('data', (d, p) => received.push([d.toString(), p]));
      client.send(Buffer.from('six'), PEER6);
      await flush();
      const perm = socket.last();
      expect(perm.method).to.equal(StunMethod.CreatePermission);
      const raw = perm.get(StunAttr.XOR_PEER_ADDRESS)!;
      expect(raw.length).to.equal(20);
      expect(raw[1]).to.equal(0x02);
      const address = Buffer.from(raw.subarray(4));
      for (let i = 0; i < 16; i++) address[i]! ^= pad(perm)[i]!;
      expect(address.toString('hex')).to.equal('20010db8000100000000000000000020');
      reply(client, perm, 'success', () => {}, { key: KEY });
      await flush();
      const indication = StunMessage.decode(socket.sent[socket.sent.length - 1]!);
      expect(indication.method).to.equal(StunMethod.Send);
      expect(indication.getXorAddress(StunAttr.XOR_PEER_ADDRESS)).to.deep.equal({ ...PEER6, family: 'IPv6' });
      const data = new StunMessage({ method: StunMethod.Data, messageClass: 'indication' });
      data.addXorAddress(StunAttr.XOR_PEER_ADDRESS, PEER6).add(StunAttr.DATA, Buffer.from('back'));
      expect(client.handlePacket(data.encode(), SERVER)).to.equal(true);
      expect(received).to.deep.equal([['back', { ...PEER6, family: 'IPv6' }]]);
    });

    it('440 Address Family not Supported: kind family, one line naming what was asked', async () => {
      const { client, socket } = setup({ family: 'IPv6' });
      const started = rejection(client.start());
      await flush();
      reply(client, socket.last(), 'error', challenge());
      await flush();
      reply(client, socket.last(), 'error', (m) => m.addErrorCode(440), { key: KEY });
      const e = await started;
      expect(e.kind).to.equal('family');
      expect(e.code).to.equal(440);
      expect(e.message).to.equal('TURN server 203.0.113.5:3478/udp: Allocate failed: no IPv6 relayed addresses on this server (440 Address Family not Supported)');
    });

    it('an IPv4 relayed address when IPv6 was asked is refused', async () => {
      const { started } = await allocate6(RELAYED);
      const e = await rejection(started);
      expect(e.kind).to.equal('family');
      expect(e.message).to.match(/Allocate gave the IPv4 relayed address 203\.0\.113\.5:50000, IPv6 was requested$/);
    });

    it('a peer of the other family is refused without a request (the server would answer 443); 443 maps to kind family', async () => {
      const { client, socket, started } = await allocate6();
      await started;
      const count = socket.sent.length;
      const perm = await rejection(client.createPermission(PEER));
      expect(perm.kind).to.equal('family');
      expect(perm.message).to.match(/CreatePermission 198\.51\.100\.20: an IPv4 peer cannot be reached from the IPv6 relayed address \[2001:db8::5\]:50000$/);
      expect((await rejection(client.bindChannel(PEER))).kind).to.equal('family');
      client.send(Buffer.from('x'), PEER);
      expect(client.stats.droppedSends).to.equal(1);
      expect(socket.sent.length).to.equal(count);
      const created = rejection(client.createPermission(PEER6));
      await flush();
      reply(client, socket.last(), 'error', (m) => m.addErrorCode(443), { key: KEY });
      const e = await created;
      expect(e.kind).to.equal('family');
      expect(e.code).to.equal(443);
    });
  });
});
