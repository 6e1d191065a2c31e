/**
 * Issue 12, bad input on either leg of the gateway: the leg that sent it gets the error, the
 * other leg is cleaned up (or never placed), and nothing is left behind (no bridge, no call).
 * A raw UDP socket plays the misbehaving side; the other side is a Phone.
 */
import { expect } from 'chai';
import { createSocket, type Socket } from 'node:dgram';
import { Gateway } from '../../lib/gateway/gateway.js';
import { Phone, type Call } from '../../lib/sip/user-agent.js';

/** A UDP socket that records every SIP message it receives. */
class RawPeer {
  readonly received: Array<{ text: string; port: number; address: string }> = [];
  private constructor(readonly socket: Socket, readonly port: number) {
    socket.on('message', (m, r) => this.received.push({ text: m.toString('latin1'), port: r.port, address: r.address }));
  }

  static async open(address: string): Promise<RawPeer> {
    const s = createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, address, () => r()));
    return new RawPeer(s, s.address().port);
  }

  send(text: string, port: number, address: string): void {
    this.socket.send(Buffer.from(text, 'latin1'), port, address);
  }

  async waitFor(match: (text: string) => boolean, ms: number, what: string): Promise<string> {
    const end = Date.now() + ms;
    for (;;) {
      const hit = this.received.find((m) => match(m.text));
      if (hit) return hit.text;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}; got: ${this.received.map((m) => m.text.split('\r\n')[0]).join(' | ')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  close(): void {
    this.socket.close();
  }
}

function invite(opts: { from: RawPeer; address: string; to: string; callId: string; body: string }): string {
  const body = opts.body;
  return [
    `INVITE ${opts.to} SIP/2.0`,
    `Via: SIP/2.0/UDP ${opts.address}:${opts.from.port};branch=z9hG4bK-${opts.callId};rport`,
    'Max-Forwards: 70',
    `From: <sip:raw@${opts.address}:${opts.from.port}>;tag=raw-${opts.callId}`,
    `To: <${opts.to}>`,
    `Call-ID: ${opts.callId}`,
    'CSeq: 1 INVITE',
    `Contact: <sip:raw@${opts.address}:${opts.from.port}>`,
    'Content-Type: application/sdp',
    `Content-Length: ${Buffer.byteLength(body, 'latin1')}`,
    '',
    body,
  ].join('\r\n');
}

const statusOf = (text: string) => Number(/^SIP\/2\.0 (\d{3})/.exec(text)?.[1] ?? 0);

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('PBX gateway: bad input on either leg (issue 12)', function () {
  this.timeout(60000);
  let gateway: Gateway | undefined;
  let pbx: Phone | undefined;
  let endpoint: Phone | undefined;
  const raws: RawPeer[] = [];

  afterEach(async () => {
    await Promise.all([gateway?.stop(), pbx?.stop(), endpoint?.stop()]);
    gateway = pbx = endpoint = undefined;
    for (const r of raws.splice(0)) r.close();
  });

  it('an endpoint INVITE with a malformed SDP body is refused on the endpoint leg; the PBX never sees an INVITE; no bridge is left', async () => {
    pbx = await Phone.start({ listen: { address: '127.0.0.2', port: 0 }, media: { addresses: ['127.0.0.2'], includeLoopback: true, sdpFormat: 'none' } });
    const pbxCalls: Call[] = [];
    pbx.on('incoming', (c) => pbxCalls.push(c));
    gateway = await Gateway.start({ listen: { address: '127.0.0.1', port: 0 }, pbxListen: { address: '127.0.0.3', port: 0 }, pbx: `sip:127.0.0.2:${pbx.port}` });
    const raw = await RawPeer.open('127.0.0.4');
    raws.push(raw);
    const gw = gateway.endpointPhone.port;
    raw.send(invite({ from: raw, address: '127.0.0.4', to: `sip:bob@127.0.0.1:${gw}`, callId: 'bad-sdp-1', body: 'v=0\r\nthis is not SDP\r\nm=audio banana RTP/AVP 0\r\n' }), gw, '127.0.0.1');
    const final = await raw.waitFor((t) => statusOf(t) >= 300, 10000, 'a final response');
    expect(statusOf(final), final.split('\r\n')[0]).to.be.within(400, 499);
    // Give the gateway the time a PBX INVITE would take to leave (it would be sent at once).
    await new Promise((r) => setTimeout(r, 500));
    expect(pbxCalls, 'INVITEs at the PBX').to.have.length(0);
    expect(gateway.activeBridges).to.have.length(0);
  });

  it('garbage datagrams and a malformed SIP message on the endpoint side are dropped; a real call through the gateway still connects', async () => {
    pbx = await Phone.start({ listen: { address: '127.0.0.2', port: 0 }, media: { addresses: ['127.0.0.2'], includeLoopback: true, sdpFormat: 'none', play: 'tone:1000' } });
    pbx.on('incoming', (c) => void pbx!.answer(c));
    gateway = await Gateway.start({ listen: { address: '127.0.0.1', port: 0 }, pbxListen: { address: '127.0.0.3', port: 0 }, pbx: `sip:127.0.0.2:${pbx.port}` });
    const raw = await RawPeer.open('127.0.0.4');
    raws.push(raw);
    const gw = gateway.endpointPhone.port;
    raw.send('\x00\x01garbage that is not SIP\r\n\r\n', gw, '127.0.0.1');
    raw.send('INVITE sip:bob@127.0.0.1 SIP/2.0\r\nVia: nonsense\r\nContent-Length: 999999\r\n\r\n', gw, '127.0.0.1');
    endpoint = await Phone.start({ listen: { address: '127.0.0.5', port: 0 }, media: { addresses: ['127.0.0.5'], includeLoopback: true, sdpFormat: 'ice', play: 'tone:440' } });
    const call = endpoint.call(`sip:bob@127.0.0.1:${gw}`);
    await new Promise<void>((resolve, reject) => {
      call.once('established', () => resolve());
      void call.finished.then((s) => reject(new Error(`call ended before it was established: ${JSON.stringify(s.call)}`)));
    });
    await until(() => (call.media?.summary().rtp.packetsReceived ?? 0) > 10, 10000, 'RTP from the PBX through the gateway');
    await call.hangup();
    await until(() => gateway!.activeBridges.length === 0, 10000, 'the bridge to end');
  });
  it('a 200 from the PBX with a malformed SDP answer: the PBX leg is ACKed and BYEd (RFC 3261 §13.2.2.4), the endpoint leg gets a final error, no bridge is left', async () => {
    const rawPbx = await RawPeer.open('127.0.0.2');
    raws.push(rawPbx);
    gateway = await Gateway.start({ listen: { address: '127.0.0.1', port: 0 }, pbxListen: { address: '127.0.0.3', port: 0 }, pbx: `sip:127.0.0.2:${rawPbx.port}` });
    endpoint = await Phone.start({ listen: { address: '127.0.0.5', port: 0 }, media: { addresses: ['127.0.0.5'], includeLoopback: true, sdpFormat: 'ice' } });
    const call = endpoint.call(`sip:bob@127.0.0.1:${gateway.endpointPhone.port}`);
    const inv = await rawPbx.waitFor((t) => t.startsWith('INVITE '), 10000, 'the PBX leg INVITE');
    const from = rawPbx.received.find((m) => m.text === inv)!;
    const head = inv.split('\r\n\r\n')[0]!.split('\r\n');
    const pick = (name: string) => head.filter((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
    const body = 'v=0\r\nnot an answer at all\r\n';
    const ok = [
      'SIP/2.0 200 OK', ...pick('Via'), ...pick('From'), `${pick('To')[0]};tag=rawpbx`, ...pick('Call-ID'), ...pick('CSeq'),
      `Contact: <sip:pbx@127.0.0.2:${rawPbx.port}>`, 'Content-Type: application/sdp', `Content-Length: ${body.length}`, '', body,
    ].join('\r\n');
    rawPbx.send(ok, from.port, from.address);
    await rawPbx.waitFor((t) => t.startsWith('ACK '), 10000, 'the ACK of the 200');
    const bye = await rawPbx.waitFor((t) => t.startsWith('BYE '), 10000, 'a BYE of the PBX leg');
    const byeFrom = rawPbx.received.find((m) => m.text === bye)!;
    const byeHead = bye.split('\r\n\r\n')[0]!.split('\r\n');
    const bpick = (name: string) => byeHead.filter((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
    rawPbx.send(['SIP/2.0 200 OK', ...bpick('Via'), ...bpick('From'), ...bpick('To'), ...bpick('Call-ID'), ...bpick('CSeq'), 'Content-Length: 0', '', ''].join('\r\n'), byeFrom.port, byeFrom.address);
    const summary = await call.finished;
    expect(summary.call.state, JSON.stringify(summary.call)).to.not.equal('established');
    expect(call.finalStatus ?? 0, 'the endpoint leg got a final error').to.be.within(400, 699);
    await until(() => gateway!.activeBridges.length === 0, 10000, 'the bridge to end');
  });
});
