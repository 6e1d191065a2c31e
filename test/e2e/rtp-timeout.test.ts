/**
 * `--rtp-timeout` (lib/media/rtp-timeout.ts): `icephone answer` ends a call whose peer sends no
 * media, with a BYE that says why (RFC 3326 Reason, Q.850 cause 41), and leaves a call whose peer
 * keeps sending RTP alone. The peer is a raw SIP UAC on loopback with plain SDP (no ICE, so consent
 * freshness does not apply: before the timeout, nothing ended such a call).
 */
import { expect } from 'chai';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { exitWithin, runIcephone } from '../helpers/icephone.js';
import { freePortPair } from '../helpers/ports.js';

interface Msg { text: string; at: number }

class RawUac {
  readonly got: Msg[] = [];
  private constructor(readonly sip: Socket, readonly port: number, readonly media: Socket, readonly mediaPort: number, readonly target: number) {
    sip.on('message', (d) => this.got.push({ text: d.toString('utf8'), at: Date.now() }));
  }
  static async open(target: number): Promise<RawUac> {
    const sip = createSocket('udp4');
    sip.bind(0, '127.0.0.1');
    await once(sip, 'listening');
    const media = createSocket('udp4');
    media.bind(0, '127.0.0.1');
    await once(media, 'listening');
    return new RawUac(sip, (sip.address() as { port: number }).port, media, (media.address() as { port: number }).port, target);
  }
  close(): void {
    this.sip.close();
    this.media.close();
  }
  async waitFor(pred: (m: Msg) => boolean, timeoutMs: number, what: string): Promise<Msg> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = this.got.find(pred);
      if (m) return m;
      if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms; got:\n${this.got.map((g) => g.text.split('\r\n')[0]).join('\n')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  send(lines: string[], body = ''): void {
    this.sip.send([...lines, `Content-Length: ${Buffer.byteLength(body)}`, '', body].join('\r\n'), this.target, '127.0.0.1');
  }
  /** INVITE with a plain PCMU offer, waits for the 200, ACKs it; returns the dialog and the answer's media address. */
  async call(callId: string): Promise<{ toTag: string; contact: string; remoteMedia: { address: string; port: number }; ackedAt: number }> {
    const ruri = `sip:rtp@127.0.0.1:${this.target}`;
    const sdp = ['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', `m=audio ${this.mediaPort} RTP/AVP 0`, 'a=rtpmap:0 PCMU/8000', ''].join('\r\n');
    const common = [`From: <sip:uac@127.0.0.1:${this.port}>;tag=f-${callId}`, `Call-ID: ${callId}`, `Contact: <sip:uac@127.0.0.1:${this.port}>`, 'Max-Forwards: 70'];
    this.send([`INVITE ${ruri} SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:${this.port};branch=z9hG4bK-i-${callId};rport`, `To: <${ruri}>`, ...common, 'CSeq: 1 INVITE', 'Content-Type: application/sdp'], sdp);
    const ok = await this.waitFor((m) => m.text.startsWith('SIP/2.0 200') && m.text.includes(`Call-ID: ${callId}`), 10000, `200 to the INVITE of ${callId}`);
    const toTag = /^To:[^\r\n]*;tag=([^;\s\r]+)/im.exec(ok.text)![1]!;
    const contact = /^(?:Contact|m):\s*<([^>]+)>/im.exec(ok.text)![1]!;
    const c = /^c=IN IP4 (\S+)/m.exec(ok.text)![1]!;
    const port = Number(/^m=audio (\d+)/m.exec(ok.text)![1]);
    this.send([`ACK ${contact} SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:${this.port};branch=z9hG4bK-a-${callId};rport`, `To: <${ruri}>;tag=${toTag}`, ...common, 'CSeq: 1 ACK']);
    return { toTag, contact, remoteMedia: { address: c, port }, ackedAt: Date.now() };
  }
  /** 200 OK to a request received (a BYE from the answerer). */
  answer(request: string): void {
    const keep = request.split('\r\n').filter((l) => /^(Via|From|To|Call-ID|CSeq):/i.test(l));
    this.send(['SIP/2.0 200 OK', ...keep]);
  }
}

describe('e2e: --rtp-timeout ends calls whose peer sends no media', function () {
  this.timeout(60000);

  it('a silent peer gets a BYE with Reason after the timeout; a peer sending RTP keeps its call', async () => {
    const port = await freePortPair();
    const answerer = runIcephone(['answer', '--listen', `127.0.0.1:${port}`, '--rtp-timeout', '2', '--max-calls', '2', '--json', '--play', 'silence']);
    const uac = await RawUac.open(port);
    let rtp: NodeJS.Timeout | undefined;
    try {
      await answerer.waitForStderr(/sip: listening/, 15000);
      // Call 1: the peer never sends RTP or RTCP.
      const silent = await uac.call('rtpto-silent');
      const bye = await uac.waitFor((m) => m.text.startsWith('BYE ') && m.text.includes('Call-ID: rtpto-silent'), 8000, 'BYE for the silent call');
      const after = bye.at - silent.ackedAt;
      expect(after, 'BYE this long after the ACK').to.be.within(1900, 4500);
      expect(bye.text).to.match(/^Reason:\s*Q\.850;cause=41;text="no RTP or RTCP from the peer for 2 s \(RTP timeout\)"/im);
      uac.answer(bye.text);

      // Call 2: the peer sends PCMU every 20 ms; 5 s later the call is still up, and the peer ends it.
      const talking = await uac.call('rtpto-talking');
      let seq = 0;
      rtp = setInterval(() => {
        const p = Buffer.alloc(172, 0xff);
        p[0] = 0x80; p[1] = 0;
        p.writeUInt16BE(seq & 0xffff, 2);
        p.writeUInt32BE((seq * 160) >>> 0, 4);
        p.writeUInt32BE(0x5eed, 8);
        seq++;
        uac.media.send(p, talking.remoteMedia.port, talking.remoteMedia.address);
      }, 20);
      await new Promise((r) => setTimeout(r, 5000));
      expect(uac.got.filter((m) => m.text.startsWith('BYE ') && m.text.includes('Call-ID: rtpto-talking')), 'BYE for the call with media').to.have.length(0);
      const ruri = `sip:rtp@127.0.0.1:${port}`;
      uac.send([`BYE ${talking.contact} SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:${uac.port};branch=z9hG4bK-b-talking;rport`, `From: <sip:uac@127.0.0.1:${uac.port}>;tag=f-rtpto-talking`, `To: <${ruri}>;tag=${talking.toTag}`, 'Call-ID: rtpto-talking', 'CSeq: 2 BYE', 'Max-Forwards: 70']);
      await uac.waitFor((m) => m.text.startsWith('SIP/2.0 200') && m.text.includes('CSeq: 2 BYE'), 5000, '200 to our BYE');
      clearInterval(rtp);
      rtp = undefined;
      await exitWithin(answerer, 10000);
      const summaries = answerer.summaries();
      expect(summaries, answerer.stderr()).to.have.length(2);
      const first = summaries.find((s) => s.call?.sipCallId === 'rtpto-silent');
      const second = summaries.find((s) => s.call?.sipCallId === 'rtpto-talking');
      expect(first, JSON.stringify(summaries)).to.not.equal(undefined);
      expect(second, JSON.stringify(summaries)).to.not.equal(undefined);
      expect(first.call.reason).to.match(/RTP timeout/);
      expect(first.rtp.packetsReceived).to.equal(0);
      expect(String(second.call.reason ?? '')).to.not.match(/RTP timeout/);
      expect(second.rtp.packetsReceived, JSON.stringify(second)).to.be.greaterThan(150);
    } finally {
      if (rtp) clearInterval(rtp);
      uac.close();
      answerer.kill('SIGKILL');
    }
  });

  it('a bad --rtp-timeout exits non-zero with a one-line reason', async () => {
    const run = runIcephone(['answer', '--listen', '127.0.0.1:0', '--rtp-timeout', '0']);
    const code = await exitWithin(run, 15000);
    expect(code).to.not.equal(0);
    expect(run.stderr().trim().split('\n')).to.have.length(1);
    expect(run.stderr()).to.match(/--rtp-timeout: expected a positive number of seconds, got '0'/);
  });
});
