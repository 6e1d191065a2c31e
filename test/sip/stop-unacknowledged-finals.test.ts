/**
 * `Phone.stop()` and 300-699 finals to INVITE that never get their ACK (RFC 3261 §17.2.1): the
 * phone keeps retransmitting them (Timer G) for a while before it closes its transport, so a peer
 * that lost one still gets it, but it does not wait for Timer H (64·T1 = 32 s), nor longer while
 * strangers keep sending INVITEs: an INVITE flood (test/e2e/mutation-flood.test.ts) used to keep
 * `icephone answer` up 32 s after the last INVITE that parsed. A raw client on loopback sends
 * INVITEs the phone refuses (420, RFC 3261 §8.2.2.3) and never ACKs; the phone runs on a ManualClock.
 */
import { expect } from 'chai';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { ManualClock } from '../../lib/base/clock.js';
import { Phone } from '../../lib/sip/user-agent.js';

const T1 = 500;

describe('Phone.stop() with finals to INVITE that nobody ACKs', function () {
  this.timeout(20000);

  it('retransmits each final for 16·T1 (five copies), then closes; INVITEs arriving meanwhile do not hold it up to Timer H', async () => {
    const raw = createSocket('udp4');
    raw.bind(0, '127.0.0.2');
    await once(raw, 'listening');
    const copies = new Map<string, number>();
    raw.on('message', (data) => {
      const text = data.toString('latin1');
      if (!/^SIP\/2\.0 420 /.test(text)) return;
      const branch = /branch=(\S+?)[;\r]/.exec(text)?.[1] ?? '';
      copies.set(branch, (copies.get(branch) ?? 0) + 1);
    });
    const clock = new ManualClock();
    const phone = await Phone.start({ listen: { address: '127.0.0.1', port: 0 }, clock, media: { addresses: ['127.0.0.1'] } });
    const rawPort = (raw.address() as { port: number }).port;
    let n = 0;
    const invite = () => {
      n++;
      raw.send([
        `INVITE sip:bob@127.0.0.1:${phone.port} SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.2:${rawPort};branch=z9hG4bKstop${n};rport`,
        'Max-Forwards: 70', `From: <sip:stranger@127.0.0.2>;tag=s${n}`, 'To: <sip:bob@127.0.0.1>',
        `Call-ID: stop-${n}@127.0.0.2`, 'CSeq: 1 INVITE', `Contact: <sip:stranger@127.0.0.2:${rawPort}>`,
        'Require: no-such-extension', 'Content-Length: 0', '', '',
      ].join('\r\n'), phone.port, '127.0.0.1');
    };
    const realWait = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const until = async (cond: () => boolean, what: string) => {
      for (let i = 0; i < 500 && !cond(); i++) await realWait(5);
      if (!cond()) throw new Error(`timed out waiting for ${what}`);
    };
    try {
      invite();
      await until(() => copies.get('z9hG4bKstop1') === 1, 'the first 420');
      let stoppedAt: number | undefined;
      const started = clock.now();
      const stopping = phone.stop().then(() => (stoppedAt = clock.now() - started));
      // 100 ms steps of the phone's clock; a new INVITE from the stranger every second until 30 s.
      for (let t = 100; t <= 64 * T1 && stoppedAt === undefined; t += 100) {
        clock.advance(100);
        if (t % 1000 === 0 && t <= 30_000) invite();
        await realWait(3);
      }
      const resolvedInTime = stoppedAt !== undefined;
      // Without the bound: let Timer H of the last finals run out, so the phone still stops.
      for (let i = 0; i < 200 && stoppedAt === undefined; i++) {
        clock.advance(500);
        await realWait(3);
      }
      await stopping;
      expect(resolvedInTime, `stop() resolved before Timer H (it took ${stoppedAt} ms)`).to.equal(true);
      expect(stoppedAt!, 'waited for the Timer G copies first').to.be.at.least(15 * T1);
      expect(stoppedAt!, 'not for Timer H (64·T1)').to.be.at.most(16 * T1 + 3000);
      // The first final: sent, then at T1, 3·T1, 7·T1, 15·T1 (RFC 3261 §17.2.1, T2 = 4 s caps nothing yet).
      await until(() => (copies.get('z9hG4bKstop1') ?? 0) >= 5, 'five copies of the first 420');
      expect(copies.get('z9hG4bKstop1')).to.equal(5);
    } finally {
      raw.close();
    }
  });
});
