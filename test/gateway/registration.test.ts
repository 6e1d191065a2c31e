/**
 * Issue 12, registration through the gateway, in process on loopback with the SIP on the wire
 * written and read by the test: a raw UDP socket is the endpoint (so the flow, the source address
 * of its REGISTER, is a socket the test owns, and its Contact names an address nobody listens on,
 * as a NATed softphone's private Contact would), another is the PBX registrar (it challenges,
 * grants, refuses). What is checked is what crosses the sockets: the challenge passed back, the
 * Authorization relayed, the gateway's own Contact at the PBX, the lifetime going back, the PBX's
 * INVITE reaching the endpoint's flow (not its Contact), CRLF keep-alives on the flow, 423 and
 * 480 answers.
 */
import { expect } from 'chai';
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { Gateway, type RegistrationChange } from '../../lib/gateway/gateway.js';

const GW_ENDPOINT_IP = '127.0.0.1';
const GW_PBX_IP = '127.0.0.3';
/** The endpoint's Contact: a private address nothing listens on (TEST-NET-1, never routed here). */
const PRIVATE_CONTACT = 'sip:alice@192.0.2.55:5099';

interface Datagram { text: string; from: { address: string; port: number } }

/** A UDP socket that queues what it receives and lets the test wait for a matching datagram. */
class RawPeer {
  readonly received: Datagram[] = [];
  private waiters: Array<{ match: (d: Datagram) => boolean; resolve: (d: Datagram) => void }> = [];
  private constructor(readonly socket: Socket, readonly address: string, readonly port: number) {
    socket.on('message', (buf, rinfo) => {
      const d = { text: buf.toString('latin1'), from: { address: rinfo.address, port: rinfo.port } };
      this.received.push(d);
      const w = this.waiters.find((x) => x.match(d));
      if (w) {
        this.waiters = this.waiters.filter((x) => x !== w);
        w.resolve(d);
      }
    });
  }

  static async bind(address: string): Promise<RawPeer> {
    const s = createSocket('udp4');
    await new Promise<void>((resolve, reject) => { s.once('error', reject); s.bind(0, address, () => resolve()); });
    return new RawPeer(s, address, s.address().port);
  }

  /** The first datagram (already received or not) matching, not consumed before. */
  next(match: (d: Datagram) => boolean, ms: number, what: string): Promise<Datagram> {
    const seen = this.received.find((d) => match(d) && !this.taken.has(d));
    if (seen) {
      this.taken.add(seen);
      return Promise.resolve(seen);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}; got:\n${this.received.map((d) => d.text.split('\r\n')[0]).join('\n')}`)), ms);
      this.waiters.push({ match, resolve: (d) => { clearTimeout(timer); this.taken.add(d); resolve(d); } });
    });
  }

  private readonly taken = new Set<Datagram>();

  send(text: string, to: { address: string; port: number }): void {
    this.socket.send(Buffer.from(text, 'latin1'), to.port, to.address);
  }

  close(): void {
    this.socket.close();
  }
}

function header(text: string, name: string): string | undefined {
  const m = new RegExp(`^${name}:[ \\t]*(.*)$`, 'im').exec(text.split('\r\n\r\n')[0]!);
  return m?.[1]?.trim();
}
function headers(text: string, name: string): string[] {
  return [...text.split('\r\n\r\n')[0]!.matchAll(new RegExp(`^${name}:[ \\t]*(.*)$`, 'gim'))].map((m) => m[1]!.trim());
}
const isRequest = (method: string) => (d: Datagram) => d.text.startsWith(`${method} `);
const isResponse = (status: number, method: string) => (d: Datagram) =>
  d.text.startsWith(`SIP/2.0 ${status} `) && new RegExp(`^CSeq:\\s*\\d+\\s+${method}\\s*$`, 'im').test(d.text);

/** A response to `request` (Via, From, To with a tag, Call-ID, CSeq copied), RFC 3261 §8.2.6. */
function responseTo(request: string, status: string, extra: string[] = []): string {
  const toValue = header(request, 'To')!;
  const lines = [
    `SIP/2.0 ${status}`,
    ...headers(request, 'Via').map((v) => `Via: ${v}`),
    `From: ${header(request, 'From')}`,
    `To: ${/;tag=/.test(toValue) ? toValue : `${toValue};tag=${randomBytes(4).toString('hex')}`}`,
    `Call-ID: ${header(request, 'Call-ID')}`,
    `CSeq: ${header(request, 'CSeq')}`,
    ...extra,
    'Content-Length: 0',
  ];
  return lines.join('\r\n') + '\r\n\r\n';
}

describe('PBX gateway: registration through the gateway (issue 12), SIP on the wire', function () {
  this.timeout(30000);
  let gateway: Gateway;
  let endpoint: RawPeer;
  let pbx: RawPeer;
  let gw: { address: string; port: number };
  let gwPbxSide: { address: string; port: number };
  const changes: RegistrationChange[] = [];
  const callId = `ep-${randomBytes(6).toString('hex')}`;
  let cseq = 0;

  /** The endpoint's REGISTER as a softphone writes it (Request-URI: the PBX domain). */
  function register(expires: number, extra: string[] = []): void {
    cseq++;
    endpoint.send([
      'REGISTER sip:pbx.test SIP/2.0',
      `Via: SIP/2.0/UDP 192.0.2.55:5099;branch=z9hG4bK${randomBytes(6).toString('hex')};rport`,
      'Max-Forwards: 70',
      'From: <sip:alice@pbx.test>;tag=ep1',
      'To: <sip:alice@pbx.test>',
      `Call-ID: ${callId}`,
      `CSeq: ${cseq} REGISTER`,
      `Contact: <${PRIVATE_CONTACT}>`,
      `Expires: ${expires}`,
      ...extra,
      'Content-Length: 0',
      '', '',
    ].join('\r\n'), gw);
  }

  before(async () => {
    endpoint = await RawPeer.bind('127.0.0.1');
    pbx = await RawPeer.bind('127.0.0.2');
    gateway = await Gateway.start({
      listen: { address: GW_ENDPOINT_IP, port: 0 },
      pbxListen: { address: GW_PBX_IP, port: 0 },
      pbx: `sip:127.0.0.2:${pbx.port}`,
      pbxDomain: 'pbx.test',
      keepaliveMs: 300,
    });
    gateway.on('registration', (r) => changes.push(r));
    gw = { address: GW_ENDPOINT_IP, port: gateway.endpointPhone.port };
    gwPbxSide = { address: GW_PBX_IP, port: gateway.pbxPhone.port };
  });
  after(async () => {
    await gateway?.stop();
    endpoint?.close();
    pbx?.close();
  });

  it('challenge passed back unchanged, Authorization relayed with the Request-URI the endpoint signed, the gateway\'s own Contact at the PBX, the granted lifetime on the endpoint\'s Contact', async () => {
    const challenge = 'Digest realm="pbx.test", nonce="n0nce-1", qop="auth", algorithm=MD5';
    register(300);
    const first = await pbx.next(isRequest('REGISTER'), 10000, 'the relayed REGISTER');
    expect(first.from).to.deep.equal({ address: GW_PBX_IP, port: gwPbxSide.port });
    expect(first.text.split('\r\n')[0]).to.equal('REGISTER sip:pbx.test SIP/2.0');
    expect(header(first.text, 'To')).to.match(/^<sip:alice@pbx\.test>$/);
    const contact = header(first.text, 'Contact')!;
    expect(contact, 'the gateway\'s Contact, not the endpoint\'s').to.match(new RegExp(`^<sip:alice-[0-9a-f]{12}@127\\.0\\.0\\.3:${gwPbxSide.port}>;expires=300$`));
    expect(first.text).to.not.include('192.0.2.55');
    expect(header(first.text, 'Authorization')).to.equal(undefined);
    pbx.send(responseTo(first.text, '401 Unauthorized', [`WWW-Authenticate: ${challenge}`]), first.from);

    const c401 = await endpoint.next(isResponse(401, 'REGISTER'), 10000, '401 at the endpoint');
    expect(header(c401.text, 'WWW-Authenticate')).to.equal(challenge);
    expect(header(c401.text, 'Call-ID')).to.equal(callId);

    const authorization = 'Digest username="alice", realm="pbx.test", nonce="n0nce-1", uri="sip:pbx.test", response="0123456789abcdef0123456789abcdef", qop=auth, nc=00000001, cnonce="c1", algorithm=MD5';
    register(300, [`Authorization: ${authorization}`]);
    const second = await pbx.next(isRequest('REGISTER'), 10000, 'the retried REGISTER');
    expect(header(second.text, 'Authorization')).to.equal(authorization);
    expect(second.text.split('\r\n')[0], 'the digest-uri is the Request-URI').to.equal('REGISTER sip:pbx.test SIP/2.0');
    expect(header(second.text, 'Call-ID'), 'one Call-ID per binding').to.equal(header(first.text, 'Call-ID'));
    expect(Number(header(second.text, 'CSeq')!.split(' ')[0])).to.equal(Number(header(first.text, 'CSeq')!.split(' ')[0]) + 1);
    expect(header(second.text, 'Contact')).to.equal(contact);
    const ourContact = contact.replace(/;expires=\d+$/, '');
    pbx.send(responseTo(second.text, '200 OK', [`Contact: ${ourContact};expires=120`, 'Contact: <sip:alice@10.9.9.9:5060>;expires=50']), second.from);

    const ok = await endpoint.next(isResponse(200, 'REGISTER'), 10000, '200 at the endpoint');
    expect(headers(ok.text, 'Contact')).to.deep.equal([`<${PRIVATE_CONTACT}>;expires=120`]);
    expect(header(ok.text, 'Expires')).to.equal('120');
    const [b] = gateway.registrations.bindings;
    expect(b).to.deep.include({ user: 'alice', endpointContact: PRIVATE_CONTACT, state: 'registered', expiresSec: 120 });
    expect(b!.flow).to.deep.equal({ address: '127.0.0.1', port: endpoint.port, protocol: 'udp' });
    expect(changes.map((c) => c.event)).to.deep.equal(['registered']);
    expect(changes[0]!.gatewayContact).to.equal(ourContact.slice(1, -1));
  });

  it('a refresh keeps the binding\'s Call-ID and gateway Contact, raises the CSeq and moves the lifetime', async () => {
    const b = gateway.registrations.bindings[0]!;
    const cseqBefore = b.cseq;
    register(300);
    const r = await pbx.next(isRequest('REGISTER'), 10000, 'the refresh');
    expect(header(r.text, 'Call-ID')).to.equal(b.callId);
    expect(header(r.text, 'CSeq')).to.equal(`${cseqBefore + 1} REGISTER`);
    expect(header(r.text, 'Contact')).to.equal(`<sip:${b.gatewayUser}@127.0.0.3:${gwPbxSide.port}>;expires=300`);
    pbx.send(responseTo(r.text, '200 OK', [`Contact: <sip:${b.gatewayUser}@127.0.0.3:${gwPbxSide.port}>;expires=180`]), r.from);
    const ok = await endpoint.next(isResponse(200, 'REGISTER'), 10000, '200 to the refresh');
    expect(headers(ok.text, 'Contact')).to.deep.equal([`<${PRIVATE_CONTACT}>;expires=180`]);
    expect(gateway.registrations.bindings).to.have.length(1);
    expect(gateway.registrations.bindings[0]).to.deep.include({ state: 'registered', expiresSec: 180 });
    expect(changes.map((c) => c.event)).to.deep.equal(['registered', 'refreshed']);
  });

  it('CRLF keep-alives reach the flow the REGISTER came from', async () => {
    const before = endpoint.received.filter((d) => d.text === '\r\n\r\n').length;
    const t0 = Date.now();
    await endpoint.next((d) => d.text === '\r\n\r\n', 5000, 'a first keep-alive');
    await endpoint.next((d) => d.text === '\r\n\r\n', 5000, 'a second keep-alive');
    expect(Date.now() - t0).to.be.lessThan(5000);
    expect(endpoint.received.filter((d) => d.text === '\r\n\r\n').length).to.be.greaterThan(before + 1);
    expect(gateway.registrations.keepalivesSent).to.be.greaterThan(1);
  });

  it('an INVITE from the PBX for the gateway Contact reaches the endpoint over its flow, with its Contact as Request-URI; its 486 goes back to the PBX', async () => {
    const gwUser = gateway.registrations.bindings[0]!.gatewayUser;
    const sdp = ['v=0', 'o=pbx 1 1 IN IP4 127.0.0.2', 's=-', 'c=IN IP4 127.0.0.2', 't=0 0', 'm=audio 40000 RTP/AVP 0', 'a=rtpmap:0 PCMU/8000', ''].join('\r\n');
    const invite = [
      `INVITE sip:${gwUser}@127.0.0.3:${gwPbxSide.port} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.2:${pbx.port};branch=z9hG4bK${randomBytes(6).toString('hex')};rport`,
      'Max-Forwards: 70',
      'From: <sip:bob@pbx.test>;tag=pbx1',
      `To: <sip:${gwUser}@127.0.0.3:${gwPbxSide.port}>`,
      `Call-ID: inv-${randomBytes(6).toString('hex')}`,
      'CSeq: 1 INVITE',
      `Contact: <sip:bob@127.0.0.2:${pbx.port}>`,
      'Content-Type: application/sdp',
      `Content-Length: ${Buffer.byteLength(sdp)}`,
      '',
      sdp,
    ].join('\r\n');
    pbx.send(invite, gwPbxSide);
    const atEndpoint = await endpoint.next(isRequest('INVITE'), 15000, 'the INVITE at the endpoint flow');
    expect(atEndpoint.text.split('\r\n')[0]).to.equal(`INVITE ${PRIVATE_CONTACT} SIP/2.0`);
    expect(atEndpoint.from.port).to.equal(gw.port);
    endpoint.send(responseTo(atEndpoint.text, '486 Busy Here'), atEndpoint.from);
    const busy = await pbx.next(isResponse(486, 'INVITE'), 15000, '486 at the PBX');
    expect(busy.from.port).to.equal(gwPbxSide.port);
    pbx.send([
      `ACK sip:${gwUser}@127.0.0.3:${gwPbxSide.port} SIP/2.0`,
      `Via: ${headers(invite, 'Via')[0]}`,
      'Max-Forwards: 70',
      `From: ${header(invite, 'From')}`,
      `To: ${header(busy.text, 'To')}`,
      `Call-ID: ${header(invite, 'Call-ID')}`,
      'CSeq: 1 ACK',
      'Content-Length: 0',
      '', '',
    ].join('\r\n'), gwPbxSide);
  });

  it('the softphone\'s own INVITE over its registered flow reaches the PBX From its AOR; from anywhere else From the gateway', async () => {
    const sdp = ['v=0', 'o=ep 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=audio 40002 RTP/AVP 0', 'a=rtpmap:0 PCMU/8000', ''].join('\r\n');
    const inviteFrom = (peer: RawPeer, tag: string) => [
      `INVITE sip:bob@${gw.address}:${gw.port} SIP/2.0`,
      `Via: SIP/2.0/UDP 192.0.2.55:5099;branch=z9hG4bK${randomBytes(6).toString('hex')};rport`,
      'Max-Forwards: 70',
      `From: <sip:alice@pbx.test>;tag=${tag}`,
      `To: <sip:bob@${gw.address}:${gw.port}>`,
      `Call-ID: out-${randomBytes(6).toString('hex')}`,
      'CSeq: 1 INVITE',
      `Contact: <${PRIVATE_CONTACT}>`,
      'Content-Type: application/sdp',
      `Content-Length: ${Buffer.byteLength(sdp)}`,
      '',
      sdp,
    ].join('\r\n');
    const stranger = await RawPeer.bind('127.0.0.1');
    try {
      for (const [peer, tag, from] of [[endpoint, 'out1', /^(?:"alice" )?<sip:alice@pbx\.test>;tag=/], [stranger, 'out2', /^(?:"alice" )?<sip:gateway@127\.0\.0\.3(?::\d+)?>;tag=/]] as const) {
        const invite = inviteFrom(peer, tag);
        peer.send(invite, gw);
        const atPbx = await pbx.next(isRequest('INVITE'), 15000, `the INVITE at the PBX (${tag})`);
        expect(atPbx.text.split('\r\n')[0]).to.equal(`INVITE sip:bob@127.0.0.2:${pbx.port} SIP/2.0`);
        expect(header(atPbx.text, 'From'), tag).to.match(from);
        pbx.send(responseTo(atPbx.text, '486 Busy Here'), atPbx.from);
        const busy = await peer.next(isResponse(486, 'INVITE'), 15000, `486 back at the caller (${tag})`);
        peer.send([
          `ACK sip:bob@${gw.address}:${gw.port} SIP/2.0`, `Via: ${headers(invite, 'Via')[0]}`, 'Max-Forwards: 70', `From: ${header(invite, 'From')}`,
          `To: ${header(busy.text, 'To')}`, `Call-ID: ${header(invite, 'Call-ID')}`, 'CSeq: 1 ACK', 'Content-Length: 0', '', '',
        ].join('\r\n'), gw);
      }
    } finally {
      stranger.close();
    }
  });

  it('423 from the PBX goes back with Min-Expires; the binding stays as granted', async () => {
    register(30);
    const r = await pbx.next(isRequest('REGISTER'), 10000, 'the short REGISTER');
    pbx.send(responseTo(r.text, '423 Interval Too Brief', ['Min-Expires: 60']), r.from);
    const brief = await endpoint.next(isResponse(423, 'REGISTER'), 10000, '423 at the endpoint');
    expect(header(brief.text, 'Min-Expires')).to.equal('60');
    expect(gateway.registrations.bindings[0]).to.deep.include({ state: 'registered', expiresSec: 180 });
  });

  it('Expires 0 removes the binding at the PBX and the gateway; then a PBX INVITE for the user gets 480', async () => {
    register(0);
    const r = await pbx.next(isRequest('REGISTER'), 10000, 'the unregister');
    expect(header(r.text, 'Expires')).to.equal('0');
    expect(header(r.text, 'Contact')).to.match(/^<sip:alice-[0-9a-f]{12}@127\.0\.0\.3:\d+>;expires=0$/);
    pbx.send(responseTo(r.text, '200 OK'), r.from);
    await endpoint.next(isResponse(200, 'REGISTER'), 10000, '200 to the unregister');
    expect(gateway.registrations.bindings).to.deep.equal([]);
    expect(changes.map((c) => c.event)).to.deep.equal(['registered', 'refreshed', 'unregistered']);

    const invite = [
      `INVITE sip:alice@127.0.0.3:${gwPbxSide.port} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.2:${pbx.port};branch=z9hG4bK${randomBytes(6).toString('hex')};rport`,
      'Max-Forwards: 70',
      'From: <sip:bob@pbx.test>;tag=pbx2',
      `To: <sip:alice@127.0.0.3:${gwPbxSide.port}>`,
      `Call-ID: inv-${randomBytes(6).toString('hex')}`,
      'CSeq: 1 INVITE',
      `Contact: <sip:bob@127.0.0.2:${pbx.port}>`,
      'Content-Length: 0',
      '', '',
    ].join('\r\n');
    pbx.send(invite, gwPbxSide);
    await pbx.next(isResponse(480, 'INVITE'), 10000, '480 for the unregistered user');
  });

  it('not relayable: several Contacts (400); a query answered from the bindings (200, none)', async () => {
    const relayedBefore = pbx.received.filter((d) => d.text.startsWith('REGISTER ')).length;
    register(60, ['Contact: <sip:alice@192.0.2.56:5099>']);
    await endpoint.next(isResponse(400, 'REGISTER'), 10000, '400 for two Contacts');
    cseq++;
    endpoint.send([
      'REGISTER sip:pbx.test SIP/2.0', `Via: SIP/2.0/UDP 192.0.2.55:5099;branch=z9hG4bK${randomBytes(6).toString('hex')};rport`,
      'Max-Forwards: 70', 'From: <sip:alice@pbx.test>;tag=ep1', 'To: <sip:alice@pbx.test>', `Call-ID: ${callId}`, `CSeq: ${cseq} REGISTER`,
      'Content-Length: 0', '', '',
    ].join('\r\n'), gw);
    const q = await endpoint.next(isResponse(200, 'REGISTER'), 10000, '200 to the query');
    expect(headers(q.text, 'Contact')).to.deep.equal([]);
    expect(pbx.received.filter((d) => d.text.startsWith('REGISTER ')).length, 'none of these reached the PBX').to.equal(relayedBefore);
    expect(gateway.registersRefused).to.equal(1);
  });
});

describe('PBX gateway: an endpoint REGISTER the PBX never answers (issue 12)', function () {
  // sip.js gives up after timer F (64·T1 = 32 s, RFC 3261 §17.1.2.2); the bound is that plus margin.
  this.timeout(60000);
  let gateway: Gateway | undefined;
  let endpoint: RawPeer | undefined;
  let silentPbx: RawPeer | undefined;
  after(async () => {
    await gateway?.stop();
    endpoint?.close();
    silentPbx?.close();
  });

  it('gets 504 Server Time-out after the PBX transaction times out (the REGISTER was retransmitted to the PBX meanwhile), and no binding is left', async () => {
    endpoint = await RawPeer.bind('127.0.0.1');
    silentPbx = await RawPeer.bind('127.0.0.2');
    gateway = await Gateway.start({
      listen: { address: GW_ENDPOINT_IP, port: 0 },
      pbxListen: { address: GW_PBX_IP, port: 0 },
      pbx: `sip:127.0.0.2:${silentPbx.port}`,
    });
    endpoint.send([
      'REGISTER sip:127.0.0.2 SIP/2.0',
      `Via: SIP/2.0/UDP 127.0.0.1:${endpoint.port};branch=z9hG4bK${randomBytes(6).toString('hex')};rport`,
      'Max-Forwards: 70', 'From: <sip:carol@127.0.0.2>;tag=ep9', 'To: <sip:carol@127.0.0.2>', `Call-ID: ep-${randomBytes(6).toString('hex')}`,
      'CSeq: 1 REGISTER', `Contact: <sip:carol@127.0.0.1:${endpoint.port}>`, 'Expires: 60', 'Content-Length: 0', '', '',
    ].join('\r\n'), { address: GW_ENDPOINT_IP, port: gateway.endpointPhone.port });
    const timeout = await endpoint.next(isResponse(504, 'REGISTER'), 45000, '504 from the gateway');
    expect(timeout.text.split('\r\n')[0]).to.equal('SIP/2.0 504 Server Time-out');
    expect(silentPbx.received.filter((d) => d.text.startsWith('REGISTER ')).length, 'timer E retransmissions').to.be.greaterThan(3);
    expect(gateway.registrations.bindings).to.deep.equal([]);
  });
});
