/**
 * RFC 8839 §4.2.5: an offer whose m/c line is not among its candidates (a middlebox rewrote the
 * address and left the candidates) is answered without ICE and with a=ice-mismatch; media goes to
 * the m/c line. Real sockets on 127.0.0.1.
 */
import { expect } from 'chai';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { MediaSession } from '../../lib/media/media-session.js';

describe('MediaSession: ICE mismatch (RFC 8839 §4.2.5)', function () {
  this.timeout(10000);

  it('answers an offer whose default destination is not a candidate with a=ice-mismatch and no ICE; RTP goes to m/c', async () => {
    const relay = createSocket('udp4');
    relay.bind(0, '127.0.0.1');
    await once(relay, 'listening');
    const port = relay.address().port;
    let media = 0;
    relay.on('message', () => media++);
    const offer = [
      'v=0', 'o=sbc 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', `m=audio ${port} RTP/AVP 0`, 'a=rtpmap:0 PCMU/8000', 'a=rtcp-mux',
      'a=ice-ufrag:abcd', 'a=ice-pwd:abcdefghijklmnopqrstuvwx',
      // The endpoint's own candidate, behind the SBC: not the m/c address.
      'a=candidate:1 1 UDP 2130706431 10.20.30.40 40000 typ host', '',
    ].join('\r\n');
    const m = new MediaSession({ addresses: ['127.0.0.1'], includeLoopback: true, play: 'tone:440' });
    try {
      await m.setDescription(offer);
      const answer = (await m.getDescription()).body;
      expect(answer).to.match(/^a=ice-mismatch\r?$/m);
      expect(answer).to.not.match(/a=candidate:/);
      expect(answer).to.not.match(/a=ice-ufrag/);
      for (let i = 0; i < 100 && media < 5; i++) await new Promise((r) => setTimeout(r, 20));
      expect(media, 'RTP packets at the m/c address').to.be.at.least(5);
      expect(m.summary().ice.format).to.equal('none');
    } finally {
      await m.closeAndWait();
      relay.close();
    }
  });
});
