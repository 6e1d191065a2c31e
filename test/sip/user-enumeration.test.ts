/**
 * User enumeration (issue 13): a Phone answering only `alice` must not tell a scanner which users
 * exist. From a raw SIP client on loopback, requests to alice and to users it does not serve:
 * - without auth: OPTIONS and REGISTER get the same status whatever the user (sip.js alone answered
 *   404 to every user but its own); an INVITE to any user but alice gets the same 404;
 * - with auth: every out-of-dialog request (INVITE, OPTIONS, REGISTER, MESSAGE) to any user gets the
 *   same 401 with the same challenge headers; only an authenticated INVITE learns alice from 404.
 */
import { expect } from 'chai';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { Phone } from '../../lib/sip/user-agent.js';

interface Reply { status: number; text: string }

class Prober {
  private waiters = new Map<string, (r: Reply) => void>();
  private n = 0;
  constructor(readonly socket: Socket, readonly port: number, readonly server: number) {
    socket.on('message', (data) => {
      const text = data.toString('utf8');
      const m = /^SIP\/2\.0 (\d{3})/.exec(text);
      const callId = /^Call-ID:\s*(\S+)/im.exec(text)?.[1];
      if (!m || !callId || Number(m[1]) < 200) return;
      const w = this.waiters.get(callId);
      this.waiters.delete(callId);
      w?.({ status: Number(m[1]), text });
    });
  }
  static async open(server: number): Promise<Prober> {
    const socket = createSocket('udp4');
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    return new Prober(socket, (socket.address() as { port: number }).port, server);
  }
  /** Sends one out-of-dialog request to `user` and resolves with its final response (ACKing a non-2xx INVITE answer). */
  request(method: string, user: string): Promise<Reply> {
    const callId = `enum-${++this.n}-${Date.now()}`;
    const branch = `z9hG4bK${Math.random().toString(36).slice(2)}`;
    const ruri = `sip:${user}@127.0.0.1:${this.server}`;
    const head = (m: string) => [
      `${m} ${ruri} SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:${this.port};branch=${branch};rport`, 'Max-Forwards: 70',
      `From: <sip:scan@127.0.0.1:${this.port}>;tag=s${this.n}`, `To: <${ruri}>`, `Call-ID: ${callId}`, `CSeq: 1 ${m}`,
      `Contact: <sip:scan@127.0.0.1:${this.port}>`,
    ];
    const p = new Promise<Reply>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no final response to ${method} ${ruri}`)), 10000);
      this.waiters.set(callId, (r) => {
        clearTimeout(t);
        if (method === 'INVITE' && r.status >= 300) {
          const toTag = /^To:[^\r\n]*;tag=([^;\s]+)/im.exec(r.text)?.[1] ?? '';
          const ack = head('ACK').map((l) => (l.startsWith('To:') ? `${l};tag=${toTag}` : l));
          this.socket.send([...ack, 'Content-Length: 0', '', ''].join('\r\n'), this.server, '127.0.0.1');
        }
        resolve(r);
      });
    });
    this.socket.send([...head(method), 'Content-Length: 0', '', ''].join('\r\n'), this.server, '127.0.0.1');
    return p;
  }
  close(): void {
    this.socket.close();
  }
}

/** The response with everything that legitimately varies per request (tags, nonce, Via, Call-ID, users) blanked. */
function shape(r: Reply): string {
  return r.text
    .split('\r\n')
    .filter((l) => !/^(Via|Call-ID|CSeq|Content-Length):/i.test(l))
    .map((l) => l.replace(/tag=[^;\s>]+/g, 'tag=T').replace(/nonce="[^"]+"/g, 'nonce="N"').replace(/sip:[^@>]+@/g, 'sip:U@'))
    .join('\n');
}

describe('sip/user-enumeration: the same answer for every user it does not serve', function () {
  this.timeout(30000);
  const users = ['alice', 'bob', 'admin', '100'];

  it('without auth: OPTIONS and REGISTER answer the same for alice and anyone; INVITE to others: 404 each', async () => {
    const phone = await Phone.start({ listen: { address: '127.0.0.1', port: 0 }, user: 'alice', restrictUser: true, media: { addresses: ['127.0.0.1'] } });
    const prober = await Prober.open(phone.port);
    const incoming: string[] = [];
    phone.on('incoming', (c) => { incoming.push(c.callId); void phone.reject(c, 486); });
    try {
      for (const method of ['OPTIONS', 'REGISTER']) {
        const replies = await Promise.all(users.map((u) => prober.request(method, u)));
        expect(new Set(replies.map((r) => r.status)).size, `${method}: ${replies.map((r) => r.status)}`).to.equal(1);
        expect(new Set(replies.map(shape)).size).to.equal(1);
      }
      const invites = await Promise.all(users.filter((u) => u !== 'alice').map((u) => prober.request('INVITE', u)));
      expect(invites.map((r) => r.status)).to.deep.equal([404, 404, 404]);
      expect(new Set(invites.map(shape)).size).to.equal(1);
      expect(incoming).to.have.length(0);
    } finally {
      prober.close();
      await phone.stop();
    }
  });

  it('with auth: INVITE, OPTIONS, REGISTER and MESSAGE to any user get the same 401 challenge; no call', async () => {
    const phone = await Phone.start({
      listen: { address: '127.0.0.1', port: 0 }, user: 'alice', restrictUser: true, media: { addresses: ['127.0.0.1'] },
      auth: { username: 'alice', password: 'not-guessable-9' },
    });
    const prober = await Prober.open(phone.port);
    let incoming = 0;
    phone.on('incoming', () => incoming++);
    try {
      for (const method of ['INVITE', 'OPTIONS', 'REGISTER', 'MESSAGE']) {
        const replies = await Promise.all(users.map((u) => prober.request(method, u)));
        expect(replies.map((r) => r.status), method).to.deep.equal([401, 401, 401, 401]);
        expect(new Set(replies.map(shape)).size, method).to.equal(1);
        expect(replies[0]!.text).to.match(/^WWW-Authenticate: Digest [^\r\n]*algorithm=SHA-256/m);
      }
      expect(incoming).to.equal(0);
      expect(phone.authStats).to.include({ challenged: 16, accepted: 0, failed: 0 });
    } finally {
      prober.close();
      await phone.stop();
    }
  });
});
