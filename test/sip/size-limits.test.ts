/**
 * Issue 13: SIP messages over the documented sizes (lib/net/sip-size-limits.ts) are counted as
 * malformed and dropped before any parsing; messages under them are served as before.
 */
import { expect } from 'chai';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import * as net from 'node:net';
import { SIP_MAX_HEADER_BYTES, SIP_MAX_STREAM_BODY_BYTES, SIP_MAX_UDP_DATAGRAM_BYTES } from '../../lib/net/sip-size-limits.js';
import { SDP_MAX_BYTES, SDP_MAX_LINES, parseDescription } from '../../lib/sdp/offer-answer.js';
import { Phone } from '../../lib/sip/user-agent.js';

async function until(what: string, cond: () => boolean, deadlineMs = 5000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** An OPTIONS padded with an X-Pad header to exactly `size` bytes (no body). */
function options(phonePort: number, viaPort: number, id: string, size: number, transport = 'UDP'): Buffer {
  const head = [
    `OPTIONS sip:icephone@127.0.0.1:${phonePort} SIP/2.0`, `Via: SIP/2.0/${transport} 127.0.0.1:${viaPort};branch=z9hG4bK${id}`, 'Max-Forwards: 70',
    `From: <sip:probe@127.0.0.1:${viaPort}>;tag=p1`, `To: <sip:icephone@127.0.0.1:${phonePort}>`, `Call-ID: ${id}@127.0.0.1`, 'CSeq: 1 OPTIONS', 'Content-Length: 0',
  ].join('\r\n');
  const rest = size - Buffer.byteLength(head) - '\r\nX-Pad: '.length - 4;
  return Buffer.from(`${head}\r\nX-Pad: ${'a'.repeat(rest)}\r\n\r\n`);
}

describe('SIP size limits before parsing (issue 13)', function () {
  this.timeout(20000);

  it(`UDP: a datagram over ${SIP_MAX_UDP_DATAGRAM_BYTES} bytes is counted and dropped unanswered; one of 12 KiB is answered`, async () => {
    const phone = await Phone.start({ listen: { address: '127.0.0.1', port: 0 }, media: { addresses: ['127.0.0.1'] } });
    const sock = createSocket('udp4');
    sock.bind(0, '127.0.0.1');
    await once(sock, 'listening');
    const port = (sock.address() as { port: number }).port;
    const answers: string[] = [];
    sock.on('message', (d) => answers.push(d.toString('utf8')));
    try {
      const big = options(phone.port, port, `big${Date.now()}`, SIP_MAX_UDP_DATAGRAM_BYTES + 1);
      expect(big.length).to.equal(SIP_MAX_UDP_DATAGRAM_BYTES + 1);
      sock.send(big, phone.port, '127.0.0.1');
      await until('the oversize datagram counted', () => phone.sipMalformedDropped === 1);
      // A smaller one afterwards is answered: the big one got no answer and the phone is fine.
      sock.send(options(phone.port, port, `ok${Date.now()}`, 12 * 1024), phone.port, '127.0.0.1');
      await until('an answer to the 12 KiB OPTIONS', () => answers.length > 0);
      expect(answers).to.have.length(1);
      expect(answers[0]).to.match(/^SIP\/2\.0 200 /);
      expect(answers[0]).to.include('branch=z9hG4bKok');
      expect(phone.sipMalformedDropped).to.equal(1);
    } finally {
      sock.close();
      await phone.stop();
    }
  });

  for (const [what, message] of [
    [`a header section over ${SIP_MAX_HEADER_BYTES} bytes`, (p: number, v: number) => options(p, v, 'hdr', SIP_MAX_HEADER_BYTES + 100, 'TCP')],
    [`a Content-Length over ${SIP_MAX_STREAM_BODY_BYTES}`, (p: number, v: number) => Buffer.from(options(p, v, 'body', 600, 'TCP').toString('latin1').replace('Content-Length: 0', `Content-Length: ${SIP_MAX_STREAM_BODY_BYTES + 1}`))],
  ] as const) {
    it(`TCP: ${what} closes the connection and is counted`, async () => {
      const phone = await Phone.start({ listen: { address: '127.0.0.1', port: 0 }, transport: 'tcp', media: { addresses: ['127.0.0.1'] } });
      const conn = net.connect(phone.port, '127.0.0.1');
      await once(conn, 'connect');
      let received = '';
      conn.on('data', (d) => { received += d.toString('latin1'); });
      conn.on('error', () => undefined);
      try {
        conn.write(message(phone.port, conn.localPort!));
        await until('the stream counted as malformed', () => phone.sipMalformedDropped === 1);
        await until('the connection closed', () => conn.destroyed || conn.readableEnded);
        expect(received).to.equal('');
      } finally {
        conn.destroy();
        await phone.stop();
      }
    });
  }

  it(`SDP: over ${SDP_MAX_BYTES} bytes or ${SDP_MAX_LINES} lines is refused before parsing`, () => {
    const sdp = (extra: string[]) => ['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=audio 4000 RTP/AVP 0', ...extra, ''].join('\r\n');
    expect(parseDescription(sdp(['a=x:' + 'y'.repeat(8000)])).port).to.equal(4000);
    expect(() => parseDescription(sdp(['a=x:' + 'y'.repeat(SDP_MAX_BYTES)]))).to.throw(/exceeds the 16384-byte limit/);
    const lines = Array.from({ length: SDP_MAX_LINES - 6 }, () => 'a=sendrecv');
    expect(parseDescription(sdp(lines)).port).to.equal(4000); // exactly SDP_MAX_LINES lines
    expect(() => parseDescription(sdp([...lines, 'a=sendrecv']))).to.throw(/more than 512 lines/);
  });
});
