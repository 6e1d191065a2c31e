/**
 * Trickle ICE INFO requests (RFC 8840 §4.3, RFC 6086) against a live call of the library's Phone,
 * from a raw SIP client on loopback: the 2xx says Recv-Info: trickle-ice; an INFO of another
 * Info Package gets 469 with the Recv-Info we accept, a wrong body type 415, a body that is no
 * sdpfrag 400, a good sdpfrag 200 with its candidate handed to ICE (and listed in the summary), one
 * of another ICE generation 200 but dropped as stale. With trickle off, no Recv-Info and 469.
 */
import { expect } from 'chai';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { MediaSession } from '../../lib/media/media-session.js';
import { Phone, type CallSummary } from '../../lib/sip/user-agent.js';

interface Response { status: number; text: string; header(name: string): string | undefined }

class RawClient {
  /** Final responses are matched to the request by CSeq method (an INFO's can come before the INVITE's). */
  private waiters: Array<{ method: string; resolve: (r: Response) => void }> = [];
  private cseq = 1;
  readonly callId = `trickle-${Date.now()}-${Math.random().toString(36).slice(2)}@127.0.0.1`;
  toTag = '';
  target = '';
  constructor(readonly socket: Socket, readonly port: number, readonly server: number) {
    socket.on('message', (data) => {
      const text = data.toString('utf8');
      const m = /^SIP\/2\.0 (\d{3})/.exec(text);
      if (!m || Number(m[1]) < 200) return;
      const header = (name: string) => new RegExp(`^${name}:[ \\t]*(.*)$`, 'im').exec(text)?.[1]?.trim();
      const method = /^CSeq:[ \t]*\d+[ \t]+(\S+)/im.exec(text)?.[1];
      const i = this.waiters.findIndex((w) => w.method === method);
      if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve({ status: Number(m[1]), text, header });
    });
  }
  static async open(server: number): Promise<RawClient> {
    const socket = createSocket('udp4');
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    return new RawClient(socket, (socket.address() as { port: number }).port, server);
  }
  send(method: string, extra: string[], body = '', contentType?: string): Promise<Response> {
    const cseq = method === 'ACK' ? this.cseq - 1 : this.cseq++;
    const ruri = this.target || `sip:bob@127.0.0.1:${this.server}`;
    const lines = [
      `${method} ${ruri} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${this.port};branch=z9hG4bK${Math.random().toString(36).slice(2)};rport`,
      'Max-Forwards: 70', `From: <sip:raw@127.0.0.1:${this.port}>;tag=raw1`, `To: <sip:bob@127.0.0.1:${this.server}>${this.toTag ? `;tag=${this.toTag}` : ''}`,
      `Call-ID: ${this.callId}`, `CSeq: ${cseq} ${method}`, `Contact: <sip:raw@127.0.0.1:${this.port}>`,
      ...extra, ...(contentType ? [`Content-Type: ${contentType}`] : []), `Content-Length: ${Buffer.byteLength(body)}`, '', body,
    ];
    const p = method === 'ACK' ? Promise.resolve({ status: 0, text: '', header: () => undefined }) : new Promise<Response>((resolve) => this.waiters.push({ method, resolve }));
    this.socket.send(lines.join('\r\n'), this.server, '127.0.0.1');
    return p;
  }
}

const UFRAG = 'rawU';
const PWD = 'rawpasswordrawpassword';

function offer(port: number): string {
  return ['v=0', 'o=raw 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', `m=audio ${port} RTP/AVP 0`, 'a=rtpmap:0 PCMU/8000', 'a=rtcp-mux',
    `a=ice-ufrag:${UFRAG}`, `a=ice-pwd:${PWD}`, 'a=ice-options:trickle', `a=candidate:1 1 UDP 2130706431 127.0.0.1 ${port} typ host`, ''].join('\r\n');
}

function fragment(ufrag: string, pwd: string, port: number): string {
  return [`a=ice-ufrag:${ufrag}`, `a=ice-pwd:${pwd}`, 'm=audio 9 RTP/AVP 0', `a=candidate:2 1 UDP 2130706430 127.0.0.2 ${port} typ host`, 'a=end-of-candidates', ''].join('\r\n');
}

const PKG = ['Info-Package: trickle-ice', 'Content-Disposition: Info-Package'];
const SDPFRAG = 'application/trickle-ice-sdpfrag';

async function withCall(trickle: 'off' | 'half', body: (client: RawClient, ok: Response, summary: () => CallSummary | undefined) => Promise<void>): Promise<void> {
  const phone = await Phone.start({ listen: { address: '127.0.0.1', port: 0 }, media: { addresses: ['127.0.0.1'], play: 'silence', trickle } });
  const media = createSocket('udp4');
  media.bind(0, '127.0.0.1');
  await once(media, 'listening');
  let summary: CallSummary | undefined;
  phone.on('incoming', (call) => {
    void phone.answer(call, { provisional: 'none' });
    call.on('ended', (s) => { summary = s; });
  });
  const client = await RawClient.open(phone.port);
  try {
    const ok = await client.send('INVITE', [], offer((media.address() as { port: number }).port), 'application/sdp');
    expect(ok.status).to.equal(200);
    client.toTag = /;tag=([^;\s>]+)/.exec(ok.header('To') ?? '')![1]!;
    client.target = /<([^>]+)>/.exec(ok.header('Contact') ?? '')![1]!;
    await client.send('ACK', []);
    await body(client, ok, () => summary);
    const bye = await client.send('BYE', []);
    expect(bye.status).to.equal(200);
    for (let i = 0; i < 100 && !summary; i++) await new Promise((r) => setTimeout(r, 20));
    expect(summary?.call.state).to.equal('ended');
  } finally {
    await phone.stop();
    client.socket.close();
    media.close();
  }
}

describe('trickle-ice INFO requests (RFC 8840 §4.3, RFC 6086)', function () {
  this.timeout(20000);

  it('trickle on: Recv-Info in the 2xx; 469 for another package, 415, 400; a good sdpfrag 200 and applied, a stale one dropped', async () => {
    let finalSummary: (() => CallSummary | undefined) | undefined;
    await withCall('half', async (client, ok, summary) => {
      finalSummary = summary;
      expect(ok.header('Recv-Info')).to.equal('trickle-ice');
      expect(ok.text).to.match(/^a=ice-options:trickle\r$/m);
      const other = await client.send('INFO', ['Info-Package: foo', 'Content-Disposition: Info-Package'], 'x', 'text/plain');
      expect(other.status).to.equal(469);
      expect(other.header('Recv-Info')).to.equal('trickle-ice');
      const wrongType = await client.send('INFO', PKG, 'hello', 'text/plain');
      expect(wrongType.status).to.equal(415);
      const bad = await client.send('INFO', PKG, 'not an sdpfrag', SDPFRAG);
      expect(bad.status).to.equal(400);
      const good = await client.send('INFO', PKG, fragment(UFRAG, PWD, 40404), SDPFRAG);
      expect(good.status).to.equal(200);
      const stale = await client.send('INFO', PKG, fragment('oldU', 'oldpasswordoldpassword', 40405), SDPFRAG);
      expect(stale.status).to.equal(200);
    });
    const s = finalSummary!()!;
    expect(s.call.trickle).to.include({ mode: 'half', fragmentsApplied: 1, fragmentsStale: 1 });
    expect(s.ice.remoteCandidates.map((c) => `${c.address}:${c.port}`)).to.include('127.0.0.2:40404');
    expect(s.ice.remoteCandidates.map((c) => `${c.address}:${c.port}`)).to.not.include('127.0.0.2:40405');
  });

  it('trickle off: no Recv-Info, no ice-options, and a trickle-ice INFO gets 469 with an empty Recv-Info', async () => {
    await withCall('off', async (client, ok) => {
      expect(ok.header('Recv-Info')).to.equal(undefined);
      expect(ok.text).to.not.match(/ice-options/);
      const info = await client.send('INFO', PKG, fragment(UFRAG, PWD, 40404), SDPFRAG);
      expect(info.status).to.equal(469);
      expect(info.header('Recv-Info')).to.equal('');
    });
  });

  it('an INFO in an early dialog that no reliable provisional established gets 403 with a Warning (RFC 8840 §4.3; sip.js alone said 469 with an empty Recv-Info)', async () => {
    const phone = await Phone.start({ listen: { address: '127.0.0.1', port: 0 }, media: { addresses: ['127.0.0.1'], play: 'silence', trickle: 'half' } });
    const media = createSocket('udp4');
    media.bind(0, '127.0.0.1');
    await once(media, 'listening');
    const client = await RawClient.open(phone.port);
    let ended = false;
    try {
      const ringing = new Promise<string>((resolve) => client.socket.on('message', (d) => {
        const text = d.toString('utf8');
        if (/^SIP\/2\.0 180 /.test(text)) resolve(/^To:.*;tag=([^;\s>]+)/im.exec(text)![1]!);
      }));
      const answered = new Promise<import('../../lib/sip/user-agent.js').Call>((resolve) => phone.on('incoming', (call) => {
        call.on('ended', () => { ended = true; });
        void phone.ring(call).then(() => resolve(call));
      }));
      const okP = client.send('INVITE', [], offer((media.address() as { port: number }).port), 'application/sdp');
      client.toTag = await ringing;
      const call = await answered;
      const info = await client.send('INFO', PKG, fragment(UFRAG, PWD, 40000), SDPFRAG);
      expect(info.status).to.equal(403);
      expect(info.header('Warning')).to.match(/reliable provisional/);
      void phone.answer(call, { provisional: 'none' });
      const ok = await okP;
      expect(ok.status).to.equal(200);
      client.target = /<([^>]+)>/.exec(ok.header('Contact') ?? '')![1]!;
      await client.send('ACK', []);
      expect((await client.send('BYE', [])).status).to.equal(200);
      for (let i = 0; i < 100 && !ended; i++) await new Promise((r) => setTimeout(r, 20));
      expect(ended).to.equal(true);
    } finally {
      await phone.stop();
      client.socket.close();
      media.close();
    }
  });
});

describe('trickle-ice INFO in the early dialog of our own INVITE (RFC 8840 §4.3)', function () {
  this.timeout(20000);

  it('the caller answers 200 to an INFO that comes right behind the reliable 183 with the answer, before sip.js has told the call of the 183 (it got 403)', async () => {
    const phone = await Phone.start({ listen: { address: '127.0.0.1', port: 0 }, preconditions: 'optional', media: { addresses: ['127.0.0.1'], play: 'silence', trickle: 'full' } });
    const uas = createSocket('udp4');
    uas.bind(0, '127.0.0.1');
    await once(uas, 'listening');
    const uasPort = (uas.address() as { port: number }).port;
    const media = createSocket('udp4');
    media.bind(0, '127.0.0.1');
    await once(media, 'listening');
    const mediaPort = (media.address() as { port: number }).port;
    const infoStatus = new Promise<number>((resolve) => uas.on('message', (data, from) => {
      const text = data.toString('utf8');
      const header = (name: string) => new RegExp(`^${name}:[ \\t]*(.*)$`, 'im').exec(text)?.[1]?.trim() ?? '';
      if (/^INVITE /.test(text)) {
        const contact = /<([^>]+)>/.exec(header('Contact'))?.[1] ?? `sip:alice@127.0.0.1:${from.port}`;
        const answer = ['v=0', 'o=uas 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', `m=audio ${mediaPort} RTP/AVP 0`, 'a=rtpmap:0 PCMU/8000', 'a=rtcp-mux',
          `a=ice-ufrag:${UFRAG}`, `a=ice-pwd:${PWD}`, 'a=ice-options:trickle', `a=candidate:1 1 UDP 2130706431 127.0.0.1 ${mediaPort} typ host`, ''].join('\r\n');
        const ringing = [
          'SIP/2.0 183 Session Progress', `Via: ${header('Via')}`, `From: ${header('From')}`, `To: ${header('To')};tag=uas1`, `Call-ID: ${header('Call-ID')}`,
          `CSeq: ${header('CSeq')}`, `Contact: <sip:bob@127.0.0.1:${uasPort}>`, 'Require: 100rel', 'RSeq: 1', 'Recv-Info: trickle-ice',
          'Content-Type: application/sdp', `Content-Length: ${Buffer.byteLength(answer)}`, '', answer,
        ].join('\r\n');
        const body = fragment(UFRAG, PWD, mediaPort + 2);
        const info = [
          `INFO ${contact} SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:${uasPort};branch=z9hG4bKinfo1;rport`, 'Max-Forwards: 70',
          `From: <sip:bob@127.0.0.1:${uasPort}>;tag=uas1`, `To: ${header('From')}`, `Call-ID: ${header('Call-ID')}`, 'CSeq: 1 INFO',
          `Contact: <sip:bob@127.0.0.1:${uasPort}>`, ...PKG, `Content-Type: ${SDPFRAG}`, `Content-Length: ${Buffer.byteLength(body)}`, '', body,
        ].join('\r\n');
        // Back to back: the INFO is read while sip.js is still applying the answer of the 183.
        uas.send(ringing, from.port, from.address);
        uas.send(info, from.port, from.address);
        return;
      }
      const status = /^SIP\/2\.0 (\d{3}) /.exec(text);
      if (status && /^CSeq:[ \t]*1 INFO/im.test(text)) resolve(Number(status[1]));
    }));
    // Under load, applying the answer took longer than the INFO's trip (seen in test/e2e/trickle.test.ts):
    // here it is made to take 100 ms, so the INFO is read first whatever the machine's speed.
    const proto = MediaSession.prototype as unknown as { setDescription(this: MediaSession, sdp: string): Promise<void> };
    const setDescription = proto.setDescription;
    proto.setDescription = async function (this: MediaSession, sdp: string) {
      await new Promise((r) => setTimeout(r, 100));
      return setDescription.call(this, sdp);
    };
    try {
      phone.call(`sip:bob@127.0.0.1:${uasPort}`);
      expect(await infoStatus).to.equal(200);
    } finally {
      proto.setDescription = setDescription;
      await phone.stop();
      uas.close();
      media.close();
    }
  });
});
