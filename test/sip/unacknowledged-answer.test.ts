/**
 * Issue 13: an INVITE with a plain SDP whose 200 is never ACKed (what a forged INVITE looks like:
 * its sender never sees our answer) must not draw more than a bounded amount of RTP toward the
 * c= line, however long the call waits for its ACK. A raw UAC on loopback sends the INVITE (its
 * SDP names a second socket that counts the RTP) and holds the ACK back; the Phone runs on a
 * ManualClock, so 30 s of RTP pacing pass at once. Then the ACK comes and RTP flows in full.
 */
import { expect } from 'chai';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { ManualClock } from '../../lib/base/clock.js';
import { DEFAULT_UNCONFIRMED_RTP_PACKETS } from '../../lib/media/media-session.js';
import { Phone } from '../../lib/sip/user-agent.js';

async function bound(): Promise<Socket> {
  const s = createSocket('udp4');
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  return s;
}

const portOf = (s: Socket): number => (s.address() as { port: number }).port;

async function until(what: string, cond: () => boolean, deadlineMs = 10000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('an answered INVITE that is never ACKed (issue 13)', function () {
  this.timeout(30000);

  it(`sends at most ${DEFAULT_UNCONFIRMED_RTP_PACKETS} RTP packets to the c= address until the ACK, then media flows`, async () => {
    const sip = await bound();
    const rtp = await bound();
    const clock = new ManualClock();
    const phone = await Phone.start({ listen: { address: '127.0.0.1', port: 0 }, clock, media: { addresses: ['127.0.0.1'] } });
    const rtpPackets: Buffer[] = [];
    rtp.on('message', (d) => rtpPackets.push(d));
    const responses: string[] = [];
    sip.on('message', (d, rinfo) => {
      const text = d.toString('utf8');
      if (text.startsWith('SIP/2.0 ')) responses.push(text);
      else if (text.startsWith('BYE ')) {
        const keep = text.split('\r\n').filter((l) => /^(Via|From|To|Call-ID|CSeq):/i.test(l));
        sip.send(['SIP/2.0 200 OK', ...keep, 'Content-Length: 0', '', ''].join('\r\n'), rinfo.port, rinfo.address);
      }
    });
    phone.on('incoming', (call) => void phone.answer(call));
    try {
      const target = `127.0.0.1:${phone.port}`;
      const callId = `limits-${Date.now()}@127.0.0.1`;
      const sdp = ['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', `m=audio ${portOf(rtp)} RTP/AVP 0`, 'a=rtpmap:0 PCMU/8000', 'a=sendrecv', ''].join('\r\n');
      const head = (method: string, cseq: number, branch: string, toTag = ''): string[] => [
        `${method} sip:bob@${target} SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${portOf(sip)};branch=z9hG4bK${branch};rport`,
        'Max-Forwards: 70',
        `From: <sip:mallory@127.0.0.1>;tag=m1`,
        `To: <sip:bob@${target}>${toTag}`,
        `Call-ID: ${callId}`,
        `CSeq: ${cseq} ${method}`,
        `Contact: <sip:mallory@127.0.0.1:${portOf(sip)}>`,
      ];
      const invite = [...head('INVITE', 1, 'inv1'), 'Content-Type: application/sdp', `Content-Length: ${Buffer.byteLength(sdp)}`, '', sdp].join('\r\n');
      sip.send(invite, phone.port, '127.0.0.1');
      await until('the 200 OK', () => responses.some((r) => r.startsWith('SIP/2.0 200')));
      // 30 s of pacing with no ACK (sip.js waits 64*T1 = 32 s for it on its own timers, then hangs up).
      for (let i = 0; i < 30; i++) {
        clock.advance(1000);
        await new Promise((r) => setImmediate(r));
      }
      await new Promise((r) => setTimeout(r, 200)); // loopback delivery of whatever was sent
      const before = rtpPackets.filter((p) => p.length >= 12 && (p[1]! & 0x7f) === 0);
      const bytes = before.reduce((n, p) => n + p.length, 0);
      expect(before.length, 'RTP packets before the ACK').to.be.at.most(DEFAULT_UNCONFIRMED_RTP_PACKETS);
      expect(before.length, 'the first packets did flow').to.be.greaterThan(0);
      expect(bytes, 'RTP bytes before the ACK').to.be.at.most(DEFAULT_UNCONFIRMED_RTP_PACKETS * (12 + 160));
      // Reflection bound: what the forged INVITE drew, in bytes, against its own size.
      expect(bytes / Buffer.byteLength(invite)).to.be.below(10);
      const summary = phone.activeCalls[0]!.summary();
      expect(summary.dropped.rtpUnconfirmed, 'withheld packets counted').to.be.greaterThan(1400);

      const ok = responses.find((r) => r.startsWith('SIP/2.0 200'))!;
      const toTag = /^To:.*(;tag=[^;\r\n]+)/im.exec(ok)![1]!;
      sip.send([...head('ACK', 1, 'ack1', toTag), 'Content-Length: 0', '', ''].join('\r\n'), phone.port, '127.0.0.1');
      const afterAck = before.length;
      await until('RTP after the ACK', () => {
        clock.advance(20);
        return rtpPackets.length >= afterAck + 40;
      });
    } finally {
      let stopped = false;
      const stopping = phone.stop().finally(() => { stopped = true; });
      await until('the phone to stop', () => {
        clock.advance(100); // the BYE's transaction runs on the ManualClock
        return stopped;
      }, 20000);
      await stopping;
      sip.close();
      rtp.close();
    }
  });
});
