/**
 * Control bytes from the wire never reach stderr raw, and only our own reasons go back on the wire.
 * A raw UDP client sends `icephone answer --trace` two INVITEs whose SDP carries ESC sequences
 * (`\x1b[31m`, `\x1b[2J`, a C1 CSI, DEL): the first has an unusable c= line (488), the second is a
 * call with a malformed `a=rtcp` line the media session logs as dropped. Every such byte shows up
 * in stderr escaped (`\x1b[31m` as the four characters `\x1b` then `[31m`), never raw, in the
 * trace and in the log lines alike; the 488's Warning is printable ASCII only.
 */
import { expect } from 'chai';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { freePortPair } from '../helpers/ports.js';
import { exitWithin, runIcephone } from '../helpers/icephone.js';

const RAW_CONTROLS = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/;

function invite(port: number, local: number, mediaPort: number, id: string, sdpExtra: string[], cLine = 'c=IN IP4 127.0.0.1'): Buffer {
  const body = ['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=\x1b[2Jcleared', cLine, 't=0 0', `m=audio ${mediaPort} RTP/AVP 0`, 'a=rtpmap:0 PCMU/8000', ...sdpExtra, ''].join('\r\n');
  return Buffer.from(
    `INVITE sip:bob@127.0.0.1:${port} SIP/2.0\r\n` +
      `Via: SIP/2.0/UDP 127.0.0.1:${local};branch=z9hG4bK-ctl-${id};rport\r\n` +
      `Max-Forwards: 70\r\nFrom: <sip:mallory@127.0.0.1>;tag=ctl1\r\nTo: <sip:bob@127.0.0.1>\r\n` +
      `Call-ID: ctl-${id}@127.0.0.1\r\nCSeq: 1 INVITE\r\nContact: <sip:mallory@127.0.0.1:${local}>\r\n` +
      `Content-Type: application/sdp\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

function inDialog(method: 'ACK' | 'BYE', final: string, port: number, local: number, id: string, cseq: number, branch: string): Buffer {
  const to = /^To:[^\r\n]*/im.exec(final)![0];
  return Buffer.from(
    `${method} sip:bob@127.0.0.1:${port} SIP/2.0\r\n` +
      `Via: SIP/2.0/UDP 127.0.0.1:${local};branch=${branch};rport\r\n` +
      `Max-Forwards: 70\r\nFrom: <sip:mallory@127.0.0.1>;tag=ctl1\r\n${to}\r\n` +
      `Call-ID: ctl-${id}@127.0.0.1\r\nCSeq: ${cseq} ${method}\r\nContent-Length: 0\r\n\r\n`,
  );
}

function nextFinal(sock: Socket, callId: string, method: string): Promise<string> {
  return new Promise((resolve) => {
    const on = (m: Buffer) => {
      const t = m.toString('latin1');
      if (/^SIP\/2\.0 [2-6]/.test(t) && t.includes(callId) && new RegExp(`^CSeq:\\s*\\d+ ${method}`, 'im').test(t)) {
        sock.off('message', on);
        resolve(t);
      }
    };
    sock.on('message', on);
  });
}

describe('control bytes from the wire are escaped on stderr; Warning text is ours', function () {
  this.timeout(60000);

  it('ESC/C1/DEL in SDP lines reach stderr escaped (trace and log), the 488 Warning is printable ASCII', async () => {
    const port = await freePortPair();
    const answer = runIcephone(['answer', '--listen', `127.0.0.1:${port}`, '--max-calls', '1', '--play', 'silence', '--trace']);
    await answer.waitForStderr(/sip: listening/, 15000);
    const sock = createSocket('udp4');
    sock.bind(0, '127.0.0.1');
    await once(sock, 'listening');
    const local = sock.address().port;
    try {
      // 1: an unusable c= line quoting ESC and C1 CSI: 488 with our Warning, nothing raw anywhere.
      const rejected = nextFinal(sock, 'ctl-a@', 'INVITE');
      sock.send(invite(port, local, local, 'a', [], 'c=IN IP4 \x1b[31m\u009b1m'), port, '127.0.0.1');
      const r488 = await rejected;
      expect(r488).to.match(/^SIP\/2\.0 488/);
      const warning = /^Warning:(.*)$/im.exec(r488)?.[1] ?? '';
      expect(warning, 'a Warning says why').to.match(/399 icephone "c= address/);
      expect(/^[\x20-\x7e]*$/.test(warning.replace(/\r$/, '')), `Warning printable ASCII: ${JSON.stringify(warning)}`).to.equal(true);
      sock.send(inDialog('ACK', r488, port, local, 'a', 1, 'z9hG4bK-ctl-a'), port, '127.0.0.1');

      // 2: a call whose SDP has a malformed a=rtcp line with ESC and DEL: logged as dropped, escaped.
      const answered = nextFinal(sock, 'ctl-b@', 'INVITE');
      sock.send(invite(port, local, local, 'b', ['a=rtcp:\x1b[31mred\x7f']), port, '127.0.0.1');
      const ok = await answered;
      expect(ok).to.match(/^SIP\/2\.0 200/);
      sock.send(inDialog('ACK', ok, port, local, 'b', 1, 'z9hG4bK-ctl-b-ack'), port, '127.0.0.1');
      await answer.waitForStderr(/dropped malformed SDP line: a=rtcp:/, 15000);
      const byeDone = nextFinal(sock, 'ctl-b@', 'BYE');
      sock.send(inDialog('BYE', ok, port, local, 'b', 2, 'z9hG4bK-ctl-b-bye'), port, '127.0.0.1');
      await byeDone;
      await exitWithin(answer, 20000);

      const err = answer.stderr();
      const raw = RAW_CONTROLS.exec(err);
      expect(raw, `raw control byte U+${raw?.[0].charCodeAt(0).toString(16)} on stderr near ${JSON.stringify(err.slice(Math.max(0, (raw?.index ?? 0) - 60), (raw?.index ?? 0) + 20))}`).to.equal(null);
      // The log line quoting the SDP line, escaped in the logger.
      expect(err).to.include('dropped malformed SDP line: a=rtcp:\\x1b[31mred\\x7f');
      // The trace of the received INVITE, escaped line by line (line breaks kept).
      expect(err).to.match(/^<<< from 127\.0\.0\.1:\d+ \(udp\)$/m);
      expect(err).to.include('\ns=\\x1b[2Jcleared\n');
      expect(err).to.include('a=rtcp:\\x1b[31mred\\x7f\n');
    } finally {
      sock.close();
      answer.kill('SIGKILL');
    }
  });
});
