/**
 * SipTransport over IPv6 on ::1 with a raw UDP peer, and issue 10 in the transport: Via hosts,
 * `received` and sent-by compared as IP addresses, not as text (RFC 3261 §18.1.2, §18.2.1).
 */
import { expect } from 'chai';
import * as dgram from 'node:dgram';
import { Inviter, UserAgent } from 'sip.js';
import { sipJsTransportOptions } from '../../lib/sip/transport.js';
import { Phone } from '../../lib/sip/user-agent.js';
import { getHeader, parseWireMessage, topVia } from '../../lib/sip/wire-message.js';
import { fixedSdhFactory } from './fixtures/fixed-sdh.js';

interface RawPeer {
  socket: dgram.Socket;
  port: number;
  received: string[];
  close(): Promise<void>;
}

async function rawPeer(onMessage: (text: string, rinfo: dgram.RemoteInfo, socket: dgram.Socket) => void = () => {}): Promise<RawPeer> {
  const socket = dgram.createSocket('udp6');
  await new Promise<void>((r) => socket.bind(0, '::1', () => r()));
  const peer: RawPeer = {
    socket,
    port: socket.address().port,
    received: [],
    close: () => new Promise<void>((r) => socket.close(() => r())),
  };
  socket.on('message', (m, rinfo) => {
    peer.received.push(m.toString());
    onMessage(m.toString(), rinfo, socket);
  });
  return peer;
}

async function startUa(advertisedAddress?: string) {
  const opts = sipJsTransportOptions({ protocol: 'udp', listen: { address: '::1', port: 0 }, advertisedAddress });
  const ua = new UserAgent({ ...opts, uri: UserAgent.makeURI('sip:alice@[::1]')!, sessionDescriptionHandlerFactory: fixedSdhFactory });
  await ua.start();
  return { ua, port: opts.port() };
}

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('SipTransport over IPv6 (::1)', function () {
  this.timeout(15000);

  it('no received= when the Via sent-by is the source address in another spelling (RFC 3261 §18.2.1), and the response reaches it', async () => {
    const { ua, port } = await startUa();
    const peer = await rawPeer();
    try {
      const options = [
        `OPTIONS sip:alice@[::1]:${port} SIP/2.0`,
        `Via: SIP/2.0/UDP [0:0:0:0:0:0:0:1]:${peer.port};branch=z9hG4bKv6opt1`,
        'Max-Forwards: 70',
        'From: <sip:peer@[::1]>;tag=p1',
        `To: <sip:alice@[::1]:${port}>`,
        'Call-ID: v6-options-1',
        'CSeq: 1 OPTIONS',
        'Content-Length: 0',
        '', '',
      ].join('\r\n');
      peer.socket.send(options, port, '::1');
      await waitFor(() => peer.received.some((m) => m.startsWith('SIP/2.0 200')));
      const ok = parseWireMessage(Buffer.from(peer.received.find((m) => m.startsWith('SIP/2.0 200'))!));
      const via = topVia(ok);
      expect(via.params.has('received'), getHeader(ok, 'via')).to.equal(false);
    } finally {
      await ua.stop();
      await peer.close();
    }
  });

  it('writes the advertised address canonically in Via and Contact, and accepts a response whose Via echoes it in another spelling (§18.1.2)', async () => {
    const { ua, port } = await startUa('0:0:0:0:0:0:0:1');
    let invite = '';
    const peer = await rawPeer((text, rinfo, socket) => {
      if (!text.startsWith('INVITE ')) return;
      invite = text;
      const msg = parseWireMessage(Buffer.from(text));
      // A peer that writes the Via host back in its own (expanded, upper-case) spelling.
      const via = getHeader(msg, 'via')!;
      const echoed = via.replace('[::1]', '[0000:0000:0000:0000:0000:0000:0000:0001]');
      const busy = [
        'SIP/2.0 486 Busy Here',
        `Via: ${echoed}`,
        `From: ${getHeader(msg, 'from')}`,
        `To: ${getHeader(msg, 'to')};tag=busy1`,
        `Call-ID: ${getHeader(msg, 'call-id')}`,
        `CSeq: ${getHeader(msg, 'cseq')}`,
        'Content-Length: 0',
        '', '',
      ].join('\r\n');
      socket.send(busy, rinfo.port, rinfo.address);
    });
    try {
      const inviter = new Inviter(ua, UserAgent.makeURI(`sip:bob@[::1]:${peer.port}`)!);
      const status = await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no final response; INVITE was:\n${invite}`)), 8000);
        void inviter.invite({ requestDelegate: { onReject: (r) => { clearTimeout(timer); resolve(r.message.statusCode ?? 0); } } });
      });
      expect(status).to.equal(486);
      const msg = parseWireMessage(Buffer.from(invite));
      expect(getHeader(msg, 'via')).to.match(new RegExp(`^SIP/2\\.0/UDP \\[::1\\]:${port};`));
      expect(getHeader(msg, 'contact')).to.contain(`@[::1]:${port}`);
    } finally {
      await ua.stop();
      await peer.close();
    }
  });
});

describe('Phone over IPv6', () => {
  it('its own URI and contact carry the canonical listen address in brackets', async () => {
    const phone = await Phone.start({ listen: { address: '0:0:0:0:0:0:0:1', port: 0 } });
    try {
      expect(phone.contactUri).to.equal(`sip:icephone@[::1]:${phone.port}`);
    } finally {
      await phone.stop();
    }
  });
});
