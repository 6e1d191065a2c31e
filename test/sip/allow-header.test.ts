/**
 * Allow lists what icephone answers (RFC 3261 §20.5), per Phone and never by changing sip.js's
 * process-wide AllowedMethods: the INVITE, its 200, an OPTIONS 200 and a 405 to MESSAGE on the
 * wire name INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, PRACK, INFO, REFER, NOTIFY, and none of
 * REGISTER, SUBSCRIBE, MESSAGE; a REGISTER and a SUBSCRIBE sent to the Phone really get 405.
 */
import { expect } from 'chai';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { AllowedMethods } from 'sip.js/lib/core/user-agent-core/allowed-methods.js';
import { ANSWERED_METHODS, rewriteAllow } from '../../lib/sip/sipjs/allow-header.js';
import { Phone } from '../../lib/sip/user-agent.js';

const SIPJS_DEFAULT = ['ACK', 'BYE', 'CANCEL', 'INFO', 'INVITE', 'MESSAGE', 'NOTIFY', 'OPTIONS', 'PRACK', 'REFER', 'REGISTER', 'SUBSCRIBE'];
const ANSWERED = ['INVITE', 'ACK', 'CANCEL', 'BYE', 'OPTIONS', 'UPDATE', 'PRACK', 'INFO', 'REFER', 'NOTIFY'];

function header(text: string, name: string): string[] {
  const head = text.slice(0, text.indexOf('\r\n\r\n'));
  return head.split('\r\n').filter((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`)).map((l) => l.slice(l.indexOf(':') + 1).trim());
}
const methodsOf = (allow: string) => allow.split(',').map((m) => m.trim()).sort();

/** Sends one out-of-dialog request from a raw UDP socket and returns the first final response's text. */
async function rawRequest(method: string, port: number): Promise<string> {
  const socket = createSocket('udp4');
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  const own = (socket.address() as { port: number }).port;
  try {
    const final = new Promise<string>((resolve) => socket.on('message', (d) => {
      const t = d.toString('utf8');
      if (/^SIP\/2\.0 [2-6]\d\d/.test(t)) resolve(t);
    }));
    const body = method === 'MESSAGE' ? 'hello' : '';
    const lines = [
      `${method} sip:bob@127.0.0.1:${port} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${own};branch=z9hG4bK${Math.random().toString(36).slice(2)};rport`,
      'Max-Forwards: 70', `From: <sip:raw@127.0.0.1:${own}>;tag=r1`, `To: <sip:bob@127.0.0.1:${port}>`,
      `Call-ID: allow-${method}-${Date.now()}@127.0.0.1`, `CSeq: 1 ${method}`, `Contact: <sip:raw@127.0.0.1:${own}>`,
      ...(method === 'SUBSCRIBE' ? ['Event: presence', 'Expires: 60'] : []),
      ...(body ? ['Content-Type: text/plain'] : []), `Content-Length: ${body.length}`, '', body,
    ];
    socket.send(lines.join('\r\n'), port, '127.0.0.1');
    return await final;
  } finally {
    socket.close();
  }
}

describe('Allow lists only what icephone answers (RFC 3261 §20.5)', function () {
  this.timeout(20000);

  it('rewriteAllow replaces Allow in the header section only, one line, body untouched', () => {
    const body = 'Allow: REGISTER\r\n';
    const msg = `SIP/2.0 200 OK\r\nVia: x\r\nAllow: ACK,BYE,REGISTER\r\nallow : MESSAGE\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    const out = rewriteAllow(msg);
    expect(header(out, 'Allow')).to.deep.equal([ANSWERED_METHODS.join(', ')]);
    expect(out.endsWith(`\r\n\r\n${body}`)).to.equal(true);
    const none = 'OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n';
    expect(rewriteAllow(none)).to.equal(none);
  });

  it('INVITE, 200 INVITE, OPTIONS 200 and the 405s on the wire; sip.js AllowedMethods untouched', async () => {
    const sent: string[] = [];
    const trace = (dir: 'send' | 'recv', text: string) => { if (dir === 'send') sent.push(text); };
    const callee = await Phone.start({ listen: { address: '127.0.0.1', port: 0 }, media: { addresses: ['127.0.0.1'], play: 'silence' }, trace });
    const caller = await Phone.start({ listen: { address: '127.0.0.1', port: 0 }, media: { addresses: ['127.0.0.1'], play: 'silence' }, trace });
    try {
      callee.on('incoming', (c) => void callee.answer(c, { provisional: 'none' }));
      const call = caller.call(`sip:bob@127.0.0.1:${callee.port}`);
      await new Promise<void>((resolve) => call.on('established', () => resolve()));
      const options = await rawRequest('OPTIONS', callee.port);
      const message = await rawRequest('MESSAGE', callee.port);
      const register = await rawRequest('REGISTER', callee.port);
      const subscribe = await rawRequest('SUBSCRIBE', callee.port);
      await call.hangup();

      const invite = sent.find((t) => t.startsWith('INVITE '));
      const ok = sent.find((t) => t.startsWith('SIP/2.0 200') && /^CSeq:\s*\d+ INVITE/im.test(t));
      expect(invite, 'INVITE sent').to.be.a('string');
      expect(ok, '200 INVITE sent').to.be.a('string');
      for (const [what, text] of [['INVITE', invite!], ['200 INVITE', ok!], ['OPTIONS 200', options]] as const) {
        const allow = header(text, 'Allow');
        expect(allow, `${what}: one Allow`).to.have.length(1);
        expect(methodsOf(allow[0]!), `${what} Allow`).to.deep.equal([...ANSWERED].sort());
      }
      expect(options).to.match(/^SIP\/2\.0 200/);
      for (const [what, text] of [['MESSAGE', message], ['REGISTER', register], ['SUBSCRIBE', subscribe]] as const) {
        expect(text, `${what} refused`).to.match(/^SIP\/2\.0 405/);
        expect(methodsOf(header(text, 'Allow')[0] ?? ''), `${what} 405 Allow`).to.deep.equal([...ANSWERED].sort());
      }
      expect(sent.every((t) => header(t, 'Allow').every((a) => !/\b(REGISTER|SUBSCRIBE|MESSAGE)\b/.test(a))), 'no Allow names REGISTER/SUBSCRIBE/MESSAGE').to.equal(true);
      // The shared sip.js list is as sip.js ships it, with two Phones running in this process.
      expect([...AllowedMethods]).to.deep.equal(SIPJS_DEFAULT);
    } finally {
      await caller.stop();
      await callee.stop();
    }
  });
});
