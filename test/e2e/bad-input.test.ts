/**
 * Bad input is counted and dropped, never a crash: garbage datagrams on the SIP and media ports,
 * an INVITE with a malformed SDP, a STUN check with a wrong MESSAGE-INTEGRITY (answered 401,
 * RFC 8489 §9.1.3). The call in progress is unaffected. A bad flag or URI exits 2 with one line.
 */
import { expect } from 'chai';
import { createSocket, type Socket } from 'node:dgram';
import { join } from 'node:path';
import { StunAttr, StunMessage, StunMethod } from '../../lib/stun/message.js';
import { shortTermKey } from '../../lib/stun/integrity.js';
import { freePortPair } from '../helpers/ports.js';
import { exitWithin, runIcephone } from '../helpers/icephone.js';
import { assertToneInWav } from '../helpers/tone.js';
import { testTempDir } from '../helpers/tmp.js';

function udpExchange(sock: Socket, data: Buffer, port: number, timeoutMs = 3000): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      sock.off('message', onMsg);
      resolve(undefined);
    }, timeoutMs);
    const onMsg = (msg: Buffer) => {
      clearTimeout(t);
      sock.off('message', onMsg);
      resolve(msg);
    };
    sock.on('message', onMsg);
    sock.send(data, port, '127.0.0.1');
  });
}

function badSdpInvite(port: number, localPort: number, id: string): Buffer {
  const body = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nthis is not sdp\r\nm=audio notaport RTP/AVP 0\r\n';
  return Buffer.from(
    `INVITE sip:bob@127.0.0.1:${port} SIP/2.0\r\n` +
      `Via: SIP/2.0/UDP 127.0.0.1:${localPort};branch=z9hG4bK-bad-sdp-${id};rport\r\n` +
      `Max-Forwards: 70\r\nFrom: <sip:mallory@127.0.0.1>;tag=bad1\r\nTo: <sip:bob@127.0.0.1>\r\n` +
      `Call-ID: bad-sdp-${id}@127.0.0.1\r\nCSeq: 1 INVITE\r\nContact: <sip:mallory@127.0.0.1:${localPort}>\r\n` +
      `Content-Type: application/sdp\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/**
 * The ACK for a 300-699 final to that INVITE (RFC 3261 §17.1.1.3): same branch, To with the
 * response's tag. Without it the callee keeps retransmitting the final (Timer G) and, on exit,
 * waits for the ACK up to Timer H (64·T1) before closing its transport.
 */
function ackFor(finalResponse: string, port: number, localPort: number, id: string): Buffer {
  const to = /^To:.*$/im.exec(finalResponse)![0];
  return Buffer.from(
    `ACK sip:bob@127.0.0.1:${port} SIP/2.0\r\n` +
      `Via: SIP/2.0/UDP 127.0.0.1:${localPort};branch=z9hG4bK-bad-sdp-${id};rport\r\n` +
      `Max-Forwards: 70\r\nFrom: <sip:mallory@127.0.0.1>;tag=bad1\r\n${to}\r\n` +
      `Call-ID: bad-sdp-${id}@127.0.0.1\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n`,
  );
}

describe('bad input during a call', function () {
  this.timeout(40000);

  it('drops garbage, rejects a malformed SDP and a bad STUN check, and the call still has two-way audio', async () => {
    const dir = testTempDir('icephone-bad-');
    const port = await freePortPair();
    const answer = runIcephone([
      'answer', '--listen', `127.0.0.1:${port}`, '--max-calls', '1', '--play', 'tone:660', '--record', join(dir, 'callee.wav'), '--json',
    ]);
    await answer.waitForStderr(/sip: listening/, 15000);
    const sock = createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    const localPort = sock.address().port;
    try {
      // Garbage on the SIP port before any call.
      for (const g of ['\x00\x01garbage', 'INVITE\r\n\r\n', 'SIP/2.0 200\r\n\r\n', Buffer.alloc(300, 0xff).toString('latin1')]) {
        sock.send(Buffer.from(g, 'latin1'), port, '127.0.0.1');
      }
      // An INVITE whose SDP is malformed: answered 488 with a Warning saying why; not a call.
      const finals: string[] = [];
      const collect = (m: Buffer) => { if (/^SIP\/2\.0 [2-6]/.test(m.toString())) finals.push(m.toString()); };
      sock.on('message', collect);
      const id = String(Date.now());
      sock.send(badSdpInvite(port, localPort, id), port, '127.0.0.1');
      for (let i = 0; i < 30 && finals.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
      sock.off('message', collect);
      expect(finals, 'a final response to the INVITE with a malformed SDP').to.have.length.greaterThan(0);
      expect(finals[0]).to.match(/^SIP\/2\.0 488 /);
      expect(finals[0]).to.match(/^Warning: 399 icephone ".+"/m);
      sock.send(ackFor(finals[0]!, port, localPort, id), port, '127.0.0.1');

      const call = runIcephone([
        'call', `sip:bob@127.0.0.1:${port}`, '--listen', '127.0.0.1:0', '--duration', '3', '--play', 'tone:440',
        '--record', join(dir, 'caller.wav'), '--json',
      ]);
      const m = await answer.waitForStderr(/ice: gathered host 127\.0\.0\.1:(\d+)/, 15000);
      const mediaPort = Number(m[1]);
      // Garbage on the media port.
      for (let i = 0; i < 20; i++) sock.send(Buffer.from(`junk ${i} \u0000\u00ff`), mediaPort, '127.0.0.1');
      sock.send(Buffer.from([0x80, 0x00, 0x00]), mediaPort, '127.0.0.1'); // truncated RTP header
      // A Binding request whose MESSAGE-INTEGRITY was computed with the wrong password.
      const req = new StunMessage({ method: StunMethod.Binding, messageClass: 'request' })
        .addUsername('nobody:knows')
        .addPriority(1853824767)
        .addIceControlling(12345n);
      const stunResp = await udpExchange(sock, req.encode({ integrityKey: shortTermKey('this-is-the-wrong-password'), fingerprint: true }), mediaPort);
      expect(stunResp, 'a STUN error response').to.not.equal(undefined);
      const decoded = StunMessage.decode(stunResp!);
      expect(decoded.messageClass).to.equal('error');
      expect(decoded.getErrorCode()?.code).to.equal(401);
      expect(decoded.has(StunAttr.MESSAGE_INTEGRITY)).to.equal(false);

      const [callCode, answerCode] = await Promise.all([exitWithin(call, 30000), exitWithin(answer, 30000)]);
      expect(answerCode, answer.stderr().slice(-3000)).to.equal(0);
      expect(callCode, call.stderr().slice(-3000)).to.equal(0);
      const [as] = answer.summaries().filter((s) => s.rtp.packetsReceived > 0);
      expect(as.dropped.sipMalformed).to.be.at.least(3);
      expect(as.dropped.mediaMalformed).to.be.at.least(20);
      expect(as.dropped.stunUnauthorized).to.be.at.least(1);
      await assertToneInWav(join(dir, 'callee.wav'), 440);
      await assertToneInWav(join(dir, 'caller.wav'), 660);
    } finally {
      sock.close();
      answer.kill('SIGKILL');
    }
  });
});

describe('bad flags and URIs', function () {
  this.timeout(20000);
  const cases: Array<[string, string[], RegExp]> = [
    ['an unknown flag', ['call', 'sip:a@127.0.0.1', '--listen', '127.0.0.1:0', '--bogus'], /bogus/],
    ['a call without a URI', ['call', '--listen', '127.0.0.1:0'], /SIP-URI|URI/],
    ['an unparseable URI', ['call', 'http://example.com/x', '--listen', '127.0.0.1:0'], /not a SIP URI/],
    ['a bad --listen', ['answer', '--listen', 'nowhere'], /--listen/],
    ['a port out of range', ['answer', '--listen', '127.0.0.1:70000'], /out of range/],
    ['a bad --transport', ['answer', '--listen', '127.0.0.1:0', '--transport', 'carrier-pigeon'], /--transport/],
    ['a bad STUN URI', ['call', 'sip:a@127.0.0.1', '--listen', '127.0.0.1:0', '--stun', 'stun:'], /STUN/],
    ['an unknown command', ['dial'], /unknown command/],
  ];
  for (const [what, args, re] of cases) {
    it(`exits 2 with one line for ${what}`, async () => {
      const run = runIcephone(args);
      const code = await exitWithin(run, 15000);
      expect(code).to.equal(2);
      const lines = run.stderr().trim().split('\n');
      expect(lines, run.stderr()).to.have.length(1);
      expect(lines[0]).to.match(/^icephone: /).and.to.match(re);
    });
  }
});
