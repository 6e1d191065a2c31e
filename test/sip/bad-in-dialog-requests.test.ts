/**
 * Bad in-dialog requests against a live call of the library's Phone, from a raw SIP client on
 * loopback: a REFER without Refer-To, an INFO with a bad DTMF body or an unknown body type, and a
 * re-INVITE whose SDP has conflicting direction attributes each get a clear 4xx (with a Warning
 * saying why where a reason helps); the call is unaffected and ends normally with BYE.
 */
import { expect } from 'chai';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { Phone } from '../../lib/sip/user-agent.js';
import type { CallSummary } from '../../lib/sip/user-agent.js';

interface Response { status: number; text: string; header(name: string): string | undefined }

class RawClient {
  private waiters: Array<(r: Response) => void> = [];
  private cseq = 1;
  readonly callId = `bad-${Date.now()}@127.0.0.1`;
  toTag = '';
  target = '';
  constructor(readonly socket: Socket, readonly port: number, readonly server: number) {
    socket.on('message', (data) => {
      const text = data.toString('utf8');
      const m = /^SIP\/2\.0 (\d{3})/.exec(text);
      if (!m) return;
      const status = Number(m[1]);
      if (status < 200 && status !== 183) return;
      const header = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'im').exec(text)?.[1]?.trim();
      this.waiters.shift()?.({ status, text, header });
    });
  }
  static async open(server: number): Promise<RawClient> {
    const socket = createSocket('udp4');
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    return new RawClient(socket, (socket.address() as { port: number }).port, server);
  }
  private lastInviteBranch = '';
  /** `ackFor: 'failure'`: the ACK of a non-2xx final shares the INVITE's branch (RFC 3261 §17.1.1.3). */
  send(method: string, extra: string[], body = '', contentType?: string, ackFor: 'success' | 'failure' = 'success'): Promise<Response> {
    const cseq = method === 'ACK' ? this.cseq - 1 : this.cseq++;
    const branch = method === 'ACK' && ackFor === 'failure' ? this.lastInviteBranch : `z9hG4bK${Math.random().toString(36).slice(2)}`;
    if (method === 'INVITE') this.lastInviteBranch = branch;
    const ruri = this.target || `sip:bob@127.0.0.1:${this.server}`;
    const lines = [
      `${method} ${ruri} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${this.port};branch=${branch};rport`,
      'Max-Forwards: 70', `From: <sip:raw@127.0.0.1:${this.port}>;tag=raw1`, `To: <sip:bob@127.0.0.1:${this.server}>${this.toTag ? `;tag=${this.toTag}` : ''}`,
      `Call-ID: ${this.callId}`, `CSeq: ${cseq} ${method}`, `Contact: <sip:raw@127.0.0.1:${this.port}>`,
      ...extra, ...(contentType ? [`Content-Type: ${contentType}`] : []), `Content-Length: ${Buffer.byteLength(body)}`, '', body,
    ];
    const p = method === 'ACK' ? Promise.resolve({ status: 0, text: '', header: () => undefined }) : new Promise<Response>((r) => this.waiters.push(r));
    this.socket.send(lines.join('\r\n'), this.server, '127.0.0.1');
    return p;
  }
}

function sdp(port: number, extra: string[] = []): string {
  return ['v=0', 'o=raw 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', `m=audio ${port} RTP/AVP 0`, 'a=rtpmap:0 PCMU/8000', ...extra, ''].join('\r\n');
}

describe('bad in-dialog requests get a clear 4xx and leave the call alone', function () {
  this.timeout(20000);

  it('REFER without Refer-To → 400 + Warning; INFO bad DTMF body → 400 + Warning; INFO text/plain → 415; re-INVITE sendonly+recvonly → 488; then BYE → 200', async () => {
    const phone = await Phone.start({ listen: { address: '127.0.0.1', port: 0 }, media: { addresses: ['127.0.0.1'], play: 'silence' } });
    const media = createSocket('udp4');
    media.bind(0, '127.0.0.1');
    await once(media, 'listening');
    const mediaPort = (media.address() as { port: number }).port;
    let summary: CallSummary | undefined;
    phone.on('incoming', (call) => {
      void phone.answer(call, { provisional: 'none' });
      call.on('ended', (s) => { summary = s; });
    });
    const client = await RawClient.open(phone.port);
    try {
      const ok = await client.send('INVITE', [], sdp(mediaPort), 'application/sdp');
      expect(ok.status).to.equal(200);
      client.toTag = /;tag=([^;\s>]+)/.exec(ok.header('To') ?? '')![1]!;
      client.target = /<([^>]+)>/.exec(ok.header('Contact') ?? '')![1]!;
      await client.send('ACK', []);

      const refer = await client.send('REFER', []);
      expect(refer.status).to.equal(400);
      expect(refer.header('Warning')).to.match(/Refer-To/);

      const badInfo = await client.send('INFO', [], 'Signal=Z\r\nDuration=100\r\n', 'application/dtmf-relay');
      expect(badInfo.status).to.equal(400);
      expect(badInfo.header('Warning')).to.match(/DTMF/);
      const otherInfo = await client.send('INFO', [], 'hello', 'text/plain');
      expect(otherInfo.status).to.equal(415);
      const goodInfo = await client.send('INFO', [], 'Signal=7\r\nDuration=160\r\n', 'application/dtmf-relay');
      expect(goodInfo.status).to.equal(200);

      const reinvite = await client.send('INVITE', [], sdp(mediaPort, ['a=sendonly', 'a=recvonly']), 'application/sdp');
      expect(reinvite.status).to.equal(488);
      await client.send('ACK', [], '', undefined, 'failure');

      const bye = await client.send('BYE', []);
      expect(bye.status).to.equal(200);
      for (let i = 0; i < 50 && !summary; i++) await new Promise((r) => setTimeout(r, 20));
      expect(summary?.call.state).to.equal('ended');
      expect(summary?.call.dtmf.received, 'the good INFO still counted').to.equal('7');
    } finally {
      await phone.stop();
      client.socket.close();
      media.close();
    }
  });
});
