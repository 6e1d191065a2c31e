/**
 * RFC 3261 §9.1: a CANCEL whose INVITE never gets a final response. The UAC waits 64*T1 after the
 * CANCEL, then the call ends locally (it used to hang forever). A raw UAS on loopback answers the
 * INVITE with 100 and the CANCEL with 200, never with a final response; the Phone runs on a
 * ManualClock so the 32 s pass at once.
 */
import { expect } from 'chai';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { ManualClock } from '../../lib/base/clock.js';
import { Phone } from '../../lib/sip/user-agent.js';

describe('CANCEL without a final response to the INVITE', function () {
  this.timeout(20000);

  it('ends the call 64*T1 after the CANCEL with a reason naming RFC 3261 §9.1', async () => {
    const uas = createSocket('udp4');
    uas.bind(0, '127.0.0.1');
    await once(uas, 'listening');
    const got: string[] = [];
    uas.on('message', (data, rinfo) => {
      const text = data.toString('utf8');
      const method = /^(\w+) /.exec(text)?.[1];
      if (!method || method === 'SIP') return;
      got.push(method);
      const keep = text.split('\r\n').filter((l) => /^(Via|From|To|Call-ID|CSeq):/i.test(l));
      const code = method === 'INVITE' ? '100 Trying' : '200 OK';
      uas.send([`SIP/2.0 ${code}`, ...keep, 'Content-Length: 0', '', ''].join('\r\n'), rinfo.port, rinfo.address);
    });
    const clock = new ManualClock();
    const phone = await Phone.start({ listen: { address: '127.0.0.1', port: 0 }, clock, media: { addresses: ['127.0.0.1'] } });
    try {
      const call = phone.call(`sip:nobody@127.0.0.1:${(uas.address() as { port: number }).port}`);
      for (let i = 0; i < 100 && !got.includes('INVITE'); i++) await new Promise((r) => setTimeout(r, 10));
      await call.hangup();
      for (let i = 0; i < 100 && !got.includes('CANCEL'); i++) await new Promise((r) => setTimeout(r, 10));
      expect(got).to.include('CANCEL');
      let ended = false;
      void call.finished.then(() => { ended = true; });
      clock.advance(31000);
      await new Promise((r) => setTimeout(r, 50));
      expect(ended, 'still waiting before 64*T1').to.equal(false);
      clock.advance(2000);
      const summary = await call.finished;
      expect(summary.call.state).to.equal('failed');
      expect(summary.call.reason).to.match(/RFC 3261 §9\.1/);
    } finally {
      await phone.stop();
      uas.close();
    }
  });
});
